/* The Lua module `net` (l_net.c): what the rest of the program reads of it. */
#ifndef MX_L_NET_H
#define MX_L_NET_H

/* net.connect's total cap in this process: the limit in force, the most
 * connections open at once, connects that waited for a slot. */
typedef struct mx_conn_stats { int limit, peak; long long connects, waited; } mx_conn_stats;
void mx_net_conn_stats(mx_conn_stats *out);

#endif
