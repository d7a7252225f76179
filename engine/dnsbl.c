#include "dnsbl.h"
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

/* Parses an IP literal. Returns AF_INET/AF_INET6 with the bytes, 0 if not one.
 * fold: an IPv4-mapped IPv6 address is returned as the IPv4 address it is. */
static int parse_ip_fold(const char *s, unsigned char addr[16], int fold) {
    if (inet_pton(AF_INET, s, addr) == 1) return AF_INET;
    if (inet_pton(AF_INET6, s, addr) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (fold && memcmp(addr, mapped, 12) == 0) {
            memmove(addr, addr + 12, 4);
            return AF_INET;
        }
        return AF_INET6;
    }
    return 0;
}

static int parse_ip(const char *s, unsigned char addr[16]) { return parse_ip_fold(s, addr, 1); }

/* Copies a domain into out lowercased, without trailing dot, checking labels.
 * Returns the length written, or -1 with *err set. */
static int normalize_domain(const char *s, char *out, size_t outlen, const char *what_empty, const char **err) {
    size_t n = strlen(s);
    if (n && s[n - 1] == '.') n--;
    if (n == 0) { *err = what_empty; return -1; }
    if (n > MX_DNSBL_NAME_MAX) { *err = "name longer than 253 characters"; return -1; }
    if (n + 1 > outlen) { *err = "output buffer too small"; return -1; }
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0) { *err = "empty label in domain name"; return -1; }
            label = 0;
        } else {
            if (c >= 0x80) { *err = "non-ASCII domain name: convert it to A-labels (punycode) first"; return -1; }
            if (c == '@') { *err = "e-mail address where a domain name was expected"; return -1; }
            /* Underscore is not a hostname character, but it is harmless in a query. */
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
                *err = "invalid character in domain name";
                return -1;
            }
            if (++label > MX_DNSBL_LABEL_MAX) { *err = "label longer than 63 characters"; return -1; }
        }
        out[i] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    if (label == 0) { *err = "empty label in domain name"; return -1; }
    /* No TLD is all-numeric (RFC 3696 2), so "198.51.100" is a broken IP, not a name. */
    size_t d = n;
    while (d > 0 && out[d - 1] >= '0' && out[d - 1] <= '9') d--;
    if (d == 0 || out[d - 1] == '.') { *err = "numeric top-level label: a malformed IP address?"; return -1; }
    out[n] = 0;
    return (int)n;
}

int mx_dnsbl_subject_kind(const char *subject, const char **err) {
    unsigned char addr[16];
    char tmp[MX_DNSBL_QUERY_MAX];
    const char *e = NULL;
    if (!subject) { if (err) *err = "no subject"; return -1; }
    if (parse_ip(subject, addr)) return MX_DNSBL_IP;
    if (normalize_domain(subject, tmp, sizeof tmp, "empty subject", &e) < 0) {
        if (err) *err = e;
        return -1;
    }
    return MX_DNSBL_DOMAIN;
}

int mx_dnsbl_query_name(const char *subject, const char *zone, int kind, char *out, size_t outlen,
                        const char **err) {
    const char *dummy;
    if (!err) err = &dummy;
    if (!subject || !zone || !out) { *err = "missing argument"; return -1; }
    if (kind != MX_DNSBL_IP && kind != MX_DNSBL_DOMAIN && kind != MX_DNSBL_IP6) { *err = "unknown list kind"; return -1; }
    char z[MX_DNSBL_QUERY_MAX];
    int zlen = normalize_domain(zone, z, sizeof z, "empty zone", err);
    if (zlen < 0) return -1;

    char name[MX_DNSBL_NAME_MAX + 80]; /* room to detect overflow before copying out */
    size_t len = 0;
    unsigned char addr[16];
    int af = parse_ip_fold(subject, addr, kind != MX_DNSBL_IP6);
    if (kind == MX_DNSBL_IP6 && af != AF_INET6) {
        *err = af ? "IPv4 address queried as IPv6" : "subject is not an IPv6 address";
        return -1;
    }
    if (kind == MX_DNSBL_IP || kind == MX_DNSBL_IP6) {
        if (!af) {
            const char *e = NULL;
            char tmp[MX_DNSBL_QUERY_MAX];
            *err = normalize_domain(subject, tmp, sizeof tmp, "empty subject", &e) >= 0
                       ? "domain name queried against an IP list"
                       : "subject is not an IP address";
            return -1;
        }
        if (af == AF_INET) {
            len = (size_t)snprintf(name, sizeof name, "%u.%u.%u.%u.", addr[3], addr[2], addr[1], addr[0]);
        } else {
            static const char hex[] = "0123456789abcdef";
            for (int i = 15; i >= 0; i--) {
                name[len++] = hex[addr[i] & 0xf];
                name[len++] = '.';
                name[len++] = hex[addr[i] >> 4];
                name[len++] = '.';
            }
        }
    } else {
        /* A domain list answers for names; an IP sent there leaks the query
         * and its answer means nothing (Spamhaus DBL returns 127.0.1.255). */
        if (af) { *err = "IP address queried against a domain list"; return -1; }
        int n = normalize_domain(subject, name, sizeof name, "empty subject", err);
        if (n < 0) return -1;
        len = (size_t)n;
        name[len++] = '.';
    }
    if (len + (size_t)zlen > MX_DNSBL_NAME_MAX) { *err = "query name longer than 253 characters"; return -1; }
    memcpy(name + len, z, (size_t)zlen + 1);
    len += (size_t)zlen;
    if (len + 1 > outlen) { *err = "output buffer too small"; return -1; }
    memcpy(out, name, len + 1);
    return 0;
}

int mx_dnsbl_classify_answer(const char *addr, unsigned char octets[4], const char **err) {
    unsigned char a[4];
    if (!addr || inet_pton(AF_INET, addr, a) != 1) {
        if (err) *err = "answer is not an IPv4 address";
        return MX_DNSBL_ANSWER_INVALID;
    }
    if (octets) memcpy(octets, a, 4);
    if (a[0] != 127) {
        if (err) *err = "answer outside 127.0.0.0/8: the resolver rewrites answers";
        return MX_DNSBL_ANSWER_FOREIGN;
    }
    return MX_DNSBL_ANSWER_LOOPBACK;
}

int mx_dnsbl_answer_last_octet(const char *addr) {
    unsigned char a[4];
    if (mx_dnsbl_classify_answer(addr, a, NULL) != MX_DNSBL_ANSWER_LOOPBACK) return -1;
    return a[3];
}
