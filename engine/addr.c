#include "addr.h"
#include "idn.h"
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mx_addr_parse(const char *s, mx_addr *out) {
    memset(out, 0, sizeof *out);
    if (!s || !*s) return -1;
    if (strchr(s, ':')) {
        /* Zone ids ("fe80::1%eth0") are refused: they are meaningless for MX. */
        if (inet_pton(AF_INET6, s, out->bytes) == 1) { out->family = AF_INET6; return 0; }
        return -1;
    }
    /* inet_pton accepts only the dotted-quad form, as we want (no "1.2.3" or octal). */
    if (inet_pton(AF_INET, s, out->bytes) == 1) { out->family = AF_INET; return 0; }
    return -1;
}

void mx_addr_format(const mx_addr *a, char *out, size_t outlen) {
    if (!inet_ntop(a->family, a->bytes, out, (socklen_t)outlen) && outlen) out[0] = 0;
}

void mx_addr_to_sockaddr(const mx_addr *a, int port, struct sockaddr_storage *ss, socklen_t *len) {
    memset(ss, 0, sizeof *ss);
    if (a->family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((unsigned short)port);
        memcpy(&sin->sin_addr, a->bytes, 4);
        *len = sizeof *sin;
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((unsigned short)port);
        memcpy(&sin6->sin6_addr, a->bytes, 16);
        *len = sizeof *sin6;
    }
}

int mx_addr_from_sockaddr(const struct sockaddr *sa, mx_addr *out, int *port) {
    memset(out, 0, sizeof *out);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        out->family = AF_INET;
        memcpy(out->bytes, &sin->sin_addr, 4);
        if (port) *port = ntohs(sin->sin_port);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        out->family = AF_INET6;
        memcpy(out->bytes, &sin6->sin6_addr, 16);
        if (port) *port = ntohs(sin6->sin6_port);
        return 0;
    }
    return -1;
}

typedef struct block {
    int family;
    unsigned char prefix[16];
    int bits;
    mx_reserved info;
} block;

/* IANA special-purpose registries (IPv4 and IPv6), the entries that matter for
 * a mail host's address. More specific blocks come first. */
static const block blocks[] = {
    {AF_INET, {0}, 8, {"this network", "0.0.0.0/8", "RFC 791"}},
    {AF_INET, {10}, 8, {"private", "10.0.0.0/8", "RFC 1918"}},
    {AF_INET, {100, 64}, 10, {"shared address space (CGN)", "100.64.0.0/10", "RFC 6598"}},
    {AF_INET, {127}, 8, {"loopback", "127.0.0.0/8", "RFC 1122"}},
    {AF_INET, {169, 254}, 16, {"link-local", "169.254.0.0/16", "RFC 3927"}},
    {AF_INET, {172, 16}, 12, {"private", "172.16.0.0/12", "RFC 1918"}},
    {AF_INET, {192, 0, 0}, 24, {"IETF protocol assignments", "192.0.0.0/24", "RFC 6890"}},
    {AF_INET, {192, 0, 2}, 24, {"documentation (TEST-NET-1)", "192.0.2.0/24", "RFC 5737"}},
    {AF_INET, {192, 88, 99}, 24, {"6to4 relay anycast (deprecated)", "192.88.99.0/24", "RFC 7526"}},
    {AF_INET, {192, 168}, 16, {"private", "192.168.0.0/16", "RFC 1918"}},
    {AF_INET, {198, 18}, 15, {"benchmarking", "198.18.0.0/15", "RFC 2544"}},
    {AF_INET, {198, 51, 100}, 24, {"documentation (TEST-NET-2)", "198.51.100.0/24", "RFC 5737"}},
    {AF_INET, {203, 0, 113}, 24, {"documentation (TEST-NET-3)", "203.0.113.0/24", "RFC 5737"}},
    {AF_INET, {224}, 4, {"multicast", "224.0.0.0/4", "RFC 5771"}},
    {AF_INET, {240}, 4, {"reserved", "240.0.0.0/4", "RFC 1112"}},
    {AF_INET6, {0}, 128, {"unspecified", "::/128", "RFC 4291"}},
    {AF_INET6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, {"loopback", "::1/128", "RFC 4291"}},
    {AF_INET6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96, {"IPv4-mapped", "::ffff:0:0/96", "RFC 4291"}},
    {AF_INET6, {0x00, 0x64, 0xff, 0x9b}, 96, {"NAT64 well-known prefix", "64:ff9b::/96", "RFC 6052"}},
    {AF_INET6, {0x01}, 64, {"discard-only", "100::/64", "RFC 6666"}},
    {AF_INET6, {0x20, 0x01, 0x0d, 0xb8}, 32, {"documentation", "2001:db8::/32", "RFC 3849"}},
    {AF_INET6, {0x20, 0x02}, 16, {"6to4", "2002::/16", "RFC 3056"}},
    {AF_INET6, {0xfc}, 7, {"unique local (ULA)", "fc00::/7", "RFC 4193"}},
    {AF_INET6, {0xfe, 0x80}, 10, {"link-local", "fe80::/10", "RFC 4291"}},
    {AF_INET6, {0xff}, 8, {"multicast", "ff00::/8", "RFC 4291"}},
};

static int prefix_match(const unsigned char *a, const unsigned char *p, int bits) {
    int full = bits / 8, rem = bits % 8;
    if (memcmp(a, p, (size_t)full) != 0) return 0;
    if (rem == 0) return 1;
    unsigned char mask = (unsigned char)(0xFF << (8 - rem));
    return (a[full] & mask) == (p[full] & mask);
}

const mx_reserved *mx_addr_reserved(const mx_addr *a) {
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
        if (blocks[i].family != a->family) continue;
        if (prefix_match(a->bytes, blocks[i].prefix, blocks[i].bits)) return &blocks[i].info;
    }
    return NULL;
}

int mx_domain_valid(const char *name, const char **why) {
    const char *dummy;
    if (!why) why = &dummy;
    size_t n = strlen(name);
    if (n == 0) { *why = "empty name"; return -1; }
    if (n > 1 && name[n - 1] == '.') n--;
    else if (n == 1 && name[0] == '.') { *why = "the root is not a mail domain"; return -1; }
    if (n > MX_DOMAIN_MAX) { *why = "name longer than 253 characters (RFC 1035)"; return -1; }
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '.') {
            if (label == 0) { *why = "empty label (two dots in a row, or a leading dot)"; return -1; }
            if (name[i - 1] == '-') { *why = "label ends with a hyphen"; return -1; }
            label = 0;
            continue;
        }
        if (label == 0 && c == '-') { *why = "label starts with a hyphen"; return -1; }
        if (!(isalnum(c) || c == '-' || c == '_')) {
            *why = c >= 0x80 ? "non-ASCII character (use the IDNA xn-- form)" : "character not allowed in a host name";
            return -1;
        }
        if (++label > MX_LABEL_MAX) { *why = "label longer than 63 characters (RFC 1035)"; return -1; }
    }
    if (name[n - 1] == '-') { *why = "label ends with a hyphen"; return -1; }
    return 0;
}

void mx_domain_normalize(const char *name, char *out, size_t outlen) {
    size_t n = strlen(name), i;
    if (n > 1 && name[n - 1] == '.') n--;
    for (i = 0; i < n && i + 1 < outlen; i++) out[i] = (char)tolower((unsigned char)name[i]);
    if (outlen) out[i] = 0;
}

const char *mx_target_kind_name(mx_target_kind k) {
    switch (k) {
    case MX_TARGET_DOMAIN: return "domain";
    case MX_TARGET_HOST: return "host";
    case MX_TARGET_ADDRESS: return "address";
    }
    return "?";
}

static int parse_port(const char *s, int *port) {
    if (!*s) return -1;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 1 || v > 65535) return -1;
    *port = (int)v;
    return 0;
}

int mx_target_parse(const char *s, mx_target *t, const char **why) {
    const char *dummy;
    if (!why) why = &dummy;
    memset(t, 0, sizeof *t);
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (n == 0) { *why = "empty target"; return -1; }
    if (n >= sizeof t->input) { *why = "target too long"; return -1; }
    memcpy(t->input, s, n);
    t->input[n] = 0;
    for (size_t i = 0; i < n; i++)
        if (isspace((unsigned char)s[i]) || iscntrl((unsigned char)s[i])) { *why = "whitespace or control character in target"; return -1; }
    /* URLs refused, an internationalised host name to its IDNA form */
    char clean[sizeof t->input + MX_DOMAIN_MAX];
    if (mx_idn_target(t->input, clean, sizeof clean, t->unicode, sizeof t->unicode, t->why, sizeof t->why) != 0) {
        *why = t->why;
        return -1;
    }
    s = clean;
    n = strlen(s);

    char host[512];
    const char *at = strrchr(s, '@');
    if (at) {
        size_t ll = (size_t)(at - s);
        if (ll == 0) { *why = "empty local part before '@'"; return -1; }
        if (ll >= sizeof t->local) { *why = "local part longer than 255 characters"; return -1; }
        memcpy(t->local, s, ll);
        s = at + 1;
        if (!*s) { *why = "nothing after '@'"; return -1; }
        if (s[0] == '[') {
            /* user@[192.0.2.1] address literal (RFC 5321 §4.1.3) */
            const char *close = strchr(s, ']');
            if (!close || close[1]) { *why = "unterminated address literal"; return -1; }
            size_t l = (size_t)(close - s - 1);
            if (l >= sizeof host) { *why = "address literal too long"; return -1; }
            memcpy(host, s + 1, l);
            host[l] = 0;
            const char *h = host;
            if (strncasecmp(h, "IPv6:", 5) == 0) h += 5;
            if (mx_addr_parse(h, &t->addr) != 0) { *why = "invalid address literal"; return -1; }
            t->kind = MX_TARGET_ADDRESS;
            return 0;
        }
        if (strchr(s, ':')) { *why = "a port is not allowed in a mail address"; return -1; }
        if (mx_domain_valid(s, why) != 0) return -1;
        mx_domain_normalize(s, t->domain, sizeof t->domain);
        t->kind = MX_TARGET_DOMAIN;
        return 0;
    }

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close) { *why = "missing ']'"; return -1; }
        size_t l = (size_t)(close - s - 1);
        if (l == 0 || l >= sizeof host) { *why = "empty or too long bracketed host"; return -1; }
        memcpy(host, s + 1, l);
        host[l] = 0;
        if (close[1] == ':') {
            if (parse_port(close + 2, &t->port) != 0) { *why = "port must be a number from 1 to 65535"; return -1; }
        } else if (close[1]) { *why = "unexpected text after ']'"; return -1; }
        if (mx_addr_parse(host, &t->addr) == 0) { t->kind = MX_TARGET_ADDRESS; return 0; }
        if (mx_domain_valid(host, why) != 0) return -1;
        mx_domain_normalize(host, t->domain, sizeof t->domain);
        t->kind = MX_TARGET_HOST;
        return 0;
    }

    /* Bare IPv6 literal: more than one colon. */
    const char *c1 = strchr(s, ':');
    if (c1 && strchr(c1 + 1, ':')) {
        if (mx_addr_parse(s, &t->addr) != 0) { *why = "invalid IPv6 address (use [addr]:port to give a port)"; return -1; }
        t->kind = MX_TARGET_ADDRESS;
        return 0;
    }
    size_t hl = c1 ? (size_t)(c1 - s) : n;
    if (hl == 0) { *why = "empty host before ':'"; return -1; }
    memcpy(host, s, hl);
    host[hl] = 0;
    if (c1 && parse_port(c1 + 1, &t->port) != 0) { *why = "port must be a number from 1 to 65535"; return -1; }
    if (mx_addr_parse(host, &t->addr) == 0) { t->kind = MX_TARGET_ADDRESS; return 0; }
    /* Something that looks numeric but did not parse is a mistyped address, not a domain. */
    int numeric = 1;
    for (size_t i = 0; i < hl; i++) if (!isdigit((unsigned char)host[i]) && host[i] != '.') numeric = 0;
    if (numeric) { *why = "invalid IPv4 address"; return -1; }
    if (mx_domain_valid(host, why) != 0) return -1;
    mx_domain_normalize(host, t->domain, sizeof t->domain);
    t->kind = c1 ? MX_TARGET_HOST : MX_TARGET_DOMAIN;
    return 0;
}

int mx_resolver_norm(const char *s, char *out, size_t outlen) {
    mx_addr a;
    char c[64];
    int port = 53;
    if (mx_addr_parse(s, &a) != 0) {
        mx_target t;
        const char *why;
        if (mx_target_parse(s, &t, &why) != 0 || t.kind != MX_TARGET_ADDRESS) return -1;
        a = t.addr;
        if (t.port) port = t.port;
    }
    mx_addr_format(&a, c, sizeof c);
    if (a.family == AF_INET6) snprintf(out, outlen, "[%s]:%d", c, port);
    else snprintf(out, outlen, "%s:%d", c, port);
    return 0;
}
