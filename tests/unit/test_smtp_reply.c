#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "smtp_reply.h"

/* Feeds NUL-terminated lines until one returns something other than MORE. */
static int feed_all(mx_smtp_reply *r, const char *const *lines) {
    int rc = MX_SMTP_MORE;
    for (size_t i = 0; lines[i]; i++) {
        rc = mx_smtp_reply_feed(r, lines[i], strlen(lines[i]));
        if (rc != MX_SMTP_MORE) break;
    }
    return rc;
}

static void test_single_line(void **state) {
    (void)state;
    mx_smtp_reply r;
    mx_smtp_reply_init(&r, NULL);
    assert_int_equal(mx_smtp_reply_feed(&r, "220 mx.example.org ESMTP ready", 30), MX_SMTP_DONE);
    assert_int_equal(r.code, 220);
    assert_int_equal(r.nlines, 1);
    assert_string_equal(r.lines[0].text, "mx.example.org ESMTP ready");
    assert_string_equal(r.enhanced, "");
    assert_null(r.error);
    assert_int_equal(r.state, MX_SMTP_ST_DONE);
    mx_smtp_reply_free(&r);
}

static void test_multi_line(void **state) {
    (void)state;
    mx_smtp_reply r;
    mx_smtp_reply_init(&r, NULL);
    const char *l[] = {"250-mx.example.org Hello", "250-SIZE 10240000", "250-", "250 STARTTLS", NULL};
    assert_int_equal(mx_smtp_reply_feed(&r, l[0], strlen(l[0])), MX_SMTP_MORE);
    assert_int_equal(r.state, MX_SMTP_ST_CONT);
    assert_int_equal(feed_all(&r, l + 1), MX_SMTP_DONE);
    assert_int_equal(r.code, 250);
    assert_int_equal(r.nlines, 4);
    assert_string_equal(r.lines[2].text, "");
    assert_int_equal(r.lines[2].len, 0);
    assert_string_equal(r.lines[3].text, "STARTTLS");
    mx_smtp_reply_free(&r);
}

static void test_bare_code(void **state) {
    (void)state;
    mx_smtp_reply r;
    mx_smtp_reply_init(&r, NULL);
    assert_int_equal(mx_smtp_reply_feed(&r, "250", 3), MX_SMTP_DONE);
    assert_int_equal(r.code, 250);
    assert_int_equal(r.nlines, 1);
    assert_int_equal(r.lines[0].len, 0);
    mx_smtp_reply_free(&r);

    /* "250 " with nothing after the space is also a final line */
    mx_smtp_reply_init(&r, NULL);
    assert_int_equal(mx_smtp_reply_feed(&r, "354 ", 4), MX_SMTP_DONE);
    assert_int_equal(r.code, 354);
    assert_int_equal(r.lines[0].len, 0);
    mx_smtp_reply_free(&r);
}

static void expect_error(const char *line, const char *msg) {
    mx_smtp_reply r;
    mx_smtp_reply_init(&r, NULL);
    assert_int_equal(mx_smtp_reply_feed(&r, line, strlen(line)), MX_SMTP_ERROR);
    assert_non_null(r.error);
    assert_string_equal(r.error, msg);
    assert_int_equal(r.state, MX_SMTP_ST_ERROR);
    mx_smtp_reply_free(&r);
}

static void test_garbage(void **state) {
    (void)state;
    expect_error("", "reply line without a 3-digit code");
    expect_error("25", "reply line without a 3-digit code");
    expect_error("ok 250", "reply line without a 3-digit code");
    expect_error("HTTP/1.1 400 Bad Request", "reply line without a 3-digit code");
    expect_error("+OK POP3 ready", "reply line without a 3-digit code");
    expect_error("2x0 hello", "reply line without a 3-digit code");
    expect_error("2500 hello", "reply code 250 followed by neither space nor '-'");
    expect_error("250\thello", "reply code 250 followed by neither space nor '-'");
    expect_error("100 continue", "reply code 100 outside 2xx-5xx");
    expect_error("600 what", "reply code 600 outside 2xx-5xx");
    expect_error("SSH-2.0-OpenSSH_9.2", "reply line without a 3-digit code");
}

static void test_code_mismatch(void **state) {
    (void)state;
    mx_smtp_reply r;
    mx_smtp_reply_init(&r, NULL);
    const char *l[] = {"220-mx.example.org", "250 oops", NULL};
    assert_int_equal(feed_all(&r, l), MX_SMTP_ERROR);
    assert_string_equal(r.error, "continuation code 250 differs from first line 220");
    mx_smtp_reply_free(&r);

    /* garbage in the middle of a multi-line reply */
    mx_smtp_reply_init(&r, NULL);
    const char *m[] = {"250-a", "hello", NULL};
    assert_int_equal(feed_all(&r, m), MX_SMTP_ERROR);
    assert_string_equal(r.error, "reply line without a 3-digit code");
    mx_smtp_reply_free(&r);
}

static void test_enhanced(void **state) {
    (void)state;
    struct { const char *line; const char *enh; int mismatch; } c[] = {
        {"550 5.1.1 <bob@example.org>: Recipient address rejected", "5.1.1", 0},
        {"250 2.0.0 Ok: queued as 4Xyz", "2.0.0", 0},
        {"451 4.7.1 Try again later", "4.7.1", 0},
        {"554 5.7.1", "5.7.1", 0},               /* code then nothing */
        {"550 5.100.999 odd but valid", "5.100.999", 0},
        {"250 5.1.1 class differs from code", "", 1},
        {"550 5.1 too short", "", 0},
        {"550 5.1.1234 detail too long", "", 0},
        {"550 5.1.1x not followed by space", "", 0},
        {"550 3.1.1 bad class", "", 0},
        {"550 Mailbox unavailable", "", 0},
        {"550 #5.1.0 Address rejected", "", 0},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        mx_smtp_reply r;
        mx_smtp_reply_init(&r, NULL);
        assert_int_equal(mx_smtp_reply_feed(&r, c[i].line, strlen(c[i].line)), MX_SMTP_DONE);
        assert_string_equal(r.enhanced, c[i].enh);
        assert_int_equal(r.enhanced_mismatch, c[i].mismatch);
        mx_smtp_reply_free(&r);
    }
    /* Only the first line counts. */
    mx_smtp_reply r;
    mx_smtp_reply_init(&r, NULL);
    const char *l[] = {"550-Mailbox unavailable", "550 5.1.1 no such user", NULL};
    assert_int_equal(feed_all(&r, l), MX_SMTP_DONE);
    assert_string_equal(r.enhanced, "");
    mx_smtp_reply_free(&r);
}

static void test_limits(void **state) {
    (void)state;
    mx_smtp_reply r;
    mx_smtp_reply_init(&r, NULL);
    int rc = MX_SMTP_MORE;
    size_t fed = 0;
    while (rc == MX_SMTP_MORE && fed < 1000) {
        rc = mx_smtp_reply_feed(&r, "250-x", 5);
        fed++;
    }
    assert_int_equal(rc, MX_SMTP_ERROR);
    assert_int_equal(fed, MX_SMTP_MAX_LINES + 1);
    assert_string_equal(r.error, "too many lines (limit 100)");
    mx_smtp_reply_free(&r);

    /* total size: 20 lines of 4000 bytes exceed 65536 */
    char *big = malloc(4000);
    memset(big, 'a', 4000);
    memcpy(big, "250-", 4);
    mx_smtp_reply_init(&r, NULL);
    rc = MX_SMTP_MORE;
    fed = 0;
    while (rc == MX_SMTP_MORE && fed < 100) {
        rc = mx_smtp_reply_feed(&r, big, 4000);
        fed++;
    }
    assert_int_equal(rc, MX_SMTP_ERROR);
    assert_int_equal(fed, 17);
    assert_string_equal(r.error, "reply too large (limit 65536 bytes)");
    mx_smtp_reply_free(&r);

    /* one line too long */
    char *huge = malloc(MX_SMTP_MAX_LINE + 1);
    memset(huge, 'b', MX_SMTP_MAX_LINE + 1);
    memcpy(huge, "250 ", 4);
    mx_smtp_reply_init(&r, NULL);
    assert_int_equal(mx_smtp_reply_feed(&r, huge, MX_SMTP_MAX_LINE + 1), MX_SMTP_ERROR);
    assert_string_equal(r.error, "line too long (limit 4096 bytes)");
    mx_smtp_reply_free(&r);
    mx_smtp_reply_init(&r, NULL);
    assert_int_equal(mx_smtp_reply_feed(&r, huge, MX_SMTP_MAX_LINE), MX_SMTP_DONE);
    mx_smtp_reply_free(&r);
    free(huge);
    free(big);

    /* custom limits */
    mx_smtp_limits lim = {.max_lines = 2, .max_bytes = 1000, .max_line = 20};
    mx_smtp_reply_init(&r, &lim);
    const char *l[] = {"250-a", "250-b", "250 c", NULL};
    assert_int_equal(feed_all(&r, l), MX_SMTP_ERROR);
    assert_string_equal(r.error, "too many lines (limit 2)");
    assert_int_equal(r.nlines, 2);
    mx_smtp_reply_free(&r);
}

static void test_binary(void **state) {
    (void)state;
    mx_smtp_reply r;
    mx_smtp_reply_init(&r, NULL);
    static const char line[] = "550 bad\0byte\x01\xff\\ end";
    size_t len = sizeof line - 1;
    assert_int_equal(mx_smtp_reply_feed(&r, line, len), MX_SMTP_DONE);
    assert_int_equal(r.lines[0].len, len - 4);
    assert_memory_equal(r.lines[0].text, line + 4, len - 4);
    assert_int_equal(r.binary, 1);
    char *t = mx_smtp_reply_text(&r);
    assert_string_equal(t, "bad\\x00byte\\x01\\xff\\\\ end");
    free(t);

    /* JSON stays valid and keeps the length */
    mx_json *j = mx_smtp_reply_to_json(&r);
    mx_buf b = MX_BUF_INIT;
    mx_json_write(&b, j, -1);
    char err[128];
    mx_json *back = mx_json_parse(b.data, b.len, err, sizeof err);
    assert_non_null(back);
    assert_int_equal(mx_json_get(back, "code")->u.i, 550);
    assert_int_equal(mx_json_get(back, "binary")->u.b, 1);
    mx_json_free(back);
    mx_json_free(j);
    mx_buf_free(&b);
    mx_smtp_reply_free(&r);

    /* a clean reply is not binary; tabs are fine */
    mx_smtp_reply_init(&r, NULL);
    assert_int_equal(mx_smtp_reply_feed(&r, "250 ok\tfine", 11), MX_SMTP_DONE);
    assert_int_equal(r.binary, 0);
    mx_smtp_reply_free(&r);
}

static void test_json(void **state) {
    (void)state;
    mx_smtp_reply r;
    mx_smtp_reply_init(&r, NULL);
    const char *l[] = {"550-5.1.1 User unknown", "550 5.1.1 see https://example.org", NULL};
    assert_int_equal(feed_all(&r, l), MX_SMTP_DONE);
    mx_json *j = mx_smtp_reply_to_json(&r);
    mx_buf b = MX_BUF_INIT;
    mx_json_write(&b, j, -1);
    assert_string_equal(b.data, "{\"code\":550,\"enhanced\":\"5.1.1\",\"lines\":[\"5.1.1 User unknown\","
                                "\"5.1.1 see https://example.org\"],\"binary\":false}");
    mx_buf_free(&b);
    mx_json_free(j);
    mx_smtp_reply_free(&r);

    mx_smtp_reply_init(&r, NULL);
    assert_int_equal(mx_smtp_reply_feed(&r, "221", 3), MX_SMTP_DONE);
    j = mx_smtp_reply_to_json(&r);
    mx_json_write(&b, j, -1);
    assert_string_equal(b.data, "{\"code\":221,\"enhanced\":null,\"lines\":[\"\"],\"binary\":false}");
    mx_buf_free(&b);
    mx_json_free(j);
    mx_smtp_reply_free(&r);
}

static void test_ehlo_caps(void **state) {
    (void)state;
    mx_smtp_reply r;
    mx_smtp_reply_init(&r, NULL);
    const char *l[] = {"250-mx.example.org Hello client [192.0.2.1]", "250-PIPELINING", "250-SIZE 10240000",
                       "250-starttls", "250-AUTH PLAIN LOGIN", "250-AUTH=PLAIN LOGIN", "250-8BITMIME",
                       "250-  broken", "250-ENHANCEDSTATUSCODES", "250 SMTPUTF8", NULL};
    assert_int_equal(feed_all(&r, l), MX_SMTP_DONE);
    mx_smtp_caps caps;
    assert_int_equal(mx_smtp_caps_parse(&r, &caps), 0);
    assert_string_equal(caps.domain, "mx.example.org");
    assert_int_equal(caps.n, 8);
    assert_int_equal(caps.ninvalid, 1);
    const mx_smtp_cap *c = mx_smtp_caps_find(&caps, "STARTTLS");
    assert_non_null(c);
    assert_string_equal(c->keyword, "STARTTLS");
    assert_int_equal(c->nparams, 0);
    c = mx_smtp_caps_find(&caps, "size");
    assert_non_null(c);
    assert_int_equal(c->nparams, 1);
    assert_string_equal(c->params[0], "10240000");
    c = mx_smtp_caps_find(&caps, "AUTH");
    assert_non_null(c);
    assert_int_equal(c->legacy_eq, 0);
    assert_int_equal(c->nparams, 2);
    assert_string_equal(c->params[1], "LOGIN");
    assert_null(mx_smtp_caps_find(&caps, "CHUNKING"));

    mx_json *j = mx_smtp_caps_to_json(&caps);
    mx_buf b = MX_BUF_INIT;
    mx_json_write(&b, j, -1);
    assert_string_equal(b.data, "{\"domain\":\"mx.example.org\",\"caps\":{\"PIPELINING\":[],\"SIZE\":[\"10240000\"],"
                                "\"STARTTLS\":[],\"AUTH\":[\"PLAIN\",\"LOGIN\"],\"8BITMIME\":[],"
                                "\"ENHANCEDSTATUSCODES\":[],\"SMTPUTF8\":[]},\"invalid\":1}");
    mx_buf_free(&b);
    mx_json_free(j);
    mx_smtp_caps_free(&caps);
    mx_smtp_reply_free(&r);

    /* a 5xx reply to EHLO has no capabilities */
    mx_smtp_reply_init(&r, NULL);
    assert_int_equal(mx_smtp_reply_feed(&r, "502 5.5.1 EHLO not supported", 28), MX_SMTP_DONE);
    assert_int_equal(mx_smtp_caps_parse(&r, &caps), -1);
    mx_smtp_caps_free(&caps);
    mx_smtp_reply_free(&r);
}

static void test_cap_parse(void **state) {
    (void)state;
    mx_smtp_cap cap;
    const char *err = NULL;
    assert_int_equal(mx_smtp_cap_parse("AUTH=LOGIN PLAIN", 16, &cap, &err), 0);
    assert_string_equal(cap.keyword, "AUTH");
    assert_int_equal(cap.legacy_eq, 1);
    assert_int_equal(cap.nparams, 2);
    assert_string_equal(cap.params[0], "LOGIN");
    mx_smtp_cap_free(&cap);

    assert_int_equal(mx_smtp_cap_parse("SIZE  1000  ", 12, &cap, &err), 0);
    assert_int_equal(cap.nparams, 1);
    mx_smtp_cap_free(&cap);

    assert_int_equal(mx_smtp_cap_parse("", 0, &cap, &err), -1);
    assert_string_equal(err, "capability line without a keyword");
    assert_int_equal(mx_smtp_cap_parse("-X", 2, &cap, &err), -1);
    assert_int_equal(mx_smtp_cap_parse("X_Y", 3, &cap, &err), -1);
    assert_string_equal(err, "invalid character in capability keyword");
    assert_int_equal(mx_smtp_cap_parse("SI\0ZE", 5, &cap, &err), -1);

    /* parameter count is bounded */
    mx_buf b = MX_BUF_INIT;
    mx_buf_puts(&b, "AUTH");
    for (int i = 0; i < MX_SMTP_CAP_MAX_PARAMS + 10; i++) mx_buf_puts(&b, " X");
    assert_int_equal(mx_smtp_cap_parse(b.data, b.len, &cap, &err), 0);
    assert_int_equal(cap.nparams, MX_SMTP_CAP_MAX_PARAMS);
    assert_int_equal(cap.params_truncated, 1);
    mx_smtp_cap_free(&cap);
    mx_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_line), cmocka_unit_test(test_multi_line), cmocka_unit_test(test_bare_code),
        cmocka_unit_test(test_garbage),     cmocka_unit_test(test_code_mismatch), cmocka_unit_test(test_enhanced),
        cmocka_unit_test(test_limits),      cmocka_unit_test(test_binary),      cmocka_unit_test(test_json),
        cmocka_unit_test(test_ehlo_caps),   cmocka_unit_test(test_cap_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
