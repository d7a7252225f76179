/* "Did you mean" (engine/suggest.c): typos are found, unrelated words are not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "suggest.h"

static const char *const opts[] = {"timeout", "resolver", "rcpt", "port", "no-color", "concurrency", "only", NULL};
static const char *const cmds[] = {"check", "local", "logs", "batch", "rules", "version", "help", NULL};

static void test_typos(void **st) {
    (void)st;
    assert_string_equal(mx_suggest("timout", opts, (size_t)-1), "timeout");      /* deletion */
    assert_string_equal(mx_suggest("timeeout", opts, (size_t)-1), "timeout");    /* insertion */
    assert_string_equal(mx_suggest("resovler", opts, (size_t)-1), "resolver");   /* swap of neighbours */
    assert_string_equal(mx_suggest("concurency", opts, (size_t)-1), "concurrency");
    assert_string_equal(mx_suggest("TIMEOUT", opts, (size_t)-1), "timeout");     /* case */
    assert_string_equal(mx_suggest("chek", cmds, (size_t)-1), "check");
    assert_string_equal(mx_suggest("lgos", cmds, (size_t)-1), "logs");
    assert_string_equal(mx_suggest("bacth", cmds, (size_t)-1), "batch");
    /* an explicit count, NULLs skipped */
    const char *const some[] = {"defaults", NULL, "domains"};
    assert_string_equal(mx_suggest("domians", some, 3), "domains");
    assert_string_equal(mx_suggest("defualts", some, 3), "defaults");
}

static void test_not_near(void **st) {
    (void)st;
    assert_null(mx_suggest("colr", opts, (size_t)-1));   /* 3 edits from no-color: too far for 4 letters */
    assert_null(mx_suggest("xyz", cmds, (size_t)-1));
    assert_null(mx_suggest("", cmds, (size_t)-1));
    assert_null(mx_suggest(NULL, cmds, (size_t)-1));
    assert_null(mx_suggest("chk", cmds, 0));               /* no candidates */
    char long_word[200];
    memset(long_word, 'a', sizeof long_word - 1);
    long_word[sizeof long_word - 1] = 0;
    assert_null(mx_suggest(long_word, opts, (size_t)-1)); /* longer than any name: no table overflow */
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_typos), cmocka_unit_test(test_not_near)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
