/* SMTP reply parser: the input is a server's byte stream, split into lines
 * the way the stream reader does (LF, optional CR), fed line by line into
 * one reply after another. The first byte picks default or tiny limits so
 * that every limit path is reached. Each line is also parsed as an EHLO
 * capability line. */
#include "fuzz_common.h"
#include "json.h"
#include "smtp_reply.h"

static void check_printable(const char *s) {
    for (; *s; s++) FUZZ_CHECK((*s >= 0x20 && *s < 0x7f) || *s == '\n');
}

static void finish_reply(mx_smtp_reply *r) {
    FUZZ_CHECK(r->nlines <= r->lim.max_lines);
    FUZZ_CHECK(r->bytes <= r->lim.max_bytes);
    for (size_t i = 0; i < r->nlines; i++) FUZZ_CHECK(r->lines[i].len <= r->lim.max_line);
    FUZZ_CHECK(strlen(r->enhanced) < MX_SMTP_ENHANCED_MAX);
    if (r->state == MX_SMTP_ST_ERROR) FUZZ_CHECK(r->error && *r->error);

    char *text = mx_smtp_reply_text(r);
    if (text) check_printable(text);
    free(text);
    mx_json *j = mx_smtp_reply_to_json(r);
    mx_buf b = MX_BUF_INIT;
    mx_json_write(&b, j, -1);
    mx_json *back = mx_json_parse(b.data, b.len, NULL, 0);
    FUZZ_CHECK(back != NULL);
    mx_json_free(back);
    mx_buf_free(&b);
    mx_json_free(j);

    mx_smtp_caps caps;
    if (mx_smtp_caps_parse(r, &caps) == 0) {
        FUZZ_CHECK(r->state == MX_SMTP_ST_DONE && r->code / 100 == 2);
        for (size_t i = 0; i < caps.n; i++) {
            FUZZ_CHECK(mx_smtp_caps_find(&caps, caps.items[i].keyword) != NULL);
            FUZZ_CHECK(caps.items[i].nparams <= MX_SMTP_CAP_MAX_PARAMS);
        }
        mx_json *cj = mx_smtp_caps_to_json(&caps);
        mx_json_write(&b, cj, 2);
        mx_buf_free(&b);
        mx_json_free(cj);
        mx_smtp_caps_free(&caps);
    }
    mx_smtp_reply_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    mx_smtp_limits small, *lim = NULL;
    if (data[0] & 1 && size >= 4) {
        small.max_lines = 1 + data[1] % 8;
        small.max_bytes = 16 + (size_t)data[2] * 4;
        small.max_line = 8 + data[3];
        lim = &small;
        data += 4, size -= 4;
    } else {
        data += 1, size -= 1;
    }
    mx_smtp_reply r;
    mx_smtp_reply_init(&r, lim);
    size_t pos = 0;
    while (pos < size) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t n = nl ? (size_t)(nl - (data + pos)) : size - pos;
        size_t len = n;
        if (len && data[pos + len - 1] == '\r') len--;
        char *line = fuzz_dup(data + pos, len);

        mx_smtp_cap cap;
        const char *err = NULL;
        if (mx_smtp_cap_parse(line, len, &cap, &err) == 0) {
            FUZZ_CHECK(cap.keyword && strlen(cap.keyword) <= MX_SMTP_CAP_KEYWORD_MAX);
            mx_smtp_cap_free(&cap);
        } else {
            FUZZ_CHECK(err != NULL);
        }

        int rc = mx_smtp_reply_feed(&r, line, len);
        FUZZ_CHECK(rc == MX_SMTP_MORE || rc == MX_SMTP_DONE || rc == MX_SMTP_ERROR);
        if (rc != MX_SMTP_MORE) {
            finish_reply(&r);
            mx_smtp_reply_init(&r, lim);
        }
        free(line);
        pos += n + 1;
    }
    finish_reply(&r); /* an unfinished reply (connection dropped) is reported too */
    return 0;
}
