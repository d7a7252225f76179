/* mxdiag serve: a Prometheus exporter. /probe?target=DOMAIN&module=NAME runs
 * one check through the runtime (as check does; a module is a named set of
 * per-check options from the configuration file's modules:) and answers its
 * metrics in the exposition format; /metrics answers the exporter's own and,
 * with --watch, the log-derived series: watch's follower, window and
 * judgement (cli/watch_core.c) run from a timer of the same loop.
 * HTTP is engine/http.c (libmicrohttpd driven from the runtime's loop). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "addr.h"
#include "cli.h"
#include "escape.h"
#include "http.h"
#include "logs_report.h"
#include "logparse.h"
#include "watch_core.h"

#define SERVE_DEFAULT_LISTEN "127.0.0.1:9125"
#define SERVE_WATCH_TICK_MS 200
#define SERVE_WATCH_TOP 20 /* failing destinations with their own series; the rest are domain="(other)" */
#define SERVE_WATCH_TOP_S "20"

static volatile sig_atomic_t serve_stop, serve_hup;
static void on_signal(int sig) { (void)sig; serve_stop++; }
static void on_hup(int sig) { (void)sig; serve_hup = 1; }

typedef struct serve serve;

typedef struct probe {
    serve *sv;
    mx_http_req *req;  /* NULL once answered (deadline) */
    mx_check *check;
    mx_target target;
    mx_timer *deadline;
    char module[64];
    int64_t started_ms;
    struct probe *next;
} probe;

struct serve {
    mx_check_setup setup;
    mx_http *http;
    const mx_json *modules;      /* the configuration file's modules: (name -> options), or NULL */
    mx_strlist allow;            /* target suffixes (empty: any) */
    int max_probes;
    double max_rate;             /* probes started per second (0: no bound) */
    double tokens;
    int64_t tokens_ms;
    double default_timeout;      /* seconds, a probe's whole deadline */
    int inflight;
    probe *probes;               /* running (answered or not) */
    mx_watch *watch;             /* --watch, else NULL */
    /* own metrics */
    unsigned long long requests[6]; /* by endpoint: probe, metrics, other */
    unsigned long long responses_by_code[600];
    unsigned long long probes_done, probes_timed_out, rejected_busy, rejected_rate, rejected_bad, rejected_target;
    double probe_seconds_sum;
    unsigned long long probe_seconds_bucket[9]; /* le 0.5 1 2.5 5 10 20 30 60 +Inf */
};
static const double buckets[] = {0.5, 1, 2.5, 5, 10, 20, 30, 60};

static void respond(serve *sv, mx_http_req *r, int code, const char *type, const char *body) {
    if (code >= 0 && code < 600) sv->responses_by_code[code]++;
    mx_http_respond(r, code, type, body, strlen(body));
}

static void bad(serve *sv, mx_http_req *r, int code, const char *fmt, const char *arg) {
    mx_buf b = MX_BUF_INIT;
    mx_buf_printf(&b, fmt, arg ? arg : "");
    mx_buf_putc(&b, '\n');
    if (code == 503) sv->rejected_busy++;
    else if (code == 429) sv->rejected_rate++;
    else if (code == 403) sv->rejected_target++;
    else sv->rejected_bad++;
    if (code >= 0 && code < 600) sv->responses_by_code[code]++;
    if (code == 503 || code == 429) mx_http_respond_hdr(r, code, "text/plain; charset=utf-8", b.data, b.len, "Retry-After", "1");
    else mx_http_respond(r, code, "text/plain; charset=utf-8", b.data, b.len);
    mx_buf_free(&b);
}

/* ------------------------------------------------------------ exposition */

static void label(mx_buf *b, const char *name, const char *value, int *first) {
    mx_buf_puts(b, *first ? "{" : ",");
    *first = 0;
    mx_buf_puts(b, name);
    mx_buf_putc(b, '=');
    mx_esc_prom_label(b, value ? value : "");
}

static void help(mx_buf *b, const char *name, const char *type, const char *text) {
    mx_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

static const char *ev_str(const mx_json *ev, const char *k) { return ev ? mx_json_get_str(ev, k) : NULL; }
static int ev_num(const mx_json *ev, const char *k, double *out) {
    const mx_json *v = ev ? mx_json_get(ev, k) : NULL;
    if (!v) return 0;
    if (v->type == MX_JINT) *out = (double)v->u.i;
    else if (v->type == MX_JNUM) *out = v->u.n;
    else return 0;
    return 1;
}

/* One series, deduplicated by its full text (a rule may give the same
 * labels twice; Prometheus refuses duplicate series). */
static void series(mx_buf *b, mx_json *seen, const char *name, const char *const *labels, double value) {
    mx_buf s = MX_BUF_INIT;
    mx_buf_puts(&s, name);
    int first = 1;
    for (int i = 0; labels[i]; i += 2) label(&s, labels[i], labels[i + 1], &first);
    if (!first) mx_buf_putc(&s, '}');
    const char *key = mx_buf_cstr(&s);
    if (!mx_json_get(seen, key)) {
        mx_json_set(seen, key, mx_json_bool(1));
        mx_buf_printf(b, "%s %.17g\n", key, value);
    }
    mx_buf_free(&s);
}

static int status_num(const char *st) {
    if (!st) return 3;
    if (!strcmp(st, "ok")) return 0;
    if (!strcmp(st, "warn")) return 1;
    if (!strcmp(st, "crit")) return 2;
    return 3;
}

/* The probe's metrics from its check document (NULL: timed out). */
static void probe_metrics(mx_buf *b, const mx_json *doc, double seconds) {
    const char *st = doc ? mx_json_get_str(doc, "status") : "unknown";
    int n = status_num(st);
    help(b, "mxdiag_probe_success", "gauge", "1 when the diagnosis found nothing worse than info (status ok), else 0.");
    mx_buf_printf(b, "mxdiag_probe_success %d\n", n == 0);
    help(b, "mxdiag_probe_status", "gauge", "The diagnosis's status: 0 ok, 1 warn, 2 crit, 3 unknown.");
    mx_buf_printf(b, "mxdiag_probe_status %d\n", n);
    help(b, "mxdiag_probe_timed_out", "gauge", "1 when the probe's deadline passed before the diagnosis finished.");
    mx_buf_printf(b, "mxdiag_probe_timed_out %d\n", doc ? 0 : 1);
    help(b, "mxdiag_probe_duration_seconds", "gauge", "Wall time of the probe in seconds.");
    mx_buf_printf(b, "mxdiag_probe_duration_seconds %.6f\n", seconds);
    const mx_json *fs = doc ? mx_json_get(doc, "findings") : NULL;
    size_t nf = fs && fs->type == MX_JARR ? fs->u.c.len : 0;
    static const char *sevs[] = {"ok", "info", "unknown", "warn", "crit"};
    mx_json *seen = mx_json_obj();
    help(b, "mxdiag_finding", "gauge", "One series per finding code, rule and severity: the number of such findings.");
    /* counted per (code, rule, severity) */
    mx_json *counts = mx_json_obj();
    for (size_t i = 0; i < nf; i++) {
        const mx_json *f = fs->u.c.items[i];
        mx_buf k = MX_BUF_INIT;
        mx_buf_printf(&k, "%s\t%s\t%s", mx_json_get_str(f, "code") ? mx_json_get_str(f, "code") : "",
                      mx_json_get_str(f, "rule") ? mx_json_get_str(f, "rule") : "",
                      mx_json_get_str(f, "severity") ? mx_json_get_str(f, "severity") : "");
        mx_json *c = mx_json_get(counts, mx_buf_cstr(&k));
        if (c) c->u.i++;
        else mx_json_set(counts, mx_buf_cstr(&k), mx_json_int(1));
        mx_buf_free(&k);
    }
    for (size_t i = 0; i < counts->u.c.len; i++) {
        char *k = mx_xstrdup(counts->u.c.keys[i]);
        char *rule = strchr(k, '\t');
        *rule++ = 0;
        char *sev = strchr(rule, '\t');
        *sev++ = 0;
        const char *l[] = {"code", k, "rule", rule, "severity", sev, NULL};
        series(b, seen, "mxdiag_finding", l, (double)counts->u.c.items[i]->u.i);
        free(k);
    }
    mx_json_free(counts);
    help(b, "mxdiag_findings", "gauge", "Findings of the diagnosis by severity.");
    for (size_t s = 0; s < sizeof sevs / sizeof sevs[0]; s++) {
        int c = 0;
        for (size_t i = 0; i < nf; i++) {
            const char *fsev = mx_json_get_str(fs->u.c.items[i], "severity");
            c += fsev && !strcmp(fsev, sevs[s]);
        }
        const char *l[] = {"severity", sevs[s], NULL};
        series(b, seen, "mxdiag_findings", l, c);
    }
    /* per MX address: the tcp rule's verdict (its code tcp.VERDICT), connection and greeting times, certificate */
    help(b, "mxdiag_connect", "gauge", "1 per MX address and the verdict of the TCP connection to it (connected, refused, timeout, unreachable, ...).");
    for (size_t i = 0; i < nf; i++) {
        const mx_json *f = fs->u.c.items[i], *ev = mx_json_get(f, "evidence");
        const char *code = mx_json_get_str(f, "code"), *a = ev_str(ev, "address");
        if (!code || strncmp(code, "tcp.", 4) != 0 || !a || !strcmp(code, "tcp.family_fails")) continue;
        const char *l[] = {"mx", ev_str(ev, "host"), "address", a, "verdict", code + 4, NULL};
        series(b, seen, "mxdiag_connect", l, 1);
    }
    help(b, "mxdiag_connect_seconds", "gauge", "Seconds the TCP connection to the MX address took (or until it failed).");
    for (size_t i = 0; i < nf; i++) {
        const mx_json *f = fs->u.c.items[i], *ev = mx_json_get(f, "evidence");
        const char *code = mx_json_get_str(f, "code");
        double ms;
        if (!code || strncmp(code, "tcp.", 4) != 0 || !ev_str(ev, "address") || !ev_num(ev, "elapsed_ms", &ms)) continue;
        const char *l[] = {"mx", ev_str(ev, "host"), "address", ev_str(ev, "address"), NULL};
        series(b, seen, "mxdiag_connect_seconds", l, ms / 1000.0);
    }
    help(b, "mxdiag_greeting_seconds", "gauge", "Seconds from the connection to the SMTP greeting of the MX address.");
    for (size_t i = 0; i < nf; i++) {
        const mx_json *f = fs->u.c.items[i], *ev = mx_json_get(f, "evidence");
        const char *code = mx_json_get_str(f, "code");
        double ms;
        if (!code || strncmp(code, "smtp.greeting_", 14) != 0 || !ev_str(ev, "address") || !ev_num(ev, "elapsed_ms", &ms))
            continue;
        const char *l[] = {"mx", ev_str(ev, "host"), "address", ev_str(ev, "address"), NULL};
        series(b, seen, "mxdiag_greeting_seconds", l, ms / 1000.0);
    }
    help(b, "mxdiag_tls_cert_expiry_seconds", "gauge", "Seconds until the MX address's STARTTLS certificate expires, in whole days (negative: expired).");
    for (size_t i = 0; i < nf; i++) {
        const mx_json *ev = mx_json_get(fs->u.c.items[i], "evidence");
        double d;
        if (!ev_str(ev, "address") || !ev_num(ev, "days_left", &d)) continue;
        const char *l[] = {"mx", ev_str(ev, "host"), "address", ev_str(ev, "address"), NULL};
        series(b, seen, "mxdiag_tls_cert_expiry_seconds", l, d * 86400);
    }
    help(b, "mxdiag_dnsbl_listed", "gauge", "1 per address and blocklist zone that lists it (findings dnsbl.*listed).");
    for (size_t i = 0; i < nf; i++) {
        const mx_json *f = fs->u.c.items[i];
        const char *code = mx_json_get_str(f, "code");
        const mx_json *ev = mx_json_get(f, "evidence");
        size_t cl = code ? strlen(code) : 0;
        if (!code || strncmp(code, "dnsbl.", 6) != 0 || cl < 6 || strcmp(code + cl - 6, "listed") != 0) continue;
        const char *l[] = {"zone", ev_str(ev, "zone"), "address", ev_str(ev, "address"), "code", code, NULL};
        series(b, seen, "mxdiag_dnsbl_listed", l, 1);
    }
    mx_json_free(seen);
}

/* ------------------------------------------------------------ probes */

static void probe_unlink(serve *sv, probe *p) {
    for (probe **pp = &sv->probes; *pp; pp = &(*pp)->next)
        if (*pp == p) { *pp = p->next; return; }
}

static void probe_answer(probe *p, const mx_json *doc) {
    serve *sv = p->sv;
    double secs = (double)(mx_now_ms() - p->started_ms) / 1000.0;
    mx_buf b = MX_BUF_INIT;
    probe_metrics(&b, doc, secs);
    sv->responses_by_code[200]++;
    mx_http_respond(p->req, 200, "text/plain; version=0.0.4; charset=utf-8", b.data ? b.data : "", b.len);
    mx_buf_free(&b);
    p->req = NULL;
    sv->probe_seconds_sum += secs;
    for (size_t i = 0; i < 9; i++)
        if (i == 8 || secs <= buckets[i]) sv->probe_seconds_bucket[i]++;
}

static void probe_deadline(mx_loop *loop, void *ud) {
    (void)loop;
    probe *p = ud;
    p->deadline = NULL;
    if (p->req) {
        p->sv->probes_timed_out++;
        probe_answer(p, NULL);
    }
}

/* Runs from the runtime's scheduler; the check is freed from the loop's
 * next turn (not from inside its own done). */
static void probe_free_later(mx_loop *loop, void *ud) {
    probe *p = ud;
    mx_check_free(p->check);
    if (p->deadline) mx_timer_cancel(loop, p->deadline);
    probe_unlink(p->sv, p);
    free(p);
}

static void probe_done(mx_check *c, void *ud) {
    probe *p = ud;
    serve *sv = p->sv;
    p->check = c;
    sv->inflight--;
    sv->probes_done++;
    if (p->req) {
        mx_json *doc = mx_check_json(c);
        probe_answer(p, doc);
        mx_json_free(doc);
    }
    mx_loop_defer(mx_rt_loop(sv->setup.rt), probe_free_later, p);
}

static int target_allowed(const serve *sv, const mx_target *t) {
    if (!sv->allow.n) return 1;
    const char *name = t->domain;
    if (!name[0]) return 0; /* an address: only with no allow-list */
    size_t nl = strlen(name);
    for (size_t i = 0; i < sv->allow.n; i++) {
        const char *a = sv->allow.v[i];
        if (a[0] == '.') a++;
        size_t al = strlen(a);
        if (nl == al && !strcasecmp(name, a)) return 1;
        if (nl > al && name[nl - al - 1] == '.' && !strcasecmp(name + nl - al, a)) return 1;
    }
    return 0;
}

/* A timeout in seconds from text: > 0 and <= 600. */
static int parse_seconds(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > 600) return -1;
    *out = v;
    return 0;
}

static void handle_probe(serve *sv, mx_http_req *r) {
    static const char *known[] = {"target", "module", "timeout", NULL};
    for (const char **k = known; *k; k++)
        if (mx_http_arg_count(r, *k) > 1) { bad(sv, r, 400, "parameter '%s' is given more than once", *k); return; }
    const char *target = mx_http_arg(r, "target"), *module = mx_http_arg(r, "module"), *tmo = mx_http_arg(r, "timeout");
    if (!target || !*target) { bad(sv, r, 400, "missing parameter 'target' (/probe?target=DOMAIN&module=NAME)%s", NULL); return; }
    mx_target t;
    const char *why = NULL;
    if (strlen(target) > 300 || mx_target_parse(target, &t, &why) != 0) {
        mx_buf e = MX_BUF_INIT;
        mx_esc_text(&e, strlen(target) > 300 ? "(too long)" : target, 0);
        mx_buf_printf(&e, ": %s", why ? why : "not a domain, host name or address");
        bad(sv, r, 400, "bad target %s", mx_buf_cstr(&e));
        mx_buf_free(&e);
        return;
    }
    const mx_json *opts = NULL;
    if (module && *module) {
        opts = sv->modules ? mx_json_get(sv->modules, module) : NULL;
        if (!opts && strcmp(module, "default") != 0) {
            mx_buf e = MX_BUF_INIT;
            mx_esc_text(&e, module, 0);
            bad(sv, r, 400, "unknown module %s (modules: in the configuration file; 'default' is always there)",
                mx_buf_cstr(&e));
            mx_buf_free(&e);
            return;
        }
    } else if (sv->modules) opts = mx_json_get(sv->modules, "default");
    double deadline = sv->default_timeout, v;
    const mx_json *mt = opts ? mx_json_get(opts, "timeout") : NULL;
    if (mt && (mt->type == MX_JINT || mt->type == MX_JNUM)) deadline = mt->type == MX_JINT ? (double)mt->u.i : mt->u.n;
    if (tmo) {
        if (parse_seconds(tmo, &v) != 0) { bad(sv, r, 400, "bad timeout '%s': seconds, more than 0 and at most 600", tmo); return; }
        if (v < deadline) deadline = v;
    }
    const char *scrape = mx_http_header(r, "X-Prometheus-Scrape-Timeout-Seconds");
    if (scrape && parse_seconds(scrape, &v) == 0) {
        /* leave Prometheus half a second to read the answer */
        v = v > 1 ? v - 0.5 : v * 0.8;
        if (v < deadline) deadline = v;
    }
    if (!target_allowed(sv, &t)) {
        mx_buf e = MX_BUF_INIT;
        mx_esc_text(&e, target, 0);
        bad(sv, r, 403, "target %s is not allowed (serve_targets: / --allow-target)", mx_buf_cstr(&e));
        mx_buf_free(&e);
        return;
    }
    if (sv->inflight >= sv->max_probes) { bad(sv, r, 503, "too many probes at once (--max-probes)%s", NULL); return; }
    if (sv->max_rate > 0) {
        int64_t now = mx_now_ms();
        sv->tokens += (double)(now - sv->tokens_ms) / 1000.0 * sv->max_rate;
        double cap = sv->max_rate < 1 ? 1 : sv->max_rate;
        if (sv->tokens > cap) sv->tokens = cap;
        sv->tokens_ms = now;
        if (sv->tokens < 1) { bad(sv, r, 429, "too many probes per second (--max-rate)%s", NULL); return; }
        sv->tokens -= 1;
    }
    probe *p = mx_xcalloc(1, sizeof *p);
    p->sv = sv;
    p->req = r;
    p->target = t;
    p->started_ms = mx_now_ms();
    snprintf(p->module, sizeof p->module, "%s", module && *module ? module : "default");
    p->next = sv->probes;
    sv->probes = p;
    sv->inflight++;
    p->deadline = mx_loop_timer(mx_rt_loop(sv->setup.rt), (int64_t)(deadline * 1000), probe_deadline, p);
    /* the module's options over the run's, minus the keys that are the server's */
    mx_json *o = mx_json_obj();
    for (size_t i = 0; opts && opts->type == MX_JOBJ && i < opts->u.c.len; i++)
        if (strcmp(opts->u.c.keys[i], "timeout") != 0) mx_json_set(o, opts->u.c.keys[i], mx_json_clone(opts->u.c.items[i]));
    mx_rt_new_epoch(sv->setup.rt); /* nothing cached or shared from an earlier probe */
    mx_check *c = mx_check_start_opts(sv->setup.rt, &p->target, o, probe_done, p);
    mx_json_free(o);
    if (!p->check) p->check = c;
}

static void write_metrics(serve *sv, mx_buf *b) {
    help(b, "mxdiag_exporter_requests_total", "counter", "HTTP requests by endpoint.");
    static const char *eps[] = {"probe", "metrics", "other"};
    for (int i = 0; i < 3; i++) mx_buf_printf(b, "mxdiag_exporter_requests_total{endpoint=\"%s\"} %llu\n", eps[i], sv->requests[i]);
    help(b, "mxdiag_exporter_responses_total", "counter", "HTTP responses by status code.");
    for (int c = 0; c < 600; c++)
        if (sv->responses_by_code[c]) mx_buf_printf(b, "mxdiag_exporter_responses_total{code=\"%d\"} %llu\n", c, sv->responses_by_code[c]);
    help(b, "mxdiag_exporter_probes_in_flight", "gauge", "Diagnoses running now.");
    mx_buf_printf(b, "mxdiag_exporter_probes_in_flight %d\n", sv->inflight);
    help(b, "mxdiag_exporter_max_probes", "gauge", "The bound on diagnoses at once (--max-probes).");
    mx_buf_printf(b, "mxdiag_exporter_max_probes %d\n", sv->max_probes);
    help(b, "mxdiag_exporter_probes_total", "counter", "Diagnoses finished.");
    mx_buf_printf(b, "mxdiag_exporter_probes_total %llu\n", sv->probes_done);
    help(b, "mxdiag_exporter_probe_timeouts_total", "counter", "Probes answered at their deadline, before the diagnosis finished.");
    mx_buf_printf(b, "mxdiag_exporter_probe_timeouts_total %llu\n", sv->probes_timed_out);
    help(b, "mxdiag_exporter_rejected_total", "counter", "Requests refused, by reason.");
    mx_buf_printf(b, "mxdiag_exporter_rejected_total{reason=\"bad_request\"} %llu\n", sv->rejected_bad);
    mx_buf_printf(b, "mxdiag_exporter_rejected_total{reason=\"target_not_allowed\"} %llu\n", sv->rejected_target);
    mx_buf_printf(b, "mxdiag_exporter_rejected_total{reason=\"too_many_probes\"} %llu\n", sv->rejected_busy);
    mx_buf_printf(b, "mxdiag_exporter_rejected_total{reason=\"rate_limited\"} %llu\n", sv->rejected_rate);
    help(b, "mxdiag_exporter_probe_duration_seconds", "histogram", "Wall time of answered probes.");
    for (int i = 0; i < 9; i++) {
        if (i < 8) mx_buf_printf(b, "mxdiag_exporter_probe_duration_seconds_bucket{le=\"%g\"} %llu\n", buckets[i], sv->probe_seconds_bucket[i]);
        else mx_buf_printf(b, "mxdiag_exporter_probe_duration_seconds_bucket{le=\"+Inf\"} %llu\n", sv->probe_seconds_bucket[i]);
    }
    mx_buf_printf(b, "mxdiag_exporter_probe_duration_seconds_sum %.6f\n", sv->probe_seconds_sum);
    mx_buf_printf(b, "mxdiag_exporter_probe_duration_seconds_count %llu\n", sv->probe_seconds_bucket[8]);
}

/* "2024-03-01T10:42:30Z" (the logs rules' times) -> epoch seconds; 0 unreadable */
static int64_t iso_time(const char *s) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
    if (!end || *end) return 0;
    return (int64_t)timegm(&tm);
}

static int by_failures(const void *a, const void *b) {
    const mx_json *x = *(const mx_json *const *)a, *y = *(const mx_json *const *)b;
    double fx = 0, fy = 0;
    ev_num(x, "failures", &fx);
    ev_num(y, "failures", &fy);
    if (fx != fy) return fx < fy ? 1 : -1;
    const char *dx = mx_json_get_str(x, "domain"), *dy = mx_json_get_str(y, "domain");
    return strcmp(dx ? dx : "", dy ? dy : "");
}

/* The log-derived series of serve --watch (RULES.md "Command mxdiag serve"). */
static void write_watch_metrics(serve *sv, mx_buf *b) {
    const mx_watch_counts *c = mx_watch_get_counts(sv->watch);
    mx_json *seen = mx_json_obj();
    help(b, "mxdiag_log_lines_read_total", "counter", "Log lines read since serve started (every line, across rotation).");
    mx_buf_printf(b, "mxdiag_log_lines_read_total %llu\n", (unsigned long long)c->lines_read);
    help(b, "mxdiag_log_lines_unparsed_total", "counter", "Log lines read that were garbled (no header, binary, over-long).");
    mx_buf_printf(b, "mxdiag_log_lines_unparsed_total %llu\n", (unsigned long long)c->unparsed);
    /* a (result, cause) pair once seen stays, so the window gauge goes to 0 rather than away */
    help(b, "mxdiag_log_deliveries_total", "counter",
         "Recipient outcomes read since serve started, by result (sent, deferred, bounced, expired; attempt: a failed connection) and cause (none: delivered).");
    for (int st = 0; st < MX_LOG_STATUS__COUNT; st++)
        for (int ca = 0; ca < MX_LOG_CAUSE_MAX; ca++)
            if (c->total[st][ca]) {
                const char *l[] = {"result", mx_log_status_name((mx_log_status)st), "cause", mx_log_cause_name((mx_log_cause)ca), NULL};
                series(b, seen, "mxdiag_log_deliveries_total", l, (double)c->total[st][ca]);
            }
    help(b, "mxdiag_log_window_deliveries", "gauge", "Recipient outcomes in the sliding window at the last judgement, by result and cause.");
    for (int st = 0; st < MX_LOG_STATUS__COUNT; st++)
        for (int ca = 0; ca < MX_LOG_CAUSE_MAX; ca++)
            if (c->total[st][ca] || c->in_window[st][ca]) {
                const char *l[] = {"result", mx_log_status_name((mx_log_status)st), "cause", mx_log_cause_name((mx_log_cause)ca), NULL};
                series(b, seen, "mxdiag_log_window_deliveries", l, (double)c->in_window[st][ca]);
            }
    help(b, "mxdiag_log_window_seconds", "gauge", "The sliding window judged (--window).");
    mx_buf_printf(b, "mxdiag_log_window_seconds %ld\n", c->window);
    help(b, "mxdiag_log_window_lines", "gauge", "Delivery lines held in the window (at most --max-lines).");
    mx_buf_printf(b, "mxdiag_log_window_lines %zu\n", c->window_lines);
    if (c->last_event_time) {
        help(b, "mxdiag_log_last_line_timestamp_seconds", "gauge", "Log time of the newest delivery line read.");
        mx_buf_printf(b, "mxdiag_log_last_line_timestamp_seconds %lld\n", (long long)c->last_event_time);
    }
    if (c->judged_at) {
        help(b, "mxdiag_log_judged_timestamp_seconds", "gauge", "When the logs rules last judged the window.");
        mx_buf_printf(b, "mxdiag_log_judged_timestamp_seconds %lld\n", (long long)c->judged_at);
    }
    const mx_json *scope = c->scope, *ev = scope ? mx_json_get(scope, "evidence") : NULL;
    const char *j = ev_str(ev, "judgement");
    if (j) {
        help(b, "mxdiag_log_scope", "gauge", "1 for the current scope judgement of the logs rules (logs.scope: ok, cutover, one_fails_unverified, intermittent, their_side, ...).");
        const char *l[] = {"judgement", j, "severity", ev_str(scope, "severity"), NULL};
        series(b, seen, "mxdiag_log_scope", l, 1);
        help(b, "mxdiag_log_scope_status", "gauge", "The scope judgement's severity: 0 ok, 1 warn, 2 crit, 3 unknown.");
        const char *sev = ev_str(scope, "severity");
        mx_buf_printf(b, "mxdiag_log_scope_status %d\n", sev && !strcmp(sev, "info") ? 0 : status_num(sev));
        int64_t since = iso_time(ev_str(ev, "since"));
        if (since) {
            help(b, "mxdiag_log_scope_since_timestamp_seconds", "gauge", "When the judged trouble started (evidence since), where the rules know it.");
            mx_buf_printf(b, "mxdiag_log_scope_since_timestamp_seconds %lld\n", (long long)since);
        }
    }
    const mx_json *ds = ev ? mx_json_get(ev, "destinations") : NULL;
    size_t nd = ds && ds->type == MX_JARR ? ds->u.c.len : 0;
    if (j) {
        size_t nfail = 0, nok = 0;
        for (size_t i = 0; i < nd; i++) {
            const char *st = mx_json_get_str(ds->u.c.items[i], "state");
            nfail += st && !strcmp(st, "failing");
            nok += st && !strcmp(st, "ok");
        }
        help(b, "mxdiag_log_destinations", "gauge", "Destination domains in the window by state: failing (latest outcome a delivery failure), ok (latest a success).");
        mx_buf_printf(b, "mxdiag_log_destinations{state=\"failing\"} %zu\n", nfail);
        mx_buf_printf(b, "mxdiag_log_destinations{state=\"ok\"} %zu\n", nok);
    }
    /* the failing destinations, most failures first: SERVE_WATCH_TOP of them by name, the rest as one */
    const mx_json **fail = mx_xcalloc(nd + 1, sizeof *fail);
    size_t nf = 0;
    for (size_t i = 0; i < nd; i++) {
        const char *st = mx_json_get_str(ds->u.c.items[i], "state");
        if (st && !strcmp(st, "failing") && mx_json_get_str(ds->u.c.items[i], "domain")) fail[nf++] = ds->u.c.items[i];
    }
    qsort(fail, nf, sizeof *fail, by_failures);
    if (j) {
        help(b, "mxdiag_log_destination_failures", "gauge",
             "Delivery failures in the window to a failing destination, with its dominant cause; the " SERVE_WATCH_TOP_S " with the most by name, the others summed as domain=\"(other)\".");
        double other = 0;
        for (size_t i = 0; i < nf; i++) {
            double f = 0;
            ev_num(fail[i], "failures", &f);
            if (i >= SERVE_WATCH_TOP) {
                other += f;
                continue;
            }
            const char *cause = ev_str(fail[i], "cause");
            const char *l[] = {"domain", ev_str(fail[i], "domain"), "cause", cause ? cause : "", NULL};
            series(b, seen, "mxdiag_log_destination_failures", l, f);
        }
        if (nf > SERVE_WATCH_TOP) {
            const char *l[] = {"domain", "(other)", "cause", "", NULL};
            series(b, seen, "mxdiag_log_destination_failures", l, other);
        }
        help(b, "mxdiag_log_destination_failing_since_timestamp_seconds", "gauge",
             "When a failing destination's current run of failures started (its first failure after its last success), for the same destinations by name.");
        for (size_t i = 0; i < nf && i < SERVE_WATCH_TOP; i++) {
            int64_t t = iso_time(ev_str(fail[i], "first_failure_since_success"));
            if (!t) t = iso_time(ev_str(fail[i], "first_failure"));
            if (!t) continue;
            const char *l[] = {"domain", ev_str(fail[i], "domain"), NULL};
            series(b, seen, "mxdiag_log_destination_failing_since_timestamp_seconds", l, (double)t);
        }
    }
    free(fail);
    mx_json_free(seen);
}

static void on_http(mx_http_req *r, void *ud) {
    serve *sv = ud;
    const char *path = mx_http_path(r), *method = mx_http_method(r);
    int ep = !strcmp(path, "/probe") ? 0 : !strcmp(path, "/metrics") ? 1 : 2;
    sv->requests[ep]++;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) { bad(sv, r, 405, "only GET%s", NULL); return; }
    if (ep == 0) { handle_probe(sv, r); return; }
    if (ep == 1) {
        mx_buf b = MX_BUF_INIT;
        write_metrics(sv, &b);
        if (sv->watch) write_watch_metrics(sv, &b);
        respond(sv, r, 200, "text/plain; version=0.0.4; charset=utf-8", mx_buf_cstr(&b));
        mx_buf_free(&b);
        return;
    }
    if (!strcmp(path, "/")) {
        respond(sv, r, 200, "text/plain; charset=utf-8",
                "mxdiag serve: /probe?target=DOMAIN&module=NAME (a diagnosis as metrics), /metrics (the exporter's own; "
                "with --watch the log-derived series)\n");
        return;
    }
    bad(sv, r, 404, "no such endpoint (/probe, /metrics)%s", NULL);
}

/* ------------------------------------------------------------ command */

static void serve_usage(FILE *f) {
    fputs("Usage: mxdiag serve [--listen ADDR:PORT] [--allow-target SUFFIX]... [--max-probes N] [--max-rate N]\n"
          "                    [--watch [--watch-file FILE]... [WATCH OPTIONS]] [check options]\n"
          "A Prometheus exporter: GET /probe?target=DOMAIN&module=NAME runs one diagnosis and answers its metrics;\n"
          "GET /metrics answers the exporter's own and, with --watch, the log-derived series.\n"
          "  --listen ADDR:PORT    where to listen (default " SERVE_DEFAULT_LISTEN "; [V6]:PORT for IPv6)\n"
          "  --allow-target SUFFIX only probe targets equal to or under SUFFIX (repeatable; also serve_targets: in\n"
          "                        the configuration file). Without it anyone who reaches the port can make this\n"
          "                        host connect anywhere: keep it on loopback or set an allow-list.\n"
          "  --max-probes N        diagnoses at once (default 8); beyond it 503\n"
          "  --max-rate N          diagnoses started per second (default 10; 0: no bound); beyond it 429\n"
          "  --probe-timeout S     a probe's deadline in seconds (default 30; a module's timeout:, the timeout=\n"
          "                        parameter and X-Prometheus-Scrape-Timeout-Seconds lower it)\n"
          "  --watch               also follow the mail log as `mxdiag watch` does (no live checks: /probe is\n"
          "                        the live check) and serve the log-derived series on /metrics\n"
          "  --watch-file FILE     the log to follow (repeatable; implies --watch; default: watch's, the first\n"
          "                        of /var/log/mail.log, /var/log/maillog, /var/log/exim4/mainlog,\n"
          "                        /var/log/exim/main.log that exists)\n"
          "  --window DUR, --interval DUR, --max-lines N, --from WHEN, --utc   as for mxdiag watch\n"
          "  --watch-output FILE   append watch's events (JSON lines) to FILE; default: none\n"
          "  --rules-dir DIR       site rules for the probes and the logs rules alike\n"
          "SIGHUP reopens the followed files and the events' file.\n"
          "Modules are the configuration file's modules: map, e.g. modules: {smtp: {only: [mx, tcp, smtp], timeout: 5}}.\n"
          "Every option of `mxdiag check` applies to every probe (--timeout, --resolver, --allow-reserved, ...).\n",
          f);
}

static int parse_listen(const char *s, char *addr, size_t n, int *port) {
    const char *colon;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':') return -1;
        if ((size_t)(close - s - 1) >= n) return -1;
        memcpy(addr, s + 1, (size_t)(close - s - 1));
        addr[close - s - 1] = 0;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= n) return -1;
        memcpy(addr, s, (size_t)(colon - s));
        addr[colon - s] = 0;
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || p < 0 || p > 65535) return -1;
    *port = (int)p;
    return 0;
}

static void stop_tick(mx_loop *loop, void *ud);
static mx_timer *tick;
static void stop_tick(mx_loop *loop, void *ud) {
    serve *sv = ud;
    tick = NULL;
    if (serve_stop) mx_rt_stop(sv->setup.rt);
    tick = mx_loop_timer(loop, 100, stop_tick, sv);
}

/* serve --watch: watch's turn, from the loop (HTTP answers wait at most one turn) */
static mx_timer *watch_tick;
static void on_watch_tick(mx_loop *loop, void *ud) {
    serve *sv = ud;
    watch_tick = NULL;
    if (serve_hup) {
        serve_hup = 0;
        mx_watch_reopen(sv->watch);
        fprintf(stderr, "mxdiag serve: SIGHUP: followed files reopened\n");
    }
    mx_watch_step(sv->watch);
    watch_tick = mx_loop_timer(loop, SERVE_WATCH_TICK_MS, on_watch_tick, sv);
}

int mx_cmd_serve(int argc, char **argv) {
    serve sv;
    memset(&sv, 0, sizeof sv);
    sv.max_probes = 8;
    sv.max_rate = 10;
    sv.default_timeout = 30;
    const char *listen = SERVE_DEFAULT_LISTEN;
    mx_argv rest = {0};
    mx_argv_push(&rest, "serve");
    mx_watch *w = mx_watch_new("mxdiag serve", 0);
    int watching = 0;
    const char **wpaths = mx_xcalloc((size_t)argc + 1, sizeof *wpaths);
    size_t nwp = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int took = mx_watch_option(w, argc, argv, &i, "--watch-output");
        if (took < 0) exit(3);
        if (took) {
            watching |= 2; /* a watch option: only with --watch */
            continue;
        }
        if (!strcmp(a, "--watch")) {
            watching |= 1;
            continue;
        }
        if (!strcmp(a, "--watch-file")) {
            if (i + 1 >= argc) mx_cli_cmd_usage_error("serve", "option %s needs a value", a);
            wpaths[nwp++] = argv[++i];
            watching |= 1;
            continue;
        }
        if (mx_logs_judge_option(a)) { /* for the probes and the logs rules alike */
            char *v = !strchr(a, '=') && mx_check_opt_takes_value(a) && i + 1 < argc ? argv[i + 1] : NULL;
            mx_watch_rule_option(w, argv[i], v);
        }
        const char *val = NULL;
        const char *names[] = {"--listen", "--allow-target", "--max-probes", "--max-rate", "--probe-timeout", NULL};
        int which = -1;
        for (int k = 0; names[k]; k++) {
            size_t l = strlen(names[k]);
            if (!strncmp(a, names[k], l) && (a[l] == 0 || a[l] == '=')) {
                which = k;
                if (a[l] == '=') val = a + l + 1;
                else if (i + 1 < argc) val = argv[++i];
                else mx_cli_cmd_usage_error("serve", "option %s needs a value", names[k]);
                break;
            }
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { serve_usage(stdout); return 0; }
        if (which < 0) {
            mx_argv_push(&rest, a);
            if (a[0] == '-' && !strchr(a, '=') && mx_check_opt_takes_value(a) && i + 1 < argc) mx_argv_push(&rest, argv[++i]);
            continue;
        }
        char *end;
        double d;
        switch (which) {
        case 0: listen = val; break;
        case 1: {
            mx_target t;
            const char *why;
            if (mx_target_parse(val, &t, &why) != 0 || t.kind == MX_TARGET_ADDRESS)
                mx_cli_cmd_usage_error("serve", "--allow-target %s: expected a domain name (suffix)", val);
            mx_sl_push(&sv.allow, mx_xstrdup(t.domain));
            break;
        }
        case 2:
            errno = 0;
            d = strtod(val, &end);
            if (errno || *end || d < 1 || d > 1000 || d != (int)d) mx_cli_cmd_usage_error("serve", "--max-probes %s: expected 1 to 1000", val);
            sv.max_probes = (int)d;
            break;
        case 3:
            errno = 0;
            d = strtod(val, &end);
            if (errno || *end || !isfinite(d) || d < 0 || d > 10000) mx_cli_cmd_usage_error("serve", "--max-rate %s: expected 0 to 10000 per second", val);
            sv.max_rate = d;
            break;
        case 4:
            if (parse_seconds(val, &sv.default_timeout) != 0) mx_cli_cmd_usage_error("serve", "--probe-timeout %s: expected seconds, more than 0 and at most 600", val);
            break;
        }
    }
    if (watching == 2) mx_cli_cmd_usage_error("serve", "%s", "--window, --interval, --max-lines, --from, --utc and --watch-output go with --watch");
    char addr[128];
    int port = 0;
    if (parse_listen(listen, addr, sizeof addr, &port) != 0)
        mx_cli_cmd_usage_error("serve", "--listen %s: expected ADDR:PORT or [V6]:PORT", listen);
    /* the configuration file: modules:, serve_targets:, and check's settings under the command line's */
    if (mx_config_settings) {
        sv.modules = mx_json_get(mx_config_settings, "modules");
        const mx_json *st = mx_json_get(mx_config_settings, "serve_targets");
        if (!sv.allow.n)
            for (size_t i = 0; st && st->type == MX_JARR && i < st->u.c.len; i++)
                mx_sl_push(&sv.allow, mx_xstrdup(st->u.c.items[i]->u.str.s));
    }
    mx_argv full = {0};
    mx_argv_push(&full, "serve");
    mx_settings_to_args(mx_config_settings, rest.n, rest.v, &full, NULL);
    for (int i = 1; i < rest.n; i++) mx_argv_push(&full, rest.v[i]);
    mx_check_setup_new(full.n, full.v, &sv.setup);
    if (sv.setup.nrest) mx_cli_cmd_usage_error("serve", "unexpected argument %s (targets come with each /probe request)", sv.setup.rest[0]);
    for (size_t i = 0; sv.modules && sv.modules->type == MX_JOBJ && i < sv.modules->u.c.len; i++) {
        const mx_json *m = sv.modules->u.c.items[i];
        if ((mx_json_get(m, "only") || mx_json_get(m, "skip")) && mx_rt_check_selects(sv.setup.rt, m) == 0)
            mx_cli_cmd_usage_error("serve", "module %s selects no rule (only:/skip:)", sv.modules->u.c.keys[i]);
    }
    mx_loop *loop = mx_rt_loop(sv.setup.rt);
    char err[512];
    sv.http = mx_http_new(loop, addr, port, on_http, &sv, err, sizeof err);
    if (!sv.http) {
        fprintf(stderr, "mxdiag serve: %s\n", err);
        return 3;
    }
    if (watching & 1) {
        if (mx_watch_start(w, wpaths, nwp) != 0) {
            mx_http_free(sv.http);
            return 3;
        }
        sv.watch = w;
        watch_tick = mx_loop_timer(loop, SERVE_WATCH_TICK_MS, on_watch_tick, &sv);
    }
    sv.tokens = sv.max_rate < 1 ? 1 : sv.max_rate;
    sv.tokens_ms = mx_now_ms();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "mxdiag serve: listening on %s%s%s:%d%s\n", strchr(addr, ':') ? "[" : "", addr,
            strchr(addr, ':') ? "]" : "", mx_http_port(sv.http), sv.allow.n ? "" : " (no target allow-list)");
    tick = mx_loop_timer(loop, 100, stop_tick, &sv);
    /* The runtime's scheduler runs while checks are active; between them
     * the loop alone serves HTTP. */
    while (!serve_stop) {
        if (sv.inflight) mx_rt_run(sv.setup.rt);
        else mx_loop_run_once(loop, 1000);
    }
    /* SIGTERM: no new connections; probes running finish (each within its
     * deadline); a second signal answers them at once as timed out. */
    mx_http_quiesce(sv.http);
    int stage = serve_stop;
    while (sv.inflight || mx_http_pending(sv.http)) {
        if (serve_stop > stage) {
            for (probe *p = sv.probes; p; p = p->next)
                if (p->req) { sv.probes_timed_out++; probe_answer(p, NULL); }
            mx_loop_run_once(loop, 100);
            break;
        }
        if (sv.inflight) mx_rt_run(sv.setup.rt);
        else mx_loop_run_once(loop, 100);
    }
    for (int i = 0; i < 5; i++) mx_loop_run_once(loop, 10); /* the last answers out */
    if (tick) mx_timer_cancel(loop, tick);
    if (watch_tick) mx_timer_cancel(loop, watch_tick);
    watch_tick = NULL;
    if (sv.watch) mx_watch_finish(sv.watch); /* the events still pending go to --watch-output */
    mx_http_free(sv.http);
    fprintf(stderr, "mxdiag serve: stopped\n");
    if (sv.inflight) return 0; /* the runtime still has checks: left to the process exit */
    for (probe *p = sv.probes, *n; p; p = n) { n = p->next; free(p); }
    mx_check_setup_free(&sv.setup);
    mx_argv_release(&full); /* after the setup: its options point into it */
    mx_argv_release(&rest);
    for (size_t i = 0; i < sv.allow.n; i++) free((char *)sv.allow.v[i]);
    free(sv.allow.v);
    mx_watch_free(w);
    free(wpaths);
    return 0;
}
