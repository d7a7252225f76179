/* `mxdiag logs --probe N`: the live half. It drives the rule runtime as
 * `check` does (check_setup.c): one runtime, one check per domain, all
 * concurrent. */
#include "cli.h"
#include "loop.h"
#include "escape.h"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* SIGINT/SIGTERM during the live checks: stop the runtime (the handler of
 * cmd_logs.c only sets a flag; this polls it from the loop). */
typedef struct probe_run {
    mx_rt *rt;
    mx_timer *tick;
    volatile sig_atomic_t *stop;
} probe_run;

static void probe_tick(mx_loop *loop, void *ud) {
    probe_run *pr = ud;
    pr->tick = NULL;
    if (*pr->stop) {
        mx_rt_stop(pr->rt);
        return;
    }
    pr->tick = mx_loop_timer(loop, 100, probe_tick, pr);
}

static void probe_done(mx_check *c, void *ud) {
    (void)c;
    *(int *)ud = 1;
}

/* An interrupted probe's runtime: freeing it would wait for the DNS queries
 * and connections still in flight (up to --timeout) before the report could
 * be written, so it is left to the process exit. */
static mx_check_setup *abandoned;

int mx_logs_probe_abandoned(void) { return abandoned != NULL; }

mx_json *mx_logs_probe(int argc, char **argv, const char *const *domains, size_t n, const mx_json *options,
                       volatile sig_atomic_t *stop) {
    mx_check_setup s;
    /* the configuration file's settings, under the command line's */
    mx_argv full = {0};
    mx_argv_push(&full, argc > 0 ? argv[0] : "logs");
    mx_settings_to_args(mx_config_settings, argc, argv, &full, NULL);
    for (int i = 1; i < argc; i++) mx_argv_push(&full, argv[i]);
    mx_check_setup_new(full.n, full.v, &s);
    mx_check **cs = mx_xcalloc(n ? n : 1, sizeof *cs);
    mx_json *out = mx_json_arr();
    const char **why = mx_xcalloc(n ? n : 1, sizeof *why);
    int *done = mx_xcalloc(n ? n : 1, sizeof *done);
    /* kept to the end: a parse error's why may point into its target */
    mx_target *ts = mx_xcalloc(n ? n : 1, sizeof *ts);
    for (size_t i = 0; i < n; i++) {
        if (mx_target_parse(domains[i], &ts[i], &why[i]) == 0)
            cs[i] = mx_check_start_opts(s.rt, &ts[i], options, probe_done, &done[i]);
    }
    probe_run pr = {s.rt, NULL, stop};
    pr.tick = mx_loop_timer(mx_rt_loop(s.rt), 100, probe_tick, &pr);
    if (!*stop) mx_rt_run(s.rt);
    if (pr.tick) mx_timer_cancel(mx_rt_loop(s.rt), pr.tick);
    for (size_t i = 0; i < n; i++) {
        if (cs[i] && done[i]) {
            mx_json_push(out, mx_check_json(cs[i]));
            continue;
        }
        if (cs[i]) why[i] = "interrupted before the check finished";
        /* a domain as logged that is no valid target: say so in the same shape */
        mx_json *d = mx_json_push(out, mx_json_obj());
        mx_json_set(d, "schema", mx_json_str("mxdiag.check/1"));
        mx_json *t = mx_json_set(d, "target", mx_json_obj());
        mx_json_set(t, "input", mx_json_str(domains[i]));
        mx_json_set(d, "status", mx_json_str("unknown"));
        mx_json_set(d, "exit_code", mx_json_int(3));
        mx_json_set(d, "error", mx_json_str(why[i] ? why[i] : "invalid target"));
        mx_json_set(d, "findings", mx_json_arr());
    }
    char err[512];
    if (mx_rt_finish(s.rt, err, sizeof err) != 0) mx_errf("mxdiag logs: %s", err);
    for (size_t i = 0; i < n; i++)
        if (cs[i]) mx_check_free(cs[i]);
    free(cs);
    free(done);
    free(why);
    free(ts);
    if (*stop) {
        abandoned = mx_xmalloc(sizeof *abandoned);
        *abandoned = s;
    } else {
        mx_check_setup_free(&s);
        for (int i = 0; i < full.n; i++) free(full.v[i]);
        free(full.v);
    }
    return out;
}
