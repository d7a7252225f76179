/* The SMTP stream's line and reply reader (engine/stream.c) fed by a hostile
 * peer over a socketpair, a few bytes at a time so that lines arrive split
 * at every possible point. Header bytes: chunk size, which operations to run
 * (read_line or read_reply), and default or tiny limits. The peer closes
 * after the last byte, so every run ends with CLOSED or PROTOCOL, never a
 * timeout. */
#include <sys/socket.h>
#include <unistd.h>
#include "fuzz_common.h"
#include "loop.h"
#include "stream.h"

typedef struct {
    int done;
    mx_stream_status st;
} op_result;

static void on_done(mx_stream *s, mx_stream_status st, void *ud) {
    (void)s;
    op_result *r = ud;
    r->done = 1;
    r->st = st;
}

static mx_loop *loop;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4) return 0;
    if (!loop) loop = mx_loop_new();
    size_t chunk = 1 + data[0] % 64;
    unsigned ops = data[1];
    mx_stream_limits small, *lim = NULL;
    if (data[2] & 1) {
        small.max_line = 4 + data[3] % 64;
        small.max_session_bytes = 32 + (size_t)data[3] * 8;
        small.reply.max_line = small.max_line;
        small.reply.max_lines = 1 + data[2] / 32;
        small.reply.max_bytes = 16 + (size_t)data[2] * 2;
        lim = &small;
    }
    data += 4, size -= 4;

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) abort();
    mx_stream *s = mx_stream_new(loop, sv[0], lim);
    size_t max_line = lim ? lim->max_line : MX_STREAM_MAX_LINE;
    size_t max_session = lim ? lim->max_session_bytes : MX_STREAM_MAX_SESSION_BYTES;
    size_t pos = 0;
    int shut = 0;
    for (unsigned k = 0; k < 100000; k++) {
        int want_line = (ops >> (k % 8)) & 1;
        op_result r = {0, MX_STREAM_OK};
        if (want_line) mx_stream_read_line(s, 60000, on_done, &r);
        else mx_stream_read_reply(s, 60000, on_done, &r);
        while (!r.done) {
            if (pos < size) {
                size_t n = size - pos < chunk ? size - pos : chunk;
                ssize_t w = write(sv[1], data + pos, n);
                if (w > 0) pos += (size_t)w;
            } else if (!shut) {
                shutdown(sv[1], SHUT_WR);
                shut = 1;
            }
            mx_loop_run_once(loop, shut ? 100 : 0);
        }
        FUZZ_CHECK(r.st != MX_STREAM_TIMEOUT && r.st != MX_STREAM_TLS);
        FUZZ_CHECK(mx_stream_bytes_in(s) <= max_session);
        FUZZ_CHECK(!mx_stream_busy(s));
        if (r.st != MX_STREAM_OK) {
            const char *e = mx_stream_error(s), *l = mx_stream_limit(s);
            FUZZ_CHECK(e && *e);
            if (l)
                FUZZ_CHECK(r.st == MX_STREAM_PROTOCOL &&
                           (!strcmp(l, "line") || !strcmp(l, "reply_lines") || !strcmp(l, "reply_bytes") ||
                            !strcmp(l, "session_bytes")));
            break;
        }
        if (want_line) {
            size_t len;
            const char *line = mx_stream_line(s, &len);
            FUZZ_CHECK(line && len <= max_line && !memchr(line, '\n', len));
        } else {
            const mx_smtp_reply *rep = mx_stream_reply(s);
            FUZZ_CHECK(rep->state == MX_SMTP_ST_DONE && rep->code >= 200 && rep->code <= 599);
            FUZZ_CHECK(rep->nlines <= rep->lim.max_lines && rep->bytes <= rep->lim.max_bytes);
        }
    }
    mx_stream_free(s);
    close(sv[1]);
    while (mx_loop_busy(loop)) mx_loop_run_once(loop, 0);
    return 0;
}
