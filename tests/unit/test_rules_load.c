/* Rule-table validation: each mistake is named with file and field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "runtime.h"
#include "trust.h"

static char dir[256];

static void write_rule(const char *name, const char *body) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(body, f);
    fclose(f);
}

static void clear_dir(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -f %s/*.lua", dir);
    assert_int_equal(system(cmd), 0);
}

/* Loads dir as the shipped rules; returns 0 or -1 with the message in err. */
static int load(char *err, size_t errlen) {
    mx_rt_opts o;
    memset(&o, 0, sizeof o);
    o.shipped_dir = dir;
    o.timeout_ms = 1000;
    o.resolvers = "127.0.0.1:53";
    mx_rt *rt = mx_rt_new(&o, err, errlen);
    assert_non_null(rt);
    int rc = mx_rt_load_rules(rt, err, errlen);
    mx_rt_free(rt);
    return rc;
}

static const char *good =
    "return { id = 'site.ok', description = 'd', codes = { ['site.x'] = 'warn' },\n"
    "  run = function(target, report) end }\n";

static void expect_error(const char *body, const char *fragment) {
    clear_dir();
    write_rule("a.lua", body);
    char err[1024] = "";
    if (load(err, sizeof err) == 0) fail_msg("rule accepted: %s", body);
    if (!strstr(err, fragment)) fail_msg("error '%s' lacks '%s'", err, fragment);
    if (!strstr(err, "a.lua")) fail_msg("error '%s' does not name the file", err);
}

static void valid_rule_loads(void **state) {
    (void)state;
    clear_dir();
    write_rule("a.lua", good);
    char err[1024] = "";
    assert_int_equal(load(err, sizeof err), 0);
}

static void errors_name_the_field(void **state) {
    (void)state;
    expect_error("return 42", "must return a table");
    expect_error("return { description = 'd', codes = {}, run = function() end }", "'id'");
    expect_error("return { id = 'Bad Id', description = 'd', codes = {}, run = function() end }", "'id'");
    expect_error("return { id = 'x', codes = {}, run = function() end }", "'description'");
    expect_error("return { id = 'x', description = 'd', codes = {}, run = 5 }", "'run'");
    expect_error("return { id = 'x', description = 'd', run = function() end }", "'codes'");
    expect_error("return { id = 'x', description = 'd', codes = { Bad = 'warn' }, run = function() end }", "codes");
    expect_error("return { id = 'x', description = 'd', codes = { ['a.b'] = 'fatal' }, run = function() end }", "'a.b'");
    expect_error("return { id = 'x', description = 'd', codes = {}, run = function() end, requires = 'mx' }", "'requires'");
    expect_error("return { id = 'x', description = 'd', codes = {}, run = function() end, requires = { 1 } }", "'requires' item 1");
    expect_error("return { id = 'x', description = 'd', codes = {}, run = function() end, timeout = -1 }", "'timeout'");
    expect_error("return { id = 'x', description = 'd', codes = {}, run = function() end, runn = 1 }", "unknown field 'runn'");
    expect_error("return { id = 'x', description = 'd', codes = {}, run = function() end, requires = { 'nobody.provides' } }",
                 "no rule provides");
    expect_error("this is not lua", "a.lua");
    expect_error("error('boom')", "boom");
    /* binary chunks are refused: text mode only */
    expect_error("\x1bLua", "a.lua");
}

static void sandbox_at_load(void **state) {
    (void)state;
    /* the load-time environment has no os.execute, io or debug */
    expect_error("os.execute('true') return {}", "execute");
    expect_error("io.open('/etc/passwd') return {}", "io");
    expect_error("debug.getinfo(1) return {}", "debug");
    expect_error("load('return 1') return {}", "load");
}

static void site_rule_replaces_shipped(void **state) {
    (void)state;
    clear_dir();
    write_rule("a.lua", good);
    char site[300];
    snprintf(site, sizeof site, "%s/site", dir);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "mkdir -p %s && printf \"%%s\" \"return { id = 'site.ok', description = 'replaced', codes = {}, run = function() end }\" > %s/b.lua", site, site);
    assert_int_equal(system(cmd), 0);
    mx_rt_opts o;
    memset(&o, 0, sizeof o);
    o.shipped_dir = dir;
    const char *dirs[] = {site};
    o.site_dirs = dirs;
    o.nsite_dirs = 1;
    o.timeout_ms = 1000;
    o.resolvers = "127.0.0.1:53";
    char err[512];
    mx_rt *rt = mx_rt_new(&o, err, sizeof err);
    assert_non_null(rt);
    assert_int_equal(mx_rt_load_rules(rt, err, sizeof err), 0);
    mx_json *rules = mx_rt_rules_json(rt);
    assert_int_equal(rules->u.c.len, 1);
    assert_string_equal(mx_json_get_str(rules->u.c.items[0], "description"), "replaced");
    mx_json_free(rules);
    mx_rt_free(rt);
    snprintf(cmd, sizeof cmd, "rm -rf %s", site);
    assert_int_equal(system(cmd), 0);
}

/* Loads dir (shipped) plus one site directory; 0 or -1 with err. */
static int load_with_site(const char *site, char *err, size_t errlen) {
    mx_rt_opts o;
    memset(&o, 0, sizeof o);
    o.shipped_dir = dir;
    const char *dirs[] = {site};
    o.site_dirs = dirs;
    o.nsite_dirs = 1;
    o.timeout_ms = 1000;
    o.resolvers = "127.0.0.1:53";
    mx_rt *rt = mx_rt_new(&o, err, errlen);
    assert_non_null(rt);
    int rc = mx_rt_load_rules(rt, err, errlen);
    mx_rt_free(rt);
    return rc;
}

/* The checks of a root run (trust.h), forced on whoever runs the test: a
 * directory others can write and a symbolic link are refused naming the
 * path; without the checks both load. An empty directory loads. */
static void root_trust_checks(void **state) {
    (void)state;
    clear_dir();
    write_rule("a.lua", good);
    char site[300], cmd[1400], err[1024];
    snprintf(site, sizeof site, "%s/trust", dir);
    assert_int_equal(mkdir(site, 0755), 0);
    mx_trust_force(1);
    assert_int_equal(load_with_site(site, err, sizeof err), 0);  /* empty */
    snprintf(cmd, sizeof cmd, "printf \"%%s\" \"return { id = 'site.t', description = 't', codes = {}, run = function() end }\" > %s/b.lua", site);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(load_with_site(site, err, sizeof err), 0);
    chmod(site, 0777);
    assert_int_equal(load_with_site(site, err, sizeof err), -1);
    if (!strstr(err, site) || !strstr(err, "writable by everyone (mode 0777)")) fail_msg("error: %s", err);
    chmod(site, 0755);
    char target[400], link[400];
    snprintf(target, sizeof target, "%s/b.lua", site);
    snprintf(link, sizeof link, "%s/c.lua", site);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(load_with_site(site, err, sizeof err), -1);
    if (!strstr(err, "c.lua is a symbolic link")) fail_msg("error: %s", err);
    mx_trust_force(0);
    /* without the checks the link loads: a second rule with b.lua's id,
     * which is a duplicate naming both files (issue 20) */
    assert_int_equal(load_with_site(site, err, sizeof err), -1);
    if (!strstr(err, "rule id 'site.t' is declared twice") || !strstr(err, "b.lua") || !strstr(err, "c.lua")) fail_msg("error: %s", err);
    assert_int_equal(unlink(link), 0);
    assert_int_equal(load_with_site(site, err, sizeof err), 0);
    mx_trust_force(-1);
    snprintf(cmd, sizeof cmd, "rm -rf %s", site);
    assert_int_equal(system(cmd), 0);
}

/* Rule text is loaded from the checked descriptor as luaL_loadfilex would:
 * a '#' first line and a UTF-8 BOM are skipped, line numbers stay right. */
static void code_text_as_loadfile(void **state) {
    (void)state;
    clear_dir();
    write_rule("a.lua", "#!/usr/bin/env lua\n-- a comment\nlocal x = = 1\n");
    char err[1024] = "";
    assert_int_equal(load(err, sizeof err), -1);
    if (!strstr(err, "a.lua:3:")) fail_msg("line number lost: %s", err);
    clear_dir();
    write_rule("a.lua", "\xEF\xBB\xBF#!/usr/bin/env lua\nreturn { id = 'site.ok', description = 'd', codes = {}, run = function() end }\n");
    assert_int_equal(load(err, sizeof err), 0);
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/mxdiag-test-rules-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}
static int teardown(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_rule_loads), cmocka_unit_test(errors_name_the_field), cmocka_unit_test(sandbox_at_load),
        cmocka_unit_test(site_rule_replaces_shipped), cmocka_unit_test(root_trust_checks),
        cmocka_unit_test(code_text_as_loadfile),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
