#include "buf.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *mx_xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) { fputs("mxdiag: out of memory\n", stderr); abort(); }
    return p;
}
void *mx_xcalloc(size_t n, size_t m) {
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (!p) { fputs("mxdiag: out of memory\n", stderr); abort(); }
    return p;
}
void *mx_xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) { fputs("mxdiag: out of memory\n", stderr); abort(); }
    return q;
}
char *mx_xstrdup(const char *s) { return mx_xstrndup(s, strlen(s)); }
char *mx_xstrndup(const char *s, size_t n) {
    char *p = mx_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void mx_buf_reserve(mx_buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) cap *= 2;
    b->data = mx_xrealloc(b->data, cap);
    b->cap = cap;
}
void mx_buf_put(mx_buf *b, const void *p, size_t n) {
    mx_buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}
void mx_buf_puts(mx_buf *b, const char *s) { mx_buf_put(b, s, strlen(s)); }
void mx_buf_vprintf(mx_buf *b, const char *fmt, va_list ap) {
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (n < 0) return;
    mx_buf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}
void mx_buf_printf(mx_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mx_buf_vprintf(b, fmt, ap);
    va_end(ap);
}
void mx_buf_reset(mx_buf *b) { b->len = 0; if (b->data) b->data[0] = 0; }
void mx_buf_free(mx_buf *b) { free(b->data); b->data = NULL; b->len = b->cap = 0; }
char *mx_buf_steal(mx_buf *b) {
    char *s = b->data ? b->data : mx_xstrdup("");
    b->data = NULL; b->len = b->cap = 0;
    return s;
}
const char *mx_buf_cstr(mx_buf *b) { return b->data ? b->data : ""; }
