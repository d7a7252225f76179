/* Addresses, domain names, check targets and resolvers (the CLI's and the
 * batch list's input). Every accepted target must be self-consistent: a domain target has
 * a valid normalised domain, an address target a formattable address. */
#include <ctype.h>
#include "fuzz_common.h"
#include "addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = fuzz_cstr(data, size);

    mx_target t;
    const char *why = NULL;
    if (mx_target_parse(s, &t, &why) == 0) {
        char buf[INET6_ADDRSTRLEN];
        switch (t.kind) {
        case MX_TARGET_DOMAIN:
        case MX_TARGET_HOST:
            FUZZ_CHECK(t.domain[0] && strlen(t.domain) <= MX_DOMAIN_MAX);
            FUZZ_CHECK(mx_domain_valid(t.domain, NULL) == 0);
            for (const char *c = t.domain; *c; c++) FUZZ_CHECK(!isupper((unsigned char)*c));
            break;
        case MX_TARGET_ADDRESS:
            FUZZ_CHECK(t.addr.family == AF_INET || t.addr.family == AF_INET6);
            mx_addr_format(&t.addr, buf, sizeof buf);
            FUZZ_CHECK(buf[0]);
            break;
        }
        FUZZ_CHECK(t.port >= 0 && t.port <= 65535);
        FUZZ_CHECK(strcmp(mx_target_kind_name(t.kind), "?") != 0);
    } else {
        FUZZ_CHECK(why && *why);
    }

    why = NULL;
    if (mx_domain_valid(s, &why) == 0) {
        char norm[MX_DOMAIN_MAX + 2];
        mx_domain_normalize(s, norm, sizeof norm);
        FUZZ_CHECK(strlen(norm) <= MX_DOMAIN_MAX);
        FUZZ_CHECK(mx_domain_valid(norm, NULL) == 0); /* normalising keeps it valid */
    } else {
        FUZZ_CHECK(why && *why);
    }
    /* a small output buffer is cut, never overrun */
    char tiny[8];
    mx_domain_normalize(s, tiny, size % sizeof tiny + 1);

    mx_addr a;
    if (mx_addr_parse(s, &a) == 0) {
        char buf[INET6_ADDRSTRLEN];
        mx_addr_format(&a, buf, sizeof buf);
        mx_addr b;
        FUZZ_CHECK(mx_addr_parse(buf, &b) == 0 && memcmp(&a, &b, sizeof a) == 0);
        const mx_reserved *r = mx_addr_reserved(&a);
        if (r) FUZZ_CHECK(r->name && r->block && r->rfc);
        struct sockaddr_storage ss;
        socklen_t sl;
        int port = 0;
        mx_addr_to_sockaddr(&a, 25, &ss, &sl);
        FUZZ_CHECK(mx_addr_from_sockaddr((struct sockaddr *)&ss, &b, &port) == 0 && port == 25);
        FUZZ_CHECK(memcmp(&a, &b, sizeof a) == 0);
    }
    /* a resolver (--resolver, a batch list's resolver): accepted means an
     * address with a port that reads back the same way */
    char res[96];
    if (mx_resolver_norm(s, res, sizeof res) == 0) {
        FUZZ_CHECK(res[0] && strlen(res) < sizeof res);
        char again[96];
        FUZZ_CHECK(mx_resolver_norm(res, again, sizeof again) == 0 && strcmp(res, again) == 0);
        const char *colon = strrchr(res, ':');
        FUZZ_CHECK(colon && atoi(colon + 1) >= 1 && atoi(colon + 1) <= 65535);
    }
    free(s);
    return 0;
}
