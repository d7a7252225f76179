/* Escaping per output medium (escape.h): whatever the bytes, terminal text
 * is valid UTF-8 without C0 (but the allowed \n/\t), DEL, C1 or bidi
 * controls; a Nagios line has no '|', CR or LF; a CSV field is one line and
 * never starts a formula; a Prometheus label has no raw newline and every
 * quote escaped. The first byte picks the flags. */
#include "fuzz_common.h"
#include "escape.h"

/* Walks s as UTF-8: every sequence well formed, no forbidden code point. */
static void check_terminal(const char *s, size_t n, unsigned flags) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i], cp;
        size_t l;
        if (c < 0x80) { cp = c; l = 1; }
        else if ((c & 0xE0) == 0xC0) { cp = c & 0x1F; l = 2; }
        else if ((c & 0xF0) == 0xE0) { cp = c & 0x0F; l = 3; }
        else if ((c & 0xF8) == 0xF0) { cp = c & 0x07; l = 4; }
        else { FUZZ_CHECK(!"invalid lead byte in output"); return; }
        FUZZ_CHECK(i + l <= n);
        for (size_t k = 1; k < l; k++) {
            FUZZ_CHECK((p[i + k] & 0xC0) == 0x80);
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        FUZZ_CHECK(l == 1 || cp >= (l == 2 ? 0x80u : l == 3 ? 0x800u : 0x10000u));
        FUZZ_CHECK(!(cp >= 0xD800 && cp <= 0xDFFF) && cp <= 0x10FFFF);
        int allowed = (cp == '\n' && (flags & MX_ESC_NL)) || (cp == '\t' && (flags & MX_ESC_TAB));
        FUZZ_CHECK(allowed || (cp >= 0x20 && cp != 0x7F && !(cp >= 0x80 && cp <= 0x9F)));
        FUZZ_CHECK(cp != 0x202E && cp != 0x202D && cp != 0x2066 && cp != 0x2069 && cp != 0x2028);
        i += l;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    unsigned flags = data[0] & (MX_ESC_NL | MX_ESC_TAB);
    char *in = fuzz_dup(data + 1, size - 1);
    mx_buf b = MX_BUF_INIT;
    mx_esc_text_n(&b, in, size - 1, flags);
    check_terminal(b.data ? b.data : "", b.len, flags);
    /* escaping is idempotent on its own output: nothing left to escape */
    mx_buf again = MX_BUF_INIT;
    mx_esc_text_n(&again, b.data ? b.data : "", b.len, flags);
    FUZZ_CHECK(again.len == b.len && (b.len == 0 || memcmp(again.data, b.data, b.len) == 0));
    mx_buf_free(&again);
    mx_buf_free(&b);

    char *cs = fuzz_cstr(data + 1, size - 1);
    mx_esc_nagios(&b, cs);
    check_terminal(mx_buf_cstr(&b), b.len, 0);
    FUZZ_CHECK(!strpbrk(mx_buf_cstr(&b), "|\r\n"));
    mx_buf_reset(&b);

    mx_esc_csv(&b, cs);
    const char *v = mx_buf_cstr(&b);
    check_terminal(v, b.len, 0);
    const char *cell = *v == '"' ? v + 1 : v;
    FUZZ_CHECK(!*cell || !strchr("=+-@\t\r", *cell));
    if (*v == '"') {
        /* quoted: ends with the quote, inner quotes doubled */
        FUZZ_CHECK(b.len >= 2 && v[b.len - 1] == '"');
        for (size_t i = 1; i + 1 < b.len; i++)
            if (v[i] == '"') { FUZZ_CHECK(v[i + 1] == '"'); i++; }
    } else {
        FUZZ_CHECK(!strpbrk(v, ",\""));
    }
    mx_buf_reset(&b);

    mx_esc_prom_label(&b, cs);
    v = mx_buf_cstr(&b);
    check_terminal(v, b.len, 0);
    FUZZ_CHECK(b.len >= 2 && v[0] == '"' && v[b.len - 1] == '"');
    for (size_t i = 1; i + 1 < b.len; i++) {
        FUZZ_CHECK(v[i] != '"');
        if (v[i] == '\\') { FUZZ_CHECK(v[i + 1] == '\\' || v[i + 1] == '"' || v[i + 1] == 'n'); i++; }
    }
    mx_buf_free(&b);
    free(cs);
    free(in);
    return 0;
}
