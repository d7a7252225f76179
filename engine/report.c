#include "report.h"
#include "escape.h"
#include "termtext.h"
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
}

void mx_report_free(mx_report *r) {
    for (size_t i = 0; i < r->len; i++) mx_json_free(r->items[i].obj);
    free(r->items);
    memset(r, 0, sizeof *r);
}

static const mx_json *ev(const mx_finding *f, const char *key) {
    return mx_json_get(mx_json_get(f->obj, "evidence"), key);
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

int mx_finding_cmp(const mx_finding *a, const mx_finding *b) {
    const mx_json *ha = ev(a, "host"), *hb = ev(b, "host");
    int ga = ha != NULL, gb = hb != NULL;
    if (ga != gb) return ga - gb; /* domain-level first */
    if (ga) {
        long long pa = num_or(ev(a, "preference"), 1LL << 40), pb = num_or(ev(b, "preference"), 1LL << 40);
        if (pa != pb) return pa < pb ? -1 : 1;
        int c = cmp_str_opt(ha, hb);
        if (c) return c;
        /* a host-level finding without address comes before its addresses */
        c = cmp_addr(ev(a, "address"), ev(b, "address"));
        if (c) return c;
        long long qa = num_or(ev(a, "port"), 0), qb = num_or(ev(b, "port"), 0);
        if (qa != qb) return qa < qb ? -1 : 1;
    }
    if (a->rule_order != b->rule_order) return a->rule_order < b->rule_order ? -1 : 1;
    int c = cmp_str_opt(mx_json_get(a->obj, "code"), mx_json_get(b->obj, "code"));
    if (c) return c;
    c = cmp_addr(ev(a, "address"), ev(b, "address"));
    if (c) return c;
    c = cmp_str_opt(ev(a, "source"), ev(b, "source"));
    if (c) return c;
    c = cmp_str_opt(ev(a, "zone"), ev(b, "zone"));
    if (c) return c;
    c = cmp_str_opt(ev(a, "subject"), ev(b, "subject"));
    if (c) return c;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int qcmp(const void *x, const void *y) { return mx_finding_cmp(x, y); }
void mx_report_sort(mx_report *r) {
    if (r->len > 1) qsort(r->items, r->len, sizeof *r->items, qcmp);
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
    mx_json_set(o, "schema", mx_json_str("mxdiag.check/1"));
    mx_json_set(o, "target", target);
    mx_json_set(o, "status", mx_json_str(mx_status_name(st)));
    mx_json_set(o, "exit_code", mx_json_int(mx_severity_exit(st)));
    mx_json_set(o, "duration_ms", mx_json_int(duration_ms));
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
/* Is `host` the domain's own name used as its mail host for want of an MX
 * record (RFC 5321 §5.1, finding mx.implicit)? Its preference 0 is the RFC's
 * fiction, not a record: the heading says so instead. */
static int implicit_mx_host(const mx_report *r, const char *host) {
    for (size_t i = 0; i < r->len; i++) {
        const char *code = mx_json_get_str(r->items[i].obj, "code");
        const mx_json *h_json = ev(&r->items[i], "host");
        const char *h = h_json && h_json->type == MX_JSTR ? h_json->u.str.s : NULL;
        if (code && h && strcmp(code, "mx.implicit") == 0 && strcmp(h, host) == 0) return 1;
    }
    return 0;
}

static const char *esc1(mx_buf *scratch, const char *s) {
    mx_buf_reset(scratch);
    mx_esc_text(scratch, s, 0);
    return mx_buf_cstr(scratch);
}

void mx_report_text(mx_buf *out, mx_report *r, const mx_json *target, long long duration_ms, int colour) {
    mx_report_sort(r);
    mx_severity st = mx_report_status(r);
    const char *reset = colour ? "\033[0m" : "";
    const char *bold = colour ? "\033[1m" : "";
    const char *dim = colour ? "\033[2m" : "";
    static const char *upper[] = {"OK", "INFO", "UNKNOWN", "WARNING", "CRITICAL"};
    mx_buf e1 = MX_BUF_INIT, e2 = MX_BUF_INIT;
    int width = mx_text_width();
    /* summaries beside their code from 80 columns, under it when narrower */
    int sum_ind = width >= 80 ? 37 : 10;
    /* "name (kind)  status: X  [N ms]", an IDN in both forms; a break
     * before "status:" when that does not fit */
    const char *input = mx_json_get_str(target, "input"), *uni = mx_json_get_str(target, "unicode");
    const char *ace = mx_json_get_str(target, "domain") ? mx_json_get_str(target, "domain") : mx_json_get_str(target, "host");
    const char *other = uni && ace ? (input && strcasecmp(input, uni) == 0 ? ace : uni) : NULL;
    mx_buf_puts(out, bold);
    int col = mx_text_wrap(out, input ? input : "?", 0, 2, width);
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
    const char *group = NULL;
    int first = 1;
    for (size_t i = 0; i < r->len; i++) {
        mx_finding *f = &r->items[i];
        const mx_json *evd = mx_json_get(f->obj, "evidence");
        const char *host = mx_json_get_str(evd, "host");
        if (first || (host && (!group || strcmp(group, host) != 0))) {
            mx_buf_putc(out, '\n');
            if (host) {
                mx_buf_printf(out, "%s%s%s", bold, esc1(&e1, host), reset);
                const mx_json *pref = mx_json_get(evd, "preference");
                if (implicit_mx_host(r, host)) {
                    mx_buf_puts(out, " (no MX record: the domain's own address, implicit MX)");
                } else if (pref) {
                    mx_buf_reset(&e2);
                    put_scalar(&e2, pref);
                    mx_buf_printf(out, " (MX preference %s)", esc1(&e1, mx_buf_cstr(&e2)));
                }
                mx_buf_putc(out, '\n');
            } else {
                const char *dom = mx_json_get_str(target, "domain");
                mx_buf_printf(out, "%s%s%s", bold, esc1(&e1, dom && *dom ? dom : input ? input : "?"), reset);
                if (dom && *dom && uni) mx_buf_printf(out, " (%s)", esc1(&e1, uni));
                mx_buf_putc(out, '\n');
            }
            group = host;
            first = 0;
        }
        static const char *tags[] = {"OK", "INFO", "UNKNOWN", "WARN", "CRIT"};
        const char *code = mx_json_get_str(f->obj, "code") ? mx_json_get_str(f->obj, "code") : "?";
        mx_buf_printf(out, "  %s%-7s%s %-*s", colour ? sev_colour(f->severity) : "", tags[f->severity], reset,
                      width >= 80 ? 26 : 0, esc1(&e1, code));
        const char *summary = mx_json_get_str(f->obj, "summary");
        int c0 = 2 + 7 + 1 + mx_text_columns(e1.data, e1.len);
        if (c0 < 36 && width >= 80) c0 = 36;
        /* the leading space separates it from the code, unless it starts a line */
        mx_buf_reset(&e2);
        mx_buf_printf(&e2, " %s", summary ? summary : "");
        mx_text_wrap(out, mx_buf_cstr(&e2), c0, sum_ind, width);
        mx_buf_putc(out, '\n');
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
        if (evd && evd->type == MX_JOBJ && evd->u.c.len) {
            /* host and preference are the group heading already */
            mx_buf tmp = MX_BUF_INIT;
            for (size_t k = 0; k < evd->u.c.len; k++) {
                if (strcmp(evd->u.c.keys[k], "host") == 0 || strcmp(evd->u.c.keys[k], "preference") == 0) continue;
                if (tmp.len) mx_buf_puts(&tmp, "  ");
                mx_buf_printf(&tmp, "%s=", evd->u.c.keys[k]);
                put_scalar(&tmp, evd->u.c.items[k]);
            }
            if (tmp.len) {
                mx_buf_printf(out, "          %s", dim);
                mx_text_wrap(out, mx_buf_cstr(&tmp), 10, 10, width);
                mx_buf_printf(out, "%s\n", reset);
            }
            mx_buf_free(&tmp);
        }
    }
    if (r->len == 0) mx_buf_puts(out, "\n  (no findings)\n");
    mx_buf_free(&e1);
    mx_buf_free(&e2);
}
