/* What the commands of cli/ share: check's options (one table,
 * check_opts.c), the runtime they configure (check_setup.c), and each
 * command's entry point (cmd_*.c). main.c dispatches to the commands; the
 * commands use check_opts.c and check_setup.c; nothing here calls back. */
#ifndef MX_CLI_H
#define MX_CLI_H
#include <signal.h>
#include <stdio.h>
#include "runtime.h"

#define EXIT_USAGE 3

/* ------------------------------------------------------------ check_opts.c */

/* One option of check (and of local, batch, logs --probe, rules, and the
 * configuration file / a batch list's defaults:). */
typedef struct mx_check_opt {
    const char *name;       /* long name without "--" */
    char short_name;        /* 'h' for -h, or 0 */
    int id;                 /* getopt value: the short form, or an MX_OPT_* */
    int takes_value;
    const char *config_key; /* key in the configuration file / batch defaults:, or NULL */
    const char *recorded;   /* key of a recording's "options" it sets, or NULL */
    int output_only;        /* shapes only the output: allowed beside --replay and in rules test */
    const char *help;       /* its lines in --help (NULL: not listed there) */
} mx_check_opt;

enum {
    MX_OPT_FORMAT = 256, MX_OPT_JSON, MX_OPT_RESOLVER, MX_OPT_SOURCE, MX_OPT_TIMEOUT, MX_OPT_PORT, MX_OPT_RULESDIR,
    MX_OPT_ONLY, MX_OPT_SKIP, MX_OPT_TRACE, MX_OPT_RECORD, MX_OPT_REPLAY, MX_OPT_NOCOLOR, MX_OPT_WIDTH, MX_OPT_VERSION,
    MX_OPT_ALLOW_RESERVED, MX_OPT_HELO, MX_OPT_RCPT, MX_OPT_MAIL_FROM, MX_OPT_CA_FILE, MX_OPT_SENDER_IP,
    MX_OPT_SENDER_DOMAIN, MX_OPT_CONTROL, MX_OPT_DNSBL_ZONE, MX_OPT_DNSBL_KEY, MX_OPT_LOCAL, MX_OPT_SYSROOT,
    MX_OPT_CONFIG_DIR, MX_OPT_PER_HOST, MX_OPT_QPS, MX_OPT_MAX_CONN, MX_OPT_LETTER, MX_OPT_UPDATE,
    MX_OPT_RULE_ARG, MX_OPT_RULE_ARG_JSON, MX_OPT_OVERRIDE_JSON,
    MX_OPT_TRANSCRIPT,
    MX_OPT_CONFIG, /* taken out of argv by main.c (load_config) before any parser runs */
};

/* options added later, out of the list above (kept stable for merges) */
enum { MX_OPT_STRICT_RULES = 400 };

/* The table, ended by a zeroed entry. */
extern const mx_check_opt mx_check_opts[];
/* The entry of "--name" / "--name=value" / "-h", or NULL. */
const mx_check_opt *mx_check_opt_find(const char *arg);
/* Does check's option opt ("--name") take a value? (batch and logs --probe
 * pass check's options through.) */
int mx_check_opt_takes_value(const char *opt);
/* Is the option named name (no "--") output-only (see output_only)? */
int mx_check_opt_output_only(const char *name);
/* The key of a recording's "options" that option name sets, or NULL. */
const char *mx_check_opt_recorded(const char *name);
/* mxdiag --help. */
void mx_cli_usage(FILE *f);
/* "mxdiag: <fmt with arg>" (arg escaped), the hint, exit 3. */
void mx_cli_usage_error(const char *fmt, const char *arg);
/* mx_cli_usage_error's errors name cmd (NULL: none) and its --help from now on. */
void mx_cli_set_usage_cmd(const char *cmd);
/* nagios_usage.c: remember whether argv asks for --format nagios; then a
 * usage error also prints the plugin line on stdout (no-op otherwise). */
void mx_cli_nagios_mode_scan(int argc, char **argv);
void mx_cli_nagios_usage(const char *message);
int mx_cli_nagios_mode(void);
/* An error in what the command was given that is not a malformed command
 * line (a recording, a rule file, a rule option, the shipped rules): "WHO:
 * MESSAGE" on stderr (escaped), and in nagios mode the plugin line with
 * MESSAGE on stdout. The caller then exits with EXIT_USAGE. */
void mx_cli_failf(const char *who, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same for a command with its own --help: "mxdiag CMD: ...". */
void mx_cli_cmd_usage_error(const char *cmd, const char *fmt, const char *arg);

/* An argument vector being built (NULL-terminated, strings owned). */
typedef struct mx_argv { char **v; int n; } mx_argv;
void mx_argv_push(mx_argv *a, const char *s);
void mx_argv_release(mx_argv *a);
/* Is option opt (or opt=...) among argv[1..] before "--"? */
int mx_cli_has(int argc, char **argv, const char *opt);
/* Settings (a batch list's defaults:, the configuration file) appended to
 * out as check options, skipping those argv already has; keys with no
 * option go to *base when base is not NULL. */
void mx_settings_to_args(const mx_json *d, int argc, char **argv, mx_argv *out, mx_json **base);
/* The configuration file's settings (NULL: none read). */
extern mx_json *mx_config_settings;
/* The configuration file read (NULL: none), for watch's SIGHUP. */
extern const char *mx_config_path;
extern int mx_config_disabled; /* --no-config was given */

/* ------------------------------------------------------------ check_setup.c */

typedef struct mx_strlist {
    const char **v;
    size_t n;
} mx_strlist;
void mx_sl_push(mx_strlist *l, const char *s);

/* check's options, parsed. */
typedef struct mx_cli {
    const char *format;
    mx_strlist resolvers, sources, rules_dirs;
    mx_strlist sender_ips, sender_domains, controls; /* reputation and outbound rules */
    mx_strlist dnsbl_zones; /* --dnsbl-zone: ask only these blocklists */
    char *dnsbl_key;        /* --dnsbl-key: Spamhaus DQS key, lowercased copy (a secret: never printed) */
    double timeout;
    int port;
    const char *only, *skip, *record, *replay;
    int trace, nocolor, allow_reserved;
    int strict_rules;          /* --strict-rules: a broken site rule fails the run */
    int update, verbose;       /* rules test; check text: -v 1, -vv 2 */
    int quiet;                 /* check text: -q, the verdict line only */
    int transcript;            /* --transcript: the SMTP dialogues on stderr */
    int family;                /* -4 / -6: probe only that address family (0: both) */
    int progress;              /* set by the command: a live status line on stderr (a terminal) */
    const char *helo, *rcpt, *mail_from, *ca_file; /* SMTP dialogue */
    int local;                 /* --local or the local command */
    int per_host, qps;         /* politeness: connections per address, DNS queries/s */
    int max_connections;       /* --max-connections: in total (0: from the open-files limit) */
    const char *sysroot;       /* --sysroot */
    mx_strlist config_dirs;    /* --config-dir */
    mx_strlist given;          /* the options on the command line, by long name */
    mx_strlist rule_args;      /* --rule-arg ("s:ID.key=VALUE") and rule_options settings ("j:ID.key=JSON"), in order (owned) */
    mx_strlist overrides;      /* overrides settings: one JSON object each */
    char **rest;
    int nrest;
    int logs_rules;            /* mxdiag logs' judgement: load the logs rules, with facts */
    const mx_json *facts;
} mx_cli;

/* Parses argv (argv[0] is the command name) with check's options; usage
 * errors exit with status 3; --help and --version print and exit 0. */
void mx_cli_parse(int argc, char **argv, mx_cli *c);
void mx_cli_free(mx_cli *c);
/* Site rule directories: /etc/mxdiag/rules.d, $MXDIAG_RULES_PATH, --rules-dir. */
void mx_cli_site_dirs(mx_cli *c, mx_strlist *dirs);
/* The run's target.options from c (a new object). */
mx_json *mx_cli_rule_options(const mx_cli *c);
/* --resolver values in c-ares CSV form (NULL: none; usage error when bad). */
char *mx_cli_resolvers(const mx_strlist *l);
/* Applies --rule-arg and the settings' rule_options:/overrides: to rt. */
int mx_cli_site_settings(const mx_cli *c, mx_rt *rt, char *err, size_t errlen);
/* The runtime with the rules loaded; exits 3 on error. */
mx_rt *mx_cli_runtime(mx_cli *c, mx_strlist *dirs, mx_json *options, char *resolvers);
/* The shipped rules' directory (exits 3 when an installed one is missing). */
const char *mx_cli_shipped_rules(void);
/* mxdiag version. */
void mx_print_version(void);

/* A runtime set up from check's options, for commands that run many checks
 * (batch, logs --probe). */
typedef struct mx_check_setup {
    mx_rt *rt;          /* rules loaded */
    mx_json *options;   /* the run's target.options (owned here) */
    char **rest;        /* arguments after the options */
    int nrest;
    mx_cli *cli;        /* the runtime points into these three */
    mx_strlist *dirs;
    char *resolvers;
} mx_check_setup;
void mx_check_setup_new(int argc, char **argv, mx_check_setup *s);
/* The same for `mxdiag logs`' judgement (facts not NULL): a runtime with the
 * logs rules (kind = "logs") loaded instead of the check rules, whose checks
 * start with the facts given (not taken; must outlive the runtime). */
void mx_check_setup_logs(int argc, char **argv, const mx_json *facts, mx_check_setup *s);
void mx_check_setup_free(mx_check_setup *s);

/* ------------------------------------------------------------ help.c */

/* check, local, logs, batch, rules, version, help (NULL-terminated). */
extern const char *const mx_cli_commands[];
/* A bare `mxdiag`: the commands in a few lines. */
void mx_cli_short_usage(FILE *f);
/* A command's own --help (check, local, rules and its subcommands); -1 for
 * a command without one here (batch and logs print their own). */
int mx_cli_cmd_help(const char *cmd, FILE *f);
/* The option name (no "--") nearest to a mistyped arg ("--timout",
 * "--timout=3"), among check's options and extra (NULL-terminated, may be
 * NULL); NULL when none is near. */
const char *mx_cli_suggest_option(const char *arg, const char *const *extra);

/* The command line as typed (main.c keeps it before taking options out):
 * batch's resume command repeats it. */
extern int mx_cli_orig_argc;
extern char **mx_cli_orig_argv;

/* ------------------------------------------------------------ commands */

int mx_cmd_check(int argc, char **argv, int local); /* cmd_check.c: check, and local (local = 1) */
int mx_cmd_rules(int argc, char **argv);            /* cmd_rules.c */
int mx_rules_facts(mx_cli *c);                      /* cmd_rules_facts.c: rules facts RECORDING */
int mx_cmd_explain(int argc, char **argv);          /* cmd_explain.c: explain CODE */
int mx_batch_main(int argc, char **argv);           /* cmd_batch.c */
int mx_logs_main(int argc, char **argv);            /* cmd_logs.c */
int mx_cmd_serve(int argc, char **argv);            /* cmd_serve.c: the Prometheus exporter */
int mx_cmd_watch(int argc, char **argv);            /* cmd_watch.c: follow the logs, events on scope changes */

/* logs_probe.c: runs the `check` rules on each domain in one runtime, with
 * argv (argv[0] is a command name) parsed as check's options and `options`
 * (may be NULL) merged into each target's options; *stop (set by a signal)
 * stops the live checks. Returns an array of mxdiag.check/1 documents, one
 * per domain, in order. */
mx_json *mx_logs_probe(int argc, char **argv, const char *const *domains, size_t n, const mx_json *options,
                       volatile sig_atomic_t *stop);
/* Was a probe interrupted, its runtime left to the process exit? */
int mx_logs_probe_abandoned(void);

/* logs_judge.c: runs the logs rules (kind = "logs") over the run's fact
 * `logs` (the aggregates in facts, built straight into Lua tables by
 * logfacts.h's mx_log_facts_build) with argv parsed as check's options
 * (--rules-dir, --trace) and options (may be NULL) as target.options.
 * Returns the findings (mxdiag.check/1 findings, caller frees), or NULL when
 * the rules did not finish (interrupted). A rule that fails to load exits
 * with status 3. */
struct mx_log_facts_in;
mx_json *mx_logs_judge(int argc, char **argv, const struct mx_log_facts_in *facts, const mx_json *options);
struct mx_cause_matcher *mx_logs_patterns(int argc, char **argv, char *err, size_t errlen);

#endif
