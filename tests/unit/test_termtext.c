/* The terminal text wrapper and width (engine/termtext.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "termtext.h"

static char *wrapped(const char *s, int col, int ind, int width) {
    static char res[4096];
    mx_buf b = MX_BUF_INIT;
    mx_text_wrap(&b, s, col, ind, width);
    snprintf(res, sizeof res, "%s", b.len ? mx_buf_cstr(&b) : "");
    mx_buf_free(&b);
    return res;
}

/* Every line of s fits in width columns, except a line holding a single
 * word after its indentation. */
static void assert_fits(const char *s, int width) {
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, '\n');
        if (!e) e = p + strlen(p);
        int cols = mx_text_columns(p, (size_t)(e - p));
        if (cols > width) {
            const char *q = p;
            while (q < e && *q == ' ') q++;
            if (memchr(q, ' ', (size_t)(e - q))) fail_msg("line over %d columns: '%.*s'", width, (int)(e - p), p);
        }
        p = *e ? e + 1 : e;
    }
}

static void words_not_split(void **state) {
    (void)state;
    assert_string_equal(wrapped("aaa bbb ccc ddd", 0, 2, 10), "aaa bbb\n  ccc ddd");
    assert_string_equal(wrapped("aaa bbb ccc ddd", 0, 2, 8), "aaa bbb\n  ccc\n  ddd");
    assert_string_equal(wrapped("one two three", 0, 0, 7), "one two\nthree");
    /* runs of spaces become one */
    assert_string_equal(wrapped("a   b", 0, 0, 80), "a b");
    /* continuing a line: the leading space separates */
    assert_string_equal(wrapped(" (domain)", 5, 2, 80), " (domain)");
    assert_string_equal(wrapped(" (domain)", 5, 2, 10), "\n  (domain)");
    const char *text = "The host answered the connection attempt with a TCP RST: the packets reach it, but nothing "
                       "listens on port 25, or a firewall on or in front of the host actively resets connections.";
    for (int w = 20; w <= 100; w += 7) {
        char *r = wrapped(text, 10, 10, w);
        assert_fits(r, w);
        /* joining the lines gives back the words in order */
        char joined[1024] = "";
        size_t j = 0;
        for (const char *p = r; *p; p++) {
            if (*p == '\n') {
                joined[j++] = ' ';
                while (p[1] == ' ') p++;
            } else joined[j++] = *p;
        }
        joined[j] = 0;
        assert_string_equal(joined, text);
    }
}

static void long_word_alone(void **state) {
    (void)state;
    const char *url = "https://www.spamhaus.org/query/ip/192.0.2.1?with=a-very-long-query-string";
    char in[256];
    snprintf(in, sizeof in, "see %s for details", url);
    char *r = wrapped(in, 4, 4, 30);
    char expect[256];
    snprintf(expect, sizeof expect, "see\n    %s\n    for details", url);
    assert_string_equal(r, expect);
    /* at the start of an empty line it stays there, unbroken */
    r = wrapped(url, 4, 4, 30);
    assert_string_equal(r, url);
}

static void indentation_kept(void **state) {
    (void)state;
    char *r = wrapped("alpha beta gamma delta\nepsilon zeta", 13, 13, 30);
    assert_string_equal(r, "alpha beta gamma\n             delta\n             epsilon zeta");
    /* a hanging start (the cursor beyond the indentation) */
    r = wrapped("alpha beta gamma", 37, 10, 45);
    assert_string_equal(r, "alpha\n          beta gamma");
}

static void utf8_columns(void **state) {
    (void)state;
    assert_int_equal(mx_text_columns("b\xc3\xbc" "cher", 7), 6);                  /* ü: one column */
    assert_int_equal(mx_text_columns("\xe6\x97\xa5\xe6\x9c\xac", 6), 4);         /* 日本: two each */
    assert_int_equal(mx_text_columns("e\xcc\x81", 3), 1);                         /* e + combining acute */
    assert_int_equal(mx_text_columns("\xf0\x9f\x93\xa7", 4), 2);                  /* emoji */
    assert_int_equal(mx_text_columns("\xff", 1), 1);
    /* widths count columns, not bytes: 3 x "ü" words of 5 columns fit in 17 */
    assert_string_equal(wrapped("\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc \xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc "
                                "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc", 0, 0, 17),
                        "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc \xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc "
                        "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc");
    /* wide characters: 日本 is 4 columns, so two do not fit in 8 with a space */
    assert_string_equal(wrapped("\xe6\x97\xa5\xe6\x9c\xac \xe6\x97\xa5\xe6\x9c\xac", 0, 0, 8),
                        "\xe6\x97\xa5\xe6\x9c\xac\n\xe6\x97\xa5\xe6\x9c\xac");
}

static void escapes_never_split(void **state) {
    (void)state;
    /* ESC and a bidi override from outside become visible escapes, each
     * inside its word: never cut, never raw */
    char *r = wrapped("aaaa bb\x1b[31mred cc\xe2\x80\xae" "dd ee", 0, 2, 12);
    assert_null(strchr(r, '\x1b'));
    assert_null(strstr(r, "\xe2\x80\xae"));
    assert_non_null(strstr(r, "bb\\x1b[31mred"));
    assert_non_null(strstr(r, "cc\\u202edd"));
    /* the escaped word is longer than the line: alone, whole */
    assert_string_equal(r, "aaaa\n  bb\\x1b[31mred\n  cc\\u202edd\n  ee");
    /* a tab is shown escaped, not expanded */
    assert_string_equal(wrapped("a\tb", 0, 0, 80), "a\\x09b");
}

static void no_break_space(void **state) {
    (void)state;
    /* U+00A0 glues "name (N)" and comes out as a plain space */
    assert_string_equal(wrapped("aa bb\xc2\xa0(12) cc", 0, 2, 9), "aa\n  bb (12)\n  cc");
    assert_string_equal(wrapped("x\xc2\xa0y", 0, 0, 80), "x y");
}

static void width_setting(void **state) {
    (void)state;
    int w;
    assert_int_equal(mx_text_parse_width("60", &w), 0);
    assert_int_equal(w, 60);
    assert_int_equal(mx_text_parse_width("19", &w), -1);
    assert_int_equal(mx_text_parse_width("1001", &w), -1);
    assert_int_equal(mx_text_parse_width("80x", &w), -1);
    assert_int_equal(mx_text_parse_width("", &w), -1);
    assert_int_equal(mx_text_cli_width("abc"), -1);
    /* stdout is not a terminal under ctest: $COLUMNS, else 80 */
    assert_int_equal(mx_text_set_width(0), 0);
    setenv("COLUMNS", "72", 1);
    assert_int_equal(mx_text_width(), 72);
    setenv("COLUMNS", "junk", 1);
    assert_int_equal(mx_text_width(), 80);
    unsetenv("COLUMNS");
    assert_int_equal(mx_text_width(), 80);
    assert_int_equal(mx_text_cli_width("100"), 0);
    setenv("COLUMNS", "72", 1);
    assert_int_equal(mx_text_width(), 100); /* --width wins */
    assert_int_equal(mx_text_set_width(5), -1);
    assert_int_equal(mx_text_width(), 100);
    /* NO_COLOR and --no-color turn colour off; a pipe never has it */
    setenv("NO_COLOR", "1", 1);
    assert_int_equal(mx_text_colour(0), 0);
    unsetenv("NO_COLOR");
    assert_int_equal(mx_text_colour(1), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(words_not_split),     cmocka_unit_test(long_word_alone), cmocka_unit_test(indentation_kept),
        cmocka_unit_test(utf8_columns),        cmocka_unit_test(escapes_never_split),
        cmocka_unit_test(no_break_space),      cmocka_unit_test(width_setting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
