/* Mail-log line parser: the project's own lines (tests/data/logs/lines.tsv)
 * against their expected events, with every cause/status/MTA/reason covered;
 * timestamps (year inference, Dec->Jan, zones), garbled input.  The table of
 * the real-log corpus is tests/corpus/test_logparse_corpus.c (label corpus). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "logparse.h"

#include "logread.h"

/* Project-written lines with their expected results (format: the file's header). */
#define LINES_TSV MXDIAG_TEST_DATA "/logs/lines.tsv"

static int64_t utc(int y, int mo, int d, int h, int mi, int s) {
    return mx_log_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

/* The parser's "now" for every row of lines.tsv. */
#define LINES_NOW utc(2026, 1, 1, 0, 0, 0)

typedef struct lrow {
    int lineno;    /* in lines.tsv */
    char *how;     /* "line" or a program name for mx_log_parse_message */
    char *expected, *status, *mta, *domain, *relay, *time;
    char *line;    /* decoded, may hold NUL bytes */
    size_t len;
    char *buf;     /* owns the row's text */
} lrow;

static lrow *rows;
static size_t nrows;

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes the escapes of the line column in place; -1 on an unknown one. */
static long decode_line(char *s) {
    char *o = s;
    for (const char *q = s; *q; q++) {
        if (*q != '\\') {
            *o++ = *q;
            continue;
        }
        q++;
        switch (*q) {
        case '\\': *o++ = '\\'; break;
        case '0': *o++ = '\0'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'x': {
            int hi = hexval(q[1]), lo = hi < 0 ? -1 : hexval(q[2]);
            if (lo < 0) return -1;
            *o++ = (char)(hi * 16 + lo);
            q += 2;
            break;
        }
        default: return -1;
        }
    }
    return (long)(o - s);
}

static int load_rows(void **state) {
    (void)state;
    FILE *f = fopen(LINES_TSV, "r");
    if (!f) {
        print_error("cannot open %s\n", LINES_TSV);
        return -1;
    }
    char *buf = NULL;
    size_t cap = 0, alloc = 0;
    ssize_t n;
    int lineno = 0, bad = 0;
    while ((n = getline(&buf, &cap, f)) >= 0) {
        lineno++;
        if (n && buf[n - 1] == '\n') buf[--n] = 0;
        if (n == 0 || buf[0] == '#') continue;
        char *copy = strdup(buf);
        assert_non_null(copy);
        char *fld[8];
        char *s = copy;
        int nf = 0;
        for (; nf < 7; nf++) {
            char *tab = strchr(s, '\t');
            if (!tab) break;
            fld[nf] = s;
            *tab = 0;
            s = tab + 1;
        }
        long len = nf == 7 ? decode_line(s) : -1;
        if (len < 0) {
            print_error("%s:%d: %s\n", LINES_TSV, lineno,
                        nf < 7 ? "fewer than 8 tab-separated columns" : "unknown escape in the line column");
            free(copy);
            bad++;
            continue;
        }
        if (nrows == alloc) {
            alloc = alloc ? alloc * 2 : 256;
            rows = realloc(rows, alloc * sizeof *rows);
            assert_non_null(rows);
        }
        rows[nrows++] = (lrow){lineno, fld[0], fld[1], fld[2], fld[3], fld[4], fld[5], fld[6], s, (size_t)len, copy};
    }
    free(buf);
    fclose(f);
    if (bad || nrows == 0) {
        print_error("%s: %d bad rows, %zu good\n", LINES_TSV, bad, nrows);
        return -1;
    }
    return 0;
}

static int free_rows(void **state) {
    (void)state;
    for (size_t i = 0; i < nrows; i++) free(rows[i].buf);
    free(rows);
    rows = NULL;
    nrows = 0;
    return 0;
}

static int is_event_row(const lrow *r) {
    return strncmp(r->expected, "ignored:", 8) != 0 && strncmp(r->expected, "unparsed:", 9) != 0;
}

static void fmt_slice(char *out, size_t cap, mx_log_str s) {
    if (!s.n) snprintf(out, cap, "-");
    else if ((size_t)snprintf(out, cap, "%.*s", (int)s.n, s.p) >= cap) snprintf(out, cap, "(%zu bytes)", s.n);
}

static void fmt_time(char *out, size_t cap, int64_t t) {
    if (t == MX_LOG_TIME_UNKNOWN) {
        snprintf(out, cap, "-");
        return;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* What the table columns say about a parse: expected, status, mta, domain, relay, time. */
typedef struct got {
    char expected[64], status[16], mta[32], domain[256], relay[128], time[32];
} got;

static void describe(mx_log_result r, const mx_log_event *ev, got *g) {
    if (r == MX_LOG_EVENT) snprintf(g->expected, sizeof g->expected, "%s", mx_log_cause_name(ev->cause));
    else snprintf(g->expected, sizeof g->expected, "%s:%s", r == MX_LOG_IGNORED ? "ignored" : "unparsed",
                  mx_log_reason_name(ev->reason));
    snprintf(g->status, sizeof g->status, "%s", r == MX_LOG_EVENT ? mx_log_status_name(ev->status) : "-");
    snprintf(g->mta, sizeof g->mta, "%s%s", mx_log_mta_name(ev->mta), r == MX_LOG_EVENT && ev->local ? "+local" : "");
    if (r == MX_LOG_EVENT) {
        fmt_slice(g->domain, sizeof g->domain, ev->domain);
        fmt_slice(g->relay, sizeof g->relay, ev->relay_addr);
        fmt_time(g->time, sizeof g->time, ev->time);
    } else {
        snprintf(g->domain, sizeof g->domain, "-");
        snprintf(g->relay, sizeof g->relay, "-");
        snprintf(g->time, sizeof g->time, "-");
    }
}

/* Events a row stands for: one per recipient, the domain column listing
 * several recipients' domains as "a.example,b.example". */
static size_t row_events(const lrow *r) {
    size_t n = 1;
    for (const char *q = r->domain; *q; q++) n += *q == ',';
    return n;
}

/* The k-th item of the row's domain list into out. */
static void row_domain(const lrow *r, size_t k, char *out, size_t cap) {
    const char *q = r->domain;
    for (; k && q; k--) {
        q = strchr(q, ',');
        if (q) q++;
    }
    if (!q) q = "";
    size_t n = strcspn(q, ",");
    snprintf(out, cap, "%.*s", (int)n, q);
}

/* 0 if g is what row r expects (for its recipient k, or for the whole line
 * with k < 0), else prints the difference and returns 1. */
static int compare_row_k(const lrow *r, const got *g, const char *via, long k) {
    char dom[256];
    if (k < 0) snprintf(dom, sizeof dom, "%s", r->domain);
    else row_domain(r, (size_t)k, dom, sizeof dom);
    if (!strcmp(g->expected, r->expected) && !strcmp(g->status, r->status) && !strcmp(g->mta, r->mta) &&
        !strcmp(g->domain, dom) && !strcmp(g->relay, r->relay) && !strcmp(g->time, r->time))
        return 0;
    print_error("lines.tsv:%d%s: expected %s %s %s %s %s %s, got %s %s %s %s %s %s\n", r->lineno, via,
                r->expected, r->status, r->mta, dom, r->relay, r->time, g->expected, g->status, g->mta,
                g->domain, g->relay, g->time);
    return 1;
}

/* Every row, one parser for the whole table as for one log file. */
static void test_lines_table(void **state) {
    (void)state;
    mx_log_parser p;
    mx_log_parser_init(&p, LINES_NOW, 1);
    int failures = 0;
    for (size_t i = 0; i < nrows; i++) {
        const lrow *r = &rows[i];
        mx_log_event ev;
        mx_log_result res = strcmp(r->how, "line") == 0 ? mx_log_parse_line(&p, r->line, r->len, &ev)
                                                        : mx_log_parse_message(&p, r->how, r->line, r->len, &ev);
        got g;
        describe(res, &ev, &g);
        /* further recipients of the line: their domains joined with ",", the
         * rest of the event unchanged */
        mx_log_event e2 = ev;
        while (res == MX_LOG_EVENT && mx_log_event_next_recipient(&e2)) {
            got g2;
            describe(res, &e2, &g2);
            size_t l = strlen(g.domain);
            snprintf(g.domain + l, sizeof g.domain - l, ",%s", g2.domain);
            if (strcmp(g2.expected, g.expected) || strcmp(g2.status, g.status) || strcmp(g2.relay, g.relay))
                snprintf(g.domain, sizeof g.domain, "(recipients differ)");
        }
        failures += compare_row_k(r, &g, "", -1);
    }
    if (failures) print_error("%d of %zu rows differ\n", failures, nrows);
    assert_int_equal(failures, 0);
}

static int name_index(const char *name, const char *(*namef)(int), int count) {
    for (int i = 0; i < count; i++)
        if (strcmp(namef(i), name) == 0) return i;
    return -1;
}
static const char *cause_name(int i) { return mx_log_cause_name((mx_log_cause)i); }
static const char *status_name(int i) { return mx_log_status_name((mx_log_status)i); }
static const char *mta_name(int i) { return mx_log_mta_name((mx_log_mta)i); }
static const char *reason_name(int i) { return mx_log_reason_name((mx_log_reason)i); }

/* Every cause, status, MTA and reason the parser can give has a row (by
 * the expected columns; test_lines_table proves the parser agrees), so a
 * value added to logparse.h without a test line fails here. */
static void test_lines_cover_enums(void **state) {
    (void)state;
    int cause[MX_LOG_CAUSE__COUNT] = {0}, status[MX_LOG_STATUS__COUNT] = {0}, mta[MX_LOG_MTA__COUNT] = {0},
        reason[MX_LOG_R__COUNT] = {0}, bad = 0, local = 0, remote = 0, messages = 0;
    for (size_t i = 0; i < nrows; i++) {
        const lrow *r = &rows[i];
        if (strcmp(r->how, "line") != 0) messages++;
        char m[32];
        snprintf(m, sizeof m, "%s", r->mta);
        char *plus = strchr(m, '+');
        if (plus) {
            if (strcmp(plus, "+local") != 0) bad++, print_error("lines.tsv:%d: mta %s\n", r->lineno, r->mta);
            *plus = 0;
        }
        int k = name_index(m, mta_name, MX_LOG_MTA__COUNT);
        if (k < 0) bad++, print_error("lines.tsv:%d: unknown mta %s\n", r->lineno, m);
        else mta[k]++;
        if (is_event_row(r)) {
            reason[MX_LOG_R_NONE]++; /* an event carries no reason */
            int c = name_index(r->expected, cause_name, MX_LOG_CAUSE__COUNT);
            int s = name_index(r->status, status_name, MX_LOG_STATUS__COUNT);
            if (c < 0 || s < 0)
                bad++, print_error("lines.tsv:%d: unknown cause/status %s %s\n", r->lineno, r->expected, r->status);
            if (c >= 0) cause[c]++;
            if (s >= 0) status[s]++;
            if (plus) local++;
            else remote++;
        } else {
            int k2 = name_index(strchr(r->expected, ':') + 1, reason_name, MX_LOG_R__COUNT);
            if (k2 <= 0) bad++, print_error("lines.tsv:%d: unknown reason %s\n", r->lineno, r->expected);
            else reason[k2]++;
            int garbled = r->expected[0] == 'u';
            if (k2 > 0 && garbled != mx_log_reason_is_garbled((mx_log_reason)k2))
                bad++, print_error("lines.tsv:%d: %s: reason and result kind disagree\n", r->lineno, r->expected);
        }
    }
    /* Reported by the reader (mx_log_stream), never by the line parser:
     * TOO_LONG is covered by test_lines_stream; nothing sets TRUNCATED yet. */
    reason[MX_LOG_R_TOO_LONG]++;
    reason[MX_LOG_R_TRUNCATED]++;
    for (int i = 0; i < MX_LOG_CAUSE__COUNT; i++)
        if (!cause[i]) bad++, print_error("no row for cause %s\n", mx_log_cause_name((mx_log_cause)i));
    for (int i = 0; i < MX_LOG_STATUS__COUNT; i++)
        if (!status[i]) bad++, print_error("no row for status %s\n", mx_log_status_name((mx_log_status)i));
    for (int i = 0; i < MX_LOG_MTA__COUNT; i++)
        if (!mta[i]) bad++, print_error("no row for mta %s\n", mx_log_mta_name((mx_log_mta)i));
    for (int i = 0; i < MX_LOG_R__COUNT; i++)
        if (!reason[i]) bad++, print_error("no row for reason %s\n", mx_log_reason_name((mx_log_reason)i));
    assert_int_equal(bad, 0);
    assert_true(local > 0 && remote > 0 && messages > 0);
}

/* The full-line rows as one log file, read through mx_log_stream (reader +
 * the parser's no-NUL fast path) and through batches: the same events in
 * the same order, the same counts per reason, and one over-long line in
 * the middle counted as unparsed too_long. */
static void test_lines_stream(void **state) {
    (void)state;
    char path[] = "/tmp/mxdiag-lines-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    uint64_t lines = 0, want_reason[MX_LOG_R__COUNT] = {0}, want_ignored = 0, want_unparsed = 0;
    for (size_t i = 0; i < nrows; i++) {
        const lrow *r = &rows[i];
        if (i == nrows / 2) { /* over MX_LOG_MAX_LINE: skipped by the reader, counted */
            for (size_t k = 0; k < MX_LOG_MAX_LINE + 100; k++) fputc('x', f);
            fputc('\n', f);
            lines++;
            want_reason[MX_LOG_R_TOO_LONG]++;
            want_unparsed++;
        }
        if (strcmp(r->how, "line") != 0) continue;
        assert_int_equal(fwrite(r->line, 1, r->len, f), r->len);
        fputc('\n', f);
        lines++;
        if (!is_event_row(r)) {
            int k = name_index(strchr(r->expected, ':') + 1, reason_name, MX_LOG_R__COUNT);
            assert_true(k > 0);
            want_reason[k]++;
            if (r->expected[0] == 'i') want_ignored++;
            else want_unparsed++;
        }
    }
    assert_int_equal(want_reason[MX_LOG_R_TOO_LONG], 1);
    assert_int_equal(fclose(f), 0);
    for (int batches = 0; batches < 2; batches++) {
        const char *paths[] = {path};
        mx_log_stream *s = mx_log_stream_new(paths, 1, LINES_NOW, 1, NULL);
        mx_log_batch *b = batches ? mx_log_batch_new() : NULL;
        mx_log_parser bp;
        mx_log_filter bf;
        mx_log_stats bst;
        memset(&bst, 0, sizeof bst);
        if (b) mx_log_stream_parser_init(s, &bp, &bf);
        size_t i = 0, k = 0; /* row, and recipient of its line */
        int failures = 0;
        mx_log_event ev;
        for (;;) {
            int more;
            if (b) {
                while (!(more = mx_log_batch_next(b, &bp, &bf, &bst, &ev)) && mx_log_stream_fill(s, b)) {}
            } else {
                more = mx_log_stream_next(s, &ev);
            }
            if (!more) break;
            while (i < nrows && (strcmp(rows[i].how, "line") != 0 || !is_event_row(&rows[i]))) i++;
            if (i == nrows) {
                print_error("stream: more events than event rows\n");
                failures++;
                break;
            }
            got g;
            describe(MX_LOG_EVENT, &ev, &g);
            failures += compare_row_k(&rows[i], &g, b ? " (batch)" : " (stream)", (long)k);
            if (++k == row_events(&rows[i])) i++, k = 0;
        }
        while (i < nrows && (strcmp(rows[i].how, "line") != 0 || !is_event_row(&rows[i]))) i++;
        if (i != nrows) print_error("stream: event row lines.tsv:%d never came\n", rows[i].lineno), failures++;
        if (b) mx_log_stream_add_stats(s, &bst);
        const mx_log_stats *st = mx_log_stream_stats(s);
        assert_int_equal(failures, 0);
        assert_int_equal(st->lines, lines);
        assert_int_equal(st->ignored, want_ignored);
        assert_int_equal(st->unparsed, want_unparsed);
        for (int k = 1; k < MX_LOG_R__COUNT; k++) {
            if (st->by_reason[k] != want_reason[k])
                print_error("reason %s: %llu lines, expected %llu\n", mx_log_reason_name((mx_log_reason)k),
                            (unsigned long long)st->by_reason[k], (unsigned long long)want_reason[k]);
            assert_int_equal(st->by_reason[k], want_reason[k]);
        }
        mx_log_batch_free(b);
        mx_log_stream_free(s);
    }
    unlink(path);
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
    assert_int_equal(ev.cause, MX_LOG_CAUSE_DOMAIN_NOT_FOUND);
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

/* A relay's host name ends at the first '[', ' ' or ',' (eight bytes at a
 * time in the parser): every name length around the word size, each
 * terminator; a name that ends at a space or comma has no [address] of its
 * own, so the attempt is not an event (one found further on is not its). */
static void test_host_end(void **state) {
    (void)state;
    mx_log_parser p;
    mx_log_parser_init(&p, utc(2024, 3, 10, 0, 0, 0), 1);
    mx_log_event ev;
    const char terms[] = {'[', ' ', ','};
    for (int len = 1; len <= 40; len++) {
        char host[64];
        for (int i = 0; i < len; i++) host[i] = "mx.example-host.org"[i % 19];
        host[len] = 0;
        for (size_t t = 0; t < sizeof terms; t++) {
            char line[256];
            snprintf(line, sizeof line,
                     "Mar  1 10:00:00 mx postfix/smtp[1]: ABCDE12345: lost connection with %s%s192.0.2.9] while "
                     "receiving the initial server greeting",
                     host, terms[t] == '[' ? "[" : terms[t] == ' ' ? " x[" : ",x[");
            mx_log_result r = parse(&p, line, &ev);
            if (terms[t] == '[') {
                assert_int_equal(r, MX_LOG_EVENT);
                assert_int_equal(ev.relay_host.n, (size_t)len);
                assert_memory_equal(ev.relay_host.p, host, (size_t)len);
                assert_memory_equal(ev.relay_addr.p, "192.0.2.9", ev.relay_addr.n);
            } else {
                assert_int_not_equal(r, MX_LOG_EVENT);
            }
        }
    }
}

/* qmgr's expiry is ", status=expired" or ", status=force-expired" anywhere
 * after "from=<" (the parser looks at each ',' of the line): commas inside
 * the sender, other fields first, a "status=" without ", " before it, and a
 * status that is not an expiry. */
static void test_qmgr_expired(void **state) {
    (void)state;
    mx_log_parser p;
    mx_log_parser_init(&p, utc(2024, 3, 10, 0, 0, 0), 1);
    mx_log_event ev;
    const struct {
        const char *msg;
        int expired;
    } cases[] = {
        {"from=<a@b.example>, status=expired, returned to sender", 1},
        {"from=<a@b.example>, status=force-expired, returned to sender", 1},
        {"from=<\"a,b\"@c.example>, size=1, nrcpt=2, status=expired, returned", 1},
        {"from=<a,,b@c.example>,, status=expired", 1},
        {"from=<a@b.example>, size=10, nrcpt=1 (queue active)", 0},
        {"from=<a@b.example>,status=expired, returned to sender", 0},
        {"from=<a@b.example> status=expired", 0},
        {"from=<a@b.example>, status=expiredx", 1}, /* a prefix, as ever */
        {"from=<a@b.example>, status=sent, status=force-expired", 1},
        {"from=<a@b.example>, status=", 0},
        {"from=<a@b.example>, status=expire", 0},
        {"from=<a@b.example>,", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char line[256];
        snprintf(line, sizeof line, "Mar  1 10:00:00 mx postfix/qmgr[1]: ABCDE12345: %s", cases[i].msg);
        mx_log_result r = parse(&p, line, &ev);
        if (cases[i].expired) {
            assert_int_equal(r, MX_LOG_EVENT);
            assert_int_equal(ev.status, MX_LOG_STATUS_EXPIRED);
            const char *st = strstr(line, ", status=");
            assert_non_null(st);
            assert_int_equal(ev.text.n, strlen(st + 9));
            assert_memory_equal(ev.text.p, st + 9, ev.text.n);
        } else {
            assert_int_equal(r, MX_LOG_IGNORED);
            assert_int_equal(ev.reason, MX_LOG_R_NOT_DELIVERY);
        }
    }
}

/* smtp's "... TLS connection established ..." lines are tls_info: Postfix's
 * own form (one word first) is checked in place, any other place by a
 * search; near misses stay not_delivery. */
static void test_tls_info(void **state) {
    (void)state;
    mx_log_parser p;
    mx_log_parser_init(&p, utc(2024, 3, 10, 0, 0, 0), 1);
    mx_log_event ev;
    const struct {
        const char *msg;
        int tls;
    } cases[] = {
        {"Trusted TLS connection established to mx.b.example[192.0.2.1]:25: TLSv1.3", 1},
        {"Untrusted TLS connection established to mx.b.example[192.0.2.1]:25", 1},
        {"ABCDE12345: Verified TLS connection established to x", 1},
        {"TLS connection established to x", 1},
        {"a b TLS connection established", 1},
        {"Trusted TLS connection establishe", 0},
        {"Trusted  TLS connection established", 1},
        {"Trusted", 0},
        {"Trusted ", 0},
        {"Trusted TLS connection Established", 0},
        {"x TLS connection established", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char line[256];
        snprintf(line, sizeof line, "Mar  1 10:00:00 mx postfix/smtp[1]: %s", cases[i].msg);
        assert_int_equal(parse(&p, line, &ev), MX_LOG_IGNORED);
        if (ev.reason != (cases[i].tls ? MX_LOG_R_TLS_INFO : MX_LOG_R_NOT_DELIVERY))
            fail_msg("'%s': reason %s", cases[i].msg, mx_log_reason_name(ev.reason));
    }
}

/* The recipient's domain follows its last '@' (memrchr): several '@', none,
 * an empty address, '@' first and last. */
static void test_recipient_domain(void **state) {
    (void)state;
    mx_log_parser p;
    mx_log_parser_init(&p, utc(2024, 3, 10, 0, 0, 0), 1);
    mx_log_event ev;
    const struct {
        const char *rcpt, *domain;
    } cases[] = {
        {"user@d.example", "d.example"}, {"a@b@c.example", "c.example"}, {"nobody", NULL},
        {"", NULL},                      {"@x.example", "x.example"},   {"user@", ""},
        {"\"a@b\"@q.example", "q.example"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char line[256];
        snprintf(line, sizeof line,
                 "Mar  1 10:00:00 mx postfix/smtp[1]: ABCDE12345: to=<%s>, relay=none, delay=1, dsn=4.4.1, "
                 "status=deferred (connect to mx.example[192.0.2.1]:25: Connection refused)",
                 cases[i].rcpt);
        assert_int_equal(parse(&p, line, &ev), MX_LOG_EVENT);
        assert_int_equal(ev.recipient.n, strlen(cases[i].rcpt));
        if (!cases[i].domain) {
            assert_null(ev.domain.p);
            assert_int_equal(ev.domain.n, 0);
        } else {
            assert_int_equal(ev.domain.n, strlen(cases[i].domain));
            assert_memory_equal(ev.domain.p, cases[i].domain, ev.domain.n);
        }
    }
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
        {"Host or domain name not found. Name service error for name=a type=MX: Host not found",
         MX_LOG_CAUSE_DOMAIN_NOT_FOUND},
        {"Host or domain name not found. Name service error for name=mx.a type=A: Host not found",
         MX_LOG_CAUSE_DOMAIN_NOT_FOUND},
        {"Host or domain name not found. Name service error for name=a type=AAAA: Host found but no data record "
         "of requested type", MX_LOG_CAUSE_DNS_FAIL},
        {"Host unknown (Name server: a.example: host not found)", MX_LOG_CAUSE_DOMAIN_NOT_FOUND},
        {"Deferred: Name server: a.example.: host name lookup failure", MX_LOG_CAUSE_DNS_FAIL},
        {"Deferred: Name server timeout", MX_LOG_CAUSE_DNS_FAIL},
        {"Unrouteable address", MX_LOG_CAUSE_DOMAIN_NOT_FOUND},
        {"R=dnslookup defer (-1): host lookup did not complete", MX_LOG_CAUSE_DNS_FAIL},
        /* a timeout, not a lost greeting: with TCP Fast Open Exim logs a dropped SYN so too */
        {"SMTP timeout after initial connection", MX_LOG_CAUSE_TIMEOUT},
        {"LMTP timeout after initial connection", MX_LOG_CAUSE_TIMEOUT},
        {"Malformed SMTP reply (an empty line) in response to initial connection", MX_LOG_CAUSE_GREETING_LOST},
        {"TLS session: (gnutls_handshake): timed out", MX_LOG_CAUSE_TLS_FAIL},
        {"Remote host closed connection in response to initial connection", MX_LOG_CAUSE_GREETING_LOST},
        {"Remote host closed connection in response to TLS-on-connect", MX_LOG_CAUSE_TLS_FAIL},
        {"User unknown", MX_LOG_CAUSE_RCPT_REJECT},
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
    /* The remembered date: a line of the same day, then the next day, a
     * leap day, an invalid date right after a valid one (not taken from the
     * memory), and the remembered day again. */
    s = "2024-02-28T23:59:59Z";
    assert_int_equal(mx_log_parse_iso_time(&p, s, strlen(s), &t, &used), 0);
    assert_int_equal(t, utc(2024, 2, 28, 23, 59, 59));
    s = "2024-02-28T00:00:01+02:00";
    assert_int_equal(mx_log_parse_iso_time(&p, s, strlen(s), &t, &used), 0);
    assert_int_equal(t, utc(2024, 2, 27, 22, 0, 1));
    s = "2024-02-29T12:00:00Z";
    assert_int_equal(mx_log_parse_iso_time(&p, s, strlen(s), &t, &used), 0);
    assert_int_equal(t, utc(2024, 2, 29, 12, 0, 0));
    s = "2023-02-29T12:00:00Z";
    assert_int_equal(mx_log_parse_iso_time(&p, s, strlen(s), &t, &used), -1);
    s = "2024-02-29T12:00:61Z";
    assert_int_equal(mx_log_parse_iso_time(&p, s, strlen(s), &t, &used), -1);
    s = "2024-02-29 13:00:00";
    assert_int_equal(mx_log_parse_iso_time(&p, s, strlen(s), &t, &used), 0);
    assert_int_equal(t, utc(2024, 2, 29, 13, 0, 0));
    s = "2024-03-01T00:00:00Z";
    assert_int_equal(mx_log_parse_iso_time(&p, s, strlen(s), &t, &used), 0);
    assert_int_equal(t, utc(2024, 3, 1, 0, 0, 0));
    /* The remembered minute ("YYYY-MM-DDTHH:MM" of the last valid time):
     * the same minute with other seconds, fraction and zone; seconds that
     * are not a valid ":SS" after it (the memory must not accept them); the
     * same minute with ' ' for 'T' is another prefix; a minute later. */
    s = "2024-03-01T00:00:59.5-01:00";
    assert_int_equal(mx_log_parse_iso_time(&p, s, strlen(s), &t, &used), 0);
    assert_int_equal(t, utc(2024, 3, 1, 1, 0, 59));
    assert_int_equal(used, strlen(s));
    s = "2024-03-01T00:00:60Z"; /* a leap second, as hms() takes it */
    assert_int_equal(mx_log_parse_iso_time(&p, s, strlen(s), &t, &used), 0);
    assert_int_equal(t, utc(2024, 3, 1, 0, 1, 0));
    const char *bad[] = {"2024-03-01T00:00:61Z", "2024-03-01T00:00:9xZ", "2024-03-01T00:00x12Z",
                         "2024-03-01T00:00:a0Z", "2024-03-01T00:00"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        assert_int_equal(mx_log_parse_iso_time(&p, bad[k], strlen(bad[k]), &t, &used), -1);
    s = "2024-03-01 00:00:07 rest";
    assert_int_equal(mx_log_parse_iso_time(&p, s, strlen(s), &t, &used), 0);
    assert_int_equal(t, utc(2024, 3, 1, 0, 0, 7));
    assert_int_equal(used, 19);
    s = "2024-03-01 00:01:02";
    assert_int_equal(mx_log_parse_iso_time(&p, s, strlen(s), &t, &used), 0);
    assert_int_equal(t, utc(2024, 3, 1, 0, 1, 2));
    s = "2024-03-01 00:01:03";
    assert_int_equal(mx_log_parse_iso_time(&p, s, strlen(s), &t, &used), 0);
    assert_int_equal(t, utc(2024, 3, 1, 0, 1, 3));
}

/* Every timestamp followed by every rest, twice over (the second round starts
 * with memories set): one parser for all of them must read each line as a
 * fresh parser does. */
static void lines_as_fresh(const char *const *ts, size_t nts, const char *const *rest, size_t nrest, int64_t now) {
    mx_log_parser q;
    mx_log_parser_init(&q, now, 0);
    for (int round = 0; round < 2; round++)
        for (size_t k = 0; k < nts; k++)
            for (size_t j = 0; j < nrest; j++) {
                char line[512];
                snprintf(line, sizeof line, "%s%s", ts[k], rest[j]);
                mx_log_parser fresh;
                mx_log_parser_init(&fresh, now, 0);
                mx_log_event e1, e2;
                mx_log_result r1 = mx_log_parse_text_line(&q, line, strlen(line), &e1);
                mx_log_result r2 = mx_log_parse_text_line(&fresh, line, strlen(line), &e2);
                if (r1 != r2 || e1.reason != e2.reason || e1.time != e2.time || e1.program.n != e2.program.n ||
                    e1.mta != e2.mta || e1.cause != e2.cause || e1.text.n != e2.text.n)
                    fail_msg("'%s': remembered %d/%d %lld, fresh %d/%d %lld", line, r1, e1.reason,
                             (long long)e1.time, r2, e2.reason, (long long)e2.time);
            }
}

/* The remembered syslog minute ("Mmm dd HH:MM" of the last valid time):
 * a parser that has seen the lines before must give each timestamp what a
 * fresh parser gives, in a zone with DST (local times around both changes,
 * a leap second ":60" at the end of an hour, which belongs to the next
 * hour's offset), with seconds that are not a valid ":SS" after a valid
 * minute, fractions, a one-digit day and short inputs. */
static void test_syslog_minute(void **state) {
    (void)state;
    const char *old_tz = getenv("TZ");
    char *saved = old_tz ? strdup(old_tz) : NULL;
    setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
    tzset();
    static const char *ts[] = {
        "Mar 31 01:59:58", "Mar 31 01:59:59", "Mar 31 01:59:60", "Mar 31 01:59:61", "Mar 31 01:59:6x",
        "Mar 31 01:59:x0", "Mar 31 01:59:5x", "Mar 31 01:59:05.123456 x", "Mar 31 01:59:07", "Mar 31 02:59:59", "Mar 31 02:59:60",
        "Mar 31 03:00:00", "Mar 31 03:00:59", "Mar 31 03:00:60", "Oct 27 01:59:59", "Oct 27 01:59:60",
        "Oct 27 02:30:10", "Oct 27 02:30:11", "Oct 27 02:59:59", "Oct 27 02:59:60", "Oct 27 03:00:01",
        "Mar  1 10:00:00", "Mar  1 10:00:01", "Mar 1 10:00:02", "Mar  1 10:00:03", "Mar 01 10:00:04",
        "Mar  1 10:00:04", "Mar  1 10:00", "Mar  1 10:00:0", "Mar  1 10:00:09", "Mar  1 10:01:09",
        "Mar  1 10:00:10", "Mar  1 10:00;10", "Mar  1 10:00:10.5", "Mar  1 10:00:10.",
    };
    int64_t now = utc(2024, 12, 1, 0, 0, 0);
    mx_log_parser p;
    mx_log_parser_init(&p, now, 0);
    for (int round = 0; round < 2; round++) /* the second round starts with memories set */
        for (size_t k = 0; k < sizeof ts / sizeof ts[0]; k++) {
            mx_log_parser fresh;
            mx_log_parser_init(&fresh, now, 0);
            int64_t t1 = 0, t2 = 0;
            size_t u1 = 0, u2 = 0;
            size_t n = strlen(ts[k]);
            int r1 = mx_log_parse_syslog_time(&p, ts[k], n, &t1, &u1);
            int r2 = mx_log_parse_syslog_time(&fresh, ts[k], n, &t2, &u2);
            if (r1 != r2 || (r1 == 0 && (t1 != t2 || u1 != u2)))
                fail_msg("%s: remembered %d %lld %zu, fresh %d %lld %zu", ts[k], r1, (long long)t1, u1, r2,
                         (long long)t2, u2);
        }
    /* Whole lines: the line parser's entry takes the same-minute path
     * itself (before its month test and the call above); a line with
     * memories set must read as it does to a fresh parser, whatever follows
     * the timestamp (an event, a bad time, no tag, a second ':6x'). */
    static const char *const rest[] = {
        (" mx postfix/smtp[1]: ABCDE12345: to=<a@b.example>, relay=none, delay=1, dsn=4.4.1, status=deferred "
         "(connect to mx.b.example[192.0.2.1]:25: Connection refused)"),
        " mx postfix/smtpd[2]: connect from x[192.0.2.2]",
        "",
        " mx",
        ":00 mx postfix/smtp[1]: x",
    };
    lines_as_fresh(ts, sizeof ts / sizeof ts[0], rest, sizeof rest / sizeof rest[0], now);
    if (saved) setenv("TZ", saved, 1);
    else unsetenv("TZ");
    tzset();
    free(saved);
}

/* Whole lines with ISO timestamps: the line parser's entry reads the
 * remembered minute and zone inline; with memories set a line must read as
 * it does to a fresh parser (zones that differ in one byte, a zone after a
 * space, a comma fraction, bad seconds, no zone, 'Z'). */
static void test_iso_line_memory(void **state) {
    (void)state;
    const char *old_tz = getenv("TZ");
    char *saved = old_tz ? strdup(old_tz) : NULL;
    setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
    tzset();
    static const char *const ts[] = {
        "2024-03-01T01:00:02.825056+01:00", "2024-03-01T01:00:03.1+01:00",  "2024-03-01T01:00:04+01:00", "2024-03-01T01:00:04.6+01:01",
        "2024-03-01T01:00:05,5+01:00",      "2024-03-01T01:00:06.5+01:30",  "2024-03-01T01:00:07.5+02:00",
        "2024-03-01T01:00:08.5-01:00",      "2024-03-01T01:00:59.9+01:00",  "2024-03-01T01:00:60.0+01:00",
        "2024-03-01T01:00:61.0+01:00",      "2024-03-01T01:00:6x.0+01:00",  "2024-03-01T01:00:09.5+0100",
        "2024-03-01T01:00:10.5Z",           "2024-03-01T01:00:11.5",        "2024-03-01T01:00:12.5+01:0",
        "2024-03-01 01:00:13 +01:00",       "2024-03-01 01:00:14 +0100",    "2024-03-01T01:01:00.1+01:00",
        "2024-03-01T01:00:15.123456789012+01:00", "2024-03-01T01:00:16.+01:00", "2024-03-01T01:00:17+01:00x",
    };
    static const char *const rest[] = {
        (" mx1 postfix/smtp[1]: 4PjqTKW7tQMY2Y4: to=<u@r.example>, relay=none, delay=1, dsn=5.4.4, status=bounced "
         "(Host or domain name not found. Name service error for name=r.example type=A: Host not found)"),
        " mx1 dovecot: imap-login: Login: user=<u@mail.example.org>",
        " 1j5IF1-0006A7-Ub => a@b.example R=dnslookup T=remote_smtp H=mx.b.example [192.0.2.7]",
        "",
    };
    int64_t now = utc(2024, 12, 1, 0, 0, 0);
    lines_as_fresh(ts, sizeof ts / sizeof ts[0], rest, sizeof rest / sizeof rest[0], now);
    if (saved) setenv("TZ", saved, 1);
    else unsetenv("TZ");
    tzset();
    free(saved);
}

/* The fraction's digits skipped eight at a time, and the remembered zone
 * ("+HH:MM" of the last valid timestamp): each case against its own
 * expected time and length, after the memory was set by another line. */
static void test_iso_fraction_zone(void **state) {
    (void)state;
    mx_log_parser p;
    int64_t t;
    size_t used;
    mx_log_parser_init(&p, utc(2025, 1, 15, 12, 0, 0), 1);
    static const struct {
        const char *s;
        int64_t t; /* expected, or -1 for a failure */
        size_t used;
    } cases[] = {
        {"2024-03-01T10:42:00.123456+01:00 host", 0, 32},   /* sets the zone memory */
        {"2024-03-01T10:42:05.123456+01:00 host", 5, 32},   /* remembered zone */
        {"2024-03-01T10:42:05.1+01:00", 5, 27},             /* short fraction, same zone */
        {"2024-03-01T10:42:05.123456789012+01:00", 5, 38},  /* over eight digits */
        {"2024-03-01T10:42:05.12345678+01:00", 5, 34},      /* exactly eight */
        {"2024-03-01T10:42:05.12345678", 5 + 3600, 28},     /* digits to the end: naive (UTC here) */
        {"2024-03-01T10:42:05.1234567", 5 + 3600, 27},
        {"2024-03-01T10:42:05.+01:00", 5, 26},              /* no digits */
        {"2024-03-01T10:42:05.123:56+01:00", 5 + 3600, 23}, /* ':' ends the fraction: no zone there */
        {"2024-03-01T10:42:05.123456+02:00", 5 - 3600, 32}, /* another zone: parsed, remembered */
        {"2024-03-01T10:42:05.123456+01:00", 5, 32},        /* the first again */
        {"2024-03-01T10:42:05.123456-01:30", 5 + 3600 + 5400, 32},
        {"2024-03-01T10:42:05.123456-01:30", 5 + 3600 + 5400, 32},
        {"2024-03-01T10:42:05.123456+01:0x", 5 + 3600, 26},  /* bad zone: naive, its length ends at the time */
        {"2024-03-01T10:42:05.123456+01:3", 5 + 3600, 26},   /* cut zone */
        {"2024-03-01T10:42:05.123456+0130", 5 + 3600 - 5400, 31},
        {"2024-03-01T10:42:05.123456Z", 5 + 3600, 27},
        {"2024-03-01 10:42:05.123 +01:00", 5, 30},          /* Exim's zone after a space */
        {"2024-03-01T10:42:05.123 +01:00", 5 + 3600, 23},   /* not after a 'T' time */
    };
    int64_t base = utc(2024, 3, 1, 9, 42, 0);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const char *s = cases[k].s;
        assert_int_equal(mx_log_parse_iso_time(&p, s, strlen(s), &t, &used), 0);
        assert_int_equal(t, base + cases[k].t);
        assert_int_equal(used, cases[k].used);
    }
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
        cmocka_unit_test(test_lines_table), cmocka_unit_test(test_lines_cover_enums),
        cmocka_unit_test(test_lines_stream), cmocka_unit_test(test_event_fields),
        cmocka_unit_test(test_classify),     cmocka_unit_test(test_year_inference),
        cmocka_unit_test(test_iso_times),    cmocka_unit_test(test_syslog_minute),    cmocka_unit_test(test_iso_fraction_zone),    cmocka_unit_test(test_garbled),
        cmocka_unit_test(test_host_end),     cmocka_unit_test(test_qmgr_expired),
        cmocka_unit_test(test_recipient_domain), cmocka_unit_test(test_iso_line_memory),
        cmocka_unit_test(test_tls_info),
    };
    return cmocka_run_group_tests(tests, load_rows, free_rows);
}
