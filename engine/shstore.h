/* The process-wide once-store behind shared.once when `batch -P N` runs N
 * workers (one thread, event loop and Lua state each): a key is worked out by
 * one worker for the whole run and its value handed to every other one.
 *
 * A key's state: absent -> RUNNING (claimed by one worker) -> DONE (ok or
 * failed, with the value as serialized bytes, e.g. JSON). A worker that claims
 * a key another one runs is registered as a waiter: when the owner publishes,
 * the waiter's wake function is called once, from the publishing thread,
 * after the store's lock is dropped; it must only hand the ticket to the
 * waiter's own loop (an eventfd, a queue), never run the waiter's code. The
 * waiter then reads the value with mx_shstore_claim again (DONE).
 *
 * Thread-safe; knows nothing of Lua. Each worker claims a key at most once at
 * a time (its own callers wait on it locally), so a key's waiters are distinct
 * workers. */
#ifndef MX_SHSTORE_H
#define MX_SHSTORE_H
#include <stddef.h>
#include <stdint.h>

typedef struct mx_shstore mx_shstore;

/* Called once per registered wait, from the publisher's thread, unlocked. */
typedef void (*mx_shstore_wake_fn)(void *ctx, uint64_t ticket);

typedef struct mx_shstore_waiter {
    mx_shstore_wake_fn wake;
    void *ctx;               /* the waiting worker (its inbox) */
    uint64_t ticket;         /* what the waiter resumes (its own id for the wait) */
} mx_shstore_waiter;

enum {
    MX_SHSTORE_RUN = 1,      /* the caller owns the key: publish (or abandon) it */
    MX_SHSTORE_DONE,         /* *ok, *value and *len set (value: caller frees) */
    MX_SHSTORE_WAIT,         /* another worker runs it: w is woken when it is published */
};

typedef struct mx_shstore_stats {
    long long claims;        /* mx_shstore_claim calls */
    long long runs;          /* keys worked out (claims answered RUN) */
    long long hits;          /* answered DONE */
    long long waits;         /* answered WAIT */
} mx_shstore_stats;

mx_shstore *mx_shstore_new(void);
/* Frees every key and drops any waiter left (none should be: see abandon). */
void mx_shstore_free(mx_shstore *s);
/* key: NUL-terminated; worker: the caller's id (>= 0). w may be NULL only
 * when the caller will not wait (then WAIT registers nothing). */
int mx_shstore_claim(mx_shstore *s, const char *key, int worker, const mx_shstore_waiter *w, int *ok,
                     char **value, size_t *len);
/* The owner's result: ok (1) or failed (0, value = the error), bytes copied.
 * Wakes the key's waiters. Publishing a key the caller does not run is a
 * programming error: returns -1 and changes nothing. */
int mx_shstore_publish(mx_shstore *s, const char *key, int worker, int ok, const char *value, size_t len);
/* The owner gives up without a value (its check was dropped): the key is
 * forgotten and each waiter woken; a woken waiter that claims it again runs
 * it. Returns -1 when worker does not run key. */
int mx_shstore_abandon(mx_shstore *s, const char *key, int worker);
/* Cancels worker's registered wait on key (its check was dropped); 1 if one
 * was removed. */
int mx_shstore_unwait(mx_shstore *s, const char *key, int worker);
/* 1 when key is DONE (shared.done). */
int mx_shstore_done(mx_shstore *s, const char *key);
void mx_shstore_get_stats(mx_shstore *s, mx_shstore_stats *out);
/* Something handed over once (a held connection: its fd and what goes with
 * it, as bytes): parked under key by one worker, taken by the first worker
 * that asks. park: 0, or -1 when key is parked already (nothing changed).
 * unpark: 1 with *data (caller frees) and *len, the key then free; 0 when
 * nothing is parked under it. */
int mx_shstore_park(mx_shstore *s, const char *key, const void *data, size_t len);
int mx_shstore_unpark(mx_shstore *s, const char *key, char **data, size_t *len);

#endif
