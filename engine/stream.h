/* Buffered, bounded, non-blocking line I/O on a connected fd, optionally
 * upgraded to TLS in place (STARTTLS). Knows nothing of Lua: one operation at
 * a time, each with its own timeout, completion through a callback that
 * always runs from the event loop (never inside the call that started it).
 *
 * Every byte received counts against a per-session budget, and every line
 * against a line limit, so a hostile peer costs bounded memory and time. */
#ifndef MX_STREAM_H
#define MX_STREAM_H
#include <stddef.h>
#include <openssl/ssl.h>
#include "loop.h"
#include "smtp_reply.h"
#include "tls.h"

#define MX_STREAM_MAX_SESSION_BYTES (1u << 20) /* received per connection */
#define MX_STREAM_MAX_LINE          MX_SMTP_MAX_LINE
#define MX_STREAM_ERROR_MAX         (MX_TLS_ERROR_MAX + 64)

typedef enum {
    MX_STREAM_OK,
    MX_STREAM_TIMEOUT,  /* the operation's own timeout expired */
    MX_STREAM_CLOSED,   /* peer closed or reset; or closed locally while pending */
    MX_STREAM_PROTOCOL, /* not SMTP: malformed reply, or a limit hit (see limit) */
    MX_STREAM_TLS,      /* handshake failed */
} mx_stream_status;

extern const char *const mx_stream_status_names[]; /* "ok", "timeout", ... */

/* Operation states, for --trace and for the state machine's switch. */
typedef enum {
    MX_STREAM_IDLE,
    MX_STREAM_READ_LINE,
    MX_STREAM_READ_REPLY,
    MX_STREAM_WRITE,
    MX_STREAM_HANDSHAKE,
} mx_stream_op;

extern const char *const mx_stream_op_names[];

typedef struct mx_stream_limits {
    size_t max_line;          /* bytes in one line, CRLF excluded */
    size_t max_session_bytes; /* bytes received over the whole connection */
    mx_smtp_limits reply;     /* per SMTP reply */
} mx_stream_limits;

typedef struct mx_stream mx_stream;
typedef void (*mx_stream_cb)(mx_stream *s, mx_stream_status st, void *ud);

/* Takes ownership of fd (non-blocking, connected). lim NULL = defaults. */
mx_stream *mx_stream_new(mx_loop *loop, int fd, const mx_stream_limits *lim);
/* Closes the fd. A pending operation completes at once with
 * MX_STREAM_CLOSED ("closed locally"), so nobody waits forever. */
void mx_stream_free(mx_stream *s);
/* Frees a stream nothing has happened on yet (no operation, TLS or bytes)
 * without closing its fd, which it returns (to be carried on another loop:
 * batch -P); -1 (and s untouched) otherwise. */
int mx_stream_detach(mx_stream *s);

int mx_stream_busy(const mx_stream *s);
mx_stream_op mx_stream_current_op(const mx_stream *s);

/* Each starts one operation; starting a second while one is pending is a
 * caller bug and aborts. */
void mx_stream_read_line(mx_stream *s, int timeout_ms, mx_stream_cb cb, void *ud);
void mx_stream_read_reply(mx_stream *s, int timeout_ms, mx_stream_cb cb, void *ud);
void mx_stream_write(mx_stream *s, const void *data, size_t len, int timeout_ms, mx_stream_cb cb, void *ud);
/* servername: SNI and the name verified (may be NULL). Plaintext already
 * buffered when the handshake starts is discarded (it could be injected
 * commands, CVE-2011-0411 style) and counted in mx_stream_discarded(). */
void mx_stream_starttls(mx_stream *s, SSL_CTX *ctx, const char *servername, int timeout_ms,
                        mx_stream_cb cb, void *ud);

/* After MX_STREAM_OK of read_line: the line without CRLF (valid until the next op). */
const char *mx_stream_line(const mx_stream *s, size_t *len);
/* After read_reply (OK, or PROTOCOL/CLOSED/TIMEOUT with the lines so far). */
const mx_smtp_reply *mx_stream_reply(const mx_stream *s);
/* After any failure: human text ("line too long (limit 4096 bytes)"). */
const char *mx_stream_error(const mx_stream *s);
/* After a PROTOCOL failure caused by a limit: "line", "reply_lines",
 * "reply_bytes" or "session_bytes"; NULL otherwise. */
const char *mx_stream_limit(const mx_stream *s);
/* Received bytes not yet consumed (e.g. a line without its end when the
 * peer closed): evidence for "closed mid-reply". */
const char *mx_stream_pending(const mx_stream *s, size_t *len);
mx_tls *mx_stream_tls(mx_stream *s);      /* NULL before a successful starttls */
size_t mx_stream_bytes_in(const mx_stream *s);
size_t mx_stream_bytes_out(const mx_stream *s);
size_t mx_stream_discarded(const mx_stream *s);
int64_t mx_stream_elapsed_ms(const mx_stream *s); /* of the last operation */

#endif
