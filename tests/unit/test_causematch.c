/* The cause pattern matcher (engine/causematch.c): anchors, order, "also",
 * a pattern shared by entries, the bigram filter never losing a match
 * (against a naive matcher on random texts), load errors; and the shipped
 * catalog (rules/lib/log_patterns.lua, compiled as `mxdiag logs` does)
 * classifying exactly as the built-in cascade of engine/logparse.c, on
 * every line of tests/data/logs/lines.tsv and on random texts made of the
 * catalog's own patterns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "causematch.h"
#include "logparse.h"
#include "runtime.h"

#define L(...) ((const char *const[]){__VA_ARGS__}), (sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *))

static int match(const mx_cause_matcher *m, const char *s) { return mx_cause_matcher_match(m, s, strlen(s)); }

static void test_anchors_and_order(void **state) {
    (void)state;
    char err[256];
    mx_cause_matcher *m = mx_cause_matcher_new();
    assert_int_equal(mx_cause_matcher_add(m, 1, L("Connection refused$"), L("^connect to "), err, sizeof err), 0);
    assert_int_equal(mx_cause_matcher_add(m, 2, L("blacklist"), NULL, 0, err, sizeof err), 0);
    assert_int_equal(mx_cause_matcher_add(m, 3, L("^exact$"), NULL, 0, err, sizeof err), 0);
    assert_int_equal(mx_cause_matcher_add(m, 4, L("Connection refused", "x"), NULL, 0, err, sizeof err), 0);
    assert_int_equal(mx_cause_matcher_add(m, 5, L("\\^caret", "dollar\\$"), NULL, 0, err, sizeof err), 0);
    assert_int_equal(mx_cause_matcher_entries(m), 5);
    /* first entry wins: the anchored errno text over the blocklist word in the host name */
    assert_int_equal(match(m, "connect to blacklist.example[192.0.2.1]:25: Connection refused"), 1);
    /* "also" not met (no "connect to" at the start): the next entries decide */
    assert_int_equal(match(m, "x connect to blacklist.example[192.0.2.1]:25: Connection refused"), 2);
    /* the suffix anchor: not at the end */
    assert_int_equal(match(m, "connect to h: Connection refused (again)"), 4);
    assert_int_equal(match(m, "exact"), 3);
    assert_int_equal(match(m, "exact "), 4); /* "x" */
    assert_int_equal(match(m, "inexact"), 4);
    assert_int_equal(match(m, "a ^caret"), 5);
    assert_int_equal(match(m, "dollar$ sign"), 5);
    assert_int_equal(match(m, "nothing here"), -1);
    assert_int_equal(match(m, ""), -1);
    assert_int_equal(mx_cause_matcher_match(m, "blacklist", 5), -1); /* only the first n bytes count */
    mx_cause_matcher_free(m);
    assert_int_equal(mx_cause_matcher_match(NULL, "x", 1), -1);
}

static void test_shared_pattern(void **state) {
    (void)state;
    char err[256];
    mx_cause_matcher *m = mx_cause_matcher_new();
    /* the DNS shape of the shipped catalog: one group, three entries */
    assert_int_equal(mx_cause_matcher_add(m, 1, L("Host not found", "NXDOMAIN"), L("try again"), err, sizeof err), 0);
    assert_int_equal(mx_cause_matcher_add(m, 2, L("Host not found", "NXDOMAIN"), L("NXDOMAIN", "Host not found"), err,
                                          sizeof err), 0);
    assert_int_equal(mx_cause_matcher_add(m, 3, L("Host not found", "NXDOMAIN"), NULL, 0, err, sizeof err), 0);
    assert_int_equal(match(m, "Host not found, try again"), 1);
    assert_int_equal(match(m, "Host not found"), 2);
    assert_int_equal(match(m, "lookup: NXDOMAIN"), 2);
    assert_int_equal(match(m, "try again later"), -1);
    int a, z;
    size_t k = 0;
    while (mx_cause_matcher_pattern(m, k, &a, &z)) k++;
    assert_int_equal(k, 3); /* interned: "Host not found", "NXDOMAIN", "try again" */
    mx_cause_matcher_free(m);
}

static void expect_add_error(const char *const *any, size_t n, const char *fragment) {
    char err[256] = "";
    mx_cause_matcher *m = mx_cause_matcher_new();
    assert_int_equal(mx_cause_matcher_add(m, 1, any, n, NULL, 0, err, sizeof err), -1);
    if (!strstr(err, fragment)) fail_msg("error '%s' does not say '%s'", err, fragment);
    assert_int_equal(mx_cause_matcher_entries(m), 0);
    assert_null(mx_cause_matcher_pattern(m, 0, NULL, NULL));
    mx_cause_matcher_free(m);
}

static void test_errors(void **state) {
    (void)state;
    expect_add_error(L("ok", ""), "empty pattern");
    expect_add_error(L("^"), "only an anchor");
    expect_add_error(L("$"), "only an anchor");
    expect_add_error(L("^$"), "only an anchor");
    char big[MX_CAUSEMATCH_MAX_LEN + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    const char *bp = big;
    expect_add_error(&bp, 1, "at most");
    expect_add_error(NULL, 0, "no pattern");
    char err[256];
    mx_cause_matcher *m = mx_cause_matcher_new();
    assert_int_equal(mx_cause_matcher_add(m, -1, L("x"), NULL, 0, err, sizeof err), -1);
    /* too many entries, too many distinct patterns */
    char buf[32];
    for (int i = 0; i < MX_CAUSEMATCH_MAX_ENTRIES; i++) {
        const char *p = buf;
        snprintf(buf, sizeof buf, "p%d", i);
        assert_int_equal(mx_cause_matcher_add(m, 1, &p, 1, NULL, 0, err, sizeof err), 0);
    }
    const char *p = "one more";
    assert_int_equal(mx_cause_matcher_add(m, 1, &p, 1, NULL, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "too many entries"));
    mx_cause_matcher_free(m);
    m = mx_cause_matcher_new();
    static char many[MX_CAUSEMATCH_MAX_PATTERNS + 1][16];
    const char *mp[MX_CAUSEMATCH_MAX_PATTERNS + 1];
    for (int i = 0; i <= MX_CAUSEMATCH_MAX_PATTERNS; i++) snprintf(many[i], sizeof many[i], "q%dz", i), mp[i] = many[i];
    assert_int_equal(mx_cause_matcher_add(m, 1, mp, MX_CAUSEMATCH_MAX_PATTERNS / 2, NULL, 0, err, sizeof err), 0);
    assert_int_equal(mx_cause_matcher_add(m, 1, mp + MX_CAUSEMATCH_MAX_PATTERNS / 2,
                                          MX_CAUSEMATCH_MAX_PATTERNS / 2 + 1, NULL, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "too many patterns"));
    assert_int_equal(mx_cause_matcher_entries(m), 1);
    assert_int_equal(match(m, "q0z"), 1);
    assert_int_equal(match(m, "q300z"), -1); /* the failed entry left nothing behind */
    mx_cause_matcher_free(m);
}

/* naive reference: does pattern (with anchors) occur in text? */
static int naive(const char *pat, int a, int z, const char *t, size_t n) {
    size_t k = strlen(pat);
    if (k > n) return 0;
    for (size_t i = 0; i + k <= n; i++) {
        if (a && i) break;
        if (z && i + k != n) continue;
        if (memcmp(t + i, pat, k) == 0) return 1;
    }
    return 0;
}

static void test_random_against_naive(void **state) {
    (void)state;
    static const char *const words[] = {"ab", "ba", "abc", "xyz", "zz", "a", "b c", "timed out", "out", "ed o"};
    const size_t nw = sizeof words / sizeof words[0];
    char err[256];
    uint32_t seed = 12345;
#define RND() (seed = seed * 1103515245u + 12345u, (seed >> 16) & 0x7fff)
    for (int round = 0; round < 200; round++) {
        mx_cause_matcher *m = mx_cause_matcher_new();
        char pats[6][32];
        for (int e = 0; e < 6; e++) {
            int a = RND() % 4 == 0, z = RND() % 4 == 0;
            snprintf(pats[e], sizeof pats[e], "%s%s%s", a ? "^" : "", words[RND() % nw], z ? "$" : "");
            const char *p = pats[e];
            assert_int_equal(mx_cause_matcher_add(m, e, &p, 1, NULL, 0, err, sizeof err), 0);
        }
        for (int t = 0; t < 50; t++) {
            char text[64] = "";
            int parts = (int)(RND() % 4);
            for (int i = 0; i < parts; i++) strcat(text, words[RND() % nw]);
            size_t n = strlen(text);
            int want = -1;
            for (int e = 0; e < 6 && want < 0; e++) {
                const char *p = pats[e];
                int a = p[0] == '^';
                size_t k = strlen(p);
                int z = p[k - 1] == '$';
                char body[32];
                snprintf(body, sizeof body, "%.*s", (int)(k - (size_t)a - (size_t)z), p + a);
                if (naive(body, a, z, text, n)) want = e;
            }
            if (mx_cause_matcher_match(m, text, n) != want) fail_msg("text '%s': want %d", text, want);
        }
        mx_cause_matcher_free(m);
    }
}

/* Entries of several patterns with "also" lists, patterns shared between
 * entries and lists, anchored and unanchored mixed (a list of unanchored
 * 2+ byte patterns only is searched through the text's candidates, the
 * others pattern by pattern): every verdict against a naive reference. */
static int naive_list(char pats[][32], size_t k, const char *t, size_t n) {
    for (size_t i = 0; i < k; i++) {
        const char *p = pats[i];
        int a = p[0] == '^';
        size_t len = strlen(p);
        int z = len > (size_t)a && p[len - 1] == '$';
        char body[32];
        snprintf(body, sizeof body, "%.*s", (int)(len - (size_t)a - (size_t)z), p + a);
        if (naive(body, a, z, t, n)) return 1;
    }
    return 0;
}

static void test_random_lists(void **state) {
    (void)state;
    static const char *const words[] = {"ab", "ba", "abc", "xyz", "zz", "a", "b c", "timed out", "out", "ed o",
                                        "bca", "cab", "yz", "zx", " c"};
    const size_t nw = sizeof words / sizeof words[0];
    char err[256];
    uint32_t seed = 777;
    for (int round = 0; round < 300; round++) {
        mx_cause_matcher *m = mx_cause_matcher_new();
        char any[8][4][32], also[8][3][32];
        size_t nany[8], nalso[8];
        int anchors = (int)(RND() % 3); /* 0: none, 1: some, 2: many */
        for (int e = 0; e < 8; e++) {
            nany[e] = 1 + RND() % 4;
            nalso[e] = RND() % 3 ? 0 : 1 + RND() % 3;
            const char *ap[4], *lp[3];
            for (size_t i = 0; i < nany[e] + nalso[e]; i++) {
                int a = anchors && RND() % (anchors == 1 ? 6 : 2) == 0;
                int z = anchors && RND() % (anchors == 1 ? 6 : 2) == 0;
                char *dst = i < nany[e] ? any[e][i] : also[e][i - nany[e]];
                snprintf(dst, 32, "%s%s%s", a ? "^" : "", words[RND() % nw], z ? "$" : "");
                if (i < nany[e]) ap[i] = dst;
                else lp[i - nany[e]] = dst;
            }
            assert_int_equal(mx_cause_matcher_add(m, e, ap, nany[e], nalso[e] ? lp : NULL, nalso[e], err, sizeof err),
                             0);
        }
        for (int t = 0; t < 60; t++) {
            char text[96] = "";
            int parts = (int)(RND() % 5);
            for (int i = 0; i < parts; i++) strcat(text, words[RND() % nw]);
            size_t n = strlen(text);
            int want = -1;
            for (int e = 0; e < 8 && want < 0; e++)
                if (naive_list(any[e], nany[e], text, n) && (!nalso[e] || naive_list(also[e], nalso[e], text, n)))
                    want = e;
            int got = mx_cause_matcher_match(m, text, n);
            if (got != want) fail_msg("round %d text '%s': want %d, got %d", round, text, want, got);
        }
        mx_cause_matcher_free(m);
    }
}

/* ---- the shipped catalog against the built-in cascade ---------------- */

static mx_cause_matcher *shipped(void) {
    mx_rt_opts o;
    memset(&o, 0, sizeof o);
    o.shipped_dir = MXDIAG_SOURCE_RULES;
    o.timeout_ms = 1000;
    o.resolvers = "127.0.0.1:53";
    char err[1024];
    mx_rt *rt = mx_rt_new(&o, err, sizeof err);
    assert_non_null(rt);
    mx_cause_matcher *m = mx_rt_log_patterns(rt, err, sizeof err);
    if (!m) fail_msg("shipped catalog: %s", err);
    mx_rt_free(rt);
    return m;
}

static int same(const mx_cause_matcher *m, const char *t, size_t n) {
    mx_log_set_matcher(NULL);
    mx_log_cause a = mx_log_classify(t, n);
    mx_log_set_matcher(m);
    mx_log_cause b = mx_log_classify(t, n);
    mx_log_set_matcher(NULL);
    if (a != b) print_error("'%.*s': built-in %s, catalog %s\n", (int)n, t, mx_log_cause_name(a), mx_log_cause_name(b));
    return a == b;
}

static void test_shipped_equals_builtin(void **state) {
    (void)state;
    mx_cause_matcher *m = shipped();
    assert_true(mx_cause_matcher_entries(m) > 10);
    int bad = 0, lines = 0;
    /* every line of lines.tsv, whole and from each ': ' on (the texts the parser hands over) */
    FILE *f = fopen(MXDIAG_TEST_DATA "/logs/lines.tsv", "r");
    assert_non_null(f);
    char row[8192];
    while (fgets(row, sizeof row, f)) {
        if (row[0] == '#' || row[0] == '\n') continue;
        char *t = row;
        for (int c = 0; c < 7 && t; c++) t = strchr(t, '\t') ? strchr(t, '\t') + 1 : NULL;
        if (!t) continue;
        size_t n = strcspn(t, "\n");
        lines++;
        bad += !same(m, t, n);
        for (const char *q = t; (q = strstr(q, ": ")) && q < t + n; q += 2) bad += !same(m, q + 2, n - (size_t)(q + 2 - t));
    }
    fclose(f);
    assert_true(lines > 200);
    /* random texts built from the catalog's own patterns, in every order and placement */
    const char *pool[MX_CAUSEMATCH_MAX_PATTERNS];
    size_t np = 0;
    while ((pool[np] = mx_cause_matcher_pattern(m, np, NULL, NULL))) np++;
    static const char *const glue[] = {"", " ", ": ", "connect to ", "delivery temporarily suspended: connect to ",
                                       "host mx.example[192.0.2.1] said: ", "x"};
    const size_t ng = sizeof glue / sizeof glue[0];
    uint32_t seed = 4242;
    for (int i = 0; i < 200000; i++) {
        char text[1024] = "";
        int parts = 1 + (int)(RND() % 4);
        if (RND() % 2) strcat(text, glue[RND() % ng]);
        for (int k = 0; k < parts; k++) {
            strcat(text, pool[RND() % np]);
            strcat(text, glue[RND() % ng]);
        }
        bad += !same(m, text, strlen(text));
        if (bad > 20) break;
    }
    mx_cause_matcher_free(m);
    assert_int_equal(bad, 0);
}

static void test_registry(void **state) {
    (void)state;
    int n0 = mx_log_cause_count();
    assert_int_equal(n0, MX_LOG_CAUSE__COUNT);
    assert_int_equal(mx_log_cause_register("timeout"), MX_LOG_CAUSE_TIMEOUT);
    assert_int_equal(mx_log_cause_register("none"), -1);
    assert_int_equal(mx_log_cause_register("Bad"), -1);
    assert_int_equal(mx_log_cause_register(""), -1);
    assert_int_equal(mx_log_cause_register("a23456789012345678901234567890123"), -1); /* 33 bytes */
    int k = mx_log_cause_register("provider_throttled");
    assert_int_equal(k, n0);
    assert_int_equal(mx_log_cause_register("provider_throttled"), k);
    assert_string_equal(mx_log_cause_name((mx_log_cause)k), "provider_throttled");
    assert_int_equal(mx_log_cause_from_name("provider_throttled"), k);
    char name[16];
    int last = k;
    for (int i = 0; last >= 0; i++) {
        snprintf(name, sizeof name, "c%d", i);
        last = mx_log_cause_register(name);
        assert_true(mx_log_cause_count() <= MX_LOG_CAUSE_MAX);
    }
    assert_int_equal(mx_log_cause_count(), MX_LOG_CAUSE_MAX);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anchors_and_order), cmocka_unit_test(test_shared_pattern),
        cmocka_unit_test(test_errors),            cmocka_unit_test(test_random_against_naive),
        cmocka_unit_test(test_shipped_equals_builtin), cmocka_unit_test(test_registry),
        cmocka_unit_test(test_random_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
