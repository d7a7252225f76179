/* Streaming reader (plain, gzip, truncated gzip, long lines, NUL bytes,
 * rotation order), aggregator bounds, and the `logs` CLI end to end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "json.h"
#include "logagg.h"
#include "logparse.h"
#include "logread.h"

#include "cli.h" /* mx_logs_main */

#define DATA MXDIAG_TEST_DATA "/logs"

static char tmpdir[256];

static int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mx-logread-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}
static int teardown(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void tpath(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", tmpdir, name); }

static void write_file(const char *path, const char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void write_gz(const char *path, const char *data, size_t n) {
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, data, (unsigned)n), (int)n);
    gzclose(g);
}

static int count(const char *path, uint64_t *long_lines, char *err, size_t errlen) {
    mx_log_reader *r = mx_log_reader_open(path, err, errlen);
    if (!r) return -1;
    const char *l;
    size_t n;
    int c = 0, rc;
    while ((rc = mx_log_reader_next(r, &l, &n)) == 1) c++;
    if (long_lines) *long_lines = mx_log_reader_long_lines(r);
    if (err) snprintf(err, errlen, "%s", rc < 0 ? mx_log_reader_error(r) : "");
    mx_log_reader_close(r);
    return c;
}

/* Big-ish synthetic log: enough to cross the reader's internal buffers. */
static char *make_log(int lines, size_t *len) {
    char *b = malloc((size_t)lines * 200 + 1);
    size_t o = 0;
    for (int i = 0; i < lines; i++)
        o += (size_t)sprintf(b + o, "Mar  1 10:%02d:%02d mx postfix/smtp[%d]: connect to mx%d.example[192.0.2.%d]:25: "
                             "Connection refused\n", (i / 60) % 60, i % 60, i, i % 97, i % 250);
    *len = o;
    return b;
}

static void test_plain_and_gzip(void **state) {
    (void)state;
    size_t n;
    char *data = make_log(20000, &n);
    char p1[300], p2[300], err[600];
    tpath(p1, sizeof p1, "plain.log");
    tpath(p2, sizeof p2, "mail.log.2.gz");
    write_file(p1, data, n);
    write_gz(p2, data, n);
    assert_int_equal(count(p1, NULL, err, sizeof err), 20000);
    assert_int_equal(count(p2, NULL, err, sizeof err), 20000);
    assert_string_equal(err, "");
    mx_log_reader *r = mx_log_reader_open(p2, NULL, 0);
    assert_true(mx_log_reader_is_gzip(r));
    mx_log_reader_close(r);
    /* two concatenated gzip members (cat a.gz b.gz) */
    char p3[300];
    tpath(p3, sizeof p3, "concat.gz");
    write_gz(p3, data, n);
    FILE *f = fopen(p3, "ab");
    FILE *g = fopen(p2, "rb");
    char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, g)) > 0) fwrite(buf, 1, k, f);
    fclose(g);
    fclose(f);
    assert_int_equal(count(p3, NULL, err, sizeof err), 40000);
    assert_string_equal(err, "");
    free(data);
    /* missing file: clear message */
    tpath(p1, sizeof p1, "nope.log");
    assert_int_equal(count(p1, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "No such file"));
}

static void test_truncated_gzip(void **state) {
    (void)state;
    size_t n;
    char *data = make_log(20000, &n);
    char p[300], err[600];
    tpath(p, sizeof p, "trunc.log.gz");
    write_gz(p, data, n);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(truncate(p, st.st_size / 2), 0);
    int c = count(p, NULL, err, sizeof err);
    assert_true(c > 1000 && c < 20000); /* what was there was read */
    assert_non_null(strstr(err, "truncated gzip"));
    /* garbage after the magic */
    write_file(p, "\x1f\x8b\x08\x00garbage-garbage-garbage", 27);
    c = count(p, NULL, err, sizeof err);
    assert_int_equal(c, 0);
    assert_true(strlen(err) > 0);
    free(data);
}

static void test_long_lines_and_binary(void **state) {
    (void)state;
    size_t big = 200 * 1024;
    char *d = malloc(big + MX_LOG_MAX_LINE + 300);
    size_t o = (size_t)sprintf(d, "first line\n");
    memset(d + o, 'x', big);
    o += big;
    d[o++] = '\n';
    o += (size_t)sprintf(d + o, "third\n");
    memset(d + o, 'y', MX_LOG_MAX_LINE + 10); /* long line at EOF without newline */
    o += MX_LOG_MAX_LINE + 10;
    char p[300];
    uint64_t ll = 0;
    tpath(p, sizeof p, "long.log");
    write_file(p, d, o);
    assert_int_equal(count(p, &ll, NULL, 0), 2);
    assert_int_equal(ll, 2);
    free(d);
    /* NUL bytes go through the reader and are rejected by the parser */
    mx_log_reader *r = mx_log_reader_open(DATA "/binary-nul.log", NULL, 0);
    assert_non_null(r);
    const char *l;
    size_t n;
    assert_int_equal(mx_log_reader_next(r, &l, &n), 1);
    mx_log_parser ps;
    mx_log_parser_init(&ps, 1709290000, 1);
    mx_log_event ev;
    assert_int_equal(mx_log_parse_line(&ps, l, n, &ev), MX_LOG_UNPARSED);
    assert_int_equal(ev.reason, MX_LOG_R_BINARY);
    mx_log_reader_close(r);
    /* stdin-like: a pipe */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], "a\nb\nc", 5), 5);
    close(fds[1]);
    r = mx_log_reader_fdopen(fds[0], 1, "(pipe)");
    int c = 0;
    while (mx_log_reader_next(r, &l, &n) == 1) c++;
    assert_int_equal(c, 3);
    mx_log_reader_close(r);
}

static void test_rotation_order(void **state) {
    (void)state;
    const char *p[] = {"/v/mail.log", "/v/mail.log.1", "/other.log", "/v/mail.log.3.gz", "/v/mail.log.2.gz",
                       "/v/mail.log.10.gz"};
    mx_log_sort_paths(p, 6);
    const char *want[] = {"/v/mail.log.10.gz", "/v/mail.log.3.gz", "/v/mail.log.2.gz", "/v/mail.log.1",
                          "/v/mail.log", "/other.log"};
    /* same-stem files are ordered oldest first; /other.log keeps its place relative to its peers */
    int j = 0;
    for (int i = 0; i < 6; i++) {
        if (strcmp(p[i], "/other.log") == 0) continue;
        assert_string_equal(p[i], want[j++]);
    }
    const char *d[] = {"maillog", "maillog-20240301.gz", "maillog-20240215"};
    mx_log_sort_paths(d, 3);
    assert_string_equal(d[0], "maillog-20240215");
    assert_string_equal(d[1], "maillog-20240301.gz");
    assert_string_equal(d[2], "maillog");

    /* Real files, found by mx_log_find_rotations and streamed in time order. */
    char base[300], f[300];
    tpath(base, sizeof base, "mail.log");
    const char *lines[] = {"Mar  1 10:00:03 h postfix/smtp[1]: connect to a[192.0.2.1]:25: Connection refused\n",
                           "Mar  1 10:00:02 h postfix/smtp[1]: connect to a[192.0.2.1]:25: Connection refused\n",
                           "Mar  1 10:00:01 h postfix/smtp[1]: connect to a[192.0.2.1]:25: Connection refused\n"};
    write_file(base, lines[0], strlen(lines[0]));
    tpath(f, sizeof f, "mail.log.1");
    write_file(f, lines[1], strlen(lines[1]));
    tpath(f, sizeof f, "mail.log.2.gz");
    write_gz(f, lines[2], strlen(lines[2]));
    char **found = NULL;
    size_t nf = 0;
    assert_int_equal(mx_log_find_rotations(base, &found, &nf), 3);
    mx_log_stream *s = mx_log_stream_new((const char *const *)found, nf, 1709290000, 1, NULL);
    mx_log_event ev;
    int64_t prev = 0;
    int c = 0;
    while (mx_log_stream_next(s, &ev) == 1) {
        assert_true(ev.time > prev);
        prev = ev.time;
        c++;
    }
    assert_int_equal(c, 3);
    mx_log_stream_free(s);
    for (size_t i = 0; i < nf; i++) free(found[i]);
    free(found);
}

static void test_agg_bounds(void **state) {
    (void)state;
    mx_log_agg *a = mx_log_agg_new(16);
    mx_log_parser p;
    mx_log_parser_init(&p, 1709290000, 1);
    char line[400];
    for (int i = 0; i < 5000; i++) {
        snprintf(line, sizeof line,
                 "Mar  1 10:00:01 h postfix/smtp[1]: Q%08dX: to=<u%d@d%d.example>, relay=none, dsn=4.4.1, "
                 "status=deferred (connect to mx.d%d.example[10.0.%d.%d]:25: Connection refused)",
                 i, i, i % 40, i % 40, i / 250, i % 250);
        mx_log_event ev;
        assert_int_equal(mx_log_parse_line(&p, line, strlen(line), &ev), MX_LOG_EVENT);
        mx_log_agg_add(a, &ev);
    }
    const mx_agg_group *const *gs;
    size_t n = mx_log_agg_list(a, MX_AGG_DOMAIN, &gs);
    assert_int_equal(n, 25); /* 16 first seen + MX_AGG_LATE(16) = 8 failing from their first event + (other) */
    assert_string_equal(gs[24]->key, "(other)");
    assert_true(mx_log_agg_dropped(a, MX_AGG_DOMAIN) > 0);
    const mx_agg_group *c = mx_log_agg_find(a, MX_AGG_CAUSE, "refused");
    assert_non_null(c);
    assert_int_equal(c->events, 5000);
    /* distinct: exact below the cap, estimate (within 15%) above */
    assert_false(mx_agg_distinct_exact(&c->rcpts));
    uint64_t est = mx_agg_distinct_count(&c->rcpts);
    assert_true(est > 4250 && est < 5750);
    assert_true(mx_agg_distinct_exact(&c->domains));
    assert_int_equal(mx_agg_distinct_count(&c->domains), 40);
    mx_log_agg_free(a);
}

/* Attempts, recipients and outcomes apart: a Postfix "connect to ...: timed
 * out" line before the recipient's "status=deferred" is one failure (the
 * recipient's), as pflogsumm counts it; a failed attempt to the first MX
 * before the second accepts is no failure at all; a Sendmail line naming two
 * recipients is two outcomes; mailer=local is no external success. */
static void test_agg_attempts_apart(void **state) {
    (void)state;
    static const char log[] =
        "Mar  1 10:00:00 h postfix/smtp[1]: connect to mx.slow.example[192.0.2.61]:25: Connection timed out\n"
        "Mar  1 10:00:30 h postfix/smtp[1]: 1A2B3C4D5E: to=<a@slow.example>, relay=none, delay=30, dsn=4.4.1, "
        "status=deferred (connect to mx.slow.example[192.0.2.61]:25: Connection timed out)\n"
        "Mar  1 10:01:00 h postfix/smtp[2]: connect to mx1.ok.example[192.0.2.71]:25: Connection timed out\n"
        "Mar  1 10:01:01 h postfix/smtp[2]: 2B3C4D5E6F: to=<b@ok.example>, relay=mx2.ok.example[192.0.2.72]:25, "
        "delay=31, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n"
        "Mar  1 10:02:00 h postfix/smtp[3]: 3C4D5E6F7A: to=<c@typo.example>, relay=none, delay=0.1, dsn=5.4.4, "
        "status=bounced (Host or domain name not found. Name service error for name=typo.example type=MX: Host "
        "not found)\n"
        "Mar  1 10:03:00 h sm-mta[4]: 5A1B2C3D004567: to=<d@x.example>,<e@y.example>, delay=00:05:00, "
        "xdelay=00:05:00, mailer=esmtp, pri=120, relay=mx.x.example. [192.0.2.81], dsn=4.0.0, "
        "stat=Deferred: Connection timed out with mx.x.example.\n"
        "Mar  1 10:04:00 h sm-mta[5]: 5A1B2C3D004568: to=rose, delay=00:00:00, xdelay=00:00:00, mailer=local, "
        "pri=30, dsn=2.0.0, stat=Sent\n";
    char p[300];
    tpath(p, sizeof p, "attempts.log");
    write_file(p, log, sizeof log - 1);
    const char *paths[] = {p};
    mx_log_stream *st = mx_log_stream_new(paths, 1, 1709290000, 1, NULL);
    mx_log_agg *a = mx_log_agg_new(0);
    mx_log_event ev;
    int n = 0;
    while (mx_log_stream_next(st, &ev) == 1) mx_log_agg_add(a, &ev), n++;
    assert_int_equal(n, 8); /* 7 lines, the Sendmail one with two recipients */
    assert_int_equal(mx_log_stream_stats(st)->events, 8);
    mx_log_stream_free(st);
    const mx_agg_group *t = mx_log_agg_total(a);
    /* pflogsumm: 1 deferred + 1 bounced (Postfix), 2 deferred (Sendmail) */
    assert_int_equal(t->ext_fail, 4);
    assert_int_equal(t->ext_ok, 1);
    assert_int_equal(t->local, 1);
    assert_int_equal(t->external, 5);
    assert_int_equal(t->attempts, 2);
    assert_int_equal(t->att_fail, 2);
    assert_int_equal(t->events, 8);
    assert_int_equal(t->by_cause[MX_LOG_CAUSE_TIMEOUT], 3); /* outcomes only */
    assert_int_equal(t->by_cause[MX_LOG_CAUSE_DOMAIN_NOT_FOUND], 1);
    assert_int_equal(mx_agg_distinct_count(&t->rcpts), 6);
    /* the cause group: 3 failed outcomes and 2 attempts as evidence */
    const mx_agg_group *c = mx_log_agg_find(a, MX_AGG_CAUSE, "timeout");
    assert_non_null(c);
    assert_int_equal(c->ext_fail, 3);
    assert_int_equal(c->attempts, 2);
    assert_int_equal(c->events, 5);
    /* the first failed attempt dates the trouble */
    assert_int_equal(t->first_fail, 1709287200);
    /* the domain whose first MX timed out only succeeded */
    const mx_agg_group *d = mx_log_agg_find(a, MX_AGG_DOMAIN, "ok.example");
    assert_int_equal(d->ext_fail, 0);
    assert_int_equal(d->ext_ok, 1);
    /* ... and the address of that MX holds the failed attempt as evidence */
    const mx_agg_group *ad = mx_log_agg_find(a, MX_AGG_ADDR, "192.0.2.71");
    assert_non_null(ad);
    assert_int_equal(ad->attempts, 1);
    assert_int_equal(ad->att_fail, 1);
    assert_int_equal(ad->ext_fail, 0);
    assert_int_equal(mx_log_agg_find(a, MX_AGG_DOMAIN, "y.example")->ext_fail, 1);
    assert_int_equal(mx_log_agg_find(a, MX_AGG_DOMAIN, "x.example")->ext_fail, 1);
    mx_log_agg_free(a);

    /* the second recipient of a line passes a --domain filter on its own, through the stream and a batch */
    mx_log_filter f;
    mx_log_filter_init(&f);
    f.domain = "y.example";
    for (int batches = 0; batches < 2; batches++) {
        st = mx_log_stream_new(paths, 1, 1709290000, 1, &f);
        mx_log_batch *b = batches ? mx_log_batch_new() : NULL;
        mx_log_parser bp;
        mx_log_filter bf;
        mx_log_stats bst;
        memset(&bst, 0, sizeof bst);
        if (b) mx_log_stream_parser_init(st, &bp, &bf);
        n = 0;
        for (;;) {
            int more;
            if (b) {
                while (!(more = mx_log_batch_next(b, &bp, &bf, &bst, &ev)) && mx_log_stream_fill(st, b)) {}
            } else {
                more = mx_log_stream_next(st, &ev);
            }
            if (!more) break;
            assert_int_equal(ev.domain.n, 9);
            assert_memory_equal(ev.domain.p, "y.example", 9);
            assert_memory_equal(ev.recipient.p, "e@y.example", 11);
            assert_int_equal(ev.cause, MX_LOG_CAUSE_TIMEOUT);
            n++;
        }
        if (b) mx_log_stream_add_stats(st, &bst);
        assert_int_equal(n, 1);
        assert_int_equal(mx_log_stream_stats(st)->events, 1);
        assert_int_equal(mx_log_stream_stats(st)->filtered, 7);
        mx_log_batch_free(b);
        mx_log_stream_free(st);
    }
}

/* Memoised cause/source groups follow the cap like a fresh lookup would, and
 * a listed dimension reflects adds made after an earlier listing. */
static void test_agg_memo_and_relist(void **state) {
    (void)state;
    mx_log_agg *a = mx_log_agg_new(2);
    mx_log_parser p;
    mx_log_parser_init(&p, 1709290000, 1);
    static const char *const errs[] = {"Connection refused", "Connection timed out", "No route to host"};
    const mx_agg_group *const *gs;
    for (int i = 0; i < 30; i++) {
        char line[300];
        snprintf(line, sizeof line,
                 "Mar  1 10:00:01 h postfix-%s/smtp[1]: Q%08dX: to=<u@D%d.Example>, relay=none, dsn=4.4.1, "
                 "status=deferred (connect to mx.d.example[10.0.0.%d]:25: %s)",
                 i % 3 == 2 ? "b" : "a", i, i % 2, i % 3, errs[i % 3]);
        mx_log_event ev;
        assert_int_equal(mx_log_parse_line(&p, line, strlen(line), &ev), MX_LOG_EVENT);
        mx_log_agg_add(a, &ev);
        if (i == 5) {
            assert_int_equal(mx_log_agg_list(a, MX_AGG_CAUSE, &gs), 3);
            assert_int_equal(gs[0]->events, 2);
        }
    }
    assert_int_equal(mx_log_agg_list(a, MX_AGG_CAUSE, &gs), 3); /* refused, timeout, (other) */
    assert_int_equal(gs[0]->events, 10);
    assert_int_equal(gs[1]->events, 10);
    assert_string_equal(gs[2]->key, "(other)");
    assert_int_equal(mx_log_agg_dropped(a, MX_AGG_CAUSE), 10);
    assert_non_null(mx_log_agg_find(a, MX_AGG_DOMAIN, "d0.example")); /* lower-cased, case-insensitive */
    assert_int_equal(mx_log_agg_find(a, MX_AGG_DOMAIN, "D1.EXAMPLE")->events, 15);
    assert_int_equal(mx_log_agg_find(a, MX_AGG_SOURCE, "postfix-a")->events, 20);
    assert_int_equal(mx_log_agg_find(a, MX_AGG_SOURCE, "postfix-b")->events, 10);
    mx_log_agg_free(a);
}

/* Runs the CLI with stdout captured into a file; returns exit code. */
static int run_cli(char **argv, int argc, char *out, size_t cap) {
    char p[300];
    tpath(p, sizeof p, "cli.out");
    fflush(stdout);
    int saved = dup(1);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    close(fd);
    int rc = mx_logs_main(argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    FILE *f = fopen(p, "r");
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = 0;
    fclose(f);
    return rc;
}

/* Time per destination and the histogram: failures since the last success
 * (attempts never count), the first of them, the last outcome; the
 * histogram's width grows along its ladder as the window grows, its sums
 * stay exact and its buckets aligned. */
static void test_agg_time(void **state) {
    (void)state;
    mx_log_agg *a = mx_log_agg_new(0);
    mx_log_parser p;
    mx_log_parser_init(&p, 1709600000, 1);
    static const char *const lines[] = {
        "Mar  1 10:00:00 h postfix/smtp[1]: 1A2B3C4D51: to=<a@d.example>, relay=mx.d.example[192.0.2.1]:25, dsn=2.0.0, status=sent (250 ok)",
        "Mar  1 10:30:00 h postfix/smtp[1]: 1A2B3C4D52: to=<b@d.example>, relay=none, dsn=4.4.1, status=deferred (connect to mx.d.example[192.0.2.1]:25: Connection timed out)",
        "Mar  1 10:31:00 h postfix/smtp[1]: connect to mx.d.example[192.0.2.1]:25: Connection timed out",
        "Mar  1 10:45:00 h postfix/smtp[1]: 1A2B3C4D53: to=<c@d.example>, relay=none, dsn=4.4.1, status=deferred (connect to mx.d.example[192.0.2.1]:25: Connection refused)",
        "Mar  4 09:00:00 h postfix/smtp[1]: 1A2B3C4D54: to=<e@e.example>, relay=mx.e.example[192.0.2.2]:25, dsn=2.0.0, status=sent (250 ok)",
    };
    mx_log_event ev;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(mx_log_parse_line(&p, lines[i], strlen(lines[i]), &ev), MX_LOG_EVENT);
        mx_log_agg_add(a, &ev);
    }
    const mx_agg_group *d = mx_log_agg_find(a, MX_AGG_DOMAIN, "d.example");
    assert_int_equal(d->ext_ok, 1);
    assert_int_equal(d->ext_fail, 2);
    assert_int_equal(d->fail_since_ok, 2);
    assert_int_equal(d->first_fail_since_ok, 1709289000); /* 10:30 */
    assert_int_equal(d->last_outcome, 2);
    assert_int_equal(d->last_cause, MX_LOG_CAUSE_REFUSED);
    assert_int_equal(d->first_ok, 1709287200);
    const mx_agg_hist *h = mx_log_agg_hist(a);
    assert_int_equal(h->width, 60);
    assert_int_equal(h->start, 1709287200);
    assert_int_equal(h->nbuckets, 46);
    assert_int_equal(h->n[MX_LOG_CAUSE_NONE][0], 1);
    assert_int_equal(h->n[MX_LOG_CAUSE_TIMEOUT][30], 1);
    assert_int_equal(h->n[MX_LOG_CAUSE_REFUSED][45], 1);
    /* three days later: 71 hours need one-hour buckets */
    assert_int_equal(mx_log_parse_line(&p, lines[4], strlen(lines[4]), &ev), MX_LOG_EVENT);
    mx_log_agg_add(a, &ev);
    assert_int_equal(h->width, 3600);
    assert_int_equal(h->start, 1709287200);
    assert_int_equal(h->nbuckets, 72);
    assert_int_equal(h->n[MX_LOG_CAUSE_NONE][0], 1);
    assert_int_equal(h->n[MX_LOG_CAUSE_TIMEOUT][0], 1);
    assert_int_equal(h->n[MX_LOG_CAUSE_REFUSED][0], 1);
    assert_int_equal(h->n[MX_LOG_CAUSE_NONE][71], 1);
    const mx_agg_group *t = mx_log_agg_total(a);
    assert_int_equal(t->fail_since_ok, 0); /* the success at the end */
    assert_int_equal(t->last_outcome, 1);
    /* an earlier event (out of order) moves the start back on the same ladder */
    static const char early[] = "Feb 26 23:10:00 h postfix/smtp[1]: 1A2B3C4D50: to=<z@e.example>, relay=none, dsn=4.4.1, "
                                "status=deferred (connect to mx.e.example[192.0.2.2]:25: Connection timed out)";
    assert_int_equal(mx_log_parse_line(&p, early, strlen(early), &ev), MX_LOG_EVENT);
    mx_log_agg_add(a, &ev);
    assert_int_equal(h->width, 7200);
    assert_int_equal(h->start % 7200, 0);
    uint64_t sum = 0;
    for (int c = 0; c < MX_LOG_CAUSE__COUNT; c++)
        for (size_t b = 0; b < h->nbuckets; b++) sum += h->n[c][b];
    assert_int_equal(sum, 5);
    assert_int_equal(h->n[MX_LOG_CAUSE_TIMEOUT][0], 1);
    mx_log_agg_free(a);
}

static void test_cli_outage(void **state) {
    (void)state;
    static char out[1 << 16];
    char *argv[] = {"logs", "--json", "--utc", "--now", "2024-03-01T12:00:00Z", DATA "/outage-port25.log",
                    "/nonexistent/mail.log"};
    int rc = run_cli(argv, 7, out, sizeof out);
    /* the command runs the shipped logs rules (cli/logs_judge.c): their
     * verdict here, in detail in tests/rules/test_logs_rules.py */
    assert_int_equal(rc, 2);
    char err[200];
    mx_json *j = mx_json_parse(out, strlen(out), err, sizeof err);
    assert_non_null(j);
    assert_string_equal(mx_json_get_str(j, "schema"), "mxdiag.logs/1");
    assert_int_equal(mx_json_get(j, "lines")->u.i, 11);
    assert_int_equal(mx_json_get(j, "events")->u.i, 9);
    assert_int_equal(mx_json_get(mx_json_get(j, "unparsed"), "count")->u.i, 1);
    mx_json *files = mx_json_get(j, "files");
    assert_int_equal(files->u.c.len, 2);
    assert_non_null(mx_json_get_str(files->u.c.items[1], "error"));
    /* external recipient outcomes over time: 2 sent, 4 timeouts, 1 refused (the
     * attempt line is not in it), one-minute buckets from 10:00 */
    mx_json *h = mx_json_get(j, "histogram");
    assert_non_null(h);
    assert_int_equal(mx_json_get(h, "width")->u.i, 60);
    assert_int_equal(mx_json_get(h, "start")->u.i, 1709287200); /* 2024-03-01T10:00:00Z */
    mx_json *series = mx_json_get(h, "series");
    const char *names[] = {"success", "timeout", "refused"};
    long long want[] = {2, 4, 1};
    for (int k = 0; k < 3; k++) {
        mx_json *arr = mx_json_get(series, names[k]);
        assert_non_null(arr);
        assert_int_equal((long long)arr->u.c.len, mx_json_get(h, "buckets")->u.i);
        long long sum = 0;
        for (size_t b = 0; b < arr->u.c.len; b++) sum += arr->u.c.items[b]->u.i;
        assert_int_equal(sum, want[k]);
    }
    mx_json *fs = mx_json_get(j, "findings");
    int have_unparsed = 0, have_timeout = 0;
    for (size_t i = 0; i < fs->u.c.len; i++) {
        const char *code = mx_json_get_str(fs->u.c.items[i], "code");
        if (i == 0) {
            /* every remote delivery fails after 10:43: a cutover, crit */
            assert_string_equal(code, "logs.scope");
            mx_json *ev = mx_json_get(fs->u.c.items[i], "evidence");
            assert_string_equal(mx_json_get_str(ev, "judgement"), "cutover");
            assert_string_equal(mx_json_get_str(ev, "judgement_cause"), "timeout");
        }
        if (!strcmp(code, "logs.cause_timeout")) {
            /* 4 recipients timed out; the attempt line before the first is evidence, not a fifth failure */
            mx_json *ev = mx_json_get(fs->u.c.items[i], "evidence");
            assert_int_equal(mx_json_get(ev, "failures")->u.i, 4);
            assert_int_equal(mx_json_get(ev, "attempts")->u.i, 1);
            have_timeout = 1;
        }
        if (!strcmp(code, "logs.unparsed")) have_unparsed = 1;
    }
    assert_true(have_unparsed && have_timeout);
    mx_json_free(j);

    /* one destination only: --domain and --since narrow it to example.net */
    char *argv2[] = {"logs", "--json", "--utc", "--now", "2024-03-01T12:00:00Z", "--since", "2h",
                     "--domain", "example.net", DATA "/outage-port25.log"};
    rc = run_cli(argv2, 10, out, sizeof out);
    j = mx_json_parse(out, strlen(out), err, sizeof err);
    assert_non_null(j);
    assert_int_equal(mx_json_get(j, "events")->u.i, 2);
    mx_json_free(j);

    /* text mode, no readable file -> unknown (3) */
    char *argv3[] = {"logs", "/nonexistent/x.log"};
    rc = run_cli(argv3, 2, out, sizeof out);
    assert_int_equal(rc, 3);
    assert_non_null(strstr(out, "status: unknown"));
}

/* Two parsing threads (batches aggregated in input order) report exactly
 * what one thread does: several batches, plain + gzip + missing file, long
 * and binary lines, mixed causes and local deliveries (sample texts). */
static void test_cli_threads_identical(void **state) {
    (void)state;
    size_t n;
    char *log = make_log(40000, &n);
    char *mixed = malloc(n + 200000);
    size_t o = 0;
    for (int i = 0; i < 12000; i++) {
        const char *t;
        switch (i % 5) {
        case 0: t = "Mar  1 11:00:%02d mx postfix/lmtp[2]: Q%07dA: to=<u%d@local.example>, relay=127.0.0.1[127.0.0.1]:24, "
                    "dsn=4.0.0, status=deferred (local lmtp said: 451 try later)\n"; break;
        case 1: t = "Mar  1 11:00:%02d mx postfix/smtp[2]: Q%07dB: to=<u%d@x.example>, relay=mx.x.example[198.51.100.1]:25, "
                    "dsn=5.7.1, status=bounced (host mx.x.example[198.51.100.1] said: 554 blocked using zen.spamhaus.org)\n"; break;
        case 2: t = "Mar  1 11:00:%02d mx postfix/smtpd[3]: Q%07dC: client=unknown[203.0.113.%d]\n"; break;
        case 3: t = "garbage %02d %07d %d\n"; break;
        default: t = "Mar  1 11:00:%02d mx postfix/smtp[2]: Q%07dD: to=<u%d@y.example>, relay=mx.y.example[198.51.100.2]:25, "
                     "dsn=2.0.0, status=sent (250 ok)\n"; break;
        }
        o += (size_t)sprintf(mixed + o, t, i % 60, i, i % 200);
        if (i == 7000) {
            memset(mixed + o, 'x', 70000); /* over-long line */
            o += 70000;
            mixed[o++] = '\n';
            memcpy(mixed + o, "Mar  1 11:00:00 mx postfix/smtp[1]: a\0b\n", 40);
            o += 40;
        }
    }
    char p1[300], p2[300], p3[300];
    tpath(p1, sizeof p1, "thr.log");
    tpath(p2, sizeof p2, "thr2.log.1.gz");
    write_file(p1, log, n);
    write_gz(p2, mixed, o);
    tpath(p3, sizeof p3, "thr3.log");
    write_file(p3, mixed, o - 5); /* last line without '\n' */
    static char out1[1 << 17], out2[1 << 17];
    char *argv[] = {"logs", "--json", "--utc", "--now", "2024-03-02T12:00:00Z", p1, p2, "/nonexistent/x.log", p3};
    setenv("MXDIAG_LOG_THREADS", "1", 1);
    int rc1 = run_cli(argv, 9, out1, sizeof out1);
    setenv("MXDIAG_LOG_THREADS", "2", 1);
    int rc2 = run_cli(argv, 9, out2, sizeof out2);
    unsetenv("MXDIAG_LOG_THREADS");
    assert_int_equal(rc1, rc2);
    assert_true(strlen(out1) > 1000);
    assert_string_equal(out1, out2);
    assert_non_null(strstr(out1, "\"too_long\": 2"));
    assert_non_null(strstr(out1, "\"binary\": 2"));
    free(log);
    free(mixed);
}

/* FNV-1a of an event's slices and fields: what a reader of the batch sees. */
static uint64_t ev_hash(uint64_t h, const mx_log_event *ev) {
    const mx_log_str *strs[] = {&ev->queue_id, &ev->recipient, &ev->domain, &ev->relay_addr, &ev->text, &ev->program};
    for (size_t k = 0; k < sizeof strs / sizeof strs[0]; k++) {
        for (size_t i = 0; i < strs[k]->n; i++) h = (h ^ (unsigned char)strs[k]->p[i]) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
    }
    h = (h ^ (uint64_t)ev->time) * 1099511628211ULL;
    return (h ^ (uint64_t)(ev->cause * 8 + ev->status)) * 1099511628211ULL;
}

/* Batches that borrow the stream's read buffer give, event by event (every
 * slice checked once the whole batch is parsed, as the aggregator reads
 * them), what the stream gives: lines across many 256 KiB buffers, a
 * gzip file, an over-long line, a line with a NUL, a last line without
 * '\n', a missing file between. */
static void test_borrowing_batches(void **state) {
    (void)state;
    size_t n;
    char *log = make_log(30000, &n);
    char *big = malloc(n + 80000);
    memcpy(big, log, n / 2);
    size_t o = n / 2;
    memset(big + o, 'x', 70000); /* over-long line */
    o += 70000;
    big[o++] = '\n';
    memcpy(big + o, "Mar  1 11:00:00 mx postfix/smtp[1]: a\0b\n", 40);
    o += 40;
    memcpy(big + o, log + n / 2, n - n / 2);
    o += n - n / 2;
    char p1[300], p2[300], p3[300];
    tpath(p1, sizeof p1, "borrow1.log");
    tpath(p2, sizeof p2, "borrow2.log.gz");
    tpath(p3, sizeof p3, "borrow3.log");
    write_file(p1, big, o);
    write_gz(p2, log, n);
    write_file(p3, log, n - 3); /* last line cut short, no '\n' */
    const char *paths[] = {p1, "/nonexistent/b.log", p2, p3};
    uint64_t want = 14695981039346656037ULL, got = want;
    mx_log_stats ws, gs;
    mx_log_stream *st = mx_log_stream_new(paths, 4, 1709290000, 1, NULL);
    mx_log_event ev;
    size_t nev = 0;
    while (mx_log_stream_next(st, &ev) == 1) want = ev_hash(want, &ev), nev++;
    ws = *mx_log_stream_stats(st);
    const mx_log_file_stat *wf;
    assert_int_equal(mx_log_stream_files(st, &wf), 4);
    uint64_t wlines[4], wbytes[4];
    for (int i = 0; i < 4; i++) wlines[i] = wf[i].lines, wbytes[i] = wf[i].bytes;
    mx_log_stream_free(st);
    assert_true(nev > 10000);

    st = mx_log_stream_new(paths, 4, 1709290000, 1, NULL);
    mx_log_batch *b = mx_log_batch_new_borrowing();
    mx_log_parser bp;
    mx_log_filter bf;
    memset(&gs, 0, sizeof gs);
    mx_log_stream_parser_init(st, &bp, &bf);
    mx_log_event *evs = malloc(MX_LOG_BATCH_LINES * 2 * sizeof *evs);
    size_t batches = 0;
    while (mx_log_stream_fill(st, b)) {
        size_t k = 0;
        while (mx_log_batch_next(b, &bp, &bf, &gs, &evs[k]) == 1) k++;
        for (size_t i = 0; i < k; i++) got = ev_hash(got, &evs[i]);
        batches++;
    }
    mx_log_stream_add_stats(st, &gs);
    gs = *mx_log_stream_stats(st);
    assert_true(batches > 20); /* one buffer's lines at most per batch */
    assert_true(got == want);
    assert_int_equal(gs.lines, ws.lines);
    assert_int_equal(gs.events, ws.events);
    assert_int_equal(gs.unparsed, ws.unparsed);
    assert_int_equal(gs.ignored, ws.ignored);
    assert_memory_equal(gs.by_reason, ws.by_reason, sizeof ws.by_reason);
    const mx_log_file_stat *fs;
    assert_int_equal(mx_log_stream_files(st, &fs), 4);
    assert_false(fs[1].ok);
    for (int i = 0; i < 4; i++) { /* each file's lines and bytes as the stream counts them */
        assert_int_equal(fs[i].lines, wlines[i]);
        assert_int_equal(fs[i].bytes, wbytes[i]);
    }
    assert_true(gs.by_reason[MX_LOG_R_TOO_LONG] == 1 && gs.by_reason[MX_LOG_R_BINARY] == 1);
    free(evs);
    mx_log_batch_free(b);
    mx_log_stream_free(st);
    free(big);
    free(log);
}

/* A directory opens but fails at read(): it used to be reported "ok, 0 lines"
 * (and counted as a readable file).  Now an open error that names it. */
static void test_directory_is_an_error(void **state) {
    (void)state;
    char err[512] = "";
    assert_null(mx_log_reader_open(tmpdir, err, sizeof err));
    assert_non_null(strstr(err, "Is a directory"));
    /* the same through a descriptor: the sniffing read's error is kept */
    int fd = open(tmpdir, O_RDONLY);
    assert_true(fd >= 0);
    mx_log_reader *r = mx_log_reader_fdopen(fd, 1, "dir");
    const char *l;
    size_t n;
    assert_int_equal(mx_log_reader_next(r, &l, &n), -1);
    assert_non_null(strstr(mx_log_reader_error(r), "Is a directory"));
    mx_log_reader_close(r);
    char p[300];
    tpath(p, sizeof p, "after-dir.log");
    size_t len;
    char *log = make_log(10, &len);
    write_file(p, log, len);
    const char *paths[] = {tmpdir, p};
    mx_log_stream *s = mx_log_stream_new(paths, 2, 0, 1, NULL);
    mx_log_event ev;
    while (mx_log_stream_next(s, &ev) == 1) {}
    const mx_log_file_stat *fs;
    assert_int_equal(mx_log_stream_files(s, &fs), 2);
    assert_false(fs[0].ok);
    assert_non_null(strstr(fs[0].error, "Is a directory"));
    assert_true(fs[1].ok);
    assert_int_equal(fs[1].lines, 10);
    mx_log_stream_free(s);
    free(log);
}

/* The stop flag (set by a signal handler in `mxdiag logs`): the reader stops
 * at the next buffer refill, also inside an over-long line; the stream marks
 * the file interrupted (lines/bytes as far as whole lines were read) and the
 * later files not read, and keeps returning 0. */
static void test_stop_flag(void **state) {
    (void)state;
    size_t len;
    char *log = make_log(20000, &len); /* ~2 MB: several buffers */
    char p1[300], p2[300], p3[300];
    tpath(p1, sizeof p1, "stop1.log");
    tpath(p2, sizeof p2, "stop2.log");
    tpath(p3, sizeof p3, "stoplong.log");
    write_file(p1, log, len);
    write_file(p2, log, len);
    static volatile sig_atomic_t stop;
    stop = 0;
    /* reader: stops after the first buffer's lines, never in mid-line */
    mx_log_reader *r = mx_log_reader_open(p1, NULL, 0);
    mx_log_reader_set_stop(r, &stop);
    const char *l;
    size_t n;
    int c = 0, rc;
    while ((rc = mx_log_reader_next(r, &l, &n)) == 1) {
        c++;
        if (c == 10) stop = 1;
    }
    assert_int_equal(rc, MX_LOG_STOPPED);
    assert_true(c >= 10 && c < 20000);
    assert_int_equal(log[mx_log_reader_bytes(r) - 1], '\n');
    mx_log_reader_close(r);

    /* inside a 100 MB line: stops at once, not at the line's end */
    FILE *f = fopen(p3, "wb");
    assert_non_null(f);
    char *blk = malloc(1 << 20);
    memset(blk, 'A', 1 << 20);
    for (int i = 0; i < 100; i++) assert_int_equal(fwrite(blk, 1, 1 << 20, f), 1 << 20);
    fclose(f);
    free(blk);
    stop = 1;
    r = mx_log_reader_open(p3, NULL, 0);
    mx_log_reader_set_stop(r, &stop);
    assert_int_equal(mx_log_reader_next(r, &l, &n), MX_LOG_STOPPED);
    assert_true(mx_log_reader_bytes(r) < (1u << 20));
    mx_log_reader_close(r);
    unlink(p3);

    /* stream over two files: the first interrupted, the second not read */
    stop = 0;
    const char *paths[] = {p1, p2};
    mx_log_stream *s = mx_log_stream_new(paths, 2, 0, 1, NULL);
    mx_log_stream_set_stop(s, &stop);
    mx_log_event ev;
    int evs = 0;
    while (mx_log_stream_next(s, &ev) == 1)
        if (++evs == 5) stop = 1;
    assert_true(mx_log_stream_stopped(s));
    assert_int_equal(mx_log_stream_next(s, &ev), 0);
    const mx_log_file_stat *fs;
    mx_log_stream_files(s, &fs);
    assert_true(fs[0].interrupted);
    assert_false(fs[0].ok);
    assert_false(fs[0].not_read);
    assert_true(fs[0].lines >= 5 && fs[0].lines < 20000);
    /* bytes: exactly the whole lines counted */
    uint64_t nl = 0;
    for (uint64_t i = 0; i < fs[0].bytes; i++) nl += log[i] == '\n';
    assert_int_equal(nl, fs[0].lines);
    assert_true(fs[1].not_read);
    assert_int_equal(fs[1].lines, 0);
    assert_int_equal(mx_log_stream_stats(s)->lines, fs[0].lines);
    mx_log_stream_free(s);

    /* set before anything is opened: nothing read, both files not read */
    stop = 1;
    s = mx_log_stream_new(paths, 2, 0, 1, NULL);
    mx_log_stream_set_stop(s, &stop);
    assert_int_equal(mx_log_stream_next(s, &ev), 0);
    mx_log_stream_files(s, &fs);
    assert_true(fs[0].not_read && fs[1].not_read);
    mx_log_stream_free(s);
    free(log);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_directory_is_an_error), cmocka_unit_test(test_stop_flag),
        cmocka_unit_test(test_plain_and_gzip), cmocka_unit_test(test_truncated_gzip),
        cmocka_unit_test(test_long_lines_and_binary), cmocka_unit_test(test_rotation_order),
        cmocka_unit_test(test_agg_bounds), cmocka_unit_test(test_agg_attempts_apart),
        cmocka_unit_test(test_agg_memo_and_relist), cmocka_unit_test(test_agg_time),
        cmocka_unit_test(test_cli_outage), cmocka_unit_test(test_cli_threads_identical), cmocka_unit_test(test_borrowing_batches),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
