/* The Lua module `net` (l_net.c): what the rest of the program reads of it. */
#ifndef MX_L_NET_H
#define MX_L_NET_H
#include <stdint.h>
#include "slots.h"

/* net.connect's total cap in this process: the limit in force, the most
 * connections open at once, connects that waited for a slot. */
typedef struct mx_conn_stats { int limit, peak; long long connects, waited; } mx_conn_stats;
void mx_net_conn_stats(mx_conn_stats *out);

/* A run's connection slots: per address (--per-host) and in total
 * (--max-connections), with the connects queued for one. Its runtime owns it
 * (mx_rt_net_conns) and frees it after its sockets. */
typedef struct mx_net_conns mx_net_conns;
mx_net_conns *mx_net_conns_new(void);
void mx_net_conns_free(mx_net_conns *nc);
/* batch -P: take slots from slots, shared with the other workers (wake with
 * ctx is how a queued connect's grant reaches this runtime's loop), instead
 * of the run's own; and the grant of ticket, from that loop. */
void mx_net_conns_share(mx_net_conns *nc, mx_slots *slots, mx_slots_wake_fn wake, void *ctx);
void mx_net_conns_granted(mx_net_conns *nc, uint64_t ticket);

#endif
