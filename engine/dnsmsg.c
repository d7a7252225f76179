#include "dnsmsg.h"
#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct { const char *name; int type; } types[] = {
    {"A", 1}, {"NS", 2}, {"CNAME", 5}, {"SOA", 6}, {"PTR", 12}, {"MX", 15},
    {"TXT", 16}, {"AAAA", 28}, {"SRV", 33}, {"TLSA", 52}, {"CAA", 257},
};

int mx_dns_type_from_name(const char *name) {
    /* (every dns.query asks) strcasecmp only where the first letters agree */
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if ((types[i].name[0] | 0x20) == (name[0] | 0x20) && strcasecmp(types[i].name, name) == 0) return types[i].type;
    return 0;
}
const char *mx_dns_type_name(int type) {
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (types[i].type == type) return types[i].name;
    return NULL;
}
const char *mx_dns_rcode_name(int rcode) {
    static const char *names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
                                  "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"};
    if (rcode >= 0 && rcode < (int)(sizeof names / sizeof names[0])) return names[rcode];
    return "RCODE?";
}

static unsigned get16(const unsigned char *p) { return (unsigned)p[0] << 8 | p[1]; }
static unsigned long get32(const unsigned char *p) {
    return (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 | (unsigned long)p[2] << 8 | p[3];
}

/* Expands a (possibly compressed) name at p; c-ares bounds pointer loops. */
static char *expand(const unsigned char *p, const unsigned char *msg, size_t len, long *used) {
    char *s = NULL;
    if (ares_expand_name(p, msg, (int)len, &s, used) != ARES_SUCCESS) return NULL;
    /* Names are data from a stranger: lower-case, keep printable only. */
    for (char *c = s; *c; c++) {
        unsigned char u = (unsigned char)*c;
        if (u < 0x21 || u > 0x7e) *c = '?';
        else *c = (char)tolower(u);
    }
    return s;
}

typedef struct rr {
    char *name;
    int type;
    unsigned long ttl;
    const unsigned char *rdata;
    unsigned rdlen;
} rr;

static mx_json *rdata_json(const rr *r, const unsigned char *msg, size_t len, int *pref) {
    char buf[INET6_ADDRSTRLEN];
    long used;
    *pref = -1;
    switch (r->type) {
    case 1:
        if (r->rdlen != 4) return NULL;
        inet_ntop(AF_INET, r->rdata, buf, sizeof buf);
        return mx_json_str(buf);
    case 28:
        if (r->rdlen != 16) return NULL;
        inet_ntop(AF_INET6, r->rdata, buf, sizeof buf);
        return mx_json_str(buf);
    case 2: case 5: case 12: {
        char *n = expand(r->rdata, msg, len, &used);
        if (!n) return NULL;
        mx_json *v = mx_json_str(n);
        ares_free_string(n);
        return v;
    }
    case 15: {
        if (r->rdlen < 3) return NULL;
        *pref = (int)get16(r->rdata);
        char *n = expand(r->rdata + 2, msg, len, &used);
        if (!n) return NULL;
        mx_json *v = mx_json_str(n);
        ares_free_string(n);
        return v;
    }
    case 16: {
        /* Character-strings are concatenated (RFC 7208 §3.3); capped. */
        mx_buf b = MX_BUF_INIT;
        unsigned i = 0;
        while (i < r->rdlen) {
            unsigned l = r->rdata[i++];
            if (i + l > r->rdlen) { mx_buf_free(&b); return NULL; }
            size_t room = b.len < MX_DNS_MAX_TXT ? MX_DNS_MAX_TXT - b.len : 0;
            mx_buf_put(&b, r->rdata + i, l < room ? l : room);
            i += l;
        }
        mx_json *v = mx_json_strn(b.data ? b.data : "", b.len);
        mx_buf_free(&b);
        return v;
    }
    case 6: {
        char *m = expand(r->rdata, msg, len, &used);
        if (!m) return NULL;
        long used2;
        if ((unsigned long)used >= r->rdlen) { ares_free_string(m); return NULL; }
        char *rn = expand(r->rdata + used, msg, len, &used2);
        if (!rn) { ares_free_string(m); return NULL; }
        const unsigned char *q = r->rdata + used + used2;
        mx_json *v = NULL;
        if (q + 20 <= r->rdata + r->rdlen) {
            mx_buf b = MX_BUF_INIT;
            mx_buf_printf(&b, "%s %s %lu %lu %lu %lu %lu", m, rn, get32(q), get32(q + 4), get32(q + 8),
                          get32(q + 12), get32(q + 16));
            v = mx_json_str(b.data);
            mx_buf_free(&b);
        }
        ares_free_string(m);
        ares_free_string(rn);
        return v;
    }
    default: {
        /* RFC 3597 generic form for types we do not decode. */
        mx_buf b = MX_BUF_INIT;
        mx_buf_printf(&b, "\\# %u ", r->rdlen);
        for (unsigned i = 0; i < r->rdlen && i < 512; i++) mx_buf_printf(&b, "%02x", r->rdata[i]);
        mx_json *v = mx_json_str(b.data);
        mx_buf_free(&b);
        return v;
    }
    }
}

int mx_dns_decode(const unsigned char *msg, size_t len, const char *qname, int qtype,
                  mx_json *obj, const char **why) {
    const char *dummy;
    if (!why) why = &dummy;
    if (len < 12) { *why = "answer shorter than a DNS header"; return -1; }
    unsigned flags = get16(msg + 2);
    unsigned qd = get16(msg + 4), an = get16(msg + 6);
    int rcode = (int)(flags & 0x0F);
    mx_json_set(obj, "rcode", mx_json_str(mx_dns_rcode_name(rcode)));
    mx_json_set(obj, "aa", mx_json_bool(flags & 0x0400));
    mx_json_set(obj, "tc", mx_json_bool(flags & 0x0200));
    const unsigned char *p = msg + 12, *end = msg + len;
    long used;
    for (unsigned i = 0; i < qd; i++) {
        char *n = expand(p, msg, len, &used);
        if (!n) { *why = "malformed question name"; return -1; }
        ares_free_string(n);
        p += used;
        if (p + 4 > end) { *why = "truncated question"; return -1; }
        p += 4;
    }
    size_t nrr = an > MX_DNS_MAX_ANSWERS ? MX_DNS_MAX_ANSWERS : an;
    rr *rrs = mx_xcalloc(nrr ? nrr : 1, sizeof *rrs);
    size_t k = 0;
    int rc = 0;
    for (unsigned i = 0; i < an; i++) {
        char *n = expand(p, msg, len, &used);
        if (!n) { *why = "malformed answer name"; rc = -1; break; }
        p += used;
        if (p + 10 > end) { ares_free_string(n); *why = "truncated answer record"; rc = -1; break; }
        rr r = {n, (int)get16(p), get32(p + 4), p + 10, get16(p + 8)};
        p += 10;
        if (p + r.rdlen > end) { ares_free_string(n); *why = "record data runs past the message"; rc = -1; break; }
        p += r.rdlen;
        if (k < nrr) rrs[k++] = r;
        else ares_free_string(n);
    }
    /* Follow the CNAME chain from qname (bounded), then collect qtype records
     * owned by the final name. */
    mx_json *chain = mx_json_arr();
    char cur[MX_DNS_MAX_TXT];
    snprintf(cur, sizeof cur, "%s", qname);
    for (size_t c = strlen(cur); c > 1 && cur[c - 1] == '.'; c--) cur[c - 1] = 0;
    for (char *c = cur; *c; c++) *c = (char)tolower((unsigned char)*c);
    for (int hop = 0; hop < MX_DNS_MAX_CNAME_CHAIN && qtype != 5; hop++) {
        int found = 0;
        for (size_t i = 0; i < k; i++) {
            if (rrs[i].type == 5 && strcmp(rrs[i].name, cur) == 0) {
                int pref;
                mx_json *t = rdata_json(&rrs[i], msg, len, &pref);
                if (!t) break;
                mx_json_push(chain, mx_json_str(t->u.str.s));
                snprintf(cur, sizeof cur, "%s", t->u.str.s);
                mx_json_free(t);
                found = 1;
                break;
            }
        }
        if (!found) break;
    }
    mx_json *answers = mx_json_arr();
    size_t foreign = 0;
    for (size_t i = 0; i < k && rc == 0; i++) {
        if (rrs[i].type != qtype || strcmp(rrs[i].name, cur) != 0) {
            /* records for the name that are neither the asked type, nor the
             * CNAME chain, nor signatures: the server answered another question */
            if (rrs[i].type != 5 && rrs[i].type != 46 && strcmp(rrs[i].name, cur) == 0) foreign++;
            continue;
        }
        int pref;
        mx_json *d = rdata_json(&rrs[i], msg, len, &pref);
        if (!d) { *why = "malformed record data"; rc = -1; break; }
        mx_json *o = mx_json_obj();
        mx_json_set(o, "name", mx_json_str(rrs[i].name));
        const char *tn = mx_dns_type_name(rrs[i].type);
        mx_json_set(o, "type", tn ? mx_json_str(tn) : mx_json_int(rrs[i].type));
        mx_json_set(o, "ttl", mx_json_int((long long)rrs[i].ttl));
        if (pref >= 0) mx_json_set(o, "preference", mx_json_int(pref));
        mx_json_set(o, "data", d);
        mx_json_push(answers, o);
    }
    if (rc == 0 && answers->u.c.len == 0 && foreign > 0) {
        *why = "the answer holds records of another type than the question asked";
        rc = -1;
    }
    if (an > nrr) mx_json_set(obj, "answers_dropped", mx_json_int((long long)(an - nrr)));
    for (size_t i = 0; i < k; i++) ares_free_string(rrs[i].name);
    free(rrs);
    mx_json_set(obj, "answers", answers);
    mx_json_set(obj, "cname", chain);
    return rc;
}
