/* The verdict line: see verdict.h. */
#include "verdict.h"
#include <string.h>
#include <strings.h>

int mx_verdict_rank(const mx_json *finding) {
    const char *s = mx_json_get_str(finding, "severity");
    if (!s) return 0;
    if (!strcmp(s, "crit")) return 3;
    if (!strcmp(s, "warn")) return 2;
    if (!strcmp(s, "unknown")) return 1;
    return 0;
}

static int is_conclusion(const mx_json *f) {
    const mx_json *c = mx_json_get(f, "conclusion");
    return c && c->type == MX_JBOOL && c->u.b;
}
static int names_address(const mx_json *f) {
    return mx_json_get_str(mx_json_get(f, "evidence"), "address") != NULL;
}

long mx_verdict_pick(const mx_json *const *f, size_t n, mx_severity status) {
    if (status == MX_SEV_OK || status == MX_SEV_INFO) {
        long first_ok = -1;
        for (size_t i = 0; i < n; i++) {
            const char *s = mx_json_get_str(f[i], "severity");
            if (!s || strcmp(s, "ok") != 0) continue;
            if (is_conclusion(f[i])) return (long)i;
            if (first_ok < 0) first_ok = (long)i;
        }
        return first_ok;
    }
    long best = -1, best_concl = -1;
    int br = 0, bcr = 0, baddr = 0;
    for (size_t i = 0; i < n; i++) {
        int r = mx_verdict_rank(f[i]);
        if (r == 0) continue;
        if (is_conclusion(f[i])) {
            if (r > bcr) { bcr = r; best_concl = (long)i; }
            continue;
        }
        int a = names_address(f[i]);
        if (r > br || (r == br && a && !baddr)) { br = r; best = (long)i; baddr = a; }
    }
    return best >= 0 ? best : best_concl;
}

long mx_verdict_next_pick(const mx_json *const *f, size_t n, long pick) {
    long best = -1;
    int br = 0;
    for (size_t i = 0; i < n; i++) {
        const mx_json *m = mx_json_get(f[i], "next_step");
        if (!m || m->type != MX_JBOOL || !m->u.b) continue;
        const char *adv = mx_json_get_str(f[i], "advice");
        int r = mx_verdict_rank(f[i]);
        if (r > br && adv && *adv) { br = r; best = (long)i; }
    }
    return best >= 0 ? best : pick;
}

static int contains_ci(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    if (!n) return 1;
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0) return 1;
    return 0;
}

void mx_verdict_text(mx_buf *out, const mx_json *finding) {
    if (!finding) { mx_buf_puts(out, "no problem found"); return; }
    const char *sum = mx_json_get_str(finding, "summary");
    const char *host = mx_json_get_str(mx_json_get(finding, "evidence"), "host");
    if (host && *host && sum && !contains_ci(sum, host)) mx_buf_printf(out, "%s: ", host);
    mx_buf_puts(out, sum && *sum ? sum : mx_json_get_str(finding, "code") ? mx_json_get_str(finding, "code") : "?");
}

void mx_verdict_next(mx_buf *out, const mx_json *finding) {
    const char *adv = mx_json_get_str(finding, "advice");
    if (!adv || !*adv) return;
    /* up to the first ". " that ends a sentence (not "e.g. " or "i.e. ") */
    const char *p = adv, *end = NULL;
    while ((p = strstr(p, ". ")) != NULL) {
        if (!(p - adv >= 3 && (strncmp(p - 3, "e.g", 3) == 0 || strncmp(p - 3, "i.e", 3) == 0))) { end = p + 1; break; }
        p += 2;
    }
    if (end) mx_buf_put(out, adv, (size_t)(end - adv));
    else mx_buf_puts(out, adv);
}
