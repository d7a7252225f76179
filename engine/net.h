/* Non-blocking TCP connect that says why it failed: the host's RST, a
 * firewall's ICMP, a silent drop, or this host refusing to send. */
#ifndef MX_NET_H
#define MX_NET_H
#include "addr.h"
#include "json.h"
#include "loop.h"

/* Verdicts, as strings in results and findings. */
#define MX_V_CONNECTED "connected"
#define MX_V_REFUSED "refused"         /* TCP RST from the destination */
#define MX_V_REJECTED "rejected"       /* ICMP port-unreachable: a firewall's REJECT */
#define MX_V_UNREACHABLE "unreachable" /* ICMP host/net unreachable, or no route here */
#define MX_V_PROHIBITED "prohibited"   /* ICMP administratively prohibited */
#define MX_V_TIMEOUT "timeout"         /* nothing came back */
#define MX_V_LOCAL "local"             /* this host would not send */
#define MX_V_ERROR "error"             /* anything else, with errno */

typedef struct mx_icmp {
    int present;
    int v6;          /* ICMPv6 */
    int type, code;
    mx_addr from;    /* offender: who sent it */
    int from_known;
} mx_icmp;

/* Maps a failed connect to a verdict (pure: unit-tested). */
const char *mx_net_verdict(int err, const mx_icmp *icmp);
/* Human text for an ICMP type/code, e.g. "host unreachable (type 3 code 1)". */
void mx_icmp_describe(const mx_icmp *icmp, char *out, size_t outlen);

/* Result object: {"verdict","address","port","source"?,"elapsed_ms","errno"?,
 * "error"?,"icmp"?:{"type","code","text","from","from_destination"}}.
 * fd >= 0 only for "connected"; the callee then owns it (non-blocking). */
typedef void (*mx_connect_cb)(int fd, mx_json *result, void *ud);

/* Total connections open at once (the caller queues the rest, FIFO):
 * the open-files soft limit minus MX_NET_FD_RESERVE descriptors kept for
 * c-ares sockets and files (half the limit when it is small), at most
 * MX_NET_MAX_CONNECTIONS; requested > 0 (--max-connections) lowers it. */
#define MX_NET_MAX_CONNECTIONS 4096
#define MX_NET_FD_RESERVE 64
int mx_net_connection_cap(long long nofile_soft, int requested);

/* Starts a connect; the callback runs later from the loop, never inline. */
void mx_net_connect(mx_loop *loop, const mx_addr *dst, int port, const mx_addr *src,
                    int timeout_ms, int ttl, mx_connect_cb cb, void *ud);

#endif
