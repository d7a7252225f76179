/* Mail-log parser against the real-log corpus (label "corpus"): every line
 * of every corpus file has a hand-reviewed row in
 * tests/data/logs/corpus-expected.tsv, and the parser must agree with it.
 * The corpus (real MTA logs collected from public projects) is not part of
 * the repository, so this test is registered only when MXDIAG_CORPUS_DIR
 * names it; tests/unit/test_logparse.c covers the parser with the
 * project's own lines.
 *
 * usage: test_logparse_corpus CORPUS_DIR EXPECTED_TSV */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logparse.h"

static const char *corpus_dir, *expected_tsv;

static int64_t utc(int y, int mo, int d, int h, int mi, int s) {
    return mx_log_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

/* Reads line `want` (1-based) of a file into buf; returns its length or -1. */
static long nth_line(const char *path, int want, char *buf, size_t cap) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int ln = 0;
    long r = -1;
    while (fgets(buf, (int)cap, f)) {
        if (++ln == want) {
            r = (long)strlen(buf);
            if (r && buf[r - 1] == '\n') buf[--r] = 0;
            break;
        }
    }
    fclose(f);
    return r;
}

static int count_lines(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0, c, last = '\n';
    while ((c = fgetc(f)) != EOF) {
        if (c == '\n') n++;
        last = c;
    }
    if (last != '\n') n++;
    fclose(f);
    return n;
}

static void fmt_slice(char *out, size_t cap, mx_log_str s) {
    if (!s.n) snprintf(out, cap, "-");
    else if ((size_t)snprintf(out, cap, "%.*s", (int)s.n, s.p) >= cap) snprintf(out, cap, "(%zu bytes)", s.n);
}

/* corpus_dir/name into out; fails the test if it does not fit. */
static void corpus_path(char *out, size_t cap, const char *name) {
    int n = snprintf(out, cap, "%s/%s", corpus_dir, name);
    assert_true(n > 0 && (size_t)n < cap);
}

static void test_corpus_table(void **state) {
    (void)state;
    FILE *t = fopen(expected_tsv, "r");
    assert_non_null(t);
    char row[2048], line[70000];
    int rows = 0, failures = 0;
    /* per-file row counts to prove that every corpus line is covered */
    char files[64][256];
    int counts[64], nfiles = 0;
    mx_log_parser p;
    mx_log_parser_init(&p, utc(2026, 1, 1, 0, 0, 0), 1);
    while (fgets(row, sizeof row, t)) {
        if (row[0] == '#' || row[0] == '\n') continue;
        row[strcspn(row, "\n")] = 0;
        char *f[6] = {NULL};
        int nf = 0;
        for (char *s = row; nf < 6; nf++) {
            f[nf] = s;
            char *tab = strchr(s, '\t');
            if (!tab) {
                nf++;
                break;
            }
            *tab = 0;
            s = tab + 1;
        }
        if (nf != 6) print_error("%s: row with %d columns: %s\n", expected_tsv, nf, row);
        assert_int_equal(nf, 6);
        char *hash = strchr(f[0], '#');
        const char *prog = NULL;
        if (hash) {
            *hash = 0;
            prog = hash + 1;
        }
        char path[512];
        corpus_path(path, sizeof path, f[0]);
        int ln = atoi(f[1]);
        long n = nth_line(path, ln, line, sizeof line);
        if (n < 0) print_error("%s: no line %d\n", path, ln);
        assert_true(n >= 0);
        if (!prog) {
            int k;
            for (k = 0; k < nfiles && strcmp(files[k], f[0]); k++) {}
            if (k == nfiles) {
                assert_true(nfiles < 64);
                assert_true(strlen(f[0]) < sizeof files[0]);
                memcpy(files[nfiles], f[0], strlen(f[0]) + 1);
                counts[nfiles++] = 0;
            }
            counts[k]++;
        }
        mx_log_event ev;
        mx_log_result r = prog ? mx_log_parse_message(&p, prog, line, (size_t)n, &ev)
                               : mx_log_parse_line(&p, line, (size_t)n, &ev);
        char got[64], st[32], dom[256], addr[128];
        if (r == MX_LOG_EVENT) snprintf(got, sizeof got, "%s", mx_log_cause_name(ev.cause));
        else snprintf(got, sizeof got, "%s:%s", r == MX_LOG_IGNORED ? "ignored" : "unparsed",
                      mx_log_reason_name(ev.reason));
        snprintf(st, sizeof st, "%s", r == MX_LOG_EVENT ? mx_log_status_name(ev.status) : "-");
        if (r == MX_LOG_EVENT) {
            fmt_slice(dom, sizeof dom, ev.domain);
            fmt_slice(addr, sizeof addr, ev.relay_addr);
        } else {
            strcpy(dom, "-");
            strcpy(addr, "-");
        }
        if (strcmp(got, f[2]) || strcmp(st, f[3]) || strcmp(dom, f[4]) || strcmp(addr, f[5])) {
            print_error("%s:%d%s%s: expected %s %s %s %s, got %s %s %s %s\n", f[0], ln, prog ? " as " : "",
                        prog ? prog : "", f[2], f[3], f[4], f[5], got, st, dom, addr);
            failures++;
        }
        rows++;
    }
    fclose(t);
    assert_int_equal(failures, 0);
    assert_true(rows > 250);
    /* Every line of every corpus file has a row. */
    for (int k = 0; k < nfiles; k++) {
        char path[512];
        corpus_path(path, sizeof path, files[k]);
        if (count_lines(path) != counts[k]) print_error("%s: %d lines, %d rows\n", files[k], count_lines(path), counts[k]);
        assert_int_equal(count_lines(path), counts[k]);
    }
    assert_true(nfiles >= 35);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s CORPUS_DIR EXPECTED_TSV\n", argv[0]);
        return 2;
    }
    corpus_dir = argv[1];
    expected_tsv = argv[2];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
