/* Addresses, domain names and check targets: parsing, validation and the
 * special-purpose blocks an MX address should not be in. */
#ifndef MX_ADDR_H
#define MX_ADDR_H
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

#define MX_DOMAIN_MAX 253
#define MX_LABEL_MAX 63

typedef struct mx_addr {
    int family;                 /* AF_INET or AF_INET6 */
    unsigned char bytes[16];    /* network order; 4 used for AF_INET */
} mx_addr;

/* Parses an IPv4 or IPv6 literal (no brackets, no port). 0 on success. */
int mx_addr_parse(const char *s, mx_addr *out);
/* Canonical text (inet_ntop). */
void mx_addr_format(const mx_addr *a, char *out, size_t outlen);
void mx_addr_to_sockaddr(const mx_addr *a, int port, struct sockaddr_storage *ss, socklen_t *len);
int mx_addr_from_sockaddr(const struct sockaddr *sa, mx_addr *out, int *port);

/* Special-purpose block containing a, or NULL for ordinary global unicast.
 * name is e.g. "loopback", block e.g. "127.0.0.0/8", rfc e.g. "RFC 1122". */
typedef struct mx_reserved {
    const char *name;
    const char *block;
    const char *rfc;
} mx_reserved;
const mx_reserved *mx_addr_reserved(const mx_addr *a);

/* Validates a domain name (RFC 1035 lengths, LDH labels plus '_' which
 * appears in service names). Accepts one trailing dot. On failure returns -1
 * and sets *why to a static reason. */
int mx_domain_valid(const char *name, const char **why);
/* Lower-cases and strips one trailing dot into out. */
void mx_domain_normalize(const char *name, char *out, size_t outlen);

typedef enum { MX_TARGET_DOMAIN, MX_TARGET_HOST, MX_TARGET_ADDRESS } mx_target_kind;

typedef struct mx_target {
    mx_target_kind kind;
    char input[512];
    char domain[MX_DOMAIN_MAX + 2]; /* domain or host name (normalised); empty for address */
    char local[256];                /* local part when given as user@domain */
    mx_addr addr;                   /* for MX_TARGET_ADDRESS */
    int port;                       /* 0 = not given */
    char unicode[512];              /* an internationalised host name's Unicode form, else "" */
    char why[400];                  /* a parse error needing more than a static sentence */
} mx_target;

/* Parses a target: "example.com", "user@example.com", "host.example.com:2525"
 * (a port makes it a host: no MX lookup), "192.0.2.1", "192.0.2.1:25",
 * "[2001:db8::1]:25", "2001:db8::1", "[host]:port". A plain domain is
 * MX_TARGET_DOMAIN. Surrounding whitespace is trimmed (input is the trimmed
 * text), an internationalised host name is converted to its IDNA form
 * (domain "xn--bcher-kva.test", unicode "bücher.test"; see idn.h), and a URL
 * or mailto: is refused with what to type instead. Returns 0 or -1 with *why
 * set (a static sentence, or t->why: valid as long as t). */
int mx_target_parse(const char *s, mx_target *t, const char **why);
const char *mx_target_kind_name(mx_target_kind k);

/* One resolver as the user wrote it ("ADDR", "ADDR:PORT", "[V6]:PORT", "V6")
 * in c-ares's form ("ADDR:53", "[V6]:53") into out (>= 80 bytes).
 * Returns 0, or -1 when s is not an IP address with an optional port. */
int mx_resolver_norm(const char *s, char *out, size_t outlen);

#endif
