/* Cause patterns compiled for the log parser: an ordered list of entries
 * {cause, any-of patterns, also: any-of patterns}; the first entry whose
 * patterns match a reply text gives its cause.  Built once (from the catalog
 * rules/lib/log_patterns.lua, read by bindings/rt_loader.c) and then only
 * read, by every parser thread at once.
 *
 * A pattern is literal bytes, case-sensitive, with two anchors: a leading
 * '^' ties it to the start of the text, a trailing '$' to its end ("^x$":
 * the whole text).  No other byte is special; "\^" and "\$" at those places
 * stand for the literal characters.
 *
 * Matching skips most substring searches with a bigram filter built from the
 * text once per call (a pattern whose first and last byte pairs are not in
 * the text cannot occur), and evaluates a pattern shared by several entries
 * only once per call.  Knows nothing of Lua. */
#ifndef MX_CAUSEMATCH_H
#define MX_CAUSEMATCH_H
#include <stddef.h>

#define MX_CAUSEMATCH_MAX_PATTERNS 512 /* distinct patterns in all */
#define MX_CAUSEMATCH_MAX_ENTRIES 256
#define MX_CAUSEMATCH_MAX_LEN 256      /* bytes of one pattern, anchors included */

typedef struct mx_cause_matcher mx_cause_matcher;

mx_cause_matcher *mx_cause_matcher_new(void);
void mx_cause_matcher_free(mx_cause_matcher *m);

/* Appends an entry: cause id (>= 0) when one of any[0..nany) matches and,
 * if nalso > 0, one of also[0..nalso) too.  0, or -1 with a message in err
 * (empty or over-long pattern, a bare anchor, too many entries or
 * patterns); the matcher is unchanged on error. */
int mx_cause_matcher_add(mx_cause_matcher *m, int cause, const char *const *any, size_t nany,
                         const char *const *also, size_t nalso, char *err, size_t errlen);

size_t mx_cause_matcher_entries(const mx_cause_matcher *m);

/* The i-th distinct pattern's literal bytes (anchors removed, NUL-terminated)
 * and whether it is tied to the start / end of the text; NULL past the last.
 * For tests that build texts from a catalog's own patterns. */
const char *mx_cause_matcher_pattern(const mx_cause_matcher *m, size_t i, int *at_start, int *at_end);

/* The cause of the first matching entry, or -1. */
int mx_cause_matcher_match(const mx_cause_matcher *m, const char *text, size_t n);

#endif
