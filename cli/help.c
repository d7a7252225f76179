/* First contact: the short usage of a bare `mxdiag`, each command's own
 * --help in one shape (Usage, what it does, Options, Exit status, See also),
 * and "did you mean" for commands and options. The full `mxdiag --help` is
 * mx_cli_usage (check_opts.c). */
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "suggest.h"

/* The commands main.c knows, for the short usage and "did you mean". */
const char *const mx_cli_commands[] = {"check", "local", "logs", "watch", "batch", "rules", "version", "help", NULL};

static const char *short_usage =
    "Usage: mxdiag [GLOBAL OPTIONS] COMMAND [OPTIONS] ...\n"
    "\n"
    "  check TARGET        diagnose delivery to a domain, user@domain or host[:port]\n"
    "  local [TARGET]      diagnose this host as a mail server\n"
    "  logs [FILE...]      summarise delivery failures in mail logs\n"
    "  watch [FILE...]     follow mail logs, one JSON event per change of scope\n"
    "  batch FILE          check every domain of a list\n"
    "  rules list|show|test  the diagnosis rules\n"
    "  version             print the version\n"
    "\n"
    "'mxdiag COMMAND --help' shows a command's options; 'mxdiag --help' all of them.\n";

void mx_cli_short_usage(FILE *f) { fputs(short_usage, f); }

/* kept here, not in main.c, so that batch reads it without calling back into main */
int mx_cli_orig_argc;
char **mx_cli_orig_argv;

/* Global options: main.c takes them before or after the command. */
static const char *global_opts =
    "\n"
    "Global options (before or after the command):\n"
    "  --config FILE, --no-config, --allow-env, --no-color (see mxdiag --help)\n";

static const char *exit_status =
    "\n"
    "Exit status (monitoring-plugin convention): 0 OK, 1 WARNING, 2 CRITICAL,\n"
    "3 UNKNOWN or a usage error.\n";

static void check_options(FILE *f) {
    fputs("\nOptions:\n", f);
    for (const mx_check_opt *o = mx_check_opts; o->name; o++)
        if (o->help && o->id != MX_OPT_CONFIG) fputs(o->help, f);
}

static void help_check(FILE *f) {
    fputs("Usage: mxdiag check [OPTIONS] TARGET\n"
          "\n"
          "Diagnoses delivery to TARGET and says what fails, where, and what to do.\n"
          "TARGET is a domain (its MX hosts are checked), user@domain (the same, and\n"
          "each MX is asked whether it accepts that recipient, as --rcpt does: RCPT TO,\n"
          "then RSET; no mail is sent), or a host name or IP address with an optional\n"
          ":port (that host alone, no MX lookup).\n", f);
    check_options(f);
    fputs(global_opts, f);
    fputs(exit_status, f);
    fputs("\nSee also: mxdiag(1), and RULES.md for the finding codes.\n", f);
}

static void help_local(FILE *f) {
    fputs("Usage: mxdiag local [OPTIONS] [TARGET]\n"
          "\n"
          "Diagnoses this host as a mail server: MTA listeners, Postfix/Exim settings,\n"
          "the local firewall (nft, iptables, UFW, CSF). With TARGET, also its MX\n"
          "checks, compared with what this host does (the same as\n"
          "check --local --only local TARGET). As root it reads the firewall and other\n"
          "users' sockets; without root it says exactly what it could not read.\n", f);
    check_options(f);
    fputs(global_opts, f);
    fputs(exit_status, f);
    fputs("\nSee also: mxdiag(1).\n", f);
}

static void help_rules(FILE *f) {
    fputs("Usage: mxdiag rules list\n"
          "       mxdiag rules show ID\n"
          "       mxdiag rules test [--update] [-v] PATH...\n"
          "       mxdiag rules test --record DIR -- check [OPTIONS] TARGET\n"
          "       mxdiag rules check DIR...\n"
          "       mxdiag rules facts [--rules-dir DIR] RECORDING.json\n"
          "       mxdiag rules api\n"
          "\n"
          "list: the loaded rules (shipped, then site rules), one per line; the\n"
          "rules of mxdiag logs follow, marked [logs].\n"
          "show: one rule as JSON: description, categories, facts, finding codes.\n"
          "test: replays rule tests (a directory with recording.json and\n"
          "expect.json, or a directory of them) offline and compares the findings;\n"
          "with --record, runs the check live and writes DIR as a new test.\n"
          "check: lints site rule files (fields, codes, facts, helper files) with\n"
          "file:line.\n"
          "facts: the facts a recording's rules published, as JSON.\n"
          "api: the Lua modules and functions a rule can call, as JSON.\n"
          "\n"
          "Options:\n"
          "  --rules-dir DIR     also load the site rules in DIR (repeatable)\n"
          "  --json              list: JSON instead of text\n"
          "  --update            test: rewrite each expect.json from the findings\n"
          "  -v, --verbose       test: print every finding compared\n"
          "  -h, --help          this help\n", f);
    fputs(global_opts, f);
    fputs("\nExit status: 0 success (test: every test passed), 1 a test failed,\n"
          "3 a usage error or a rule that does not load.\n", f);
    fputs("\nSee also: mxdiag-rules(7), RULES.md.\n", f);
}

int mx_cli_cmd_help(const char *cmd, FILE *f) {
    if (!cmd) return -1;
    if (!strcmp(cmd, "check")) help_check(f);
    else if (!strcmp(cmd, "local")) help_local(f);
    else if (!strcmp(cmd, "rules") || !strcmp(cmd, "list") || !strcmp(cmd, "show") || !strcmp(cmd, "test") ||
             !strcmp(cmd, "api"))
        help_rules(f);
    else return -1;
    return 0;
}

const char *mx_cli_suggest_option(const char *arg, const char *const *extra) {
    if (!arg || arg[0] != '-') return NULL;
    const char *name = arg + (arg[1] == '-' ? 2 : 1), *eq = strchr(name, '=');
    char word[80];
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    if (len >= sizeof word) return NULL;
    memcpy(word, name, len);
    word[len] = 0;
    const char *cands[128];
    size_t n = 0;
    for (const mx_check_opt *o = mx_check_opts; o->name && n < 100; o++)
        if (o->help) cands[n++] = o->name;
    for (; extra && *extra && n < 127; extra++) cands[n++] = *extra;
    return mx_suggest(word, cands, n);
}
