/* Aggregation of delivery events into groups with bounded memory.
 *
 * Groups are kept per dimension (cause, recipient domain, remote address,
 * local source, and cause x domain / cause x address for "top domains per
 * cause": failures and failed attempts only, no pair for a success).  Each
 * dimension tracks the first max_groups keys seen; later keys fall into one
 * "(other)" group and are counted as dropped, except that the domain and
 * address dimensions keep up to MX_AGG_LATE(max_groups) more keys whose
 * first event is a failure and that never went to "(other)" (every group
 * holds all of its key's events), and the cause x key dimensions hold as
 * many pairs as the two together.  Distinct counts
 * (messages, recipients, domains, addresses) are exact up to
 * MX_AGG_EXACT_MAX values, then HyperLogLog estimates (~6% error) with a
 * fixed 256 bytes per counter, so memory never grows with the log size.
 *
 * Knows nothing of Lua; a binding exposes mx_log_agg_list() as tables. */
#ifndef MX_LOGAGG_H
#define MX_LOGAGG_H
#include <stddef.h>
#include <stdint.h>
#include "logparse.h"

#define MX_AGG_EXACT_MAX 64
#define MX_AGG_ESTIMATED UINT32_MAX
#define MX_AGG_DEFAULT_MAX_GROUPS 2048
/* Past the first max_groups keys, the domain and address dimensions keep
 * this many more whose first event is a failure, and the cause x key
 * dimensions hold max_groups + this many pairs.  Half of max_groups: the
 * report's fact (a Lua table per group) stays under 64 MB even when every
 * group holds the most memory a group can. */
#define MX_AGG_LATE(max) ((max) / 2)

typedef enum {
    MX_AGG_CAUSE = 0,
    MX_AGG_DOMAIN,
    MX_AGG_ADDR,
    MX_AGG_SOURCE,
    MX_AGG_CAUSE_DOMAIN, /* key "cause/domain" */
    MX_AGG_CAUSE_ADDR,   /* key "cause/addr" */
    MX_AGG__DIMS
} mx_agg_dim;

typedef struct mx_agg_distinct {
    uint32_t n;       /* exact count while hll == NULL; after mx_log_agg_finish, the count */
    uint32_t cap;     /* slots in set: grows 8..2*MX_AGG_EXACT_MAX; MX_AGG_ESTIMATED after
                       * mx_log_agg_finish when n is an estimate */
    uint64_t *set;    /* open-addressed hashes, up to MX_AGG_EXACT_MAX */
    uint8_t *hll;     /* 256 registers once the set overflowed */
    uint64_t adds;    /* values added, repeats too: the count never exceeds it */
} mx_agg_distinct;

typedef struct mx_agg_group {
    char *key;           /* lower-cased for domains; "(other)" for the overflow bucket */
    const char *sub;     /* for CAUSE_x dims: the part after "cause/" */
    int cause;           /* for CAUSE and CAUSE_x dims, else -1 */
    /* Attempts, recipients and their outcomes are kept apart: a connection
     * attempt line (Postfix "connect to H[A]:25: Connection timed out", Exim
     * "H=h [a] Connection refused") is evidence about a remote address, logged
     * beside the recipient's own outcome line ("status=deferred", "=="): it is
     * never a second failure.  Failure and success counts are recipients'
     * outcomes (as pflogsumm counts: sent, deferred, bounced, expired). */
    uint64_t events;     /* attempts + outcomes */
    uint64_t attempts;   /* connection-level events (status NONE), local or not */
    uint64_t att_fail;   /* of which external (failed attempts to remote hosts) */
    uint64_t external;   /* recipient outcomes not flagged local = ext_ok + ext_fail */
    uint64_t local;      /* recipient outcomes flagged local (lmtp, pipe, mailer=local...) */
    uint64_t by_status[MX_LOG_STATUS__COUNT]; /* [MX_LOG_STATUS_NONE] = attempts */
    uint64_t ext_ok, ext_fail; /* external successes / failures (recipient outcomes) */
    int64_t first, last;           /* any timed event; INT64_MAX/INT64_MIN if none */
    int64_t first_fail, last_fail; /* failures, failed attempts included (they date the trouble) */
    int64_t first_ok, last_ok;     /* external successes */
    /* Time read as a sequence (files are read oldest first, lines in order):
     * the last external recipient outcome (0 none, 1 success, 2 failure),
     * the cause of the last external failure, and the external failures
     * logged after the last external success (all of them when none). */
    uint64_t fail_since_ok;
    int64_t first_fail_since_ok;   /* time of the first of those (INT64_MAX: none, or no time) */
    int last_outcome;
    int last_cause;
    uint64_t local_fail;           /* local recipient outcomes that failed */
    mx_agg_distinct msgs, rcpts, domains, addrs;
    /* last: room for a catalog's own causes (MX_LOG_CAUSE_MAX) would push
     * the counters every event updates apart, over more cache lines */
    uint64_t by_cause[MX_LOG_CAUSE_MAX]; /* recipient outcomes only */
} mx_agg_group;

/* Histogram of the external recipient outcomes over time, for the whole log
 * (not per group): n[cause][bucket], cause MX_LOG_CAUSE_NONE = successes.
 * Fixed size: the bucket width starts at one minute and grows along a ladder
 * (1, 5, 10, 30 min, 1, 2, 6, 12 h, 1 d, then doubling), each width a
 * multiple of the one before and buckets aligned to multiples of their width
 * in UTC, so that a coarser histogram is exactly the sum of the finer one;
 * the window seen always fits MX_AGG_HIST_BUCKETS buckets.  Events without
 * a time are not in it. */
#define MX_AGG_HIST_BUCKETS 96
typedef struct mx_agg_hist {
    int64_t start;   /* UTC epoch of bucket 0; 0 with width 0 while empty */
    int64_t width;   /* seconds per bucket */
    size_t nbuckets; /* buckets from start up to the last event's (<= MX_AGG_HIST_BUCKETS) */
    uint32_t n[MX_LOG_CAUSE_MAX][MX_AGG_HIST_BUCKETS];
} mx_agg_hist;

typedef struct mx_log_agg mx_log_agg;

mx_log_agg *mx_log_agg_new(size_t max_groups_per_dim); /* 0 = default */
void mx_log_agg_add(mx_log_agg *a, const mx_log_event *ev);
/* The same as mx_log_agg_add on each of evs[0..n) in order (same result),
 * faster on a big log: the groups of the events ahead are looked up and their
 * memory asked for while the current one is counted. */
void mx_log_agg_add_batch(mx_log_agg *a, const mx_log_event *evs, size_t n);
const mx_agg_group *mx_log_agg_total(const mx_log_agg *a);
const mx_agg_hist *mx_log_agg_hist(const mx_log_agg *a);
/* Groups of a dimension sorted by events (desc), key asc; the "(other)"
 * bucket, if any, last.  Array owned by a, valid until the next add. */
size_t mx_log_agg_list(mx_log_agg *a, mx_agg_dim dim, const mx_agg_group *const **out);
const mx_agg_group *mx_log_agg_find(const mx_log_agg *a, mx_agg_dim dim, const char *key);
uint64_t mx_log_agg_dropped(const mx_log_agg *a, mx_agg_dim dim); /* events in "(other)" */
/* Exact, or the HyperLogLog estimate, never above the values added (an
 * estimate can overshoot: "2258 messages" of 2110 deliveries). */
uint64_t mx_agg_distinct_count(const mx_agg_distinct *d);
int mx_agg_distinct_exact(const mx_agg_distinct *d);
/* Once every event is added: each distinct counter keeps its count (the
 * same numbers as before) and gives back its set or registers, so that the
 * report's fact is built in the memory they held (on a log with thousands
 * of keys that is most of the aggregation's).  No add after this. */
void mx_log_agg_finish(mx_log_agg *a);
void mx_log_agg_free(mx_log_agg *a);

#endif
