/* `mxdiag logs`: the judgement.  The logs rules (kind = "logs", shipped
 * rules/9x-logs-*.lua and site rules) run once, as one check of a rule
 * runtime, over the fact `logs` that cmd_logs.c built from the aggregates
 * (engine/logfacts.c).  Lives in the binary, not in the engine library,
 * because it drives the rule runtime (as logs_probe.c does). */
#include "cli.h"
#include "escape.h"
#include "causematch.h"
#include "logfacts.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void judge_done(mx_check *c, void *ud) {
    (void)c;
    *(int *)ud = 1;
}

mx_json *mx_logs_judge(int argc, char **argv, const mx_log_facts_in *facts, const mx_json *options) {
    /* the configuration file's settings (rules_dir) under the command line's */
    mx_argv full = {0};
    mx_argv_push(&full, argc > 0 ? argv[0] : "logs");
    mx_settings_to_args(mx_config_settings, argc, argv, &full, NULL);
    for (int i = 1; i < argc; i++) mx_argv_push(&full, argv[i]);
    /* the run's fact `logs`: given (the runtime's dependency check sees it),
     * built straight into Lua tables when the check starts, no JSON tree */
    mx_json *run_facts = mx_json_obj();
    mx_json_set(run_facts, "logs", mx_json_bool(1));
    mx_check_setup s;
    mx_check_setup_logs(full.n, full.v, run_facts, &s);
    mx_rt_set_fact_builder(s.rt, "logs", mx_log_facts_build, (void *)facts);
    /* the logs rules judge the logs, not a target: target.input is "logs" */
    mx_target t;
    memset(&t, 0, sizeof t);
    t.kind = MX_TARGET_HOST;
    snprintf(t.input, sizeof t.input, "logs");
    snprintf(t.domain, sizeof t.domain, "localhost");
    int done = 0;
    mx_check *c = mx_check_start_opts(s.rt, &t, options, judge_done, &done);
    if (!done) mx_rt_run(s.rt);
    mx_json *out = NULL;
    if (done) {
        mx_json *doc = mx_check_json(c);
        mx_json *fs = mx_json_get(doc, "findings");
        out = fs ? mx_json_clone(fs) : mx_json_arr();
        mx_json_free(doc);
    }
    char err[512];
    if (mx_rt_finish(s.rt, err, sizeof err) != 0) mx_errf("mxdiag logs: %s", err);
    mx_check_free(c);
    mx_check_setup_free(&s);
    mx_json_free(run_facts);
    for (int i = 0; i < full.n; i++) free(full.v[i]);
    free(full.v);
    return out;
}

/* The cause catalog, read once before the logs are: the same rule
 * directories as the judgement (--rules-dir, the configuration's, rules.d),
 * through a runtime of its own that loads no rule, only lib/log_patterns.lua
 * (and what it requires). NULL and a message in err when the catalog is
 * wrong. */
mx_cause_matcher *mx_logs_patterns(int argc, char **argv, char *err, size_t errlen) {
    mx_argv full = {0};
    mx_argv_push(&full, argc > 0 ? argv[0] : "logs");
    mx_settings_to_args(mx_config_settings, argc, argv, &full, NULL);
    for (int i = 1; i < argc; i++) mx_argv_push(&full, argv[i]);
    mx_cli *c = mx_xcalloc(1, sizeof *c);
    mx_strlist dirs = {0};
    mx_cli_parse(full.n, full.v, c);
    mx_cli_site_dirs(c, &dirs);
    mx_rt_opts o;
    memset(&o, 0, sizeof o);
    o.resolvers = "127.0.0.1:53"; /* never asked: no check runs here */
    o.timeout_ms = 1000;
    o.shipped_dir = mx_cli_shipped_rules();
    o.site_dirs = dirs.v;
    o.nsite_dirs = dirs.n;
    o.logs_rules = 1;
    mx_cause_matcher *m = NULL;
    mx_rt *rt = mx_rt_new(&o, err, errlen);
    if (rt) {
        m = mx_rt_log_patterns(rt, err, errlen);
        mx_rt_free(rt);
    }
    mx_cli_free(c);
    free(c);
    free(dirs.v);
    for (int i = 0; i < full.n; i++) free(full.v[i]);
    free(full.v);
    return m;
}
