/* mxdiag rules list|show|test (and the hidden rules api). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "escape.h"
#include "ruletest.h"
#include "suggest.h"

int mx_cmd_rules(int argc, char **argv) {
    mx_cli_set_usage_cmd("rules");
    if (argc < 2) mx_cli_usage_error("%s", "rules needs a subcommand: list, show ID, test PATH, check DIR or facts FILE");
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        mx_cli_cmd_help("rules", stdout);
        return 0;
    }
    mx_cli c;
    mx_cli_parse(argc - 1, argv + 1, &c);
    if (strcmp(sub, "test") == 0) {
        /* only --rules-dir (and each PATH holding rules): not /etc or the
         * environment, so a test means the same everywhere */
        if (c.record) {
            /* rules test --record DIR -- check ...: a new test in one step */
            int rc = mx_rules_test_record(c.record, c.rest, c.nrest, mx_cli_shipped_rules(), stdout);
            mx_cli_free(&c);
            return rc;
        }
        if (c.nrest < 1) mx_cli_usage_error("%s", "rules test needs a PATH (a test directory or a directory of them)");
        /* each test runs with its recording's options: refuse the ones that would change the calls */
        mx_buf bad = MX_BUF_INIT;
        for (size_t i = 0; i < c.given.n; i++) {
            int ok = !strcmp(c.given.v[i], "verbose") || !strcmp(c.given.v[i], "update");
            ok |= mx_check_opt_output_only(c.given.v[i]);
            for (size_t j = 0; j < i; j++) ok |= !strcmp(c.given.v[j], c.given.v[i]);
            if (!ok) mx_buf_printf(&bad, "%s--%s", bad.len ? ", " : "", c.given.v[i]);
        }
        if (bad.len) {
            fprintf(stderr, "mxdiag: rules test runs each test with the options in its recording; these would change "
                            "its engine calls: %s.\nLeave them out (a test's expect.json may set only, skip and rules_dirs).\n",
                    mx_buf_cstr(&bad));
            exit(EXIT_USAGE);
        }
        mx_rules_test_opts to = {c.rest, (size_t)c.nrest, mx_cli_shipped_rules(), c.rules_dirs.v, c.rules_dirs.n,
                                 c.verbose, c.update};
        int rc = mx_rules_test(&to, stdout);
        mx_cli_free(&c);
        return rc;
    }
    if (strcmp(sub, "check") == 0) {
        if (c.nrest < 1) mx_cli_usage_error("%s", "rules check needs a DIR of site rules");
        int rc = mx_rules_check(c.nrest, c.rest, mx_cli_shipped_rules());
        mx_cli_free(&c);
        return rc;
    }
    if (strcmp(sub, "facts") == 0) {
        /* like test: only --rules-dir, the recording's options */
        int rc = mx_rules_facts(&c);
        mx_cli_free(&c);
        return rc;
    }
    mx_strlist dirs = {0};
    mx_cli_site_dirs(&c, &dirs);
    mx_rt *rt = mx_cli_runtime(&c, &dirs, NULL, NULL);
    mx_json *rules = mx_rt_rules_json(rt);
    if (strcmp(sub, "list") == 0 || strcmp(sub, "show") == 0) {
        /* a runtime loads one kind of rules: the logs rules (mxdiag logs)
         * come from a second one, listed after the check rules */
        c.logs_rules = 1;
        mx_rt *lrt = mx_cli_runtime(&c, &dirs, NULL, NULL);
        mx_json *lrules = mx_rt_rules_json(lrt);
        for (size_t i = 0; i < lrules->u.c.len; i++) mx_json_push(rules, mx_json_clone(lrules->u.c.items[i]));
        mx_json_free(lrules);
        mx_rt_free(lrt);
        c.logs_rules = 0;
    }
    mx_buf out = MX_BUF_INIT;
    int code = 0;
    if (strcmp(sub, "list") == 0) {
        if (strcmp(c.format, "json") == 0) mx_json_write(&out, rules, 2), mx_buf_putc(&out, '\n');
        else
            for (size_t i = 0; i < rules->u.c.len; i++) {
                mx_json *r = rules->u.c.items[i];
                /* site rules' own text: shown as terminal text like any other */
                mx_buf line = MX_BUF_INIT;
                int logs = strcmp(mx_json_get_str(r, "kind"), "logs") == 0;
                mx_buf_printf(&line, "%-22s %s%s", mx_json_get_str(r, "id"), logs ? "[logs] " : "",
                              mx_json_get_str(r, "description"));
                mx_esc_text_n(&out, line.data, line.len, 0);
                mx_buf_putc(&out, '\n');
                mx_buf_free(&line);
            }
    } else if (strcmp(sub, "show") == 0) {
        if (c.nrest != 1) mx_cli_usage_error("%s", "rules show needs one rule ID");
        mx_json *found = NULL;
        for (size_t i = 0; i < rules->u.c.len; i++)
            if (strcmp(mx_json_get_str(rules->u.c.items[i], "id"), c.rest[0]) == 0) found = rules->u.c.items[i];
        if (!found) { mx_errf("mxdiag: no rule with id '%s'", c.rest[0]); code = EXIT_USAGE; }
        else { mx_json_write(&out, found, 2); mx_buf_putc(&out, '\n'); }
    } else if (strcmp(sub, "api") == 0) {
        /* hidden: the sandbox's API, for RULES.md's drift test */
        mx_json *api = mx_rt_api_json(rt);
        mx_json_write(&out, api, 2);
        mx_buf_putc(&out, '\n');
        mx_json_free(api);
    } else {
        static const char *const subs[] = {"list", "show", "test", "check", "facts", "api", NULL};
        const char *near = mx_suggest(sub, subs, (size_t)-1);
        if (near) {
            char m[160];
            snprintf(m, sizeof m, "unknown rules subcommand '%%s' (did you mean '%s'?)", near);
            mx_cli_usage_error(m, sub);
        }
        mx_cli_usage_error("unknown rules subcommand '%s' (list, show, test, check, facts)", sub);
    }
    fwrite(out.data ? out.data : "", 1, out.len, stdout);
    mx_buf_free(&out);
    mx_json_free(rules);
    mx_rt_free(rt);
    free(dirs.v);
    mx_cli_free(&c);
    return code;
}

