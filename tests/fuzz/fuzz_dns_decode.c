/* DNS answer decoding (mx_dns_decode) on arbitrary bytes, as if a hostile
 * resolver or a spoofer had sent them. The first byte picks the query type;
 * the query name is the packet's own question name when it has one (so that
 * answers and CNAME chains match), else a fixed name. */
#include <ares.h>
#include "fuzz_common.h"
#include "dnsmsg.h"
#include "json.h"

static const int qtypes[] = {1, 28, 15, 16, 5, 12, 2, 6, 33, 52, 257, 99};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int qtype = qtypes[data[0] % (sizeof qtypes / sizeof qtypes[0])];
    const unsigned char *msg = (const unsigned char *)fuzz_dup(data + 1, size - 1);
    size_t len = size - 1;

    char *qname = NULL;
    long used = 0;
    if (len > 12 && !(data[0] & 0x80))
        ares_expand_name(msg + 12, msg, (int)len, &qname, &used);

    mx_json *obj = mx_json_obj();
    const char *why = NULL;
    int rc = mx_dns_decode(msg, len, qname ? qname : "example.test", qtype, obj, &why);
    if (rc != 0) {
        FUZZ_CHECK(why != NULL && *why);
    } else {
        mx_json *ans = mx_json_get(obj, "answers");
        FUZZ_CHECK(ans && ans->type == MX_JARR && ans->u.c.len <= MX_DNS_MAX_ANSWERS);
        for (size_t i = 0; i < ans->u.c.len; i++) {
            const mx_json *d = mx_json_get(ans->u.c.items[i], "data");
            FUZZ_CHECK(d && d->type == MX_JSTR);
            if (qtype == 16) FUZZ_CHECK(d->u.str.len <= MX_DNS_MAX_TXT);
        }
        mx_json *chain = mx_json_get(obj, "cname");
        FUZZ_CHECK(chain && chain->type == MX_JARR && chain->u.c.len <= MX_DNS_MAX_CNAME_CHAIN);
    }
    /* whatever was decoded must serialise to valid JSON */
    mx_buf b = MX_BUF_INIT;
    mx_json_write(&b, obj, -1);
    mx_json *back = mx_json_parse(b.data, b.len, NULL, 0);
    FUZZ_CHECK(back != NULL);
    mx_json_free(back);
    mx_buf_free(&b);
    mx_json_free(obj);
    if (qname) ares_free_string(qname);
    free((void *)msg);
    return 0;
}
