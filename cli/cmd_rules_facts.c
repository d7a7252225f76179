/* mxdiag rules facts RECORDING.json: replays a recorded check (offline, with
 * the recording's options, rule options and overrides) and prints the facts
 * its rules published, as JSON: what a site rule's `requires` can read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "escape.h"
#include "outfile.h"

int mx_rules_facts(mx_cli *c) {
    if (c->nrest != 1) mx_cli_usage_error("%s", "rules facts needs one recording (FILE.json, from check --record)");
    const char *path = c->rest[0];
    mx_buf text = MX_BUF_INIT;
    char err[1024];
    if (mx_file_read_all(path, 256u << 20, &text, err, sizeof err) != 0) {
        mx_errf("mxdiag: %s", err);
        return EXIT_USAGE;
    }
    mx_json *rec = mx_json_parse(text.data ? text.data : "", text.len, err, sizeof err);
    mx_buf_free(&text);
    const mx_json *checks = rec ? mx_json_get(rec, "checks") : NULL;
    const char *input = checks && checks->type == MX_JARR && checks->u.c.len ? mx_json_get_str(checks->u.c.items[0], "target") : NULL;
    if (!input) {
        mx_errf("mxdiag: %s is not a recording of a check (record one with mxdiag check --record FILE)", path);
        mx_json_free(rec);
        return EXIT_USAGE;
    }
    mx_target t;
    const char *why;
    if (mx_target_parse(input, &t, &why) != 0) {
        mx_errf("mxdiag: %s: the recorded target '%s' is invalid: %s", path, input, why);
        mx_json_free(rec);
        return EXIT_USAGE;
    }
    mx_json *options = mx_json_clone(mx_json_get(rec, "options"));
    if (!options || options->type != MX_JOBJ) { mx_json_free(options); options = mx_json_obj(); }
    const mx_json *tmo = mx_json_get(options, "timeout");
    double timeout = tmo && tmo->type == MX_JNUM ? tmo->u.n : tmo && tmo->type == MX_JINT ? (double)tmo->u.i : 10;
    mx_json_set(options, "timeout", mx_json_num(timeout)); /* the recorded run's rules saw a number */
    mx_strlist dirs = {0};
    for (size_t i = 0; i < c->rules_dirs.n; i++) mx_sl_push(&dirs, c->rules_dirs.v[i]);
    mx_rt_opts o;
    memset(&o, 0, sizeof o);
    o.timeout_ms = (int)(timeout * 1000);
    o.shipped_dir = mx_cli_shipped_rules();
    o.site_dirs = dirs.v;
    o.nsite_dirs = dirs.n;
    o.only = mx_json_get_str(rec, "only");
    o.skip = mx_json_get_str(rec, "skip");
    o.trace = c->trace;
    o.replay_path = path;
    o.options = options;
    int code = 0;
    mx_rt *rt = mx_rt_new(&o, err, sizeof err);
    if (!rt || mx_rt_load_rules(rt, err, sizeof err) != 0 ||
        mx_rt_set_rule_options(rt, mx_json_get(rec, "rule_options"), err, sizeof err) != 0 ||
        mx_rt_set_overrides(rt, mx_json_get(rec, "overrides"), err, sizeof err) != 0) {
        mx_errf("mxdiag: %s", err);
        code = EXIT_USAGE;
    } else {
        mx_check *chk = mx_check_start(rt, &t, NULL, NULL);
        mx_rt_run(rt);
        mx_json *doc = mx_json_obj();
        mx_json_set(doc, "schema", mx_json_str("mxdiag.facts/1"));
        mx_json_set(doc, "target", mx_json_str(input));
        mx_json_set(doc, "facts", mx_check_facts_json(chk));
        mx_buf out = MX_BUF_INIT;
        mx_json_write(&out, doc, 2);
        mx_buf_putc(&out, '\n');
        fwrite(out.data ? out.data : "", 1, out.len, stdout);
        mx_buf_free(&out);
        mx_json_free(doc);
        if (mx_rt_replay_misses(rt))
            fprintf(stderr, "mxdiag: %zu engine call(s) were not in the recording: the facts may be incomplete\n",
                    mx_rt_replay_misses(rt));
        mx_check_free(chk);
    }
    mx_rt_free(rt);
    mx_json_free(options);
    mx_json_free(rec);
    free(dirs.v);
    return code;
}
