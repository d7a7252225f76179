/* engine/stream.c: bounded line I/O over a socketpair driven by the real loop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "stream.h"

typedef struct fixture {
    mx_loop *loop;
    mx_stream *s;
    int peer;           /* the "server" end, blocking */
    int done;
    mx_stream_status st;
} fixture;

static void on_done(mx_stream *s, mx_stream_status st, void *ud) {
    (void)s;
    fixture *f = ud;
    f->done++;
    f->st = st;
}

static fixture *setup_with(const mx_stream_limits *lim) {
    fixture *f = calloc(1, sizeof *f);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    f->loop = mx_loop_new();
    f->s = mx_stream_new(f->loop, sv[0], lim);
    f->peer = sv[1];
    return f;
}

static void teardown(fixture *f) {
    if (f->s) mx_stream_free(f->s);
    if (f->peer >= 0) close(f->peer);
    /* let any deferred step run so nothing is left queued */
    for (int i = 0; i < 3 && mx_loop_busy(f->loop); i++) mx_loop_run_once(f->loop, 0);
    mx_loop_free(f->loop);
    free(f);
}

static void run_until_done(fixture *f, int max_ms) {
    int64_t until = mx_now_ms() + max_ms;
    while (!f->done && mx_now_ms() < until) mx_loop_run_once(f->loop, 20);
}

static void peer_write(fixture *f, const char *s, size_t n) {
    assert_int_equal(write(f->peer, s, n), (ssize_t)n);
}

static void test_multiline_reply(void **state) {
    (void)state;
    fixture *f = setup_with(NULL);
    const char *g = "250-mx.example.org Hello\r\n250-SIZE 100\r\n250 STARTTLS\r\n";
    peer_write(f, g, strlen(g));
    mx_stream_read_reply(f->s, 1000, on_done, f);
    /* the data is already there, yet the callback must not run inside the call */
    assert_int_equal(f->done, 0);
    run_until_done(f, 1000);
    assert_int_equal(f->done, 1);
    assert_int_equal(f->st, MX_STREAM_OK);
    const mx_smtp_reply *r = mx_stream_reply(f->s);
    assert_int_equal(r->code, 250);
    assert_int_equal(r->nlines, 3);
    assert_string_equal(r->lines[2].text, "STARTTLS");
    teardown(f);
}

static void test_two_replies_one_packet(void **state) {
    (void)state;
    fixture *f = setup_with(NULL);
    const char *g = "220 hi\n250 ok\r\n"; /* bare LF accepted */
    peer_write(f, g, strlen(g));
    mx_stream_read_reply(f->s, 1000, on_done, f);
    run_until_done(f, 1000);
    assert_int_equal(mx_stream_reply(f->s)->code, 220);
    f->done = 0;
    mx_stream_read_reply(f->s, 1000, on_done, f);
    run_until_done(f, 1000);
    assert_int_equal(f->st, MX_STREAM_OK);
    assert_int_equal(mx_stream_reply(f->s)->code, 250);
    teardown(f);
}

static void test_read_line(void **state) {
    (void)state;
    fixture *f = setup_with(NULL);
    peer_write(f, "hello\r\nwor", 10);
    mx_stream_read_line(f->s, 1000, on_done, f);
    run_until_done(f, 1000);
    size_t n;
    const char *l = mx_stream_line(f->s, &n);
    assert_int_equal(n, 5);
    assert_memory_equal(l, "hello", 5);
    f->done = 0;
    mx_stream_read_line(f->s, 1000, on_done, f);
    peer_write(f, "ld\n", 3);
    run_until_done(f, 1000);
    l = mx_stream_line(f->s, &n);
    assert_int_equal(n, 5);
    assert_memory_equal(l, "world", 5);
    teardown(f);
}

static void test_line_too_long(void **state) {
    (void)state;
    fixture *f = setup_with(NULL);
    char *big = malloc(MX_STREAM_MAX_LINE + 100);
    memcpy(big, "220 ", 4);
    memset(big + 4, 'A', MX_STREAM_MAX_LINE + 96);
    peer_write(f, big, MX_STREAM_MAX_LINE + 100);
    free(big);
    mx_stream_read_reply(f->s, 2000, on_done, f);
    run_until_done(f, 2000);
    assert_int_equal(f->st, MX_STREAM_PROTOCOL);
    assert_string_equal(mx_stream_limit(f->s), "line");
    assert_non_null(strstr(mx_stream_error(f->s), "line too long"));
    teardown(f);
}

static void test_too_many_lines(void **state) {
    (void)state;
    fixture *f = setup_with(NULL);
    for (int i = 0; i < MX_SMTP_MAX_LINES + 5; i++) peer_write(f, "220-more\r\n", 10);
    mx_stream_read_reply(f->s, 2000, on_done, f);
    run_until_done(f, 2000);
    assert_int_equal(f->st, MX_STREAM_PROTOCOL);
    assert_string_equal(mx_stream_limit(f->s), "reply_lines");
    assert_int_equal(mx_stream_reply(f->s)->nlines, MX_SMTP_MAX_LINES);
    teardown(f);
}

static void test_session_limit(void **state) {
    (void)state;
    mx_stream_limits lim = {512, 100, {1000, 100000, 512}};
    fixture *f = setup_with(&lim);
    for (int i = 0; i < 30; i++) peer_write(f, "220-more\r\n", 10);
    mx_stream_read_reply(f->s, 2000, on_done, f);
    run_until_done(f, 2000);
    assert_int_equal(f->st, MX_STREAM_PROTOCOL);
    assert_string_equal(mx_stream_limit(f->s), "session_bytes");
    assert_true(mx_stream_bytes_in(f->s) <= 100);
    teardown(f);
}

static void test_garbage(void **state) {
    (void)state;
    fixture *f = setup_with(NULL);
    peer_write(f, "\x00\xff\xfe\r\n\x1b[31m", 9);
    mx_stream_read_reply(f->s, 1000, on_done, f);
    run_until_done(f, 1000);
    assert_int_equal(f->st, MX_STREAM_PROTOCOL);
    assert_null(mx_stream_limit(f->s));
    teardown(f);
}

static void test_timeout(void **state) {
    (void)state;
    fixture *f = setup_with(NULL);
    peer_write(f, "220-partial\r\n", 13);
    int64_t t0 = mx_now_ms();
    mx_stream_read_reply(f->s, 100, on_done, f);
    run_until_done(f, 2000);
    assert_int_equal(f->st, MX_STREAM_TIMEOUT);
    assert_true(mx_now_ms() - t0 < 1000);
    assert_int_equal(mx_stream_reply(f->s)->nlines, 1); /* the partial reply is kept for evidence */
    teardown(f);
}

static void test_closed_mid_reply(void **state) {
    (void)state;
    fixture *f = setup_with(NULL);
    peer_write(f, "220-part\r\n", 10);
    close(f->peer);
    f->peer = -1;
    mx_stream_read_reply(f->s, 1000, on_done, f);
    run_until_done(f, 1000);
    assert_int_equal(f->st, MX_STREAM_CLOSED);
    assert_int_equal(mx_stream_reply(f->s)->nlines, 1);
    teardown(f);
}

static void test_write(void **state) {
    (void)state;
    fixture *f = setup_with(NULL);
    mx_stream_write(f->s, "EHLO me\r\n", 9, 1000, on_done, f);
    run_until_done(f, 1000);
    assert_int_equal(f->st, MX_STREAM_OK);
    char buf[32];
    assert_int_equal(read(f->peer, buf, sizeof buf), 9);
    assert_memory_equal(buf, "EHLO me\r\n", 9);
    assert_int_equal(mx_stream_bytes_out(f->s), 9);
    teardown(f);
}

static void test_free_while_pending(void **state) {
    (void)state;
    fixture *f = setup_with(NULL);
    mx_stream_read_reply(f->s, 1000, on_done, f);
    mx_stream_free(f->s); /* the deferred step is still queued: must not touch freed memory */
    f->s = NULL;
    assert_int_equal(f->done, 1);
    assert_int_equal(f->st, MX_STREAM_CLOSED);
    teardown(f);
}

static void test_tls_garbage(void **state) {
    (void)state;
    fixture *f = setup_with(NULL);
    char err[256];
    SSL_CTX *ctx = mx_tls_ctx_new(NULL, err, sizeof err);
    assert_non_null(ctx);
    static const char junk[] = "this is not a TLS ServerHello\r\n\x01\x02\x03\x04\x05\x06\x07\x08";
    mx_stream_starttls(f->s, ctx, "mx.example.test", 2000, on_done, f);
    peer_write(f, junk, sizeof junk - 1);
    run_until_done(f, 3000);
    assert_int_equal(f->st, MX_STREAM_TLS);
    assert_true(strlen(mx_stream_error(f->s)) > 0);
    assert_null(mx_stream_tls(f->s));
    /* afterwards the connection is unusable, never silently plaintext */
    f->done = 0;
    mx_stream_read_line(f->s, 500, on_done, f);
    run_until_done(f, 1000);
    assert_int_not_equal(f->st, MX_STREAM_OK);
    teardown(f);
    SSL_CTX_free(ctx);
}

static void test_plaintext_discarded_at_starttls(void **state) {
    (void)state;
    fixture *f = setup_with(NULL);
    /* "220 go" and an injected command in one packet: the injected part must not survive */
    peer_write(f, "220 go\r\n250 injected\r\n", 22);
    mx_stream_read_reply(f->s, 1000, on_done, f);
    run_until_done(f, 1000);
    assert_int_equal(mx_stream_reply(f->s)->code, 220);
    char err[256];
    SSL_CTX *ctx = mx_tls_ctx_new(NULL, err, sizeof err);
    f->done = 0;
    mx_stream_starttls(f->s, ctx, NULL, 300, on_done, f);
    run_until_done(f, 2000);
    assert_int_equal(mx_stream_discarded(f->s), 14);
    teardown(f);
    SSL_CTX_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multiline_reply),
        cmocka_unit_test(test_two_replies_one_packet),
        cmocka_unit_test(test_read_line),
        cmocka_unit_test(test_line_too_long),
        cmocka_unit_test(test_too_many_lines),
        cmocka_unit_test(test_session_limit),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_closed_mid_reply),
        cmocka_unit_test(test_write),
        cmocka_unit_test(test_free_while_pending),
        cmocka_unit_test(test_tls_garbage),
        cmocka_unit_test(test_plaintext_discarded_at_starttls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
