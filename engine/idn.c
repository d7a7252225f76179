#include "idn.h"
#include <ctype.h>
#include <idn2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* IDNA 2008 with the UTS #46 mapping (case folding, NFC) and no transitional
 * mapping (ß stays ß): what dig, host and current browsers look up. */
#define IDN_FLAGS (IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT)

static int has_non_ascii(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return 1;
    return 0;
}

/* An "xn--" label anywhere in the name (any case). */
static int has_ace_label(const char *s) {
    for (const char *p = s; *p; p++)
        if ((p == s || p[-1] == '.') && strncasecmp(p, "xn--", 4) == 0) return 1;
    return 0;
}

static int copy_out(char *out, size_t outlen, const char *s, size_t n) {
    if (n >= outlen) return -1;
    memcpy(out, s, n);
    out[n] = 0;
    return 0;
}

int mx_idn_to_ascii(const char *name, char *out, size_t outlen, char *uni, size_t unilen, char *why, size_t whylen) {
    if (unilen) uni[0] = 0;
    size_t n = strlen(name);
    int dot = n > 1 && name[n - 1] == '.';
    size_t core = dot ? n - 1 : n;
    if (!has_non_ascii(name, n) && !has_ace_label(name)) {
        if (copy_out(out, outlen, name, n) != 0) { snprintf(why, whylen, "name too long"); return -1; }
        return 0;
    }
    char *in = strndup(name, core);
    if (!in) { snprintf(why, whylen, "out of memory"); return -1; }
    char *ace = NULL, *u = NULL;
    int rc;
    if (has_non_ascii(in, core)) {
        rc = idn2_to_ascii_8z(in, &ace, IDN_FLAGS);
        if (rc != IDN2_OK) {
            snprintf(why, whylen, "'%.200s' is not a valid internationalised domain name (%s)", name, idn2_strerror(rc));
            free(in);
            return -1;
        }
    } else {
        /* typed in ACE form: lower case, and each xn-- label must decode and
         * encode back to itself, or it is no IDNA label at all */
        for (char *p = in; *p; p++) *p = (char)tolower((unsigned char)*p);
        ace = strdup(in);
        if (!ace) { free(in); snprintf(why, whylen, "out of memory"); return -1; }
    }
    rc = idn2_to_unicode_8z8z(ace, &u, 0);
    char *back = NULL;
    if (rc == IDN2_OK) rc = idn2_to_ascii_8z(u, &back, IDN_FLAGS);
    if (rc != IDN2_OK || strcmp(back, ace) != 0) {
        snprintf(why, whylen, "'%.200s' holds an invalid IDNA (xn--) label%s%s%s", name, rc != IDN2_OK ? " (" : "",
                 rc != IDN2_OK ? idn2_strerror(rc) : "", rc != IDN2_OK ? ")" : "");
        free(in);
        idn2_free(ace);
        idn2_free(u);
        idn2_free(back);
        return -1;
    }
    size_t al = strlen(ace);
    int fail = al + (size_t)dot >= outlen;
    if (!fail) {
        memcpy(out, ace, al);
        if (dot) out[al++] = '.';
        out[al] = 0;
        if (unilen) snprintf(uni, unilen, "%s", u);
    } else snprintf(why, whylen, "'%.200s' is too long once converted to its IDNA form", name);
    free(in);
    idn2_free(ace);
    idn2_free(u);
    idn2_free(back);
    return fail ? -1 : 0;
}

/* "http://user@host:port/path?q" -> host (with :port when keep_port). */
static void url_host(const char *rest, int keep_port, char *host, size_t hostlen) {
    size_t end = strcspn(rest, "/?#");
    const char *at = memchr(rest, '@', end);
    if (at) {
        end -= (size_t)(at + 1 - rest);
        rest = at + 1;
    }
    if (!keep_port) {
        const char *colon = rest[0] == '[' ? NULL : memchr(rest, ':', end);
        if (colon) end = (size_t)(colon - rest);
    }
    snprintf(host, hostlen, "%.*s", (int)(end < 253 + 7 ? end : 253 + 7), rest);
}

/* A URL or mailto: instead of a target: a sentence saying what to type. */
static int refuse_scheme(const char *s, char *why, size_t whylen) {
    char host[300];
    if (strncasecmp(s, "mailto:", 7) == 0) {
        size_t end = strcspn(s + 7, "?");
        snprintf(why, whylen, "'mailto:' is a link, not a target: type the address alone, e.g. %.*s",
                 (int)(end < 260 ? end : 260), s + 7);
        return -1;
    }
    size_t i = 0;
    if (!isalpha((unsigned char)s[0])) return 0;
    while (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.') i++;
    if (strncmp(s + i, "://", 3) != 0) return 0;
    const char *rest = s + i + 3;
    int mail = (i == 4 && strncasecmp(s, "smtp", 4) == 0) || (i == 5 && strncasecmp(s, "smtps", 5) == 0) ||
               (i == 4 && strncasecmp(s, "lmtp", 4) == 0) || (i == 10 && strncasecmp(s, "submission", 10) == 0);
    url_host(rest, mail, host, sizeof host);
    if (!host[0]) {
        snprintf(why, whylen, "'%.*s://' is a URL scheme, not a target: type a mail domain, e.g. example.org",
                 (int)(i < 20 ? i : 20), s);
    } else if (mail) {
        snprintf(why, whylen, "'%.*s://' is not needed: type the mail server as host or host:port, e.g. %s "
                              "(or the mail domain, to check its MX)", (int)(i < 20 ? i : 20), s, host);
    } else {
        snprintf(why, whylen, "'%.*s://...' is a URL: mxdiag checks a domain's mail servers; type the domain "
                              "alone, e.g. %s", (int)(i < 20 ? i : 20), s, host);
    }
    return -1;
}

int mx_idn_target(const char *s, char *out, size_t outlen, char *uni, size_t unilen, char *why, size_t whylen) {
    if (unilen) uni[0] = 0;
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) n--;
    char *t = strndup(s, n);
    if (!t) { snprintf(why, whylen, "out of memory"); return -1; }
    if (refuse_scheme(t, why, whylen) != 0) { free(t); return -1; }
    /* the host part: after the last '@', before ":port", or inside [...] */
    char *at = strrchr(t, '@');
    size_t hs = at ? (size_t)(at + 1 - t) : 0, he = n;
    if (t[hs] == '[') {
        char *close = strchr(t + hs, ']');
        if (close) { hs++; he = (size_t)(close - t); }
    } else {
        char *c1 = strchr(t + hs, ':');
        if (c1 && strchr(c1 + 1, ':')) he = hs; /* a bare IPv6 literal: nothing to convert */
        else if (c1) he = (size_t)(c1 - t);
    }
    int plain = 1;
    for (size_t i = hs; i < he; i++)
        if (isspace((unsigned char)t[i]) || iscntrl((unsigned char)t[i])) plain = 0; /* the parser says why */
    char host[600], ace[600];
    int rc = 0;
    if (plain && he > hs && he - hs < sizeof host) {
        memcpy(host, t + hs, he - hs);
        host[he - hs] = 0;
        rc = mx_idn_to_ascii(host, ace, sizeof ace, uni, unilen, why, whylen);
        if (rc == 0 && strcmp(ace, host) != 0) {
            int w = snprintf(out, outlen, "%.*s%s%s", (int)hs, t, ace, t + he);
            free(t);
            if (w < 0 || (size_t)w >= outlen) { snprintf(why, whylen, "target too long"); return -1; }
            return 0;
        }
    }
    if (rc == 0 && copy_out(out, outlen, t, n) != 0) { snprintf(why, whylen, "target too long"); rc = -1; }
    free(t);
    return rc;
}
