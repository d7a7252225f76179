/* The follower, sliding window and judgement of `mxdiag watch`, shared by
 * `mxdiag watch` (its own loop) and `mxdiag serve --watch` (a timer of the
 * server's event loop, /metrics reads the counts).  cli/watch_core.c. */
#ifndef MX_WATCH_CORE_H
#define MX_WATCH_CORE_H
#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "logparse.h"

typedef struct mx_watch mx_watch;

/* What /metrics shows; kept up to date by mx_watch_step. */
typedef struct mx_watch_counts {
    long window;                     /* --window, seconds */
    uint64_t lines_read, unparsed;   /* since start: every line, the garbled ones */
    /* recipient outcomes read since start, by status (mx_log_status) and
     * cause (mx_log_cause): never reset, so they only grow (rotation,
     * SIGHUP) */
    uint64_t total[MX_LOG_STATUS__COUNT][MX_LOG_CAUSE_MAX];
    /* the same over the window, as of the last judgement */
    uint64_t in_window[MX_LOG_STATUS__COUNT][MX_LOG_CAUSE_MAX];
    size_t window_lines;             /* delivery lines held in the window */
    int64_t last_event_time;         /* log time of the newest delivery line read; 0 none */
    int64_t judged_at;               /* wall time of the last judgement; 0 none yet */
    const mx_json *scope;            /* the last logs.scope finding (owned by the watch); NULL none */
} mx_watch_counts;

/* cmd names the command in messages ("mxdiag watch"). live: the events,
 * live checks, --exec and --syslog of `mxdiag watch`; without it (serve) only
 * the follower, the window and the judgement, events only with an output. */
mx_watch *mx_watch_new(const char *cmd, int live);
/* The option at argv[*i] if it is watch's: 1 taken (*i on its last word), 0
 * not watch's, -1 bad value (said on stderr).  `out_name` is the option that
 * names the events' file ("--output" for watch). */
int mx_watch_option(mx_watch *w, int argc, char **argv, int *i, const char *out_name);
/* A logs-rule option (--rules-dir DIR, --trace) and its value (or NULL). */
void mx_watch_rule_option(mx_watch *w, char *opt, char *value);
/* A `mxdiag check` option for the live checks (watch only). */
void mx_watch_check_option(mx_watch *w, char *opt);
/* Resolves --from, finds the default file when np is 0, opens the output,
 * starts following.  0, or -1 with the message said. */
int mx_watch_start(mx_watch *w, const char *const *paths, size_t np);
/* One turn: reads what the files gained, services live checks, judges when
 * new events came (at most once a second) or every --interval, writes the
 * events that are ready.  Does not wait. */
void mx_watch_step(mx_watch *w);
/* SIGHUP: reopens the files and the events' output. */
void mx_watch_reopen(mx_watch *w);
/* Ending: what was read is judged, live checks stopped, pending events out. */
void mx_watch_finish(mx_watch *w);
/* 1 when the events' reader went away (stdout closed). */
int mx_watch_output_closed(const mx_watch *w);
const mx_watch_counts *mx_watch_get_counts(const mx_watch *w);
void mx_watch_free(mx_watch *w);

#endif
