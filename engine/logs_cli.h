/* `mxdiag logs`: the log report (logs_cli.c, engine-only) and its optional
 * live probe (logs_probe.c, in the binary: it needs the rule runtime). */
#ifndef MX_LOGS_CLI_H
#define MX_LOGS_CLI_H
#include <stddef.h>
#include "json.h"

/* Runs the `check` rules on each domain in one runtime, with argv (argv[0]
 * is a command name) parsed as check's options and `options` (may be NULL)
 * merged into each target's options.  Returns an array of mxdiag.check/1
 * documents, one per domain, in order. */
typedef mx_json *(*mx_logs_probe_fn)(int argc, char **argv, const char *const *domains, size_t n,
                                     const mx_json *options);

/* Runs the logs rules (kind = "logs") with the facts run_facts ({"logs":
 * the aggregates, see logfacts.h}) with argv parsed as check's options
 * (--rules-dir, --trace) and options (may be NULL) as target.options.  Returns the findings
 * (mxdiag.check/1 findings, caller frees), or NULL when the rules did not
 * finish (interrupted).  A rule that fails to load exits with status 3. */
typedef mx_json *(*mx_logs_judge_fn)(int argc, char **argv, const mx_json *run_facts, const mx_json *options);

/* The command; probe NULL: --probe is reported as unavailable; judge NULL:
 * no judgement (findings of the reading only, for the engine's unit tests). */
int mx_logs_main_with(int argc, char **argv, mx_logs_probe_fn probe, mx_logs_judge_fn judge);
int mx_logs_main(int argc, char **argv); /* = mx_logs_main_with(argc, argv, NULL, NULL) */
/* The signal (SIGINT/SIGTERM) that interrupted the command, 0 if none: a
 * probe polls it to stop its live checks. */
int mx_logs_interrupted(void);

/* logs_probe.c: the command with the probe wired to the rule runtime. */
int mx_logs_command(int argc, char **argv);
mx_json *mx_logs_probe(int argc, char **argv, const char *const *domains, size_t n, const mx_json *options);
/* logs_judge.c */
mx_json *mx_logs_judge(int argc, char **argv, const mx_json *run_facts, const mx_json *options);

#endif
