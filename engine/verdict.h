/* The verdict line: one line that says what is wrong and where, chosen from
 * the strongest-evidence problem (the cause, not a finding marked
 * "conclusion" such as delivery.none), or the delivery verdict when all is
 * well. Shared by the text report (first and last line) and the Nagios line.
 * Knows nothing of Lua: findings are mx_json objects (check.schema.json). */
#ifndef MX_VERDICT_H
#define MX_VERDICT_H
#include <stddef.h>
#include "buf.h"
#include "json.h"
#include "report.h"

/* Rank of a finding's severity name for problems: crit 3, warn 2, unknown 1,
 * ok/info 0. */
int mx_verdict_rank(const mx_json *finding);
/* Index (into f[0..n)) of the finding the verdict names, -1 when none:
 * status ok -> a conclusion of severity ok (delivery.ok), else the first ok
 * finding; otherwise the worst problem that is not a conclusion (ties: one
 * naming an address first, then report order), else the worst conclusion. */
long mx_verdict_pick(const mx_json *const *f, size_t n, mx_severity status);
/* "HOST: SUMMARY" of the finding (HOST when the evidence names a host the
 * summary does not), unescaped; "no findings" for NULL. */
void mx_verdict_text(mx_buf *out, const mx_json *finding);
/* Index of the finding whose advice is the verdict's next step: the worst
 * problem marked "next_step" (a finding that settles what to do about the
 * cause, e.g. a control host that accepts: the block is theirs) when there is
 * one, else pick (the cause itself). */
long mx_verdict_next_pick(const mx_json *const *f, size_t n, long pick);
/* The first sentence of the finding's advice (the one next step), unescaped;
 * nothing when it has none. */
void mx_verdict_next(mx_buf *out, const mx_json *finding);

#endif
