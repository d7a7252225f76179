/* `mxdiag rules test PATH...`: a rule test is a directory with a recording
 * (recording.json, from check --record) and the expected findings
 * (expect.json). The check is replayed offline and its findings compared. */
#include "ruletest.h"
#include "runtime.h"
#include "escape.h"
#include "outfile.h"
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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
    if (ns > 1) qsort(subs, ns, sizeof *subs, str_cmp);
    for (size_t i = 0; i < ns; i++) { find_tests(subs[i], depth + 1, out, n); free(subs[i]); }
    free(subs);
}

static int list_has(const mx_json *arr, const char *s) {
    if (!arr || arr->type != MX_JARR) return 1; /* no filter */
    for (size_t i = 0; i < arr->u.c.len; i++)
        if (arr->u.c.items[i]->type == MX_JSTR && strcmp(arr->u.c.items[i]->u.str.s, s) == 0) return 1;
    return 0;
}

/* The part of act that pattern names: for an object pattern, act's values
 * of the pattern's keys (missing ones as "(absent)"), recursively; anything
 * else is act itself. An expectation's evidence is matched partially this
 * way: only the fields it names are compared. */
static mx_json *project(const mx_json *pattern, const mx_json *act) {
    if (!pattern || pattern->type != MX_JOBJ) return act ? mx_json_clone(act) : mx_json_str("(absent)");
    if (!act || act->type != MX_JOBJ) return act ? mx_json_clone(act) : mx_json_str("(absent)");
    mx_json *o = mx_json_obj();
    for (size_t i = 0; i < pattern->u.c.len; i++)
        mx_json_set(o, pattern->u.c.keys[i], project(pattern->u.c.items[i], mx_json_get(act, pattern->u.c.keys[i])));
    return o;
}

/* One line per finding: "rule code severity" and, when the expectation has
 * one, ": summary" and " evidence {...}" (the fields the expectation names:
 * ev_pattern, NULL for none). Comparing lines keeps the diff readable. */
static char *finding_line(const mx_json *f, int with_summary, const mx_json *ev_pattern) {
    mx_buf b = MX_BUF_INIT;
    const char *rule = mx_json_get_str(f, "rule"), *code = mx_json_get_str(f, "code"),
               *sev = mx_json_get_str(f, "severity"), *sum = mx_json_get_str(f, "summary");
    mx_buf_printf(&b, "%s %s %s", rule ? rule : "?", code ? code : "?", sev ? sev : "?");
    if (with_summary && sum) mx_buf_printf(&b, ": %s", sum);
    if (ev_pattern) {
        mx_json *pj = project(ev_pattern, mx_json_get(f, "evidence"));
        mx_buf_puts(&b, "  evidence ");
        mx_json_write(&b, pj, -1);
        mx_json_free(pj);
    }
    return mx_buf_steal(&b);
}

/* Is rule id among the loaded rules (a `rules list` array)? */
static int rule_loaded(const mx_json *rules, const char *id) {
    for (size_t i = 0; rules && i < rules->u.c.len; i++)
        if (!strcmp(mx_json_get_str(rules->u.c.items[i], "id"), id)) return 1;
    return 0;
}

/* The ids expect.json names (rules, findings[].rule, skipped[].rule) that
 * are not loaded, as "a, b (did you mean c?)"; empty when all are. A test
 * naming a rule that is not there would pass by comparing nothing. */
static void unloaded_ids(const mx_json *exp, const mx_json *loaded, mx_buf *out, int update) {
    const char *const lists[] = {"rules", "skipped", "findings"};
    mx_json *seen = mx_json_arr();
    for (int l = 0; l < (update ? 2 : 3); l++) { /* --update rewrites the findings */
        const mx_json *a = mx_json_get(exp, lists[l]);
        for (size_t i = 0; a && a->type == MX_JARR && i < a->u.c.len; i++) {
            const mx_json *it = a->u.c.items[i];
            const char *id = it->type == MX_JSTR ? it->u.str.s : mx_json_get_str(it, "rule");
            if (!id || rule_loaded(loaded, id) || list_has(seen, id)) continue;
            mx_json_push(seen, mx_json_str(id));
            const char *best = NULL;
            size_t bestd = 3;
            for (size_t k = 0; loaded && k < loaded->u.c.len; k++) {
                const char *cand = mx_json_get_str(loaded->u.c.items[k], "id");
                /* a cheap closeness: length within 2 and a shared first half or last three characters */
                size_t li = strlen(id), lc = strlen(cand), d = li > lc ? li - lc : lc - li;
                size_t pre = 0;
                while (id[pre] && id[pre] == cand[pre]) pre++;
                if (d < bestd && (pre * 2 >= li || (li > 3 && lc > 3 && !strcmp(id + li - 3, cand + lc - 3)))) { best = cand; bestd = d; }
            }
            mx_buf_printf(out, "%s%s", out->len ? ", " : "", id);
            if (best) mx_buf_printf(out, " (did you mean %s?)", best);
        }
    }
    mx_json_free(seen);
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
    /* the rules a test is for sit above it (contrib/rules/tests/NAME): the
     * nearest directory above the test holding rule files is loaded, so a
     * test run alone tests the same rules as its whole directory. The climb
     * stops at a directory anyone can write (/tmp, /var/tmp): whatever *.lua
     * lies there is nobody's rules (a test made under /tmp loaded them) */
    char anc[PATH_MAX];
    if (realpath(dir, anc)) {
        for (int up = 0; up < MAX_DEPTH; up++) {
            char *sl = strrchr(anc, '/');
            if (!sl || sl == anc) break;
            *sl = 0;
            struct stat ast;
            if (stat(anc, &ast) != 0 || (ast.st_mode & S_IWOTH)) break;
            if (has_rule_files(anc)) { sites[nsites++] = anc; break; }
        }
    }
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
    {
        mx_json *loaded = mx_rt_rules_json(rt);
        mx_buf miss = MX_BUF_INIT;
        unloaded_ids(exp, loaded, &miss, o->update);
        mx_json_free(loaded);
        if (miss.len) {
            snprintf(err, sizeof err, "expect.json names rules that are not loaded: %s (loaded: the shipped rules, --rules-dir, "
                     "the nearest directory above the test holding rule files, expect.json rules_dirs)", mx_buf_cstr(&miss));
            mx_buf_free(&miss);
            goto done;
        }
        mx_buf_free(&miss);
    }
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
        for (const char *const *k = (const char *const[]){"only", "skip", "rules_dirs", "description", "skipped", "rule_options", "overrides", NULL}; *k; k++)
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
    char *used = mx_xcalloc(ne + 1, 1);
    for (size_t i = 0; i < ne; i++) {
        if (mx_json_get_str(ef->u.c.items[i], "summary")) with_summary = 1;
        const mx_json *ev = mx_json_get(ef->u.c.items[i], "evidence");
        el[i] = finding_line(ef->u.c.items[i], 1, ev);
    }
    for (size_t i = 0; i < af->u.c.len; i++) {
        mx_json *f = af->u.c.items[i];
        if (!list_has(rules, mx_json_get_str(f, "rule"))) continue;
        /* the evidence fields of the first unused expectation of this rule and code */
        const mx_json *ev = NULL;
        for (size_t k = 0; k < ne; k++) {
            const mx_json *e = ef->u.c.items[k];
            const char *er = mx_json_get_str(e, "rule"), *ec = mx_json_get_str(e, "code");
            if (used[k] || !er || !ec || strcmp(er, mx_json_get_str(f, "rule")) || strcmp(ec, mx_json_get_str(f, "code"))) continue;
            used[k] = 1;
            ev = mx_json_get(e, "evidence");
            break;
        }
        al[na++] = finding_line(f, with_summary, ev);
    }
    free(used);
    int same = ne == na;
    for (size_t i = 0; same && i < ne; i++) same = strcmp(el[i], al[i]) == 0;
    const char *est = mx_json_get_str(exp, "status"), *ast = mx_json_get_str(doc, "status");
    int status_ok = !est || (ast && strcmp(est, ast) == 0);
    /* expected skips: {"rule": ID, "reason": TEXT (a part of the reason)} */
    mx_buf problems = MX_BUF_INIT, notes = MX_BUF_INIT;
    mx_json *rs_all = mx_json_get(doc, "rules");
    mx_json *sk = mx_json_get(exp, "skipped");
    for (size_t i = 0; sk && sk->type == MX_JARR && i < sk->u.c.len; i++) {
        const char *id = mx_json_get_str(sk->u.c.items[i], "rule"), *want = mx_json_get_str(sk->u.c.items[i], "reason");
        const mx_json *r = NULL;
        for (size_t k = 0; id && rs_all && k < rs_all->u.c.len; k++)
            if (!strcmp(mx_json_get_str(rs_all->u.c.items[k], "id"), id)) r = rs_all->u.c.items[k];
        const char *st = r ? mx_json_get_str(r, "status") : NULL, *why = r ? mx_json_get_str(r, "reason") : NULL;
        if (!r || !st || strcmp(st, "skipped") != 0)
            mx_buf_printf(&problems, "    rule %s: expected skipped, got %s%s%s\n", id ? id : "?", st ? st : "?", why ? ": " : "", why ? why : "");
        else if (want && (!why || !strstr(why, want)))
            mx_buf_printf(&problems, "    rule %s: skipped, but the reason \"%s\" does not contain \"%s\"\n", id, why ? why : "", want);
    }
    /* the runner is strict: a site rule that reached no verdict fails the
     * test unless expected (a rule.error finding, or a skipped entry) */
    mx_buf broken = MX_BUF_INIT;
    mx_check_broken_rules(chk, &broken);
    if (runchk) mx_check_broken_rules(runchk, &broken);
    for (const char *p = mx_buf_cstr(&broken); *p;) {
        const char *nl = strchr(p, '\n'), *sp = strchr(p, ' ');
        char id[256];
        snprintf(id, sizeof id, "%.*s", (int)(sp && sp < nl ? sp - p : nl - p), p);
        int expected = 0;
        for (size_t k = 0; sk && sk->type == MX_JARR && k < sk->u.c.len; k++)
            if (mx_json_get_str(sk->u.c.items[k], "rule") && !strcmp(mx_json_get_str(sk->u.c.items[k], "rule"), id)) expected = 1;
        for (size_t k = 0; k < ne; k++)
            if (!strcmp(mx_json_get_str(ef->u.c.items[k], "rule") ? mx_json_get_str(ef->u.c.items[k], "rule") : "", id) &&
                !strcmp(mx_json_get_str(ef->u.c.items[k], "code") ? mx_json_get_str(ef->u.c.items[k], "code") : "", "rule.error")) expected = 1;
        if (!expected) mx_buf_printf(&problems, "    site rule %.*s (not expected in expect.json)\n", (int)(nl - p), p);
        p = nl + 1;
    }
    mx_buf_free(&broken);
    /* calls the rules made that the recording does not have: answered as
     * errors, so the outcome would rest on made-up failures */
    size_t misses = mx_rt_replay_misses(rt);
    if (misses) {
        /* a miss by a rule whose findings are compared fails the test; one by
         * a rule the test ignores (not in "rules") is a note */
        const mx_json *mk = mx_rt_replay_miss_keys(rt);
        int compared = mk == NULL;
        for (size_t k = 0; mk && k < mk->u.c.len; k++) {
            const char *key = mk->u.c.items[k]->u.str.s, *colon = strchr(key, ':');
            char id[256];
            snprintf(id, sizeof id, "%.*s", colon ? (int)(colon - key) : 0, key);
            if (list_has(rules, id)) compared = 1;
        }
        mx_buf *to = compared ? &problems : &notes;
        mx_buf_printf(to, "    %s%zu engine call(s) were not in the recording (answered as errors):\n", compared ? "" : "note: ", misses);
        for (size_t k = 0; mk && k < mk->u.c.len; k++) mx_buf_printf(to, "      %s\n", mk->u.c.items[k]->u.str.s);
        if (mk && misses > mk->u.c.len) mx_buf_printf(to, "      (and %zu more)\n", misses - mk->u.c.len);
        if (compared) mx_buf_puts(to, "    re-record the test (mxdiag rules test --record DIR -- check ...) if the rules now ask more\n");
    }
    fail = !(same && status_ok) || problems.len;
    fprintf(out, "%s %s\n", fail ? "FAIL" : "PASS", dir);
    if (problems.len) fputs(mx_buf_cstr(&problems), out);
    if (fail || o->verbose) fputs(mx_buf_cstr(&notes), out);
    mx_buf_free(&problems);
    mx_buf_free(&notes);
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
        for (size_t i = 0; o->verbose && rs && i < rs->u.c.len; i++) {
            mx_json *dbg = mx_json_get(rs->u.c.items[i], "debug");
            for (size_t k = 0; dbg && k < dbg->u.c.len; k++)
                fprintf(out, "    debug %s: %s\n", mx_json_get_str(rs->u.c.items[i], "id"), dbg->u.c.items[k]->u.str.s);
        }
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

/* `rules test --record DIR -- check ARGS...`: runs the check with --record
 * DIR/recording.json (its report shown as usual), writes expect.json for the
 * site rules of its --rules-dir directories (all findings and the status
 * when it has none) from the replayed run, and runs the new test once. */
int mx_rules_test_record(const char *dir, char **args, int nargs, const char *shipped_dir, FILE *out) {
    char rec[PATH_MAX + 32], exp[PATH_MAX + 32], err[8800] = "";
    if (nargs < 1 || strcmp(args[0], "check") != 0) {
        fprintf(stderr, "mxdiag: rules test --record DIR needs the check after '--': rules test --record DIR -- check [OPTIONS] TARGET\n");
        return 3;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) { fprintf(stderr, "mxdiag: cannot create %s: %s\n", dir, strerror(errno)); return 3; }
    snprintf(rec, sizeof rec, "%s/recording.json", dir);
    snprintf(exp, sizeof exp, "%s/expect.json", dir);
    if (is_file(exp) || is_file(rec)) {
        fprintf(stderr, "mxdiag: %s already holds a test; record into a new directory (or use --update to refresh its expectation)\n", dir);
        return 3;
    }
    const char **sites = mx_xcalloc((size_t)nargs + 1, sizeof *sites);
    size_t nsites = 0;
    const char *only = NULL;
    for (int i = 1; i < nargs; i++) {
        if (!strcmp(args[i], "--rules-dir") && i + 1 < nargs) sites[nsites++] = args[++i];
        else if (!strncmp(args[i], "--rules-dir=", 12)) sites[nsites++] = args[i] + 12;
        else if (!strcmp(args[i], "--only") && i + 1 < nargs) only = args[++i];
        else if (!strncmp(args[i], "--only=", 7)) only = args[i] + 7;
    }
    char **av = mx_xcalloc((size_t)nargs + 4, sizeof *av);
    av[0] = "mxdiag";
    for (int i = 0; i < nargs; i++) av[i + 1] = args[i];
    av[nargs + 1] = "--record";
    av[nargs + 2] = rec;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        execv("/proc/self/exe", av);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) > 3 || !is_file(rec)) {
        fprintf(stderr, "mxdiag: the check did not make a recording (%s); no test written\n",
                pid < 0 ? strerror(errno) : WIFEXITED(st) ? "it exited with an error" : "it was killed");
        free(av); free(sites);
        return 3;
    }
    free(av);
    /* the site rules the test is about: those of the check's --rules-dir */
    mx_json *e = mx_json_obj();
    mx_json_set(e, "description", mx_json_str("recorded with mxdiag rules test --record"));
    mx_json *ids = mx_json_arr(), *dirs = mx_json_arr();
    mx_rt_opts ro;
    memset(&ro, 0, sizeof ro);
    ro.shipped_dir = shipped_dir;
    ro.site_dirs = sites;
    ro.nsite_dirs = nsites;
    ro.timeout_ms = 10000;
    ro.only = only;
    mx_rt *rt = mx_rt_new(&ro, err, sizeof err);
    if (rt && mx_rt_load_rules(rt, err, sizeof err) == 0) {
        mx_json *rl = mx_rt_rules_json(rt);
        /* the site rules the check ran; without any, the rules --only names */
        for (size_t i = 0; i < rl->u.c.len; i++) {
            mx_json *en = mx_json_get(rl->u.c.items[i], "enabled");
            if (en && en->type == MX_JBOOL && !en->u.b) continue;
            for (size_t k = 0; k < nsites; k++) {
                const char *f = mx_json_get_str(rl->u.c.items[i], "file");
                size_t l = strlen(sites[k]);
                if (!strncmp(f, sites[k], l) && f[l] == '/') { mx_json_push(ids, mx_json_str(mx_json_get_str(rl->u.c.items[i], "id"))); break; }
            }
        }
        for (size_t i = 0; only && ids->u.c.len == 0 && i < rl->u.c.len; i++) {
            const char *id = mx_json_get_str(rl->u.c.items[i], "id");
            size_t l = strlen(id);
            for (const char *p = only; (p = strstr(p, id)); p += l)
                if ((p == only || p[-1] == ',') && (p[l] == ',' || !p[l])) { mx_json_push(ids, mx_json_str(id)); break; }
        }
        mx_json_free(rl);
    }
    mx_rt_free(rt);
    /* a rules directory above the test is found by itself; others are named */
    char tdir[PATH_MAX], sdir[PATH_MAX];
    for (size_t k = 0; k < nsites && realpath(dir, tdir); k++) {
        if (!realpath(sites[k], sdir)) continue;
        size_t l = strlen(sdir);
        if (!(strncmp(tdir, sdir, l) == 0 && tdir[l] == '/')) mx_json_push(dirs, mx_json_str(sdir));
    }
    if (ids->u.c.len) mx_json_set(e, "rules", ids); else mx_json_free(ids);
    if (dirs->u.c.len) mx_json_set(e, "rules_dirs", dirs); else mx_json_free(dirs);
    mx_json_set(e, "findings", mx_json_arr());
    mx_buf b = MX_BUF_INIT;
    mx_json_write(&b, e, 2);
    mx_buf_putc(&b, '\n');
    int wr = mx_file_write_atomic(exp, b.data, b.len, err, sizeof err);
    mx_buf_free(&b);
    mx_json_free(e);
    free(sites);
    if (wr != 0) { fprintf(stderr, "mxdiag: %s\n", err); return 3; }
    char *paths[1] = {(char *)dir};
    mx_rules_test_opts to = {paths, 1, shipped_dir, NULL, 0, 0, 1};
    if (mx_rules_test(&to, out) != 0) return 1;
    to.update = 0;
    return mx_rules_test(&to, out);
}
