/* Incremental SMTP reply parser (RFC 5321 4.2, RFC 3463 enhanced codes).
 * Fed one line at a time by a line reader that already stripped CRLF or LF.
 * Lines are byte strings: embedded NUL and binary bytes are kept as data
 * (with their length) so the evidence is exact; use mx_smtp_printable()
 * for display. */
#ifndef MX_SMTP_REPLY_H
#define MX_SMTP_REPLY_H
#include <stddef.h>
#include "buf.h"
#include "json.h"

/* Defaults when mx_smtp_reply_init() gets NULL limits. RFC 5321 allows 512
 * octets per reply line; real servers exceed that, so we only refuse what no
 * sane server sends. */
#define MX_SMTP_MAX_LINES       100
#define MX_SMTP_MAX_REPLY_BYTES 65536
#define MX_SMTP_MAX_LINE        4096
/* "class.subject.detail": 1 + 3 + 3 digits, two dots, NUL. */
#define MX_SMTP_ENHANCED_MAX    10
/* EHLO capability lines: keyword length (RFC 5321 has no limit; 64 is generous)
 * and parameters kept per keyword. */
#define MX_SMTP_CAP_KEYWORD_MAX 64
#define MX_SMTP_CAP_MAX_PARAMS  64
/* Room for the longest formatted error message. */
#define MX_SMTP_ERROR_MAX       96

/* Return values of mx_smtp_reply_feed(). */
#define MX_SMTP_MORE   0
#define MX_SMTP_DONE   1
#define MX_SMTP_ERROR (-1)

typedef struct mx_smtp_limits {
    size_t max_lines;   /* lines per reply */
    size_t max_bytes;   /* sum of raw line lengths, code included */
    size_t max_line;    /* one raw line */
} mx_smtp_limits;

typedef enum {
    MX_SMTP_ST_FIRST,   /* waiting for the first line */
    MX_SMTP_ST_CONT,    /* seen "ddd-", waiting for more */
    MX_SMTP_ST_DONE,    /* seen "ddd " or bare "ddd" */
    MX_SMTP_ST_ERROR,   /* r->error says why; the reply is unusable */
} mx_smtp_reply_state;

extern const char *const mx_smtp_reply_state_names[]; /* for --trace */

typedef struct mx_smtp_line {
    char *text;         /* after code and separator; NUL-terminated copy */
    size_t len;         /* may contain NUL bytes, so always use len */
} mx_smtp_line;

typedef struct mx_smtp_reply {
    mx_smtp_reply_state state;
    mx_smtp_limits lim;
    int code;                            /* 0 until the first line is parsed */
    char enhanced[MX_SMTP_ENHANCED_MAX]; /* "" when absent or inconsistent */
    int enhanced_mismatch;               /* first line had x.y.z whose class differs from code */
    int binary;                          /* some line holds NUL or control bytes */
    mx_smtp_line *lines;
    size_t nlines, cap;
    size_t bytes;                        /* raw bytes fed so far */
    const char *error;                   /* NULL, or points at error_buf / a literal */
    char error_buf[MX_SMTP_ERROR_MAX];
} mx_smtp_reply;

void mx_smtp_reply_init(mx_smtp_reply *r, const mx_smtp_limits *lim); /* lim NULL = defaults */
/* Feeds one line without its CRLF. Returns MX_SMTP_MORE, MX_SMTP_DONE or
 * MX_SMTP_ERROR (r->error set, state ERROR). Feeding a finished reply is a
 * caller bug and aborts. */
int mx_smtp_reply_feed(mx_smtp_reply *r, const char *line, size_t len);
void mx_smtp_reply_free(mx_smtp_reply *r);    /* then init again to reuse */

/* Appends s[0..len) to out with bytes outside printable ASCII written as \xHH
 * and backslash as \\, so any reply can be shown on a terminal or in a log. */
void mx_smtp_printable(mx_buf *out, const char *s, size_t len);
/* All lines, sanitized, joined with "\n". Caller frees. */
char *mx_smtp_reply_text(const mx_smtp_reply *r);

/* {code, enhanced (string or null), lines: [...], binary}. Lines are raw bytes:
 * the JSON writer escapes controls and replaces invalid UTF-8. */
mx_json *mx_smtp_reply_to_json(const mx_smtp_reply *r);

/* One EHLO capability line ("SIZE 1000", "AUTH PLAIN LOGIN", "8BITMIME"). */
typedef struct mx_smtp_cap {
    char *keyword;      /* uppercased */
    char **params;      /* as sent, split on spaces */
    size_t nparams;
    int legacy_eq;      /* old "AUTH=PLAIN LOGIN" form */
    int params_truncated;
} mx_smtp_cap;

typedef struct mx_smtp_caps {
    char *domain;       /* first word of the first line (the server's name) */
    mx_smtp_cap *items;
    size_t n;
    size_t ninvalid;    /* lines that are not "keyword *(SP param)" */
} mx_smtp_caps;

/* Returns 0, or -1 with *err set (static string). */
int mx_smtp_cap_parse(const char *text, size_t len, mx_smtp_cap *cap, const char **err);
void mx_smtp_cap_free(mx_smtp_cap *cap);
/* Parses a completed 250 EHLO reply: line 1 is the greeting, the rest caps.
 * Returns 0, or -1 when the reply is not a finished 2xx reply. */
int mx_smtp_caps_parse(const mx_smtp_reply *r, mx_smtp_caps *caps);
const mx_smtp_cap *mx_smtp_caps_find(const mx_smtp_caps *caps, const char *keyword);
void mx_smtp_caps_free(mx_smtp_caps *caps);
/* {domain, caps: {KEYWORD: [params...]}, invalid: n} */
mx_json *mx_smtp_caps_to_json(const mx_smtp_caps *caps);

#endif
