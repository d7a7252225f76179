#include "termtext.h"
#include "escape.h"
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int width_set; /* --width; 0: detect */

static int in_range(long w) { return w >= MX_TEXT_WIDTH_MIN && w <= MX_TEXT_WIDTH_MAX; }

int mx_text_parse_width(const char *s, int *width) {
    char *end;
    if (!s || !*s) return -1;
    long w = strtol(s, &end, 10);
    if (*end || !in_range(w)) return -1;
    *width = (int)w;
    return 0;
}

int mx_text_set_width(int width) {
    if (width != 0 && !in_range(width)) return -1;
    width_set = width;
    return 0;
}

int mx_text_cli_width(const char *s) {
    int w;
    return mx_text_parse_width(s, &w) == 0 ? mx_text_set_width(w) : -1;
}

int mx_text_width(void) {
    if (width_set) return width_set;
    struct winsize ws;
    if (isatty(1) && ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return in_range(ws.ws_col) ? ws.ws_col : ws.ws_col < MX_TEXT_WIDTH_MIN ? MX_TEXT_WIDTH_MIN : MX_TEXT_WIDTH_MAX;
    int w;
    if (mx_text_parse_width(getenv("COLUMNS"), &w) == 0) return w;
    return 80;
}

int mx_text_colour(int no_color_option) {
    const char *nc = getenv("NO_COLOR");
    return !no_color_option && !(nc && *nc) && isatty(1);
}

/* Two columns: the East Asian Wide and Fullwidth blocks and the emoji
 * planes (Unicode 15, EastAsianWidth.txt, the ranges that matter). */
static int wide(unsigned cp) {
    return (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0x303E) || (cp >= 0x3041 && cp <= 0x33FF) ||
           (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xA000 && cp <= 0xA4CF) ||
           (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0xFE30 && cp <= 0xFE4F) ||
           (cp >= 0xFF00 && cp <= 0xFF60) || (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1F64F) ||
           (cp >= 0x1F900 && cp <= 0x1F9FF) || (cp >= 0x20000 && cp <= 0x3FFFD);
}

/* No column: combining marks and zero-width characters. */
static int zero_width(unsigned cp) {
    return (cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x1AB0 && cp <= 0x1AFF) || (cp >= 0x1DC0 && cp <= 0x1DFF) ||
           (cp >= 0x20D0 && cp <= 0x20FF) || (cp >= 0xFE20 && cp <= 0xFE2F) || cp == 0x200B || cp == 0x200C ||
           cp == 0x200D || cp == 0xFEFF || (cp >= 0xFE00 && cp <= 0xFE0F);
}

int mx_text_columns(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    int cols = 0;
    for (size_t i = 0; i < n;) {
        unsigned cp;
        size_t l = p[i] >= 0x80 ? mx_utf8_seq(p + i, n - i, &cp) : 0;
        if (l == 0) { cols++; i++; continue; }
        cols += zero_width(cp) ? 0 : wide(cp) ? 2 : 1;
        i += l;
    }
    return cols;
}

static void newline(mx_buf *out, int ind) {
    mx_buf_putc(out, '\n');
    for (int i = 0; i < ind; i++) mx_buf_putc(out, ' ');
}

int mx_text_wrap(mx_buf *out, const char *s, int col, int ind, int width) {
    mx_buf esc = MX_BUF_INIT;
    mx_esc_text(&esc, s, MX_ESC_NL);
    const char *p = esc.len ? mx_buf_cstr(&esc) : "";
    /* nothing of s on this line yet: no separating space, unless s starts
     * with one (text continuing a line: "name", then " (kind)") */
    int line_start = *p != ' ';
    int line_empty = col <= ind; /* only indentation so far (the caller may have written more) */
    while (*p) {
        if (*p == ' ') { p++; continue; }
        if (*p == '\n') {
            newline(out, ind);
            col = ind;
            line_start = 1;
            line_empty = 1;
            p++;
            continue;
        }
        const char *w = p;
        while (*w && *w != ' ' && *w != '\n') w++;
        int wl = mx_text_columns(p, (size_t)(w - p));
        int sep = line_start ? 0 : 1;
        /* break before a word that does not fit, unless the line holds
         * nothing but the indentation (a longer word then stands alone) */
        if (col + sep + wl > width && !line_empty) {
            newline(out, ind);
            col = ind;
            sep = 0;
        }
        if (sep) { mx_buf_putc(out, ' '); col++; }
        /* a no-break space (U+00A0) glues two words and is written as a
         * plain space: "example.net\u00a0(2)" never ends a line at "(2)" */
        for (const char *q = p; q < w;) {
            const char *nb = memmem(q, (size_t)(w - q), "\xc2\xa0", 2);
            const char *e = nb ? nb : w;
            mx_buf_put(out, q, (size_t)(e - q));
            if (!nb) break;
            mx_buf_putc(out, ' ');
            q = nb + 2;
        }
        col += wl;
        line_start = 0;
        line_empty = 0;
        p = w;
    }
    mx_buf_free(&esc);
    return col;
}
