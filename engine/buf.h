/* Growable byte buffer: the one string builder used by writers and parsers. */
#ifndef MX_BUF_H
#define MX_BUF_H
#include <stddef.h>
#include <stdarg.h>

typedef struct mx_buf {
    char *data;   /* always NUL-terminated when len > 0 or after any put */
    size_t len;
    size_t cap;
} mx_buf;

#define MX_BUF_INIT {NULL, 0, 0}

void mx_buf_reserve(mx_buf *b, size_t extra);
void mx_buf_put(mx_buf *b, const void *p, size_t n);
void mx_buf_puts(mx_buf *b, const char *s);
/* Inline: the JSON writer and text reports call it per character. */
static inline void mx_buf_putc(mx_buf *b, char c) {
    if (b->len + 2 > b->cap) mx_buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = 0;
}
void mx_buf_printf(mx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mx_buf_vprintf(mx_buf *b, const char *fmt, va_list ap);
void mx_buf_reset(mx_buf *b);          /* len = 0, keeps memory */
void mx_buf_free(mx_buf *b);
char *mx_buf_steal(mx_buf *b);         /* returns malloc'd string, buffer emptied */
const char *mx_buf_cstr(mx_buf *b);    /* "" when empty */

/* Allocation failures abort: this is a CLI tool, and a half-built report is worse. */
void *mx_xmalloc(size_t n);
void *mx_xcalloc(size_t n, size_t m);
void *mx_xrealloc(void *p, size_t n);
char *mx_xstrdup(const char *s);
char *mx_xstrndup(const char *s, size_t n);

#endif
