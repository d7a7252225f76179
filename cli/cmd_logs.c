/* `mxdiag logs [FILE...]`: why does mail not leave, according to the logs.
 *
 * Streams the files (oldest rotation first) and aggregates the delivery
 * events in C (fast, bounded memory); the logs rules (rules/9x-logs-*.lua,
 * run by logs_judge.c) turn the aggregates into findings: the scope
 * judgement, one finding per failure cause, invalid recipient domains.
 * This file adds the one for the lines it could not read.  The reading,
 * parsing and aggregation are the engine's (logread.c, logparse.c,
 * logagg.c, logfacts.c); this is the command around them: options,
 * threads, signals, the report and its output. --probe hands the worst
 * domains to logs_probe.c. */
#include "buf.h"
#include "escape.h"
#include "json.h"
#include "logagg.h"
#include "logs_report.h"
#include "logparse.h"
#include "logread.h"
#include "cli.h"
#include "logjournal.h"
#include "causematch.h"
#include "termtext.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TOP_N 5
#define PROBE_MAX 20
#define SAMPLE_LEN 300

static void usage(FILE *f) {
    fprintf(f, "Usage: mxdiag logs [OPTIONS] [FILE...|-]\n"
               "\n"
               "Summarises delivery failures in mail logs (Postfix, Exim): by cause,\n"
               "destination domain and relay, and whose side the problem is on. Default\n"
               "files: /var/log/mail.log, /var/log/maillog, /var/log/exim4/mainlog,\n"
               "/var/log/exim/main.log and their rotations (.1, .2.gz, ...); '-' reads\n"
               "standard input.\n"
               "\n"
               "Options:\n"
               "  --since WHEN        only lines from WHEN on; WHEN: 2h, 30m, 3d, 1w,\n"
               "                      2024-03-01, 2024-03-01T10:00, epoch seconds\n"
               "  --until WHEN        only lines before WHEN\n"
               "  --domain D          only deliveries to domain D\n"
               "  --json              one JSON document instead of text\n"
               "  --now EPOCH|ISO     the time relative WHENs count from (default: now)\n"
               "  --utc               zone-less timestamps are UTC (default: local time, $TZ)\n"
               "  --rules-dir DIR     also load the logs rules (kind = \"logs\") in DIR; the\n"
               "                      verdict comes from the shipped logs rules and the site's\n"
               "                      (/etc/mxdiag/rules.d, the configuration file's rules_dir)\n"
               "  --trace             trace the logs rules on stderr\n"
               "  --journal           read the MTA's entries (postfix/*, exim, sendmail) of the\n"
               "                      systemd journal instead of files; without files or\n"
               "                      these options, the journal is read when no default file\n"
               "                      exists and it holds the MTA's entries\n"
               "  --journal-file FILE read that journal file (repeatable)\n"
               "  --journal-dir DIR   read the journal in DIR\n"
               "  --width N           wrap text at N columns (default: the terminal's, else\n"
               "                      $COLUMNS, else 80)\n"
               "  --probe N [CHECK-OPTIONS]\n"
               "                      then run the live `check` rules on the N (at most %d)\n"
               "                      external domains hit hardest (failures weighted by\n"
               "                      their share, as the logs rules rank them) and print\n"
               "                      log and probe side by side (JSON: a \"probes\" array of\n"
               "                      mxdiag.check/1 documents); options of `mxdiag check`\n"
               "                      (--timeout, --resolver, --source-ip, --only, ...) go\n"
               "                      to the probe\n"
               "  -h, --help          this help\n"
               "\n"
               "Global options (before or after the command):\n"
               "  --config FILE, --no-config, --allow-env, --no-color (no colour in text output;\n"
               "  also NO_COLOR=1; none when not a terminal; see mxdiag --help)\n"
               "\n"
               "Exit status: 0 no external failures, 1 failures (their side / mixed),\n"
               "2 your side (all destinations fail, or blocklisted), 3 nothing could be\n"
               "checked (no readable file, no lines, or no delivery event and most lines\n"
               "unparsable) or a usage error, 130/143 interrupted by SIGINT/SIGTERM: the\n"
               "report covers what was read and says where reading stopped and which files\n"
               "were not read. The exit status stays the log report's with --probe.\n"
               "\n"
               "See also: mxdiag(1).\n", PROBE_MAX);
}

/* "did you mean" for an option logs does not know: its own, or check's */
static void unknown_option(const char *a) {
    static const char *const own[] = {"since", "until", "domain", "json", "now", "utc", "probe", "width",
                                      "journal", "journal-file", "journal-dir", "no-color", NULL};
    const char *near = mx_cli_suggest_option(a, own);
    if (near) mx_cli_failf("mxdiag logs", "unknown option %s (did you mean --%s?)", a, near);
    else mx_cli_failf("mxdiag logs", "unknown option %s", a);
    fprintf(stderr, "Try 'mxdiag logs --help'.\n");
}

static void fmt_time(char *b, size_t n, int64_t t) {
    if (t == INT64_MAX || t == INT64_MIN) {
        snprintf(b, n, "-");
        return;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(b, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static mx_json *jtime(int64_t t) {
    if (t == INT64_MAX || t == INT64_MIN) return mx_json_null();
    char b[32];
    fmt_time(b, sizeof b, t);
    return mx_json_str(b);
}

typedef struct report {
    mx_log_agg *agg;
    char sample[MX_LOG_CAUSE_MAX][SAMPLE_LEN];
    mx_json *findings;
    int worst;   /* 0 ok, 1 warn, 2 crit */
    int unknown; /* a finding says nothing could be checked */
} report;

#define SEV_UNKNOWN 3 /* below warn in the status order: crit > warn > unknown > info */

static const char *sev_name(int s) {
    return s == SEV_UNKNOWN ? "unknown" : s >= 2 ? "crit" : s == 1 ? "warn" : "info";
}

/* SIGINT/SIGTERM while reading (and probing): stop, report what was read. */
static volatile sig_atomic_t logs_signal;
/* With two parser threads the kernel picks either for the signal, maybe not
 * the one blocked in read() on a pipe: the first signal is passed on to the
 * other thread too, so that read returns EINTR and sees the stop. */
static volatile sig_atomic_t logs_two_threads;
static pthread_t logs_main_thread, logs_worker_thread;
static void on_signal(int sig) {
    int first = logs_signal == 0;
    logs_signal = sig;
    if (first && logs_two_threads) {
        int on_main = pthread_equal(pthread_self(), logs_main_thread);
        pthread_kill(on_main ? logs_worker_thread : logs_main_thread, sig);
    }
}

static mx_json *add_finding(report *r, const char *code, int sev, const char *summary, const char *expl,
                            const char *advice) {
    mx_json *f = mx_json_push(r->findings, mx_json_obj());
    mx_json_set(f, "rule", mx_json_str("logs"));
    mx_json_set(f, "code", mx_json_str(code));
    mx_json_set(f, "severity", mx_json_str(sev_name(sev)));
    mx_json_set(f, "summary", mx_json_str(summary));
    mx_json_set(f, "explanation", mx_json_str(expl));
    mx_json_set(f, "advice", mx_json_str(advice));
    if (sev == SEV_UNKNOWN) r->unknown = 1;
    else if (sev > r->worst) r->worst = sev;
    return mx_json_set(f, "evidence", mx_json_obj());
}

/* The logs rules' findings (logs_report.c, logs_judge.c) into the report. */
static void judge_findings(report *r, const mx_log_stats *stats, const mx_log_file_stat *files, size_t nf,
                           const mx_log_filter *filter, int64_t now, int argc, char **argv, mx_json *root) {
    const char *samples[MX_LOG_CAUSE_MAX];
    for (int c = 0; c < MX_LOG_CAUSE_MAX; c++) samples[c] = r->sample[c];
    mx_log_agg_finish(r->agg); /* every event is in: the fact is built where the distinct sets were */
    mx_json *fs = mx_logs_judgement(r->agg, stats, samples, files, nf, filter, now, mx_logs_judge, argc, argv, root);
    for (size_t i = 0; fs && i < fs->u.c.len; i++) {
        mx_json *f = fs->u.c.items[i];
        const char *sev = mx_json_get_str(f, "severity");
        int s = !sev ? SEV_UNKNOWN : !strcmp(sev, "crit") ? 2 : !strcmp(sev, "warn") ? 1 : !strcmp(sev, "unknown") ? SEV_UNKNOWN : 0;
        if (s == SEV_UNKNOWN) r->unknown = 1;
        else if (s > r->worst) r->worst = s;
        mx_json_push(r->findings, mx_json_clone(f));
    }
    mx_json_free(fs);
}

/* Where reading stopped and what was not read:
 * {"signal", "read_complete", "file", "lines", "byte", "gzip", "not_read":
 * [paths], "probe"?}; file is null when the stop came between two files (or
 * before the first, or after the last: read_complete, a stop in the probe). */
static mx_json *interrupted_json(const mx_log_file_stat *files, size_t nf, int sig, int read_complete) {
    mx_json *in = mx_json_obj();
    mx_json_set(in, "signal", mx_json_str(sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "signal"));
    mx_json_set(in, "read_complete", mx_json_bool(read_complete));
    const mx_log_file_stat *at = NULL;
    for (size_t i = 0; i < nf; i++)
        if (files[i].interrupted) at = &files[i];
    mx_json_set(in, "file", at ? mx_json_str(at->path) : mx_json_null());
    mx_json_set(in, "lines", mx_json_int(at ? (long long)at->lines : 0));
    mx_json_set(in, "byte", mx_json_int(at ? (long long)at->bytes : 0));
    mx_json_set(in, "gzip", mx_json_bool(at && at->gzip));
    mx_json *nr = mx_json_set(in, "not_read", mx_json_arr());
    for (size_t i = 0; i < nf; i++)
        if (files[i].not_read) mx_json_push(nr, mx_json_str(files[i].path));
    return in;
}

/* 1234567 -> "1,234,567" */
static const char *thousands(char *b, size_t n, long long v) {
    char raw[32];
    int l = snprintf(raw, sizeof raw, "%lld", v), j = 0;
    for (int i = 0; i < l && (size_t)j + 2 < n; i++) {
        if (i && raw[i - 1] != '-' && (l - i) % 3 == 0) b[j++] = ',';
        b[j++] = raw[i];
    }
    b[j] = 0;
    return b;
}

/* "interrupted (SIGINT): read 1,234 lines of FILE up to byte N; not read: A, B" */
static void print_interrupted(FILE *o, mx_json *in) {
    if (!in) return;
    char l[32], by[32];
    const char *file = mx_json_get_str(in, "file");
    fprintf(o, "interrupted (%s): ", mx_json_get_str(in, "signal"));
    if (mx_json_get(in, "read_complete")->u.b)
        fprintf(o, "the logs were read in full");
    else if (file)
        fprintf(o, "read %s lines of %s up to byte %s%s", thousands(l, sizeof l, mx_json_get(in, "lines")->u.i), file,
                thousands(by, sizeof by, mx_json_get(in, "byte")->u.i),
                mx_json_get(in, "gzip")->u.b ? " (decompressed)" : "");
    else fprintf(o, "stopped between files");
    mx_json *nr = mx_json_get(in, "not_read");
    if (nr->u.c.len) fprintf(o, "; not read: ");
    for (size_t i = 0; i < nr->u.c.len; i++) fprintf(o, "%s%s", i ? ", " : "", nr->u.c.items[i]->u.str.s);
    const char *probe = mx_json_get_str(in, "probe");
    if (probe) fprintf(o, "; live probe: %s", probe);
    fprintf(o, "\n");
}

/* Text for a person, rendered as `check` renders its report (termtext.h):
 * wrapped at the terminal's width, never inside a word, log data escaped,
 * severity tags in colour when stdout is a terminal. */
typedef struct text_style {
    int width;
    const char *reset, *bold;
    int colour;
} text_style;

static const char *sev_colour(const text_style *ts, const char *sev) {
    if (!ts->colour || !sev) return "";
    if (!strcmp(sev, "crit")) return "\033[1;31m";
    if (!strcmp(sev, "warn")) return "\033[33m";
    if (!strcmp(sev, "unknown")) return "\033[35m";
    if (!strcmp(sev, "ok")) return "\033[32m";
    return "\033[36m"; /* info */
}

/* "label" padded to a column, then value wrapped under itself. */
static void text_field(mx_buf *b, const text_style *ts, const char *label, const char *value) {
    mx_buf_printf(b, "       %-22s", label);
    int ind = ts->width >= 60 ? 29 : 9;
    mx_text_wrap(b, value, 29, ind, ts->width);
    mx_buf_putc(b, '\n');
}

static void render_text(mx_buf *b, mx_json *root, const text_style *ts) {
    mx_json *files = mx_json_get(root, "files");
    mx_buf t = MX_BUF_INIT;
    mx_buf_printf(&t, "mxdiag logs: %lld lines, %lld delivery events, %lld unparsed", mx_json_get(root, "lines")->u.i,
                  mx_json_get(root, "events")->u.i, mx_json_get(mx_json_get(root, "unparsed"), "count")->u.i);
    mx_text_wrap(b, mx_buf_cstr(&t), 0, 2, ts->width);
    mx_buf_putc(b, '\n');
    int w = 20;
    for (size_t i = 0; i < files->u.c.len; i++) {
        const char *path = mx_json_get_str(files->u.c.items[i], "path");
        int l = mx_text_columns(path, strlen(path));
        if (l > w) w = l < 70 ? l : 70;
    }
    if (w > ts->width - 30) w = ts->width - 30 > 10 ? ts->width - 30 : 10;
    for (size_t i = 0; i < files->u.c.len; i++) {
        mx_json *f = files->u.c.items[i];
        const char *err = mx_json_get_str(f, "error");
        const char *state = err ? "ERROR " : mx_json_get(f, "interrupted") ? "PART  " : mx_json_get(f, "not_read") ? "UNREAD" : "ok    ";
        const char *path = mx_json_get_str(f, "path");
        mx_buf_puts(b, "  ");
        int col = mx_text_wrap(b, path, 2, 4, ts->width);
        if (col > 2 + w) { mx_buf_puts(b, "\n    "); col = 4; }
        for (; col < 2 + w; col++) mx_buf_putc(b, ' ');
        mx_buf_printf(b, " %s%s %10lld lines\n", state, mx_json_get(f, "gzip")->u.b ? "gz" : "  ", mx_json_get(f, "lines")->u.i);
        if (err) {
            mx_buf_puts(b, "      ");
            mx_text_wrap(b, err, 6, 6, ts->width);
            mx_buf_putc(b, '\n');
        }
    }
    const char *note = mx_json_get_str(root, "note");
    if (note) {
        mx_buf_puts(b, "  ");
        mx_text_wrap(b, note, 2, 2, ts->width);
        mx_buf_putc(b, '\n');
    }
    mx_logs_print_histogram(b, mx_json_get(root, "histogram"), ts->width);
    mx_json *fs = mx_json_get(root, "findings");
    for (size_t i = 0; i < fs->u.c.len; i++) {
        mx_json *f = fs->u.c.items[i];
        const char *sev = mx_json_get_str(f, "severity"), *code = mx_json_get_str(f, "code");
        mx_buf_printf(b, "\n[%s%-4s%s] ", sev_colour(ts, sev), sev, ts->colour ? ts->reset : "");
        mx_buf_reset(&t);
        mx_esc_text(&t, code, 0);
        /* the summary beside the code from 80 columns, else after it */
        int pad = ts->width >= 80 ? 26 : 0;
        mx_buf_printf(b, "%s%-*s%s", ts->bold, pad, mx_buf_cstr(&t), ts->colour ? ts->reset : "");
        int tc = mx_text_columns(t.data, t.len);
        int col = 7 + (tc > pad ? tc : pad);
        mx_buf_reset(&t);
        mx_buf_printf(&t, " %s", mx_json_get_str(f, "summary")); /* a space after the code, unless on a new line */
        mx_text_wrap(b, mx_buf_cstr(&t), col, ts->width >= 80 ? 34 : 7, ts->width);
        mx_buf_puts(b, "\n       ");
        mx_text_wrap(b, mx_json_get_str(f, "explanation"), 7, 7, ts->width);
        mx_buf_puts(b, "\n       advice: ");
        mx_text_wrap(b, mx_json_get_str(f, "advice"), 15, 15, ts->width);
        mx_buf_putc(b, '\n');
        mx_json *ev = mx_json_get(f, "evidence");
        const char *keys[] = {"top_domains", "top_addresses", "top_failing_domains", "top_failing_addresses"};
        for (int k = 0; k < 4; k++) {
            mx_json *arr = mx_json_get(ev, keys[k]);
            if (!arr || !arr->u.c.len) continue;
            mx_buf_reset(&t);
            for (size_t j = 0; j < arr->u.c.len; j++) {
                mx_json *e = arr->u.c.items[j];
                const char *name = mx_json_get_str(e, "domain");
                if (!name) name = mx_json_get_str(e, "address");
                mx_json *c = mx_json_get(e, "events");
                if (!c) c = mx_json_get(e, "failures");
                /* the scope's lists are ranked by failures and their share of
                 * the outcomes: both are shown, or the order looks arbitrary */
                mx_json *ok = c && c == mx_json_get(e, "failures") ? mx_json_get(e, "successes") : NULL, *loc;
                if (ok && ok->type == MX_JINT && ok->u.i > 0)
                    mx_buf_printf(&t, "%s%s\xc2\xa0(%lld\xc2\xa0" "failed, %lld\xc2\xa0" "delivered)", j ? ", " : "", name,
                                  c->u.i, ok->u.i);
                else if (ok)
                    mx_buf_printf(&t, "%s%s\xc2\xa0(%lld\xc2\xa0" "failed)", j ? ", " : "", name, c->u.i);
                else if (c && c == mx_json_get(e, "failures") && (loc = mx_json_get(e, "local_failures")) &&
                         loc->type == MX_JINT && loc->u.i > 0)
                    /* a cause's lists rank failures and local failures together: the count
                     * shown is the one ranked, or "r1 (22), r2 (23)" looks unsorted */
                    mx_buf_printf(&t, "%s%s\xc2\xa0(%lld, %lld\xc2\xa0local)", j ? ", " : "", name, c->u.i + loc->u.i,
                                  loc->u.i);
                else
                    mx_buf_printf(&t, "%s%s\xc2\xa0(%lld)", j ? ", " : "", name, c ? c->u.i : 0); /* no break before the count */
            }
            text_field(b, ts, keys[k], mx_buf_cstr(&t));
        }
        const char *sample = mx_json_get_str(ev, "sample_text");
        if (sample) {
            mx_buf_reset(&t);
            mx_buf_printf(&t, "%.200s", sample);
            text_field(b, ts, "sample", mx_buf_cstr(&t));
        }
        mx_json *reasons = mx_json_get(ev, "reasons");
        if (reasons && reasons->u.c.len) {
            mx_buf_reset(&t);
            for (size_t j = 0; j < reasons->u.c.len; j++)
                mx_buf_printf(&t, "%s%s\xc2\xa0%lld", j ? ", " : "", reasons->u.c.keys[j], reasons->u.c.items[j]->u.i);
            text_field(b, ts, "reasons", mx_buf_cstr(&t));
        }
    }
    mx_json *in = mx_json_get(root, "interrupted");
    if (in) {
        char *mem = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&mem, &len);
        if (m) {
            print_interrupted(m, in);
            fclose(m);
            mx_buf_putc(b, '\n');
            mx_text_wrap(b, mem ? mem : "", 0, 2, ts->width);
            free(mem);
        }
    }
    const char *st = mx_json_get_str(root, "status");
    mx_buf_printf(b, "\nstatus: %s%s%s%s\n", sev_colour(ts, st), st, ts->colour ? ts->reset : "",
                  in && !mx_json_get(in, "read_complete")->u.b ? " (of what was read before the interruption)" : "");
    mx_buf_free(&t);
}

/* ---- reading: one thread, or two parsing batches in parallel --------------- */

/* One event into the report: aggregate, and keep the latest remote reply per
 * cause (external ones preferred). */
static void report_sample(report *rep, const mx_log_event *ev) {
    if (ev->cause != MX_LOG_CAUSE_NONE && ev->text.n && (!ev->local || !rep->sample[ev->cause][0])) {
        size_t n = ev->text.n < SAMPLE_LEN - 1 ? ev->text.n : SAMPLE_LEN - 1;
        memcpy(rep->sample[ev->cause], ev->text.p, n);
        rep->sample[ev->cause][n] = 0;
    }
}

/* Parsing is two thirds of the work and needs no order, aggregation (and the
 * "latest reply" sample) does: so each worker fills a batch from the stream
 * (serialised, in input order, numbered), parses it on its own, then feeds
 * its events to the one aggregator when its number comes up.  The report is
 * exactly the single-threaded one (same events, same order); memory is two
 * batches and their events. */
typedef struct par_state {
    mx_log_stream *st;
    report *rep;
    pthread_mutex_t fill_mu, agg_mu;
    pthread_cond_t turn_cv;
    uint64_t next_seq, turn;
    int alone; /* one worker: its batches borrow the stream's buffer (no copy) */
} par_state;

static void *par_worker(void *arg) {
    par_state *ps = arg;
    mx_log_parser parser;
    mx_log_filter filter;
    mx_log_stats stats;
    memset(&stats, 0, sizeof stats);
    /* Alone, nothing reads the stream between this worker's fill and its
     * next one (parse, aggregate and sample in between), so the lines need
     * not be copied out of the read buffer. */
    mx_log_batch *b = ps->alone ? mx_log_batch_new_borrowing() : mx_log_batch_new();
    size_t cap = 1024;
    mx_log_event *evs = mx_xmalloc(cap * sizeof *evs);
    pthread_mutex_lock(&ps->fill_mu);
    mx_log_stream_parser_init(ps->st, &parser, &filter);
    pthread_mutex_unlock(&ps->fill_mu);
    for (;;) {
        pthread_mutex_lock(&ps->fill_mu);
        size_t got = mx_log_stream_fill(ps->st, b);
        uint64_t seq = ps->next_seq;
        if (got) ps->next_seq++;
        pthread_mutex_unlock(&ps->fill_mu);
        if (!got) break;
        size_t n = 0;
        for (;;) {
            if (n == cap) {
                cap *= 2;
                evs = mx_xrealloc(evs, cap * sizeof *evs);
            }
            if (mx_log_batch_next(b, &parser, &filter, &stats, &evs[n]) != 1) break;
            n++;
        }
        pthread_mutex_lock(&ps->agg_mu);
        while (ps->turn != seq) pthread_cond_wait(&ps->turn_cv, &ps->agg_mu);
        mx_log_agg_add_batch(ps->rep->agg, evs, n);
        for (size_t i = 0; i < n; i++) report_sample(ps->rep, &evs[i]);
        ps->turn++;
        pthread_cond_broadcast(&ps->turn_cv);
        pthread_mutex_unlock(&ps->agg_mu);
    }
    pthread_mutex_lock(&ps->fill_mu);
    mx_log_stream_add_stats(ps->st, &stats);
    pthread_mutex_unlock(&ps->fill_mu);
    free(evs);
    mx_log_batch_free(b);
    return NULL;
}

/* Two workers when there are two CPUs, one of them idle, and enough input to
 * pay for a thread (MXDIAG_LOG_THREADS=1 or 2 forces the choice). */
static int want_threads(const char *const *paths, size_t n) {
    const char *env = getenv("MXDIAG_LOG_THREADS");
    if (env && *env) return atoi(env) >= 2 ? 2 : 1;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 2) return 1;
    /* On a busy machine the second worker gets no CPU of its own and only
     * adds hand-over stalls (measured: ~25% slower than one thread). */
    double load;
    if (getloadavg(&load, 1) == 1 && load > (double)ncpu - 0.75) return 1;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat sb;
        if (strcmp(paths[i], "-") == 0) return 2; /* unknown size: may be big */
        if (stat(paths[i], &sb) == 0) total += (uint64_t)sb.st_size;
    }
    return total >= 4u * MX_LOG_BATCH_BYTES ? 2 : 1;
}

/* The second parser thread starts with SIGINT/SIGTERM blocked (inherited)
 * and unblocks them only once the handler knows both threads, so a signal in
 * that window stays pending instead of reaching a thread the handler cannot
 * forward from. */
typedef struct worker_start {
    par_state *ps;
    sem_t known;        /* posted when logs_worker_thread is set */
    sigset_t old;       /* the mask to return to */
} worker_start;

static void *par_worker_thread(void *arg) {
    worker_start *ws = arg;
    while (sem_wait(&ws->known) != 0 && errno == EINTR) {}
    pthread_sigmask(SIG_SETMASK, &ws->old, NULL);
    return par_worker(ws->ps);
}

static void read_all(mx_log_stream *st, report *rep, int threads) {
    /* One thread reads batches too: a batch's events are aggregated together
     * (mx_log_agg_add_batch asks for the memory of the events ahead). */
    par_state ps;
    memset(&ps, 0, sizeof ps);
    ps.st = st;
    ps.rep = rep;
    ps.alone = threads < 2; /* set before a second worker could read it */
    pthread_mutex_init(&ps.fill_mu, NULL);
    pthread_mutex_init(&ps.agg_mu, NULL);
    pthread_cond_init(&ps.turn_cv, NULL);
    pthread_t t;
    worker_start ws;
    ws.ps = &ps;
    sem_init(&ws.known, 0, 0);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &ws.old);
    int started = threads >= 2 && pthread_create(&t, NULL, par_worker_thread, &ws) == 0;
    if (started) {
        logs_main_thread = pthread_self();
        logs_worker_thread = t;
        logs_two_threads = 1;
        sem_post(&ws.known);
    }
    pthread_sigmask(SIG_SETMASK, &ws.old, NULL);
    par_worker(&ps); /* this thread is the other worker (alone with one thread, or if create failed) */
    logs_two_threads = 0; /* before the join: the handler must not signal a joined thread */
    if (started) pthread_join(t, NULL);
    sem_destroy(&ws.known);
    pthread_cond_destroy(&ps.turn_cv);
    pthread_mutex_destroy(&ps.agg_mu);
    pthread_mutex_destroy(&ps.fill_mu);
}

/* Does --option a stand alone (check's options without a value, and
 * --opt=value)? Any other --option is passed to the probe with its value. */
static int check_flag(const char *a) {
    const mx_check_opt *o = mx_check_opt_find(a);
    return strchr(a, '=') != NULL || (o && !o->takes_value);
}

/* The external domains hit hardest, worst first: ranked by impact as the
 * logs rules rank them (rules/lib/logs_util.lua M.impact / M.rank), failures
 * weighted by their share, f * f / (f + s), so that 2 failures among 3000
 * successes (a big domain that mostly works) rank below 1 failure with none;
 * ties by failures, then name. */
static double domain_impact(const mx_agg_group *g) {
    double f = (double)g->ext_fail, s = (double)g->ext_ok;
    return f > 0 ? f * f / (f + s) : 0;
}
static int worse_first(const void *a, const void *b) {
    const mx_agg_group *x = *(const mx_agg_group *const *)a, *y = *(const mx_agg_group *const *)b;
    double ix = domain_impact(x), iy = domain_impact(y);
    if (ix != iy) return ix > iy ? -1 : 1;
    if (x->ext_fail != y->ext_fail) return x->ext_fail > y->ext_fail ? -1 : 1;
    return strcmp(x->key, y->key);
}
static size_t worst_domains(mx_log_agg *agg, size_t want, const mx_agg_group **out) {
    const mx_agg_group *const *gs;
    size_t n = mx_log_agg_list(agg, MX_AGG_DOMAIN, &gs), k = 0;
    const mx_agg_group **cand = mx_xcalloc(n ? n : 1, sizeof *cand);
    for (size_t i = 0; i < n; i++) {
        const mx_agg_group *g = gs[i];
        if (!g->ext_fail || !g->key[0] || strcmp(g->key, "(other)") == 0) continue;
        cand[k++] = g;
    }
    qsort(cand, k, sizeof *cand, worse_first);
    if (k > want) k = want;
    memcpy(out, cand, k * sizeof *out);
    free(cand);
    return k;
}

/* What the log says about one probed domain. */
static mx_json *domain_log_json(const mx_agg_group *g) {
    mx_json *o = mx_json_obj();
    mx_json_set(o, "domain", mx_json_str(g->key));
    mx_json_set(o, "failures", mx_json_int((long long)g->ext_fail));
    mx_json_set(o, "successes", mx_json_int((long long)g->ext_ok));
    int dom = -1;
    mx_json *bc = mx_json_set(o, "causes", mx_json_obj());
    for (int c = 1; c < MX_LOG_CAUSE_MAX; c++) {
        if (!g->by_cause[c]) continue;
        mx_json_set(bc, mx_log_cause_name(c), mx_json_int((long long)g->by_cause[c]));
        if (dom < 0 || g->by_cause[c] > g->by_cause[dom]) dom = c;
    }
    mx_json_set(o, "dominant_cause", dom > 0 ? mx_json_str(mx_log_cause_name(dom)) : mx_json_null());
    mx_json_set(o, "first_failure", jtime(g->first_fail));
    mx_json_set(o, "last_failure", jtime(g->last_fail));
    mx_json_set(o, "last_success", jtime(g->last_ok));
    mx_json_set(o, "addresses", mx_json_int((long long)mx_agg_distinct_count(&g->addrs)));
    return o;
}

static const char *hm(const char *iso) { return iso && strlen(iso) >= 16 ? iso + 11 : "-"; }

/* The side-by-side: per domain, what the log says, then what the probe says now. */
static void render_probes(mx_buf *b, mx_json *root, const text_style *ts) {
    mx_json *doms = mx_json_get(root, "probed_domains"), *probes = mx_json_get(root, "probes");
    if (!doms || !probes) return;
    mx_buf t = MX_BUF_INIT;
    mx_buf_printf(&t, "live probe of the %zu domains hit hardest, failures weighted by their share (log | now):", doms->u.c.len);
    mx_buf_putc(b, '\n');
    mx_text_wrap(b, mx_buf_cstr(&t), 0, 2, ts->width);
    mx_buf_putc(b, '\n');
    for (size_t i = 0; i < doms->u.c.len && i < probes->u.c.len; i++) {
        mx_json *d = doms->u.c.items[i], *p = probes->u.c.items[i];
        const char *cause = mx_json_get_str(d, "dominant_cause");
        const char *ff = mx_json_get_str(d, "first_failure"), *lf = mx_json_get_str(d, "last_failure");
        mx_buf_printf(b, "\n  %s", ts->bold);
        mx_text_wrap(b, mx_json_get_str(d, "domain"), 2, 4, ts->width);
        mx_buf_printf(b, "%s\n    log: ", ts->colour ? ts->reset : "");
        mx_buf_reset(&t);
        mx_buf_printf(&t, "%s, %lld failures, %lld successes, since %s (last %s)", cause ? cause : "-",
                      mx_json_get(d, "failures")->u.i, mx_json_get(d, "successes")->u.i, ff ? ff : "-", hm(lf));
        mx_text_wrap(b, mx_buf_cstr(&t), 9, 9, ts->width);
        const char *st = mx_json_get_str(p, "status");
        const char *perr = mx_json_get_str(p, "error");
        mx_buf_printf(b, "\n    now: %s%s%s", sev_colour(ts, st), st ? st : "?", ts->colour ? ts->reset : "");
        if (perr) {
            mx_buf_putc(b, ':');
            mx_text_wrap(b, perr, 13, 9, ts->width);
        }
        mx_buf_putc(b, '\n');
        mx_json *fs = mx_json_get(p, "findings");
        /* problems first; the good news only when there is nothing else */
        int bad = 0;
        for (size_t j = 0; fs && j < fs->u.c.len; j++) {
            const char *sev = mx_json_get_str(fs->u.c.items[j], "severity");
            bad += sev && (strcmp(sev, "warn") == 0 || strcmp(sev, "crit") == 0 || strcmp(sev, "unknown") == 0);
        }
        int shown = 0;
        for (size_t j = 0; fs && j < fs->u.c.len && shown < 8; j++) {
            mx_json *f = fs->u.c.items[j];
            const char *sev = mx_json_get_str(f, "severity");
            if (!sev || strcmp(sev, "info") == 0 || (bad && strcmp(sev, "ok") == 0)) continue;
            if (!bad && shown >= 3) break;
            const char *src = mx_json_get_str(mx_json_get(f, "evidence"), "source");
            const char *sum = mx_json_get_str(f, "summary");
            if (src && sum && strstr(sum, src)) src = NULL; /* already says from where */
            mx_buf_printf(b, "         [%s%-4s%s] ", sev_colour(ts, sev), sev, ts->colour ? ts->reset : "");
            mx_buf_reset(&t);
            mx_esc_text(&t, mx_json_get_str(f, "code"), 0);
            int pad = ts->width >= 80 ? 24 : 0;
            mx_buf_printf(b, "%-*s", pad, mx_buf_cstr(&t));
            int tc = mx_text_columns(t.data, t.len);
            int col = 17 + (tc > pad ? tc : pad);
            mx_buf_reset(&t);
            mx_buf_printf(&t, " %.160s%s%s%s", sum ? sum : "", src ? " (from " : "", src ? src : "", src ? ")" : "");
            mx_text_wrap(b, mx_buf_cstr(&t), col, 17, ts->width);
            mx_buf_putc(b, '\n');
            shown++;
        }
    }
    mx_buf_free(&t);
}

static void print_interrupted_err(FILE *o, mx_json *root) {
    fprintf(o, "mxdiag logs: ");
    print_interrupted(o, mx_json_get(root, "interrupted"));
}

/* Text for a person holds log data (domains, reply samples, paths): it is
 * rendered in memory and escaped once, keeping its line breaks, where it is
 * written. */
static void emit_text(FILE *dst, mx_json *root, void (*print)(FILE *, mx_json *)) {
    char *mem = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&mem, &len);
    if (!m) { perror("mxdiag logs"); return; }
    print(m, root);
    if (fclose(m) != 0) { free(mem); perror("mxdiag logs"); return; }
    mx_buf b = MX_BUF_INIT;
    mx_esc_text_n(&b, mem ? mem : "", len, MX_ESC_NL);
    fwrite(b.data ? b.data : "", 1, b.len, dst);
    mx_buf_free(&b);
    free(mem);
}

/* --journal, --journal-file, --journal-dir: the journal instead of files. */
static mx_log_journal *open_journal(size_t nfiles_named, const char *const *files, size_t n, const char *dir,
                                    int64_t since) {
    char err[512];
    if (nfiles_named) {
        mx_cli_failf("mxdiag logs", "name log files or read the journal (--journal, --journal-file, --journal-dir), "
                                    "not both");
        return NULL;
    }
    if (n && dir) {
        mx_cli_failf("mxdiag logs", "--journal-file and --journal-dir do not go together");
        return NULL;
    }
    mx_log_journal *jr = mx_log_journal_open(files, n, dir, since, err, sizeof err);
    if (!jr) mx_cli_failf("mxdiag logs", "%s", err);
    else if (!mx_log_journal_has_mta(jr))
        mx_errf("mxdiag logs: the %s holds no entries of postfix, exim or sendmail%s", mx_log_journal_name(jr),
                since != INT64_MIN ? " in the time range" : "");
    return jr;
}

/* No mail log file exists (a Debian 12 without rsyslog): the journal when it
 * holds the MTA's entries, else say where we looked and what to do. */
static mx_log_journal *journal_fallback(int64_t since, const char **note) {
    char err[512];
    static const char looked[] = "none of /var/log/mail.log, /var/log/maillog, /var/log/exim4/mainlog, "
                                 "/var/log/exim/main.log exists";
    mx_log_journal *jr = mx_log_journal_open(NULL, 0, NULL, since, err, sizeof err);
    if (jr && mx_log_journal_has_mta(jr)) {
        *note = "no mail log file exists (/var/log/mail.log, /var/log/maillog, /var/log/exim4/mainlog, "
                "/var/log/exim/main.log): read the MTA's entries in the systemd journal instead";
        fprintf(stderr, "mxdiag logs: %s; reading the MTA's entries in the systemd journal\n", looked);
        return jr;
    }
    fprintf(stderr, "mxdiag logs: %s, and the systemd journal %s%s%s; name the log files to read (or "
                    "--journal-file FILE, --journal-dir DIR), or run as root or a member of group "
                    "systemd-journal or adm to read the whole journal\n", looked,
            jr ? "holds no entries of postfix, exim or sendmail" : "cannot be read (", jr ? "" : err, jr ? "" : ")");
    mx_log_journal_close(jr);
    return NULL;
}

int mx_logs_main(int argc, char **argv) {
    int json = 0, naive_utc = 0, no_color = 0, journal = 0;
    const char *since_s = NULL, *until_s = NULL, *now_s = NULL, *domain = NULL, *probe_s = NULL, *width_s = NULL;
    const char *journal_dir = NULL;
    const char **paths = mx_xcalloc((size_t)argc + 1, sizeof *paths);
    const char **journal_files = mx_xcalloc((size_t)argc + 1, sizeof *journal_files);
    size_t np = 0, njf = 0;
    char **fwd = mx_xcalloc((size_t)argc + 2, sizeof *fwd); /* options for the probe's check */
    int nfwd = 0;
    fwd[nfwd++] = "logs";
    char **jargv = mx_xcalloc((size_t)argc + 2, sizeof *jargv); /* options for the logs rules */
    int njargv = 0;
    jargv[njargv++] = "logs";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (strcmp(a, "--json") == 0) json = 1;
        else if (strcmp(a, "--utc") == 0) naive_utc = 1;
        else if (strcmp(a, "--no-color") == 0) no_color = 1;
        else if (strcmp(a, "--width") == 0) dst = &width_s;
        else if (strcmp(a, "--journal") == 0) journal = 1;
        else if (strcmp(a, "--journal-file") == 0) dst = &journal_files[njf++];
        else if (strcmp(a, "--journal-dir") == 0) dst = &journal_dir;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            free(paths);
            free(fwd);
            free(jargv);
            free(journal_files);
            return 0;
        } else if (strcmp(a, "--since") == 0) dst = &since_s;
        else if (strcmp(a, "--until") == 0) dst = &until_s;
        else if (strcmp(a, "--now") == 0) dst = &now_s;
        else if (strcmp(a, "--domain") == 0) dst = &domain;
        else if (strcmp(a, "--probe") == 0) dst = &probe_s;
        else if (a[0] == '-' && a[1] == '-' && a[2]) {
            /* the rules' own options go to the judgement (and the probe) */
            int rule_opt = mx_logs_judge_option(a);
            if (rule_opt) jargv[njargv++] = argv[i];
            fwd[nfwd++] = argv[i];
            if (!check_flag(a) && i + 1 < argc) {
                if (rule_opt) jargv[njargv++] = argv[i + 1];
                fwd[nfwd++] = argv[++i];
            }
        } else if (a[0] == '-' && a[1]) {
            unknown_option(a);
            free(paths);
            free(fwd);
            free(jargv);
            free(journal_files);
            return 3;
        } else paths[np++] = a;
        if (dst) {
            if (i + 1 >= argc) {
                mx_cli_failf("mxdiag logs", "%s needs a value", a);
                free(paths);
                free(fwd);
                free(jargv);
                free(journal_files);
                return 3;
            }
            *dst = argv[++i];
        }
    }
    if (width_s && mx_text_cli_width(width_s) != 0) {
        mx_cli_failf("mxdiag logs", "--width must be a number of columns from %d to %d, not '%s'", MX_TEXT_WIDTH_MIN,
                MX_TEXT_WIDTH_MAX, width_s);
        free(paths);
        free(fwd);
        free(jargv);
        free(journal_files);
        return 3;
    }
    long probe_n = 0;
    if (probe_s) {
        char *end;
        probe_n = strtol(probe_s, &end, 10);
        if (*end || probe_n < 1 || probe_n > PROBE_MAX) {
            mx_cli_failf("mxdiag logs", "--probe wants a number of domains from 1 to %d", PROBE_MAX);
            free(paths);
            free(fwd);
            free(jargv);
            free(journal_files);
            return 3;
        }
    }
    for (int i = 1; i < nfwd; i++) {
        /* neither logs' nor check's: a typo, named before anything runs */
        if (fwd[i][0] == '-' && !mx_check_opt_find(fwd[i])) {
            unknown_option(fwd[i]);
            free(paths);
            free(fwd);
            free(jargv);
            free(journal_files);
            return 3;
        }
        if (!check_flag(fwd[i])) i++;
    }
    if (nfwd > njargv && !probe_n) {
        const char *bad = fwd[1];
        for (int k = 1; k < nfwd; k++)
            if (!mx_logs_judge_option(fwd[k]) && fwd[k][0] == '-' &&
                (k == 1 || !mx_logs_judge_option(fwd[k - 1]) || check_flag(fwd[k - 1]))) {
                bad = fwd[k];
                break;
            }
        mx_cli_failf("mxdiag logs", "%s is an option of check: it goes with --probe N", bad);
        fprintf(stderr, "Try 'mxdiag logs --help'.\n");
        free(paths);
        free(fwd);
        free(jargv);
        free(journal_files);
        return 3;
    }
    mx_log_parser tp;
    mx_log_parser_init(&tp, (int64_t)time(NULL), naive_utc);
    int64_t now = (int64_t)time(NULL);
    if (now_s && mx_log_parse_when(&tp, now_s, now, &now) < 0) {
        mx_cli_failf("mxdiag logs", "bad --now '%s'", now_s);
        free(paths);
        free(fwd);
        free(jargv);
        free(journal_files);
        return 3;
    }
    mx_log_filter filter;
    mx_log_filter_init(&filter);
    filter.domain = domain;
    if ((since_s && mx_log_parse_when(&tp, since_s, now, &filter.since) < 0) ||
        (until_s && mx_log_parse_when(&tp, until_s, now, &filter.until) < 0)) {
        mx_cli_failf("mxdiag logs", "bad --since/--until value");
        free(paths);
        free(fwd);
        free(jargv);
        free(journal_files);
        return 3;
    }
    /* the cause catalog, compiled once for every parser thread */
    char perr[1024];
    mx_cause_matcher *patterns = mx_logs_patterns(njargv, jargv, perr, sizeof perr);
    if (!patterns) {
        mx_errf("mxdiag logs: %s", perr);
        free(paths);
        free(fwd);
        free(jargv);
        free(journal_files);
        return 3;
    }
    mx_log_set_matcher(patterns);
    char **found = NULL;
    size_t nfound = 0;
    const char *note = NULL;
    mx_log_journal *jr = NULL;
    if (journal || njf || journal_dir) {
        jr = open_journal(np, journal_files, njf, journal_dir, filter.since);
        if (!jr) {
            free(paths);
            free(fwd);
            free(jargv);
            mx_log_set_matcher(NULL);
            mx_cause_matcher_free(patterns);
            free(journal_files);
            return 3;
        }
    } else if (np == 0) {
        for (size_t i = 0; mx_log_default_paths[i]; i++) mx_log_find_rotations(mx_log_default_paths[i], &found, &nfound);
        if (nfound == 0) jr = journal_fallback(filter.since, &note);
    }
    free(journal_files);
    const char *const *use = np ? paths : (const char *const *)found;
    size_t nuse = np ? np : nfound;

    mx_log_stream *st;
    if (jr) {
        mx_log_source src;
        mx_log_journal_source(jr, &src);
        st = mx_log_stream_new_source(&src, now, naive_utc, &filter);
    } else st = mx_log_stream_new(use, nuse, now, naive_utc, &filter);
    report rep;
    memset(&rep, 0, sizeof rep);
    rep.agg = mx_log_agg_new(0);
    /* No SA_RESTART: a read blocked on a pipe returns EINTR and sees the stop.
     * The handlers stay until the report is written, so a second signal
     * cannot cut the document in half. */
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    logs_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    mx_log_stream_set_stop(st, &logs_signal);
    read_all(st, &rep, jr ? 1 : want_threads(use, nuse)); /* sd-journal stays on one thread */
    const mx_log_stats *stats = mx_log_stream_stats(st);
    const mx_log_file_stat *files;
    size_t nf = mx_log_stream_files(st, &files);

    mx_json *root = mx_json_obj();
    mx_json_set(root, "schema", mx_json_str("mxdiag.logs/1"));
    mx_json *jf = mx_json_set(root, "files", mx_json_arr());
    size_t readable = 0;
    for (size_t i = 0; i < nf; i++) {
        mx_json *o = mx_json_push(jf, mx_json_obj());
        mx_json_set(o, "path", mx_json_str(files[i].path));
        mx_json_set(o, "ok", mx_json_bool(files[i].ok));
        mx_json_set(o, "gzip", mx_json_bool(files[i].gzip));
        mx_json_set(o, "lines", mx_json_int((long long)files[i].lines));
        mx_json_set(o, "bytes", mx_json_int((long long)files[i].bytes));
        if (files[i].interrupted) mx_json_set(o, "interrupted", mx_json_bool(1));
        if (files[i].not_read) mx_json_set(o, "not_read", mx_json_bool(1));
        if (jr) mx_json_set(o, "journal", mx_json_bool(1));
        if (files[i].error[0]) {
            mx_json_set(o, "error", mx_json_str(files[i].error));
            mx_errf("mxdiag logs: %s", files[i].error);
        }
        if (files[i].ok || files[i].lines) readable++;
    }
    if (note) mx_json_set(root, "note", mx_json_str(note));
    mx_json_set(root, "lines", mx_json_int((long long)stats->lines));
    mx_json_set(root, "events", mx_json_int((long long)stats->events));
    mx_json_set(root, "ignored", mx_json_int((long long)stats->ignored));
    mx_json_set(root, "filtered", mx_json_int((long long)stats->filtered));
    mx_json *un = mx_json_set(root, "unparsed", mx_json_obj());
    mx_json_set(un, "count", mx_json_int((long long)stats->unparsed));
    mx_json *ur = mx_json_set(un, "reasons", mx_json_obj());
    for (int i = 0; i < MX_LOG_R__COUNT; i++)
        if (stats->by_reason[i] && mx_log_reason_is_garbled((mx_log_reason)i))
            mx_json_set(ur, mx_log_reason_name((mx_log_reason)i), mx_json_int((long long)stats->by_reason[i]));
    int stopped = mx_log_stream_stopped(st);
    if (stopped) mx_json_set(root, "interrupted", interrupted_json(files, nf, logs_signal, 0));
    rep.findings = mx_json_arr();
    /* the files for the rules' log.events: not the journal (no path to read) */
    judge_findings(&rep, stats, files, jr ? 0 : nf, &filter, now, njargv, jargv, root);
    /* Not one delivery event and mostly garbage (binary, one huge line, not
     * a mail log): the logs could not be checked at all. */
    int garbage = stats->events == 0 && stats->filtered == 0 && stats->unparsed * 2 > stats->lines;
    if (stats->unparsed) {
        char summary[256];
        snprintf(summary, sizeof summary, "%llu of %llu lines could not be parsed",
                 (unsigned long long)stats->unparsed, (unsigned long long)stats->lines);
        int sev = garbage ? SEV_UNKNOWN : stats->unparsed * 2 > stats->lines ? 1 : 0;
        mx_json *e = add_finding(&rep, "logs.unparsed", sev, summary,
                                 "Lines without a recognisable syslog/Exim header, with binary bytes, over 64 KiB, "
                                 "or delivery lines missing mandatory fields were skipped.",
                                 sev ? "Most lines were unreadable: is this a mail log? Pass the right file."
                                     : "Usually harmless (pasted fragments, debug output).");
        mx_json_set(e, "count", mx_json_int((long long)stats->unparsed));
        mx_json_set(e, "reasons", mx_json_clone(ur));
        mx_json *ig = mx_json_set(e, "ignored_reasons", mx_json_obj());
        for (int i = 0; i < MX_LOG_R__COUNT; i++)
            if (stats->by_reason[i] && !mx_log_reason_is_garbled((mx_log_reason)i) && i != MX_LOG_R_NONE)
                mx_json_set(ig, mx_log_reason_name((mx_log_reason)i), mx_json_int((long long)stats->by_reason[i]));
    }
    int code = rep.worst ? rep.worst : rep.unknown ? 3 : 0;
    if (readable == 0) code = 3;
    static const char *const status_names[] = {"ok", "warn", "crit", "unknown"};
    mx_json_set(root, "status", mx_json_str(status_names[code]));
    mx_json *jcode = mx_json_set(root, "exit_code", mx_json_int(code));
    mx_json_set(root, "findings", rep.findings);

    int probe_stopped = 0;
    if (probe_n && stopped) {
        mx_json_set(root, "probed_domains", mx_json_arr());
        mx_json_set(root, "probes", mx_json_arr());
        mx_json_set(mx_json_get(root, "interrupted"), "probe", mx_json_str("not started"));
    } else if (probe_n) {
        const mx_agg_group *worst[PROBE_MAX];
        size_t nw = worst_domains(rep.agg, (size_t)probe_n, worst);
        const char *names[PROBE_MAX];
        mx_json *pd = mx_json_set(root, "probed_domains", mx_json_arr());
        for (size_t i = 0; i < nw; i++) {
            names[i] = worst[i]->key;
            mx_json_push(pd, domain_log_json(worst[i]));
        }
        /* rules that read the logs (module log) read the same files */
        mx_json *opts = mx_json_obj();
        mx_json *lf = mx_json_set(opts, "log_files", mx_json_arr());
        for (size_t i = 0; i < nf && !jr; i++) mx_json_push(lf, mx_json_str(files[i].path)); /* not the journal */
        fflush(stdout);
        mx_json_set(root, "probes", nw ? mx_logs_probe(nfwd, fwd, names, nw, opts, &logs_signal) : mx_json_arr());
        /* stopped during the live checks: the log report is whole,
         * unfinished checks say so in their documents */
        probe_stopped = logs_signal != 0;
        mx_json_free(opts);
    }
    if (logs_signal) {
        /* also a signal after the reading, while reporting or probing */
        mx_json *in = mx_json_get(root, "interrupted");
        if (!in) in = mx_json_set(root, "interrupted", interrupted_json(files, nf, logs_signal, 1));
        if (probe_stopped) mx_json_set(in, "probe", mx_json_str("stopped: unfinished checks are incomplete"));
        code = 128 + logs_signal;
        jcode->u.i = code;
    }

    if (json) {
        /* the document has it; a person watching the terminal gets it too */
        if (mx_json_get(root, "interrupted")) emit_text(stderr, root, print_interrupted_err);
        mx_buf b = MX_BUF_INIT;
        mx_json_write(&b, root, 2);
        mx_buf_putc(&b, '\n');
        fwrite(b.data ? b.data : "", 1, b.len, stdout);
        mx_buf_free(&b);
    } else {
        text_style ts = {mx_text_width(), "\033[0m", "", mx_text_colour(no_color)};
        if (ts.colour) ts.bold = "\033[1m";
        mx_buf b = MX_BUF_INIT;
        render_text(&b, root, &ts);
        render_probes(&b, root, &ts);
        fwrite(b.data ? b.data : "", 1, b.len, stdout);
        mx_buf_free(&b);
    }
    fflush(stdout);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    mx_json_free(root);
    mx_log_agg_free(rep.agg);
    mx_log_stream_free(st);
    for (size_t i = 0; i < nfound; i++) free(found[i]);
    free(found);
    free(paths);
    free(fwd);
    free(jargv);
    mx_log_set_matcher(NULL);
    mx_cause_matcher_free(patterns);
    if (mx_logs_probe_abandoned()) {
        /* the report is out; exit now rather than wait for the interrupted
         * probe's runtime (and do not let a leak checker call it a leak) */
        fflush(stdout);
        fflush(stderr);
        _exit(code);
    }
    return code;
}
