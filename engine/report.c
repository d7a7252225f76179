#include "report.h"
#include "escape.h"
#include "termtext.h"
#include "verdict.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *sev_names[] = {"ok", "info", "unknown", "warn", "crit"};

int mx_severity_parse(const char *s, mx_severity *out) {
    for (int i = 0; i < 5; i++)
        if (strcmp(s, sev_names[i]) == 0) { *out = (mx_severity)i; return 0; }
    return -1;
}
const char *mx_severity_name(mx_severity s) { return sev_names[s]; }
int mx_severity_exit(mx_severity s) {
    switch (s) {
    case MX_SEV_OK: case MX_SEV_INFO: return 0;
    case MX_SEV_WARN: return 1;
    case MX_SEV_CRIT: return 2;
    case MX_SEV_UNKNOWN: return 3;
    }
    return 3;
}
const char *mx_status_name(mx_severity s) {
    switch (s) {
    case MX_SEV_OK: case MX_SEV_INFO: return "ok";
    case MX_SEV_WARN: return "warn";
    case MX_SEV_CRIT: return "crit";
    case MX_SEV_UNKNOWN: return "unknown";
    }
    return "unknown";
}

void mx_report_add(mx_report *r, int rule_order, mx_severity sev, mx_json *obj) {
    if (r->len == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->items = mx_xrealloc(r->items, r->cap * sizeof *r->items);
    }
    mx_finding *f = &r->items[r->len++];
    f->rule_order = rule_order;
    f->seq = r->seq++;
    f->severity = sev;
    f->obj = obj;
    f->in_arena = 0;
}
void mx_report_add_arena(mx_report *r, int rule_order, mx_severity sev, mx_json *obj) {
    mx_report_add(r, rule_order, sev, obj);
    r->items[r->len - 1].in_arena = 1;
}

void mx_report_free(mx_report *r) {
    for (size_t i = 0; i < r->len; i++)
        if (!r->items[i].in_arena) mx_json_free(r->items[i].obj);
    free(r->items);
    memset(r, 0, sizeof *r);
}

static int cmp_str_opt(const mx_json *a, const mx_json *b) {
    const char *sa = a && a->type == MX_JSTR ? a->u.str.s : NULL;
    const char *sb = b && b->type == MX_JSTR ? b->u.str.s : NULL;
    if (!sa && !sb) return 0;
    if (!sa) return -1;
    if (!sb) return 1;
    return strcmp(sa, sb);
}
static long long num_or(const mx_json *v, long long dflt) {
    if (v && v->type == MX_JINT) return v->u.i;
    if (v && v->type == MX_JNUM) return (long long)v->u.n;
    return dflt;
}
/* IPv4 before IPv6, then text order: stable and readable. */
static int cmp_addr(const mx_json *a, const mx_json *b) {
    const char *sa = a && a->type == MX_JSTR ? a->u.str.s : NULL;
    const char *sb = b && b->type == MX_JSTR ? b->u.str.s : NULL;
    if (!sa || !sb) return cmp_str_opt(a, b);
    int va = strchr(sa, ':') != NULL, vb = strchr(sb, ':') != NULL;
    if (va != vb) return va - vb;
    return strcmp(sa, sb);
}

/* What the order looks at, read from a finding's tree once (a sort compares
 * each finding about log2(n) times; every look-up is a scan of keys). */
typedef struct finding_key {
    const mx_finding *f;
    const mx_json *host, *address, *code, *source, *zone, *subject;
    long long preference, port;
} finding_key;

static void finding_key_of(const mx_finding *f, finding_key *k) {
    const mx_json *e = mx_json_get(f->obj, "evidence");
    k->f = f;
    k->code = mx_json_get(f->obj, "code");
    /* the evidence's keys looked at once (an object's keys are distinct, so
     * this finds what mx_json_get would), not scanned once per key wanted */
    const mx_json *host = NULL, *address = NULL, *source = NULL, *zone = NULL, *subject = NULL, *pref = NULL, *port = NULL;
    for (size_t i = 0; e && e->type == MX_JOBJ && i < e->u.c.len; i++) {
        const char *key = e->u.c.keys[i];
        const mx_json *v = e->u.c.items[i];
        switch (key[0]) {
        case 'a': if (!address && !strcmp(key, "address")) address = v; break;
        case 'h': if (!host && !strcmp(key, "host")) host = v; break;
        case 'p':
            if (!pref && !strcmp(key, "preference")) pref = v;
            else if (!port && !strcmp(key, "port")) port = v;
            break;
        case 's':
            if (!source && !strcmp(key, "source")) source = v;
            else if (!subject && !strcmp(key, "subject")) subject = v;
            break;
        case 'z': if (!zone && !strcmp(key, "zone")) zone = v; break;
        default: break;
        }
    }
    k->host = host;
    k->address = address;
    k->source = source;
    k->zone = zone;
    k->subject = subject;
    k->preference = num_or(pref, 1LL << 40);
    k->port = num_or(port, 0);
}

static int finding_key_cmp(const finding_key *ka, const finding_key *kb) {
    const mx_finding *a = ka->f, *b = kb->f;
    int ga = ka->host != NULL, gb = kb->host != NULL;
    if (ga != gb) return ga - gb; /* domain-level first */
    if (ga) {
        if (ka->preference != kb->preference) return ka->preference < kb->preference ? -1 : 1;
        int c = cmp_str_opt(ka->host, kb->host);
        if (c) return c;
        /* a host-level finding without address comes before its addresses */
        c = cmp_addr(ka->address, kb->address);
        if (c) return c;
        if (ka->port != kb->port) return ka->port < kb->port ? -1 : 1;
    }
    if (a->rule_order != b->rule_order) return a->rule_order < b->rule_order ? -1 : 1;
    int c = cmp_str_opt(ka->code, kb->code);
    if (c) return c;
    c = cmp_addr(ka->address, kb->address);
    if (c) return c;
    c = cmp_str_opt(ka->source, kb->source);
    if (c) return c;
    c = cmp_str_opt(ka->zone, kb->zone);
    if (c) return c;
    c = cmp_str_opt(ka->subject, kb->subject);
    if (c) return c;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

int mx_finding_cmp(const mx_finding *a, const mx_finding *b) {
    finding_key ka, kb;
    finding_key_of(a, &ka);
    finding_key_of(b, &kb);
    return finding_key_cmp(&ka, &kb);
}

static int qcmp(const void *x, const void *y) { return finding_key_cmp(x, y); }
void mx_report_sort(mx_report *r) {
    if (r->len < 2) return;
    /* the keys sorted, then the findings put in their order (seq, the last
     * tie-breaker, makes the order total: qsort's instability cannot show) */
    /* a domain's few findings (most often in order already): on the stack,
     * by insertion (the order is total: the same result as qsort's) */
    enum { SMALL = 32 };
    finding_key ks[SMALL];
    mx_finding fs[SMALL];
    int small = r->len <= SMALL;
    finding_key *k = small ? ks : mx_xmalloc(r->len * sizeof *k);
    for (size_t i = 0; i < r->len; i++) finding_key_of(&r->items[i], &k[i]);
    if (small) {
        for (size_t i = 1; i < r->len; i++) {
            if (finding_key_cmp(&k[i - 1], &k[i]) <= 0) continue;
            finding_key x = k[i];
            size_t j = i;
            do { k[j] = k[j - 1]; j--; } while (j > 0 && finding_key_cmp(&k[j - 1], &x) > 0);
            k[j] = x;
        }
    } else qsort(k, r->len, sizeof *k, qcmp);
    mx_finding *sorted = small ? fs : mx_xmalloc(r->len * sizeof *sorted);
    for (size_t i = 0; i < r->len; i++) sorted[i] = *k[i].f;
    memcpy(r->items, sorted, r->len * sizeof *sorted);
    if (!small) {
        free(sorted);
        free(k);
    }
}

mx_severity mx_report_status(const mx_report *r) {
    /* crit > warn > unknown > ok/info */
    mx_severity worst = MX_SEV_OK;
    for (size_t i = 0; i < r->len; i++)
        if (r->items[i].severity > worst) worst = r->items[i].severity;
    if (worst == MX_SEV_INFO) worst = MX_SEV_OK;
    return worst;
}

static mx_json *report_json(mx_report *r, mx_json *target, long long duration_ms, mx_json *extra, int borrow);
mx_json *mx_report_json(mx_report *r, mx_json *target, long long duration_ms, mx_json *extra) {
    return report_json(r, target, duration_ms, extra, 0);
}
mx_json *mx_report_json_borrowed(mx_report *r, mx_json *target, long long duration_ms) {
    return report_json(r, target, duration_ms, NULL, 1);
}
void mx_report_json_release(mx_json *doc) {
    if (!doc) return;
    for (size_t i = 0; i < doc->u.c.len; i++) {
        if (!strcmp(doc->u.c.keys[i], "target")) doc->u.c.items[i] = NULL;
        if (!strcmp(doc->u.c.keys[i], "findings"))
            for (size_t k = 0; k < doc->u.c.items[i]->u.c.len; k++) doc->u.c.items[i]->u.c.items[k] = NULL;
    }
    mx_json_free(doc);
}

static mx_json *report_json(mx_report *r, mx_json *target, long long duration_ms, mx_json *extra, int borrow) {
    mx_report_sort(r);
    mx_severity st = mx_report_status(r);
    mx_json *o = mx_json_obj();
    mx_json_append(o, "schema", mx_json_str("mxdiag.check/1"));
    mx_json_append(o, "target", target);
    mx_json_append(o, "status", mx_json_str(mx_status_name(st)));
    mx_json_append(o, "exit_code", mx_json_int(mx_severity_exit(st)));
    mx_json_append(o, "duration_ms", mx_json_int(duration_ms));
    if (extra && extra->type == MX_JOBJ) {
        for (size_t i = 0; i < extra->u.c.len; i++)
            mx_json_set(o, extra->u.c.keys[i], mx_json_clone(extra->u.c.items[i]));
    }
    mx_json *arr = mx_json_arr();
    for (size_t i = 0; i < r->len; i++) mx_json_push(arr, borrow ? r->items[i].obj : mx_json_clone(r->items[i].obj));
    mx_json_set(o, "findings", arr);
    return o;
}

static const char *sev_colour(mx_severity s) {
    switch (s) {
    case MX_SEV_OK: return "\033[32m";
    case MX_SEV_INFO: return "\033[36m";
    case MX_SEV_UNKNOWN: return "\033[35m";
    case MX_SEV_WARN: return "\033[33m";
    case MX_SEV_CRIT: return "\033[1;31m";
    }
    return "";
}

static void put_scalar(mx_buf *out, const mx_json *v) {
    if (!v) return;
    switch (v->type) {
    case MX_JSTR: mx_buf_put(out, v->u.str.s, v->u.str.len); break;
    case MX_JINT: mx_buf_printf(out, "%lld", v->u.i); break;
    case MX_JNUM: mx_buf_printf(out, "%g", v->u.n); break;
    case MX_JBOOL: mx_buf_puts(out, v->u.b ? "yes" : "no"); break;
    case MX_JNULL: mx_buf_puts(out, "-"); break;
    default: mx_json_write(out, v, -1); break;
    }
}

/* One line of terminal text from outside (a name, a code), as a C string in
 * the caller's scratch buffer. */
static const char *esc1(mx_buf *scratch, const char *s) {
    mx_buf_reset(scratch);
    mx_esc_text(scratch, s, 0);
    return mx_buf_cstr(scratch);
}

/* Evidence as a person would write it: "key: value; key: value", lists
 * joined with ", ", objects as "key value, key value" in parentheses, an
 * empty list "none"; host and preference (the finding's heading) and conn
 * (an engine connection id) left out: internals stay in the JSON. */
static void put_human(mx_buf *out, const mx_json *v) {
    if (!v) return;
    if (v->type == MX_JARR) {
        if (!v->u.c.len) { mx_buf_puts(out, "none"); return; }
        for (size_t i = 0; i < v->u.c.len; i++) {
            if (i) mx_buf_puts(out, ", ");
            put_human(out, v->u.c.items[i]);
        }
    } else if (v->type == MX_JOBJ) {
        mx_buf_putc(out, '(');
        for (size_t i = 0; i < v->u.c.len; i++) {
            if (i) mx_buf_puts(out, ", ");
            mx_buf_printf(out, "%s ", v->u.c.keys[i]);
            put_human(out, v->u.c.items[i]);
        }
        mx_buf_putc(out, ')');
    } else put_scalar(out, v);
}
static void evidence_human(mx_buf *out, const mx_json *evd) {
    if (!evd || evd->type != MX_JOBJ) return;
    for (size_t k = 0; k < evd->u.c.len; k++) {
        const char *key = evd->u.c.keys[k];
        if (!strcmp(key, "host") || !strcmp(key, "preference") || !strcmp(key, "conn")) continue;
        if (out->len) mx_buf_puts(out, "; ");
        mx_buf_printf(out, "%s: ", key);
        put_human(out, evd->u.c.items[k]);
    }
}

/* Display order: problems by severity (crit, warn, unknown), a cause before
 * a conclusion of the same severity, then info, then ok; report order within. */
static int display_class(const mx_finding *f) {
    int concl = 0;
    const mx_json *c = mx_json_get(f->obj, "conclusion");
    if (c && c->type == MX_JBOOL && c->u.b) concl = 1;
    switch (f->severity) {
    case MX_SEV_CRIT: return 0 + concl;
    case MX_SEV_WARN: return 2 + concl;
    case MX_SEV_UNKNOWN: return 4 + concl;
    case MX_SEV_INFO: return 6;
    case MX_SEV_OK: return 7;
    }
    return 7;
}
static int disp_cmp(const void *x, const void *y) {
    const mx_finding *a = *(mx_finding *const *)x, *b = *(mx_finding *const *)y;
    int ca = display_class(a), cb = display_class(b);
    if (ca != cb) return ca - cb;
    return a < b ? -1 : a > b;
}

/* "host[address]" of an ok finding (the MX it is about), or the domain. */
static void ok_key(mx_buf *k, const mx_finding *f, const char *domain) {
    const mx_json *evd = mx_json_get(f->obj, "evidence");
    const char *host = mx_json_get_str(evd, "host"), *addr = mx_json_get_str(evd, "address");
    mx_buf_reset(k);
    if (host) mx_buf_puts(k, host);
    else mx_buf_puts(k, domain);
    if (addr) mx_buf_printf(k, "[%s]", addr);
}

static const char *const upper[] = {"OK", "INFO", "UNKNOWN", "WARNING", "CRITICAL"};

/* The verdict line (verdict.h) at the report's width: "STATUS TARGET: HOST: SUMMARY". */
static void verdict_line(mx_buf *out, const mx_finding *const *f, size_t n, mx_severity st, const char *name,
                         int colour, int width, int with_next) {
    const mx_json **objs = mx_xcalloc(n ? n : 1, sizeof *objs);
    /* (n is the report's length: the verdict is chosen in report order) */
    for (size_t i = 0; i < n; i++) objs[i] = f[i]->obj;
    long pick = mx_verdict_pick(objs, n, st);
    mx_buf t = MX_BUF_INIT;
    mx_buf_printf(&t, "%s: ", name);
    mx_verdict_text(&t, pick >= 0 ? objs[pick] : NULL);
    const char *word = upper[st == MX_SEV_INFO ? MX_SEV_OK : st];
    mx_buf_printf(out, "%s%s%s ", colour ? sev_colour(st) : "", word, colour ? "\033[0m" : "");
    /* mx_text_wrap escapes what it writes */
    mx_text_wrap(out, mx_buf_cstr(&t), (int)strlen(word) + 1, 2, width);
    mx_buf_putc(out, '\n');
    if (with_next && pick >= 0 && st != MX_SEV_OK && st != MX_SEV_INFO) {
        mx_buf_reset(&t);
        mx_verdict_next(&t, objs[mx_verdict_next_pick(objs, n, pick)]);
        if (t.len) {
            mx_buf_puts(out, "  -> ");
            mx_text_wrap(out, mx_buf_cstr(&t), 5, 5, width);
            mx_buf_putc(out, '\n');
        }
    }
    mx_buf_free(&t);
    free(objs);
}

void mx_report_text(mx_buf *out, mx_report *r, const mx_json *target, long long duration_ms, int colour) {
    mx_report_text_v(out, r, target, duration_ms, colour, 1);
}

void mx_report_text_v(mx_buf *out, mx_report *r, const mx_json *target, long long duration_ms, int colour,
                      int verbosity) {
    mx_report_sort(r);
    mx_severity st = mx_report_status(r);
    const char *reset = colour ? "\033[0m" : "";
    const char *bold = colour ? "\033[1m" : "";
    const char *dim = colour ? "\033[2m" : "";
    mx_buf e1 = MX_BUF_INIT, e2 = MX_BUF_INIT;
    int width = mx_text_width();
    /* summaries beside their code from 80 columns, under it when narrower */
    int sum_ind = width >= 80 ? 37 : 10;
    const char *input = mx_json_get_str(target, "input"), *uni = mx_json_get_str(target, "unicode");
    const char *ace = mx_json_get_str(target, "domain") ? mx_json_get_str(target, "domain") : mx_json_get_str(target, "host");
    const char *dom = mx_json_get_str(target, "domain");
    const char *name = input ? input : "?";
    mx_finding **disp = mx_xcalloc(r->len ? r->len : 1, sizeof *disp);
    for (size_t i = 0; i < r->len; i++) disp[i] = &r->items[i];
    size_t entries = 0; /* finding lines shown (the same at every width) */
    /* 1. the verdict, and (but for -q) the one next step */
    verdict_line(out, (const mx_finding *const *)disp, r->len, st, name, colour, width, verbosity >= 0);
    if (verbosity < 0) { free(disp); mx_buf_free(&e1); mx_buf_free(&e2); return; }
    /* 2. "name (kind)  status: X  [N ms]", an IDN in both forms; a break
     * before "status:" when that does not fit */
    const char *other = uni && ace ? (input && strcasecmp(input, uni) == 0 ? ace : uni) : NULL;
    mx_buf_putc(out, '\n');
    mx_buf_puts(out, bold);
    int col = mx_text_wrap(out, name, 0, 2, width);
    if (other) {
        mx_buf_reset(&e2);
        mx_buf_printf(&e2, " (%s %s)", other == uni ? "=" : "IDNA", other);
        col = mx_text_wrap(out, mx_buf_cstr(&e2), col, 2, width);
    }
    mx_buf_puts(out, reset);
    mx_buf_reset(&e2);
    mx_buf_printf(&e2, " (%s)", mx_json_get_str(target, "kind") ? mx_json_get_str(target, "kind") : "?");
    col = mx_text_wrap(out, mx_buf_cstr(&e2), col, 2, width);
    char status[64];
    snprintf(status, sizeof status, "status: %s  [%lld ms]", upper[st == MX_SEV_INFO ? MX_SEV_OK : st], duration_ms);
    if (col + 2 + (int)strlen(status) > width) { mx_buf_puts(out, "\n  "); col = 2; }
    else { mx_buf_puts(out, "  "); col += 2; }
    mx_buf_printf(out, "status: %s%s%s  [%lld ms]\n", colour ? sev_colour(st) : "", upper[st == MX_SEV_INFO ? MX_SEV_OK : st],
                  reset, duration_ms);
    /* 3. the findings: problems by severity and cause, then info, then ok
     * (by default folded into one line per MX address) */
    mx_finding **byreport = mx_xcalloc(r->len ? r->len : 1, sizeof *byreport);
    memcpy(byreport, disp, r->len * sizeof *disp);
    if (r->len > 1) qsort(disp, r->len, sizeof *disp, disp_cmp);
    static const char *tags[] = {"OK", "INFO", "UNKNOWN", "WARN", "CRIT"};
    mx_buf key = MX_BUF_INIT, key2 = MX_BUF_INIT;
    const char *domain_name = dom && *dom ? dom : name;
    for (size_t i = 0; i < r->len; i++) {
        mx_finding *f = disp[i];
        const mx_json *evd = mx_json_get(f->obj, "evidence");
        const char *code = mx_json_get_str(f->obj, "code") ? mx_json_get_str(f->obj, "code") : "?";
        if (f->severity == MX_SEV_OK && verbosity < 1) {
            /* one line per MX address (or the domain): its ok codes */
            ok_key(&key, f, domain_name);
            int seen = 0;
            for (size_t k = 0; k < i && !seen; k++) {
                if (disp[k]->severity != MX_SEV_OK) continue;
                ok_key(&key2, disp[k], domain_name);
                seen = !strcmp(key.data, key2.data);
            }
            if (seen) continue;
            mx_buf list = MX_BUF_INIT;
            for (size_t k = i; k < r->len; k++) {
                if (disp[k]->severity != MX_SEV_OK) continue;
                ok_key(&key2, disp[k], domain_name);
                if (strcmp(key.data, key2.data) != 0) continue;
                const char *c2 = mx_json_get_str(disp[k]->obj, "code");
                mx_buf_printf(&list, "%s%s", list.len ? ", " : "", c2 ? c2 : "?");
            }
            mx_buf_printf(out, "  %s%-7s%s ", colour ? sev_colour(MX_SEV_OK) : "", "OK", reset);
            mx_buf_reset(&e2);
            mx_buf_printf(&e2, "%s: %s", key.data, list.data);
            mx_text_wrap(out, mx_buf_cstr(&e2), 10, 10, width);
            mx_buf_putc(out, '\n');
            mx_buf_free(&list);
            entries++;
            continue;
        }
        /* identical findings (same code and severity, same explanation) on
         * several addresses or lists: one line by default, "(+N more)" */
        size_t more = 0;
        if (verbosity < 1) {
            const char *ex = mx_json_get_str(f->obj, "explanation");
            int dup = 0;
            for (size_t k = 0; k < r->len; k++) {
                if (k == i || disp[k]->severity != f->severity) continue;
                const char *c2 = mx_json_get_str(disp[k]->obj, "code"), *x2 = mx_json_get_str(disp[k]->obj, "explanation");
                if (!c2 || strcmp(c2, code) || !ex || !x2 || strcmp(ex, x2)) continue;
                if (k < i) { dup = 1; break; }
                more++;
            }
            if (dup) continue;
        }
        mx_buf_printf(out, "  %s%-7s%s %-*s", colour ? sev_colour(f->severity) : "", tags[f->severity], reset,
                      width >= 80 ? 26 : 0, esc1(&e1, code));
        int c0 = 2 + 7 + 1 + mx_text_columns(e1.data, e1.len);
        if (c0 < 36 && width >= 80) c0 = 36;
        /* the leading space separates it from the code, unless it starts a line */
        mx_buf t = MX_BUF_INIT;
        mx_verdict_text(&t, f->obj);
        if (more) mx_buf_printf(&t, " (+%zu more like it)", more);
        mx_buf_reset(&e2);
        mx_buf_putc(&e2, ' ');
        mx_buf_puts(&e2, mx_buf_cstr(&t));
        mx_buf_free(&t);
        mx_text_wrap(out, mx_buf_cstr(&e2), c0, sum_ind, width);
        mx_buf_putc(out, '\n');
        entries++;
        if (verbosity < 1) continue;
        const char *expl = mx_json_get_str(f->obj, "explanation");
        if (expl && *expl && f->severity != MX_SEV_OK) {
            mx_buf_puts(out, "          ");
            mx_text_wrap(out, expl, 10, 10, width);
            mx_buf_putc(out, '\n');
        }
        const char *adv = mx_json_get_str(f->obj, "advice");
        if (adv && *adv && f->severity != MX_SEV_OK) {
            mx_buf_puts(out, "          -> ");
            mx_text_wrap(out, adv, 13, 13, width);
            mx_buf_putc(out, '\n');
        }
        if (verbosity >= 2) {
            mx_buf tmp = MX_BUF_INIT;
            evidence_human(&tmp, evd);
            if (tmp.len) {
                mx_buf_printf(out, "          %s", dim);
                mx_text_wrap(out, mx_buf_cstr(&tmp), 10, 10, width);
                mx_buf_printf(out, "%s\n", reset);
            }
            mx_buf_free(&tmp);
        }
    }
    if (r->len == 0) mx_buf_puts(out, "  (no findings)\n");
    /* 4. a long report closes with the verdict again: it is what a scrolled
     * terminal shows */
    if (entries > 6 || (verbosity >= 1 && entries > 2)) {
        mx_buf_putc(out, '\n');
        verdict_line(out, (const mx_finding *const *)byreport, r->len, st, name, colour, width, 0);
    }
    free(byreport);
    mx_buf_free(&key);
    mx_buf_free(&key2);
    free(disp);
    mx_buf_free(&e1);
    mx_buf_free(&e2);
}
