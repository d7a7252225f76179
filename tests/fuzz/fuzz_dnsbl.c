/* DNSBL query-name building and answer classification. Input: a kind byte,
 * then "subject\nzone" (the rest after a second '\n', if any, is an answer
 * address). Query names must be well-formed whatever the subject: at most
 * 253 characters of [a-z0-9._-], ending in the zone, never written past the
 * output buffer (its size comes from the input too). */
#include "fuzz_common.h"
#include "dnsbl.h"

static char *take_line(const uint8_t **p, size_t *n) {
    const uint8_t *nl = memchr(*p, '\n', *n);
    size_t l = nl ? (size_t)(nl - *p) : *n;
    char *s = fuzz_cstr(*p, l);
    *p += nl ? l + 1 : l;
    *n -= nl ? l + 1 : l;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    int kind = data[0] & 1 ? MX_DNSBL_DOMAIN : MX_DNSBL_IP;
    if ((data[0] & 6) == 6) kind = data[0]; /* invalid kinds are refused, not crashed on */
    size_t outlen = data[1] & 1 ? MX_DNSBL_QUERY_MAX : (size_t)data[1] + 1;
    const uint8_t *p = data + 2;
    size_t n = size - 2;
    char *subject = take_line(&p, &n);
    char *zone = take_line(&p, &n);
    char *answer = take_line(&p, &n);

    const char *err = NULL;
    int sk = mx_dnsbl_subject_kind(subject, &err);
    FUZZ_CHECK(sk == MX_DNSBL_IP || sk == MX_DNSBL_DOMAIN || (sk == -1 && err));

    char *out = malloc(outlen);
    err = NULL;
    if (mx_dnsbl_query_name(subject, zone, kind, out, outlen, &err) == 0) {
        size_t l = strlen(out);
        FUZZ_CHECK(l < outlen && l <= MX_DNSBL_NAME_MAX);
        for (size_t i = 0; i < l; i++)
            FUZZ_CHECK((out[i] >= 'a' && out[i] <= 'z') || (out[i] >= '0' && out[i] <= '9') || out[i] == '.' ||
                       out[i] == '-' || out[i] == '_');
        FUZZ_CHECK(out[0] != '.' && out[l - 1] != '.' && !strstr(out, ".."));
        FUZZ_CHECK(sk == kind); /* an IP only goes to an IP list, a name to a domain list */
    } else {
        FUZZ_CHECK(err && *err);
    }
    free(out);

    unsigned char oct[4];
    err = NULL;
    int c = mx_dnsbl_classify_answer(answer, oct, &err);
    int last = mx_dnsbl_answer_last_octet(answer);
    if (c == MX_DNSBL_ANSWER_LOOPBACK) FUZZ_CHECK(oct[0] == 127 && last == oct[3]);
    else FUZZ_CHECK(last == -1 && err);
    FUZZ_CHECK(mx_dnsbl_classify_answer(NULL, NULL, NULL) == MX_DNSBL_ANSWER_INVALID);

    free(subject);
    free(zone);
    free(answer);
    return 0;
}
