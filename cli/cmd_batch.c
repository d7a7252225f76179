/* mxdiag batch: every domain of a list through one runtime, N checks in
 * flight, results written as each finishes. The list is read as checks free
 * up (constant memory); identical DNS questions are answered once per run by
 * the call gate. */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "batch_input.h"
#include "cli.h"
#include "formats.h"
#include "escape.h"
#include "net.h"
#include "outfile.h"
#include "strmap.h"
#include "tls.h"

#define DEFAULT_CONCURRENCY 256
#define MAX_WORKERS 64
#define MAX_WORKERS_S "64"
#define FLUSH_AT (64 * 1024)

static const char *batch_usage =
    "Usage: mxdiag batch [OPTIONS] FILE\n"
    "\n"
    "Diagnoses every domain of FILE, many at once, and writes one result per\n"
    "domain as it finishes. FILE is YAML (defaults: and domains:, see README),\n"
    "or a plain list with one domain per line (--plain, or a name ending in .txt\n"
    "or .list); '-' reads standard input.\n"
    "\n"
    "Options:\n"
    "  -j, --concurrency N   domains in flight at once (default 256), shared out\n"
    "                        among the workers\n"
    "  -P, --workers N       worker threads, each with its own event loop and\n"
    "                        rules (default: the number of CPUs; 1 to 64). Each\n"
    "                        address is still probed once per run and --per-host\n"
    "                        and the total cap hold across them; --record and\n"
    "                        --replay run one\n"
    "  --format F            jsonl (default): one mxdiag.check/1 object per line,\n"
    "                        with \"index\" (the entry's position in FILE);\n"
    "                        csv: index,domain,status,exit_code,duration_ms,crit,\n"
    "                        warn,unknown,codes; summary: only the end table;\n"
    "                        prometheus: a node_exporter textfile\n"
    "  -o, --output FILE     write there instead of standard output (prometheus:\n"
    "                        written to a temporary file beside FILE and\n"
    "                        renamed when complete); a symbolic link at FILE\n"
    "                        is refused\n"
    "  --resume FILE         skip domains already in FILE (an earlier jsonl or csv\n"
    "                        output); with -o FILE the same file, results are\n"
    "                        appended and a half-written last line is dropped\n"
    "  --shard K/N           only the domains whose hash falls in shard K of N\n"
    "                        (1 <= K <= N): N runs with K=1..N cover FILE once\n"
    "  --plain               FILE is one domain per line\n"
    "  --progress, --no-progress\n"
    "                        progress line on stderr (default: when it is a terminal)\n"
    "  -q, --quiet           no summary table on stderr at the end\n"
    "  -h, --help            this help\n"
    "\n"
    "Global options (before or after the command):\n"
    "  --config FILE, --no-config, --allow-env, --no-color (see mxdiag --help)\n"
    "\n"
    "Every option of `mxdiag check` applies to all domains (--timeout, --resolver,\n"
    "--source-ip, --rules-dir, --only, --skip, --allow-reserved, ...). The file's\n"
    "defaults: apply where the command line does not set the option; a domain's\n"
    "own settings override both. The configuration file (/etc/mxdiag/mxdiag.yaml,\n"
    "$MXDIAG_CONFIG or --config FILE; --no-config: none) comes under all of them.\n"
    "A list is data: it never names rule directories (rules_dir is refused; they\n"
    "come from --rules-dir, /etc/mxdiag/rules.d or the configuration file).\n"
    "\n"
    "Exit status: the worst domain status (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN;\n"
    "a bad entry counts as UNKNOWN); 3 also for usage errors and a file that stops\n"
    "being readable; 130/143 when interrupted by SIGINT/SIGTERM: no new domain\n"
    "starts, the ones in flight are dropped, what finished is written (never half a\n"
    "line), and stderr names the unfinished domains and the command that resumes\n"
    "the run; a second SIGINT exits at once.\n"
    "\n"
    "See also: mxdiag(1), mxdiag.yaml(5).\n";

enum { FMT_JSONL, FMT_CSV, FMT_SUMMARY, FMT_PROM };

typedef struct batch batch;
typedef struct worker worker;
typedef struct slot {
    worker *w;
    mx_check *chk;
    size_t index;
    int pos;                 /* in w->active */
    int64_t started;         /* mx_now_ms() */
    char *target;            /* as the list has it: named when interrupted */
    struct slot *next_done;
} slot;

/* One worker (-P N): a thread with its own runtime (event loop, DNS channel,
 * Lua state) running up to its share of the checks in flight. Workers share
 * the list, the output and the counts (batch, under b->mu), and through their
 * runtimes the once-per-run work and the connection slots (mx_rt_set_worker). */
struct worker {
    batch *b;
    int id;
    mx_check_setup setup;
    mx_rt *rt;
    mx_loop *loop;
    slot **active;
    int inflight, concurrency;
    slot *done_head, *done_tail;
    int pump_scheduled;
    mx_timer *tick;
    mx_check *runchk;        /* worker 0: the run-level check */
    mx_buf line;             /* a result's line, built before b->mu is taken */
    mx_buf bl;
    int64_t oldest_started;  /* its oldest check in flight (mx_now_ms), 0: none; set by its tick, read by worker 0's */
    pthread_t th;
};

struct batch {
    pthread_mutex_t mu;      /* the list, the output and the counts below */
    worker *workers;
    int nworkers;
    int inflight;            /* all workers' */
    mx_shstore *store;       /* -P > 1: shared.once across workers */
    mx_slots *slots;         /* every worker's connection slots */
    mx_batch_input *in;
    int format, concurrency, progress, quiet;
    unsigned shard_k, shard_n;
    mx_json *base_opts;      /* defaults: that are per-domain settings */
    mx_strmap resume;        /* targets already done */
    long long resumed, sharded_out;
    int out_fd;
    char *out_path, *tmp_path;
    mx_buf out;
    FILE *prom_status, *prom_dur;
    mx_strmap prom_seen;     /* a domain's label -> prom_dup: one series per domain */
    int input_done, input_fatal, stopping, write_failed;
    mx_batch_stats stats;
    int worst;               /* severity rank of the worst exit code */
    long total;
    mx_buf usage_note;       /* blocklist free-volume warning, repeated in the summary */
    mx_buf broken;           /* "DOMAIN: RULE failed: ..." lines of broken site rules (the first few) */
    long long nbroken;       /* checks with a broken site rule */
    int strict_rules;        /* --strict-rules */
    int64_t t0;
};

/* b->stopping is set by any worker (a write error) and read by all */
static int is_stopping(batch *b) { return __atomic_load_n(&b->stopping, __ATOMIC_RELAXED); }
static void set_stopping(batch *b) { __atomic_store_n(&b->stopping, 1, __ATOMIC_RELAXED); }

static volatile sig_atomic_t got_signal;

/* Blocklists are free only up to a documented volume (Spamhaus public
 * mirrors and free DQS: non-commercial, under 300,000 queries and 100,000
 * SMTP connections a day; Mailspike: 100,000/100,000; the figures are data in
 * lib/dnsbl_catalog.lua `usage`). The dnsbl-mx rule asks every list about
 * every MX address: at least one A and one TXT query per domain and list (the
 * sender checks of the dnsbl rule are asked once per run). A run whose lower
 * bound is already above a list's daily free volume is warned about before it
 * starts, on stderr and in the summary. */
static void usage_warning(batch *b, long domains) {
    mx_rt *rt = b->workers[0].rt;
    if (domains <= 0 || !mx_rt_rule_enabled(rt, "dnsbl-mx")) return;
    if (b->shard_n > 1) domains = (domains + (long)b->shard_n - 1) / (long)b->shard_n;
    char err[512];
    mx_json *lists = mx_rt_dnsbl_usage(rt, err, sizeof err);
    if (!lists) { fprintf(stderr, "mxdiag batch: cannot read the blocklist usage limits: %s\n", err); return; }
    long long queries = (long long)domains * 2;
    for (size_t i = 0; i < lists->u.c.len; i++) {
        const mx_json *l = lists->u.c.items[i];
        const mx_json *q = mx_json_get(l, "queries_per_day");
        if (!q || q->type != MX_JINT || queries <= q->u.i) continue;
        const char *terms = mx_json_get_str(l, "terms");
        mx_buf_printf(&b->usage_note, "  blocklist usage: %ld domains ask %s (%s) at least %lld queries (A and TXT per "
                      "MX address), above its documented free volume of %lld queries a day%s%s; split the run over "
                      "days, use a licensed feed, or --skip dnsbl-mx\n",
                      domains, mx_json_get_str(l, "name"), mx_json_get_str(l, "zone"), queries, q->u.i,
                      terms ? ": " : "", terms ? terms : "");
    }
    mx_json_free(lists);
    if (b->usage_note.len) fprintf(stderr, "mxdiag batch: warning:\n%s", mx_buf_cstr(&b->usage_note));
}
/* The first SIGINT/SIGTERM stops the run: no new domain starts, the checks
 * in flight are dropped at the next tick (250 ms), what finished is written
 * and the rest is named with the command that resumes. A second one exits at
 * once (what was written stays written: only whole lines reach the output). */
static void on_signal(int sig) {
    if (got_signal) {
        static const char msg[] = "\nmxdiag batch: interrupted again: exiting now\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(128 + sig);
    }
    got_signal = sig;
}

static void die_usage(const char *fmt, const char *arg) { mx_cli_cmd_usage_error("batch", fmt, arg); }

/* exit codes ordered by how bad: crit > warn > unknown > ok */
static int code_rank(int code) { return code == 2 ? 3 : code == 1 ? 2 : code == 3 ? 1 : 0; }
static int rank_code(int rank) { return rank == 3 ? 2 : rank == 2 ? 1 : rank == 1 ? 3 : 0; }

/* ------------------------------------------------------------ output */

static void out_flush(batch *b) {
    size_t off = 0;
    while (off < b->out.len && !b->write_failed) {
        ssize_t n = write(b->out_fd, b->out.data + off, b->out.len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            /* a closed pipe (| head) is a normal way to stop reading: quietly */
            if (errno != EPIPE) mx_errf("mxdiag batch: write error: %s", strerror(errno));
            b->write_failed = errno == EPIPE ? 2 : 1;
            set_stopping(b);
            break;
        }
        off += (size_t)n;
    }
    mx_buf_reset(&b->out);
}

/* A domain listed more than once gets one series per family: two samples
 * with the same labels make the whole textfile invalid (node_exporter drops
 * it). The worst status wins (the first of equals, in finishing order). */
typedef struct { int n, win, rank, copied[2]; } prom_dup;

/* The label part of a spooled sample line: after '{' up to the last '}'. */
static int prom_key(const char *line, size_t len, mx_buf *key) {
    const char *o = memchr(line, '{', len), *c = NULL;
    for (const char *p = line + len; p > line; p--) if (p[-1] == '}') { c = p - 1; break; }
    if (!o || !c || c < o) return -1;
    mx_buf_reset(key);
    mx_buf_put(key, o + 1, (size_t)(c - o - 1));
    return 0;
}

/* Under b->mu: one more finished check of a domain; whether it is the worst so far. */
static void prom_note(batch *b, const mx_buf *status_line, int rank) {
    mx_buf key = MX_BUF_INIT;
    if (prom_key(status_line->data ? status_line->data : "", status_line->len, &key) == 0) {
        prom_dup *d = mx_strmap_get(&b->prom_seen, mx_buf_cstr(&key));
        if (!d) { d = mx_xcalloc(1, sizeof *d); d->rank = -1; mx_strmap_put(&b->prom_seen, mx_buf_cstr(&key), d); }
        d->n++;
        if (rank > d->rank) { d->rank = rank; d->win = d->n; }
    }
    mx_buf_free(&key);
}

/* The spooled family `which` (0 status, 1 duration), one sample per domain. */
static void spool_copy(batch *b, FILE *f, int which) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    mx_buf key = MX_BUF_INIT;
    rewind(f);
    while ((n = getline(&line, &cap, f)) > 0) {
        prom_dup *d = prom_key(line, (size_t)n, &key) == 0 ? mx_strmap_get(&b->prom_seen, mx_buf_cstr(&key)) : NULL;
        if (d && ++d->copied[which] != d->win) continue;
        mx_buf_put(&b->out, line, (size_t)n);
        if (b->out.len >= FLUSH_AT) out_flush(b);
    }
    out_flush(b);
    free(line);
    mx_buf_free(&key);
}

/* The line mx_fmt_jsonl writes for the whole document (mx_check_json), with
 * the rules' status array written straight from the check, not as a tree:
 * the document without "rules", then "rules" and "index" before its '}'. */
static void jsonl_line(mx_buf *out, mx_check *chk, const mx_json *lean, size_t index) {
    mx_json_write(out, lean, -1);
    out->len--; /* its closing '}': an object with at least schema and target */
    mx_buf_puts(out, ",\"rules\":");
    mx_check_rules_write(chk, out);
    char d[32], *e = d + sizeof d, *q = e;
    *--q = '\n';
    *--q = '}';
    do { *--q = (char)('0' + index % 10); index /= 10; } while (index);
    mx_buf_puts(out, ",\"index\":");
    mx_buf_put(out, q, (size_t)(e - q));
}

/* A finished check's line is built in the worker's own buffer; the shared
 * counts and the output are touched under b->mu, so lines never interleave. */
static void write_result(worker *w, mx_check *chk, size_t index) {
    batch *b = w->b;
    /* written out at once: a view of the check's document (no tree built) */
    mx_check_view view;
    const mx_json *doc = mx_check_view_of(chk, &view); /* no "rules": jsonl_line writes them */
    int code = mx_check_exit_code(chk);
    /* a site rule that reached no verdict: named in the summary, and a
     * failure of the run with --strict-rules */
    mx_buf_reset(&w->bl);
    size_t nbroken = mx_check_broken_rules(chk, &w->bl);
    if (nbroken && b->strict_rules && code != 2) code = 3;
    mx_buf_reset(&w->line);
    mx_buf st = MX_BUF_INIT, du = MX_BUF_INIT;
    switch (b->format) {
    case FMT_JSONL: jsonl_line(&w->line, chk, doc, index); break;
    case FMT_CSV: mx_fmt_csv_row(&w->line, doc, index); break;
    case FMT_PROM: mx_fmt_prom_domain(&st, &du, doc); break;
    default: break;
    }
    pthread_mutex_lock(&b->mu);
    mx_stats_add(&b->stats, doc);
    if (nbroken && b->nbroken++ < 10) {
        const mx_json *tg = mx_json_get(doc, "target");
        const char *in = mx_json_get_str(tg, "input");
        const char *p = mx_buf_cstr(&w->bl);
        while (*p) {
            const char *nl = strchr(p, '\n');
            mx_buf_printf(&b->broken, "    %s: ", in ? in : "?");
            mx_buf_put(&b->broken, p, (size_t)(nl - p) + 1);
            p = nl + 1;
        }
    }
    if (code_rank(code) > b->worst) b->worst = code_rank(code);
    if (w->line.len) mx_buf_put(&b->out, w->line.data, w->line.len);
    if (b->format == FMT_PROM) {
        prom_note(b, &st, code_rank((int)mx_check_exit_code(chk)));
        fwrite(st.data ? st.data : "", 1, st.len, b->prom_status);
        fwrite(du.data ? du.data : "", 1, du.len, b->prom_dur);
    }
    if (b->out.len >= FLUSH_AT) out_flush(b);
    pthread_mutex_unlock(&b->mu);
    mx_buf_free(&st);
    mx_buf_free(&du);
    mx_check_view_release(&view);
}

/* ------------------------------------------------------------ progress */

/* Under b->mu (or after the workers are done); w: whose oldest check is
 * named at the end (worker 0's: the others' are theirs to read). */
static void progress_line(batch *b, worker *w, int final) {
    if (!b->progress) return;
    double el = (double)(mx_now_ms() - b->t0) / 1000.0;
    long long done = b->stats.done;
    double rate = el > 0 ? (double)done / el : 0;
    char eta[64] = "";
    long todo = b->total >= 0 ? b->total - (long)(done + b->stats.bad_entries + b->resumed + b->sharded_out) : -1;
    int inflight = __atomic_load_n(&b->inflight, __ATOMIC_RELAXED);
    long unstarted = todo >= 0 ? todo - inflight : -1;
    if (final) {
    } else if (is_stopping(b) || got_signal) {
        snprintf(eta, sizeof eta, " stopping");
    } else if ((b->input_done || unstarted == 0) && inflight > 0) {
        /* the rate says nothing about the last ones: they wait on their own
         * timeouts; say how long the oldest has been running */
        int64_t oldest = 0, now = mx_now_ms();
        (void)w;
        /* every worker's oldest, as its own tick last saw it (never its slots from here) */
        for (int i = 0; i < b->nworkers; i++) {
            int64_t st = __atomic_load_n(&b->workers[i].oldest_started, __ATOMIC_RELAXED);
            if (st > 0 && now - st > oldest) oldest = now - st;
        }
        snprintf(eta, sizeof eta, " waiting for the last %d (oldest %.0fs)", inflight, (double)oldest / 1000.0);
    } else if (todo > 0 && rate > 0) {
        /* never "0s" while work is in flight: at least a second */
        double s = (double)todo / rate;
        snprintf(eta, sizeof eta, " ETA %.0fs", s < 1 ? 1 : s);
    }
    char tot[32] = "";
    if (b->total >= 0) snprintf(tot, sizeof tot, "/%ld", b->total);
    fprintf(stderr, "\r\033[K%lld%s done, %d in flight, %.0f/s%s  ok %lld warn %lld crit %lld unknown %lld%s",
            done + b->resumed, tot, inflight, rate, eta, b->stats.by_status[0], b->stats.by_status[1],
            b->stats.by_status[2], b->stats.by_status[3], final ? "\n" : "");
    fflush(stderr);
}

static void on_tick(mx_loop *loop, void *ud) {
    worker *w = ud;
    batch *b = w->b;
    w->tick = NULL;
    if (got_signal && !is_stopping(b)) set_stopping(b);
    if (is_stopping(b)) { mx_rt_stop(w->rt); return; }
    int64_t oldest = 0;
    for (int i = 0; i < w->inflight; i++)
        if (!oldest || w->active[i]->started < oldest) oldest = w->active[i]->started;
    __atomic_store_n(&w->oldest_started, oldest, __ATOMIC_RELAXED);
    if (w->id == 0) {
        pthread_mutex_lock(&b->mu);
        progress_line(b, w, 0);
        if (b->out.len) out_flush(b); /* keep `tail -f` current */
        pthread_mutex_unlock(&b->mu);
    }
    w->tick = mx_loop_timer(loop, 250, on_tick, w);
}

/* ------------------------------------------------------------ the pump */

static void pump(worker *w);
static void pump_cb(mx_loop *loop, void *ud) {
    (void)loop;
    worker *w = ud;
    w->pump_scheduled = 0;
    pump(w);
    if (is_stopping(w->b)) mx_rt_stop(w->rt);
}

/* Completion: only queue; the check cannot be freed while the runtime is
 * still inside it (see mx_check_start_opts). */
static void on_done(mx_check *c, void *ud) {
    (void)c;
    slot *s = ud;
    worker *w = s->w;
    s->next_done = NULL;
    if (w->done_tail) w->done_tail->next_done = s;
    else w->done_head = s;
    w->done_tail = s;
    if (!w->pump_scheduled) {
        w->pump_scheduled = 1;
        mx_loop_defer(w->loop, pump_cb, w);
    }
}

/* The run-level rules' findings, once in the summary (not per domain). */
static void batch_run_summary(mx_buf *out, mx_check *run) {
    mx_json *doc = mx_check_run_json(run);
    const mx_json *fs = mx_json_get(doc, "findings");
    mx_buf_printf(out, "  run-level rules (once for the run, not per domain): %s\n", mx_json_get_str(doc, "status"));
    for (size_t i = 0; fs && i < fs->u.c.len; i++) {
        const mx_json *f = fs->u.c.items[i];
        mx_buf line = MX_BUF_INIT;
        mx_buf_printf(&line, "    %-7s %-28s %s", mx_json_get_str(f, "severity"), mx_json_get_str(f, "code"),
                      mx_json_get_str(f, "summary"));
        mx_esc_text_n(out, line.data, line.len, 0); /* a rule's text: terminal-safe */
        mx_buf_putc(out, '\n');
        mx_buf_free(&line);
    }
    mx_json_free(doc);
}

static void slot_release(worker *w, slot *s) {
    int last = --w->inflight;
    if (s->pos != last) {
        w->active[s->pos] = w->active[last];
        w->active[s->pos]->pos = s->pos;
    }
    w->active[last] = NULL;
    __atomic_sub_fetch(&w->b->inflight, 1, __ATOMIC_RELAXED);
    mx_check_free(s->chk);
    free(s->target);
    free(s);
}

static int in_shard(const batch *b, const char *target) {
    if (b->shard_n <= 1) return 1;
    char norm[512];
    size_t i = 0;
    for (; target[i] && i < sizeof norm - 1; i++) norm[i] = (char)(target[i] >= 'A' && target[i] <= 'Z' ? target[i] + 32 : target[i]);
    if (i && norm[i - 1] == '.') i--;
    norm[i] = 0;
    return mx_str_hash(norm, i) % b->shard_n == b->shard_k - 1;
}

/* Merges the file's per-domain defaults and the entry's own settings. */
static mx_json *entry_options(batch *b, const mx_json *own) {
    if (!b->base_opts && !own) return NULL;
    mx_json *o = b->base_opts ? mx_json_clone(b->base_opts) : mx_json_obj();
    for (size_t i = 0; own && i < own->u.c.len; i++) mx_json_set(o, own->u.c.keys[i], mx_json_clone(own->u.c.items[i]));
    return o;
}

/* A bad entry: named, counted, UNKNOWN for the run (under b->mu). */
static void bad_entry(batch *b) {
    b->stats.bad_entries++;
    if (code_rank(3) > b->worst) b->worst = code_rank(3);
}

/* The next entry of the list this worker is to run, read under b->mu: the
 * workers take from one list, so --shard and --resume skip exactly what they
 * skip with one worker. 1: e and t set; 0: nothing more now. */
static int next_entry(worker *w, mx_batch_entry *e, mx_target *t, mx_json **opts) {
    batch *b = w->b;
    int got = 0;
    pthread_mutex_lock(&b->mu);
    while (!b->input_done && !is_stopping(b)) {
        if (got_signal) { set_stopping(b); break; }
        char err[1024];
        int rc = mx_batch_next(b->in, e, err, sizeof err);
        if (rc == MX_BATCH_END) { b->input_done = 1; break; }
        if (rc == MX_BATCH_FATAL) {
            mx_errf("mxdiag batch: %s", err);
            fprintf(stderr, "mxdiag batch: the rest of the file is not read; the entries before it still run\n");
            b->input_done = b->input_fatal = 1;
            break;
        }
        if (rc == MX_BATCH_BAD) {
            /* every shard reads the whole file: report a bad entry in the shard its text hashes to */
            if (e->index == (size_t)-1 || in_shard(b, e->target[0] ? e->target : err)) {
                mx_errf("mxdiag batch: %s (entry skipped)", err);
                bad_entry(b);
            }
            continue;
        }
        if (!in_shard(b, e->target)) { b->sharded_out++; mx_batch_entry_clear(e); continue; }
        if (b->resume.len && mx_strmap_has(&b->resume, e->target)) { b->resumed++; mx_batch_entry_clear(e); continue; }
        *t = *mx_batch_target(b->in); /* parsed when it was validated: not parsed again */
        *opts = entry_options(b, e->options);
        if ((mx_json_get(*opts, "only") || mx_json_get(*opts, "skip")) && mx_rt_check_selects(w->rt, *opts) == 0) {
            mx_errf("mxdiag batch: %s:%ld:%ld: %s: 'only'/'skip' leave no rule to run (entry skipped)",
                    mx_batch_path(b->in), e->line, e->column, e->target);
            bad_entry(b);
            mx_json_free(*opts);
            mx_batch_entry_clear(e);
            continue;
        }
        char oerr[1024];
        if (mx_rt_rule_options_check(w->rt, mx_json_get(*opts, "rule_options"), oerr, sizeof oerr) != 0) {
            mx_errf("mxdiag batch: %s:%ld:%ld: %s: %s (entry skipped)", mx_batch_path(b->in), e->line, e->column, e->target, oerr);
            bad_entry(b);
            mx_json_free(*opts);
            mx_batch_entry_clear(e);
            continue;
        }
        __atomic_add_fetch(&b->inflight, 1, __ATOMIC_RELAXED);
        got = 1;
        break;
    }
    pthread_mutex_unlock(&b->mu);
    return got;
}

static void refill(worker *w) {
    while (w->inflight < w->concurrency) {
        mx_batch_entry e;
        mx_target t;
        mx_json *opts = NULL;
        if (!next_entry(w, &e, &t, &opts)) break;
        slot *s = mx_xcalloc(1, sizeof *s);
        s->w = w;
        s->index = e.index;
        s->started = mx_now_ms();
        s->target = mx_xstrdup(e.target);
        s->pos = w->inflight++;
        w->active[s->pos] = s;
        s->chk = mx_check_start_opts(w->rt, &t, opts, on_done, s);
        mx_json_free(opts);
        mx_batch_entry_clear(&e);
    }
}

static void drain(worker *w) {
    while (w->done_head) {
        slot *s = w->done_head;
        w->done_head = s->next_done;
        if (!w->done_head) w->done_tail = NULL;
        if (!__atomic_load_n(&w->b->write_failed, __ATOMIC_RELAXED)) write_result(w, s->chk, s->index);
        slot_release(w, s);
    }
}

static void pump(worker *w) {
    do {
        drain(w);
        refill(w);
    } while (w->done_head && !is_stopping(w->b));
    drain(w);
}

/* ------------------------------------------------------------ resume */

/* The domain field of a CSV row as mx_esc_csv wrote it: maybe quoted, maybe
 * with the "'" that neutralises a formula; "" when it does not fit. */
static void csv_domain(const char *line, char *out, size_t outlen) {
    out[0] = 0;
    const char *p = strchr(line, ',');
    if (!p) return;
    p++;
    mx_buf f = MX_BUF_INIT;
    if (*p == '"') {
        for (p++; *p; p++) {
            if (*p == '"' && p[1] == '"') { mx_buf_putc(&f, '"'); p++; }
            else if (*p == '"') break;
            else mx_buf_putc(&f, *p);
        }
        if (*p != '"') { mx_buf_free(&f); return; }
    } else {
        const char *e = strchr(p, ',');
        if (!e) { mx_buf_free(&f); return; }
        mx_buf_put(&f, p, (size_t)(e - p));
    }
    const char *v = mx_buf_cstr(&f);
    if (*v == '\'') v++;
    if (strlen(v) < outlen) snprintf(out, outlen, "%s", v);
    mx_buf_free(&f);
}

/* A resume file is an earlier output: one line per domain, each far below
 * this. Past it the file is not one of ours (/dev/zero, a sparse file): an
 * error, not an ever-growing line. */
#define RESUME_MAX_LINE (16u << 20)

/* Next line of f into *b ('\n' included when present); its length, 0 at
 * the end, -1 past RESUME_MAX_LINE. */
static ssize_t resume_line(FILE *f, mx_buf *b) {
    mx_buf_reset(b);
    int c;
    while ((c = getc_unlocked(f)) != EOF) {
        if (b->len >= RESUME_MAX_LINE) return -1;
        mx_buf_putc(b, (char)c);
        if (c == '\n') break;
    }
    return (ssize_t)b->len;
}

/* Reads the targets of an earlier output (jsonl or csv). When trunc, cuts a
 * half-written last line so that appending continues on a line boundary. */
static int load_resume(batch *b, const char *path, int trunc) {
    /* written (truncated) only when it is also the output: then never through a link */
    int fd = open(path, trunc ? O_RDWR | O_NOFOLLOW | O_CLOEXEC : O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) return 0; /* nothing done yet */
    if (fd < 0 && errno == ELOOP && trunc) {
        mx_errf("mxdiag batch: --resume: refusing to write %s: it is a symbolic link (remove it or write elsewhere)", path);
        return -1;
    }
    FILE *f = fd < 0 ? NULL : fdopen(fd, trunc ? "r+" : "r");
    if (!f) {
        mx_errf("mxdiag batch: --resume: cannot open %s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        /* an endless device or pipe is no earlier output */
        mx_errf("mxdiag batch: --resume: %s is not a regular file (give the jsonl or csv output of an earlier run)", path);
        fclose(f);
        return -1;
    }
    mx_buf lb = MX_BUF_INIT;
    ssize_t n;
    off_t good = 0;
    long lineno = 0;
    while ((n = resume_line(f, &lb)) > 0) {
        char *line = lb.data;
        lineno++;
        if (line[n - 1] != '\n') break; /* interrupted mid-line: not done */
        good += n;
        char target[600] = "";
        if (line[0] == '{') {
            mx_json *doc = mx_json_parse(line, (size_t)n, NULL, 0);
            const char *in = doc ? mx_json_get_str(mx_json_get(doc, "target"), "input") : NULL;
            if (in) snprintf(target, sizeof target, "%s", in);
            mx_json_free(doc);
        } else if (line[0] >= '0' && line[0] <= '9') {
            /* csv: index,domain,... (see csv_domain) */
            csv_domain(line, target, sizeof target);
        }
        if (target[0]) mx_strmap_put(&b->resume, target, NULL);
    }
    if (n < 0) {
        mx_errf("mxdiag batch: --resume: line %ld of %s is longer than %u MiB: not the output of an earlier run",
                lineno + 1, path, RESUME_MAX_LINE >> 20);
        mx_buf_free(&lb);
        fclose(f);
        return -1;
    }
    mx_buf_free(&lb);
    if (trunc && ftruncate(fileno(f), good) != 0) {
        mx_errf("mxdiag batch: --resume: cannot truncate %s: %s", path, strerror(errno));
        fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}

/* ------------------------------------------------------------ interrupted */

/* a word as a POSIX shell reads it back */
static void shell_word(mx_buf *o, const char *w) {
    int plain = *w != 0;
    for (const char *p = w; *p && plain; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("_./:=@%+,-", *p);
    if (plain) { mx_buf_puts(o, w); return; }
    mx_buf_putc(o, '\'');
    for (const char *p = w; *p; p++) {
        if (*p == '\'') mx_buf_puts(o, "'\\''");
        else mx_buf_putc(o, *p);
    }
    mx_buf_putc(o, '\'');
}

/* The command line that continues an interrupted run: the one typed (global
 * options included), its --resume replaced by the file the results went to,
 * given right after "batch"; stdout_file adds "-o FILE" for results that
 * went to a redirected standard output. */
static void resume_command(mx_buf *o, const char *path, int stdout_file) {
    int argc = mx_cli_orig_argc;
    char **argv = mx_cli_orig_argv;
    mx_buf_puts(o, "mxdiag");
    int seen_batch = 0, after_dashes = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!after_dashes && seen_batch) {
            if (!strcmp(a, "--")) after_dashes = 1;
            else if (!strcmp(a, "--resume") || (stdout_file && (!strcmp(a, "-o") || !strcmp(a, "--output")))) { i++; continue; }
            else if (!strncmp(a, "--resume=", 9) || (stdout_file && !strncmp(a, "--output=", 9))) continue;
        }
        mx_buf_putc(o, ' ');
        shell_word(o, a);
        if (!seen_batch && !strcmp(a, "batch")) {
            seen_batch = 1;
            if (stdout_file) { mx_buf_puts(o, " -o "); shell_word(o, path); }
            mx_buf_puts(o, " --resume ");
            shell_word(o, path);
        }
    }
}

/* What an interrupted run did not finish, and how to continue it (stderr):
 * the domains in flight (dropped), how many were not started, the command. */
static void interrupted_note(batch *b, mx_buf *o, const char *file, int plain, const char *out_path) {
    enum { SHOW = 20 };
    mx_buf_printf(o, "mxdiag batch: interrupted: %lld domain%s finished and written", b->stats.done,
                  b->stats.done == 1 ? "" : "s");
    if (b->inflight) mx_buf_printf(o, "; %d in flight %s dropped:", b->inflight, b->inflight == 1 ? "was" : "were");
    mx_buf_putc(o, '\n');
    int shown = 0;
    for (int k = 0; k < b->nworkers; k++) {
        worker *w = &b->workers[k];
        for (int i = 0; i < w->inflight && shown < SHOW; i++, shown++) {
            mx_buf_puts(o, "    ");
            mx_esc_text(o, w->active[i]->target, 0);
            mx_buf_putc(o, '\n');
        }
    }
    if (b->inflight > SHOW) mx_buf_printf(o, "    ... and %d more\n", b->inflight - SHOW);
    long total = b->total >= 0 ? b->total : strcmp(file, "-") ? mx_batch_count(file, plain) : -1;
    if (!b->input_done) {
        long rest = total - (long)(b->stats.done + b->stats.bad_entries + b->resumed + b->sharded_out) - b->inflight;
        if (total >= 0 && b->shard_n <= 1 && rest > 0)
            mx_buf_printf(o, "  not started: %ld more entr%s of the list\n", rest, rest == 1 ? "y" : "ies");
        else
            mx_buf_puts(o, "  not started: the rest of the list\n");
    }
    if (b->format == FMT_SUMMARY || b->format == FMT_PROM) {
        mx_buf_printf(o, "  --format %s keeps no per-domain lines to resume from: run it again (or use jsonl or csv "
                         "with -o FILE, then --resume FILE)\n", b->format == FMT_SUMMARY ? "summary" : "prometheus");
        return;
    }
    char *path = NULL;
    int stdout_file = 0;
    struct stat st;
    if (out_path) path = mx_xstrdup(out_path);
    else if (fstat(1, &st) == 0 && S_ISREG(st.st_mode)) {
        /* standard output redirected to a file: name it */
        char link[4096];
        ssize_t n = readlink("/proc/self/fd/1", link, sizeof link - 1);
        if (n > 0 && link[0] == '/') { link[n] = 0; path = mx_xstrdup(link); stdout_file = 1; }
    }
    if (!path) {
        mx_buf_puts(o, "  the results went to standard output, not to a file: to be able to resume, write them with "
                       "-o FILE, then run the same command with --resume FILE\n");
        return;
    }
    mx_buf_puts(o, "  to finish, run:\n    ");
    mx_buf cmd = MX_BUF_INIT;
    resume_command(&cmd, path, stdout_file);
    mx_esc_text(o, mx_buf_cstr(&cmd), 0);
    mx_buf_putc(o, '\n');
    mx_buf_free(&cmd);
    free(path);
}

/* ------------------------------------------------------------ a worker */

/* Runs this worker's share of the list on its own runtime until the list is
 * done (or the run stops): the checks it finished are written, the ones it
 * has in flight when stopped stay in w->active for the interrupted note. */
static void *worker_main(void *arg) {
    worker *w = arg;
    batch *b = w->b;
    w->tick = mx_loop_timer(w->loop, 250, on_tick, w);
    /* scope = "run" rules (e.g. our senders' reputation): once, beside the domains */
    if (w->id == 0) w->runchk = mx_check_start_run(w->rt, NULL, NULL);
    pump(w);
    while (w->inflight > 0 && !is_stopping(b)) {
        mx_rt_run(w->rt);
        if (got_signal) set_stopping(b);
        pump(w);
    }
    /* worker 0 keeps the progress line and the signal check going (its tick)
     * until every worker is done: the last checks may all be another's */
    while (w->id == 0 && !is_stopping(b) && !got_signal && __atomic_load_n(&b->inflight, __ATOMIC_RELAXED) > 0)
        mx_loop_run_once(w->loop, 250);
    if (got_signal) set_stopping(b);
    if (w->runchk && !is_stopping(b) && !got_signal) mx_rt_run(w->rt); /* until the run-level check is done */
    /* stopped early: what finished is written, what runs is dropped */
    drain(w);
    if (b->nworkers > 1) mx_tls_thread_done(); /* a thread of its own, ending */
    return NULL;
}

/* ------------------------------------------------------------ main */

/* The workers' runtimes (each closes its sockets: before the slots), their
 * buffers, and the state they share; workers never set up are all zero. */
static void free_workers(batch *b) {
    for (int i = 0; i < b->nworkers; i++) {
        worker *w = &b->workers[i];
        if (w->setup.dirs) mx_check_setup_free(&w->setup);
        mx_buf_free(&w->line);
        mx_buf_free(&w->bl);
        free(w->active);
    }
    free(b->workers);
    b->workers = NULL;
    mx_slots_free(b->slots);
    mx_shstore_free(b->store);
    b->slots = NULL;
    b->store = NULL;
    pthread_mutex_destroy(&b->mu);
}

int mx_batch_main(int argc, char **argv) {
    batch B;
    batch *b = &B;
    memset(b, 0, sizeof *b);
    b->concurrency = DEFAULT_CONCURRENCY;
    b->format = FMT_JSONL;
    b->progress = -1;
    b->out_fd = 1;
    b->total = -1;
    const char *out_path = NULL, *resume_path = NULL, *file = NULL;
    int plain = 0;
    /* -P: every core by default */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int nworkers = ncpu < 1 ? 1 : ncpu > MAX_WORKERS ? MAX_WORKERS : (int)ncpu, workers_given = 0;
    mx_argv rest = {0};
    mx_argv_push(&rest, "batch");
    /* batch options out; everything else is check's */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
#define OPTVAL(name) ((!strcmp(a, name) && i + 1 < argc && (val = argv[++i])) || \
                      (!strncmp(a, name "=", strlen(name "=")) && (val = a + strlen(name "="))))
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(batch_usage, stdout); exit(0); }
        else if (OPTVAL("-j") || OPTVAL("--concurrency")) {
            char *end;
            long n = strtol(val, &end, 10);
            if (*end || n < 1 || n > 100000) die_usage("--concurrency must be from 1 to 100000, not '%s'", val);
            b->concurrency = (int)n;
        } else if (!strncmp(a, "-j", 2) && a[2] >= '0' && a[2] <= '9') {
            long n = strtol(a + 2, NULL, 10);
            if (n < 1 || n > 100000) die_usage("--concurrency must be from 1 to 100000, not '%s'", a + 2);
            b->concurrency = (int)n;
        } else if (OPTVAL("-P") || OPTVAL("--workers")) {
            char *end;
            long n = strtol(val, &end, 10);
            if (*end || n < 1 || n > MAX_WORKERS) die_usage("--workers must be from 1 to " MAX_WORKERS_S ", not '%s'", val);
            nworkers = (int)n;
            workers_given = 1;
        } else if (!strncmp(a, "-P", 2) && a[2] >= '0' && a[2] <= '9') {
            char *end;
            long n = strtol(a + 2, &end, 10);
            if (*end || n < 1 || n > MAX_WORKERS) die_usage("--workers must be from 1 to " MAX_WORKERS_S ", not '%s'", a + 2);
            nworkers = (int)n;
            workers_given = 1;
        } else if (OPTVAL("--format")) {
            if (!strcmp(val, "jsonl") || !strcmp(val, "json")) b->format = FMT_JSONL;
            else if (!strcmp(val, "csv")) b->format = FMT_CSV;
            else if (!strcmp(val, "summary")) b->format = FMT_SUMMARY;
            else if (!strcmp(val, "prometheus")) b->format = FMT_PROM;
            else die_usage("--format must be jsonl, csv, summary or prometheus, not '%s'", val);
        } else if (OPTVAL("-o") || OPTVAL("--output")) out_path = val;
        else if (OPTVAL("--resume")) resume_path = val;
        else if (OPTVAL("--shard")) {
            unsigned k, n;
            char extra;
            if (sscanf(val, "%u/%u%c", &k, &n, &extra) != 2 || n < 1 || k < 1 || k > n)
                die_usage("--shard must be K/N with 1 <= K <= N, not '%s'", val);
            b->shard_k = k;
            b->shard_n = n;
        } else if (!strcmp(a, "--plain")) plain = 1;
        else if (!strcmp(a, "--progress")) b->progress = 1;
        else if (!strcmp(a, "--no-progress")) b->progress = 0;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) b->quiet = 1;
        else if (!strcmp(a, "--json")) b->format = FMT_JSONL;
        else {
            if (a[0] == '-' && a[1] && !mx_check_opt_find(a)) {
                /* before the list is opened: a typo is named first */
                static const char *const own[] = {"concurrency", "workers", "output", "resume", "shard", "plain", "progress",
                                                  "no-progress", "quiet", NULL};
                const char *near = a[1] == '-' ? mx_cli_suggest_option(a, own) : NULL;
                if (near) {
                    char m[160];
                    snprintf(m, sizeof m, "unknown option '%%s' (did you mean --%s?)", near);
                    die_usage(m, a);
                }
                die_usage("unknown option '%s'", a);
            }
            if (a[0] != '-' || !strcmp(a, "-")) file = a;
            mx_argv_push(&rest, a);
            if (!strchr(a, '=') && mx_check_opt_takes_value(a) && i + 1 < argc) mx_argv_push(&rest, argv[++i]);
        }
#undef OPTVAL
        if (val && !*val) die_usage("option %s needs a value", a);
    }
    if (!file) die_usage("%s", "batch needs a FILE (YAML, or one domain per line; '-' for standard input)");
    if (b->progress < 0) b->progress = isatty(2);

    char err[1024];
    b->in = mx_batch_open(file, plain, err, sizeof err);
    if (!b->in) {
        mx_errf("mxdiag batch: %s", err);
        mx_argv_release(&rest);
        return EXIT_USAGE;
    }
    mx_json *defaults = NULL;
    if (mx_batch_begin(b->in, &defaults, err, sizeof err) != MX_BATCH_ENTRY) {
        mx_errf("mxdiag batch: %s", err);
        mx_batch_close(b->in);
        mx_argv_release(&rest);
        return EXIT_USAGE;
    }
    /* the configuration file's settings, under the list's own defaults: */
    for (size_t i = 0; mx_config_settings && i < mx_config_settings->u.c.len; i++) {
        if (!defaults) defaults = mx_json_obj();
        if (!mx_json_get(defaults, mx_config_settings->u.c.keys[i]))
            mx_json_set(defaults, mx_config_settings->u.c.keys[i], mx_json_clone(mx_config_settings->u.c.items[i]));
    }
    /* [batch, defaults as options..., command-line check options and FILE]:
     * check's parser validates them; the command line wins */
    mx_argv full = {0};
    mx_argv_push(&full, "batch");
    mx_settings_to_args(defaults, (int)rest.n, rest.v, &full, &b->base_opts);
    for (int i = 1; i < rest.n; i++) mx_argv_push(&full, rest.v[i]);
    mx_json_free(defaults);

    mx_check_setup setup;
    mx_check_setup_new(full.n, full.v, &setup);
    if (setup.nrest != 1) die_usage("batch takes exactly one FILE%s", setup.nrest > 1 ? " (got more)" : "");
    b->strict_rules = setup.cli->strict_rules;
    if (nworkers > 1 && (setup.cli->record || setup.cli->replay)) {
        /* a recording is one runtime's calls in order: one worker */
        if (workers_given) fprintf(stderr, "mxdiag batch: --record and --replay run one worker (-P 1)\n");
        nworkers = 1;
    }
    if (nworkers > b->concurrency) nworkers = b->concurrency;
    pthread_mutex_init(&b->mu, NULL);
    b->nworkers = nworkers;
    b->workers = mx_xcalloc((size_t)nworkers, sizeof *b->workers);
    {
        /* the slots of the whole process: --per-host and the total cap hold
         * whichever worker connects, and connections are counted per address */
        struct rlimit rl;
        long long nofile = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (long long)rl.rlim_cur : 1LL << 40;
        b->slots = mx_slots_new(setup.cli->per_host > 0 ? setup.cli->per_host : 2,
                                mx_net_connection_cap(nofile, setup.cli->max_connections));
        if (nworkers > 1) b->store = mx_shstore_new();
    }
    int rc_setup = 0;
    for (int i = 0; i < nworkers && !rc_setup; i++) {
        worker *w = &b->workers[i];
        w->b = b;
        w->id = i;
        if (i == 0) w->setup = setup;
        else mx_check_setup_new(full.n, full.v, &w->setup);
        w->rt = w->setup.rt;
        w->loop = mx_rt_loop(w->rt);
        /* the -j checks in flight, shared out */
        w->concurrency = b->concurrency / nworkers + (i < b->concurrency % nworkers ? 1 : 0);
        w->active = mx_xcalloc((size_t)w->concurrency, sizeof *w->active);
        char werr[256];
        if (mx_rt_set_worker(w->rt, b->store, b->slots, i, werr, sizeof werr) != 0) {
            mx_errf("mxdiag batch: %s", werr);
            rc_setup = EXIT_USAGE;
        }
    }

    if (!rc_setup && resume_path) {
        int same = out_path && !strcmp(resume_path, out_path);
        if (load_resume(b, resume_path, same) != 0) rc_setup = EXIT_USAGE;
    }
    int appending = 0;
    if (!rc_setup && out_path) {
        char oerr[4400];
        /* never through a planted link (outfile.h) */
        if (b->format == FMT_PROM) {
            b->out_fd = mx_file_open_tmp(out_path, &b->tmp_path, oerr, sizeof oerr);
        } else if (resume_path && !strcmp(resume_path, out_path)) {
            b->out_fd = mx_file_open_out(out_path, 1, oerr, sizeof oerr);
            struct stat st;
            appending = b->out_fd >= 0 && fstat(b->out_fd, &st) == 0 && st.st_size > 0;
        } else {
            b->out_fd = mx_file_open_out(out_path, 0, oerr, sizeof oerr);
        }
        if (b->out_fd < 0) {
            mx_errf("mxdiag batch: %s", oerr);
            rc_setup = EXIT_USAGE;
        }
    }
    if (rc_setup) {
        mx_batch_close(b->in);
        free_workers(b);
        mx_json_free(b->base_opts);
        mx_strmap_free(&b->resume, NULL);
        mx_argv_release(&rest);
        for (int i = 0; i < full.n; i++) free(full.v[i]);
        free(full.v);
        return rc_setup;
    }
    if (b->format == FMT_PROM) {
        b->prom_status = tmpfile();
        b->prom_dur = tmpfile();
        if (!b->prom_status || !b->prom_dur) { fprintf(stderr, "mxdiag batch: cannot create a temporary file\n"); return EXIT_USAGE; }
    }
    if (b->format == FMT_CSV && !appending) mx_fmt_csv_header(&b->out);
    if (b->progress) b->total = mx_batch_count(file, plain);
    usage_warning(b, b->progress ? b->total : mx_batch_count(file, plain));

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    b->t0 = mx_now_ms();
    if (nworkers == 1) {
        worker_main(&b->workers[0]);
    } else {
        for (int i = 0; i < nworkers; i++)
            if (pthread_create(&b->workers[i].th, NULL, worker_main, &b->workers[i]) != 0) {
                mx_errf("mxdiag batch: cannot start worker %d: %s", i + 1, strerror(errno));
                _exit(EXIT_USAGE);
            }
        for (int i = 0; i < nworkers; i++) pthread_join(b->workers[i].th, NULL);
    }
    mx_check *runchk = b->workers[0].runchk;
    mx_buf unfinished = MX_BUF_INIT;
    if (got_signal) interrupted_note(b, &unfinished, file, plain, out_path);
    for (int i = 0; i < nworkers; i++) {
        worker *w = &b->workers[i];
        while (w->inflight > 0) slot_release(w, w->active[w->inflight - 1]);
        if (w->tick) mx_timer_cancel(w->loop, w->tick);
    }
    double elapsed = (double)(mx_now_ms() - b->t0) / 1000.0;
    progress_line(b, NULL, 1);

    if (b->format == FMT_PROM && !b->write_failed) {
        mx_fmt_prom_head(&b->out, "status");
        out_flush(b);
        spool_copy(b, b->prom_status, 0);
        mx_fmt_prom_head(&b->out, "duration");
        out_flush(b);
        spool_copy(b, b->prom_dur, 1);
        mx_fmt_prom_totals(&b->out, &b->stats, elapsed, (double)time(NULL));
    }
    mx_buf summary = MX_BUF_INIT;
    mx_fmt_summary(&summary, &b->stats, elapsed, got_signal != 0, b->format != FMT_SUMMARY);
    if (b->usage_note.len) mx_buf_put(&summary, b->usage_note.data, b->usage_note.len);
    if (b->nbroken) {
        mx_buf_printf(&summary, "  site rules that reached no verdict: in %lld check%s%s\n", b->nbroken, b->nbroken == 1 ? "" : "s",
                      b->strict_rules ? " (--strict-rules: the run fails)" : "");
        mx_esc_text_n(&summary, b->broken.data ? b->broken.data : "", b->broken.len, MX_ESC_NL);
        if (b->nbroken > 10) mx_buf_printf(&summary, "    (and %lld more checks)\n", b->nbroken - 10);
    }
    if (b->resumed)
        mx_buf_printf(&summary, "  resumed: %lld domain%s already done %s skipped\n", b->resumed, b->resumed == 1 ? "" : "s",
                      b->resumed == 1 ? "was" : "were");
    mx_slots_stats cs;
    mx_slots_get_stats(b->slots, &cs);
    if (cs.connects) {
        mx_buf_printf(&summary, "  connections: %lld made, at most %d open at once (limit %d, --max-connections); %lld waited for a slot\n",
                      cs.connects, cs.peak, cs.total_limit, cs.waited);
        mx_buf_printf(&summary, "  connections per address: %lld addresses, at most %lld connections to one in the run, "
                      "at most %d at once to one (limit %d, --per-host)\n",
                      cs.addresses, cs.max_connects_per_address, cs.peak_per_host, cs.per_host);
    }
    if (b->store) {
        mx_shstore_stats ss;
        mx_shstore_get_stats(b->store, &ss);
        mx_buf_printf(&summary, "  workers: %d; work shared once per run: %lld results worked out, %lld read by "
                      "another worker, %lld waited for\n", nworkers, ss.runs, ss.hits, ss.waits);
    }
    if (runchk && !is_stopping(b) && !got_signal) {
        batch_run_summary(&summary, runchk);
        int rc = mx_check_exit_code(runchk);
        if (code_rank(rc) > b->worst) b->worst = code_rank(rc);
    }
    mx_check_free(runchk);
    if (b->format == FMT_SUMMARY) mx_buf_put(&b->out, summary.data, summary.len);
    out_flush(b);
    if (b->format != FMT_SUMMARY && !b->quiet && b->write_failed != 2) fwrite(summary.data ? summary.data : "", 1, summary.len, stderr);
    mx_buf_free(&summary);
    /* even with -q: what is missing, and the command that completes it */
    if (b->write_failed != 2) fwrite(unfinished.data ? unfinished.data : "", 1, unfinished.len, stderr);
    mx_buf_free(&unfinished);

    int code = rank_code(b->worst);
    if (b->input_fatal) code = EXIT_USAGE;
    if (b->write_failed == 1) code = EXIT_USAGE;
    if (got_signal) code = 128 + got_signal;
    if (b->out_fd != 1) {
        if (fsync(b->out_fd) != 0 && errno != EINVAL) { /* best effort */ }
        if (close(b->out_fd) != 0) { mx_errf("mxdiag batch: cannot write %s", out_path); code = EXIT_USAGE; }
        else if (b->tmp_path && !b->write_failed) {
            char cerr[4400];
            if (mx_file_commit(b->tmp_path, out_path, cerr, sizeof cerr) != 0) { mx_errf("mxdiag batch: %s", cerr); code = EXIT_USAGE; }
        }
        if (b->tmp_path && (b->write_failed || code == EXIT_USAGE)) mx_file_discard(b->tmp_path);
    }
    if (b->prom_status) fclose(b->prom_status);
    if (b->prom_dur) fclose(b->prom_dur);
    mx_strmap_free(&b->prom_seen, free);
    char ferr[512];
    if (mx_rt_finish(b->workers[0].rt, ferr, sizeof ferr) != 0) { mx_errf("mxdiag batch: %s", ferr); code = EXIT_USAGE; }
    if (got_signal) {
        /* everything is written; freeing the runtime would wait for the
         * dropped checks' DNS queries and connections (up to --timeout) */
        fflush(stdout);
        fflush(stderr);
        _exit(code);
    }
    mx_batch_close(b->in);
    free_workers(b);
    mx_json_free(b->base_opts);
    mx_strmap_free(&b->resume, NULL);
    mx_stats_free(&b->stats);
    mx_buf_free(&b->out);
    mx_buf_free(&b->usage_note);
    mx_buf_free(&b->broken);
    free(b->tmp_path);
    mx_argv_release(&rest);
    for (int i = 0; i < full.n; i++) free(full.v[i]);
    free(full.v);
    return code;
}
