/* Connection slots shared by the workers of one process (`batch -P N`): at
 * most per_host connections at once to one address (--per-host) and
 * total_limit in all (the total cap), whichever worker opens them. A connect
 * that finds no slot is queued (FIFO per address, then FIFO for the total)
 * and its wake function is called, from the thread that freed the slot and
 * after the lock is dropped, once both slots are its own: it must only hand
 * the ticket to the waiter's loop (eventfd, queue).
 *
 * It also counts, per address, the connections made and the most open at
 * once, for the summary's "each address probed once" and politeness lines.
 * Thread-safe; knows nothing of Lua. */
#ifndef MX_SLOTS_H
#define MX_SLOTS_H
#include <stddef.h>
#include <stdint.h>

typedef struct mx_slots mx_slots;

typedef void (*mx_slots_wake_fn)(void *ctx, uint64_t ticket);
typedef struct mx_slots_waiter {
    mx_slots_wake_fn wake;
    void *ctx;
    uint64_t ticket;
} mx_slots_waiter;

typedef struct mx_slots_stats {
    long long connects;      /* slots granted (connections started) */
    long long waited;        /* acquires that were queued */
    int peak;                /* most connections open at once in total */
    int total_limit, per_host;
    long long addresses;     /* distinct addresses connected to */
    int peak_per_host;       /* most connections open at once to one address */
    long long max_connects_per_address;
} mx_slots_stats;

mx_slots *mx_slots_new(int per_host, int total_limit);
void mx_slots_free(mx_slots *s);
/* 1: both slots taken now; 0: queued, w->wake is called once they are.
 * addr NULL: a total slot only (a TTL-limited probe, which mostly never
 * reaches an address); released with addr NULL. */
int mx_slots_acquire(mx_slots *s, const char *addr, const mx_slots_waiter *w);
/* A connection to addr ended: its slots go to the next waiters. */
void mx_slots_release(mx_slots *s, const char *addr);
/* A queued acquire whose task is gone: 1 when it was still queued (nothing
 * to release); 0 when it was already granted (release it). */
int mx_slots_cancel(mx_slots *s, const char *addr, void *ctx, uint64_t ticket);
/* Connections made to addr so far (0 when none). */
long long mx_slots_connects(mx_slots *s, const char *addr);
void mx_slots_get_stats(mx_slots *s, mx_slots_stats *out);

#endif
