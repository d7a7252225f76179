/* A long-lived runtime (mxdiag serve: one per daemon, a new epoch per probe)
 * must not keep what each probe made. task.event ids: a rule that makes and
 * signals one event per check sees ids start again once no check runs when a
 * new epoch begins; while a check still runs, they do not (its waiters may
 * still need them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "json.h"
#include "runtime.h"

static char dir[256];

static const char *rule =
    "return { id = 'ev', description = 'one event per check, its id in the evidence',\n"
    "  codes = { ['ev.id'] = 'ok' },\n"
    "  run = function(target, report)\n"
    "    local e = task.event()\n"
    "    task.signal(e)\n"
    "    report:finding { code = 'ev.id', severity = 'ok', summary = 'event', evidence = { id = e } }\n"
    "  end }\n";

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/mxdiag-test-epochs-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    char path[512];
    snprintf(path, sizeof path, "%s/ev.lua", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(rule, f);
    fclose(f);
    return 0;
}
static int teardown(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static mx_rt *new_rt(void) {
    mx_rt_opts o;
    memset(&o, 0, sizeof o);
    o.shipped_dir = dir;
    o.timeout_ms = 1000;
    o.resolvers = "127.0.0.1:9";
    char err[1024] = "";
    mx_rt *rt = mx_rt_new(&o, err, sizeof err);
    assert_non_null(rt);
    if (mx_rt_load_rules(rt, err, sizeof err) != 0) fail_msg("load: %s", err);
    return rt;
}

static mx_check *start(mx_rt *rt) {
    mx_target t;
    const char *why = NULL;
    assert_int_equal(mx_target_parse("192.0.2.1", &t, &why), 0);
    mx_check *c = mx_check_start(rt, &t, NULL, NULL);
    assert_non_null(c);
    return c;
}

/* the id the check's rule reported */
static long long event_id(mx_check *c) {
    mx_json *doc = mx_check_json(c);
    const mx_json *fs = mx_json_get(doc, "findings");
    assert_non_null(fs);
    assert_int_equal(fs->u.c.len, 1);
    const mx_json *ev = mx_json_get(fs->u.c.items[0], "evidence");
    const mx_json *id = ev ? mx_json_get(ev, "id") : NULL;
    assert_non_null(id);
    long long v = id->type == MX_JINT ? (long long)id->u.i : (long long)id->u.n;
    mx_json_free(doc);
    return v;
}

static void ids_start_again_when_idle(void **state) {
    (void)state;
    mx_rt *rt = new_rt();
    long long first = 0;
    for (int i = 0; i < 50; i++) {
        mx_rt_new_epoch(rt);
        mx_check *c = start(rt);
        mx_rt_run(rt);
        long long id = event_id(c);
        if (i == 0) first = id;
        /* before: 1, 2, 3, ... one more per probe, kept for the daemon's life */
        assert_int_equal(id, first);
        mx_check_free(c);
    }
    mx_rt_free(rt);
}

static void kept_while_a_check_runs(void **state) {
    (void)state;
    mx_rt *rt = new_rt();
    mx_rt_new_epoch(rt);
    mx_check *a = start(rt);
    mx_rt_run(rt);
    long long ida = event_id(a);
    /* a check started and not yet run: a new epoch must not drop the events */
    mx_check *b = start(rt);
    mx_rt_new_epoch(rt);
    mx_check *c = start(rt);
    mx_rt_run(rt);
    long long idb = event_id(b), idc = event_id(c);
    assert_true(idb > ida);
    assert_true(idc > idb);
    mx_check_free(a);
    mx_check_free(b);
    mx_check_free(c);
    mx_rt_free(rt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ids_start_again_when_idle),
        cmocka_unit_test(kept_while_a_check_runs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
