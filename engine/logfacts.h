/* The aggregates of `mxdiag logs` as one JSON value: the fact `logs` that
 * the logs rules (rules/9x-logs-*.lua, kind = "logs") judge.  Field list
 * and types: RULES.md, "Logs rules".  Knows nothing of Lua. */
#ifndef MX_LOGFACTS_H
#define MX_LOGFACTS_H
#include <stdint.h>
#include "json.h"
#include "factsink.h"
#include "logagg.h"
#include "logread.h"

#define MX_LOG_FACTS_TOP 5 /* per cause: domains and addresses listed */

typedef struct mx_log_facts_in {
    mx_log_agg *agg;
    const mx_log_stats *stats;
    const char *const *samples; /* [MX_LOG_CAUSE_MAX]: latest reply text per cause ("" or NULL: none) */
    int64_t now;
    int64_t since, until;       /* the --since/--until window; INT64_MIN / INT64_MAX when open */
    const char *domain;         /* --domain, or NULL */
} mx_log_facts_in;

/* Builds the fact through s (an mx_fact_build_fn; ud: const mx_log_facts_in *):
 * straight into Lua tables for the rules (logs_judge.c). */
void mx_log_facts_build(const mx_fact_sink *s, void *ud);
mx_json *mx_log_facts_json(const mx_log_facts_in *in);
/* The histogram (the fact's "histogram"; caller frees). */
mx_json *mx_log_hist_json(const mx_agg_hist *h);
/* One group as the rules see it (also for log.aggregate). */
mx_json *mx_log_group_json(const mx_agg_group *g);

#endif
