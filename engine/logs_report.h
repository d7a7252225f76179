/* `mxdiag logs`: the parts of the report around the logs rules (engine-only,
 * used by cli/cmd_logs.c): the fact handed to the rules, the rules' findings,
 * and the compact per-cause histogram of the text output. */
#ifndef MX_LOGS_REPORT_H
#define MX_LOGS_REPORT_H
#include "buf.h"
#include "json.h"
#include "logagg.h"
#include "logread.h"

/* Runs the logs rules with the run's fact `logs` (the aggregates in facts,
 * built by the judge through logfacts.h's mx_log_facts_build), argv (the
 * rules' options) and options (target.options, may be NULL); returns their
 * findings (caller frees) or NULL. The command line (cli/logs_judge.c)
 * provides it: the engine knows nothing of the rules. */
struct mx_log_facts_in;
typedef mx_json *(*mx_logs_judge_fn)(int argc, char **argv, const struct mx_log_facts_in *facts,
                                     const mx_json *options);

/* Options of `mxdiag logs` that belong to the logs rules (--rules-dir DIR,
 * --trace): also passed to the probe. */
int mx_logs_judge_option(const char *arg);

/* Builds the fact `logs` (logfacts.h) and runs the judge on it; adds the
 * histogram to root (key "histogram").  Returns the rules' findings, or
 * NULL without a judge (an engine-only build) or when it did not finish. */
mx_json *mx_logs_judgement(mx_log_agg *agg, const mx_log_stats *stats, const char *const *samples,
                           const mx_log_file_stat *files, size_t nf, const mx_log_filter *filter, int64_t now,
                           mx_logs_judge_fn judge, int argc, char **argv, mx_json *root);

/* The histogram (root's "histogram") as a few text lines: one per series;
 * the heading wrapped at width columns. */
void mx_logs_print_histogram(mx_buf *b, const mx_json *hist, int width);

#endif
