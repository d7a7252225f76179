/* Mail-log line parser: one syslog/Exim/Sendmail line -> one delivery event.
 *
 * Hand-written scanning (memchr/memmem, no regex) so that a multi-GiB
 * mail.log is read at close to disk speed.  The parser never allocates:
 * every string in an event is a slice into the caller's line buffer, valid
 * only as long as that buffer is.  Copy what you keep (the aggregator does).
 *
 * An "event" is one delivery attempt with an outcome (Postfix "status=",
 * Exim "=>", "==", "**", Sendmail "stat=") or one failed connection to a
 * remote host (Postfix "connect to H[A]:25: Connection refused", Exim
 * "H=h [a] Connection refused", ...).  Every other line is either IGNORED
 * (well-formed but not about outbound delivery: smtpd, TLS info, inbound
 * RBL rejects) or UNPARSED (garbled: no header, binary bytes...), each with
 * a reason so that reports can account for every line.
 *
 * Knows nothing of Lua; a binding can wrap mx_log_parser + mx_log_filter. */
#ifndef MX_LOGPARSE_H
#define MX_LOGPARSE_H
#include <stddef.h>
#include <stdint.h>

/* Why a delivery failed, classified from the log text (never from the DSN:
 * Postfix logs 4.4.1 for refused, timed out and unreachable alike). */
typedef enum {
    MX_LOG_CAUSE_NONE = 0,        /* successful delivery */
    MX_LOG_CAUSE_REFUSED,         /* TCP RST: nothing listens / firewall reject */
    MX_LOG_CAUSE_TIMEOUT,         /* connect or SMTP dialogue timed out (Exim "SMTP timeout after initial
                                   * connection" too: with TCP Fast Open a dropped SYN is logged so) */
    MX_LOG_CAUSE_UNREACHABLE,     /* No route to host (EHOSTUNREACH) */
    MX_LOG_CAUSE_NET_UNREACHABLE, /* Network is unreachable / cannot assign address */
    MX_LOG_CAUSE_GREETING_LOST,   /* TCP up but no 220 greeting (dropped / timed out) */
    MX_LOG_CAUSE_GREETING_REJECT, /* 4xx/5xx greeting, "refused to talk to me" */
    MX_LOG_CAUSE_RCPT_REJECT,     /* remote server rejected our RCPT TO */
    MX_LOG_CAUSE_DNS_FAIL,        /* MX/A lookup failed for now (SERVFAIL, timeout, "try again") */
    MX_LOG_CAUSE_DOMAIN_NOT_FOUND, /* the recipient domain (or its MX host) does not exist: NXDOMAIN,
                                    * "Host not found", Exim "Unrouteable address" (a typo, mostly) */
    MX_LOG_CAUSE_NULL_MX,         /* domain publishes "MX 0 ." */
    MX_LOG_CAUSE_TLS_FAIL,        /* handshake / required TLS / verification */
    MX_LOG_CAUSE_RBL_REJECT,      /* our IP is on a blocklist at the remote side */
    MX_LOG_CAUSE_SENDER_IDENTITY, /* refused for our reverse DNS, HELO name or SPF/DKIM/DMARC */
    MX_LOG_CAUSE_SENDER_REPUTATION, /* deferred/refused for our reputation: complaints, spam rate (Yahoo TSS) */
    MX_LOG_CAUSE_OTHER,
    MX_LOG_CAUSE__COUNT           /* the built-in causes; a catalog adds its own after them (registry below) */
} mx_log_cause;

/* Causes in all: the built-in ones and those a cause catalog names
 * (mx_log_cause_register); arrays indexed by cause have this size. */
#define MX_LOG_CAUSE_MAX 32

typedef enum {
    MX_LOG_STATUS_NONE = 0, /* connection-level failure, no per-recipient outcome */
    MX_LOG_STATUS_SENT,
    MX_LOG_STATUS_DEFERRED,
    MX_LOG_STATUS_BOUNCED,
    MX_LOG_STATUS_EXPIRED,
    MX_LOG_STATUS__COUNT
} mx_log_status;

typedef enum {
    MX_LOG_MTA_UNKNOWN = 0,
    MX_LOG_MTA_POSTFIX,
    MX_LOG_MTA_EXIM,
    MX_LOG_MTA_SENDMAIL,
    MX_LOG_MTA__COUNT
} mx_log_mta;

typedef enum {
    MX_LOG_EVENT = 0, /* ev filled in */
    MX_LOG_IGNORED,   /* well-formed, not an outbound delivery event; ev->reason */
    MX_LOG_UNPARSED   /* garbled; ev->reason */
} mx_log_result;

/* Reasons for IGNORED and UNPARSED lines; names via mx_log_reason_name(). */
typedef enum {
    MX_LOG_R_NONE = 0,
    /* UNPARSED (garbled) */
    MX_LOG_R_EMPTY,        /* blank line */
    MX_LOG_R_BINARY,       /* NUL or other binary bytes */
    MX_LOG_R_NO_HEADER,    /* no recognisable timestamp / program tag */
    MX_LOG_R_BAD_TIME,     /* looked like a timestamp but out of range */
    MX_LOG_R_BAD_FIELDS,   /* delivery line missing mandatory fields */
    MX_LOG_R_TOO_LONG,     /* reported by the reader: line over its limit */
    MX_LOG_R_TRUNCATED,    /* reported by the reader: partial last line of a damaged file */
    /* IGNORED (well-formed, not relevant) */
    MX_LOG_R_NOT_DELIVERY, /* other daemons / informational messages */
    MX_LOG_R_INBOUND,      /* our server receiving (smtpd, postscreen, Exim H=... rejected) */
    MX_LOG_R_TLS_INFO,     /* TLS established / verification notes (outcome logged elsewhere) */
    MX_LOG_R_WARNING,      /* Postfix "warning:" lines */
    MX_LOG_R_RETRY_WAIT,   /* Exim "retry time not reached": no attempt was made */
    MX_LOG_R_VERIFY_PROBE, /* Postfix address-verification probe result */
    MX_LOG_R_OTHER_MTA,    /* OpenSMTPD, qmail, ...: not supported */
    MX_LOG_R_CONTINUATION, /* Exim rejectlog: header lines written after a rejection (no timestamp) */
    MX_LOG_R__COUNT
} mx_log_reason;

/* A slice of the input line (not NUL-terminated). */
typedef struct mx_log_str {
    const char *p;
    size_t n;
} mx_log_str;

#define MX_LOG_TIME_UNKNOWN INT64_MIN

typedef struct mx_log_event {
    int64_t time;          /* UTC epoch seconds, MX_LOG_TIME_UNKNOWN if the line had none */
    mx_log_mta mta;
    mx_log_status status;  /* NONE for connection-level events */
    mx_log_cause cause;
    mx_log_reason reason;  /* for IGNORED/UNPARSED results */
    int local;             /* local/loopback delivery (lmtp, pipe, amavis...), not "leaving" */
    int port;              /* remote port, 0 if not logged */
    mx_log_str program;    /* "postfix-out/smtp", "exim", "sm-mta" */
    mx_log_str queue_id;
    mx_log_str recipient;  /* without <> */
    mx_log_str domain;     /* recipient domain (as logged; compare case-insensitively) */
    mx_log_str relay_host; /* remote host name */
    mx_log_str relay_addr; /* remote IP (v4 or v6, no brackets) */
    mx_log_str source;     /* local source: Exim I=[addr], else Postfix instance ("postfix-out") */
    mx_log_str dsn;        /* "4.4.1" */
    mx_log_str text;       /* status text / remote reply (whole reason as logged) */
    mx_log_str more_rcpts; /* recipients of the same line not yet returned (Sendmail "to=a,b"): see
                            * mx_log_event_next_recipient; empty for one-recipient lines */
} mx_log_event;

/* Parser state: reference time for syslog-year inference and timezone of
 * naive (zone-less) timestamps.  Classic syslog has no year: a line whose
 * month is after now's month (or later in now's month than tomorrow) is
 * from last year, which also carries a file across a Dec->Jan turn. */
typedef struct mx_log_parser {
    int64_t now;        /* reference "now", UTC epoch seconds */
    int naive_utc;      /* 1: zone-less timestamps are UTC; 0: local time (TZ) */
    /* private */
    int now_year, now_mon, now_mday;
    int64_t tz_key;     /* cached local-offset lookup, keyed by y/m/d/h */
    int day_key;        /* cached syslog month/day -> epoch day */
    int64_t day_days;
    char day_prefix[8]; /* "Mmm dd " of the cached day when the day field ends at byte 6 */
    int day_prefix_ok;
    char sl_min[12];    /* "Mmm dd HH:MM" of the last valid syslog timestamp of that form */
    int sl_min_ok;
    int64_t sl_min_t;   /* its UTC epoch seconds at second 0 */
    char iso_day[10];   /* "YYYY-MM-DD" of the last valid ISO timestamp, and its epoch day */
    int iso_day_ok;
    int64_t iso_days;
    char iso_min[16];   /* "YYYY-MM-DDTHH:MM" (or ' ' for 'T') of the last valid ISO timestamp */
    int iso_min_ok;
    int64_t iso_min_t;  /* its naive epoch seconds at second 0 */
    char iso_zone[6];   /* the last valid "+HH:MM" zone, and its offset (seconds to subtract) */
    int iso_zone_ok;
    int64_t iso_zone_off;
    long tz_off;
} mx_log_parser;

void mx_log_parser_init(mx_log_parser *p, int64_t now, int naive_utc);

/* Parses one line (without its '\n'; a trailing '\r' is tolerated). */
mx_log_result mx_log_parse_line(mx_log_parser *p, const char *line, size_t len, mx_log_event *ev);

/* Same, for a line the caller knows holds no NUL byte (the reader scans
 * whole buffers for NULs once, instead of every line again). */
mx_log_result mx_log_parse_text_line(mx_log_parser *p, const char *line, size_t len, mx_log_event *ev);

/* Parses a bare syslog MESSAGE as if logged by `program` ("postfix/smtp",
 * "exim"): for pasted fragments and tests.  ev->time is unknown. */
mx_log_result mx_log_parse_message(mx_log_parser *p, const char *program, const char *msg, size_t len,
                                   mx_log_event *ev);

/* A line can log one outcome for several recipients (Sendmail "to=<a>,<b>"):
 * the parser returns the event of the first one with the others in
 * ev->more_rcpts.  This moves ev to the next recipient (recipient, domain;
 * every other field is the line's) and returns 1, or returns 0 when there is
 * none left.  Readers (mx_log_stream_next, mx_log_batch_next) do this for
 * their callers: they return one event per recipient. */
int mx_log_event_next_recipient(mx_log_event *ev);

/* Classifies free text (status text, remote reply) into a cause.  Never
 * returns NONE. Exposed for tests and for other modules reading replies.
 * With a matcher set (mx_log_set_matcher: `mxdiag logs` compiles the cause
 * catalog rules/lib/log_patterns.lua into one) its first matching entry
 * decides, no match being OTHER; without one, the built-in cascade, which
 * the shipped catalog reproduces (tests/rules/test_log_patterns.py). */
mx_log_cause mx_log_classify(const char *text, size_t n);

/* The matcher mx_log_classify uses from now on (NULL: the built-in cascade).
 * Set it before any parsing starts: the parser threads read it unlocked. */
struct mx_cause_matcher;
void mx_log_set_matcher(const struct mx_cause_matcher *m);

/* The cause id of a name, registering a new one (a catalog's own cause,
 * "provider_throttled") after the built-in ones: -1 when the name is
 * invalid ([a-z][a-z0-9_]*, at most 32 bytes, not "none") or the registry
 * is full (MX_LOG_CAUSE_MAX).  Not thread-safe: before any parsing. */
int mx_log_cause_register(const char *name);
int mx_log_cause_count(void);                    /* built-in and registered */

const char *mx_log_cause_name(mx_log_cause c);   /* "refused", "net_unreachable", ... */
int mx_log_cause_from_name(const char *name);    /* -1 if unknown */
const char *mx_log_status_name(mx_log_status s); /* "sent", ...; "attempt" for NONE */
const char *mx_log_mta_name(mx_log_mta m);
const char *mx_log_reason_name(mx_log_reason r); /* "no_header", "inbound", ... */
int mx_log_reason_is_garbled(mx_log_reason r);   /* 1 for UNPARSED reasons */

/* Timestamps (exposed for tests and for --since parsing).  All return 0 on
 * success and set *out to UTC epoch seconds and *used to bytes consumed. */
int mx_log_parse_syslog_time(mx_log_parser *p, const char *s, size_t n, int64_t *out, size_t *used);
int mx_log_parse_iso_time(mx_log_parser *p, const char *s, size_t n, int64_t *out, size_t *used);
int64_t mx_log_days_from_civil(int y, int m, int d);
/* A --since/--until value: relative to now ("2h", "30m", "3d", "1w", "45s"),
 * a date ("2024-03-01"), a date and time ("2024-03-01T10:00[:00][zone]") or
 * epoch seconds.  0 on success, -1 if unreadable. */
int mx_log_parse_when(mx_log_parser *p, const char *s, int64_t now, int64_t *out);

/* Event filter (CLI --since/--until/--domain, and the future Lua iterator). */
typedef struct mx_log_filter {
    int64_t since;       /* inclusive; INT64_MIN = no bound */
    int64_t until;       /* exclusive; INT64_MAX = no bound */
    const char *domain;  /* NULL = any; case-insensitive, matches subdomains too */
    int cause;           /* -1 = any, else mx_log_cause */
    int failures_only;   /* 1: drop successful deliveries */
} mx_log_filter;

void mx_log_filter_init(mx_log_filter *f);
int mx_log_filter_match(const mx_log_filter *f, const mx_log_event *ev);

#endif
