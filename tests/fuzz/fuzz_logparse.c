/* Mail-log line parser (Postfix, Exim, Sendmail) and its timestamp parsers.
 * The input is a log excerpt: each line goes through mx_log_parse_line, as a
 * bare message through mx_log_parse_message (program picked by the first
 * byte), and through both timestamp parsers. Every slice of an event must
 * lie inside its line, every enum must be in range. */
#include "fuzz_common.h"
#include "logparse.h"

static const char *programs[] = {"postfix/smtp", "postfix-out/smtp", "postfix/qmgr", "postfix/lmtp",
                                 "postfix/error", "exim", "exim4", "sendmail", "sm-mta", "opensmtpd"};

static void check_slice(mx_log_str s, const char *b, size_t n, const char *alt, size_t altn) {
    if (!s.p) { FUZZ_CHECK(s.n == 0); return; }
    int in_line = s.p >= b && s.p + s.n <= b + n;
    int in_alt = alt && s.p >= alt && s.p + s.n <= alt + altn;
    FUZZ_CHECK(in_line || in_alt);
}

static void check_event(mx_log_result r, const mx_log_event *ev, const char *b, size_t n, const char *prog) {
    FUZZ_CHECK(r == MX_LOG_EVENT || r == MX_LOG_IGNORED || r == MX_LOG_UNPARSED);
    FUZZ_CHECK((unsigned)ev->cause < MX_LOG_CAUSE__COUNT && mx_log_cause_name(ev->cause));
    FUZZ_CHECK((unsigned)ev->status < MX_LOG_STATUS__COUNT && mx_log_status_name(ev->status));
    FUZZ_CHECK((unsigned)ev->mta < MX_LOG_MTA__COUNT && mx_log_mta_name(ev->mta));
    FUZZ_CHECK((unsigned)ev->reason < MX_LOG_R__COUNT && mx_log_reason_name(ev->reason));
    if (r == MX_LOG_UNPARSED) FUZZ_CHECK(mx_log_reason_is_garbled(ev->reason));
    if (r == MX_LOG_IGNORED) FUZZ_CHECK(!mx_log_reason_is_garbled(ev->reason) && ev->reason != MX_LOG_R_NONE);
    FUZZ_CHECK(ev->port >= 0 && ev->port <= 65535);
    size_t pn = prog ? strlen(prog) : 0;
    const mx_log_str *f[] = {&ev->program, &ev->queue_id, &ev->recipient, &ev->domain, &ev->relay_host,
                             &ev->relay_addr, &ev->source, &ev->dsn, &ev->text, &ev->more_rcpts};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) check_slice(*f[i], b, n, prog, pn);
    mx_log_filter flt;
    mx_log_filter_init(&flt);
    flt.domain = "example.com";
    flt.since = 0;
    mx_log_filter_match(&flt, ev);
    flt.domain = "";
    flt.failures_only = 1;
    mx_log_filter_match(&flt, ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *prog = programs[data[0] % (sizeof programs / sizeof programs[0])];
    /* reference "now": 2024-03-10 12:00:00 UTC, or 2024-01-01 for the year turn */
    int64_t now = data[0] & 0x40 ? 1704067200 : 1710072000;
    mx_log_parser p;
    mx_log_parser_init(&p, now, data[0] & 0x80 ? 0 : 1);
    data++, size--;

    size_t pos = 0;
    while (pos <= size) {
        const uint8_t *nl = size > pos ? memchr(data + pos, '\n', size - pos) : NULL;
        size_t n = nl ? (size_t)(nl - (data + pos)) : size - pos;
        char *line = fuzz_dup(data + pos, n);
        mx_log_event ev;
        mx_log_result r = mx_log_parse_line(&p, line, n, &ev);
        check_event(r, &ev, line, n, NULL);
        /* every further recipient of the line: slices still inside it, and
         * the list only ever shrinks (the walk ends) */
        for (size_t k = 0; r == MX_LOG_EVENT && ev.more_rcpts.n; k++) {
            size_t left = ev.more_rcpts.n;
            int more = mx_log_event_next_recipient(&ev);
            FUZZ_CHECK(ev.more_rcpts.n < left);
            FUZZ_CHECK(k <= n);
            if (more) check_event(r, &ev, line, n, NULL);
        }
        r = mx_log_parse_message(&p, prog, line, n, &ev);
        check_event(r, &ev, line, n, prog);
        FUZZ_CHECK(ev.time == MX_LOG_TIME_UNKNOWN);
        FUZZ_CHECK(mx_log_classify(line, n) != MX_LOG_CAUSE_NONE);

        int64_t t;
        size_t used = 0;
        if (mx_log_parse_syslog_time(&p, line, n, &t, &used) == 0) FUZZ_CHECK(used <= n);
        used = 0;
        if (mx_log_parse_iso_time(&p, line, n, &t, &used) == 0) FUZZ_CHECK(used <= n);
        free(line);
        pos += n + 1;
    }
    return 0;
}
