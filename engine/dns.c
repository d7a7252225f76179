#include "dns.h"
#include "addr.h"
#include "dnsmsg.h"
#include <ares.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct dns_query dns_query;
struct dns_query {
    mx_dns *d;
    char *name;
    int type;
    mx_dns_cb cb;
    void *ud;
    int64_t start;
    mx_timer *deadline;
    mx_json *result;       /* set when finished, delivered by a deferred call */
    int finished;          /* result decided (answer or deadline) */
    int started;           /* handed to c-ares */
    int ares_done;         /* c-ares called back (the struct may be freed only then) */
    int queued;            /* still linked in the waiting queue */
    dns_query *next;       /* waiting queue */
};

struct mx_dns {
    mx_loop *loop;
    ares_channel ch;
    int timeout_ms;
    int max_inflight;
    int inflight;
    dns_query *wait_head, *wait_tail;
    mx_timer *ares_timer;
    char servers[1024];
    int64_t qps_interval_us;  /* --qps: spacing between query starts */
    int64_t next_start_us;    /* earliest start of the next query */
    mx_timer *qps_timer;
};

static void schedule_ares_timer(mx_dns *d);

static void fd_cb(mx_loop *loop, int fd, int ev, void *ud) {
    (void)loop;
    mx_dns *d = ud;
    ares_socket_t r = (ev & (MX_EV_READ | MX_EV_ERROR)) ? fd : ARES_SOCKET_BAD;
    ares_socket_t w = (ev & MX_EV_WRITE) ? fd : ARES_SOCKET_BAD;
    ares_process_fd(d->ch, r, w);
    schedule_ares_timer(d);
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable) {
    mx_dns *d = data;
    int ev = (readable ? MX_EV_READ : 0) | (writable ? MX_EV_WRITE : 0);
    if (ev) mx_loop_watch(d->loop, fd, ev, fd_cb, d);
    else mx_loop_unwatch(d->loop, fd);
}

static void ares_timer_cb(mx_loop *loop, void *ud) {
    (void)loop;
    mx_dns *d = ud;
    d->ares_timer = NULL;
    ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    schedule_ares_timer(d);
}

static void schedule_ares_timer(mx_dns *d) {
    struct timeval tv, *tvp = ares_timeout(d->ch, NULL, &tv);
    if (d->ares_timer) { mx_timer_cancel(d->loop, d->ares_timer); d->ares_timer = NULL; }
    if (!tvp) return;
    int64_t ms = (int64_t)tvp->tv_sec * 1000 + tvp->tv_usec / 1000 + 1;
    d->ares_timer = mx_loop_timer(d->loop, ms, ares_timer_cb, d);
}

static void query_free(dns_query *q) {
    mx_json_free(q->result);
    free(q->name);
    free(q);
}

static void deliver(mx_loop *loop, void *ud) {
    (void)loop;
    dns_query *q = ud;
    mx_json *res = q->result;
    q->result = NULL;
    q->cb(res, q->ud);
    q->cb = NULL;
    /* c-ares may still hold the query (deadline fired first): free it then. */
    if (q->started ? q->ares_done : !q->queued) query_free(q);
}

static mx_json *base_result(dns_query *q, const char *status) {
    mx_json *o = mx_json_obj();
    mx_json_set(o, "name", mx_json_str(q->name));
    const char *tn = mx_dns_type_name(q->type);
    mx_json_set(o, "type", tn ? mx_json_str(tn) : mx_json_int(q->type));
    mx_json_set(o, "status", mx_json_str(status));
    mx_json_set(o, "server", mx_json_str(q->d->servers));
    mx_json_set(o, "elapsed_ms", mx_json_int(mx_now_ms() - q->start));
    return o;
}

static void finish(dns_query *q, mx_json *res) {
    q->finished = 1;
    q->result = res;
    if (q->deadline) { mx_timer_cancel(q->d->loop, q->deadline); q->deadline = NULL; }
    mx_loop_defer(q->d->loop, deliver, q);
}

static void start_waiting(mx_dns *d);

static void ares_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen) {
    (void)timeouts;
    dns_query *q = arg;
    mx_dns *d = q->d;
    q->ares_done = 1;
    d->inflight--;
    if (status == ARES_EDESTRUCTION) {
        /* Shutdown: the runtime drained the loop first, so only queries whose
         * deadline already answered can be here. */
        if (q->deadline) { mx_timer_cancel(d->loop, q->deadline); q->deadline = NULL; }
        if (!q->cb) query_free(q);
        return;
    }
    if (q->finished) {
        /* Our own deadline already answered "timeout": a late answer is ignored. */
        if (!q->cb) query_free(q);
        start_waiting(d);
        return;
    }
    mx_json *res;
    if (abuf && alen > 0 && status != ARES_ETIMEOUT && status != ARES_ECONNREFUSED) {
        res = base_result(q, "NOERROR");
        const char *why = NULL;
        if (mx_dns_decode(abuf, (size_t)alen, q->name, q->type, res, &why) != 0) {
            mx_json_set(res, "status", mx_json_str("error"));
            mx_json_set(res, "error", mx_json_str(why));
        } else {
            mx_json_set(res, "status", mx_json_str(mx_json_get_str(res, "rcode")));
        }
    } else if (status == ARES_ETIMEOUT) {
        res = base_result(q, "timeout");
        mx_json_set(res, "error", mx_json_str("no answer from the resolver"));
    } else if (status == ARES_ECONNREFUSED) {
        res = base_result(q, "refused");
        mx_json_set(res, "error", mx_json_str("the resolver's port is closed (connection refused)"));
    } else {
        res = base_result(q, "error");
        mx_json_set(res, "error", mx_json_str(ares_strerror(status)));
    }
    finish(q, res);
    start_waiting(d);
}

static void deadline_cb(mx_loop *loop, void *ud) {
    (void)loop;
    dns_query *q = ud;
    q->deadline = NULL;
    if (q->finished) return;
    mx_json *res = base_result(q, "timeout");
    mx_json_set(res, "error", mx_json_str("no answer within the timeout"));
    finish(q, res);
}

static void start_query(dns_query *q) {
    mx_dns *d = q->d;
    q->started = 1;
    /* the timeout runs from the moment the query leaves, not from when it
     * was queued (--qps, in-flight cap): waiting here is not the resolver's
     * fault and must never read as a resolver timeout */
    q->start = mx_now_ms();
    q->deadline = mx_loop_timer(d->loop, d->timeout_ms, deadline_cb, q);
    d->inflight++;
    ares_query(d->ch, q->name, 1 /* class IN */, q->type, ares_cb, q);
    schedule_ares_timer(d);
}

static void qps_timer_cb(mx_loop *loop, void *ud) {
    (void)loop;
    mx_dns *d = ud;
    d->qps_timer = NULL;
    start_waiting(d);
}

/* With --qps, may a query start now? If not, make sure a timer retries. */
static int qps_allows(mx_dns *d) {
    if (!d->qps_interval_us) return 1;
    int64_t now = mx_now_ms() * 1000;
    if (now >= d->next_start_us) {
        d->next_start_us = (d->next_start_us > now - d->qps_interval_us ? d->next_start_us : now) + d->qps_interval_us;
        return 1;
    }
    if (!d->qps_timer) {
        int64_t ms = (d->next_start_us - now + 999) / 1000;
        d->qps_timer = mx_loop_timer(d->loop, ms > 0 ? ms : 1, qps_timer_cb, d);
    }
    return 0;
}

static void start_waiting(mx_dns *d) {
    while (d->wait_head && d->inflight < d->max_inflight) {
        if (!d->wait_head->finished && !qps_allows(d)) break;
        dns_query *q = d->wait_head;
        d->wait_head = q->next;
        if (!d->wait_head) d->wait_tail = NULL;
        q->next = NULL;
        q->queued = 0;
        if (q->finished) {         /* timed out while waiting */
            if (!q->cb) query_free(q); /* delivered already; else deliver() frees it */
            continue;
        }
        start_query(q);
    }
}

void mx_dns_query(mx_dns *d, const char *name, int type, mx_dns_cb cb, void *ud) {
    dns_query *q = mx_xcalloc(1, sizeof *q);
    q->d = d;
    q->name = mx_xstrdup(name);
    q->type = type;
    q->cb = cb;
    q->ud = ud;
    q->start = mx_now_ms();
    if (d->inflight < d->max_inflight && !d->wait_head && qps_allows(d)) start_query(q);
    else {
        q->queued = 1;
        if (d->wait_tail) d->wait_tail->next = q;
        else d->wait_head = q;
        d->wait_tail = q;
    }
}

static pthread_once_t ares_once = PTHREAD_ONCE_INIT;
static int ares_init_rc = -1;
static void ares_init_once(void) { ares_init_rc = ares_library_init(ARES_LIB_INIT_ALL); }

mx_dns *mx_dns_new(mx_loop *loop, const mx_dns_opts *opts, char *err, size_t errlen) {
    pthread_once(&ares_once, ares_init_once); /* batch's workers make channels in their threads */
    if (ares_init_rc != ARES_SUCCESS) { snprintf(err, errlen, "c-ares init failed"); return NULL; }
    mx_dns *d = mx_xcalloc(1, sizeof *d);
    d->loop = loop;
    d->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 5000;
    d->max_inflight = opts->max_inflight > 0 ? opts->max_inflight : MX_DNS_DEFAULT_INFLIGHT;
    if (opts->qps > 0) d->qps_interval_us = 1000000 / opts->qps > 0 ? 1000000 / opts->qps : 1;
    struct ares_options o;
    memset(&o, 0, sizeof o);
    int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB |
               ARES_OPT_EDNSPSZ | ARES_OPT_SOCK_RCVBUF | ARES_OPT_NDOTS;
    /* NOCHECKRESP: hand SERVFAIL/REFUSED to us instead of silently trying the
     * next server, so the verdict can say which answer came back. EDNS 1232
     * keeps large TXT/MX answers on UDP. */
    o.flags = ARES_FLAG_EDNS | ARES_FLAG_NOCHECKRESP | ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
    o.ednspsz = 1232;
    /* c-ares doubles the per-try timeout after each round: t + 2t = 3t. */
    o.timeout = d->timeout_ms / 3 > 100 ? d->timeout_ms / 3 : 100;
    o.tries = 2;
    o.ndots = 1;
    o.socket_receive_buffer_size = 4 * 1024 * 1024;
    o.sock_state_cb = sock_state_cb;
    o.sock_state_cb_data = d;
    int rc = ares_init_options(&d->ch, &o, mask);
    if (rc != ARES_SUCCESS) {
        snprintf(err, errlen, "cannot start the DNS resolver: %s", ares_strerror(rc));
        free(d);
        return NULL;
    }
    if (opts->servers && *opts->servers) {
        rc = ares_set_servers_ports_csv(d->ch, opts->servers);
        if (rc != ARES_SUCCESS) {
            snprintf(err, errlen, "invalid resolver list '%s': %s", opts->servers, ares_strerror(rc));
            ares_destroy(d->ch);
            free(d);
            return NULL;
        }
    }
    struct ares_addr_port_node *servers = NULL;
    if (ares_get_servers_ports(d->ch, &servers) == ARES_SUCCESS) {
        size_t off = 0;
        for (struct ares_addr_port_node *s = servers; s && off < sizeof d->servers - 64; s = s->next) {
            char a[64];
            ares_inet_ntop(s->family, &s->addr, a, sizeof a);
            int port = s->udp_port ? s->udp_port : 53;
            off += (size_t)snprintf(d->servers + off, sizeof d->servers - off, s->family == AF_INET6 ? "%s[%s]:%d" : "%s%s:%d",
                                    off ? "," : "", a, port);
        }
        ares_free_data(servers);
    }
    if (!d->servers[0]) snprintf(d->servers, sizeof d->servers, "(none configured)");
    return d;
}

void mx_dns_free(mx_dns *d) {
    if (!d) return;
    ares_destroy(d->ch);
    if (d->ares_timer) mx_timer_cancel(d->loop, d->ares_timer);
    if (d->qps_timer) mx_timer_cancel(d->loop, d->qps_timer);
    dns_query *q = d->wait_head;
    while (q) { dns_query *n = q->next; if (!q->cb) query_free(q); q = n; }
    free(d);
}

const char *mx_dns_servers(const mx_dns *d) { return d->servers; }

int mx_dns_reverse_name(const char *addr, char *out, size_t outlen) {
    mx_addr a;
    if (mx_addr_parse(addr, &a) != 0) return -1;
    size_t off = 0;
    if (a.family == AF_INET) {
        snprintf(out, outlen, "%u.%u.%u.%u.in-addr.arpa", a.bytes[3], a.bytes[2], a.bytes[1], a.bytes[0]);
        return 0;
    }
    static const char hex[] = "0123456789abcdef";
    if (outlen < 73) return -1;
    for (int i = 15; i >= 0; i--) {
        out[off++] = hex[a.bytes[i] & 0xF]; out[off++] = '.';
        out[off++] = hex[a.bytes[i] >> 4]; out[off++] = '.';
    }
    snprintf(out + off, outlen - off, "ip6.arpa");
    return 0;
}
