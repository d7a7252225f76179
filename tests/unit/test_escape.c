/* Escaping per output medium (escape.h): every byte, every kind of invalid
 * UTF-8, and the CSV, Nagios and Prometheus rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "escape.h"

static char *text(const char *s, size_t n, unsigned flags) {
    mx_buf b = MX_BUF_INIT;
    mx_esc_text_n(&b, s, n, flags);
    return mx_buf_steal(&b);
}

/* No output byte is a control (C0 but the allowed ones, DEL) and the output
 * is valid UTF-8 without C1 code points. */
static void assert_terminal_safe(const char *o, unsigned flags) {
    const unsigned char *p = (const unsigned char *)o;
    for (size_t i = 0; p[i]; i++) {
        if (p[i] == '\n' && (flags & MX_ESC_NL)) continue;
        if (p[i] == '\t' && (flags & MX_ESC_TAB)) continue;
        assert_false(p[i] < 0x20 || p[i] == 0x7f);
        if (p[i] == 0xC2) assert_true(p[i + 1] >= 0xA0); /* no U+0080..U+009F */
        if (p[i] >= 0x80 && p[i] < 0xC2) {
            /* only as a continuation byte of a multi-byte sequence */
            assert_true(i > 0 && p[i - 1] >= 0x80);
        }
    }
}

static void every_single_byte(void **st) {
    (void)st;
    for (int c = 0; c < 256; c++) {
        char in = (char)c;
        char *o = text(&in, 1, 0);
        char want[8];
        if (c >= 0x20 && c < 0x7f) snprintf(want, sizeof want, "%c", c);
        else snprintf(want, sizeof want, "\\x%02x", c); /* C0, DEL, and every lone byte >= 0x80 is invalid UTF-8 */
        assert_string_equal(o, want);
        free(o);
    }
    /* the newline and tab only when the medium allows them */
    char *o = text("a\nb\tc", 5, MX_ESC_NL);
    assert_string_equal(o, "a\nb\\x09c");
    free(o);
    o = text("a\nb\tc", 5, MX_ESC_NL | MX_ESC_TAB);
    assert_string_equal(o, "a\nb\tc");
    free(o);
    /* NUL inside the data is shown, not a terminator */
    o = text("a\0b", 3, 0);
    assert_string_equal(o, "a\\x00b");
    free(o);
}

static void every_two_byte_sequence(void **st) {
    (void)st;
    /* all lead bytes with all second bytes: whatever the input, the output is safe */
    for (int a = 0x80; a < 0x100; a++)
        for (int b = 0; b < 0x100; b++) {
            char in[2] = {(char)a, (char)b};
            char *o = text(in, 2, 0);
            assert_terminal_safe(o, 0);
            free(o);
        }
}

static void valid_text_stays_readable(void **st) {
    (void)st;
    const char *s = "b\xc3\xbc" "cher.example \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x93\xa7 xn--bcher-kva.example";
    char *o = text(s, strlen(s), 0);
    assert_string_equal(o, s);
    free(o);
    /* the first and last code points of each length */
    o = text("\xc2\xa0\xdf\xbf\xe0\xa0\x80\xef\xbf\xbd\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", 18, 0);
    assert_string_equal(o, "\xc2\xa0\xdf\xbf\xe0\xa0\x80\xef\xbf\xbd\xf0\x90\x80\x80\xf4\x8f\xbf\xbf");
    free(o);
}

static void c1_and_bidi_controls(void **st) {
    (void)st;
    char *o = text("\xc2\x80\xc2\x9b\xc2\x9f", 6, 0);
    assert_string_equal(o, "\\u0080\\u009b\\u009f");
    free(o);
    o = text("a\xe2\x80\xae" "b\xe2\x81\xa6" "c\xe2\x80\xa8" "d\xd8\x9c" "e\xe2\x80\x8f", 19, 0);
    assert_string_equal(o, "a\\u202eb\\u2066c\\u2028d\\u061ce\\u200f");
    free(o);
}

static void invalid_sequences(void **st) {
    (void)st;
    struct { const char *in; size_t n; const char *out; } cases[] = {
        {"\xc0\xaf", 2, "\\xc0\\xaf"},                         /* overlong '/' */
        {"\xc1\xbf", 2, "\\xc1\\xbf"},                         /* overlong DEL */
        {"\xe0\x80\xaf", 3, "\\xe0\\x80\\xaf"},                 /* overlong, 3 bytes */
        {"\xf0\x80\x80\xaf", 4, "\\xf0\\x80\\x80\\xaf"},         /* overlong, 4 bytes */
        {"\xe0\x9f\xbf", 3, "\\xe0\\x9f\\xbf"},                 /* overlong U+07FF */
        {"\xed\xa0\x80", 3, "\\xed\\xa0\\x80"},                 /* surrogate U+D800 */
        {"\xed\xbf\xbf", 3, "\\xed\\xbf\\xbf"},                 /* surrogate U+DFFF */
        {"\xf4\x90\x80\x80", 4, "\\xf4\\x90\\x80\\x80"},         /* above U+10FFFF */
        {"\xf8\x88\x80\x80\x80", 5, "\\xf8\\x88\\x80\\x80\\x80"}, /* 5-byte form */
        {"\xe2\x82", 2, "\\xe2\\x82"},                         /* truncated at the end */
        {"\xe2\x82z", 3, "\\xe2\\x82z"},                       /* truncated before ASCII */
        {"\x80\xbf", 2, "\\x80\\xbf"},                         /* stray continuation bytes */
        {"\xc3\xc3\xa9", 3, "\\xc3\xc3\xa9"},                  /* bad lead, then a good 'é' */
        {"\xfe\xff", 2, "\\xfe\\xff"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *o = text(cases[i].in, cases[i].n, 0);
        assert_string_equal(o, cases[i].out);
        assert_terminal_safe(o, 0);
        free(o);
    }
}

static void terminal_escape_sequences(void **st) {
    (void)st;
    const char *s = "\x1b]0;owned\x07\x1b[2J\r\x08ok";
    char *o = text(s, strlen(s), MX_ESC_NL);
    assert_string_equal(o, "\\x1b]0;owned\\x07\\x1b[2J\\x0d\\x08ok");
    free(o);
    mx_buf b = MX_BUF_INIT;
    mx_esc_text(&b, NULL, 0);
    assert_int_equal(b.len, 0);
    mx_buf_free(&b);
}

static char *csv(const char *s) {
    mx_buf b = MX_BUF_INIT;
    mx_esc_csv(&b, s);
    return mx_buf_steal(&b);
}

static void csv_fields(void **st) {
    (void)st;
    struct { const char *in, *out; } cases[] = {
        {"plain.test", "plain.test"},
        {"", ""},
        {"a,b", "\"a,b\""},
        {"say \"hi\"", "\"say \"\"hi\"\"\""},
        {"=HYPERLINK(\"http://x.test/\")@example.org", "\"'=HYPERLINK(\"\"http://x.test/\"\")@example.org\""},
        {"=1+2", "'=1+2"},
        {"+cmd@example.org", "'+cmd@example.org"},
        {"-2+3", "'-2+3"},
        {"@SUM(A1)", "'@SUM(A1)"},
        {"\t=1", "'\\x09=1"},
        {"\r=1", "'\\x0d=1"},
        {"'quoted", "''quoted"}, /* so that a reader strips exactly one quote */
        {"a=b", "a=b"},          /* only the first character starts a formula */
        {"line\nbreak", "line\\x0abreak"},
        {"esc\x1b[2J", "esc\\x1b[2J"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *o = csv(cases[i].in);
        assert_string_equal(o, cases[i].out);
        free(o);
    }
    char *o = csv(NULL);
    assert_string_equal(o, "");
    free(o);
}

static void nagios_line(void **st) {
    (void)st;
    mx_buf b = MX_BUF_INIT;
    mx_esc_nagios(&b, "550 no | perf=1\r\nnext\x1b[2J line");
    assert_string_equal(mx_buf_cstr(&b), "550 no / perf=1  next\\x1b[2J line");
    mx_buf_free(&b);
}

static void prometheus_label(void **st) {
    (void)st;
    mx_buf b = MX_BUF_INIT;
    mx_esc_prom_label(&b, "a\\b\"c\nd\x1b\xff\xc3\xa9");
    /* the visible \x1b escape's backslash is itself escaped per the format */
    assert_string_equal(mx_buf_cstr(&b), "\"a\\\\b\\\"c\\nd\\\\x1b\\\\xff\xc3\xa9\"");
    mx_buf_free(&b);
}

static void esc_printf(mx_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mx_esc_vprintf(b, fmt, ap);
    va_end(ap);
}

static void printf_path(void **st) {
    (void)st;
    mx_buf b = MX_BUF_INIT;
    esc_printf(&b, "invalid target '%s': %s", "bad\x1b[2J\nmxdiag: all fine", "why");
    assert_string_equal(mx_buf_cstr(&b), "invalid target 'bad\\x1b[2J\\x0amxdiag: all fine': why");
    mx_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_single_byte),
        cmocka_unit_test(every_two_byte_sequence),
        cmocka_unit_test(valid_text_stays_readable),
        cmocka_unit_test(c1_and_bidi_controls),
        cmocka_unit_test(invalid_sequences),
        cmocka_unit_test(terminal_escape_sequences),
        cmocka_unit_test(csv_fields),
        cmocka_unit_test(nagios_line),
        cmocka_unit_test(prometheus_label),
        cmocka_unit_test(printf_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
