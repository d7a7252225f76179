/* Output formats on top of mxdiag.check/1 documents: see formats.h. */
#include "formats.h"
#include "escape.h"
#include "verdict.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

static const char *doc_domain(const mx_json *doc) {
    const mx_json *t = mx_json_get(doc, "target");
    const char *s = mx_json_get_str(t, "input");
    return s ? s : "";
}
static const char *doc_status(const mx_json *doc) {
    const char *s = mx_json_get_str(doc, "status");
    return s ? s : "unknown";
}
static long long doc_int(const mx_json *doc, const char *key) {
    const mx_json *v = mx_json_get(doc, key);
    if (!v) return 0;
    return v->type == MX_JINT ? v->u.i : v->type == MX_JNUM ? (long long)v->u.n : 0;
}
static const mx_json *doc_findings(const mx_json *doc) {
    const mx_json *f = mx_json_get(doc, "findings");
    return f && f->type == MX_JARR ? f : NULL;
}

int mx_status_index(const char *status) {
    /* one strcmp: the names differ in their first byte */
    switch (status[0]) {
    case 'o': return strcmp(status, "ok") ? 3 : 0;
    case 'w': return strcmp(status, "warn") ? 3 : 1;
    case 'c': return strcmp(status, "crit") ? 3 : 2;
    default: return 3;
    }
}

static int sev_rank(const char *s) {
    if (!s) return 0;
    /* one strcmp: the names differ in their first byte */
    switch (s[0]) {
    case 'c': return strcmp(s, "crit") ? 0 : 4;
    case 'w': return strcmp(s, "warn") ? 0 : 3;
    case 'u': return strcmp(s, "unknown") ? 0 : 2;
    case 'i': return strcmp(s, "info") ? 0 : 1;
    default: return 0;
    }
}

/* ------------------------------------------------------------ per domain */

void mx_fmt_jsonl(mx_buf *b, mx_json *doc, size_t index) {
    mx_json_set(doc, "index", mx_json_int((long long)index));
    mx_json_write(b, doc, -1);
    mx_buf_putc(b, '\n');
}

void mx_fmt_csv_header(mx_buf *b) {
    mx_buf_puts(b, "index,domain,status,exit_code,duration_ms,crit,warn,unknown,codes\r\n");
}

void mx_fmt_csv_row(mx_buf *b, const mx_json *doc, size_t index) {
    int n[5] = {0};
    mx_buf codes = MX_BUF_INIT;
    const mx_json *f = doc_findings(doc);
    for (size_t i = 0; f && i < f->u.c.len; i++) {
        const char *sev = mx_json_get_str(f->u.c.items[i], "severity");
        const char *code = mx_json_get_str(f->u.c.items[i], "code");
        int r = sev_rank(sev);
        n[r]++;
        if (r >= 2 && code) {
            /* distinct problem codes, in report order */
            int dup = 0;
            for (size_t k = 0; k < i && !dup; k++) {
                const mx_json *o = f->u.c.items[k];
                dup = sev_rank(mx_json_get_str(o, "severity")) >= 2 && mx_json_get_str(o, "code") &&
                      !strcmp(mx_json_get_str(o, "code"), code);
            }
            if (!dup) { if (codes.len) mx_buf_putc(&codes, ' '); mx_buf_puts(&codes, code); }
        }
    }
    mx_buf_printf(b, "%zu,", index);
    mx_esc_csv(b, doc_domain(doc));
    mx_buf_printf(b, ",%s,%lld,%lld,%d,%d,%d,", doc_status(doc), doc_int(doc, "exit_code"), doc_int(doc, "duration_ms"),
                  n[4], n[3], n[2]);
    mx_esc_csv(b, mx_buf_cstr(&codes));
    mx_buf_puts(b, "\r\n");
    mx_buf_free(&codes);
}

/* Perfdata per MX address, as check_smtp and check_ssl_cert give them:
 * connect, greeting and TLS handshake time, certificate days left (the
 * lowest per address). Read from the findings' evidence (tcp.connected
 * elapsed_ms, smtp.greeting_* elapsed_ms, tls.* handshake_ms and days_left). */
typedef struct { const char *label; long long connect, greeting, tls, days; } mx_perf;
static mx_perf *perf_for(mx_perf *p, size_t *n, size_t cap, const char *label) {
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(p[i].label, label)) return &p[i];
    if (*n == cap) return NULL;
    p[*n] = (mx_perf){label, -1, -1, -1, -1};
    return &p[(*n)++];
}
static long long ev_int(const mx_json *ev, const char *key) {
    const mx_json *v = mx_json_get(ev, key);
    return v && v->type == MX_JINT ? v->u.i : v && v->type == MX_JNUM ? (long long)v->u.n : -1;
}
static void nagios_perfdata(mx_buf *b, const mx_json *f) {
    enum { CAP = 64 };
    mx_perf p[CAP];
    size_t n = 0;
    mx_buf labels = MX_BUF_INIT; /* host[address]:port, NUL-separated, stable storage */
    char *store[CAP];
    size_t nstore = 0;
    for (size_t i = 0; f && i < f->u.c.len; i++) {
        const mx_json *x = f->u.c.items[i], *ev = mx_json_get(x, "evidence");
        const char *code = mx_json_get_str(x, "code"), *addr = mx_json_get_str(ev, "address");
        if (!code || !addr) continue;
        int tcp = !strcmp(code, "tcp.connected"), greet = !strncmp(code, "smtp.greeting_", 14), tls = !strncmp(code, "tls.", 4);
        if (!tcp && !greet && !tls) continue;
        const char *host = mx_json_get_str(ev, "host");
        long long port = ev_int(ev, "port");
        mx_buf_reset(&labels);
        mx_buf_printf(&labels, "%s[%s]", host ? host : "", addr);
        if (port > 0) mx_buf_printf(&labels, ":%lld", port);
        const char *key = NULL;
        for (size_t k = 0; k < nstore; k++) if (!strcmp(store[k], mx_buf_cstr(&labels))) key = store[k];
        if (!key) {
            if (nstore == CAP) continue;
            key = store[nstore++] = mx_xstrdup(mx_buf_cstr(&labels));
        }
        mx_perf *e = perf_for(p, &n, CAP, key);
        if (!e) continue;
        if (tcp && ev_int(ev, "elapsed_ms") >= 0) e->connect = ev_int(ev, "elapsed_ms");
        if (greet && ev_int(ev, "elapsed_ms") >= 0) e->greeting = ev_int(ev, "elapsed_ms");
        if (tls && ev_int(ev, "handshake_ms") >= 0) e->tls = ev_int(ev, "handshake_ms");
        long long d = tls ? mx_json_get(ev, "days_left") ? ev_int(ev, "days_left") : -1 : -1;
        if (tls && mx_json_get(ev, "days_left") && (e->days < 0 || d < e->days)) e->days = d;
    }
    static const char *const what[] = {"connect", "greeting", "tls"};
    for (size_t i = 0; i < n; i++) {
        long long v[3] = {p[i].connect, p[i].greeting, p[i].tls};
        for (int k = 0; k < 3; k++) {
            if (v[k] < 0) continue;
            mx_buf_reset(&labels);
            mx_buf_printf(&labels, "%s %s", p[i].label, what[k]);
            mx_buf_putc(b, ' ');
            mx_esc_nagios_label(b, mx_buf_cstr(&labels));
            mx_buf_printf(b, "=%lldms", v[k]);
        }
        if (p[i].days != -1) {
            mx_buf_reset(&labels);
            mx_buf_printf(&labels, "%s cert_days", p[i].label);
            mx_buf_putc(b, ' ');
            mx_esc_nagios_label(b, mx_buf_cstr(&labels));
            mx_buf_printf(b, "=%lld", p[i].days);
        }
    }
    for (size_t k = 0; k < nstore; k++) free(store[k]);
    mx_buf_free(&labels);
}

void mx_fmt_nagios(mx_buf *b, const mx_json *doc) {
    static const char *const names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};
    static const mx_severity sevs[] = {MX_SEV_OK, MX_SEV_WARN, MX_SEV_CRIT, MX_SEV_UNKNOWN};
    long long code = doc_int(doc, "exit_code");
    if (code < 0 || code > 3) code = 3;
    int n[5] = {0};
    const mx_json *f = doc_findings(doc);
    size_t nf = f ? f->u.c.len : 0;
    for (size_t i = 0; i < nf; i++) n[sev_rank(mx_json_get_str(f->u.c.items[i], "severity"))]++;
    long pick = mx_verdict_pick((const mx_json *const *)(f ? f->u.c.items : NULL), nf, sevs[code]);
    const mx_json *v = pick >= 0 ? f->u.c.items[pick] : NULL;
    /* the status line is one line and '|' starts the perfdata */
    mx_buf_printf(b, "MXDIAG %s - ", names[code]);
    mx_esc_nagios(b, doc_domain(doc));
    if (v) {
        mx_buf t = MX_BUF_INIT;
        mx_verdict_text(&t, v);
        mx_buf_puts(b, ": ");
        mx_esc_nagios(b, mx_buf_cstr(&t));
        mx_buf_free(&t);
    }
    int others = n[4] + n[3] + n[2] - (v && mx_verdict_rank(v) > 0);
    if (others > 0) mx_buf_printf(b, " (+%d more problem%s)", others, others == 1 ? "" : "s");
    mx_buf_printf(b, " | crit=%d warn=%d unknown=%d findings=%zu time=%.3fs", n[4], n[3], n[2], nf,
                  (double)doc_int(doc, "duration_ms") / 1000.0);
    nagios_perfdata(b, f);
    mx_buf_putc(b, '\n');
}

/* A usage error under --format nagios: the plugin line on stdout (a
 * monitoring system shows "(No output)" otherwise), exit 3 by the caller. */
void mx_fmt_nagios_usage(mx_buf *b, const char *message) {
    mx_buf_puts(b, "MXDIAG UNKNOWN - usage: ");
    mx_esc_nagios(b, message ? message : "");
    mx_buf_putc(b, '\n');
}

/* ------------------------------------------------------------ totals */

/* exit-code order of a status: crit > warn > unknown > ok */
static int status_rank(const char *status) {
    int i = mx_status_index(status);
    return i == 2 ? 3 : i == 1 ? 2 : i == 3 ? 1 : 0;
}

/* Keeps the MX_STATS_FAILING worst domains: a worse one replaces the last
 * of the least bad (the list stays sorted: rank descending, then seq). */
static void failing_add(mx_batch_stats *s, const mx_json *doc) {
    int rank = status_rank(doc_status(doc));
    if (rank == 0) return;
    s->failing_total++;
    if (s->nfailing == MX_STATS_FAILING && s->failing[s->nfailing - 1].rank >= rank) return;
    int i = s->nfailing < MX_STATS_FAILING ? s->nfailing++ : MX_STATS_FAILING - 1;
    while (i > 0 && s->failing[i - 1].rank < rank) { s->failing[i] = s->failing[i - 1]; i--; }
    snprintf(s->failing[i].domain, sizeof s->failing[i].domain, "%s", doc_domain(doc));
    /* the first finding as bad as the status: what the domain is failing on */
    const mx_json *f = doc_findings(doc);
    const char *code = NULL;
    int want = sev_rank(doc_status(doc)), best = -1;
    for (size_t k = 0; f && k < f->u.c.len; k++) {
        int r = sev_rank(mx_json_get_str(f->u.c.items[k], "severity"));
        const char *c = mx_json_get_str(f->u.c.items[k], "code");
        if (c && r > best && r <= want) { best = r; code = c; }
        if (best == want) break;
    }
    snprintf(s->failing[i].code, sizeof s->failing[i].code, "%s", code ? code : mx_json_get_str(doc, "error") ? "error" : "");
    s->failing[i].rank = rank;
    s->failing[i].seq = s->done;
}

void mx_stats_add(mx_batch_stats *s, const mx_json *doc) {
    s->done++;
    s->by_status[mx_status_index(doc_status(doc))]++;
    long long ms = doc_int(doc, "duration_ms");
    s->duration_sum_s += (double)ms / 1000.0;
    const mx_json *f = doc_findings(doc);
    /* each finding's code looked up once (the check for a repeat compares
     * it with all before it) */
    size_t nf = f ? f->u.c.len : 0;
    const char *small[32], **codes = nf <= 32 ? small : mx_xmalloc(nf * sizeof *codes);
    for (size_t i = 0; i < nf; i++) {
        const char *code = codes[i] = mx_json_get_str(f->u.c.items[i], "code");
        if (!code) continue;
        int sev = sev_rank(mx_json_get_str(f->u.c.items[i], "severity"));
        mx_code_count *cnt = mx_strmap_get(&s->codes, code);
        if (!cnt) { cnt = mx_xcalloc(1, sizeof *cnt); mx_strmap_put(&s->codes, code, cnt); }
        if (sev > cnt->worst) cnt->worst = sev;
        /* count domains, not findings: a code seen twice in one domain counts once */
        int dup = 0;
        for (size_t k = 0; k < i && !dup; k++) dup = codes[k] && !strcmp(codes[k], code);
        if (!dup) cnt->domains++;
    }
    if (codes != small) free(codes);
    failing_add(s, doc);
    /* slowest: a small sorted array */
    if (s->nslowest < MX_STATS_SLOWEST || ms > s->slowest[s->nslowest - 1].ms) {
        int i = s->nslowest < MX_STATS_SLOWEST ? s->nslowest++ : MX_STATS_SLOWEST - 1;
        while (i > 0 && s->slowest[i - 1].ms < ms) { s->slowest[i] = s->slowest[i - 1]; i--; }
        snprintf(s->slowest[i].domain, sizeof s->slowest[i].domain, "%s", doc_domain(doc));
        s->slowest[i].ms = ms;
    }
}

void mx_stats_free(mx_batch_stats *s) { mx_strmap_free(&s->codes, free); }

typedef struct code_count { const char *code; long long n; int worst; } code_count;
static void collect_code(const char *key, void *val, void *ud) {
    mx_buf *arr = ud;
    const mx_code_count *c = val;
    code_count cc = {key, c->domains, c->worst};
    mx_buf_put(arr, &cc, sizeof cc);
}
static int cc_cmp(const void *a, const void *b) {
    const code_count *x = a, *y = b;
    if (x->n != y->n) return x->n < y->n ? 1 : -1;
    return strcmp(x->code, y->code);
}
/* The codes sorted by count (descending), then name. Caller frees. */
static code_count *sorted_codes(const mx_batch_stats *s, size_t *n) {
    mx_buf arr = MX_BUF_INIT;
    mx_strmap_each(&s->codes, collect_code, &arr);
    *n = arr.len / sizeof(code_count);
    code_count *cc = (code_count *)(void *)arr.data;
    if (*n) qsort(cc, *n, sizeof *cc, cc_cmp);
    return cc;
}

void mx_fmt_summary(mx_buf *b, const mx_batch_stats *s, double elapsed_s, int interrupted, int lists_all) {
    /* under a second, milliseconds: "13 domains in 0.0 s (1857/s)" disagrees with itself */
    mx_buf_printf(b, "mxdiag batch: %lld domain%s checked in %.*f s (%.0f/s)%s\n", s->done, s->done == 1 ? "" : "s",
                  elapsed_s < 1 ? 3 : 1, elapsed_s, elapsed_s > 0 ? (double)s->done / elapsed_s : 0.0,
                  interrupted ? ", INTERRUPTED" : "");
    mx_buf_printf(b, "  status    ok %lld   warn %lld   crit %lld   unknown %lld", s->by_status[0], s->by_status[1],
                  s->by_status[2], s->by_status[3]);
    if (s->bad_entries) mx_buf_printf(b, "   bad entries %lld", s->bad_entries);
    mx_buf_putc(b, '\n');
    static const char *const st[] = {"ok", "unknown", "warn", "crit"};
    if (s->nfailing)
        mx_buf_printf(b, "  failing domains (worst first%s)\n", s->failing_total > s->nfailing ? ", the first ones" : "");
    for (int i = 0; i < s->nfailing; i++) {
        mx_buf d = MX_BUF_INIT, c = MX_BUF_INIT;
        mx_esc_text(&d, s->failing[i].domain, 0);
        mx_esc_text(&c, s->failing[i].code, 0);
        mx_buf_printf(b, "    %-7s %-40s %s\n", st[s->failing[i].rank], mx_buf_cstr(&d), mx_buf_cstr(&c));
        mx_buf_free(&d);
        mx_buf_free(&c);
    }
    if (s->failing_total > s->nfailing)
        mx_buf_printf(b, "    ... and %lld more (%s)\n", s->failing_total - s->nfailing,
                      lists_all ? "the output has every domain" : "--format jsonl or csv lists every domain");
    size_t n, shown = 0;
    code_count *cc = sorted_codes(s, &n);
    for (size_t i = 0; i < n && shown < 15; i++) {
        if (cc[i].worst < 2) continue; /* ok and info codes are no problem to rank */
        if (!shown++) mx_buf_puts(b, "  most frequent problem codes (domains)\n");
        mx_buf c = MX_BUF_INIT;
        mx_esc_text(&c, cc[i].code, 0);
        mx_buf_printf(b, "    %-28s %lld\n", mx_buf_cstr(&c), cc[i].n);
        mx_buf_free(&c);
    }
    free(cc);
    if (s->nslowest) mx_buf_puts(b, "  slowest\n");
    for (int i = 0; i < s->nslowest; i++) {
        mx_buf d = MX_BUF_INIT;
        mx_esc_text(&d, s->slowest[i].domain, 0);
        mx_buf_printf(b, "    %-40s %lld ms\n", mx_buf_cstr(&d), s->slowest[i].ms);
        mx_buf_free(&d);
    }
}

void mx_fmt_prom_head(mx_buf *b, const char *family) {
    if (!strcmp(family, "status"))
        mx_buf_puts(b, "# HELP mxdiag_domain_status Delivery diagnosis per domain: 0 ok, 1 warn, 2 crit, 3 unknown.\n"
                       "# TYPE mxdiag_domain_status gauge\n");
    else
        mx_buf_puts(b, "# HELP mxdiag_domain_check_duration_seconds Time the diagnosis of the domain took.\n"
                       "# TYPE mxdiag_domain_check_duration_seconds gauge\n");
}

void mx_fmt_prom_domain(mx_buf *status_fam, mx_buf *duration_fam, const mx_json *doc) {
    mx_buf_puts(status_fam, "mxdiag_domain_status{domain=");
    mx_esc_prom_label(status_fam, doc_domain(doc));
    mx_buf_printf(status_fam, "} %lld\n", doc_int(doc, "exit_code"));
    mx_buf_puts(duration_fam, "mxdiag_domain_check_duration_seconds{domain=");
    mx_esc_prom_label(duration_fam, doc_domain(doc));
    mx_buf_printf(duration_fam, "} %.3f\n", (double)doc_int(doc, "duration_ms") / 1000.0);
}

void mx_fmt_prom_totals(mx_buf *b, const mx_batch_stats *s, double elapsed_s, double now_s) {
    static const char *const st[] = {"ok", "warn", "crit", "unknown"};
    mx_buf_puts(b, "# HELP mxdiag_batch_domains Domains checked, by status.\n# TYPE mxdiag_batch_domains gauge\n");
    for (int i = 0; i < 4; i++) mx_buf_printf(b, "mxdiag_batch_domains{status=\"%s\"} %lld\n", st[i], s->by_status[i]);
    mx_buf_puts(b, "# HELP mxdiag_batch_bad_entries Entries of the list that could not be read.\n"
                   "# TYPE mxdiag_batch_bad_entries gauge\n");
    mx_buf_printf(b, "mxdiag_batch_bad_entries %lld\n", s->bad_entries);
    mx_buf_puts(b, "# HELP mxdiag_batch_code_domains Domains with at least one finding of the code.\n"
                   "# TYPE mxdiag_batch_code_domains gauge\n");
    size_t n;
    code_count *cc = sorted_codes(s, &n);
    for (size_t i = 0; i < n; i++) {
        mx_buf_puts(b, "mxdiag_batch_code_domains{code=");
        mx_esc_prom_label(b, cc[i].code);
        mx_buf_printf(b, "} %lld\n", cc[i].n);
    }
    free(cc);
    mx_buf_puts(b, "# HELP mxdiag_batch_duration_seconds Wall time of the batch run.\n"
                   "# TYPE mxdiag_batch_duration_seconds gauge\n");
    mx_buf_printf(b, "mxdiag_batch_duration_seconds %.3f\n", elapsed_s);
    mx_buf_puts(b, "# HELP mxdiag_batch_last_run_timestamp_seconds When the batch run finished.\n"
                   "# TYPE mxdiag_batch_last_run_timestamp_seconds gauge\n");
    mx_buf_printf(b, "mxdiag_batch_last_run_timestamp_seconds %.0f\n", now_s);
}
