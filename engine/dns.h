/* c-ares 1.18 driven from the engine's loop (ARES_OPT_SOCK_STATE_CB). */
#ifndef MX_DNS_H
#define MX_DNS_H
#include "json.h"
#include "loop.h"

#define MX_DNS_DEFAULT_INFLIGHT 256

typedef struct mx_dns mx_dns;

typedef struct mx_dns_opts {
    const char *servers;   /* "ADDR[:PORT],..." or NULL for /etc/resolv.conf */
    int timeout_ms;        /* total bound for one query, retries included */
    int max_inflight;      /* queries handed to c-ares at once; the rest wait */
    int qps;               /* queries started per second at most (0: no cap) */
} mx_dns_opts;

/* The result object, owned by the callback:
 * {"name","type","status": "NOERROR"|"NXDOMAIN"|"SERVFAIL"|"REFUSED"|"FORMERR"|
 *  "timeout"|"refused"(resolver port closed)|"error", "rcode", "answers":[...],
 *  "cname":[...], "server": the configured resolvers, "elapsed_ms", "error"?} */
typedef void (*mx_dns_cb)(mx_json *result, void *ud);

mx_dns *mx_dns_new(mx_loop *loop, const mx_dns_opts *opts, char *err, size_t errlen);
void mx_dns_free(mx_dns *d);
/* The resolvers in use, "127.0.0.1:53,..." */
const char *mx_dns_servers(const mx_dns *d);
/* Starts a query; the callback runs later from the loop, never inline. */
void mx_dns_query(mx_dns *d, const char *name, int type, mx_dns_cb cb, void *ud);
/* Name for a reverse lookup of an address literal, or -1. */
int mx_dns_reverse_name(const char *addr, char *out, size_t outlen);

#endif
