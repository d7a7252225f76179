/* The core of `mxdiag watch`, shared with `mxdiag serve --watch`.
 *
 * The files are followed by engine/logfollow.c (rename and copytruncate
 * rotations).  The delivery events of the sliding window (--window) are kept
 * as their lines (bounded: --max-lines, oldest dropped); when new events came
 * (at most once a second) or every --interval, the window is aggregated again
 * (engine/logagg.c, logfacts.c) and judged by the logs rules (logs_judge.c,
 * with target.options.watch: rules/95-logs-scope.lua then lists every
 * destination's state).  This file compares that verdict with the previous
 * one and emits the differences: destination_failing, destination_recovered,
 * intermittent, cutover, cutover_recovered; and it counts what it read for
 * serve's /metrics (mx_watch_counts).
 *
 * A destination that starts failing is checked live (watch only): a child
 * `mxdiag check --format json DOMAIN` with the check options given to watch,
 * killed after --check-timeout; at most --max-checks a minute and each
 * destination once per --check-interval.  Its event waits for the check
 * (later events of the same destination wait behind it; others do not). */
#include "addr.h"        /* mx_domain_valid */
#include "batch_input.h" /* mx_config_read */
#include "buf.h"
#include "cli.h"
#include "escape.h" /* mx_errf */
#include "json.h"
#include "logagg.h"
#include "logfacts.h"
#include "logfollow.h"
#include "logparse.h"
#include "logread.h"
#include "logs_report.h"
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "watch_core.h"

#define WATCH_MAX_DESTS 4096
#define WATCH_MAX_RUNNING 4          /* live checks at once */
#define WATCH_CHECK_OUT_MAX (8u << 20) /* bytes of a check's JSON read */
#define WATCH_QUEUE_MAX 1024         /* events waiting for their check */
#define WATCH_SAMPLE_LEN 300

/* "30m", "10s", "2h", "1d", "45" (seconds) -> seconds; -1 if unreadable */
static long parse_dur(const char *s) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || v < 0) return -1;
    long mul = 1;
    if (!strcmp(end, "") || !strcmp(end, "s")) mul = 1;
    else if (!strcmp(end, "m")) mul = 60;
    else if (!strcmp(end, "h")) mul = 3600;
    else if (!strcmp(end, "d")) mul = 86400;
    else return -1;
    if (v > 100L * 86400 / mul) return -1;
    return v * mul;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void iso(char *b, size_t n, int64_t t) {
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(b, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- the window: delivery lines with their time -------------------------- */

typedef struct wline {
    int64_t t;    /* the line's time, else when it was read */
    char *s;
    size_t n;
} wline;

struct mx_watch {
    const char *cmd; /* "mxdiag watch", in messages */
    int live;        /* watch itself: events to stdout by default, live checks, --exec, --syslog */
    int output_closed;
    const char *from_s;
    mx_watch_counts counts;
    mx_json *scope;  /* the last logs.scope finding */
    int64_t last_judge_ms;
    int judged;
    /* options */
    long window, interval, exec_timeout, check_interval, check_timeout;
    long max_checks, max_lines;
    int no_check, use_syslog, naive_utc;
    int64_t from;
    const char *output, *exec_cmd;
    int jargc;
    char **jargv;      /* the logs rules' options */
    int nfwd;
    char **fwd;        /* check options for the live checks */
    /* files */
    mx_follow *fl;
    size_t nfl;
    mx_log_parser parser;
    /* the window, a ring */
    wline *ring;
    size_t head, count;
    uint64_t new_events;
    /* output */
    int out_fd;
    /* state per destination */
    struct dest {
        char *domain;
        int failing, announced;
        int64_t last_check; /* wall time of its last live check, 0 none */
    } *dests;
    size_t ndests;
    char judgement[32];
    int have_verdict;
    /* live checks */
    int64_t check_starts[64]; /* wall ms of the checks started in the last minute */
    size_t ncheck_starts;
    struct running {
        pid_t pid;
        int fd;
        mx_buf out;
        int64_t deadline_ms;
        struct qevent *ev;
    } run[WATCH_MAX_RUNNING];
    /* events in order; one waits while its check runs */
    struct qevent {
        mx_json *doc;
        char *destination;
        int waiting; /* its check runs */
    } *queue[WATCH_QUEUE_MAX];
    size_t nqueue;
    char self[4096];
};
typedef struct mx_watch watch;

static void ring_push(watch *w, int64_t t, const char *s, size_t n) {
    if (w->count == (size_t)w->max_lines) { /* full: the oldest goes */
        free(w->ring[w->head].s);
        w->head = (w->head + 1) % (size_t)w->max_lines;
        w->count--;
    }
    wline *l = &w->ring[(w->head + w->count) % (size_t)w->max_lines];
    l->t = t;
    l->s = mx_xmalloc(n + 1);
    memcpy(l->s, s, n);
    l->s[n] = 0;
    l->n = n;
    w->count++;
}

static void ring_evict(watch *w, int64_t before) {
    while (w->count && w->ring[w->head].t < before) {
        free(w->ring[w->head].s);
        w->head = (w->head + 1) % (size_t)w->max_lines;
        w->count--;
    }
}

/* A line read: delivery events are kept, the rest only counted. */
static void on_line(void *ud, const char *line, size_t len, int flags) {
    watch *w = ud;
    w->counts.lines_read++;
    if (flags & MX_FOLLOW_LINE_CUT) {
        w->counts.unparsed++;
        return;
    }
    mx_log_event ev;
    mx_log_result r = mx_log_parse_line(&w->parser, line, len, &ev);
    if (r == MX_LOG_UNPARSED) {
        w->counts.unparsed++;
    }
    if (r != MX_LOG_EVENT) return;
    if (w->from != INT64_MIN && ev.time != MX_LOG_TIME_UNKNOWN && ev.time < w->from) return;
    int64_t t = ev.time != MX_LOG_TIME_UNKNOWN ? ev.time : (int64_t)time(NULL);
    if (t > w->counts.last_event_time) w->counts.last_event_time = t;
    do {
        if ((unsigned)ev.status < MX_LOG_STATUS__COUNT && (unsigned)ev.cause < MX_LOG_CAUSE_MAX)
            w->counts.total[ev.status][ev.cause]++;
    } while (mx_log_event_next_recipient(&ev));
    ring_push(w, t, line, len);
    w->new_events++;
}

/* ---- output ---------------------------------------------------------------- */

static int open_output(watch *w) {
    if (!w->output) {
        w->out_fd = w->live ? STDOUT_FILENO : -1; /* serve --watch: events only to a named file */
        return 0;
    }
    char err[512];
    int fd = mx_file_open_out(w->output, 1, err, sizeof err);
    if (fd < 0) {
        mx_errf("%s: %s", w->cmd, err);
        return -1;
    }
    if (w->out_fd > STDERR_FILENO) close(w->out_fd);
    w->out_fd = fd;
    return 0;
}

static void write_all(int fd, const char *p, size_t n, int *closed) {
    while (n) {
        ssize_t r = write(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EPIPE && fd == STDOUT_FILENO) {
            /* nobody reads the events any more (mxdiag watch | head -1): end */
            *closed = 1;
        }
        if (r <= 0) return;
        p += r;
        n -= (size_t)r;
    }
}

/* --exec: CMD with the event on its stdin, in its own process group, killed
 * (group and all) after --exec-timeout. */
static void run_exec(watch *w, const char *line, size_t n) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return;
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return;
    }
    if (pid == 0) {
        setpgid(0, 0);
        dup2(p[0], STDIN_FILENO);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, STDOUT_FILENO); /* the event stream is ours */
        signal(SIGPIPE, SIG_DFL);
        execl("/bin/sh", "sh", "-c", w->exec_cmd, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    close(p[0]);
    int ignored = 0; /* a command that does not read its input is no reason to end */
    write_all(p[1], line, n, &ignored);
    close(p[1]);
    int64_t deadline = now_ms() + w->exec_timeout * 1000;
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR)) break;
        if (now_ms() >= deadline) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fprintf(stderr, "mxdiag watch: --exec command killed after %lds\n", w->exec_timeout);
            break;
        }
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
}

static void emit(watch *w, mx_json *doc) {
    mx_buf b = MX_BUF_INIT;
    mx_json_write(&b, doc, -1);
    mx_buf_putc(&b, '\n');
    if (w->out_fd >= 0) write_all(w->out_fd, b.data, b.len, &w->output_closed);
    if (w->use_syslog) {
        const char *ev = mx_json_get_str(doc, "event");
        int prio = ev && strstr(ev, "recovered") ? LOG_NOTICE : LOG_WARNING;
        syslog(prio, "%.*s", (int)(b.len - 1), b.data);
    }
    if (w->exec_cmd) run_exec(w, b.data, b.len);
    mx_buf_free(&b);
}

/* Writes the queued events that are ready, in order, except those behind a
 * waiting event of the same destination. */
static void flush_queue(watch *w, int all) {
    size_t j = 0;
    for (size_t i = 0; i < w->nqueue; i++) {
        struct qevent *q = w->queue[i];
        int blocked = q->waiting && !all;
        for (size_t k = 0; !blocked && k < j; k++) {
            const char *d = w->queue[k]->destination;
            blocked = d && q->destination && !strcmp(d, q->destination);
        }
        if (blocked) {
            w->queue[j++] = q;
            continue;
        }
        if (q->waiting) { /* forced out (ending, or the queue is full): its check is not waited for */
            for (int r = 0; r < WATCH_MAX_RUNNING; r++)
                if (w->run[r].ev == q) w->run[r].ev = NULL;
            mx_json *c = mx_json_set(q->doc, "check", mx_json_obj());
            mx_json_set(c, "status", mx_json_str("error"));
            mx_json_set(c, "reason", mx_json_str("not waited for: too many events queued"));
        }
        emit(w, q->doc);
        mx_json_free(q->doc);
        free(q->destination);
        free(q);
    }
    w->nqueue = j;
}

/* ---- live checks ----------------------------------------------------------- */

static int may_check(watch *w, struct dest *d, const char **why) {
    static char reason[128];
    int64_t t = (int64_t)time(NULL), ms = t * 1000;
    /* the name comes from a log line: a domain name, or no check */
    const char *bad;
    if (mx_domain_valid(d->domain, &bad) != 0) {
        snprintf(reason, sizeof reason, "not a domain name (%s)", bad);
        *why = reason;
        return 0;
    }
    size_t k = 0;
    for (size_t i = 0; i < w->ncheck_starts; i++)
        if (ms - w->check_starts[i] < 60000) w->check_starts[k++] = w->check_starts[i];
    w->ncheck_starts = k;
    if (d->last_check && t - d->last_check < w->check_interval) {
        char b[32];
        iso(b, sizeof b, d->last_check);
        snprintf(reason, sizeof reason, "checked at %s (once per %lds)", b, w->check_interval);
        *why = reason;
        return 0;
    }
    if ((long)w->ncheck_starts >= w->max_checks) {
        snprintf(reason, sizeof reason, "rate limit: %ld checks a minute", w->max_checks);
        *why = reason;
        return 0;
    }
    int free_slot = 0;
    for (int i = 0; i < WATCH_MAX_RUNNING; i++) free_slot |= w->run[i].pid == 0;
    if (!free_slot) {
        snprintf(reason, sizeof reason, "%d live checks already running", WATCH_MAX_RUNNING);
        *why = reason;
        return 0;
    }
    return 1;
}

static int start_check(watch *w, const char *domain, struct qevent *q) {
    int slot = -1;
    for (int i = 0; i < WATCH_MAX_RUNNING && slot < 0; i++)
        if (w->run[i].pid == 0) slot = i;
    int p[2];
    if (slot < 0 || pipe2(p, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        dup2(p[1], STDOUT_FILENO);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, STDERR_FILENO);
        }
        char **av = calloc((size_t)w->nfwd + 9, sizeof *av);
        if (!av) _exit(127);
        int n = 0;
        av[n++] = "mxdiag";
        av[n++] = "check";
        av[n++] = "--format";
        av[n++] = "json";
        /* the configuration watch read (or none), not whatever the child would find */
        if (mx_config_disabled) av[n++] = "--no-config";
        else if (mx_config_path) {
            av[n++] = "--config";
            av[n++] = (char *)mx_config_path;
        }
        for (int i = 0; i < w->nfwd; i++) av[n++] = w->fwd[i];
        av[n++] = "--"; /* the domain is never an option */
        av[n++] = (char *)domain;
        av[n] = NULL;
        signal(SIGPIPE, SIG_DFL);
        execv(w->self, av);
        _exit(127);
    }
    setpgid(pid, pid);
    close(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    struct running *r = &w->run[slot];
    r->pid = pid;
    r->fd = p[0];
    mx_buf_reset(&r->out);
    r->deadline_ms = now_ms() + w->check_timeout * 1000;
    r->ev = q;
    w->check_starts[w->ncheck_starts++ % 64] = (int64_t)time(NULL) * 1000;
    return 0;
}

/* The check's document as the event's "check": status, exit code, the
 * verdict (its worst finding) and the problems found. */
static mx_json *check_summary(const char *out, size_t n, int status) {
    mx_json *c = mx_json_obj();
    char err[256];
    mx_json *doc = n ? mx_json_parse(out, n, err, sizeof err) : NULL;
    if (!doc) {
        mx_json_set(c, "status", mx_json_str("error"));
        char b[160];
        snprintf(b, sizeof b, "the check wrote no JSON document (exit status %d)",
                 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        mx_json_set(c, "reason", mx_json_str(b));
        return c;
    }
    const char *st = mx_json_get_str(doc, "status");
    mx_json_set(c, "status", mx_json_str(st ? st : "unknown"));
    if (WIFEXITED(status)) mx_json_set(c, "exit_code", mx_json_int(WEXITSTATUS(status)));
    mx_json *fs = mx_json_get(doc, "findings");
    mx_json *probs = mx_json_set(c, "findings", mx_json_arr());
    static const char *const order[] = {"crit", "warn", "unknown"};
    const char *verdict = NULL;
    for (int o = 0; o < 3; o++)
        for (size_t i = 0; fs && fs->type == MX_JARR && i < fs->u.c.len; i++) {
            mx_json *f = fs->u.c.items[i];
            const char *sev = mx_json_get_str(f, "severity");
            if (!sev || strcmp(sev, order[o]) != 0) continue;
            if (probs->u.c.len < 8) {
                mx_json *s = mx_json_push(probs, mx_json_obj());
                mx_json_set(s, "code", mx_json_clone(mx_json_get(f, "code")));
                mx_json_set(s, "severity", mx_json_str(sev));
                mx_json_set(s, "summary", mx_json_clone(mx_json_get(f, "summary")));
            }
            if (!verdict) verdict = mx_json_get_str(f, "summary");
        }
    char line[600];
    if (verdict) snprintf(line, sizeof line, "%s: %s", st ? st : "unknown", verdict);
    else snprintf(line, sizeof line, "%s: no problem found now", st ? st : "unknown");
    mx_json_set(c, "verdict", mx_json_str(line));
    mx_json_free(doc);
    return c;
}

static void check_done(struct running *r, mx_json *check) {
    if (r->fd >= 0) close(r->fd);
    r->fd = -1;
    r->pid = 0;
    if (!r->ev) { /* its event went out without it */
        mx_json_free(check);
        return;
    }
    mx_json_set(r->ev->doc, "check", check);
    r->ev->waiting = 0;
    r->ev = NULL;
}

static void service_checks(watch *w, int stopping) {
    for (int i = 0; i < WATCH_MAX_RUNNING; i++) {
        struct running *r = &w->run[i];
        if (!r->pid) continue;
        char buf[65536];
        for (;;) {
            ssize_t n = read(r->fd, buf, sizeof buf);
            if (n > 0) {
                if (r->out.len + (size_t)n <= WATCH_CHECK_OUT_MAX) mx_buf_put(&r->out, buf, (size_t)n);
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n == 0) { /* EOF: the check ended */
                int status = 0;
                waitpid(r->pid, &status, 0);
                check_done(r, check_summary(r->out.data, r->out.len, status));
            }
            break;
        }
        if (r->pid && (stopping || now_ms() >= r->deadline_ms)) {
            kill(-r->pid, SIGKILL);
            kill(r->pid, SIGKILL);
            waitpid(r->pid, NULL, 0);
            mx_json *c = mx_json_obj();
            mx_json_set(c, "status", mx_json_str("error"));
            char b[96];
            if (stopping) snprintf(b, sizeof b, "stopped: mxdiag watch was ending");
            else snprintf(b, sizeof b, "timed out after %lds (--check-timeout)", w->check_timeout);
            mx_json_set(c, "reason", mx_json_str(b));
            check_done(r, c);
        }
    }
}

/* ---- the judgement and its differences -------------------------------------- */

static struct dest *find_dest(watch *w, const char *name, int create) {
    for (size_t i = 0; i < w->ndests; i++)
        if (!strcmp(w->dests[i].domain, name)) return &w->dests[i];
    if (!create || w->ndests >= WATCH_MAX_DESTS) return NULL;
    w->dests = mx_xrealloc(w->dests, (w->ndests + 1) * sizeof *w->dests);
    struct dest *d = &w->dests[w->ndests++];
    memset(d, 0, sizeof *d);
    size_t n = strlen(name);
    d->domain = mx_xmalloc(n + 1);
    memcpy(d->domain, name, n + 1);
    return d;
}

/* The latest remote reply of a failure to domain in the window. */
static mx_json *sample_reply(watch *w, const char *domain) {
    mx_log_parser p;
    mx_log_parser_init(&p, (int64_t)time(NULL), w->naive_utc);
    mx_json *best = NULL;
    for (size_t i = 0; i < w->count; i++) {
        wline *l = &w->ring[(w->head + i) % (size_t)w->max_lines];
        mx_log_event ev;
        if (mx_log_parse_line(&p, l->s, l->n, &ev) != MX_LOG_EVENT) continue;
        do {
            if (ev.cause == MX_LOG_CAUSE_NONE || !ev.text.n || ev.local) continue;
            if (ev.domain.n != strlen(domain) || strncasecmp(ev.domain.p, domain, ev.domain.n) != 0) continue;
            mx_json_free(best);
            best = mx_json_strn(ev.text.p, ev.text.n < WATCH_SAMPLE_LEN ? ev.text.n : WATCH_SAMPLE_LEN);
        } while (mx_log_event_next_recipient(&ev));
    }
    return best ? best : mx_json_null();
}

static struct qevent *queue_event(watch *w, const char *event, const char *destination, const mx_json *scope) {
    if (w->nqueue >= WATCH_QUEUE_MAX) flush_queue(w, 1);
    struct qevent *q = mx_xcalloc(1, sizeof *q);
    q->doc = mx_json_obj();
    mx_json_set(q->doc, "schema", mx_json_str("mxdiag.watch/1"));
    mx_json_set(q->doc, "event", mx_json_str(event));
    char b[32];
    iso(b, sizeof b, (int64_t)time(NULL));
    mx_json_set(q->doc, "time", mx_json_str(b));
    mx_json_set(q->doc, "destination", destination ? mx_json_str(destination) : mx_json_null());
    const mx_json *ev = mx_json_get(scope, "evidence");
    mx_json_set(q->doc, "judgement", mx_json_clone(mx_json_get(ev, "judgement")));
    mx_json_set(q->doc, "summary", mx_json_clone(mx_json_get(scope, "summary")));
    if (destination) {
        size_t n = strlen(destination);
        q->destination = mx_xmalloc(n + 1);
        memcpy(q->destination, destination, n + 1);
    }
    w->queue[w->nqueue++] = q;
    return q;
}

/* The scope's evidence without the per-destination list (the event's own
 * destination entry stands for it). */
static mx_json *scope_evidence(const mx_json *scope) {
    mx_json *e = mx_json_clone(mx_json_get(scope, "evidence"));
    if (!e) return mx_json_obj();
    mx_json *out = mx_json_obj();
    static const char *const keep[] = {"judgement", "judgement_cause", "since", "last_success", "failures_since",
                                       "domains_failing_since", "failing_domains", "succeeding_domains",
                                       "delivery_failures", "external_successes", "dominant_cause",
                                       "top_failing_domains", "recovered_domains", NULL};
    for (int i = 0; keep[i]; i++) {
        mx_json *v = mx_json_get(e, keep[i]);
        if (v) mx_json_set(out, keep[i], mx_json_clone(v));
    }
    mx_json_free(e);
    return out;
}

static void live_check(watch *w, struct dest *d, struct qevent *q) {
    if (w->no_check || !d) return;
    const char *why = NULL;
    if (!may_check(w, d, &why)) {
        mx_json *c = mx_json_set(q->doc, "check", mx_json_obj());
        mx_json_set(c, "status", mx_json_str("skipped"));
        mx_json_set(c, "reason", mx_json_str(why));
        return;
    }
    if (start_check(w, d->domain, q) == 0) {
        d->last_check = (int64_t)time(NULL);
        q->waiting = 1;
    } else {
        mx_json *c = mx_json_set(q->doc, "check", mx_json_obj());
        mx_json_set(c, "status", mx_json_str("error"));
        mx_json_set(c, "reason", mx_json_str("could not start the check"));
    }
}

static void diff(watch *w, const mx_json *scope) {
    const mx_json *ev = mx_json_get(scope, "evidence");
    const char *j = mx_json_get_str(ev, "judgement");
    if (!j) j = "";
    int cutover = !strcmp(j, "cutover"), was_cutover = w->have_verdict && !strcmp(w->judgement, "cutover");
    int was_intermittent = w->have_verdict && !strcmp(w->judgement, "intermittent");
    if (cutover && !was_cutover) {
        struct qevent *q = queue_event(w, "cutover", NULL, scope);
        mx_json_set(q->doc, "evidence", scope_evidence(scope));
        /* one destination checked live shows what the others meet */
        const mx_json *top = mx_json_get(ev, "top_failing_domains");
        const char *first = top && top->type == MX_JARR && top->u.c.len
                                ? mx_json_get_str(top->u.c.items[0], "domain") : NULL;
        if (first) live_check(w, find_dest(w, first, 1), q);
    } else if (!cutover && was_cutover) {
        struct qevent *q = queue_event(w, "cutover_recovered", NULL, scope);
        mx_json_set(q->doc, "evidence", scope_evidence(scope));
    }
    if (!strcmp(j, "intermittent") && !was_intermittent) {
        struct qevent *q = queue_event(w, "intermittent", NULL, scope);
        mx_json_set(q->doc, "evidence", scope_evidence(scope));
    }
    const mx_json *ds = mx_json_get(ev, "destinations");
    for (size_t i = 0; ds && ds->type == MX_JARR && i < ds->u.c.len; i++) {
        const mx_json *e = ds->u.c.items[i];
        const char *name = mx_json_get_str(e, "domain"), *st = mx_json_get_str(e, "state");
        if (!name || !st) continue;
        int failing = !strcmp(st, "failing");
        struct dest *d = find_dest(w, name, failing);
        if (!d) continue;
        if (failing && !d->failing) {
            d->failing = 1;
            d->announced = !cutover; /* within a cutover, the cutover event says it */
            if (d->announced) {
                struct qevent *q = queue_event(w, "destination_failing", name, scope);
                mx_json *evi = mx_json_set(q->doc, "evidence", mx_json_clone(e));
                mx_json_set(evi, "sample_reply", sample_reply(w, name));
                live_check(w, d, q);
            }
        } else if (!failing && d->failing) {
            d->failing = 0;
            if (d->announced) {
                struct qevent *q = queue_event(w, "destination_recovered", name, scope);
                mx_json_set(q->doc, "evidence", mx_json_clone(e));
            }
            d->announced = 0;
        }
    }
    /* a failing destination gone from the window (no event for --window) is
     * forgotten without an event: the logs say nothing about it any more */
    for (size_t i = 0; i < w->ndests; i++) {
        struct dest *d = &w->dests[i];
        if (!d->failing) continue;
        int seen = 0;
        for (size_t k = 0; ds && ds->type == MX_JARR && k < ds->u.c.len && !seen; k++) {
            const char *name = mx_json_get_str(ds->u.c.items[k], "domain");
            seen = name && !strcmp(name, d->domain);
        }
        if (!seen) d->failing = d->announced = 0;
    }
    snprintf(w->judgement, sizeof w->judgement, "%s", j);
    w->have_verdict = 1;
}

static void judge(watch *w) {
    int64_t now = (int64_t)time(NULL);
    ring_evict(w, now - w->window);
    mx_log_parser p;
    mx_log_parser_init(&p, now, w->naive_utc);
    mx_log_agg *agg = mx_log_agg_new(0);
    static char samples[MX_LOG_CAUSE__COUNT][WATCH_SAMPLE_LEN];
    const char *sp[MX_LOG_CAUSE__COUNT];
    for (int c = 0; c < MX_LOG_CAUSE__COUNT; c++) {
        samples[c][0] = 0;
        sp[c] = samples[c];
    }
    mx_log_stats stats;
    memset(&stats, 0, sizeof stats);
    memset(w->counts.in_window, 0, sizeof w->counts.in_window);
    for (size_t i = 0; i < w->count; i++) {
        wline *l = &w->ring[(w->head + i) % (size_t)w->max_lines];
        /* the ring is in reading order: a line logged out of order (older than
         * the window) can sit behind newer ones until they are evicted */
        if (l->t < now - w->window) continue;
        mx_log_event ev;
        stats.lines++;
        if (mx_log_parse_line(&p, l->s, l->n, &ev) != MX_LOG_EVENT) continue;
        do {
            stats.events++;
            mx_log_agg_add(agg, &ev);
            if ((unsigned)ev.status < MX_LOG_STATUS__COUNT && (unsigned)ev.cause < MX_LOG_CAUSE_MAX)
                w->counts.in_window[ev.status][ev.cause]++;
            if (ev.cause != MX_LOG_CAUSE_NONE && ev.text.n && (!ev.local || !samples[ev.cause][0])) {
                size_t n = ev.text.n < WATCH_SAMPLE_LEN - 1 ? ev.text.n : WATCH_SAMPLE_LEN - 1;
                memcpy(samples[ev.cause], ev.text.p, n);
                samples[ev.cause][n] = 0;
            }
        } while (mx_log_event_next_recipient(&ev));
    }
    mx_log_agg_finish(agg);
    mx_log_facts_in in = {agg, &stats, sp, now, now - w->window, INT64_MAX, NULL};
    mx_json *opts = mx_json_obj();
    mx_json_set(opts, "watch", mx_json_bool(1));
    mx_json_set(opts, "log_files", mx_json_arr());
    mx_json *fs = mx_logs_judge(w->jargc, w->jargv, &in, opts);
    mx_json_free(opts);
    mx_log_agg_free(agg);
    const mx_json *scope = NULL;
    for (size_t i = 0; fs && i < fs->u.c.len && !scope; i++) {
        const char *code = mx_json_get_str(fs->u.c.items[i], "code");
        if (code && !strcmp(code, "logs.scope")) scope = fs->u.c.items[i];
    }
    w->counts.window_lines = w->count;
    w->counts.judged_at = now;
    if (scope) {
        diff(w, scope);
        mx_json_free(w->scope);
        w->scope = mx_json_clone(scope);
        w->counts.scope = w->scope;
    } else fprintf(stderr, "%s: the logs rules gave no logs.scope verdict\n", w->cmd);
    mx_json_free(fs);
}

/* ---- the interface (watch_core.h) ----------------------------------------------- */

mx_watch *mx_watch_new(const char *cmd, int live) {
    watch *w = mx_xcalloc(1, sizeof *w);
    w->cmd = cmd;
    w->live = live;
    w->no_check = !live;
    w->window = 1800;
    w->interval = 10;
    w->exec_timeout = 10;
    w->check_interval = 600;
    w->check_timeout = 60;
    w->max_checks = 6;
    w->max_lines = 100000;
    w->from = INT64_MIN;
    w->out_fd = -1;
    /* the option lists grow with each option (mx_watch_*_option) */
    w->jargv = mx_xcalloc(2, sizeof *w->jargv);
    w->jargv[w->jargc++] = "watch";
    return w;
}

static void push_arg(char ***v, int *n, char *a) {
    *v = mx_xrealloc(*v, ((size_t)*n + 2) * sizeof **v);
    (*v)[(*n)++] = a;
    (*v)[*n] = NULL;
}

void mx_watch_rule_option(mx_watch *w, char *opt, char *value) {
    push_arg(&w->jargv, &w->jargc, opt);
    if (value) push_arg(&w->jargv, &w->jargc, value);
}

void mx_watch_check_option(mx_watch *w, char *opt) { push_arg(&w->fwd, &w->nfwd, opt); }

int mx_watch_option(mx_watch *w, int argc, char **argv, int *i, const char *out_name) {
    const char *a = argv[*i];
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    long *dur = NULL, *num = NULL, lo = 0, hi = 0;
    if (!strcmp(a, "--utc")) w->naive_utc = 1;
    else if (!strcmp(a, "--window")) dur = &w->window, lo = 10, hi = 7 * 86400;
    else if (!strcmp(a, "--interval")) dur = &w->interval, lo = 1, hi = 3600;
    else if (!strcmp(a, "--max-lines")) num = &w->max_lines, lo = 100, hi = 10000000;
    else if (w->live && !strcmp(a, "--no-check")) w->no_check = 1;
    else if (w->live && !strcmp(a, "--syslog")) w->use_syslog = 1;
    else if (w->live && !strcmp(a, "--exec-timeout")) dur = &w->exec_timeout, lo = 1, hi = 3600;
    else if (w->live && !strcmp(a, "--check-interval")) dur = &w->check_interval, lo = 0, hi = 7 * 86400;
    else if (w->live && !strcmp(a, "--check-timeout")) dur = &w->check_timeout, lo = 1, hi = 3600;
    else if (w->live && !strcmp(a, "--max-checks")) num = &w->max_checks, lo = 1, hi = 60;
    else if (!strcmp(a, "--from") || !strcmp(a, out_name) || (w->live && !strcmp(a, "--exec"))) {
        if (!v) {
            mx_errf("%s: %s needs a value", w->cmd, a);
            return -1;
        }
        if (!strcmp(a, "--from")) w->from_s = v;
        else if (!strcmp(a, out_name)) w->output = v;
        else w->exec_cmd = v;
        (*i)++;
    } else return 0;
    if (dur || num) {
        long x = -1;
        if (v && dur) x = parse_dur(v);
        else if (v) {
            char *end;
            x = strtol(v, &end, 10);
            if (*end || end == v) x = -1;
        }
        if (x < lo || x > hi) {
            mx_errf("%s: %s wants %s from %ld to %ld%s", w->cmd, a, dur ? "a duration" : "a number", lo, hi,
                    dur ? " seconds (30s, 10m, 2h, 1d)" : "");
            return -1;
        }
        *(dur ? dur : num) = x;
        (*i)++;
    }
    return 1;
}

int mx_watch_start(mx_watch *w, const char *const *paths, size_t np) {
    mx_log_parser_init(&w->parser, (int64_t)time(NULL), w->naive_utc);
    if (w->from_s) {
        int64_t t;
        if (mx_log_parse_when(&w->parser, w->from_s, (int64_t)time(NULL), &t) < 0) {
            mx_errf("%s: bad --from '%s' (2h, 30m, 2024-03-01T10:00, epoch seconds)", w->cmd, w->from_s);
            return -1;
        }
        w->from = t;
    }
    const char *dflt = NULL;
    if (!np) {
        for (size_t i = 0; mx_log_default_paths[i] && !dflt; i++)
            if (access(mx_log_default_paths[i], F_OK) == 0) dflt = mx_log_default_paths[i];
        if (!dflt) {
            mx_errf("%s: none of /var/log/mail.log, /var/log/maillog, /var/log/exim4/mainlog, "
                    "/var/log/exim/main.log exists: name the log file to follow (the journal is not followed)",
                    w->cmd);
            return -1;
        }
        paths = &dflt;
        np = 1;
    }
    ssize_t sl = readlink("/proc/self/exe", w->self, sizeof w->self - 1);
    if (sl <= 0) {
        if (!w->no_check) {
            mx_errf("%s: cannot find its own executable for the live checks (use --no-check)", w->cmd);
            return -1;
        }
    } else w->self[sl] = 0;
    if (open_output(w) != 0) return -1;
    w->ring = mx_xcalloc((size_t)w->max_lines, sizeof *w->ring);
    w->fl = mx_xcalloc(np, sizeof *w->fl);
    w->nfl = np;
    for (size_t i = 0; i < np; i++) {
        mx_follow_init(&w->fl[i], paths[i], w->from == INT64_MIN);
        if (w->fl[i].state == MX_FOLLOW_WAITING)
            fprintf(stderr, "%s: %s does not exist (yet): waiting for it\n", w->cmd, paths[i]);
    }
    w->counts.window = w->window;
    if (w->use_syslog) openlog("mxdiag-watch", LOG_PID, LOG_MAIL);
    return 0;
}

void mx_watch_step(mx_watch *w) {
    for (size_t i = 0; i < w->nfl; i++) mx_follow_poll(&w->fl[i], on_line, w);
    service_checks(w, 0);
    int64_t t = now_ms();
    if (!w->judged || (w->new_events && t - w->last_judge_ms >= 1000) || t - w->last_judge_ms >= w->interval * 1000) {
        judge(w);
        w->new_events = 0;
        w->last_judge_ms = t;
        w->judged = 1;
    }
    flush_queue(w, 0);
}

void mx_watch_reopen(mx_watch *w) {
    for (size_t i = 0; i < w->nfl; i++) mx_follow_reopen(&w->fl[i]);
    if (w->output) open_output(w);
}

void mx_watch_finish(mx_watch *w) {
    for (size_t i = 0; i < w->nfl; i++) mx_follow_poll(&w->fl[i], on_line, w);
    if (w->new_events) judge(w);
    service_checks(w, 1);
    flush_queue(w, 1);
}

int mx_watch_output_closed(const mx_watch *w) { return w->output_closed; }

const mx_watch_counts *mx_watch_get_counts(const mx_watch *w) { return &w->counts; }

void mx_watch_free(mx_watch *w) {
    if (!w) return;
    if (w->use_syslog && w->fl) closelog();
    for (size_t i = 0; i < w->nfl; i++) mx_follow_free(&w->fl[i]);
    free(w->fl);
    while (w->ring && w->count) ring_evict(w, INT64_MAX);
    free(w->ring);
    for (size_t i = 0; i < w->ndests; i++) free(w->dests[i].domain);
    free(w->dests);
    for (int i = 0; i < WATCH_MAX_RUNNING; i++) mx_buf_free(&w->run[i].out);
    for (size_t i = 0; i < w->nqueue; i++) {
        mx_json_free(w->queue[i]->doc);
        free(w->queue[i]->destination);
        free(w->queue[i]);
    }
    if (w->out_fd > STDERR_FILENO) close(w->out_fd);
    mx_json_free(w->scope);
    free(w->fwd);
    free(w->jargv);
    free(w);
}
