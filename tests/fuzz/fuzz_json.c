/* JSON writer and parser. Mode 0 (first byte even): the rest is written as a
 * JSON string, which must parse back as one string equal to the input where
 * the input is valid UTF-8 (invalid bytes become U+FFFD; the ASCII bytes are
 * always kept in order). Mode 1: the rest is parsed as JSON text; whatever
 * parses must write, parse back, and write identically again (compact and
 * indented). */
#include "fuzz_common.h"
#include "json.h"

/* Independent oracle: valid UTF-8 per RFC 3629 (no surrogates, no overlongs). */
static int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t l;
        unsigned cp, min;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) { l = 2; cp = c & 0x1F; min = 0x80; }
        else if (c >= 0xE0 && c <= 0xEF) { l = 3; cp = c & 0x0F; min = 0x800; }
        else if (c >= 0xF0 && c <= 0xF4) { l = 4; cp = c & 0x07; min = 0x10000; }
        else return 0;
        if (i + l > n) return 0;
        for (size_t k = 1; k < l; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += l;
    }
    return 1;
}

static void ascii_projection(const unsigned char *s, size_t n, mx_buf *out) {
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x80) mx_buf_putc(out, (char)s[i]);
}

static void roundtrip_string(const uint8_t *data, size_t size) {
    char *in = fuzz_dup(data, size);
    mx_buf b = MX_BUF_INIT;
    mx_json_write_string(&b, in, size);
    FUZZ_CHECK(utf8_valid((const unsigned char *)b.data, b.len));
    for (size_t i = 0; i < b.len; i++) FUZZ_CHECK((unsigned char)b.data[i] >= 0x20 && b.data[i] != 0x7f);
    char err[128];
    mx_json *v = mx_json_parse(b.data, b.len, err, sizeof err);
    if (!v) { fprintf(stderr, "parse error: %s\n", err); abort(); }
    FUZZ_CHECK(v->type == MX_JSTR);
    if (utf8_valid(data, size)) {
        FUZZ_CHECK(v->u.str.len == size && memcmp(v->u.str.s, in, size) == 0);
    } else {
        mx_buf a1 = MX_BUF_INIT, a2 = MX_BUF_INIT;
        ascii_projection(data, size, &a1);
        ascii_projection((const unsigned char *)v->u.str.s, v->u.str.len, &a2);
        FUZZ_CHECK(a1.len == a2.len && (a1.len == 0 || memcmp(a1.data, a2.data, a1.len) == 0));
        FUZZ_CHECK(utf8_valid((const unsigned char *)v->u.str.s, v->u.str.len));
        mx_buf_free(&a1);
        mx_buf_free(&a2);
    }
    /* as an object key and inside an array too */
    mx_json *o = mx_json_obj();
    mx_json_set(o, in[0] ? "k" : "", mx_json_clone(v));
    mx_json *arr = mx_json_set(o, "a", mx_json_arr());
    mx_json_push(arr, v);
    mx_buf_reset(&b);
    mx_json_write(&b, o, 2);
    mx_json *back = mx_json_parse(b.data, b.len, NULL, 0);
    FUZZ_CHECK(back && back->type == MX_JOBJ && back->u.c.len == 2);
    mx_json_free(back);
    mx_json_free(o);
    mx_buf_free(&b);
    free(in);
}

static void roundtrip_text(const uint8_t *data, size_t size) {
    char *in = fuzz_dup(data, size);
    char err[128];
    mx_json *v = mx_json_parse(in, size, err, sizeof err);
    if (!v) {
        FUZZ_CHECK(strstr(err, " at byte ") != NULL);
        free(in);
        return;
    }
    /* The first write normalises (raw invalid UTF-8 the parser let through
     * becomes \ufffd, "-0" becomes 0 once read back as an integer); from then
     * on write(parse(text)) must be a fixed point. */
    for (int indent = -1; indent <= 2; indent += 3) {
        mx_buf w1 = MX_BUF_INIT, w2 = MX_BUF_INIT, w3 = MX_BUF_INIT;
        mx_json_write(&w1, v, indent);
        mx_json *v2 = mx_json_parse(w1.data, w1.len, err, sizeof err);
        if (!v2) { fprintf(stderr, "re-parse error: %s\n%s\n", err, w1.data); abort(); }
        mx_json_write(&w2, v2, indent);
        mx_json *v3 = mx_json_parse(w2.data, w2.len, err, sizeof err);
        if (!v3) { fprintf(stderr, "re-parse error: %s\n%s\n", err, w2.data); abort(); }
        mx_json_write(&w3, v3, indent);
        FUZZ_CHECK(w2.len == w3.len && memcmp(w2.data, w3.data, w2.len) == 0);
        mx_json *c = mx_json_clone(v3);
        mx_json_free(c);
        mx_json_free(v2);
        mx_json_free(v3);
        mx_buf_free(&w1);
        mx_buf_free(&w2);
        mx_buf_free(&w3);
    }
    mx_json_free(v);
    free(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (data[0] & 1) roundtrip_text(data + 1, size - 1);
    else roundtrip_string(data + 1, size - 1);
    return 0;
}
