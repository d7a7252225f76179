/* Findings of one check, their order, the overall status, and the text and
 * JSON writers. Knows nothing of Lua: findings arrive as mx_json objects. */
#ifndef MX_REPORT_H
#define MX_REPORT_H
#include "buf.h"
#include "json.h"

typedef enum { MX_SEV_OK, MX_SEV_INFO, MX_SEV_UNKNOWN, MX_SEV_WARN, MX_SEV_CRIT } mx_severity;

int mx_severity_parse(const char *s, mx_severity *out);    /* 0 or -1 */
const char *mx_severity_name(mx_severity s);
/* Exit code for an overall status: ok/info 0, warn 1, crit 2, unknown 3. */
int mx_severity_exit(mx_severity s);
/* Status name for the overall status ("ok", "warn", "crit", "unknown"). */
const char *mx_status_name(mx_severity s);

typedef struct mx_finding {
    int rule_order;      /* load order of the rule that made it */
    unsigned long seq;   /* emission order, last tie-breaker */
    mx_severity severity;
    mx_json *obj;        /* {rule, code, severity, summary, explanation, advice, evidence} */
    int in_arena;        /* obj and everything in it live in an arena: mx_report_free leaves it */
} mx_finding;

typedef struct mx_report {
    mx_finding *items;
    size_t len, cap;
    unsigned long seq;
} mx_report;

void mx_report_add(mx_report *r, int rule_order, mx_severity sev, mx_json *obj);
/* The same for a finding whose tree lives wholly in an arena (no heap node
 * attached anywhere in it): mx_report_free does not walk it, the arena's
 * owner frees it at once. */
void mx_report_add_arena(mx_report *r, int rule_order, mx_severity sev, mx_json *obj);
void mx_report_free(mx_report *r);
/* Deterministic order whatever the timing: domain-level findings first, then
 * by MX preference, host, address, port; then rule order, code, emission. */
void mx_report_sort(mx_report *r);
int mx_finding_cmp(const mx_finding *a, const mx_finding *b);
mx_severity mx_report_status(const mx_report *r);

/* Whole JSON document for one target (schema mxdiag.check/1). Takes ownership
 * of target (an object) and extra (object merged at top level, may be NULL). */
mx_json *mx_report_json(mx_report *r, mx_json *target, long long duration_ms, mx_json *extra);
/* The same document sharing `target` and the findings with the report (no
 * copies): it must not outlive them, and is freed with mx_report_json_release. */
mx_json *mx_report_json_borrowed(mx_report *r, mx_json *target, long long duration_ms);
void mx_report_json_release(mx_json *doc);
/* Text rendering; colour escapes when colour is nonzero. verbosity: -1 (-q)
 * the verdict line only; 0 (default) the verdict and its next step, the
 * problems and notes one line each (identical ones grouped), ok findings
 * folded into one line per MX address; 1 (-v) explanations and advice, every
 * finding; 2 (-vv) the evidence too, as a person would write it. The verdict
 * line closes a report of more than 6 finding lines (-v: 2). mx_report_text is -v. */
void mx_report_text(mx_buf *out, mx_report *r, const mx_json *target, long long duration_ms, int colour);
void mx_report_text_v(mx_buf *out, mx_report *r, const mx_json *target, long long duration_ms, int colour,
                      int verbosity);

#endif
