/* Mail-log line parser.  See logparse.h for the model.
 *
 * Speed matters more than elegance here: a busy relay writes millions of
 * lines a day and most of them (smtpd, cleanup, qmgr) are irrelevant, so the
 * header is parsed with fixed-offset checks and irrelevant daemons are
 * dropped before the message text is looked at.  The expensive part (memmem
 * cascade in mx_log_classify) only runs for failure lines. */
#include "logparse.h"
#include "causematch.h"
#include "bigrams.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define LIT(s) (s), (sizeof(s) - 1)

static int is_digit_c(char c) { return c >= '0' && c <= '9'; }

static const char *cause_names[MX_LOG_CAUSE_MAX] = {
    "none", "refused", "timeout", "unreachable", "net_unreachable", "greeting_lost",
    "greeting_reject", "rcpt_reject", "dns_fail", "domain_not_found", "null_mx", "tls_fail", "rbl_reject", "sender_identity",
    "sender_reputation", "other",
};
static const char *const status_names[MX_LOG_STATUS__COUNT] = {
    "attempt", "sent", "deferred", "bounced", "expired",
};
static const char *const mta_names[MX_LOG_MTA__COUNT] = {"unknown", "postfix", "exim", "sendmail"};
static const char *const reason_names[MX_LOG_R__COUNT] = {
    "none", "empty", "binary", "no_header", "bad_time", "bad_fields", "too_long", "truncated",
    "not_delivery", "inbound", "tls_info", "warning", "retry_wait", "verify_probe", "other_mta",
    "continuation",
};

/* registered causes: names after the built-in ones */
static int ncauses = MX_LOG_CAUSE__COUNT;
static char cause_store[MX_LOG_CAUSE_MAX - MX_LOG_CAUSE__COUNT][33];
static const mx_cause_matcher *cause_matcher;

void mx_log_set_matcher(const mx_cause_matcher *m) { cause_matcher = m; }
int mx_log_cause_count(void) { return ncauses; }

int mx_log_cause_register(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > 32 || !(name[0] >= 'a' && name[0] <= 'z') || strcmp(name, "none") == 0) return -1;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || is_digit_c(name[i]) || name[i] == '_')) return -1;
    int k = mx_log_cause_from_name(name);
    if (k >= 0) return k;
    if (ncauses >= MX_LOG_CAUSE_MAX) return -1;
    char *slot = cause_store[ncauses - MX_LOG_CAUSE__COUNT];
    memcpy(slot, name, n + 1);
    cause_names[ncauses] = slot;
    return ncauses++;
}

const char *mx_log_cause_name(mx_log_cause c) {
    return (unsigned)c < (unsigned)ncauses ? cause_names[c] : "?";
}
int mx_log_cause_from_name(const char *name) {
    for (int i = 0; i < ncauses; i++)
        if (strcmp(cause_names[i], name) == 0) return i;
    return -1;
}
const char *mx_log_status_name(mx_log_status s) {
    return (unsigned)s < MX_LOG_STATUS__COUNT ? status_names[s] : "?";
}
const char *mx_log_mta_name(mx_log_mta m) {
    return (unsigned)m < MX_LOG_MTA__COUNT ? mta_names[m] : "?";
}
const char *mx_log_reason_name(mx_log_reason r) {
    return (unsigned)r < MX_LOG_R__COUNT ? reason_names[r] : "?";
}
int mx_log_reason_is_garbled(mx_log_reason r) {
    return r >= MX_LOG_R_EMPTY && r <= MX_LOG_R_TRUNCATED;
}

/* ---- small scanning helpers ------------------------------------------ */

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alnum(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
/* [0-9A-Za-z] by table: the queue-id scan runs on most lines. */
static const unsigned char alnum_tab[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1,
    ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
    ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1,
    ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1,
    ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};
static int is_hostch(char c) { return is_alnum(c) || c == '.' || c == '-' || c == '_'; }
static int is_ipch(char c) {
    return is_digit(c) || c == '.' || c == ':' || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int has_prefix(const char *s, const char *e, const char *lit, size_t n) {
    return (size_t)(e - s) >= n && memcmp(s, lit, n) == 0;
}
static const char *find(const char *s, const char *e, const char *lit, size_t n) {
    if (s >= e) return NULL;
    return memmem(s, (size_t)(e - s), lit, n);
}
static int contains(const char *s, const char *e, const char *lit, size_t n) {
    return find(s, e, lit, n) != NULL;
}
static mx_log_str mkstr(const char *a, const char *b) {
    mx_log_str r = {a, b > a ? (size_t)(b - a) : 0};
    return r;
}
static int str_eq(mx_log_str s, const char *lit, size_t n) {
    return s.n == n && memcmp(s.p, lit, n) == 0;
}
static const char *skip_sp(const char *s, const char *e) {
    while (s < e && *s == ' ') s++;
    return s;
}
/* First byte c in [s, e) or NULL.  Syslog header tokens are a few bytes
 * long, where a libc memchr call costs more than the search: eight bytes at
 * a time in a register (never reading past e), then byte by byte. */
static inline const char *find_byte(const char *s, const char *e, char c) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    const uint64_t pat = ones * (unsigned char)c;
    while (e - s >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        v ^= pat; /* bytes equal to c are now 0 */
        /* the lowest flagged byte is the first zero byte (a borrow can only
         * flag bytes above a true zero) */
        uint64_t z = (v - ones) & ~v & highs;
        if (z) return s + (__builtin_ctzll(z) >> 3);
        s += 8;
    }
#endif
    for (; s < e; s++)
        if (*s == c) return s;
    return NULL;
}

/* Two-digit field. */
static int dig2(const char *s) {
    if (!is_digit(s[0]) || !is_digit(s[1])) return -1;
    return (s[0] - '0') * 10 + (s[1] - '0');
}

static int is_loopback(mx_log_str a) {
    return (a.n >= 4 && memcmp(a.p, "127.", 4) == 0) || str_eq(a, LIT("::1"));
}

/* ---- cause classification -------------------------------------------- */

/* The bigram filter (bigrams.h) for the cascade below. */
static inline int bg_has(const bigrams *bg, unsigned char a, unsigned char b) { return bg_has_idx(bg, bg_idx(a, b)); }
static inline int bg_maybe(const bigrams *bg, const char *lit, size_t n) {
    return bg_has(bg, (unsigned char)lit[0], (unsigned char)lit[1]) &&
           bg_has(bg, (unsigned char)lit[n - 2], (unsigned char)lit[n - 1]);
}

#define HAS(lit) (bg_maybe(&bg, LIT(lit)) && contains(s, e, LIT(lit)))

/* Text ends with lit (errno strings close Postfix "connect to" texts). */
static int ends_with(const char *s, const char *e, const char *lit, size_t n) {
    return (size_t)(e - s) >= n && memcmp(e - n, lit, n) == 0;
}

static mx_log_cause classify_builtin(const char *text, size_t n);

mx_log_cause mx_log_classify(const char *text, size_t n) {
    if (cause_matcher) {
        int c = mx_cause_matcher_match(cause_matcher, text, n);
        return c < 0 ? MX_LOG_CAUSE_OTHER : (mx_log_cause)c;
    }
    return classify_builtin(text, n);
}

/* The built-in cascade: the classification without a catalog (unit tests,
 * fuzzing, `check` rules reading logs); rules/lib/log_patterns.lua states
 * the same as data, in the same order. */
static mx_log_cause classify_builtin(const char *text, size_t n) {
    const char *s = text, *e = text + n;
    /* Fast path for the bulk of failures, "connect to H[A]:P: <strerror>"
     * (possibly behind "delivery temporarily suspended: "): the errno text
     * is all there is, so the cascade below is not needed. */
    if (n > 11 && (memcmp(s, "connect to ", 11) == 0 ||
                   has_prefix(s, e, LIT("delivery temporarily suspended: connect to ")))) {
        if (ends_with(s, e, LIT("Connection timed out")) || ends_with(s, e, LIT("Operation timed out")))
            return MX_LOG_CAUSE_TIMEOUT;
        if (ends_with(s, e, LIT("Connection refused"))) return MX_LOG_CAUSE_REFUSED;
        if (ends_with(s, e, LIT("No route to host"))) return MX_LOG_CAUSE_UNREACHABLE;
        if (ends_with(s, e, LIT("Network is unreachable"))) return MX_LOG_CAUSE_NET_UNREACHABLE;
    }
    bigrams bg;
    bg_build(&bg, s, e);
    /* Most specific first: a 554 greeting that names a blocklist is an RBL
     * problem (fix your IP), not a generic greeting reject. */
    if (HAS("nullMX") || HAS("null MX") || HAS("indicated no SMTP service"))
        return MX_LOG_CAUSE_NULL_MX;
    if (HAS("blocked using") || HAS("listed by") || HAS("listed at") || HAS("is listed in") ||
        HAS("DNSBL") || HAS("dnsbl") || HAS("in an RBL") || HAS(" RBL") || HAS("blacklist") ||
        HAS("black list") || HAS("blocklist") || HAS("block list") || HAS("spamhaus") ||
        HAS("Spamhaus"))
        return MX_LOG_CAUSE_RBL_REJECT;
    /* Refused for how we identify ourselves (no PTR, a bad HELO name,
     * SPF/DKIM/DMARC): fixed on the sending side. */
    if (HAS("reverse DNS") || HAS("reverse dns") || HAS("Reverse DNS") || HAS("reverse hostname") ||
        HAS("cannot find your hostname") || HAS("PTR record") || HAS("no PTR") || HAS(" PTR") || HAS("rDNS") ||
        HAS("Helo command rejected") || HAS("HELO command rejected") || HAS("need fully-qualified hostname") ||
        HAS("Sender Policy Framework") || HAS("SPF") || HAS("DMARC") || HAS("DKIM") || HAS("unauthenticated"))
        return MX_LOG_CAUSE_SENDER_IDENTITY;
    /* Deferred or refused for our reputation without a list named: Yahoo's
     * "[TSS04] ... deferred due to user complaints", Gmail's "unusual rate of
     * unsolicited mail" and "very low reputation of the sending IP". Before
     * the greeting rejects: Yahoo says it there too. */
    if (HAS("[TSS0") || HAS("[TS0") || HAS("user complaints") || HAS("unsolicited mail") || HAS("reputation") ||
        HAS("Reputation"))
        return MX_LOG_CAUSE_SENDER_REPUTATION;
    if (HAS("Cannot start TLS") || HAS("TLS is required") || HAS("certificate verification failed") ||
        HAS("certificate not verified") || HAS("SSL_connect") || HAS("TLS error") ||
        HAS("TLS negotiation") || HAS("TLS session") || HAS("handshake failure") || HAS("TLS handshake failed") ||
        HAS("in response to TLS-on-connect"))
        return MX_LOG_CAUSE_TLS_FAIL;
    /* Exim: "SMTP timeout after initial connection" (LMTP too) is a timeout:
     * with TCP Fast Open (Exim's default, hosts_try_fastopen = *) the
     * connect returns at once and a SYN that is dropped is logged exactly
     * like a server that accepts and never greets (the lab's Exim 4.96 says
     * it for both), so it is not told to be a lost greeting.  "Remote host
     * closed connection in response to initial connection" and "Malformed
     * SMTP reply in response to initial connection" are a greeting that
     * never came whole; "SMTP error ... after initial connection: 554" is a
     * greeting that said no. */
    if (HAS("timeout after initial connection")) return MX_LOG_CAUSE_TIMEOUT;
    if (HAS("in response to initial connection")) return MX_LOG_CAUSE_GREETING_LOST;
    if (HAS("refused to talk to me") || HAS("after initial connection"))
        return MX_LOG_CAUSE_GREETING_REJECT;
    if (HAS("while receiving the initial server greeting"))
        return MX_LOG_CAUSE_GREETING_LOST;
    if (HAS("Connection refused")) return MX_LOG_CAUSE_REFUSED;
    if (HAS("timed out") || HAS("SMTP timeout")) return MX_LOG_CAUSE_TIMEOUT;
    if (HAS("No route to host") || HAS("Host is unreachable")) return MX_LOG_CAUSE_UNREACHABLE;
    /* EADDRNOTAVAIL: typically IPv6 with no usable source address. Like
     * ENETUNREACH it is a local network problem. */
    if (HAS("Network is unreachable") || HAS("Network unreachable") ||
        HAS("Cannot assign requested address"))
        return MX_LOG_CAUSE_NET_UNREACHABLE;
    if (HAS("Host or domain name not found") || HAS("Name service error") || HAS("Unrouteable address") ||
        HAS("non-existent host") || HAS("host lookup did not complete") || HAS("name server reply") ||
        HAS("Host unknown") || HAS("host not found") || HAS("Name server") || HAS("NXDOMAIN")) {
        /* A lookup that may answer next time (your resolver, their servers)
         * is told from a name that does not exist (a mistyped domain):
         * Postfix "Host not found, try again" is SERVFAIL, "Host not found"
         * NXDOMAIN; Sendmail "Name server timeout" / "Host unknown". */
        if (HAS("try again") || HAS("did not complete") || HAS("name server reply") || HAS("timeout") ||
            HAS("SERVFAIL") || HAS("lookup failure") || HAS("temporar"))
            return MX_LOG_CAUSE_DNS_FAIL;
        if (HAS("Host not found") || HAS("host not found") || HAS("Unrouteable address") ||
            HAS("non-existent host") || HAS("Host unknown") || HAS("NXDOMAIN"))
            return MX_LOG_CAUSE_DOMAIN_NOT_FOUND;
        return MX_LOG_CAUSE_DNS_FAIL;
    }
    /* The recipient, whatever the stage the reply came at (Yahoo and others
     * answer after DATA); "5.1.1" is RFC 3463's bad mailbox. */
    if (HAS("in reply to RCPT TO command") || HAS("after RCPT TO") || HAS("after pipelined RCPT TO") ||
        HAS("User unknown") || HAS("user unknown") || HAS("Unknown user") || HAS("unknown user") ||
        HAS("No such user") || HAS("no such user") || HAS("Recipient address rejected") ||
        HAS("Mailbox unavailable") || HAS("mailbox unavailable") || HAS("Mailbox not found") ||
        HAS("mailbox not found") || HAS("Invalid recipient") || HAS("invalid recipient") ||
        HAS("Recipient not found") || HAS("recipient not found") || HAS("does not exist") || HAS("doesn't exist") ||
        HAS("This user doesn't have a") || HAS(" 5.1.1 ") || HAS("-5.1.1 "))
        return MX_LOG_CAUSE_RCPT_REJECT;
    return MX_LOG_CAUSE_OTHER;
}
#undef HAS

/* ---- time ------------------------------------------------------------ */

/* Howard Hinnant's days_from_civil: exact for the proleptic Gregorian calendar. */
int64_t mx_log_days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153u * (unsigned)(m + (m > 2 ? -3 : 9)) + 2) / 5 + (unsigned)d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int64_t civil_secs(int y, int mo, int d, int h, int mi, int s) {
    return mx_log_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

/* A zone-less timestamp is local time of the machine that wrote it; we
 * assume that is this machine (TZ).  mktime() is slow, so the offset is
 * cached per hour of naive time. */
static int64_t naive_to_utc(mx_log_parser *p, int64_t naive) {
    if (p->naive_utc) return naive;
    int64_t hour = naive - ((naive % 3600) + 3600) % 3600;
    if (hour != p->tz_key) {
        time_t tt = (time_t)hour;
        struct tm tm;
        gmtime_r(&tt, &tm);
        tm.tm_isdst = -1;
        time_t real = mktime(&tm);
        p->tz_off = real == (time_t)-1 ? 0 : (long)(hour - (int64_t)real);
        p->tz_key = hour;
    }
    return naive - p->tz_off;
}

void mx_log_parser_init(mx_log_parser *p, int64_t now, int naive_utc) {
    memset(p, 0, sizeof *p);
    p->now = now;
    p->naive_utc = naive_utc;
    p->tz_key = INT64_MIN;
    /* Year inference compares with now as the log writer saw it. */
    int64_t local_now = now;
    if (!naive_utc) {
        time_t tt = (time_t)now;
        struct tm tm;
        localtime_r(&tt, &tm);
        local_now = civil_secs(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                               tm.tm_sec);
    }
    time_t lt = (time_t)local_now;
    struct tm g;
    gmtime_r(&lt, &g);
    p->now_year = g.tm_year + 1900;
    p->now_mon = g.tm_mon + 1;
    p->now_mday = g.tm_mday;
}

static int month_num(const char *s) {
    /* Switch on the first letter keeps this a handful of compares. */
    switch (s[0]) {
    case 'J':
        if (s[1] == 'a' && s[2] == 'n') return 1;
        if (s[1] == 'u' && s[2] == 'n') return 6;
        if (s[1] == 'u' && s[2] == 'l') return 7;
        return 0;
    case 'F': return s[1] == 'e' && s[2] == 'b' ? 2 : 0;
    case 'M':
        if (s[1] == 'a' && s[2] == 'r') return 3;
        if (s[1] == 'a' && s[2] == 'y') return 5;
        return 0;
    case 'A':
        if (s[1] == 'p' && s[2] == 'r') return 4;
        if (s[1] == 'u' && s[2] == 'g') return 8;
        return 0;
    case 'S': return s[1] == 'e' && s[2] == 'p' ? 9 : 0;
    case 'O': return s[1] == 'c' && s[2] == 't' ? 10 : 0;
    case 'N': return s[1] == 'o' && s[2] == 'v' ? 11 : 0;
    case 'D': return s[1] == 'e' && s[2] == 'c' ? 12 : 0;
    default: return 0;
    }
}

/* "HH:MM:SS" (8 bytes readable at s).  On little-endian hosts all six
 * digits and both colons are checked in one 64-bit word, then the ranges. */
static inline int hms(const char *s, int *h, int *mi, int *sec) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, s, 8);
    /* byte k of s is bits 8k..8k+7: colons at bytes 2 and 5, digits elsewhere */
    const uint64_t dmask = 0xFFFF00FFFF00FFFFULL, zeros = 0x3030003030003030ULL;
    if ((v & ~dmask) != 0x00003A00003A0000ULL) return -1;
    uint64_t d = v & dmask;
    /* each digit byte is 0x30..0x39: high nibble 3, and low nibble + 6 < 16 */
    if ((d & 0xF0F000F0F000F0F0ULL) != zeros ||
        (((d & 0x0F0F000F0F000F0FULL) + 0x0606000606000606ULL) & 0xF0F000F0F000F0F0ULL))
        return -1;
    d -= zeros;
    *h = (int)(d & 0xFF) * 10 + (int)((d >> 8) & 0xFF);
    *mi = (int)((d >> 24) & 0xFF) * 10 + (int)((d >> 32) & 0xFF);
    *sec = (int)((d >> 48) & 0xFF) * 10 + (int)((d >> 56) & 0xFF);
    if (*h > 23 || *mi > 59 || *sec > 60) return -1;
    return 0;
#else
    if (s[2] != ':' || s[5] != ':') return -1;
    *h = dig2(s);
    *mi = dig2(s + 3);
    *sec = dig2(s + 6);
    if (*h < 0 || *mi < 0 || *sec < 0 || *h > 23 || *mi > 59 || *sec > 60) return -1;
    return 0;
#endif
}

static int days_in_month(int y, int m) {
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2) return (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28;
    return dm[m - 1];
}

/* Fastest path of a classic syslog timestamp: same "Mmm dd HH:MM" as the
 * last valid one (so month, day, hour and minute are valid): only ":SS" is
 * left to check, as hms() would.  Seconds 0-59 share the minute's hour, so
 * its offset from UTC (naive_to_utc, per hour); 60 takes the full path.
 * Inline in the line parser's entry, before any other test of the line. */
static inline int syslog_same_minute(const mx_log_parser *p, const char *s, size_t n, int64_t *out,
                                     size_t *used) {
    if (!p->sl_min_ok || n < 15 || memcmp(s, p->sl_min, 12) != 0 || s[12] != ':' || !is_digit(s[13]) ||
        !is_digit(s[14]) || s[13] >= '6')
        return -1;
    size_t i = 15;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && is_digit(s[i])) i++;
    }
    *out = p->sl_min_t + (s[13] - '0') * 10 + (s[14] - '0');
    *used = i;
    return 0;
}

/* "Mar  5 15:51:11", "Mar 05 15:51:11", "Dec 1 12:34:56". */
int mx_log_parse_syslog_time(mx_log_parser *p, const char *s, size_t n, int64_t *out, size_t *used) {
    if (n < 14) return -1;
    size_t i;
    int h, mi, sec;
    if (syslog_same_minute(p, s, n, out, used) == 0) return 0;
    /* Fast path: same "Mmm dd " as the day cached below (already validated);
     * the full path would reach the same hms() at byte 7. */
    if (p->day_prefix_ok && n >= 15 && memcmp(s, p->day_prefix, 7) == 0) {
        if (hms(s + 7, &h, &mi, &sec) < 0) return -1;
        i = 15;
        if (i < n && s[i] == '.') {
            i++;
            while (i < n && is_digit(s[i])) i++;
        }
        int64_t naive_min = p->day_days * 86400 + h * 3600 + mi * 60;
        *out = naive_to_utc(p, naive_min + sec);
        memcpy(p->sl_min, s, 12);
        p->sl_min_t = naive_to_utc(p, naive_min);
        p->sl_min_ok = 1;
        *used = i;
        return 0;
    }
    int mon = month_num(s);
    if (!mon || s[3] != ' ') return -1;
    i = 4;
    if (s[i] == ' ') i++;
    int day;
    if (is_digit(s[i]) && is_digit(s[i + 1])) {
        day = (s[i] - '0') * 10 + (s[i + 1] - '0');
        i += 2;
    } else if (is_digit(s[i])) {
        day = s[i] - '0';
        i += 1;
    } else {
        return -1;
    }
    if (i + 9 > n || s[i] != ' ') return -1;
    int day_end = (int)i;
    i++;
    if (hms(s + i, &h, &mi, &sec) < 0 || day < 1 || day > 31) return -1;
    i += 8;
    /* rsyslog high-precision "HH:MM:SS.ffffff" variants: skip the fraction. */
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && is_digit(s[i])) i++;
    }
    /* a log has few distinct days: remember the last one's epoch day */
    int key = mon * 32 + day;
    if (key != p->day_key) {
        int y = p->now_year;
        if (mon > p->now_mon || (mon == p->now_mon && day > p->now_mday + 1)) y--;
        if (day > days_in_month(y, mon)) return -1;
        p->day_key = key;
        p->day_days = mx_log_days_from_civil(y, mon, day);
    }
    int64_t naive_min = p->day_days * 86400 + h * 3600 + mi * 60;
    if (day_end == 6) {
        memcpy(p->day_prefix, s, 7);
        p->day_prefix_ok = 1;
        memcpy(p->sl_min, s, 12);
        p->sl_min_t = naive_to_utc(p, naive_min);
        p->sl_min_ok = 1;
    } else {
        p->day_prefix_ok = 0;
    }
    *out = naive_to_utc(p, naive_min + sec);
    *used = i;
    return 0;
}

/* Index of the first byte from i on (below n) that is not a digit: eight
 * bytes at a time (an RFC 3339 fraction is usually six digits). */
static inline size_t skip_digits(const char *s, size_t i, size_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (n - i >= 8) {
        uint64_t v;
        memcpy(&v, s + i, 8);
        /* a digit byte is 0x00..0x09 after ^ 0x30: high nibble 0, and low
         * nibble + 6 < 16; a byte failing either is flagged in its high nibble */
        uint64_t a = v ^ 0x3030303030303030ULL;
        uint64_t bad = (a & 0xF0F0F0F0F0F0F0F0ULL) |
                       (((a & 0x0F0F0F0F0F0F0F0FULL) + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL);
        if (bad) return i + (size_t)(__builtin_ctzll(bad) >> 3);
        i += 8;
    }
#endif
    while (i < n && is_digit(s[i])) i++;
    return i;
}

/* "2024-03-01T10:42:00.123456+01:00", "2024-03-01 10:42:00", Exim
 * "2024-03-01 10:42:00.123 +0100" (zone after a space, log_timezone). */
/* The common case of an ISO timestamp, inline in the line parser's entry:
 * the remembered minute (mx_log_parse_iso_time's first path) and the
 * remembered zone.  -1 for anything else: the full parse then decides
 * (this changes no state). */
static inline int iso_same_minute(const mx_log_parser *p, const char *s, size_t n, int64_t *out, size_t *used) {
    if (!p->iso_min_ok || !p->iso_zone_ok || n < 19 || memcmp(s, p->iso_min, 16) != 0 || s[16] != ':' ||
        !is_digit(s[17]) || !is_digit(s[18]))
        return -1;
    int sec = (s[17] - '0') * 10 + (s[18] - '0');
    if (sec > 60) return -1;
    size_t i = 19;
    if (i < n && (s[i] == '.' || s[i] == ',')) i = skip_digits(s, i + 1, n);
    size_t z = i;
    if (z < n && s[z] == ' ' && s[10] == ' ' && z + 5 < n && (s[z + 1] == '+' || s[z + 1] == '-') &&
        is_digit(s[z + 2]))
        z++;
    if (z + 6 > n || memcmp(s + z, p->iso_zone, 6) != 0) return -1;
    *out = p->iso_min_t + sec - p->iso_zone_off;
    *used = z + 6;
    return 0;
}

int mx_log_parse_iso_time(mx_log_parser *p, const char *s, size_t n, int64_t *out, size_t *used) {
    if (n < 19) return -1;
    int64_t t;
    if (p->iso_min_ok && memcmp(s, p->iso_min, 16) == 0) {
        /* Same date, hour and minute as the last valid timestamp (so the
         * separators, date, hour and minute are valid): only ":SS" is left
         * to check, as hms() would (0..60). Most lines of a busy log. */
        if (s[16] != ':' || !is_digit(s[17]) || !is_digit(s[18])) return -1;
        int sec = (s[17] - '0') * 10 + (s[18] - '0');
        if (sec > 60) return -1;
        t = p->iso_min_t + sec;
    } else {
        if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ')) return -1;
        /* A log has few distinct dates: the last valid "YYYY-MM-DD" and its
         * epoch day are remembered, so most lines skip the calendar work. */
        int64_t days;
        if (p->iso_day_ok && memcmp(s, p->iso_day, 10) == 0) {
            days = p->iso_days;
        } else {
            int y = dig2(s) * 100 + dig2(s + 2);
            int mo = dig2(s + 5), d = dig2(s + 8);
            if (dig2(s) < 0 || dig2(s + 2) < 0 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
                return -1;
            days = mx_log_days_from_civil(y, mo, d);
            memcpy(p->iso_day, s, 10);
            p->iso_days = days;
            p->iso_day_ok = 1;
        }
        int h, mi, sec;
        if (hms(s + 11, &h, &mi, &sec) < 0) return -1;
        t = days * 86400 + h * 3600 + mi * 60 + sec;
        memcpy(p->iso_min, s, 16);
        p->iso_min_t = t - sec;
        p->iso_min_ok = 1;
    }
    size_t i = 19;
    if (i < n && (s[i] == '.' || s[i] == ',')) i = skip_digits(s, i + 1, n);
    /* Zone: directly after the time (RFC 3339), or after one space (Exim). */
    size_t z = i;
    if (z < n && s[z] == ' ' && s[10] == ' ' && z + 5 < n + 0 && (s[z + 1] == '+' || s[z + 1] == '-') &&
        is_digit(s[z + 2]))
        z++;
    /* the same "+HH:MM" as the last valid one: what the parse below would
     * find for these bytes (a log has one zone, two around a DST change) */
    if (p->iso_zone_ok && z + 6 <= n && memcmp(s + z, p->iso_zone, 6) == 0) {
        *out = t - p->iso_zone_off;
        *used = z + 6;
        return 0;
    }
    if (z < n && s[z] == 'Z') {
        *out = t;
        *used = z + 1;
        return 0;
    }
    if (z + 5 <= n && (s[z] == '+' || s[z] == '-')) {
        int zh = dig2(s + z + 1), zm;
        size_t zend;
        if (z + 6 <= n && s[z + 3] == ':') {
            zm = dig2(s + z + 4);
            zend = z + 6;
        } else {
            zm = dig2(s + z + 3);
            zend = z + 5;
        }
        if (zh >= 0 && zm >= 0 && zh <= 23 && zm <= 59) {
            int64_t off = (int64_t)zh * 3600 + zm * 60;
            if (zend == z + 6) {
                memcpy(p->iso_zone, s + z, 6);
                p->iso_zone_off = s[z] == '+' ? off : -off;
                p->iso_zone_ok = 1;
            }
            *out = s[z] == '+' ? t - off : t + off;
            *used = zend;
            return 0;
        }
    }
    *out = naive_to_utc(p, t);
    *used = i;
    return 0;
}

/* ---- host[addr]:port --------------------------------------------------- */

/* The first '[', ' ' or ',' in [s, e), or e.  A host name is tens of bytes:
 * eight at a time in a register, with an exact per-byte equality test (no
 * borrow from one byte into the next), never reading past e. */
static inline const char *find_host_end(const char *s, const char *e) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t lo7 = 0x7f7f7f7f7f7f7f7fULL, ones = 0x0101010101010101ULL;
    while (e - s >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        uint64_t x1 = v ^ (ones * '['), x2 = v ^ (ones * ' '), x3 = v ^ (ones * ',');
        uint64_t z = ~(((x1 & lo7) + lo7) | x1 | lo7) | ~(((x2 & lo7) + lo7) | x2 | lo7) |
                     ~(((x3 & lo7) + lo7) | x3 | lo7); /* 0x80 in each byte equal to one of them */
        if (z) return s + (__builtin_ctzll(z) >> 3);
        s += 8;
    }
#endif
    while (s < e && *s != '[' && *s != ' ' && *s != ',') s++;
    return s;
}

/* Parses "HOST[ADDR]" or "HOST[ADDR]:PORT" starting at s.  Sets *after. */
static int parse_host_addr(const char *s, const char *e, mx_log_event *ev, const char **after) {
    const char *lb = find_host_end(s, e);
    if (lb >= e || *lb != '[') return -1;
    const char *rb = memchr(lb, ']', (size_t)(e - lb));
    if (!rb) return -1;
    ev->relay_host = mkstr(s, lb);
    ev->relay_addr = mkstr(lb + 1, rb);
    const char *q = rb + 1;
    if (q < e && *q == ':' && q + 1 < e && is_digit(q[1])) {
        int port = 0;
        q++;
        while (q < e && is_digit(*q) && port < 100000) port = port * 10 + (*q++ - '0');
        ev->port = port <= 65535 ? port : 0; /* garbled digits are no port */
    }
    *after = q;
    return 0;
}

/* relay=none lines name the failing host only inside the text
 * ("connect to mx.example[192.0.2.1]:25: ..."): find the first
 * NAME[IP] in it.  Brackets that hold no IP ("[TSS04]") are skipped. */
static void host_addr_from_text(const char *s, const char *e, mx_log_event *ev) {
    const char *q = s;
    while (q < e) {
        const char *lb = memchr(q, '[', (size_t)(e - q));
        if (!lb) return;
        const char *a = lb + 1, *b = a;
        while (b < e && is_ipch(*b)) b++;
        if (b < e && *b == ']' && b - a >= 2 && lb > s && is_hostch(lb[-1])) {
            const char *h = lb;
            while (h > s && is_hostch(h[-1])) h--;
            const char *after;
            mx_log_event tmp = *ev;
            if (parse_host_addr(h, e, &tmp, &after) == 0) {
                ev->relay_host = tmp.relay_host;
                ev->relay_addr = tmp.relay_addr;
                if (!ev->port) ev->port = tmp.port;
                return;
            }
        }
        q = lb + 1;
    }
}

static void set_domain(mx_log_event *ev) {
    ev->domain = (mx_log_str){NULL, 0};
    const char *at = ev->recipient.n ? memrchr(ev->recipient.p, '@', ev->recipient.n) : NULL;
    if (at) ev->domain = mkstr(at + 1, ev->recipient.p + ev->recipient.n);
}

/* ---- Postfix ------------------------------------------------------------ */

/* "3E29030F8637E: " -> queue id.  Short hex (8+) and long base-52 ids. */
static const char *postfix_qid(const char *m, const char *e, mx_log_event *ev) {
    const char *q = m;
    while (q < e && alnum_tab[(unsigned char)*q]) q++;
    if (q - m >= 5 && q - m <= 20 && q + 1 < e && q[0] == ':' && q[1] == ' ') {
        ev->queue_id = mkstr(m, q);
        return q + 2;
    }
    return m;
}

/* Event shapes that carry no recipient: a connection-level failure. */
static mx_log_result postfix_attempt(const char *whole, const char *m, const char *e,
                                     mx_log_event *ev, mx_log_cause forced) {
    const char *after = m;
    if (parse_host_addr(m, e, ev, &after) < 0) return MX_LOG_IGNORED;
    ev->status = MX_LOG_STATUS_NONE;
    ev->cause = forced ? forced : mx_log_classify(whole, (size_t)(e - whole));
    /* Keep the reason part: after "said: " / "me: " / ": " */
    const char *t = find(after, e, LIT(": "));
    ev->text = t ? mkstr(t + 2, e) : mkstr(whole, e);
    if (is_loopback(ev->relay_addr)) ev->local = 1;
    return MX_LOG_EVENT;
}

static mx_log_result postfix_delivery(const char *m, const char *e, mx_log_event *ev) {
    /* to=<rcpt>, [orig_to=<..>,] relay=..., ... dsn=..., status=WORD (TEXT) */
    const char *q = m + 3;
    const char *rcpt_end;
    if (q < e && *q == '<') {
        rcpt_end = memchr(q, '>', (size_t)(e - q));
        if (!rcpt_end) return (ev->reason = MX_LOG_R_BAD_FIELDS), MX_LOG_UNPARSED;
        ev->recipient = mkstr(q + 1, rcpt_end);
        q = rcpt_end + 1;
    } else {
        /* "to=," (address eaten when pasted) */
        rcpt_end = q;
        while (rcpt_end < e && *rcpt_end != ',') rcpt_end++;
        ev->recipient = mkstr(q, rcpt_end);
        q = rcpt_end;
    }
    set_domain(ev);
    mx_log_str relay = {NULL, 0}, status = {NULL, 0};
    while (q < e) {
        if (*q == ',' || *q == ' ') {
            q++;
            continue;
        }
        const char *eq = find_byte(q, e, '=');
        if (!eq) break;
        const char *val = eq + 1;
        size_t klen = (size_t)(eq - q);
        if (klen == 6 && memcmp(q, "status", 6) == 0) {
            const char *w = val;
            while (w < e && *w != ' ' && *w != ',') w++;
            status = mkstr(val, w);
            const char *t = skip_sp(w, e);
            if (t < e && *t == ',') t = skip_sp(t + 1, e);
            if (t < e && *t == '(') {
                const char *te = e;
                if (te > t + 1 && te[-1] == ')') te--;
                ev->text = mkstr(t + 1, te);
            } else {
                ev->text = mkstr(t, e);
            }
            break;
        }
        /* values end at ", " (a value is a few bytes: find_byte, inline,
         * beats a libc memchr call there; memmem for a 2-byte needle more so) */
        const char *ve = val;
        for (;;) {
            ve = find_byte(ve, e, ',');
            if (!ve || (ve + 1 < e && ve[1] == ' ')) break;
            ve++;
        }
        if (!ve) ve = e;
        if (klen == 5 && memcmp(q, "relay", 5) == 0) relay = mkstr(val, ve);
        else if (klen == 3 && memcmp(q, "dsn", 3) == 0) ev->dsn = mkstr(val, ve);
        q = ve;
    }
    if (!status.p) return (ev->reason = MX_LOG_R_BAD_FIELDS), MX_LOG_UNPARSED;

    if (str_eq(status, LIT("sent"))) ev->status = MX_LOG_STATUS_SENT;
    else if (str_eq(status, LIT("deferred"))) ev->status = MX_LOG_STATUS_DEFERRED;
    else if (str_eq(status, LIT("bounced"))) ev->status = MX_LOG_STATUS_BOUNCED;
    else if (str_eq(status, LIT("expired")) || str_eq(status, LIT("force-expired")))
        ev->status = MX_LOG_STATUS_EXPIRED;
    else if (status.n >= 11 && (memcmp(status.p, "deliverable", 11) == 0 ||
                                (status.n >= 13 && memcmp(status.p, "undeliverable", 13) == 0)))
        return (ev->reason = MX_LOG_R_VERIFY_PROBE), MX_LOG_IGNORED;
    else
        return (ev->reason = MX_LOG_R_BAD_FIELDS), MX_LOG_UNPARSED;

    if (relay.p) {
        const char *after;
        if (memchr(relay.p, '[', relay.n)) {
            if (parse_host_addr(relay.p, relay.p + relay.n, ev, &after) == 0) {
                if (memchr(ev->relay_addr.p, '/', ev->relay_addr.n)) {
                    ev->relay_addr = (mx_log_str){NULL, 0}; /* unix socket: host[private/lmtp] */
                    ev->local = 1;
                } else if (is_loopback(ev->relay_addr)) {
                    ev->local = 1; /* amavis, local lmtp */
                }
            }
        } else if (!str_eq(relay, LIT("none"))) {
            ev->relay_host = relay; /* local, virtual, dovecot... */
            ev->local = 1;
        }
    }
    if (ev->status == MX_LOG_STATUS_SENT) {
        ev->cause = MX_LOG_CAUSE_NONE;
    } else {
        ev->cause = mx_log_classify(ev->text.p, ev->text.n);
        if (!ev->relay_addr.p) {
            host_addr_from_text(ev->text.p, ev->text.p + ev->text.n, ev);
            if (is_loopback(ev->relay_addr)) ev->local = 1;
        }
    }
    return MX_LOG_EVENT;
}

/* contains ", status=expired" or ", status=force-expired": one search for
 * the common part, then the word after each occurrence. */
static int qmgr_expired(const char *m, const char *e) {
    /* every ',' (a qmgr line has two or three) rather than memmem */
    for (const char *q = m; (q = find_byte(q, e, ',')) != NULL; q++) {
        if (!has_prefix(q, e, LIT(", status="))) continue;
        const char *w = q + 9;
        if (has_prefix(w, e, LIT("expired")) || has_prefix(w, e, LIT("force-expired"))) return 1;
    }
    return 0;
}

static mx_log_result postfix_client(const char *m, const char *e, mx_log_event *ev, int qmgr) {
    /* Before the queue id: "warning" would pass for a long queue id. */
    if (has_prefix(m, e, LIT("warning: "))) return (ev->reason = MX_LOG_R_WARNING), MX_LOG_IGNORED;
    m = postfix_qid(m, e, ev);
    if (qmgr) {
        /* qmgr: "QID: from=<..>, status=expired, returned to sender" */
        if (ev->queue_id.p && has_prefix(m, e, LIT("from=<")) && qmgr_expired(m, e)) {
            ev->status = MX_LOG_STATUS_EXPIRED;
            ev->cause = MX_LOG_CAUSE_OTHER;
            const char *t = find(m, e, LIT(", status="));
            ev->text = mkstr(t + 9, e);
            return MX_LOG_EVENT;
        }
        return (ev->reason = MX_LOG_R_NOT_DELIVERY), MX_LOG_IGNORED;
    }
    mx_log_result r = MX_LOG_IGNORED;
    ev->reason = MX_LOG_R_NOT_DELIVERY;
    if (m >= e) return MX_LOG_IGNORED;
    switch (*m) {
    case 't':
        if (has_prefix(m, e, LIT("to="))) return postfix_delivery(m, e, ev);
        break;
    case 'h':
        /* "host H[A] said: 550 ..." / "host H[A] refused to talk to me: ..." */
        if (has_prefix(m, e, LIT("host "))) r = postfix_attempt(m, m + 5, e, ev, 0);
        break;
    case 'l':
        if (has_prefix(m, e, LIT("lost connection with ")))
            r = postfix_attempt(m, m + 21, e, ev, 0);
        break;
    case 'c':
        if (has_prefix(m, e, LIT("connect to "))) r = postfix_attempt(m, m + 11, e, ev, 0);
        else if (has_prefix(m, e, LIT("conversation with ")))
            r = postfix_attempt(m, m + 18, e, ev, 0);
        else if (has_prefix(m, e, LIT("certificate verification failed")))
            ev->reason = MX_LOG_R_TLS_INFO;
        break;
    case 'S':
        if (has_prefix(m, e, LIT("SSL_connect error to ")))
            r = postfix_attempt(m, m + 21, e, ev, MX_LOG_CAUSE_TLS_FAIL);
        else if (has_prefix(m, e, LIT("Server certificate not")))
            ev->reason = MX_LOG_R_TLS_INFO; /* the status line carries the verdict */
        else if (has_prefix(m, e, LIT("SASL authentication failed; server ")))
            r = postfix_attempt(m, m + 35, e, ev, MX_LOG_CAUSE_OTHER);
        break;
    case 'C':
    case 'T':
        /* "Cannot start TLS: handshake failure", "TLS is required, but was
         * not offered by host H[A]": no host in the first, so attempt
         * without address. */
        if (has_prefix(m, e, LIT("Cannot start TLS")) || has_prefix(m, e, LIT("TLS is required"))) {
            host_addr_from_text(m, e, ev);
            ev->status = MX_LOG_STATUS_NONE;
            ev->cause = MX_LOG_CAUSE_TLS_FAIL;
            ev->text = mkstr(m, e);
            return MX_LOG_EVENT;
        }
        break;
    case 'w':
        if (has_prefix(m, e, LIT("warning:"))) ev->reason = MX_LOG_R_WARNING;
        break;
    default:
        break;
    }
    if (r == MX_LOG_EVENT) return r;
    if (ev->reason == MX_LOG_R_NOT_DELIVERY) {
        /* Postfix's own form, "Trusted TLS connection established to ..."
         * (Anonymous, Untrusted, Verified): the phrase after the first word
         * is checked in place; any other line is searched as before. */
        const char *sp = find_byte(m, e, ' ');
        if ((sp && has_prefix(sp + 1, e, LIT("TLS connection established"))) ||
            contains(m, e, LIT("TLS connection established")))
            ev->reason = MX_LOG_R_TLS_INFO;
    }
    ev->relay_host = ev->relay_addr = (mx_log_str){NULL, 0};
    ev->port = 0;
    return MX_LOG_IGNORED;
}

/* slash: one past the last '/' in [prog, prog_end). */
static mx_log_result parse_postfix(const char *prog, const char *slash, const char *prog_end, const char *m,
                                   const char *e, mx_log_event *ev) {
    ev->mta = MX_LOG_MTA_POSTFIX;
    mx_log_str d = mkstr(slash, prog_end);
    ev->source = mkstr(prog, slash - 1); /* instance: "postfix-out", "postfix/amavis" */
    switch (d.n) {
    case 4:
        if (memcmp(d.p, "smtp", 4) == 0) return postfix_client(m, e, ev, 0);
        if (memcmp(d.p, "lmtp", 4) == 0 || memcmp(d.p, "pipe", 4) == 0 || memcmp(d.p, "qmgr", 4) == 0) {
            int qmgr = d.p[0] == 'q';
            mx_log_result r = postfix_client(m, e, ev, qmgr);
            if (!qmgr) ev->local = 1;
            return r;
        }
        break;
    case 5:
        if (memcmp(d.p, "error", 5) == 0 || memcmp(d.p, "retry", 5) == 0 || memcmp(d.p, "local", 5) == 0) {
            mx_log_result r = postfix_client(m, e, ev, 0);
            if (d.p[0] == 'l') ev->local = 1;
            return r;
        }
        break;
    case 7:
        if (memcmp(d.p, "virtual", 7) == 0 || memcmp(d.p, "discard", 7) == 0) {
            mx_log_result r = postfix_client(m, e, ev, 0);
            ev->local = 1;
            return r;
        }
        break;
    default:
        break;
    }
    /* smtpd, postscreen, dnsblog, tlsproxy: the receiving side. */
    if ((d.n == 5 && memcmp(d.p, "smtpd", 5) == 0) ||
        (d.n == 10 && memcmp(d.p, "postscreen", 10) == 0) || (d.n == 7 && memcmp(d.p, "dnsblog", 7) == 0) ||
        (d.n == 8 && memcmp(d.p, "tlsproxy", 8) == 0))
        ev->reason = MX_LOG_R_INBOUND;
    else
        ev->reason = MX_LOG_R_NOT_DELIVERY;
    return MX_LOG_IGNORED;
}

/* ---- Exim ---------------------------------------------------------------- */

/* 1j5IF1-0006A7-Ub (classic) or 10HmaX-000000005vi-0000 (4.97+). */
static int exim_msgid(const char *s, const char *e) {
    size_t n = (size_t)(e - s);
    if (n >= 16 && s[6] == '-' && s[13] == '-' && (n == 16 || s[16] == ' ')) return 16;
    if (n >= 23 && s[6] == '-' && s[18] == '-' && (n == 23 || s[23] == ' ')) return 23;
    return 0;
}

/* H=host [addr]:port, H=host (helo) [addr], or "host [addr]" at s. */
static const char *exim_host(const char *s, const char *e, mx_log_event *ev) {
    const char *h = s;
    while (s < e && *s != ' ' && *s != '[') s++;
    ev->relay_host = mkstr(h, s);
    s = skip_sp(s, e);
    if (s < e && *s == '(') {
        const char *c = memchr(s, ')', (size_t)(e - s));
        if (!c) return s;
        s = skip_sp(c + 1, e);
    }
    if (s >= e || *s != '[') return NULL;
    const char *rb = memchr(s, ']', (size_t)(e - s));
    if (!rb) return NULL;
    ev->relay_addr = mkstr(s + 1, rb);
    s = rb + 1;
    if (s + 1 < e && *s == ':' && is_digit(s[1])) {
        int port = 0;
        s++;
        while (s < e && is_digit(*s) && port < 100000) port = port * 10 + (*s++ - '0');
        ev->port = port <= 65535 ? port : 0; /* garbled digits are no port */
    }
    return s;
}

/* Pick R=/T=/H=/I= out of an Exim delivery line tail. */
static void exim_fields(const char *s, const char *e, mx_log_event *ev, mx_log_str *transport) {
    const char *q = s;
    while (q < e) {
        const char *sp = memchr(q, ' ', (size_t)(e - q));
        const char *tok = q;
        const char *te = sp ? sp : e;
        if (te - tok > 2 && tok[1] == '=') {
            if (tok[0] == 'H' && !ev->relay_addr.p) {
                const char *a = exim_host(tok + 2, e, ev);
                if (a) {
                    q = a;
                    continue;
                }
            } else if (tok[0] == 'I' && tok[2] == '[') {
                const char *rb = memchr(tok, ']', (size_t)(te - tok));
                if (rb) ev->source = mkstr(tok + 3, rb);
            } else if (tok[0] == 'T' && transport) {
                const char *t = tok + 2, *tend = t;
                while (tend < te && *tend != ':') tend++;
                *transport = mkstr(t, tend);
            } else if (tok[0] == 'C' && tok[2] == '"') {
                break; /* confirmation text: nothing after it is a field */
            }
        }
        if (!sp) break;
        q = sp + 1;
    }
}

/* An SMTP transport to a remote host (remote_smtp, remote_smtp_smarthost),
 * not bsmtp (batched SMTP written to a file). */
static int exim_remote_transport(mx_log_str t) {
    return t.p && memmem(t.p, t.n, "smtp", 4) && !memmem(t.p, t.n, "bsmtp", 5);
}

/* An Exim line found not to be an event: no recipient or host is kept. */
static void exim_clear(mx_log_event *ev) {
    ev->recipient = ev->domain = ev->relay_host = ev->relay_addr = ev->source = ev->text = (mx_log_str){NULL, 0};
    ev->port = 0;
    ev->status = MX_LOG_STATUS_NONE;
    ev->cause = MX_LOG_CAUSE_NONE;
    ev->reason = MX_LOG_R_NOT_DELIVERY;
}

static mx_log_cause exim_errno_cause(const char *s, const char *e) {
    const char *d = find(s, e, LIT("defer ("));
    if (!d) return MX_LOG_CAUSE_OTHER;
    d += 7;
    int neg = 0, v = 0, any = 0;
    if (d < e && *d == '-') neg = 1, d++;
    while (d < e && is_digit(*d) && v < 100000) v = v * 10 + (*d++ - '0'), any = 1;
    if (!any || neg) return MX_LOG_CAUSE_OTHER;
    switch (v) {
    case 111: return MX_LOG_CAUSE_REFUSED;
    case 110: return MX_LOG_CAUSE_TIMEOUT;
    case 113: return MX_LOG_CAUSE_UNREACHABLE;
    case 101:
    case 99: return MX_LOG_CAUSE_NET_UNREACHABLE;
    default: return MX_LOG_CAUSE_OTHER;
    }
}

/* A delivery to something that is not an address (a local user "rose", a
 * pipe "|/usr/bin/prog -x", a file "/var/mail/x", ":blackhole:") names the
 * address it was for as "<rose@local.test>" before R=: that address is the
 * recipient (its domain is the one the sender addressed).  *rest moves past
 * it; a pipe command's words before it are skipped. */
static void exim_parent_address(mx_log_event *ev, const char **rest, const char *e) {
    if (!ev->recipient.p || memchr(ev->recipient.p, '@', ev->recipient.n)) return;
    const char *s = *rest, *lt = s;
    /* "<parent>" comes right after the address; only a pipe's command has
     * more words (none of them a field "X=...") before it. */
    if (ev->recipient.n > 0 && ev->recipient.p[0] == '|') {
        while (lt < e && *lt != '<') {
            const char *w = lt;
            while (lt < e && *lt != ' ') lt++;
            if (memchr(w, '=', (size_t)(lt - w))) return;
            lt = skip_sp(lt, e);
        }
    }
    if (lt >= e || *lt != '<') return;
    const char *gt = lt + 1;
    while (gt < e && *gt != '>' && *gt != ' ') gt++;
    if (gt >= e || *gt != '>' || gt - lt < 4 || !memchr(lt + 1, '@', (size_t)(gt - lt - 1))) return;
    ev->recipient = mkstr(lt + 1, gt);
    s = gt + 1;
    if (s < e && *s == ':') s++;
    *rest = skip_sp(s, e);
}

static mx_log_result parse_exim_body(const char *s, const char *e, mx_log_event *ev) {
    ev->mta = MX_LOG_MTA_EXIM;
    s = skip_sp(s, e);
    /* log_selector +pid: "[1234]" or "[1234/...]". */
    if (s < e && *s == '[' && s + 1 < e && is_digit(s[1])) {
        const char *rb = memchr(s, ']', (size_t)(e - s));
        if (rb) s = skip_sp(rb + 1, e);
    }
    int idl = exim_msgid(s, e);
    if (idl) {
        ev->queue_id = mkstr(s, s + idl);
        s = skip_sp(s + idl, e);
    }
    ev->reason = MX_LOG_R_NOT_DELIVERY;
    if (e - s >= 3 && s[2] == ' ' &&
        ((s[0] == '=' && s[1] == '>') || (s[0] == '-' && s[1] == '>') || (s[0] == '=' && s[1] == '=') ||
         (s[0] == '*' && s[1] == '*'))) {
        if (!idl) return MX_LOG_IGNORED;
        char k = s[0];
        const char *a = s + 3, *ae = a;
        if (ae < e && *ae == ':') /* ":blackhole:" (a redirect to nowhere), then "<address>" */
            while (ae < e && *ae != ' ') ae++;
        else
            while (ae < e && *ae != ' ' && *ae != ':') ae++;
        if (ae > a && ae[-1] == ',') ae--;
        ev->recipient = mkstr(a, ae);
        if (ev->recipient.n >= 2 && ev->recipient.p[0] == '<' && ae[-1] == '>')
            ev->recipient = mkstr(a + 1, ae - 1);
        const char *rest = ae < e && *ae == ':' ? ae + 1 : ae;
        rest = skip_sp(rest, e);
        exim_parent_address(ev, &rest, e);
        set_domain(ev);
        mx_log_str transport = {NULL, 0};
        exim_fields(rest, e, ev, &transport);
        ev->text = mkstr(rest, e);
        if (k == '=' && s[1] == '>') k = '>';
        /* A delivery always names its router; "MSGID -> text" without one is
         * an ACL logwrite that happens to start with an arrow. */
        if ((k == '>' || k == '-') && !has_prefix(rest, e, LIT("R=")) && !contains(rest, e, LIT(" R="))) {
            exim_clear(ev);
            return MX_LOG_IGNORED;
        }
        if (k == '>' || k == '-') {
            ev->status = MX_LOG_STATUS_SENT;
            ev->cause = MX_LOG_CAUSE_NONE;
            const char *c = find(rest, e, LIT(" C=\""));
            if (c) {
                const char *ce = e;
                if (ce > c + 4 && ce[-1] == '"') ce--;
                ev->text = mkstr(c + 4, ce);
            }
        } else {
            /* "== .. retry time not reached [for any host for 'd']", "Retry
             * time not yet reached": no attempt was made, nothing happened.
             * A "**" line saying so ("all hosts for 'd' have been failing for
             * a long time (and retry time not reached)") is a bounce. */
            if (k == '=' && contains(rest, e, LIT("etry time not"))) {
                exim_clear(ev);
                return (ev->reason = MX_LOG_R_RETRY_WAIT), MX_LOG_IGNORED;
            }
            ev->status = k == '=' ? MX_LOG_STATUS_DEFERRED : MX_LOG_STATUS_BOUNCED;
            ev->cause = mx_log_classify(rest, (size_t)(e - rest));
            if (ev->cause == MX_LOG_CAUSE_OTHER) ev->cause = exim_errno_cause(rest, e);
            /* The useful text: after "defer (N): ", else the SMTP error. */
            const char *t = find(rest, e, LIT("SMTP error from remote mail server"));
            if (!t) {
                t = find(rest, e, LIT("defer ("));
                if (t) {
                    const char *c = memchr(t, ')', (size_t)(e - t));
                    t = c ? skip_sp(c + 1, e) : t;
                    if (t < e && *t == ':') t = skip_sp(t + 1, e);
                }
            }
            if (t) ev->text = mkstr(t, e);
        }
        if (!ev->relay_addr.p) {
            /* "SMTP error from remote mail server after ...: host H [A]: 554 ..." */
            const char *h = find(rest, e, LIT(": host "));
            if (h) exim_host(h + 7, e, ev);
        }
        /* Local: loopback peer, or no remote host at all and a transport that
         * is not SMTP (appendfile, pipe, lmtp, bsmtp): a delivery without T=
         * (":blackhole:") too, but not a failure without one ("Unrouteable
         * address", a routing defer: the remote domain's). */
        if (ev->relay_addr.p) ev->local = is_loopback(ev->relay_addr);
        else if (k == '>' || k == '-') ev->local = !exim_remote_transport(transport);
        else ev->local = transport.p && !exim_remote_transport(transport);
        return MX_LOG_EVENT;
    }
    if (has_prefix(s, e, LIT("TLS error on connection to "))) {
        ev->status = MX_LOG_STATUS_NONE;
        ev->cause = MX_LOG_CAUSE_TLS_FAIL;
        exim_host(s + 27, e, ev);
        ev->text = mkstr(s, e);
        return MX_LOG_EVENT;
    }
    if (!idl) {
        /* Without a message id, H=/U=/TLS-error lines are the SMTP server side. */
        if (has_prefix(s, e, LIT("H=")) || has_prefix(s, e, LIT("U=")) ||
            has_prefix(s, e, LIT("TLS error on connection from")) || contains(s, e, LIT("authenticator failed")) ||
            contains(s, e, LIT("SMTP connection from")) || contains(s, e, LIT(" rejected ")) ||
            contains(s, e, LIT("sender verify fail")))
            ev->reason = MX_LOG_R_INBOUND;
        return MX_LOG_IGNORED;
    }
    /* Verification of a message we received: DKIM/ARC/SPF results. */
    if (has_prefix(s, e, LIT("DKIM: ")) || has_prefix(s, e, LIT("DKIM ")) || has_prefix(s, e, LIT("ARC: ")) ||
        has_prefix(s, e, LIT("ARC ")) || has_prefix(s, e, LIT("SPF: ")))
        return (ev->reason = MX_LOG_R_INBOUND), MX_LOG_IGNORED;
    /* Host-level lines of an outbound delivery:
     *   H=host [ip] Connection refused
     *   H=host [ip]: SMTP error from remote mail server after initial connection: 554 ...
     *   host [ip] Network is unreachable                (older releases, no H=)
     *   SMTP error from remote mail server after MAIL FROM:<..>: 421 ...  */
    const char *hs = NULL;
    if (has_prefix(s, e, LIT("H="))) hs = s + 2;
    else if (has_prefix(s, e, LIT("SMTP error from remote mail server"))) {
        ev->status = MX_LOG_STATUS_NONE;
        ev->cause = mx_log_classify(s, (size_t)(e - s));
        ev->text = mkstr(s, e);
        host_addr_from_text(s, e, ev);
        return MX_LOG_EVENT;
    } else {
        const char *sp = memchr(s, ' ', (size_t)(e - s));
        if (sp && sp + 1 < e && sp[1] == '[' && sp > s && is_hostch(sp[-1])) hs = s;
    }
    if (hs) {
        mx_log_event tmp = *ev;
        const char *after = exim_host(hs, e, &tmp);
        if (after) {
            after = skip_sp(after, e);
            if (after < e && *after == ':') after = skip_sp(after + 1, e);
            if (after >= e) return MX_LOG_IGNORED;
            /* Our server receiving: the client's HELO "(name)" before its
             * address, its envelope (F=<..>), a rejection or ACL warning. */
            const char *lb = memchr(hs, '[', (size_t)(e - hs));
            if ((lb && memchr(hs, '(', (size_t)(lb - hs))) || has_prefix(after, e, LIT("F=<")) ||
                has_prefix(after, e, LIT("U=")) || has_prefix(after, e, LIT("rejected ")) ||
                has_prefix(after, e, LIT("temporarily rejected ")) ||
                has_prefix(after, e, LIT("Warning: ")) || has_prefix(after, e, LIT("DKIM")) ||
                has_prefix(after, e, LIT("ARC")))
                return (ev->reason = MX_LOG_R_INBOUND), MX_LOG_IGNORED;
            *ev = tmp;
            ev->status = MX_LOG_STATUS_NONE;
            ev->cause = mx_log_classify(after, (size_t)(e - after));
            ev->text = mkstr(after, e);
            if (is_loopback(ev->relay_addr)) ev->local = 1;
            return MX_LOG_EVENT;
        }
    }
    return MX_LOG_IGNORED;
}

/* ---- Sendmail ------------------------------------------------------------ */

int mx_log_event_next_recipient(mx_log_event *ev) {
    if (!ev->more_rcpts.p) return 0; /* none (NULL + 0 is undefined behaviour) */
    const char *s = ev->more_rcpts.p, *e = s + ev->more_rcpts.n;
    while (s < e && (*s == ',' || *s == ' ')) s++;
    if (s >= e) {
        ev->more_rcpts = (mx_log_str){NULL, 0};
        return 0;
    }
    const char *ie = memchr(s, ',', (size_t)(e - s));
    if (!ie) ie = e;
    const char *a = s, *ae = ie;
    if (a < ae && *a == '<') a++;
    if (ae > a && ae[-1] == '>') ae--;
    ev->recipient = mkstr(a, ae);
    set_domain(ev);
    ev->more_rcpts = ie < e ? mkstr(ie, e) : (mx_log_str){NULL, 0};
    return 1;
}

/* "QID: to=<a@b>, ..., relay=mx. [1.2.3.4], dsn=4.0.0, stat=Deferred: Connection refused by mx." */
static mx_log_result parse_sendmail(const char *m, const char *e, mx_log_event *ev) {
    ev->mta = MX_LOG_MTA_SENDMAIL;
    m = postfix_qid(m, e, ev);
    if (contains(m, e, LIT("ruleset=")) || contains(m, e, LIT("reject=")))
        return (ev->reason = MX_LOG_R_INBOUND), MX_LOG_IGNORED;
    const char *st = find(m, e, LIT("stat="));
    if (!has_prefix(m, e, LIT("to=")) || !st)
        return (ev->reason = MX_LOG_R_NOT_DELIVERY), MX_LOG_IGNORED;
    /* "to=<a@x>,<b@y>, ctladdr=...": the list ends at ", " (or the
     * line); one event per recipient, through mx_log_event_next_recipient. */
    const char *le = find(m + 3, st, LIT(", "));
    ev->more_rcpts = mkstr(m + 3, le ? le : st);
    mx_log_event_next_recipient(ev);
    const char *r = find(m, st, LIT("relay="));
    if (r) {
        r += 6;
        const char *re = find(r, st, LIT(", "));
        if (!re) re = st;
        const char *lb = memchr(r, '[', (size_t)(re - r));
        const char *hend = lb ? lb : re;
        while (hend > r && (hend[-1] == ' ' || hend[-1] == '.')) hend--;
        ev->relay_host = mkstr(r, hend);
        if (lb) {
            const char *rb = memchr(lb, ']', (size_t)(re - lb));
            if (rb) ev->relay_addr = mkstr(lb + 1, rb);
        }
    }
    const char *d = find(m, st, LIT("dsn="));
    if (d) {
        const char *de = find(d, st, LIT(", "));
        ev->dsn = mkstr(d + 4, de ? de : st);
    }
    ev->text = mkstr(st + 5, e);
    if (has_prefix(st + 5, e, LIT("Sent"))) {
        ev->status = MX_LOG_STATUS_SENT;
        ev->cause = MX_LOG_CAUSE_NONE;
    } else {
        ev->status = has_prefix(st + 5, e, LIT("Deferred")) ? MX_LOG_STATUS_DEFERRED : MX_LOG_STATUS_BOUNCED;
        ev->cause = mx_log_classify(st + 5, (size_t)(e - st - 5));
    }
    /* mailer=local, prog, *file*, lmtp, cyrus...: delivered on this host.
     * The mailers that leave are SMTP ones (esmtp, smtp8, dsmtp, relay). */
    const char *ml = find(m, st, LIT("mailer="));
    if (ml) {
        ml += 7;
        const char *me = find(ml, st, LIT(", "));
        mx_log_str mailer = mkstr(ml, me ? me : st);
        if (!memmem(mailer.p, mailer.n, "smtp", 4) && !has_prefix(mailer.p, mailer.p + mailer.n, LIT("relay")))
            ev->local = 1;
    }
    if (is_loopback(ev->relay_addr)) ev->local = 1;
    return MX_LOG_EVENT;
}

/* ---- line entry point ------------------------------------------------------ */

/* "name    | rest": docker-compose log prefix (pasted container logs). */
static const char *strip_compose_prefix(const char *s, const char *e) {
    const char *q = s;
    while (q < e && (is_hostch(*q))) q++;
    if (q == s || q >= e || *q != ' ') return NULL;
    while (q < e && *q == ' ') q++;
    if (q + 1 < e && q[0] == '|' && q[1] == ' ') return skip_sp(q + 2, e);
    return NULL;
}

mx_log_result mx_log_parse_line(mx_log_parser *p, const char *line, size_t len, mx_log_event *ev) {
    if (memchr(line, 0, len)) {
        memset(ev, 0, sizeof *ev);
        ev->time = MX_LOG_TIME_UNKNOWN;
        return (ev->reason = MX_LOG_R_BINARY), MX_LOG_UNPARSED;
    }
    return mx_log_parse_text_line(p, line, len, ev);
}

/* Clears ev for a new line.  A plain memset of the ~200-byte event compiled
 * to `rep stos`, whose start-up cost was half of this entry's time on a
 * Postfix log (perf); copying a constant empty event is a few vector moves. */
static inline void event_clear(mx_log_event *ev) {
    static const mx_log_event empty = {.time = MX_LOG_TIME_UNKNOWN};
    memcpy(ev, &empty, sizeof *ev);
}

/* The program tag's parts in one pass: *pe = the first '[' in [s, e) (e if
 * none), *slash = the last '/' before it (NULL if none).  Eight bytes at a
 * time: both bytes are looked for in the same word, with an exact per-byte
 * zero test (no borrow between bytes), so the last '/' below the first '['
 * is read off the word's masks. */
static inline void scan_tag(const char *s, const char *e, const char **pe, const char **slash) {
    const char *sl = NULL;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t lo7 = 0x7f7f7f7f7f7f7f7fULL, pb = 0x5b5b5b5b5b5b5b5bULL /* '[' */,
                   ps = 0x2f2f2f2f2f2f2f2fULL /* '/' */;
    while (e - s >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        uint64_t xb = v ^ pb, xs = v ^ ps;
        uint64_t zb = ~(((xb & lo7) + lo7) | xb | lo7); /* 0x80 in each byte equal to '[' */
        uint64_t zs = ~(((xs & lo7) + lo7) | xs | lo7); /* ... to '/' */
        if (zb) {
            int i = __builtin_ctzll(zb) >> 3;
            zs &= i ? ~0ULL >> (64 - 8 * i) : 0; /* the '/'s before the '[' */
            if (zs) sl = s + ((63 - __builtin_clzll(zs)) >> 3);
            *pe = s + i;
            *slash = sl;
            return;
        }
        if (zs) sl = s + ((63 - __builtin_clzll(zs)) >> 3);
        s += 8;
    }
#endif
    for (; s < e && *s != '['; s++)
        if (*s == '/') sl = s;
    *pe = s;
    *slash = sl;
}

/* A line with no header: is it the rest of an Exim rejectlog entry?  After
 * the timestamped "rejected ..." line, the rejectlog copies the envelope and
 * the message's headers as the spool has them:
 *   Envelope-from: <a@example.org>        Envelope-to: <b@example.net>
 *   P Received: from ...                  (flag letter or '*', a space, Name:)
 *     Subject: hello                      (flag ' ' for the other headers)
 *   <TAB or spaces>by mx1 with esmtp ...  (folded header continued)
 * A whitespace-led line whose first word is an Exim delivery flag (=>, ==,
 * **, ...) or a number (the pid of an Exim -d debug echo) is a mainlog or
 * debug line that lost its header: it stays garbled (no_header). */
static int rejectlog_continuation(const char *s, const char *e) {
    if (has_prefix(s, e, LIT("Envelope-from: ")) || has_prefix(s, e, LIT("Envelope-to: "))) return 1;
    if (s < e && (*s == ' ' || *s == '\t')) {
        const char *q = s;
        while (q < e && (*q == ' ' || *q == '\t')) q++;
        if (q == e || is_digit(*q)) return 0;
        if (e - q >= 2 && (q[1] == '>' || q[1] == '=' || q[1] == '*') &&
            (q[0] == '<' || q[0] == '=' || q[0] == '-' || q[0] == '>' || q[0] == '*'))
            return 0;
        return 1;
    }
    /* flagged header: [A-Z*] ' ' field-name ':' (field-name: printable, no ':' or space) */
    if (e - s >= 4 && ((*s >= 'A' && *s <= 'Z') || *s == '*') && s[1] == ' ') {
        const char *q = s + 2;
        while (q < e && *q > ' ' && *q < 127 && *q != ':') q++;
        return q > s + 2 && q < e && *q == ':';
    }
    return 0;
}

/* The verdict on a line without a recognisable header. */
static mx_log_result no_header(const char *line, const char *e, mx_log_event *ev) {
    if (ev->time == MX_LOG_TIME_UNKNOWN && rejectlog_continuation(line, e))
        return (ev->reason = MX_LOG_R_CONTINUATION), MX_LOG_IGNORED;
    return (ev->reason = MX_LOG_R_NO_HEADER), MX_LOG_UNPARSED;
}

mx_log_result mx_log_parse_text_line(mx_log_parser *p, const char *line, size_t len, mx_log_event *ev) {
    event_clear(ev);
    if (len && line[len - 1] == '\r') len--;
    if (len == 0) return (ev->reason = MX_LOG_R_EMPTY), MX_LOG_UNPARSED;
    const char *s = line, *e = line + len;
    int stripped = 0;
    size_t used = 0;
again:
    if (s >= e) return no_header(line, e, ev);
    if (is_digit(*s)) {
        if (iso_same_minute(p, s, (size_t)(e - s), &ev->time, &used) == 0 ||
            mx_log_parse_iso_time(p, s, (size_t)(e - s), &ev->time, &used) == 0) {
            if (s[10] == ' ') return parse_exim_body(s + used, e, ev); /* Exim mainlog */
            s += used;
        } else if ((size_t)(e - s) >= 19 && s[4] == '-' && s[7] == '-') {
            return (ev->reason = MX_LOG_R_BAD_TIME), MX_LOG_UNPARSED;
        }
    } else if (*s >= 'A' && *s <= 'Z' && syslog_same_minute(p, s, (size_t)(e - s), &ev->time, &used) == 0) {
        s += used; /* what the branch below would find, without its calls */
    } else if (*s >= 'A' && *s <= 'Z' && (size_t)(e - s) > 3 && month_num(s) && s[3] == ' ') {
        if (mx_log_parse_syslog_time(p, s, (size_t)(e - s), &ev->time, &used) == 0) s += used;
        else if ((size_t)(e - s) > 6 && is_digit(s[5]))
            return (ev->reason = MX_LOG_R_BAD_TIME), MX_LOG_UNPARSED;
    }
    if (ev->time == MX_LOG_TIME_UNKNOWN && !stripped) {
        const char *q = strip_compose_prefix(s, e);
        if (q) {
            s = q;
            stripped = 1;
            goto again;
        }
    }
    /* Syslog: [host] [LEVEL] program[pid]: message.  Look at no more than
     * three tokens; hostnames never end in ':'. */
    const char *tag = NULL, *tag_end = NULL;
    for (int tok = 0; tok < 3; tok++) {
        s = skip_sp(s, e);
        const char *sp = find_byte(s, e, ' ');
        const char *te = sp ? sp : e;
        if (te - s >= 2 && te[-1] == ':') {
            tag = s;
            tag_end = te - 1;
            s = te;
            break;
        }
        /* Without a timestamp only a program[pid]: at the start will do. */
        if (ev->time == MX_LOG_TIME_UNKNOWN || !sp) break;
        s = te;
    }
    if (!tag) return no_header(line, e, ev);
    /* program ends at the first '['; its last '/' before that */
    const char *pe, *slash;
    scan_tag(tag, tag_end, &pe, &slash);
    if (ev->time == MX_LOG_TIME_UNKNOWN && pe == tag_end)
        return no_header(line, e, ev);
    ev->program = mkstr(tag, pe);
    const char *m = skip_sp(s, e);
    mx_log_result r;
    if (slash) {
        r = parse_postfix(tag, slash + 1, pe, m, e, ev);
    } else if (pe - tag >= 4 && memcmp(tag, "exim", 4) == 0) {
        r = parse_exim_body(m, e, ev);
    } else if ((pe - tag == 8 && memcmp(tag, "sendmail", 8) == 0) || (pe - tag > 3 && memcmp(tag, "sm-", 3) == 0)) {
        r = parse_sendmail(m, e, ev);
    } else {
        ev->reason = MX_LOG_R_OTHER_MTA;
        return MX_LOG_IGNORED;
    }
    return r;
}

mx_log_result mx_log_parse_message(mx_log_parser *p, const char *program, const char *msg, size_t len,
                                   mx_log_event *ev) {
    (void)p;
    memset(ev, 0, sizeof *ev);
    ev->time = MX_LOG_TIME_UNKNOWN;
    if (len && msg[len - 1] == '\r') len--;
    if (len == 0) return (ev->reason = MX_LOG_R_EMPTY), MX_LOG_UNPARSED;
    if (memchr(msg, 0, len)) return (ev->reason = MX_LOG_R_BINARY), MX_LOG_UNPARSED;
    size_t pn = strlen(program);
    ev->program = mkstr(program, program + pn);
    const char *slash = memrchr(program, '/', pn);
    if (slash) return parse_postfix(program, slash + 1, program + pn, msg, msg + len, ev);
    if (pn >= 4 && memcmp(program, "exim", 4) == 0) return parse_exim_body(msg, msg + len, ev);
    if (strcmp(program, "sendmail") == 0 || strncmp(program, "sm-", 3) == 0)
        return parse_sendmail(msg, msg + len, ev);
    ev->reason = MX_LOG_R_OTHER_MTA;
    return MX_LOG_IGNORED;
}

/* Absolute ("2024-03-01", "2024-03-01T10:00[:00][zone]", epoch) or relative
 * to now ("2h", "3d"). */
int mx_log_parse_when(mx_log_parser *p, const char *s, int64_t now, int64_t *out) {
    size_t n = strlen(s);
    if (n == 0) return -1;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end != s && *end && !end[1] && v >= 0) {
        int64_t mul = 0;
        switch (*end) {
        case 's': mul = 1; break;
        case 'm': mul = 60; break;
        case 'h': mul = 3600; break;
        case 'd': mul = 86400; break;
        case 'w': mul = 7 * 86400; break;
        default: break;
        }
        if (mul) {
            *out = now - (int64_t)v * mul;
            return 0;
        }
    }
    if (end != s && !*end && n >= 9) { /* epoch seconds */
        *out = v;
        return 0;
    }
    char tmp[64];
    if (n == 10) snprintf(tmp, sizeof tmp, "%sT00:00:00", s);
    else if (n >= 16 && (n == 16 || s[16] != ':')) snprintf(tmp, sizeof tmp, "%.16s:00%s", s, s + 16);
    else snprintf(tmp, sizeof tmp, "%s", s);
    size_t used;
    if (mx_log_parse_iso_time(p, tmp, strlen(tmp), out, &used) < 0 || used != strlen(tmp)) return -1;
    return 0;
}

/* ---- filter ------------------------------------------------------------------ */

void mx_log_filter_init(mx_log_filter *f) {
    f->since = INT64_MIN;
    f->until = INT64_MAX;
    f->domain = NULL;
    f->cause = -1;
    f->failures_only = 0;
}

int mx_log_filter_match(const mx_log_filter *f, const mx_log_event *ev) {
    if (f->since != INT64_MIN || f->until != INT64_MAX) {
        if (ev->time == MX_LOG_TIME_UNKNOWN) return 0;
        if (ev->time < f->since || ev->time >= f->until) return 0;
    }
    if (f->cause >= 0 && (int)ev->cause != f->cause) return 0;
    if (f->failures_only && ev->cause == MX_LOG_CAUSE_NONE) return 0;
    if (f->domain && *f->domain) {
        size_t n = strlen(f->domain);
        const char *d = ev->domain.p;
        size_t dn = ev->domain.n;
        if (dn < n || strncasecmp(d + dn - n, f->domain, n) != 0) return 0;
        if (dn > n && d[dn - n - 1] != '.') return 0;
    }
    return 1;
}
