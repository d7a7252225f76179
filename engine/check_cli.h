/* What engine/main.c shares with commands built on `check` (batch_cli.c):
 * the check options parsed exactly as `check` parses them, and the runtime
 * they configure. Implemented in main.c. */
#ifndef MX_CHECK_CLI_H
#define MX_CHECK_CLI_H
#include "runtime.h"

typedef struct mx_check_setup {
    mx_rt *rt;          /* rules loaded */
    mx_json *options;   /* the run's target.options (owned here) */
    char **rest;        /* arguments after the options */
    int nrest;
    void *priv;
} mx_check_setup;

/* Parses argv (argv[0] is the command name) with check's options and builds
 * the runtime; usage errors exit with status 3 as check's do. */
void mx_check_setup_new(int argc, char **argv, mx_check_setup *s);
/* The same for `mxdiag logs`' judgement (facts not NULL): a runtime with the
 * logs rules (kind = "logs") loaded instead of the check rules, whose checks
 * start with the facts given (not taken; must outlive the runtime). */
void mx_check_setup_logs(int argc, char **argv, const mx_json *facts, mx_check_setup *s);
void mx_check_setup_free(mx_check_setup *s);

int mx_batch_main(int argc, char **argv);

/* An argument vector being built (NULL-terminated, strings owned). */
typedef struct mx_argv { char **v; int n; } mx_argv;
void mx_argv_push(mx_argv *a, const char *s);
/* Does check's option opt ("--name") take a value? From check's own getopt
 * table, so batch, which passes check's options through, never drifts. */
int mx_check_opt_takes_value(const char *opt);
/* Is option opt (or opt=...) among argv[1..] before "--"? */
int mx_cli_has(int argc, char **argv, const char *opt);
/* Settings (a batch list's defaults:, the configuration file) appended to
 * out as check options, skipping those argv already has; keys with no
 * option go to *base when base is not NULL. */
void mx_settings_to_args(const mx_json *d, int argc, char **argv, mx_argv *out, mx_json **base);
/* The configuration file's settings (NULL: none read). */
extern mx_json *mx_config_settings;

#endif
