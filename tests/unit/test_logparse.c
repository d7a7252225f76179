/* Mail-log line parser: every corpus line against the hand-reviewed table,
 * timestamps (year inference, Dec->Jan, zones), garbled input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logparse.h"

#define TSV MXDIAG_TEST_DATA "/logs/corpus-expected.tsv"

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
    else snprintf(out, cap, "%.*s", (int)s.n, s.p);
}

static void test_corpus_table(void **state) {
    (void)state;
    FILE *t = fopen(TSV, "r");
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
        char *f[6];
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
        assert_int_equal(nf, 6);
        char *hash = strchr(f[0], '#');
        const char *prog = NULL;
        if (hash) {
            *hash = 0;
            prog = hash + 1;
        }
        char path[512];
        snprintf(path, sizeof path, "%s/%s", MXDIAG_CORPUS_DIR, f[0]);
        int ln = atoi(f[1]);
        long n = nth_line(path, ln, line, sizeof line);
        assert_true(n >= 0);
        if (!prog) {
            int k;
            for (k = 0; k < nfiles && strcmp(files[k], f[0]); k++) {}
            if (k == nfiles) {
                assert_true(nfiles < 64);
                snprintf(files[nfiles], sizeof files[0], "%s", f[0]);
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
        snprintf(path, sizeof path, "%s/%s", MXDIAG_CORPUS_DIR, files[k]);
        if (count_lines(path) != counts[k]) print_error("%s: %d lines, %d rows\n", files[k], count_lines(path), counts[k]);
        assert_int_equal(count_lines(path), counts[k]);
    }
    assert_true(nfiles >= 35);
}

static mx_log_result parse(mx_log_parser *p, const char *s, mx_log_event *ev) {
    return mx_log_parse_line(p, s, strlen(s), ev);
}

static void test_event_fields(void **state) {
    (void)state;
    mx_log_parser p;
    mx_log_parser_init(&p, utc(2024, 3, 10, 0, 0, 0), 1);
    mx_log_event ev;
    const char *l = "Mar  1 10:42:00 mx postfix-out/smtp[123]: 4F1A2B3C4D: to=<Bob@Example.ORG>, "
                    "relay=none, delay=30, delays=0.01/0/30/0, dsn=4.4.1, status=deferred (connect to "
                    "mx1.example.org[2001:db8::25]:25: Connection refused)";
    assert_int_equal(parse(&p, l, &ev), MX_LOG_EVENT);
    assert_int_equal(ev.cause, MX_LOG_CAUSE_REFUSED);
    assert_int_equal(ev.status, MX_LOG_STATUS_DEFERRED);
    assert_int_equal(ev.mta, MX_LOG_MTA_POSTFIX);
    assert_int_equal(ev.time, utc(2024, 3, 1, 10, 42, 0));
    assert_int_equal(ev.port, 25);
    assert_memory_equal(ev.domain.p, "Example.ORG", 11);
    assert_memory_equal(ev.relay_addr.p, "2001:db8::25", ev.relay_addr.n);
    assert_memory_equal(ev.source.p, "postfix-out", ev.source.n);
    assert_memory_equal(ev.dsn.p, "4.4.1", 5);
    assert_memory_equal(ev.queue_id.p, "4F1A2B3C4D", 10);
    assert_int_equal(ev.local, 0);

    /* multi-instance + service name, RBL reply beats the RCPT stage */
    l = "2024-03-01T10:42:00.123456+01:00 mx postfix/submission/smtp[9]: ABCDEF123: to=<a@b.example>, "
        "relay=mx.b.example[192.0.2.7]:25, delay=1, delays=0/0/0/1, dsn=5.7.1, status=bounced (host "
        "mx.b.example[192.0.2.7] said: 554 5.7.1 Service unavailable; Client host [198.51.100.1] blocked "
        "using zen.spamhaus.org (in reply to RCPT TO command))";
    assert_int_equal(parse(&p, l, &ev), MX_LOG_EVENT);
    assert_int_equal(ev.cause, MX_LOG_CAUSE_RBL_REJECT);
    assert_int_equal(ev.time, utc(2024, 3, 1, 9, 42, 0));
    assert_memory_equal(ev.source.p, "postfix/submission", ev.source.n);
    /* outer parens stripped, the reply's own kept */
    assert_true(ev.text.n > 20 && memcmp(ev.text.p, "host ", 5) == 0);
    assert_memory_equal(ev.text.p + ev.text.n - 8, "command)", 8);

    /* Exim: errno only, no text we know -> errno table */
    l = "2024-03-01 10:42:00 +0100 1rfXyz-000123-AB == u@c.example R=dnslookup T=remote_smtp defer (110): "
        "something odd H=mx.c.example [192.0.2.9]";
    assert_int_equal(parse(&p, l, &ev), MX_LOG_EVENT);
    assert_int_equal(ev.cause, MX_LOG_CAUSE_TIMEOUT);
    assert_int_equal(ev.time, utc(2024, 3, 1, 9, 42, 0));
    assert_memory_equal(ev.relay_addr.p, "192.0.2.9", 9);
    l = "2024-03-01 10:42:00 1rfXyz-000123-AB == u@c.example R=dnslookup T=remote_smtp defer (111): "
        "Connection refused";
    assert_int_equal(parse(&p, l, &ev), MX_LOG_EVENT);
    assert_int_equal(ev.cause, MX_LOG_CAUSE_REFUSED);
    l = "2024-03-01 10:42:00 1rfXyz-000123-AB ** u@c.example R=dnslookup T=remote_smtp: all relevant MX "
        "records point to non-existent hosts";
    assert_int_equal(parse(&p, l, &ev), MX_LOG_EVENT);
    assert_int_equal(ev.cause, MX_LOG_CAUSE_DNS_FAIL);
    assert_int_equal(ev.status, MX_LOG_STATUS_BOUNCED);

    /* Sendmail stat= */
    l = "Mar  2 07:57:28 host sm-mta[6519]: s1N7vR47006519: to=<x@d.example>, delay=00:00:01, "
        "xdelay=00:00:01, mailer=esmtp, pri=120, relay=mx.d.example. [192.0.2.44], dsn=4.0.0, "
        "stat=Deferred: Connection refused by mx.d.example.";
    assert_int_equal(parse(&p, l, &ev), MX_LOG_EVENT);
    assert_int_equal(ev.mta, MX_LOG_MTA_SENDMAIL);
    assert_int_equal(ev.cause, MX_LOG_CAUSE_REFUSED);
    assert_int_equal(ev.status, MX_LOG_STATUS_DEFERRED);
    assert_memory_equal(ev.relay_addr.p, "192.0.2.44", 10);
    assert_memory_equal(ev.domain.p, "d.example", 9);

    /* TLS failure in a status line */
    l = "Mar  2 07:57:28 host postfix/smtp[1]: ABCDE12345: to=<x@e.example>, relay=mx.e.example[192.0.2.5]:25, "
        "delay=1, delays=0/0/1/0, dsn=4.7.5, status=deferred (Cannot start TLS: handshake failure)";
    assert_int_equal(parse(&p, l, &ev), MX_LOG_EVENT);
    assert_int_equal(ev.cause, MX_LOG_CAUSE_TLS_FAIL);
}

static void test_classify(void **state) {
    (void)state;
    struct {
        const char *text;
        mx_log_cause c;
    } cases[] = {
        {"connect to a[1.2.3.4]:25: Connection timed out", MX_LOG_CAUSE_TIMEOUT},
        {"connect to a[1.2.3.4]:25: No route to host", MX_LOG_CAUSE_UNREACHABLE},
        {"connect to a[::1]:25: Network is unreachable", MX_LOG_CAUSE_NET_UNREACHABLE},
        {"lost connection with a[1.2.3.4] while receiving the initial server greeting", MX_LOG_CAUSE_GREETING_LOST},
        {"host a[1.2.3.4] refused to talk to me: 554 go away", MX_LOG_CAUSE_GREETING_REJECT},
        {"host a[1.2.3.4] said: 550 5.1.1 <u@a>: no such user (in reply to RCPT TO command)", MX_LOG_CAUSE_RCPT_REJECT},
        {"Host or domain name not found. Name service error for name=a type=MX: Host not found, try again",
         MX_LOG_CAUSE_DNS_FAIL},
        {"Domain a does not accept mail (nullMX)", MX_LOG_CAUSE_NULL_MX},
        {"Server certificate not verified", MX_LOG_CAUSE_TLS_FAIL},
        {"certificate verification failed for a[1.2.3.4]:25: untrusted issuer", MX_LOG_CAUSE_TLS_FAIL},
        {"SMTP error from remote mail server after initial connection: 554 no", MX_LOG_CAUSE_GREETING_REJECT},
        {"SMTP error from remote mail server after pipelined RCPT TO:<a@b>: 550 no", MX_LOG_CAUSE_RCPT_REJECT},
        {"550 5.7.1 Client host rejected: listed by domain b.barracudacentral.org", MX_LOG_CAUSE_RBL_REJECT},
        {"mail for a loops back to myself", MX_LOG_CAUSE_OTHER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        mx_log_cause c = mx_log_classify(cases[i].text, strlen(cases[i].text));
        if (c != cases[i].c) print_error("%s -> %s\n", cases[i].text, mx_log_cause_name(c));
        assert_int_equal(c, cases[i].c);
    }
}

static void test_year_inference(void **state) {
    (void)state;
    mx_log_parser p;
    int64_t t;
    size_t used;
    /* now = 2025-01-15: December lines are last year, January this year. */
    mx_log_parser_init(&p, utc(2025, 1, 15, 12, 0, 0), 1);
    assert_int_equal(mx_log_parse_syslog_time(&p, "Dec 31 23:59:59", 15, &t, &used), 0);
    assert_int_equal(t, utc(2024, 12, 31, 23, 59, 59));
    assert_int_equal(used, 15);
    assert_int_equal(mx_log_parse_syslog_time(&p, "Jan  1 00:00:01", 15, &t, &used), 0);
    assert_int_equal(t, utc(2025, 1, 1, 0, 0, 1));
    /* same month, later than tomorrow -> last year */
    assert_int_equal(mx_log_parse_syslog_time(&p, "Jan 20 00:00:00", 15, &t, &used), 0);
    assert_int_equal(t, utc(2024, 1, 20, 0, 0, 0));
    /* single-digit day with one space (as pasted) */
    assert_int_equal(mx_log_parse_syslog_time(&p, "Jan 1 12:34:56", 14, &t, &used), 0);
    assert_int_equal(t, utc(2025, 1, 1, 12, 34, 56));
    /* invalid */
    assert_int_equal(mx_log_parse_syslog_time(&p, "Jan 32 12:34:56", 15, &t, &used), -1);
    /* Feb is after now's month -> 2024, a leap year: Feb 29 exists, Feb 30 not */
    assert_int_equal(mx_log_parse_syslog_time(&p, "Feb 29 12:34:56", 15, &t, &used), 0);
    assert_int_equal(t, utc(2024, 2, 29, 12, 34, 56));
    assert_int_equal(mx_log_parse_syslog_time(&p, "Feb 30 12:34:56", 15, &t, &used), -1);
    /* Dec->Jan inside one file: successive lines stay monotonic. */
    mx_log_event ev;
    const char *a = "Dec 31 23:59:58 h postfix/smtp[1]: connect to a.example[192.0.2.1]:25: Connection refused";
    const char *b = "Jan  1 00:00:02 h postfix/smtp[1]: connect to a.example[192.0.2.1]:25: Connection refused";
    assert_int_equal(parse(&p, a, &ev), MX_LOG_EVENT);
    int64_t ta = ev.time;
    assert_int_equal(parse(&p, b, &ev), MX_LOG_EVENT);
    assert_int_equal(ev.time - ta, 4);
}

static void test_iso_times(void **state) {
    (void)state;
    mx_log_parser p;
    int64_t t;
    size_t used;
    mx_log_parser_init(&p, utc(2025, 1, 15, 12, 0, 0), 1);
    const char *s = "2024-03-01T10:42:00.123456+01:00";
    assert_int_equal(mx_log_parse_iso_time(&p, s, strlen(s), &t, &used), 0);
    assert_int_equal(t, utc(2024, 3, 1, 9, 42, 0));
    assert_int_equal(used, strlen(s));
    s = "2024-03-01T10:42:00Z";
    assert_int_equal(mx_log_parse_iso_time(&p, s, strlen(s), &t, &used), 0);
    assert_int_equal(t, utc(2024, 3, 1, 10, 42, 0));
    s = "2024-03-01 10:42:00 -0230 rest";
    assert_int_equal(mx_log_parse_iso_time(&p, s, strlen(s), &t, &used), 0);
    assert_int_equal(t, utc(2024, 3, 1, 13, 12, 0));
    assert_int_equal(used, 25);
    s = "2024-03-01 10:42:00.345 1rfX"; /* Exim naive (UTC here) */
    assert_int_equal(mx_log_parse_iso_time(&p, s, strlen(s), &t, &used), 0);
    assert_int_equal(t, utc(2024, 3, 1, 10, 42, 0));
    assert_int_equal(used, 23);
    s = "2024-02-30T10:42:00Z";
    assert_int_equal(mx_log_parse_iso_time(&p, s, strlen(s), &t, &used), -1);
    assert_int_equal(mx_log_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(mx_log_days_from_civil(2000, 3, 1), 11017);
}

static void test_garbled(void **state) {
    (void)state;
    mx_log_parser p;
    mx_log_parser_init(&p, utc(2025, 1, 15, 12, 0, 0), 1);
    mx_log_event ev;
    const char nul[] = "Jan  1 00:00:02 h postfix/smtp[1]: conn\0ect to a[1.2.3.4]:25: Connection refused";
    assert_int_equal(mx_log_parse_line(&p, nul, sizeof nul - 1, &ev), MX_LOG_UNPARSED);
    assert_int_equal(ev.reason, MX_LOG_R_BINARY);
    assert_int_equal(mx_log_parse_line(&p, "", 0, &ev), MX_LOG_UNPARSED);
    assert_int_equal(ev.reason, MX_LOG_R_EMPTY);
    assert_int_equal(parse(&p, "\xff\xfe\x01garbage", &ev), MX_LOG_UNPARSED);
    assert_int_equal(ev.reason, MX_LOG_R_NO_HEADER);
    assert_int_equal(parse(&p, "Jan 99 00:00:02 h postfix/smtp[1]: x", &ev), MX_LOG_UNPARSED);
    assert_int_equal(ev.reason, MX_LOG_R_BAD_TIME);
    assert_int_equal(parse(&p, "Jan  1 00:00:02 h postfix/smtp[1]: ABCDE12345: to=<a@b>, relay=none", &ev),
                     MX_LOG_UNPARSED);
    assert_int_equal(ev.reason, MX_LOG_R_BAD_FIELDS);
    /* truncated everywhere: never reads past len */
    const char *full = "2024-03-01T10:42:00.123456+01:00 mx postfix/smtp[9]: ABCDEF123: to=<a@b.example>, "
                       "relay=mx.b.example[192.0.2.7]:25, dsn=5.7.1, status=bounced (host mx[1.2.3.4] said: 5)";
    size_t n = strlen(full);
    for (size_t k = 0; k <= n; k++) {
        char *copy = malloc(k ? k : 1);
        memcpy(copy, full, k);
        (void)mx_log_parse_line(&p, copy, k, &ev); /* ASan catches any overread */
        free(copy);
    }
    /* filter */
    mx_log_filter f;
    mx_log_filter_init(&f);
    assert_int_equal(parse(&p, "Jan  1 00:00:02 h postfix/smtp[1]: ABCDE12345: to=<a@Mail.B.example>, relay=none, "
                               "dsn=4.4.1, status=deferred (connect to x[1.2.3.4]:25: Connection refused)",
                           &ev),
                     MX_LOG_EVENT);
    f.domain = "b.example";
    assert_true(mx_log_filter_match(&f, &ev));
    f.domain = "ab.example";
    assert_false(mx_log_filter_match(&f, &ev));
    f.domain = NULL;
    f.since = ev.time + 1;
    assert_false(mx_log_filter_match(&f, &ev));
    f.since = ev.time;
    f.cause = MX_LOG_CAUSE_REFUSED;
    assert_true(mx_log_filter_match(&f, &ev));
    assert_int_equal(mx_log_cause_from_name("greeting_lost"), MX_LOG_CAUSE_GREETING_LOST);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_table), cmocka_unit_test(test_event_fields),
        cmocka_unit_test(test_classify),     cmocka_unit_test(test_year_inference),
        cmocka_unit_test(test_iso_times),    cmocka_unit_test(test_garbled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
