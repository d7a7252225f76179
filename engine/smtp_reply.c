#include "smtp_reply.h"
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const mx_smtp_reply_state_names[] = {
    [MX_SMTP_ST_FIRST] = "first",
    [MX_SMTP_ST_CONT] = "continuation",
    [MX_SMTP_ST_DONE] = "done",
    [MX_SMTP_ST_ERROR] = "error",
};

void mx_smtp_reply_init(mx_smtp_reply *r, const mx_smtp_limits *lim) {
    memset(r, 0, sizeof *r);
    r->state = MX_SMTP_ST_FIRST;
    if (lim) {
        r->lim = *lim;
    } else {
        r->lim.max_lines = MX_SMTP_MAX_LINES;
        r->lim.max_bytes = MX_SMTP_MAX_REPLY_BYTES;
        r->lim.max_line = MX_SMTP_MAX_LINE;
    }
}

void mx_smtp_reply_free(mx_smtp_reply *r) {
    for (size_t i = 0; i < r->nlines; i++) free(r->lines[i].text);
    free(r->lines);
    r->lines = NULL;
    r->nlines = r->cap = 0;
}

static int fail(mx_smtp_reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(mx_smtp_reply *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error_buf, sizeof r->error_buf, fmt, ap);
    va_end(ap);
    r->error = r->error_buf;
    r->state = MX_SMTP_ST_ERROR;
    return MX_SMTP_ERROR;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* RFC 3463: class "." subject "." detail, class 2/4/5, subject and detail
 * 1-3 digits, then SP or end. Returns
 * the length matched, 0 if the text does not start with one. */
static size_t match_enhanced(const char *s, size_t len) {
    size_t i = 0;
    if (len < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return 0;
    i = 2;
    for (int part = 0; part < 2; part++) {
        size_t start = i;
        while (i < len && is_digit(s[i]) && i - start < 4) i++;
        size_t n = i - start;
        if (n < 1 || n > 3) return 0;
        if (part == 0) {
            if (i >= len || s[i] != '.') return 0;
            i++;
        }
    }
    if (i < len && s[i] != ' ') return 0;
    return i;
}

static void take_enhanced(mx_smtp_reply *r, const char *text, size_t len) {
    size_t n = match_enhanced(text, len);
    if (!n) return;
    if (text[0] - '0' != r->code / 100) {
        /* "250 5.1.1 ok" is a server bug worth reporting, not a code to trust. */
        r->enhanced_mismatch = 1;
        return;
    }
    memcpy(r->enhanced, text, n);
    r->enhanced[n] = 0;
}

static int has_binary(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) return 1;
    }
    return 0;
}

int mx_smtp_reply_feed(mx_smtp_reply *r, const char *line, size_t len) {
    if (r->state != MX_SMTP_ST_FIRST && r->state != MX_SMTP_ST_CONT) {
        fprintf(stderr, "mxdiag: smtp reply fed in state %s\n", mx_smtp_reply_state_names[r->state]);
        abort();
    }
    if (len > r->lim.max_line) return fail(r, "line too long (limit %zu bytes)", r->lim.max_line);
    if (r->nlines >= r->lim.max_lines) return fail(r, "too many lines (limit %zu)", r->lim.max_lines);
    if (r->bytes + len > r->lim.max_bytes)
        return fail(r, "reply too large (limit %zu bytes)", r->lim.max_bytes);
    r->bytes += len;

    if (len < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]))
        return fail(r, "reply line without a 3-digit code");
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (code < 200 || code > 599) return fail(r, "reply code %03d outside 2xx-5xx", code);
    int last;
    if (len == 3) last = 1; /* bare "250": RFC 5321 allows a code without text */
    else if (line[3] == ' ') last = 1;
    else if (line[3] == '-') last = 0;
    else return fail(r, "reply code %03d followed by neither space nor '-'", code);

    if (r->state == MX_SMTP_ST_FIRST) r->code = code;
    else if (code != r->code)
        return fail(r, "continuation code %03d differs from first line %03d", code, r->code);

    const char *text = len > 4 ? line + 4 : "";
    size_t tlen = len > 4 ? len - 4 : 0;
    if (r->nlines == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 4;
        r->lines = mx_xrealloc(r->lines, r->cap * sizeof *r->lines);
    }
    r->lines[r->nlines].text = mx_xstrndup(text, tlen);
    r->lines[r->nlines].len = tlen;
    r->nlines++;
    if (has_binary(text, tlen)) r->binary = 1;
    if (r->nlines == 1) take_enhanced(r, text, tlen);

    r->state = last ? MX_SMTP_ST_DONE : MX_SMTP_ST_CONT;
    return last ? MX_SMTP_DONE : MX_SMTP_MORE;
}

void mx_smtp_printable(mx_buf *out, const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\') mx_buf_puts(out, "\\\\");
        else if (c >= 0x20 && c < 0x7f) mx_buf_putc(out, (char)c);
        else mx_buf_printf(out, "\\x%02x", c);
    }
}

char *mx_smtp_reply_text(const mx_smtp_reply *r) {
    mx_buf b = MX_BUF_INIT;
    for (size_t i = 0; i < r->nlines; i++) {
        if (i) mx_buf_putc(&b, '\n');
        mx_smtp_printable(&b, r->lines[i].text, r->lines[i].len);
    }
    return mx_buf_steal(&b);
}

mx_json *mx_smtp_reply_to_json(const mx_smtp_reply *r) {
    mx_json *o = mx_json_obj();
    mx_json_set(o, "code", mx_json_int(r->code));
    mx_json_set(o, "enhanced", r->enhanced[0] ? mx_json_str(r->enhanced) : mx_json_null());
    mx_json *lines = mx_json_set(o, "lines", mx_json_arr());
    for (size_t i = 0; i < r->nlines; i++) mx_json_push(lines, mx_json_strn(r->lines[i].text, r->lines[i].len));
    mx_json_set(o, "binary", mx_json_bool(r->binary));
    return o;
}

/* ---- EHLO capabilities (RFC 5321 4.1.1.1: ehlo-keyword *(SP ehlo-param)) ---- */

static int is_kw_char(char c) { return isalnum((unsigned char)c) || c == '-'; }

void mx_smtp_cap_free(mx_smtp_cap *cap) {
    free(cap->keyword);
    for (size_t i = 0; i < cap->nparams; i++) free(cap->params[i]);
    free(cap->params);
    memset(cap, 0, sizeof *cap);
}

int mx_smtp_cap_parse(const char *text, size_t len, mx_smtp_cap *cap, const char **err) {
    memset(cap, 0, sizeof *cap);
    size_t k = 0;
    while (k < len && is_kw_char(text[k])) k++;
    if (k == 0 || text[0] == '-') { *err = "capability line without a keyword"; return -1; }
    if (k > MX_SMTP_CAP_KEYWORD_MAX) { *err = "capability keyword too long"; return -1; }
    size_t i = k;
    if (i < len && text[i] == '=') {
        cap->legacy_eq = 1; /* "AUTH=LOGIN PLAIN", from before RFC 2554 was final */
        i++;
    } else if (i < len && text[i] != ' ') {
        *err = "invalid character in capability keyword";
        return -1;
    }
    cap->keyword = mx_xstrndup(text, k);
    for (char *p = cap->keyword; *p; p++) *p = (char)toupper((unsigned char)*p);
    while (i < len) {
        while (i < len && text[i] == ' ') i++;
        size_t start = i;
        while (i < len && text[i] != ' ') i++;
        if (i == start) break;
        if (cap->nparams == MX_SMTP_CAP_MAX_PARAMS) { cap->params_truncated = 1; break; }
        cap->params = mx_xrealloc(cap->params, (cap->nparams + 1) * sizeof *cap->params);
        cap->params[cap->nparams++] = mx_xstrndup(text + start, i - start);
    }
    return 0;
}

int mx_smtp_caps_parse(const mx_smtp_reply *r, mx_smtp_caps *caps) {
    memset(caps, 0, sizeof *caps);
    if (r->state != MX_SMTP_ST_DONE || r->code / 100 != 2 || r->nlines == 0) return -1;
    const mx_smtp_line *g = &r->lines[0];
    size_t d = 0;
    while (d < g->len && g->text[d] != ' ') d++;
    caps->domain = mx_xstrndup(g->text, d);
    caps->items = mx_xcalloc(r->nlines, sizeof *caps->items);
    for (size_t i = 1; i < r->nlines; i++) {
        const char *err;
        if (mx_smtp_cap_parse(r->lines[i].text, r->lines[i].len, &caps->items[caps->n], &err) == 0) caps->n++;
        else caps->ninvalid++;
    }
    return 0;
}

const mx_smtp_cap *mx_smtp_caps_find(const mx_smtp_caps *caps, const char *keyword) {
    for (size_t i = 0; i < caps->n; i++)
        if (strcasecmp(caps->items[i].keyword, keyword) == 0) return &caps->items[i];
    return NULL;
}

void mx_smtp_caps_free(mx_smtp_caps *caps) {
    for (size_t i = 0; i < caps->n; i++) mx_smtp_cap_free(&caps->items[i]);
    free(caps->items);
    free(caps->domain);
    memset(caps, 0, sizeof *caps);
}

mx_json *mx_smtp_caps_to_json(const mx_smtp_caps *caps) {
    mx_json *o = mx_json_obj();
    mx_json_set(o, "domain", mx_json_str(caps->domain));
    mx_json *c = mx_json_set(o, "caps", mx_json_obj());
    for (size_t i = 0; i < caps->n; i++) {
        const mx_smtp_cap *cap = &caps->items[i];
        /* A repeated keyword (AUTH and AUTH=) keeps the first: the modern form comes first in practice. */
        if (mx_json_get(c, cap->keyword)) continue;
        mx_json *p = mx_json_set(c, cap->keyword, mx_json_arr());
        for (size_t j = 0; j < cap->nparams; j++) mx_json_push(p, mx_json_str(cap->params[j]));
    }
    mx_json_set(o, "invalid", mx_json_int((long long)caps->ninvalid));
    return o;
}
