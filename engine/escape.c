/* Escaping per output medium: see escape.h. */
#include "escape.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

size_t mx_utf8_seq(const unsigned char *s, size_t n, unsigned *cp) {
    unsigned c = s[0], min;
    size_t len;
    if ((c & 0xE0) == 0xC0) { len = 2; min = 0x80; c &= 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; min = 0x800; c &= 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; min = 0x10000; c &= 0x07; }
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return len;
}

/* Code points that are valid text but change what a reader sees: C1
 * controls, bidi marks, overrides and isolates, line/paragraph separators. */
static int invisible_cp(unsigned cp) {
    return (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C || cp == 0x200E || cp == 0x200F ||
           (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

unsigned mx_esc_invisible_at(const unsigned char *s, size_t n, size_t *len) {
    unsigned cp;
    size_t l = n && s[0] >= 0x80 ? mx_utf8_seq(s, n, &cp) : 0;
    if (l == 0 || !invisible_cp(cp)) return 0;
    *len = l;
    return cp;
}

void mx_esc_text_n(mx_buf *b, const char *str, size_t n, unsigned flags) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] >= 0x20 && s[j] < 0x7F) j++; /* the common case: a run of printable ASCII */
        if (j > i) { mx_buf_put(b, s + i, j - i); i = j; continue; }
        unsigned c = s[i];
        if ((c == '\n' && (flags & MX_ESC_NL)) || (c == '\t' && (flags & MX_ESC_TAB))) { mx_buf_putc(b, (char)c); i++; continue; }
        if (c < 0x80) { mx_buf_printf(b, "\\x%02x", c); i++; continue; }
        unsigned cp;
        size_t l = mx_utf8_seq(s + i, n - i, &cp);
        if (l == 0) { mx_buf_printf(b, "\\x%02x", c); i++; continue; }
        if (invisible_cp(cp)) mx_buf_printf(b, "\\u%04x", cp);
        else mx_buf_put(b, s + i, l);
        i += l;
    }
}

void mx_esc_text(mx_buf *b, const char *s, unsigned flags) {
    if (s) mx_esc_text_n(b, s, strlen(s), flags);
}

void mx_esc_nagios(mx_buf *b, const char *s) {
    if (!s) return;
    mx_buf t = MX_BUF_INIT;
    for (; *s; s++) mx_buf_putc(&t, *s == '|' ? '/' : (*s == '\n' || *s == '\r') ? ' ' : *s);
    mx_esc_text_n(b, t.data, t.len, 0);
    mx_buf_free(&t);
}

void mx_esc_csv(mx_buf *b, const char *s) {
    mx_buf t = MX_BUF_INIT;
    if (s && *s && strchr("=+-@\t\r'", *s)) mx_buf_putc(&t, '\'');
    /* CR and LF are escaped like any control: a field is always one line */
    mx_esc_text(&t, s, 0);
    const char *v = mx_buf_cstr(&t);
    if (!strpbrk(v, ",\"\r\n")) mx_buf_puts(b, v);
    else {
        mx_buf_putc(b, '"');
        for (; *v; v++) {
            if (*v == '"') mx_buf_putc(b, '"');
            mx_buf_putc(b, *v);
        }
        mx_buf_putc(b, '"');
    }
    mx_buf_free(&t);
}

void mx_esc_prom_label(mx_buf *b, const char *s) {
    mx_buf t = MX_BUF_INIT;
    mx_esc_text(&t, s, MX_ESC_NL);
    mx_buf_putc(b, '"');
    for (const char *v = mx_buf_cstr(&t); *v; v++) {
        if (*v == '\\') mx_buf_puts(b, "\\\\");
        else if (*v == '"') mx_buf_puts(b, "\\\"");
        else if (*v == '\n') mx_buf_puts(b, "\\n");
        else mx_buf_putc(b, *v);
    }
    mx_buf_putc(b, '"');
    mx_buf_free(&t);
}

void mx_esc_vprintf(mx_buf *b, const char *fmt, va_list ap) {
    mx_buf raw = MX_BUF_INIT;
    mx_buf_vprintf(&raw, fmt, ap);
    mx_esc_text_n(b, raw.data ? raw.data : "", raw.len, 0);
    mx_buf_free(&raw);
}

void mx_esc_vline(FILE *f, const char *prefix, const char *fmt, va_list ap) {
    mx_buf b = MX_BUF_INIT;
    if (prefix) mx_buf_puts(&b, prefix);
    mx_esc_vprintf(&b, fmt, ap);
    mx_buf_putc(&b, '\n');
    fwrite(b.data ? b.data : "", 1, b.len, f);
    mx_buf_free(&b);
}

void mx_errf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mx_esc_vline(stderr, NULL, fmt, ap);
    va_end(ap);
}

void mx_esc_nagios_label(mx_buf *b, const char *s) {
    mx_buf t = MX_BUF_INIT;
    mx_esc_nagios(&t, s ? s : "");
    mx_buf_putc(b, '\'');
    for (size_t i = 0; i < t.len; i++) {
        char c = t.data[i];
        if (c == '\'') mx_buf_puts(b, "''");
        else mx_buf_putc(b, c == '=' ? '_' : c);
    }
    mx_buf_putc(b, '\'');
    mx_buf_free(&t);
}
