/* `mxdiag rules check DIR...`: a lint of site rule directories before they
 * run. Loads them with the shipped rules (the loader's errors: misspelled
 * rule fields with did-you-mean, a helper file outside lib/, duplicate ids,
 * required facts nobody provides), then reads each rule file's text for what
 * loading cannot see: literal finding codes the file's rules do not declare,
 * misspelled report:finding fields, and facts named in target.facts["..."]
 * or `wants` that no rule provides. Every problem as FILE:LINE: message. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "escape.h"
#include "outfile.h"
#include "ruletest.h"
#include "suggest.h"

static int line_of(const char *src, const char *at) {
    int n = 1;
    for (const char *p = src; p < at; p++) n += *p == '\n';
    return n;
}

/* did-you-mean among known (NULL-ended): engine/suggest.c */
static const char *closest(const char *w, const char *const *known) { return mx_suggest(w, known, (size_t)-1); }

static int json_has_str(const mx_json *a, const char *s) {
    for (size_t i = 0; a && a->type == MX_JARR && i < a->u.c.len; i++)
        if (a->u.c.items[i]->type == MX_JSTR && !strcmp(a->u.c.items[i]->u.str.s, s)) return 1;
    return 0;
}

/* Does some loaded rule provide fact name? */
static int provided(const mx_json *rules, const char *name) {
    for (size_t i = 0; i < rules->u.c.len; i++)
        if (json_has_str(mx_json_get(rules->u.c.items[i], "provides"), name)) return 1;
    return 0;
}

static void problem(int *n, const char *file, int line, const char *fmt, const char *a, const char *b) {
    mx_buf m = MX_BUF_INIT;
    mx_buf_printf(&m, "%s:%d: ", file, line);
    mx_buf_printf(&m, fmt, a, b ? b : "");
    mx_buf e = MX_BUF_INIT;
    mx_esc_text(&e, mx_buf_cstr(&m), 0);
    printf("%s\n", mx_buf_cstr(&e));
    mx_buf_free(&m);
    mx_buf_free(&e);
    (*n)++;
}

/* The codes the rules of file declare (from the loaded rules). */
static int declared(const mx_json *rules, const char *file, const char *code) {
    for (size_t i = 0; i < rules->u.c.len; i++) {
        const char *f = mx_json_get_str(rules->u.c.items[i], "file");
        if (f && !strcmp(f, file) && mx_json_get(mx_json_get(rules->u.c.items[i], "codes"), code)) return 1;
    }
    return 0;
}

static void lint_file(const char *file, const char *src, const mx_json *rules, int loaded, int *n) {
    static const char *const finding_fields[] = {"code", "severity", "summary", "explanation", "advice", "evidence", NULL};
    /* report:finding{...} / report:finding({...}): its top-level keys */
    for (const char *p = strstr(src, ":finding"); p; p = strstr(p + 1, ":finding")) {
        const char *q = p + 8;
        while (*q == ' ' || *q == '(') q++;
        if (*q != '{') continue;
        int depth = 0;
        for (const char *k = q; *k; k++) {
            if (*k == '"' || *k == '\'') { char qc = *k; for (k++; *k && *k != qc; k++) if (*k == '\\' && k[1]) k++; if (!*k) break; continue; }
            if (*k == '{') depth++;
            else if (*k == '}') { if (--depth == 0) break; }
            else if (depth == 1 && ((*k >= 'a' && *k <= 'z') || *k == '_') && (k[-1] == '{' || k[-1] == ',' || k[-1] == ' ' || k[-1] == '\n' || k[-1] == '\t')) {
                const char *e = k;
                while ((*e >= 'a' && *e <= 'z') || (*e >= '0' && *e <= '9') || *e == '_') e++;
                const char *w = e;
                while (*w == ' ' || *w == '\t') w++;
                if (*w == '=' && w[1] != '=') {
                    char key[64];
                    snprintf(key, sizeof key, "%.*s", (int)(e - k), k);
                    int ok = 0;
                    for (const char *const *f = finding_fields; *f; f++) ok |= !strcmp(*f, key);
                    if (!ok) {
                        const char *dym = closest(key, finding_fields);
                        if (dym) problem(n, file, line_of(src, k), "report:finding: unknown field '%s' (did you mean '%s'?)", key, dym);
                        else problem(n, file, line_of(src, k), "report:finding: unknown field '%s'%s", key, " (fields: code, severity, summary, explanation, advice, evidence)");
                    }
                }
                k = e - 1;
            }
        }
    }
    /* code = "x.y" literals the file's rules do not declare */
    if (loaded)
        for (const char *p = strstr(src, "code"); p; p = strstr(p + 1, "code")) {
            if (p > src && (p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z') || p[-1] == '.')) continue;
            const char *q = p + 4;
            while (*q == ' ' || *q == '\t') q++;
            if (*q != '=' || q[1] == '=') continue;
            q++;
            while (*q == ' ' || *q == '\t') q++;
            if (*q != '"' && *q != '\'') continue;
            const char *e = strchr(q + 1, *q);
            if (!e || e - q > 100) continue;
            char code[128];
            snprintf(code, sizeof code, "%.*s", (int)(e - q - 1), q + 1);
            if (!declared(rules, file, code))
                problem(n, file, line_of(src, p), "code '%s' is not declared in the codes of this file's rule%s", code,
                        " (report:finding would raise)");
        }
    /* facts read by name that no rule provides */
    for (const char *p = strstr(src, "facts[\""); p; p = strstr(p + 1, "facts[\"")) {
        const char *e = strchr(p + 7, '"');
        if (!e || e - p > 100) continue;
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(e - p - 7), p + 7);
        if (!provided(rules, name)) problem(n, file, line_of(src, p), "fact '%s' is published by no loaded rule%s", name, "");
    }
}

int mx_rules_check(int ndirs, char **dirs, const char *shipped_dir) {
    int n = 0;
    char err[8800] = "";
    mx_rt_opts ro;
    memset(&ro, 0, sizeof ro);
    ro.shipped_dir = shipped_dir;
    ro.site_dirs = (const char **)dirs;
    ro.nsite_dirs = (size_t)ndirs;
    ro.timeout_ms = 10000;
    mx_rt *rt = mx_rt_new(&ro, err, sizeof err);
    int loaded = rt && mx_rt_load_rules(rt, err, sizeof err) == 0;
    if (!loaded) {
        mx_buf e = MX_BUF_INIT;
        mx_esc_text(&e, err, 0);
        printf("%s\n", mx_buf_cstr(&e));
        mx_buf_free(&e);
        n++;
    }
    mx_json *rules = rt ? mx_rt_rules_json(rt) : mx_json_arr();
    /* wants naming a fact nobody provides: a rule that waits for nothing */
    for (size_t i = 0; i < rules->u.c.len; i++) {
        const mx_json *w = mx_json_get(rules->u.c.items[i], "wants");
        for (size_t k = 0; w && k < w->u.c.len; k++)
            if (!provided(rules, w->u.c.items[k]->u.str.s)) {
                const char *file = mx_json_get_str(rules->u.c.items[i], "file");
                mx_buf src = MX_BUF_INIT;
                char ferr[512];
                int line = 1;
                if (mx_file_read_all(file, 1 << 20, &src, ferr, sizeof ferr) == 0) {
                    const char *at = strstr(mx_buf_cstr(&src), w->u.c.items[k]->u.str.s);
                    if (at) line = line_of(mx_buf_cstr(&src), at);
                }
                mx_buf_free(&src);
                problem(&n, file, line, "wants fact '%s' that no loaded rule provides%s",
                        w->u.c.items[k]->u.str.s, "");
            }
    }
    for (int d = 0; d < ndirs; d++) {
        DIR *dh = opendir(dirs[d]);
        if (!dh) { printf("%s: cannot read the directory\n", dirs[d]); n++; continue; }
        struct dirent *e;
        while ((e = readdir(dh))) {
            size_t l = strlen(e->d_name);
            if (l < 5 || e->d_name[0] == '.' || strcmp(e->d_name + l - 4, ".lua") != 0) continue;
            char path[4400];
            snprintf(path, sizeof path, "%s/%s", dirs[d], e->d_name);
            mx_buf src = MX_BUF_INIT;
            char ferr[512];
            if (mx_file_read_all(path, 1 << 20, &src, ferr, sizeof ferr) != 0) { printf("%s\n", ferr); n++; mx_buf_free(&src); continue; }
            lint_file(path, mx_buf_cstr(&src), rules, loaded, &n);
            mx_buf_free(&src);
        }
        closedir(dh);
    }
    mx_json_free(rules);
    mx_rt_free(rt);
    printf("%d problem%s found\n", n, n == 1 ? "" : "s");
    return n ? 1 : 0;
}
