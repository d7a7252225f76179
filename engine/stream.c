#include "stream.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK 4096

const char *const mx_stream_status_names[] = {
    [MX_STREAM_OK] = "ok",
    [MX_STREAM_TIMEOUT] = "timeout",
    [MX_STREAM_CLOSED] = "closed",
    [MX_STREAM_PROTOCOL] = "protocol",
    [MX_STREAM_TLS] = "tls_failed",
};

const char *const mx_stream_op_names[] = {
    [MX_STREAM_IDLE] = "idle",
    [MX_STREAM_READ_LINE] = "read_line",
    [MX_STREAM_READ_REPLY] = "read_reply",
    [MX_STREAM_WRITE] = "write",
    [MX_STREAM_HANDSHAKE] = "tls_handshake",
};

struct mx_stream {
    mx_loop *loop;
    int fd;
    mx_tls *tls;
    mx_stream_limits lim;
    mx_buf rbuf;            /* received, not yet consumed: [roff, len) */
    size_t roff;
    size_t bytes_in, bytes_out, discarded;
    /* the pending operation */
    mx_stream_op op;
    mx_stream_cb cb;
    void *ud;
    mx_timer *timer;
    int timeout_ms;
    int64_t started, elapsed;
    int watching;
    const char *wdata;       /* write: caller's bytes, copied */
    char *wcopy;
    size_t wlen, woff;
    const char *line;        /* read_line result, points into rbuf */
    size_t line_len;
    mx_smtp_reply reply;
    int have_reply;
    const char *limit;
    char error[MX_STREAM_ERROR_MAX];
    int ndeferred;           /* deferred steps not yet run */
    int broken;              /* a TLS handshake failed: never fall back to plaintext */
    int hs_fail;             /* starttls could not even begin: s->error says why */
    int dead;                /* freed by the owner while a deferred step was queued */
};

static void step(mx_stream *s);

mx_stream *mx_stream_new(mx_loop *loop, int fd, const mx_stream_limits *lim) {
    mx_stream *s = mx_xcalloc(1, sizeof *s);
    s->loop = loop;
    s->fd = fd;
    if (lim) {
        s->lim = *lim;
    } else {
        s->lim.max_line = MX_STREAM_MAX_LINE;
        s->lim.max_session_bytes = MX_STREAM_MAX_SESSION_BYTES;
        s->lim.reply.max_lines = MX_SMTP_MAX_LINES;
        s->lim.reply.max_bytes = MX_SMTP_MAX_REPLY_BYTES;
        s->lim.reply.max_line = MX_SMTP_MAX_LINE;
    }
    mx_smtp_reply_init(&s->reply, &s->lim.reply);
    return s;
}

static void stop_waiting(mx_stream *s) {
    if (s->watching) { mx_loop_unwatch(s->loop, s->fd); s->watching = 0; }
    if (s->timer) { mx_timer_cancel(s->loop, s->timer); s->timer = NULL; }
}

/* Ends the pending operation and reports it. The callback may free s. */
static void finish(mx_stream *s, mx_stream_status st) {
    stop_waiting(s);
    s->op = MX_STREAM_IDLE;
    s->elapsed = mx_now_ms() - s->started;
    free(s->wcopy);
    s->wcopy = NULL;
    mx_stream_cb cb = s->cb;
    void *ud = s->ud;
    s->cb = NULL;
    s->ud = NULL;
    if (cb) cb(s, st, ud);
}

static void failf(mx_stream *s, mx_stream_status st, const char *limit, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void failf(mx_stream *s, mx_stream_status st, const char *limit, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->error, sizeof s->error, fmt, ap);
    va_end(ap);
    s->limit = limit;
    finish(s, st);
}

static void free_now(mx_stream *s) {
    if (s->tls) { mx_tls_shutdown(s->tls); mx_tls_free(s->tls); }
    if (s->fd >= 0) close(s->fd);
    mx_buf_free(&s->rbuf);
    mx_smtp_reply_free(&s->reply);
    free(s->wcopy);
    free(s);
}

int mx_stream_detach(mx_stream *s) {
    /* only a stream nothing has happened on yet: no operation, no TLS, no
     * bytes read, nothing deferred (the connection a tcp probe hands on) */
    if (!s || s->op != MX_STREAM_IDLE || s->tls || s->ndeferred || s->bytes_in || s->bytes_out || s->rbuf.len > s->roff)
        return -1;
    stop_waiting(s);
    int fd = s->fd;
    s->fd = -1;
    free_now(s);
    return fd;
}

void mx_stream_free(mx_stream *s) {
    if (!s) return;
    if (s->op != MX_STREAM_IDLE) failf(s, MX_STREAM_CLOSED, NULL, "connection closed locally while %s was pending",
                                       mx_stream_op_names[s->op]);
    stop_waiting(s);
    if (s->ndeferred) {
        /* a queued step still holds the pointer: release the fd now, the memory then */
        if (s->tls) { mx_tls_shutdown(s->tls); mx_tls_free(s->tls); s->tls = NULL; }
        if (s->fd >= 0) { close(s->fd); s->fd = -1; }
        s->dead = 1;
        return;
    }
    free_now(s);
}

static void deferred_step(mx_loop *loop, void *ud) {
    (void)loop;
    mx_stream *s = ud;
    s->ndeferred--;
    if (s->dead) {
        if (!s->ndeferred) free_now(s);
        return;
    }
    if (s->op != MX_STREAM_IDLE) step(s);
}

static void on_timeout(mx_loop *loop, void *ud) {
    (void)loop;
    mx_stream *s = ud;
    s->timer = NULL;
    size_t pending = s->rbuf.len - s->roff;
    switch (s->op) {
    case MX_STREAM_READ_REPLY:
        if (s->reply.nlines)
            failf(s, MX_STREAM_TIMEOUT, NULL, "no end of the reply within %d ms (%zu lines so far)", s->timeout_ms,
                  s->reply.nlines);
        else if (pending)
            failf(s, MX_STREAM_TIMEOUT, NULL, "no complete reply line within %d ms (%zu bytes without a line end)",
                  s->timeout_ms, pending);
        else
            failf(s, MX_STREAM_TIMEOUT, NULL, "no reply within %d ms", s->timeout_ms);
        break;
    case MX_STREAM_READ_LINE:
        failf(s, MX_STREAM_TIMEOUT, NULL, "no complete line within %d ms", s->timeout_ms);
        break;
    case MX_STREAM_WRITE:
        failf(s, MX_STREAM_TIMEOUT, NULL, "could not send within %d ms (%zu of %zu bytes sent)", s->timeout_ms,
              s->woff, s->wlen);
        break;
    case MX_STREAM_HANDSHAKE:
        failf(s, MX_STREAM_TIMEOUT, NULL, "TLS handshake not finished within %d ms", s->timeout_ms);
        break;
    case MX_STREAM_IDLE:
        fprintf(stderr, "mxdiag: stream timer fired while idle\n");
        abort();
    }
}

static void on_io(mx_loop *loop, int fd, int events, void *ud) {
    (void)loop; (void)fd; (void)events;
    step(ud);
}

static void wait_for(mx_stream *s, int want) {
    int ev = want == MX_TLS_WANT_WRITE ? MX_EV_WRITE : MX_EV_READ;
    if (mx_loop_watch(s->loop, s->fd, ev, on_io, s) == 0) s->watching = 1;
}

static void begin(mx_stream *s, mx_stream_op op, int timeout_ms, mx_stream_cb cb, void *ud) {
    if (s->op != MX_STREAM_IDLE) {
        fprintf(stderr, "mxdiag: stream %s started while %s is pending\n", mx_stream_op_names[op],
                mx_stream_op_names[s->op]);
        abort();
    }
    s->op = op;
    s->cb = cb;
    s->ud = ud;
    s->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
    s->started = mx_now_ms();
    s->error[0] = 0;
    s->limit = NULL;
    s->line = NULL;
    s->line_len = 0;
    s->timer = mx_loop_timer(s->loop, s->timeout_ms, on_timeout, s);
    /* first attempt from the loop, so the callback never runs inside this call */
    s->ndeferred++;
    mx_loop_defer(s->loop, deferred_step, s);
}

/* Reads what is there into rbuf. 1: got bytes; 0: must wait (watch set);
 * -1: the operation failed and was finished. */
static int read_some(mx_stream *s) {
    if (s->fd < 0) { failf(s, MX_STREAM_CLOSED, NULL, "connection closed locally"); return -1; }
    if (s->broken) { failf(s, MX_STREAM_CLOSED, NULL, "connection unusable after the failed TLS handshake"); return -1; }
    if (s->bytes_in >= s->lim.max_session_bytes) {
        failf(s, MX_STREAM_PROTOCOL, "session_bytes", "session byte limit reached (%zu bytes received)",
              s->lim.max_session_bytes);
        return -1;
    }
    if (s->roff) {
        memmove(s->rbuf.data, s->rbuf.data + s->roff, s->rbuf.len - s->roff);
        s->rbuf.len -= s->roff;
        s->roff = 0;
    }
    size_t room = s->lim.max_session_bytes - s->bytes_in;
    if (room > READ_CHUNK) room = READ_CHUNK;
    mx_buf_reserve(&s->rbuf, room + 1);
    char *dst = s->rbuf.data + s->rbuf.len;
    ssize_t n;
    if (s->tls) {
        int want;
        n = mx_tls_read(s->tls, dst, room, &want);
        if (n < 0 && want != MX_TLS_ERROR) { wait_for(s, want); return 0; }
        if (n < 0) { failf(s, MX_STREAM_CLOSED, NULL, "TLS read failed: %s", mx_tls_error(s->tls)); return -1; }
        if (n == 0) { failf(s, MX_STREAM_CLOSED, NULL, "the server closed the TLS session"); return -1; }
    } else {
        n = recv(s->fd, dst, room, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) { wait_for(s, MX_TLS_WANT_READ); return 0; }
        if (n < 0) { failf(s, MX_STREAM_CLOSED, NULL, "%s", strerror(errno)); return -1; }
        if (n == 0) { failf(s, MX_STREAM_CLOSED, NULL, "the server closed the connection"); return -1; }
    }
    s->rbuf.len += (size_t)n;
    s->rbuf.data[s->rbuf.len] = 0;
    s->bytes_in += (size_t)n;
    return 1;
}

/* Next complete line in rbuf (CRLF or LF stripped), consumed. */
static int take_line(mx_stream *s, const char **line, size_t *len) {
    size_t avail = s->rbuf.len - s->roff;
    if (!avail) return 0; /* rbuf.data is NULL before the first read: no pointer arithmetic on it */
    const char *start = s->rbuf.data + s->roff;
    const char *lf = memchr(start, '\n', avail);
    if (!lf) return 0;
    size_t n = (size_t)(lf - start);
    s->roff += n + 1;
    if (n && start[n - 1] == '\r') n--;
    *line = start;
    *len = n;
    return 1;
}

/* Which limit a reply line would break, checked in the parser's order. */
static const char *reply_limit(const mx_smtp_reply *r, size_t len) {
    if (len > r->lim.max_line) return "line";
    if (r->nlines >= r->lim.max_lines) return "reply_lines";
    if (r->bytes + len > r->lim.max_bytes) return "reply_bytes";
    return NULL;
}

static void step_read(mx_stream *s) {
    for (;;) {
        const char *line;
        size_t len;
        while (take_line(s, &line, &len)) {
            if (s->op == MX_STREAM_READ_LINE) {
                if (len > s->lim.max_line) {
                    failf(s, MX_STREAM_PROTOCOL, "line", "line too long (limit %zu bytes)", s->lim.max_line);
                    return;
                }
                s->line = line;
                s->line_len = len;
                finish(s, MX_STREAM_OK);
                return;
            }
            const char *lim = reply_limit(&s->reply, len);
            int rc = mx_smtp_reply_feed(&s->reply, line, len);
            if (rc == MX_SMTP_DONE) { finish(s, MX_STREAM_OK); return; }
            if (rc == MX_SMTP_ERROR) {
                failf(s, MX_STREAM_PROTOCOL, lim, "%s", s->reply.error);
                return;
            }
        }
        if (s->rbuf.len - s->roff > s->lim.max_line) {
            failf(s, MX_STREAM_PROTOCOL, "line", "line too long (limit %zu bytes, no line end in %zu bytes)",
                  s->lim.max_line, s->rbuf.len - s->roff);
            return;
        }
        int r = read_some(s);
        if (r <= 0) return;
    }
}

static void step_write(mx_stream *s) {
    while (s->woff < s->wlen) {
        ssize_t n;
        if (s->fd < 0) { failf(s, MX_STREAM_CLOSED, NULL, "connection closed locally"); return; }
        if (s->broken) { failf(s, MX_STREAM_CLOSED, NULL, "connection unusable after the failed TLS handshake"); return; }
        if (s->tls) {
            int want;
            n = mx_tls_write(s->tls, s->wdata + s->woff, s->wlen - s->woff, &want);
            if (n < 0 && want != MX_TLS_ERROR) { wait_for(s, want); return; }
            if (n < 0) { failf(s, MX_STREAM_CLOSED, NULL, "TLS write failed: %s", mx_tls_error(s->tls)); return; }
        } else {
            n = send(s->fd, s->wdata + s->woff, s->wlen - s->woff, MSG_NOSIGNAL);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) { wait_for(s, MX_TLS_WANT_WRITE); return; }
            if (n < 0) { failf(s, MX_STREAM_CLOSED, NULL, "%s", strerror(errno)); return; }
        }
        s->woff += (size_t)n;
        s->bytes_out += (size_t)n;
    }
    finish(s, MX_STREAM_OK);
}

static void step_handshake(mx_stream *s) {
    if (s->hs_fail) {
        s->hs_fail = 0;
        finish(s, MX_STREAM_TLS);
        return;
    }
    int rc = mx_tls_handshake(s->tls);
    if (rc == MX_TLS_OK) { finish(s, MX_STREAM_OK); return; }
    if (rc == MX_TLS_WANT_READ || rc == MX_TLS_WANT_WRITE) { wait_for(s, rc); return; }
    snprintf(s->error, sizeof s->error, "%s", mx_tls_error(s->tls));
    /* the session is unusable: further reads and writes must fail, not go plaintext */
    mx_tls_free(s->tls);
    s->tls = NULL;
    s->broken = 1;
    shutdown(s->fd, SHUT_RDWR);
    s->limit = NULL;
    finish(s, MX_STREAM_TLS);
}

/* The one event switch: runs the pending operation as far as it can go. */
static void step(mx_stream *s) {
    switch (s->op) {
    case MX_STREAM_READ_LINE:
    case MX_STREAM_READ_REPLY: step_read(s); break;
    case MX_STREAM_WRITE: step_write(s); break;
    case MX_STREAM_HANDSHAKE: step_handshake(s); break;
    case MX_STREAM_IDLE: break; /* a late readiness event after completion */
    }
}

void mx_stream_read_line(mx_stream *s, int timeout_ms, mx_stream_cb cb, void *ud) {
    begin(s, MX_STREAM_READ_LINE, timeout_ms, cb, ud);
}

void mx_stream_read_reply(mx_stream *s, int timeout_ms, mx_stream_cb cb, void *ud) {
    mx_smtp_reply_free(&s->reply);
    mx_smtp_reply_init(&s->reply, &s->lim.reply);
    begin(s, MX_STREAM_READ_REPLY, timeout_ms, cb, ud);
}

void mx_stream_write(mx_stream *s, const void *data, size_t len, int timeout_ms, mx_stream_cb cb, void *ud) {
    begin(s, MX_STREAM_WRITE, timeout_ms, cb, ud);
    s->wcopy = mx_xmalloc(len ? len : 1);
    memcpy(s->wcopy, data, len);
    s->wdata = s->wcopy;
    s->wlen = len;
    s->woff = 0;
}

void mx_stream_starttls(mx_stream *s, SSL_CTX *ctx, const char *servername, int timeout_ms,
                        mx_stream_cb cb, void *ud) {
    begin(s, MX_STREAM_HANDSHAKE, timeout_ms, cb, ud);
    s->discarded += s->rbuf.len - s->roff;
    s->rbuf.len = s->roff = 0;
    if (s->tls) {
        snprintf(s->error, sizeof s->error, "TLS is already active on this connection");
        s->hs_fail = 1;
    } else if (s->fd < 0 || !(s->tls = mx_tls_new(ctx, s->fd, servername))) {
        snprintf(s->error, sizeof s->error, "cannot start TLS (connection closed, or out of memory)");
        s->hs_fail = 1;
    }
}

int mx_stream_busy(const mx_stream *s) { return s->op != MX_STREAM_IDLE; }
mx_stream_op mx_stream_current_op(const mx_stream *s) { return s->op; }
const char *mx_stream_line(const mx_stream *s, size_t *len) {
    if (len) *len = s->line_len;
    return s->line;
}
const mx_smtp_reply *mx_stream_reply(const mx_stream *s) { return &s->reply; }
const char *mx_stream_error(const mx_stream *s) { return s->error; }
const char *mx_stream_limit(const mx_stream *s) { return s->limit; }
mx_tls *mx_stream_tls(mx_stream *s) { return s->tls; }
const char *mx_stream_pending(const mx_stream *s, size_t *len) {
    *len = s->rbuf.len - s->roff;
    return *len ? s->rbuf.data + s->roff : "";
}
size_t mx_stream_bytes_in(const mx_stream *s) { return s->bytes_in; }
size_t mx_stream_bytes_out(const mx_stream *s) { return s->bytes_out; }
size_t mx_stream_discarded(const mx_stream *s) { return s->discarded; }
int64_t mx_stream_elapsed_ms(const mx_stream *s) { return s->elapsed; }
