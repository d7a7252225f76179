/* mxdiag check TARGET and mxdiag local [TARGET]: one check, printed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "addr.h"
#include "cli.h"
#include "escape.h"
#include "formats.h"
#include "letter.h"

/* ------------------------------------------------------------ replay */

/* A replay runs with the recording's options. On the command line only
 * options that shape the output (or name the files) may stand beside
 * --replay; an option that would change the engine's calls is refused
 * unless it restates the recorded value. --rules-dir is allowed: it is how
 * a rule under development is tried on a recording (mx_check_opts: output_only,
 * and the recording key each option sets). */
static char *json_text(const mx_json *v) {
    if (!v) return mx_xstrdup("(not set)");
    mx_buf b = MX_BUF_INIT;
    mx_json_write(&b, v, 0);
    return mx_buf_steal(&b);
}

static mx_json *read_recording(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        mx_cli_failf("mxdiag", "cannot open recording %s: %s", path, strerror(errno));
        exit(EXIT_USAGE);
    }
    mx_buf b = MX_BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len <= (256u << 20)) mx_buf_put(&b, chunk, n);
    fclose(f);
    char perr[128];
    mx_json *doc = mx_json_parse(b.data ? b.data : "", b.len, perr, sizeof perr);
    mx_buf_free(&b);
    const char *schema = doc ? mx_json_get_str(doc, "schema") : NULL;
    mx_json *opts = doc ? mx_json_get(doc, "options") : NULL, *checks = doc ? mx_json_get(doc, "checks") : NULL;
    if (!schema || strcmp(schema, "mxdiag.recording/1") != 0 || !opts || opts->type != MX_JOBJ || !checks ||
        checks->type != MX_JARR || !checks->u.c.len || !mx_json_get_str(checks->u.c.items[0], "target")) {
        mx_cli_failf("mxdiag", "%s is not an mxdiag recording of a check (schema mxdiag.recording/1 with options and "
                     "checks[0].target)%s%s", path, doc ? "" : ": ", doc ? "" : perr);
        mx_json_free(doc);
        exit(EXIT_USAGE);
    }
    return doc;
}

/* Refuses the command-line options of c that differ from the recording rec
 * (cmd: "check" or "rules test"); exits with a message naming them. */
static void replay_refuse_conflicts(const mx_cli *c, const mx_json *rec, const char *cmd, const char *path) {
    mx_json *mine = mx_cli_rule_options(c);
    const mx_json *theirs = mx_json_get(rec, "options");
    mx_buf bad = MX_BUF_INIT;
    for (size_t i = 0; i < c->given.n; i++) {
        const char *name = c->given.v[i];
        int dup = 0, ok = 0;
        for (size_t j = 0; j < i; j++) dup |= !strcmp(c->given.v[j], name);
        ok = mx_check_opt_output_only(name);
        if (dup || ok) continue;
        char *have = NULL, *want = NULL;
        if (!strcmp(name, "only") || !strcmp(name, "skip")) {
            const char *r = mx_json_get_str(rec, name), *l = !strcmp(name, "only") ? c->only : c->skip;
            if (r && l && !strcmp(r, l)) continue;
            have = mx_xstrdup(l ? l : "");
            want = mx_xstrdup(r ? r : "(not set)");
        } else {
            const char *key = mx_check_opt_recorded(name);
            if (key) {
                have = json_text(mx_json_get(mine, key));
                want = json_text(theirs ? mx_json_get(theirs, key) : NULL);
                if (!strcmp(have, want)) { free(have); free(want); continue; }
            }
        }
        mx_buf_printf(&bad, "%s--%s", bad.len ? ", " : "", name);
        if (want) mx_buf_printf(&bad, " %s (recorded: %s)", have, want);
        else mx_buf_puts(&bad, " (not part of a recording)");
        free(have);
        free(want);
    }
    mx_json_free(mine);
    if (bad.len) {
        mx_cli_failf("mxdiag", "%s --replay runs with the options recorded in %s; these would change its engine calls: %s.",
                     cmd, path, mx_buf_cstr(&bad));
        fprintf(stderr, "Leave them out (output options such as --json, --format, --letter, --trace and --no-color are fine).\n");
        mx_buf_free(&bad);
        exit(EXIT_USAGE);
    }
    mx_buf_free(&bad);
}

/* The target of `mxdiag local` without TARGET: this host, no MX lookup. */
static void local_target(mx_target *t) {
    memset(t, 0, sizeof *t);
    t->kind = MX_TARGET_HOST;
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0]) snprintf(host, sizeof host, "localhost");
    snprintf(t->input, sizeof t->input, "%s", host);
    mx_domain_normalize(host, t->domain, sizeof t->domain);
}

/* check/local --replay: the target, options, selection and timeout come
 * from the recording. Returns the recording (c's strings point into it). */
static mx_json *replay_setup(mx_cli *c, mx_target *t, int local_command) {
    mx_json *rec = read_recording(c->replay);
    replay_refuse_conflicts(c, rec, local_command ? "local" : "check", c->replay);
    const char *input = mx_json_get_str(mx_json_get(rec, "checks")->u.c.items[0], "target");
    if (c->nrest > 1) mx_cli_usage_error("%s", "a replay takes at most one TARGET (the recorded one)");
    if (c->nrest == 1 && strcasecmp(c->rest[0], input) != 0) {
        mx_cli_failf("mxdiag", "%s is a recording of '%s', not '%s'", c->replay, input, c->rest[0]);
        exit(EXIT_USAGE);
    }
    const char *why;
    if (local_command && c->nrest == 0) {
        /* `mxdiag local` without TARGET checked the recording host, no MX lookup */
        local_target(t);
        snprintf(t->input, sizeof t->input, "%s", input);
        mx_domain_normalize(input, t->domain, sizeof t->domain);
    } else if (mx_target_parse(input, t, &why) != 0) {
        mx_cli_failf("mxdiag", "%s: the recorded target '%s' is invalid: %s", c->replay, input, why);
        exit(EXIT_USAGE);
    }
    const mx_json *o = mx_json_get(rec, "options");
    const mx_json *tmo = mx_json_get(o, "timeout");
    c->timeout = tmo && tmo->type == MX_JNUM ? tmo->u.n : tmo && tmo->type == MX_JINT ? (double)tmo->u.i : 10;
    c->only = mx_json_get_str(rec, "only");
    c->skip = mx_json_get_str(rec, "skip");
    return rec;
}

/* check user@domain: a swaks user expects the recipient to be tried, so it is,
 * as --rcpt user@domain would (RCPT TO, then RSET and QUIT: never DATA), with
 * one line on stderr saying so. An explicit --rcpt wins; a local part that
 * cannot go into RCPT TO:<...> as typed leaves the check of the domain alone,
 * and the line says that instead. */
static void rcpt_from_target(mx_cli *c, const mx_target *t) {
    if (!t->local[0] || c->rcpt) return;
    const char *in = t->input;
    int ok = strlen(in) <= 254;
    for (const char *p = in; *p && ok; p++) ok = *p > ' ' && *p < 0x7f && *p != '<' && *p != '>';
    if (!ok) {
        mx_errf("mxdiag: note: checking the domain of %s only; its local part cannot be asked about as typed "
                "(give --rcpt ADDRESS)", in);
        return;
    }
    c->rcpt = in;
    mx_sl_push(&c->given, "rcpt");
    mx_errf("mxdiag: note: also asking each MX whether it accepts <%s> (RCPT TO, then RSET; no mail is sent)", in);
}

int mx_cmd_check(int argc, char **argv, int local_command) {
    mx_cli c;
    mx_cli_parse(argc, argv, &c);
    mx_target t;
    const char *why;
    mx_json *rec = NULL, *options = NULL;
    if (c.replay) {
        rec = replay_setup(&c, &t, local_command);
        options = mx_json_clone(mx_json_get(rec, "options"));
        /* JSON reads "timeout": 3 back as an integer: the rules saw a number */
        mx_json_set(options, "timeout", mx_json_num(c.timeout));
    } else if (local_command) {
        c.local = 1;
        if (!c.only) c.only = "local";
        if (c.nrest > 1) mx_cli_usage_error("%s", "local takes at most one TARGET");
        /* without a target, nothing needs the MX rules */
        if (c.nrest == 0) { c.skip = c.skip ? c.skip : "mx"; local_target(&t); }
    } else if (c.nrest != 1) mx_cli_usage_error("check needs exactly one TARGET%s", c.nrest ? " (got more)" : "");
    if (!rec && c.nrest == 1 && mx_target_parse(c.rest[0], &t, &why) != 0) {
        mx_cli_failf("mxdiag", "invalid target '%s': %s", c.rest[0], why);
        mx_cli_free(&c);
        return EXIT_USAGE;
    }
    if (!rec && c.nrest == 1) rcpt_from_target(&c, &t);
    mx_strlist dirs = {0};
    mx_cli_site_dirs(&c, &dirs);
    if (!options) options = mx_cli_rule_options(&c);
    char *resolvers = mx_cli_resolvers(&c.resolvers);
    /* while waiting, a status line on a terminal (never into a file or pipe, never under a dialogue) */
    c.progress = isatty(2) && !c.trace && !c.transcript;
    mx_rt *rt = mx_cli_runtime(&c, &dirs, options, resolvers);
    if (rec) {
        /* the recorded run's rule options and overrides */
        char err[1024];
        if (mx_rt_set_rule_options(rt, mx_json_get(rec, "rule_options"), err, sizeof err) != 0 ||
            mx_rt_set_overrides(rt, mx_json_get(rec, "overrides"), err, sizeof err) != 0) {
            mx_cli_failf("mxdiag", "%s: %s", c.replay, err);
            return EXIT_USAGE;
        }
    }
    mx_check *chk = mx_check_start(rt, &t, NULL, NULL);
    mx_check *runchk = mx_check_start_run(rt, NULL, NULL); /* scope = "run" rules, once */
    mx_rt_run(rt);
    /* the run-level findings count (text, JSON); a Nagios line's status is the target's, as its text says */
    int code = strcmp(c.format, "nagios") ? mx_check_exit_code_with_run(chk, runchk) : mx_check_exit_code(chk);
    /* --strict-rules: a site rule that reached no verdict fails the run */
    if (c.strict_rules && (mx_check_broken_rules(chk, NULL) || (runchk && mx_check_broken_rules(runchk, NULL))) && code != 2) code = 3;
    mx_buf out = MX_BUF_INIT;
    if (strcmp(c.format, "json") == 0) {
        mx_json *doc = mx_check_json(chk);
        if (runchk) mx_json_set(doc, "run", mx_check_run_json(runchk));
        mx_json_write(&out, doc, 2);
        mx_buf_putc(&out, '\n');
        mx_json_free(doc);
    } else if (strcmp(c.format, "letter") == 0) {
        mx_json *doc = mx_check_json(chk);
        char when[64];
        mx_letter_write(&out, doc, mx_check_started_utc(chk, when, sizeof when), MXDIAG_VERSION);
        mx_json_free(doc);
    } else if (strcmp(c.format, "nagios") == 0) {
        mx_json *doc = mx_check_json(chk);
        mx_fmt_nagios(&out, doc);
        mx_json_free(doc);
    } else {
        const char *nc = getenv("NO_COLOR");
        int colour = !c.nocolor && isatty(1) && !(nc && *nc);
        mx_check_text_v(chk, &out, colour, c.quiet ? -1 : c.verbose > 2 ? 2 : c.verbose);
        if (runchk) {
            mx_buf_puts(&out, "\nRun-level rules (once for this run, not about the target):\n");
            mx_check_text_v(runchk, &out, colour, c.quiet ? -1 : c.verbose > 2 ? 2 : c.verbose);
        }
    }
    /* the recording is written before the result is printed: a --record that
     * cannot be written makes a nagios run's one line UNKNOWN (exit 3), not
     * a status line whose word contradicts the exit code */
    char err[512];
    if (mx_rt_finish(rt, err, sizeof err) != 0) {
        if (strcmp(c.format, "nagios") == 0) out.len = 0;
        mx_cli_failf("mxdiag", "%s", err);
        code = EXIT_USAGE;
    }
    fwrite(out.data ? out.data : "", 1, out.len, stdout);
    fflush(stdout);
    mx_buf_free(&out);
    mx_check_free(chk);
    mx_check_free(runchk);
    mx_rt_free(rt);
    mx_json_free(options);
    mx_json_free(rec);
    free(resolvers);
    mx_cli_free(&c);
    free(dirs.v);
    return code;
}

