/* Batch list reader (YAML and plain) and the CSV / Prometheus escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "batch_input.h"
#include "formats.h"
#include "trust.h"
#include <sys/stat.h>
#include "escape.h"

static char *write_tmp(const char *suffix, const char *text) {
    static char path[128];
    snprintf(path, sizeof path, "/tmp/mx-batch-test-XXXXXX%s", suffix);
    int fd = mkstemps(path, (int)strlen(suffix));
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

typedef struct seen {
    int n, bad;
    char targets[16][512];
    char errors[16][512];
    long lines[16];
    mx_json *opts[16];
    int fatal;
    char fatal_err[512];
} seen;

static void read_all(const char *path, int plain, seen *s, mx_json **defaults) {
    memset(s, 0, sizeof *s);
    char err[512];
    mx_batch_input *in = mx_batch_open(path, plain, err, sizeof err);
    assert_non_null(in);
    mx_json *d = NULL;
    int rc = mx_batch_begin(in, &d, err, sizeof err);
    if (rc == MX_BATCH_FATAL) { s->fatal = 1; snprintf(s->fatal_err, sizeof s->fatal_err, "%s", err); }
    if (defaults) *defaults = d;
    else mx_json_free(d);
    while (!s->fatal) {
        mx_batch_entry e;
        rc = mx_batch_next(in, &e, err, sizeof err);
        if (rc == MX_BATCH_END) break;
        if (rc == MX_BATCH_FATAL) { s->fatal = 1; snprintf(s->fatal_err, sizeof s->fatal_err, "%s", err); break; }
        if (rc == MX_BATCH_BAD) { snprintf(s->errors[s->bad++], 512, "%s", err); continue; }
        /* the target parsed while validating is what parsing e.target gives
         * (cmd_batch starts the check from it instead of parsing again) */
        mx_target t;
        assert_int_equal(mx_target_parse(e.target, &t, NULL), 0);
        assert_memory_equal(mx_batch_target(in), &t, sizeof t);
        snprintf(s->targets[s->n], 512, "%s", e.target);
        s->lines[s->n] = e.line;
        s->opts[s->n] = e.options;
        s->n++;
    }
    mx_batch_close(in);
    unlink(path);
}

static void free_seen(seen *s) { for (int i = 0; i < s->n; i++) mx_json_free(s->opts[i]); }

static void test_yaml_basic(void **st) {
    (void)st;
    seen s;
    mx_json *d;
    read_all(write_tmp(".yaml",
        "defaults:\n"
        "  only: [mx, tcp]\n"
        "  timeout: 2.5\n"
        "  source_ips: 198.51.100.1\n"
        "domains:\n"
        "  - a.test\n"
        "  - domain: b.test\n"
        "    timeout: 3\n"
        "    expect: {mx: [MX1.b.test.], starttls: true, accepts_from: [198.51.100.2]}\n"
        "  - 'c.test'\n"), 0, &s, &d);
    assert_false(s.fatal);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.bad, 0);
    assert_string_equal(s.targets[0], "a.test");
    assert_string_equal(s.targets[1], "b.test");
    assert_int_equal(s.lines[1], 7);
    assert_null(s.opts[0]);
    mx_json *exp = mx_json_get(s.opts[1], "expect");
    assert_non_null(exp);
    /* host names are normalised: lower case, no trailing dot */
    assert_string_equal(mx_json_get(exp, "mx")->u.c.items[0]->u.str.s, "mx1.b.test");
    assert_int_equal(mx_json_get(exp, "starttls")->type, MX_JBOOL);
    assert_int_equal(mx_json_get(s.opts[1], "timeout")->u.i, 3);
    assert_non_null(d);
    assert_int_equal(mx_json_get(d, "only")->u.c.len, 2);
    /* a single string becomes a list */
    assert_int_equal(mx_json_get(d, "source_ips")->type, MX_JARR);
    assert_true(mx_json_get(d, "timeout")->u.n == 2.5);
    mx_json_free(d);
    free_seen(&s);
}

static void test_yaml_bad_entries(void **st) {
    (void)st;
    seen s;
    read_all(write_tmp(".yaml",
        "domains:\n"
        "  - ok1.test\n"
        "  - not a domain\n"          /* line 3 */
        "  - domain: ok2.test\n"
        "    colour: blue\n"           /* line 5: unknown key */
        "  - domain: ok3.test\n"
        "    timeout: -1\n"            /* line 7: bad value */
        "  - [list, here]\n"           /* line 8 */
        "  - {timeout: 3}\n"           /* line 9: no domain */
        "  - domain: ok4.test\n"
        "    expect: {mx: [a.test], tls: yes}\n" /* line 11 */
        "  - domain: ok5.test\n"
        "    rules_dir: /tmp\n"        /* line 13: run-wide only */
        "  - ok6.test\n"), 0, &s, NULL);
    assert_false(s.fatal);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.targets[0], "ok1.test");
    assert_string_equal(s.targets[1], "ok6.test");
    assert_int_equal(s.bad, 7);
    assert_non_null(strstr(s.errors[0], ":3:5:"));
    assert_non_null(strstr(s.errors[1], ":5:5: unknown key 'colour'"));
    assert_non_null(strstr(s.errors[2], ":7:"));
    assert_non_null(strstr(s.errors[3], ":8:"));
    assert_non_null(strstr(s.errors[4], "no 'domain:'"));
    assert_non_null(strstr(s.errors[5], "expect.tls"));
    assert_non_null(strstr(s.errors[6], ":13:5:"));
    free_seen(&s);
}

/* A domain's own resolvers: normalised to c-ares's ADDR:PORT form; a value
 * that is not an address with an optional port is a bad entry. */
static void test_yaml_resolver(void **st) {
    (void)st;
    seen s;
    read_all(write_tmp(".yaml",
        "domains:\n"
        "  - domain: a.test\n"
        "    resolver: [127.0.0.1, '[2001:db8::1]:5353', '::1', '192.0.2.7:5300']\n"
        "  - domain: b.test\n"
        "    resolver: 1.2.3\n"        /* line 5 */
        "  - domain: c.test\n"
        "    resolver: ns.example.test\n"), 0, &s, NULL);
    assert_false(s.fatal);
    assert_int_equal(s.n, 1);
    mx_json *r = mx_json_get(s.opts[0], "resolver");
    assert_non_null(r);
    assert_int_equal(r->u.c.len, 4);
    assert_string_equal(r->u.c.items[0]->u.str.s, "127.0.0.1:53");
    assert_string_equal(r->u.c.items[1]->u.str.s, "[2001:db8::1]:5353");
    assert_string_equal(r->u.c.items[2]->u.str.s, "[::1]:53");
    assert_string_equal(r->u.c.items[3]->u.str.s, "192.0.2.7:5300");
    assert_int_equal(s.bad, 2);
    assert_non_null(strstr(s.errors[0], ":5:15: 'resolver' must list IP addresses"));
    assert_non_null(strstr(s.errors[1], "'resolver' must list IP addresses"));
    free_seen(&s);
}

/* The configuration file: one map of defaults: keys; an empty file is an
 * empty map; any wrong key or value is an error naming the place. */
static void test_config_file(void **st) {
    (void)st;
    char err[512];
    mx_json *c = NULL;
    assert_int_equal(mx_config_read(write_tmp(".yaml", "# nothing set\n"), &c, err, sizeof err), 0);
    assert_non_null(c);
    assert_int_equal(c->u.c.len, 0);
    mx_json_free(c);
    assert_int_equal(mx_config_read(write_tmp(".yaml",
        "sender_ips: 198.51.100.1\n"
        "control_hosts: [mx.example.test, 192.0.2.21]\n"
        "resolver: 127.0.0.1\n"
        "timeout: 4\n"), &c, err, sizeof err), 0);
    assert_string_equal(mx_json_get(c, "sender_ips")->u.c.items[0]->u.str.s, "198.51.100.1");
    assert_int_equal(mx_json_get(c, "control_hosts")->u.c.len, 2);
    assert_string_equal(mx_json_get(c, "resolver")->u.c.items[0]->u.str.s, "127.0.0.1:53");
    mx_json_free(c);
    assert_int_equal(mx_config_read(write_tmp(".yaml", "timeout: 4\ncolour: blue\n"), &c, err, sizeof err), -1);
    assert_null(c);
    assert_non_null(strstr(err, ":2:1: unknown key 'colour'"));
    assert_null(strstr(err, "did you mean")); /* nothing near 'colour' */
    /* a typo of a setting: the nearest key is named */
    assert_int_equal(mx_config_read(write_tmp(".yaml", "timout: 4\n"), &c, err, sizeof err), -1);
    assert_non_null(strstr(err, ":1:1: unknown key 'timout' (did you mean 'timeout'?)"));
    assert_int_equal(mx_config_read(write_tmp(".yaml", "sender_ip: 192.0.2.1\n"), &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "(did you mean 'sender_ips'?)"));
    /* the configuration file may set rules_dir: it is suggested there */
    assert_int_equal(mx_config_read(write_tmp(".yaml", "rule_dir: /tmp\n"), &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "(did you mean 'rules_dir'?)"));
    assert_int_equal(mx_config_read(write_tmp(".yaml", "timeout: 0\n"), &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "above 0"));
    assert_null(strstr(err, "from 0"));
    assert_int_equal(mx_config_read(write_tmp(".yaml", "- a.test\n"), &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "expected a map of settings"));
    assert_int_equal(mx_config_read(write_tmp(".yaml", "expect: {mx: [a.test]}\n"), &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "per-domain setting"));
    assert_int_equal(mx_config_read("/nonexistent/mxdiag.yaml", &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot open"));
}

/* "Did you mean" for the keys of a batch list: defaults:, entries and the top level. */
static void test_key_typos(void **st) {
    (void)st;
    seen s;
    read_all(write_tmp(".yaml", "domains:\n  - domain: a.test\n    prot: 2525\n  - domian: b.test\n"), 0, &s, NULL);
    assert_int_equal(s.n, 0);
    assert_int_equal(s.bad, 2);
    assert_non_null(strstr(s.errors[0], ":3:5: unknown key 'prot' (did you mean 'port'?)"));
    assert_non_null(strstr(s.errors[1], "unknown key 'domian' (did you mean 'domain'?)"));
    free_seen(&s);
    char err[512];
    mx_json *d = NULL;
    mx_batch_input *in = mx_batch_open(write_tmp(".yaml", "defaults:\n  timout: 3\ndomains: [a.test]\n"), 0, err, sizeof err);
    assert_non_null(in);
    assert_int_equal(mx_batch_begin(in, &d, err, sizeof err), MX_BATCH_FATAL);
    assert_non_null(strstr(err, "unknown key 'timout' (did you mean 'timeout'?)"));
    mx_batch_close(in);
    /* rules_dir is no key of a list: not suggested there */
    in = mx_batch_open(write_tmp(".yaml", "defaults:\n  rule_dir: /tmp\ndomains: [a.test]\n"), 0, err, sizeof err);
    assert_int_equal(mx_batch_begin(in, &d, err, sizeof err), MX_BATCH_FATAL);
    assert_null(strstr(err, "rules_dir"));
    mx_batch_close(in);
    in = mx_batch_open(write_tmp(".yaml", "domain:\n  - a.test\n"), 0, err, sizeof err);
    assert_int_equal(mx_batch_begin(in, &d, err, sizeof err), MX_BATCH_FATAL);
    assert_non_null(strstr(err, "unknown top-level key 'domain' (did you mean 'domains'?)"));
    mx_batch_close(in);
}

/* rule_options: a map of rule id to a map of options (data; the runtime
 * checks the rules' schemas); overrides: a list of maps with a code, in the
 * configuration file and defaults: only (issue 20). */
static void test_rule_options_overrides(void **st) {
    (void)st;
    char err[512];
    mx_json *c = NULL;
    assert_int_equal(mx_config_read(write_tmp(".yaml",
        "rule_options:\n  partner-mx: {max_greeting_ms: 1500, contacts: {a.test: noc@a.test}}\n"
        "overrides:\n  - {code: tls.cert_name_mismatch, severity: crit, domains: [a.test]}\n"), &c, err, sizeof err), 0);
    const mx_json *ro = mx_json_get(mx_json_get(c, "rule_options"), "partner-mx");
    assert_non_null(ro);
    assert_int_equal(mx_json_get(ro, "max_greeting_ms")->u.i, 1500);
    assert_string_equal(mx_json_get_str(mx_json_get(c, "overrides")->u.c.items[0], "code"), "tls.cert_name_mismatch");
    mx_json_free(c);
    assert_int_equal(mx_config_read(write_tmp(".yaml", "rule_options:\n  partner-mx: 3\n"), &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "'rule_options' must be a map of rule id to a map of options"));
    assert_int_equal(mx_config_read(write_tmp(".yaml", "overrides: {code: a.b}\n"), &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "'overrides' must be a list of maps"));
    assert_int_equal(mx_config_read(write_tmp(".yaml", "overrides:\n  - severity: crit\n"), &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "each with a code"));
    /* a domain entry may set its own rule options, not overrides */
    seen s;
    read_all(write_tmp(".yaml", "domains:\n  - domain: a.test\n    rule_options: {partner-mx: {max_greeting_ms: 1}}\n"
                                "  - domain: b.test\n    overrides: [{code: a.b, severity: ok}]\n"), 0, &s, NULL);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.targets[0], "a.test");
    assert_int_equal(mx_json_get(mx_json_get(mx_json_get(s.opts[0], "rule_options"), "partner-mx"), "max_greeting_ms")->u.i, 1);
    assert_int_equal(s.bad, 1);
    assert_non_null(strstr(s.errors[0], "can only be set in defaults:"));
    free_seen(&s);
}

/* A batch list is data: no key of it names code or where code comes from
 * (issue 16). defaults: with one stops the run before anything starts. */
static void test_code_keys(void **st) {
    (void)st;
    seen s;
    static const char *const keys[] = {"rules_dir", "rules_path", "shipped_rules", "sysroot", "config", NULL};
    for (const char *const *k = keys; *k; k++) {
        char text[256];
        snprintf(text, sizeof text, "defaults:\n  timeout: 3\n  %s: [/tmp/evil]\ndomains: [a.test]\n", *k);
        read_all(write_tmp(".yaml", text), 0, &s, NULL);
        assert_true(s.fatal);
        assert_int_equal(s.n, 0);
        assert_non_null(strstr(s.fatal_err, ":3:3: defaults: '"));
        assert_non_null(strstr(s.fatal_err, "cannot be set in a batch list"));
        assert_non_null(strstr(s.fatal_err, "--rules-dir"));
        assert_non_null(strstr(s.fatal_err, "/etc/mxdiag/rules.d"));
    }
}

/* The configuration file may name rule directories; a relative one is
 * relative to the file's directory, not to the current directory. */
static void test_config_rules_dir(void **st) {
    (void)st;
    char err[512];
    mx_json *c = NULL;
    char dir[] = "/tmp/mx-cfg-XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/mxdiag.yaml", dir);
    FILE *f = fopen(path, "w");
    fputs("rules_dir: [site-rules, /srv/abs]\n", f);
    fclose(f);
    assert_int_equal(chdir("/"), 0);
    assert_int_equal(mx_config_read(path, &c, err, sizeof err), 0);
    mx_json *d = mx_json_get(c, "rules_dir");
    char want[256];
    char *real = realpath(dir, NULL);
    snprintf(want, sizeof want, "%s/site-rules", real);
    free(real);
    assert_string_equal(d->u.c.items[0]->u.str.s, want);
    assert_string_equal(d->u.c.items[1]->u.str.s, "/srv/abs");
    mx_json_free(c);
    /* as root: a configuration file others can write, or a link, is refused */
    mx_trust_force(1);
    chmod(path, 0666);
    assert_int_equal(mx_config_read(path, &c, err, sizeof err), -1);
    assert_null(c);
    assert_non_null(strstr(err, "mxdiag.yaml is writable by everyone (mode 0666)"));
    chmod(path, 0644);
    char link[160];
    snprintf(link, sizeof link, "%s/link.yaml", dir);
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(mx_config_read(link, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "link.yaml is a symbolic link"));
    assert_int_equal(mx_config_read(path, &c, err, sizeof err), 0);
    mx_json_free(c);
    /* without root nothing is checked */
    mx_trust_force(0);
    assert_int_equal(mx_config_read(link, &c, err, sizeof err), 0);
    mx_json_free(c);
    mx_trust_force(-1);
    unlink(link);
    unlink(path);
    rmdir(dir);
}

static void test_yaml_malformed(void **st) {
    (void)st;
    seen s;
    /* the syntax error is fatal for the rest, entries before it are read */
    read_all(write_tmp(".yaml",
        "domains:\n"
        "  - a.test\n"
        "  - b.test\n"
        "  - [unclosed\n"
        "  - c.test\n"), 0, &s, NULL);
    assert_true(s.fatal);
    assert_int_equal(s.n, 2);
    assert_non_null(strstr(s.fatal_err, "YAML syntax error"));
    assert_non_null(strstr(s.fatal_err, "started at line 4, column 5"));
    /* bad top level */
    read_all(write_tmp(".yaml", "colour: blue\n"), 0, &s, NULL);
    assert_true(s.fatal);
    assert_non_null(strstr(s.fatal_err, ":1:1: unknown top-level key 'colour'"));
    /* a wrong default stops the run before anything starts */
    read_all(write_tmp(".yaml", "defaults:\n  timeout: soon\ndomains: [a.test]\n"), 0, &s, NULL);
    assert_true(s.fatal);
    assert_non_null(strstr(s.fatal_err, ":2:12: defaults: 'timeout'"));
    /* defaults after the list cannot apply: reported */
    read_all(write_tmp(".yaml", "domains: [a.test]\ndefaults: {timeout: 3}\n"), 0, &s, NULL);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.bad, 1);
    assert_non_null(strstr(s.errors[0], "put defaults first"));
    /* deep nesting is bounded */
    char deep[400] = "domains:\n  - domain: a.test\n    expect: {mx: ";
    for (int i = 0; i < 40; i++) strcat(deep, "[");
    for (int i = 0; i < 40; i++) strcat(deep, "]");
    strcat(deep, "}\n  - b.test\n");
    read_all(write_tmp(".yaml", deep), 0, &s, NULL);
    assert_false(s.fatal);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.bad, 1);
    /* aliases are refused, the list goes on */
    read_all(write_tmp(".yaml", "domains:\n  - &x a.test\n  - *x\n  - c.test\n"), 0, &s, NULL);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.bad, 1);
    /* a top-level list is the domain list */
    read_all(write_tmp(".yaml", "- a.test\n- b.test\n"), 0, &s, NULL);
    assert_int_equal(s.n, 2);
}

static void test_plain(void **st) {
    (void)st;
    seen s;
    read_all(write_tmp(".txt", "# comment\n a.test \n\nb.test # trailing\nbad domain\nc.test\r\n"), 0, &s, NULL);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.targets[1], "b.test");
    assert_int_equal(s.lines[1], 4);
    assert_string_equal(s.targets[2], "c.test");
    assert_int_equal(s.bad, 1);
    assert_non_null(strstr(s.errors[0], ":5:1:"));
    /* --plain forces it whatever the name */
    read_all(write_tmp(".yaml", "a.test\nb.test\n"), 1, &s, NULL);
    assert_int_equal(s.n, 2);
}

/* Entries as people paste them: surrounding whitespace trimmed (YAML quotes
 * keep it), internationalised names converted when checked, URLs refused
 * with what to type instead. */
static void test_idn_and_urls(void **st) {
    (void)st;
    seen s;
    read_all(write_tmp(".yaml",
        "domains:\n"
        "  - \" good.test \"\n"
        "  - b\xc3\xbc" "cher.test\n"
        "  - http://good.test\n"        /* line 4 */
        "  - domain: \"mailto:pm@good.test\"\n" /* line 5 */
        "  - \xe2\x98\x83.test\n"), 0, &s, NULL); /* line 6 */
    assert_false(s.fatal);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.targets[0], "good.test");
    /* the entry keeps what was typed; the check converts it (and shows both) */
    assert_string_equal(s.targets[1], "b\xc3\xbc" "cher.test");
    assert_int_equal(s.bad, 3);
    assert_non_null(strstr(s.errors[0], ":4:5:"));
    assert_non_null(strstr(s.errors[0], "type the domain alone, e.g. good.test"));
    assert_non_null(strstr(s.errors[1], "type the address alone, e.g. pm@good.test"));
    assert_non_null(strstr(s.errors[2], "not a valid internationalised domain name"));
    free_seen(&s);
    read_all(write_tmp(".txt", "\tb\xc3\xbc" "cher.test\t\nsmtp://mx.good.test:2525\n"), 0, &s, NULL);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.targets[0], "b\xc3\xbc" "cher.test");
    assert_int_equal(s.bad, 1);
    assert_non_null(strstr(s.errors[0], "e.g. mx.good.test:2525"));
    free_seen(&s);
}

/* A growing text buffer for the limit tests' big inputs. */
typedef struct gbuf { char *s; size_t n, cap; } gbuf;
static void gput(gbuf *g, const char *t) {
    size_t l = strlen(t);
    if (g->n + l + 1 > g->cap) {
        g->cap = (g->n + l + 1) * 2;
        g->s = realloc(g->s, g->cap);
        assert_non_null(g->s);
    }
    memcpy(g->s + g->n, t, l + 1);
    g->n += l;
}
static void grep_ch(gbuf *g, char c, size_t n) {
    char *t = malloc(n + 1);
    assert_non_null(t);
    memset(t, c, n);
    t[n] = 0;
    gput(g, t);
    free(t);
}

/* MX_BATCH_MAX_TOKEN: a scalar past it stops the reading (FATAL naming the
 * line and the limit); what came before still counts. Just under it, a
 * scalar is only a bad entry and the rest is read. */
static void test_yaml_token_limit(void **st) {
    (void)st;
    seen s;
    gbuf g = {0};
    gput(&g, "domains:\n  - a.test\n  - b.test\n  - ");
    grep_ch(&g, 'x', 2 * MX_BATCH_MAX_TOKEN);
    gput(&g, "\n  - c.test\n");
    read_all(write_tmp(".yaml", g.s), 0, &s, NULL);
    assert_true(s.fatal);
    assert_int_equal(s.n, 2);
    assert_non_null(strstr(s.fatal_err, ":4: a single YAML token"));
    assert_non_null(strstr(s.fatal_err, "larger than 1024 KiB"));
    /* a comment is a token too (libyaml holds none of it, but reads it whole) */
    g.n = 0;
    gput(&g, "domains:\n  - a.test\n# ");
    grep_ch(&g, 'c', 2 * MX_BATCH_MAX_TOKEN);
    gput(&g, "\n  - c.test\n");
    read_all(write_tmp(".yaml", g.s), 0, &s, NULL);
    assert_true(s.fatal);
    assert_int_equal(s.n, 1);
    /* under the limit: a bad entry, and reading goes on */
    g.n = 0;
    gput(&g, "domains:\n  - a.test\n  - \"");
    grep_ch(&g, 'x', MX_BATCH_MAX_TOKEN / 2);
    gput(&g, "\"\n  - c.test\n");
    read_all(write_tmp(".yaml", g.s), 0, &s, NULL);
    assert_false(s.fatal);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.bad, 1);
    assert_non_null(strstr(s.errors[0], "too long"));
    free(g.s);
}

/* MX_BATCH_MAX_ENTRY_NODES / _BYTES: an entry too big to keep is a bad entry,
 * read to its end, and the next entry is read. */
static void test_yaml_entry_budget(void **st) {
    (void)st;
    seen s;
    gbuf g = {0};
    /* 20,000 addresses in one list */
    gput(&g, "domains:\n  - a.test\n  - domain: b.test\n    source_ips: [");
    for (int i = 0; i < 2 * MX_BATCH_MAX_ENTRY_NODES; i++) gput(&g, "198.51.100.1, ");
    gput(&g, "198.51.100.2]\n  - c.test\n");
    read_all(write_tmp(".yaml", g.s), 0, &s, NULL);
    assert_false(s.fatal);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.targets[1], "c.test");
    assert_int_equal(s.bad, 1);
    assert_non_null(strstr(s.errors[0], "more than 10000 YAML nodes in one entry"));
    assert_non_null(strstr(s.errors[0], ":4:"));
    /* an entry map with 20,000 keys: the first unknown key is what is reported */
    g.n = 0;
    gput(&g, "domains:\n  - domain: b.test\n");
    char line[64];
    for (int i = 0; i < 2 * MX_BATCH_MAX_ENTRY_NODES; i++) {
        snprintf(line, sizeof line, "    k%d: 1\n", i);
        gput(&g, line);
    }
    gput(&g, "  - c.test\n");
    read_all(write_tmp(".yaml", g.s), 0, &s, NULL);
    assert_false(s.fatal);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.bad, 1);
    /* three 600 KiB strings: more text than one entry may keep */
    g.n = 0;
    gput(&g, "domains:\n  - domain: b.test\n    expect: {mx: [");
    for (int i = 0; i < 3; i++) {
        gput(&g, "\"");
        grep_ch(&g, 'm', 600u << 10);
        gput(&g, "\", ");
    }
    gput(&g, "x.test]}\n  - c.test\n");
    read_all(write_tmp(".yaml", g.s), 0, &s, NULL);
    assert_false(s.fatal);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.targets[0], "c.test");
    assert_int_equal(s.bad, 1);
    assert_non_null(strstr(s.errors[0], "more than 1024 KiB of text in one entry"));
    /* the same budget bounds defaults: (and a problem there stops the run) */
    g.n = 0;
    gput(&g, "defaults:\n  sender_domains: [");
    for (int i = 0; i < 2 * MX_BATCH_MAX_ENTRY_NODES; i++) gput(&g, "a.test, ");
    gput(&g, "b.test]\ndomains: [a.test]\n");
    read_all(write_tmp(".yaml", g.s), 0, &s, NULL);
    assert_true(s.fatal);
    assert_non_null(strstr(s.fatal_err, "more than 10000 YAML nodes"));
    free(g.s);
}

/* MAX_DEPTH is a bad entry; past MX_BATCH_MAX_NESTING the file is abandoned
 * (libyaml's stacks would grow with it), without recursion on our side. */
static void test_yaml_nesting_limit(void **st) {
    (void)st;
    seen s;
    gbuf g = {0};
    gput(&g, "domains:\n  - a.test\n  - domain: b.test\n    expect: {mx: ");
    grep_ch(&g, '[', 2 * MX_BATCH_MAX_NESTING);
    grep_ch(&g, ']', 2 * MX_BATCH_MAX_NESTING);
    gput(&g, "}\n  - c.test\n");
    read_all(write_tmp(".yaml", g.s), 0, &s, NULL);
    assert_true(s.fatal);
    assert_int_equal(s.n, 1);
    assert_non_null(strstr(s.fatal_err, "nested deeper than 1024 levels"));
    /* 1000 levels: still only a bad entry */
    g.n = 0;
    gput(&g, "domains:\n  - a.test\n  - domain: b.test\n    expect: {mx: ");
    grep_ch(&g, '[', 1000);
    grep_ch(&g, ']', 1000);
    gput(&g, "}\n  - c.test\n");
    read_all(write_tmp(".yaml", g.s), 0, &s, NULL);
    assert_false(s.fatal);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.bad, 1);
    assert_non_null(strstr(s.errors[0], "nested deeper than 32 levels"));
    /* a syntax error inside the skipped part: fatal, and nothing leaks (fuzz_batch_input) */
    g.n = 0;
    gput(&g, "domains:\n  - domain: d.test\n    expect: ");
    grep_ch(&g, '[', 40);
    gput(&g, "b[[[]]]]\n");
    read_all(write_tmp(".yaml", g.s), 0, &s, NULL);
    assert_true(s.fatal);
    assert_non_null(strstr(s.fatal_err, "YAML syntax error"));
    free(g.s);
}

/* MX_BATCH_MAX_LINE: a longer plain line is a bad entry with its number,
 * dropped to its newline, and the next line is read. */
static void test_plain_line_limit(void **st) {
    (void)st;
    seen s;
    gbuf g = {0};
    gput(&g, "a.test\n");
    grep_ch(&g, 'x', 1u << 20);
    gput(&g, "\nc.test\n");
    grep_ch(&g, 'y', MX_BATCH_MAX_LINE + 1); /* last line, no newline */
    read_all(write_tmp(".txt", g.s), 0, &s, NULL);
    assert_false(s.fatal);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.targets[1], "c.test");
    assert_int_equal(s.lines[1], 3);
    assert_int_equal(s.bad, 2);
    assert_non_null(strstr(s.errors[0], ":2: line longer than 4096 bytes"));
    assert_non_null(strstr(s.errors[1], ":4: line longer than 4096 bytes"));
    /* exactly at the limit: read (and refused as a domain, not as a line) */
    g.n = 0;
    grep_ch(&g, 'x', MX_BATCH_MAX_LINE);
    gput(&g, "\r\nc.test\n");
    char *p = write_tmp(".txt", g.s);
    assert_int_equal(mx_batch_count(p, 0), 2);
    read_all(p, 0, &s, NULL);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.bad, 1);
    assert_null(strstr(s.errors[0], "line longer"));
    free(g.s);
}

static void test_count(void **st) {
    (void)st;
    char *p = write_tmp(".yaml", "domains:\n  - a.test\n  - bad domain\n  - {domain: c.test}\n");
    assert_int_equal(mx_batch_count(p, 0), 3);
    unlink(p);
}

static void test_escaping(void **st) {
    (void)st;
    mx_buf b = MX_BUF_INIT;
    mx_esc_csv(&b, "plain.test");
    mx_buf_putc(&b, '|');
    mx_esc_csv(&b, "a,b");
    mx_buf_putc(&b, '|');
    mx_esc_csv(&b, "say \"hi\"\nthere");
    assert_string_equal(mx_buf_cstr(&b), "plain.test|\"a,b\"|\"say \"\"hi\"\"\\x0athere\"");
    mx_buf_reset(&b);
    mx_esc_prom_label(&b, "a\\b\"c\nd");
    assert_string_equal(mx_buf_cstr(&b), "\"a\\\\b\\\"c\\nd\"");
    mx_buf_reset(&b);
    /* a CSV row and a Prometheus sample from a document */
    static const char doc_text[] =
        "{\"target\":{\"input\":\"x,y.test\"},\"status\":\"crit\",\"exit_code\":2,\"duration_ms\":12,"
        "\"findings\":[{\"code\":\"tcp.refused\",\"severity\":\"warn\"},{\"code\":\"delivery.none\","
        "\"severity\":\"crit\"},{\"code\":\"tcp.refused\",\"severity\":\"warn\"},{\"code\":\"mx.ok\",\"severity\":\"ok\"}]}";
    mx_json *doc = mx_json_parse(doc_text, sizeof doc_text - 1, NULL, 0);
    assert_non_null(doc);
    mx_fmt_csv_row(&b, doc, 7);
    assert_string_equal(mx_buf_cstr(&b), "7,\"x,y.test\",crit,2,12,1,2,0,tcp.refused delivery.none\r\n");
    mx_buf st_b = MX_BUF_INIT, du = MX_BUF_INIT;
    mx_fmt_prom_domain(&st_b, &du, doc);
    assert_string_equal(mx_buf_cstr(&st_b), "mxdiag_domain_status{domain=\"x,y.test\"} 2\n");
    mx_buf_reset(&b);
    mx_fmt_nagios(&b, doc);
    assert_non_null(strstr(mx_buf_cstr(&b), "MXDIAG CRITICAL - x,y.test"));
    assert_non_null(strstr(mx_buf_cstr(&b), "| crit=1 warn=2 unknown=0 findings=4 time=0.012s\n"));
    mx_batch_stats stats;
    memset(&stats, 0, sizeof stats);
    mx_stats_add(&stats, doc);
    mx_stats_add(&stats, doc);
    assert_int_equal(stats.by_status[2], 2);
    assert_int_equal(*(long long *)mx_strmap_get(&stats.codes, "tcp.refused"), 2); /* domains, not findings */
    {
        /* a code repeated next to itself, three times, and findings without a code */
        static const char rep_text[] =
            "{\"target\":{\"input\":\"r.test\"},\"status\":\"warn\",\"exit_code\":1,\"duration_ms\":1,"
            "\"findings\":[{\"severity\":\"warn\"},{\"code\":\"a.x\",\"severity\":\"info\"},{\"code\":\"a.x\","
            "\"severity\":\"warn\"},{\"severity\":\"ok\"},{\"code\":\"a.x\",\"severity\":\"ok\"},"
            "{\"code\":\"b.y\",\"severity\":\"ok\"},{\"code\":\"b.y\",\"severity\":\"ok\"}]}";
        mx_json *rep = mx_json_parse(rep_text, sizeof rep_text - 1, NULL, 0);
        assert_non_null(rep);
        mx_batch_stats rs;
        memset(&rs, 0, sizeof rs);
        mx_stats_add(&rs, rep);
        mx_stats_add(&rs, rep);
        mx_stats_add(&rs, rep);
        const mx_code_count *ax = mx_strmap_get(&rs.codes, "a.x"), *by = mx_strmap_get(&rs.codes, "b.y");
        assert_int_equal(ax->domains, 3);
        assert_int_equal(ax->worst, 3); /* warn */
        assert_int_equal(by->domains, 3);
        assert_int_equal(rs.codes.len, 2);
        mx_stats_free(&rs);
        mx_json_free(rep);
    }
    /* the summary names the failing domains, worst first, and ranks only problem codes */
    static const char ok_text[] =
        "{\"target\":{\"input\":\"fine.test\"},\"status\":\"ok\",\"exit_code\":0,\"duration_ms\":3,"
        "\"findings\":[{\"code\":\"mx.ok\",\"severity\":\"ok\"},{\"code\":\"dns.note\",\"severity\":\"info\"}]}";
    static const char warn_text[] =
        "{\"target\":{\"input\":\"slow.test\"},\"status\":\"warn\",\"exit_code\":1,\"duration_ms\":5,"
        "\"findings\":[{\"code\":\"mx.ok\",\"severity\":\"ok\"},{\"code\":\"smtp.tempfail\",\"severity\":\"warn\"}]}";
    mx_json *okd = mx_json_parse(ok_text, sizeof ok_text - 1, NULL, 0), *wd = mx_json_parse(warn_text, sizeof warn_text - 1, NULL, 0);
    assert_non_null(okd);
    assert_non_null(wd);
    for (int i = 0; i < 5; i++) mx_stats_add(&stats, okd); /* mx.ok becomes the most frequent code */
    mx_stats_add(&stats, wd);
    mx_stats_add(&stats, doc);
    assert_int_equal(stats.failing_total, 4);
    assert_string_equal(stats.failing[0].domain, "x,y.test");
    assert_string_equal(stats.failing[0].code, "delivery.none"); /* the first finding as bad as the status */
    assert_string_equal(stats.failing[3].domain, "slow.test");    /* warn after every crit */
    assert_string_equal(stats.failing[3].code, "smtp.tempfail");
    mx_buf_reset(&b);
    mx_fmt_summary(&b, &stats, 1.0, 0, 1);
    const char *sum = mx_buf_cstr(&b);
    assert_non_null(strstr(sum, "failing domains (worst first)\n    crit    x,y.test"));
    assert_true(strstr(sum, "crit    x,y.test") < strstr(sum, "warn    slow.test"));
    assert_non_null(strstr(sum, "most frequent problem codes"));
    assert_non_null(strstr(sum, "tcp.refused"));
    assert_null(strstr(sum, "mx.ok"));
    assert_null(strstr(sum, "dns.note"));
    /* an ok domain is no failing one (it may be among the slowest) */
    const char *fine = strstr(sum, "fine.test");
    assert_true(!fine || fine > strstr(sum, "slowest"));
    /* more failing domains than listed: the rest are counted */
    for (int i = 0; i < MX_STATS_FAILING; i++) mx_stats_add(&stats, wd);
    assert_int_equal(stats.nfailing, MX_STATS_FAILING);
    mx_buf_reset(&b);
    mx_fmt_summary(&b, &stats, 1.0, 0, 1);
    assert_non_null(strstr(mx_buf_cstr(&b), "... and 4 more (the output has every domain)"));
    /* --format summary: the output is this table, it has not every domain */
    mx_buf_reset(&b);
    mx_fmt_summary(&b, &stats, 1.0, 0, 0);
    assert_non_null(strstr(mx_buf_cstr(&b), "... and 4 more (--format jsonl or csv lists every domain)"));
    assert_null(strstr(mx_buf_cstr(&b), "the output has every domain"));
    assert_string_equal(stats.failing[0].domain, "x,y.test"); /* still first: worse than any warn */
    mx_json_free(okd);
    mx_json_free(wd);
    mx_stats_free(&stats);
    mx_json_free(doc);
    mx_buf_free(&b);
    mx_buf_free(&st_b);
    mx_buf_free(&du);
}

static void test_strmap(void **st) {
    (void)st;
    mx_strmap m = MX_STRMAP_INIT;
    char k[32];
    for (int i = 0; i < 5000; i++) { snprintf(k, sizeof k, "k%d", i); mx_strmap_put(&m, k, (void *)(long)(i + 1)); }
    for (int i = 0; i < 5000; i += 2) { snprintf(k, sizeof k, "k%d", i); assert_int_equal((long)mx_strmap_del(&m, k), i + 1); }
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof k, "k%d", i);
        assert_int_equal((long)mx_strmap_get(&m, k), i % 2 ? i + 1 : 0);
    }
    assert_int_equal(m.len, 2500);
    mx_strmap_free(&m, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_yaml_basic),  cmocka_unit_test(test_yaml_bad_entries), cmocka_unit_test(test_yaml_malformed),
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_idn_and_urls),       cmocka_unit_test(test_count),            cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_strmap), cmocka_unit_test(test_yaml_resolver), cmocka_unit_test(test_config_file),
        cmocka_unit_test(test_code_keys), cmocka_unit_test(test_key_typos), cmocka_unit_test(test_config_rules_dir),
        cmocka_unit_test(test_rule_options_overrides),
        cmocka_unit_test(test_yaml_token_limit), cmocka_unit_test(test_yaml_entry_budget),
        cmocka_unit_test(test_yaml_nesting_limit), cmocka_unit_test(test_plain_line_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
