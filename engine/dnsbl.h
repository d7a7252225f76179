/* DNSBL query names and answer sanity checks. What a list's 127.0.0.x means
 * is data in rules/ (Lua); this file only builds names and checks shape. */
#ifndef MX_DNSBL_H
#define MX_DNSBL_H
#include <stddef.h>

/* Kinds of list, and of subject. */
#define MX_DNSBL_IP     1   /* zen.spamhaus.org style: reversed address */
#define MX_DNSBL_DOMAIN 2   /* dbl.spamhaus.org style: domain prepended */
/* An IPv6 list asked in IPv6 form only: 32 reversed nibbles of any IPv6
 * literal, IPv4-mapped ones included (not folded to IPv4). RFC 5782 section 5
 * names ::FFFF:7F00:2 (must be listed) and ::FFFF:7F00:1 (must not) as the
 * test points of IPv6 lists; folding them would test the IPv4 side instead. */
#define MX_DNSBL_IP6    3

#define MX_DNSBL_NAME_MAX  253  /* RFC 1035 name, text form, no trailing dot */
#define MX_DNSBL_LABEL_MAX 63
/* Buffer size that always fits a query name (name + NUL). */
#define MX_DNSBL_QUERY_MAX (MX_DNSBL_NAME_MAX + 1)

/* Writes the name to query for subject on zone. IPv4 gives reversed octets
 * (1.100.51.198.zone); IPv6 in any textual form gives 32 reversed nibbles;
 * an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is queried as IPv4, since that
 * is what the peer is. A domain gives domain.zone, lowercased, trailing dot
 * stripped. An IP is never sent to a domain list nor a domain to an IP list.
 * MX_DNSBL_IP6 takes IPv6 literals only and never folds mapped addresses.
 * Returns 0, or -1 with *err a static string. */
int mx_dnsbl_query_name(const char *subject, const char *zone, int kind, char *out, size_t outlen,
                        const char **err);

/* MX_DNSBL_IP for an IPv4/IPv6 literal, MX_DNSBL_DOMAIN for something shaped
 * like a domain name, -1 otherwise (with *err set). */
int mx_dnsbl_subject_kind(const char *subject, const char **err);

/* Answer classes of mx_dnsbl_classify_answer(). */
#define MX_DNSBL_ANSWER_INVALID  (-1) /* not a dotted-quad IPv4 address */
#define MX_DNSBL_ANSWER_LOOPBACK 0    /* inside 127.0.0.0/8: a real DNSBL answer */
#define MX_DNSBL_ANSWER_FOREIGN  1    /* outside: the resolver rewrites answers (NXDOMAIN hijacking) */

/* Classifies one A record of a DNSBL answer; octets (may be NULL) receives the
 * four bytes. *err (may be NULL) is set for INVALID and FOREIGN. */
int mx_dnsbl_classify_answer(const char *addr, unsigned char octets[4], const char **err);
/* Last octet of a 127.x.y.z answer (0..255), or -1 when not inside 127.0.0.0/8. */
int mx_dnsbl_answer_last_octet(const char *addr);

#endif
