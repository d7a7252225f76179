/* `mxdiag rules test PATH...`: a rule test is a directory with a recording
 * (recording.json, from check --record) and the expected findings
 * (expect.json). The check is replayed offline and its findings compared. */
#include "ruletest.h"
#include "runtime.h"
#include "escape.h"
#include "outfile.h"
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_DEPTH 4

static mx_json *read_json(const char *path, char *err, size_t errlen) {
    mx_buf b = MX_BUF_INIT;
    if (mx_file_read_all(path, MX_FILE_MAX_JSON, &b, err, errlen) != 0) { mx_buf_free(&b); return NULL; }
    char perr[128];
    mx_json *doc = mx_json_parse(b.data ? b.data : "", b.len, perr, sizeof perr);
    mx_buf_free(&b);
    if (!doc) snprintf(err, errlen, "%s is not valid JSON: %s", path, perr);
    return doc;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}
static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int has_rule_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d)) && !found) {
        size_t l = strlen(e->d_name);
        found = l > 4 && e->d_name[0] != '.' && strcmp(e->d_name + l - 4, ".lua") == 0;
    }
    closedir(d);
    return found;
}

static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Test directories (those with expect.json) under dir, sorted, depth-bounded. */
static void find_tests(const char *dir, int depth, char ***out, size_t *n) {
    char p[4096];
    snprintf(p, sizeof p, "%s/expect.json", dir);
    if (is_file(p)) {
        *out = mx_xrealloc(*out, (*n + 1) * sizeof **out);
        (*out)[(*n)++] = mx_xstrdup(dir);
        return;
    }
    if (depth >= MAX_DEPTH) return;
    DIR *d = opendir(dir);
    if (!d) return;
    char **subs = NULL;
    size_t ns = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (!is_dir(p)) continue;
        subs = mx_xrealloc(subs, (ns + 1) * sizeof *subs);
        subs[ns++] = mx_xstrdup(p);
    }
    closedir(d);
    qsort(subs, ns, sizeof *subs, str_cmp);
    for (size_t i = 0; i < ns; i++) { find_tests(subs[i], depth + 1, out, n); free(subs[i]); }
    free(subs);
}

static int list_has(const mx_json *arr, const char *s) {
    if (!arr || arr->type != MX_JARR) return 1; /* no filter */
    for (size_t i = 0; i < arr->u.c.len; i++)
        if (arr->u.c.items[i]->type == MX_JSTR && strcmp(arr->u.c.items[i]->u.str.s, s) == 0) return 1;
    return 0;
}

/* One line per finding: "rule code severity" and, when the expectation has
 * one, ": summary". Comparing lines keeps the diff readable. */
static char *finding_line(const mx_json *f, int with_summary) {
    mx_buf b = MX_BUF_INIT;
    const char *rule = mx_json_get_str(f, "rule"), *code = mx_json_get_str(f, "code"),
               *sev = mx_json_get_str(f, "severity"), *sum = mx_json_get_str(f, "summary");
    mx_buf_printf(&b, "%s %s %s", rule ? rule : "?", code ? code : "?", sev ? sev : "?");
    if (with_summary && sum) mx_buf_printf(&b, ": %s", sum);
    return mx_buf_steal(&b);
}

/* Prints a line diff of exp against act (LCS): "-" expected only, "+" actual only. */
static void print_diff(FILE *out, char **exp, size_t ne, char **act, size_t na) {
    size_t w = na + 1;
    size_t *t = mx_xcalloc((ne + 1) * w, sizeof *t);
    for (size_t i = ne; i-- > 0;)
        for (size_t j = na; j-- > 0;)
            t[i * w + j] = strcmp(exp[i], act[j]) == 0 ? t[(i + 1) * w + j + 1] + 1
                         : (t[(i + 1) * w + j] > t[i * w + j + 1] ? t[(i + 1) * w + j] : t[i * w + j + 1]);
    size_t i = 0, j = 0;
    while (i < ne || j < na) {
        if (i < ne && j < na && strcmp(exp[i], act[j]) == 0) { fprintf(out, "      %s\n", exp[i]); i++; j++; }
        else if (j < na && (i == ne || t[i * w + j + 1] >= t[(i + 1) * w + j])) fprintf(out, "    + %s\n", act[j++]);
        else fprintf(out, "    - %s\n", exp[i++]);
    }
    free(t);
}

typedef struct run_ctx {
    const mx_rules_test_opts *o;
    const char *extra_site;     /* PATH itself when it holds rule files */
} run_ctx;

/* Runs one test dir; 0 pass, 1 fail. */
static int run_test(const run_ctx *ctx, const char *dir, FILE *out) {
    const mx_rules_test_opts *o = ctx->o;
    char rec_path[4200], exp_path[4200], err[8800] = "";
    snprintf(rec_path, sizeof rec_path, "%s/recording.json", dir);
    snprintf(exp_path, sizeof exp_path, "%s/expect.json", dir);
    mx_json *rec = read_json(rec_path, err, sizeof err);
    mx_json *exp = rec ? read_json(exp_path, err, sizeof err) : NULL;
    mx_json *doc = NULL;
    mx_rt *rt = NULL;
    mx_check *chk = NULL, *runchk = NULL;
    const char **sites = NULL;
    size_t nsites = 0;
    int fail = 1;
    if (!rec || !exp) goto done;
    mx_json *checks = mx_json_get(rec, "checks");
    const char *input = checks && checks->type == MX_JARR && checks->u.c.len ? mx_json_get_str(checks->u.c.items[0], "target") : NULL;
    if (!input) { snprintf(err, sizeof err, "%s has no checks[0].target (record it with mxdiag check --record)", rec_path); goto done; }
    mx_target t;
    const char *why;
    if (mx_target_parse(input, &t, &why) != 0) { snprintf(err, sizeof err, "recorded target '%s' is invalid: %s", input, why); goto done; }
    mx_json *options = mx_json_get(rec, "options");
    /* site rules: --rules-dir dirs, PATH when it holds rules, expect.json "rules_dirs" (relative to the test) */
    sites = mx_xcalloc(o->nsite_dirs + 2 + 8, sizeof *sites);
    for (size_t i = 0; i < o->nsite_dirs; i++) sites[nsites++] = o->site_dirs[i];
    if (ctx->extra_site) sites[nsites++] = ctx->extra_site;
    mx_json *rd = mx_json_get(exp, "rules_dirs");
    char rdbuf[8][8400];
    for (size_t i = 0; rd && rd->type == MX_JARR && i < rd->u.c.len && i < 8; i++) {
        if (rd->u.c.items[i]->type != MX_JSTR) continue;
        const char *r = rd->u.c.items[i]->u.str.s;
        if (r[0] == '/') snprintf(rdbuf[i], sizeof rdbuf[i], "%s", r);
        else snprintf(rdbuf[i], sizeof rdbuf[i], "%s/%s", dir, r);
        sites[nsites++] = rdbuf[i];
    }
    mx_rt_opts ro;
    memset(&ro, 0, sizeof ro);
    mx_json *tmo = mx_json_get(options, "timeout");
    ro.timeout_ms = tmo && (tmo->type == MX_JNUM || tmo->type == MX_JINT)
                        ? (int)((tmo->type == MX_JNUM ? tmo->u.n : (double)tmo->u.i) * 1000) : 10000;
    /* JSON reads "timeout": 3 back as an integer; the recorded run's rules saw a number (3.0) */
    if (tmo && tmo->type == MX_JINT && options->type == MX_JOBJ) mx_json_set(options, "timeout", mx_json_num((double)tmo->u.i));
    ro.shipped_dir = o->shipped_dir;
    ro.site_dirs = sites;
    ro.nsite_dirs = nsites;
    ro.only = mx_json_get_str(exp, "only") ? mx_json_get_str(exp, "only") : mx_json_get_str(rec, "only");
    ro.skip = mx_json_get_str(exp, "skip") ? mx_json_get_str(exp, "skip") : mx_json_get_str(rec, "skip");
    ro.replay_path = rec_path;
    ro.options = options;
    rt = mx_rt_new(&ro, err, sizeof err);
    if (!rt) goto done;
    if (mx_rt_load_rules(rt, err, sizeof err) != 0) goto done;
    /* the recorded rule options and overrides, then expect.json's over them */
    if (mx_rt_set_rule_options(rt, mx_json_get(rec, "rule_options"), err, sizeof err) != 0 ||
        mx_rt_set_overrides(rt, mx_json_get(rec, "overrides"), err, sizeof err) != 0 ||
        mx_rt_set_rule_options(rt, mx_json_get(exp, "rule_options"), err, sizeof err) != 0 ||
        mx_rt_set_overrides(rt, mx_json_get(exp, "overrides"), err, sizeof err) != 0)
        goto done;
    chk = mx_check_start(rt, &t, NULL, NULL);
    runchk = mx_check_start_run(rt, NULL, NULL); /* scope = "run" rules: as check does, second */
    mx_rt_run(rt);
    doc = mx_check_json(chk);
    if (runchk) {
        /* run-level rules' findings are compared too (after the target's) */
        mx_json *rj = mx_check_run_json(runchk), *fs = mx_json_get(doc, "findings"), *rf = mx_json_get(rj, "findings");
        for (size_t i = 0; rf && i < rf->u.c.len; i++) mx_json_push(fs, mx_json_clone(rf->u.c.items[i]));
        mx_json_free(rj);
    }

    if (o->update) {
        /* rewrite expect.json from this run, keeping its filters */
        mx_json *ne = mx_json_obj();
        mx_json *rules = mx_json_get(exp, "rules");
        if (rules) mx_json_set(ne, "rules", mx_json_clone(rules));
        for (const char *const *k = (const char *const[]){"only", "skip", "rules_dirs", "description", "rule_options", "overrides", NULL}; *k; k++)
            if (mx_json_get(exp, *k)) mx_json_set(ne, *k, mx_json_clone(mx_json_get(exp, *k)));
        if (!rules) mx_json_set(ne, "status", mx_json_str(mx_json_get_str(doc, "status")));
        mx_json *fa = mx_json_arr(), *fs = mx_json_get(doc, "findings");
        for (size_t i = 0; i < fs->u.c.len; i++) {
            mx_json *f = fs->u.c.items[i];
            if (!list_has(rules, mx_json_get_str(f, "rule"))) continue;
            mx_json *e = mx_json_obj();
            for (const char *const *k = (const char *const[]){"rule", "code", "severity", "summary", NULL}; *k; k++)
                mx_json_set(e, *k, mx_json_clone(mx_json_get(f, *k)));
            mx_json_push(fa, e);
        }
        mx_json_set(ne, "findings", fa);
        mx_buf b = MX_BUF_INIT;
        mx_json_write(&b, ne, 2);
        mx_buf_putc(&b, '\n');
        if (mx_file_write_atomic(exp_path, b.data, b.len, err, sizeof err) == 0) fail = 0;
        mx_buf_free(&b);
        mx_json_free(ne);
        if (!fail) fprintf(out, "UPDATED %s\n", dir);
        goto done;
    }

    /* compare */
    mx_json *rules = mx_json_get(exp, "rules");
    mx_json *ef = mx_json_get(exp, "findings"), *af = mx_json_get(doc, "findings");
    if (!ef || ef->type != MX_JARR) { snprintf(err, sizeof err, "%s: 'findings' must be a list", exp_path); goto done; }
    size_t ne = ef->u.c.len, na = 0;
    char **el = mx_xcalloc(ne + 1, sizeof *el), **al = mx_xcalloc(af->u.c.len + 1, sizeof *al);
    int with_summary = 0;
    for (size_t i = 0; i < ne; i++) {
        if (mx_json_get_str(ef->u.c.items[i], "summary")) with_summary = 1;
        el[i] = finding_line(ef->u.c.items[i], 1);
    }
    for (size_t i = 0; i < af->u.c.len; i++) {
        mx_json *f = af->u.c.items[i];
        if (!list_has(rules, mx_json_get_str(f, "rule"))) continue;
        al[na++] = finding_line(f, with_summary);
    }
    int same = ne == na;
    for (size_t i = 0; same && i < ne; i++) same = strcmp(el[i], al[i]) == 0;
    const char *est = mx_json_get_str(exp, "status"), *ast = mx_json_get_str(doc, "status");
    int status_ok = !est || (ast && strcmp(est, ast) == 0);
    fail = !(same && status_ok);
    fprintf(out, "%s %s\n", fail ? "FAIL" : "PASS", dir);
    if (!same) {
        fprintf(out, "    findings differ (- expected, + actual%s):\n", rules ? ", for the rules listed in expect.json" : "");
        print_diff(out, el, ne, al, na);
    }
    if (!status_ok) fprintf(out, "    status: expected %s, got %s\n", est, ast ? ast : "?");
    if (fail || o->verbose) {
        mx_json *rs = mx_json_get(doc, "rules");
        for (size_t i = 0; rs && i < rs->u.c.len; i++) {
            const char *st = mx_json_get_str(rs->u.c.items[i], "status"), *rsn = mx_json_get_str(rs->u.c.items[i], "reason");
            if (st && strcmp(st, "done") != 0)
                fprintf(out, "    rule %s: %s%s%s\n", mx_json_get_str(rs->u.c.items[i], "id"), st, rsn ? ": " : "", rsn ? rsn : "");
        }
        size_t misses = mx_rt_replay_misses(rt);
        if (misses) fprintf(out, "    note: %zu engine call(s) were not in the recording (answered as errors)\n", misses);
    }
    for (size_t i = 0; i < ne; i++) free(el[i]);
    for (size_t i = 0; i < na; i++) free(al[i]);
    free(el);
    free(al);
done:
    if (err[0]) fprintf(out, "FAIL %s\n    %s\n", dir, err);
    mx_json_free(doc);
    if (chk) mx_check_free(chk);
    if (runchk) mx_check_free(runchk);
    mx_rt_free(rt);
    free(sites);
    mx_json_free(rec);
    mx_json_free(exp);
    return fail;
}

/* One test's report names recorded replies, paths and rule output: rendered
 * in memory and escaped once, keeping its line breaks, where it is written. */
static int run_test_escaped(const run_ctx *ctx, const char *dir, FILE *out) {
    char *mem = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&mem, &len);
    if (!m) { fprintf(out, "FAIL (cannot allocate the report)\n"); return 1; }
    int fail = run_test(ctx, dir, m);
    fclose(m);
    mx_buf b = MX_BUF_INIT;
    mx_esc_text_n(&b, mem ? mem : "", len, MX_ESC_NL);
    fwrite(b.data ? b.data : "", 1, b.len, out);
    fflush(out);
    mx_buf_free(&b);
    free(mem);
    return fail;
}

int mx_rules_test(const mx_rules_test_opts *o, FILE *out) {
    int failed = 0, total = 0;
    for (size_t p = 0; p < o->npaths; p++) {
        const char *path = o->paths[p];
        mx_buf pe = MX_BUF_INIT;
        mx_esc_text(&pe, path, 0);
        const char *shown = mx_buf_cstr(&pe);
        if (!is_dir(path)) { fprintf(out, "FAIL %s\n    not a directory\n", shown); failed++; total++; mx_buf_free(&pe); continue; }
        char **tests = NULL;
        size_t n = 0;
        find_tests(path, 0, &tests, &n);
        run_ctx ctx = {o, has_rule_files(path) ? path : NULL};
        if (n == 0) { fprintf(out, "FAIL %s\n    no rule tests (directories with expect.json) found\n", shown); failed++; total++; }
        mx_buf_free(&pe);
        for (size_t i = 0; i < n; i++) {
            failed += run_test_escaped(&ctx, tests[i], out);
            total++;
            free(tests[i]);
        }
        free(tests);
    }
    fprintf(out, "%d of %d rule test%s passed\n", total - failed, total, total == 1 ? "" : "s");
    return failed ? 1 : 0;
}
