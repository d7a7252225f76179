/* HTTP on libmicrohttpd in its external epoll mode, driven by loop.c (see
 * http.h). MHD parses requests and writes responses; this file only wires
 * its descriptor and timeout into the loop and suspends a connection whose
 * answer comes later. */
#include "http.h"
#include "buf.h"
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct mx_http {
    mx_loop *loop;
    struct MHD_Daemon *d;
    int epfd;
    int port;
    int quiesced_fd;      /* the listening socket after mx_http_quiesce (ours to close) */
    mx_timer *timer;      /* MHD's next timeout */
    int run_deferred;
    int pending;          /* dispatched, not answered */
    mx_http_handler h;
    void *ud;
};

struct mx_http_req {
    mx_http *s;
    struct MHD_Connection *c;
    const char *url, *method; /* valid inside the handler only */
    int dispatched, suspended, answered;
    struct MHD_Response *resp;
    unsigned status;
    char peer[INET6_ADDRSTRLEN + 8];
};

static void http_run(mx_http *s);

static void on_timer(mx_loop *loop, void *ud) {
    (void)loop;
    mx_http *s = ud;
    s->timer = NULL;
    http_run(s);
}

static void on_deferred(mx_loop *loop, void *ud) {
    (void)loop;
    mx_http *s = ud;
    s->run_deferred = 0;
    if (!s->d) { /* freed while this call was queued */
        free(s);
        return;
    }
    http_run(s);
}

/* One MHD turn, then its next timeout as a timer of the loop. */
static void http_run(mx_http *s) {
    MHD_run(s->d);
    if (s->timer) {
        mx_timer_cancel(s->loop, s->timer);
        s->timer = NULL;
    }
    MHD_UNSIGNED_LONG_LONG t;
    if (MHD_get_timeout(s->d, &t) == MHD_YES) s->timer = mx_loop_timer(s->loop, t > 60000 ? 60000 : (int64_t)t, on_timer, s);
}

static void on_epoll(mx_loop *loop, int fd, int events, void *ud) {
    (void)loop, (void)fd, (void)events;
    http_run(ud);
}

static void schedule_run(mx_http *s) {
    if (s->run_deferred) return;
    s->run_deferred = 1;
    mx_loop_defer(s->loop, on_deferred, s);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)version, (void)upload_data;
    mx_http *s = cls;
    mx_http_req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->s = s;
        r->c = c;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr *sa = ci ? ci->client_addr : NULL;
        if (sa && sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->peer, sizeof r->peer);
        else if (sa && sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->peer, sizeof r->peer);
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_data_size) { /* a body is read and ignored: no endpoint takes one */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!r->dispatched) {
        r->dispatched = 1;
        s->pending++;
        r->url = url;
        r->method = method;
        s->h(r, s->ud);
        r->url = r->method = NULL;
    }
    if (r->resp) {
        enum MHD_Result ret = MHD_queue_response(c, r->status, r->resp);
        MHD_destroy_response(r->resp);
        r->resp = NULL;
        return ret;
    }
    if (r->answered) return MHD_NO; /* no memory for the response: close */
    if (!r->suspended && !r->answered) {
        r->suspended = 1;
        MHD_suspend_connection(c);
    }
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)c, (void)toe;
    mx_http_req *r = *con_cls;
    if (!r) return;
    if (r->dispatched && !r->answered) r->s->pending--;
    if (r->resp) MHD_destroy_response(r->resp);
    free(r);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    fputs("mxdiag: http: ", stderr);
    vfprintf(stderr, fmt, ap);
}

mx_http *mx_http_new(mx_loop *loop, const char *addr, int port, mx_http_handler h, void *ud, char *err, size_t errlen) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (port < 0 || port > 65535) {
        snprintf(err, errlen, "port %d is out of range", port);
        return NULL;
    }
    if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errlen, "'%s' is not an IP address", addr);
        return NULL;
    }
    mx_http *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->h = h;
    s->ud = ud;
    s->quiesced_fd = -1;
    s->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, s,
                            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
                            MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                            MHD_OPTION_END);
    if (!s->d) {
        snprintf(err, errlen, "cannot listen on %s%s%s:%d (in use, or not an address of this host?)",
                 ss.ss_family == AF_INET6 ? "[" : "", addr, ss.ss_family == AF_INET6 ? "]" : "", port);
        free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *li = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_LISTEN_FD);
    s->epfd = di ? di->epoll_fd : -1;
    struct sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    if (li && getsockname(li->listen_fd, (struct sockaddr *)&bound, &bl) == 0)
        s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                    : ((struct sockaddr_in *)&bound)->sin_port);
    int rc = s->epfd >= 0 ? mx_loop_watch(loop, s->epfd, MX_EV_READ, on_epoll, s) : -EBADF;
    if (rc != 0) {
        snprintf(err, errlen, "cannot watch the HTTP server's descriptor: %s", strerror(-rc));
        MHD_stop_daemon(s->d);
        free(s);
        return NULL;
    }
    http_run(s);
    return s;
}

int mx_http_port(const mx_http *s) { return s->port; }
int mx_http_pending(const mx_http *s) { return s->pending; }

void mx_http_quiesce(mx_http *s) {
    if (s->quiesced_fd >= 0) return;
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    if (fd != MHD_INVALID_SOCKET) s->quiesced_fd = fd;
    schedule_run(s);
}

void mx_http_free(mx_http *s) {
    if (!s) return;
    mx_loop_unwatch(s->loop, s->epfd);
    if (s->timer) mx_timer_cancel(s->loop, s->timer);
    MHD_stop_daemon(s->d);
    s->d = NULL;
    if (s->quiesced_fd >= 0) close(s->quiesced_fd);
    /* a deferred run still queued frees s (on_deferred) */
    if (!s->run_deferred) free(s);
}

const char *mx_http_method(mx_http_req *r) { return r->method; }
const char *mx_http_path(mx_http_req *r) { return r->url; }
const char *mx_http_peer(mx_http_req *r) { return r->peer; }

const char *mx_http_arg(mx_http_req *r, const char *name) {
    return MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, name);
}

typedef struct arg_count { const char *name; int n; } arg_count;
static enum MHD_Result count_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind, (void)value;
    arg_count *a = cls;
    if (key && !strcmp(key, a->name)) a->n++;
    return MHD_YES;
}

int mx_http_arg_count(mx_http_req *r, const char *name) {
    arg_count a = {name, 0};
    MHD_get_connection_values(r->c, MHD_GET_ARGUMENT_KIND, count_arg, &a);
    return a.n;
}

const char *mx_http_header(mx_http_req *r, const char *name) {
    return MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, name);
}

void mx_http_respond_hdr(mx_http_req *r, int status, const char *content_type, const char *body, size_t len,
                         const char *hname, const char *hvalue) {
    if (r->answered) return;
    r->answered = 1;
    r->s->pending--;
    r->status = (unsigned)status;
    r->resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r->resp) {
        MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        if (hname && hvalue) MHD_add_response_header(r->resp, hname, hvalue);
    }
    if (r->suspended) {
        r->suspended = 0;
        MHD_resume_connection(r->c);
        schedule_run(r->s);
    }
}

void mx_http_respond(mx_http_req *r, int status, const char *content_type, const char *body, size_t len) {
    mx_http_respond_hdr(r, status, content_type, body, len, NULL, NULL);
}
