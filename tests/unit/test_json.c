/* JSON writer escaping (any bytes in, valid JSON out) and the parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include "json.h"
#include "escape.h"

static char *write_str(const char *s, size_t n) {
    mx_buf b = MX_BUF_INIT;
    mx_json_write_string(&b, s, n);
    return mx_buf_steal(&b);
}

static void escaping(void **state) {
    (void)state;
    char *o = write_str("a\"b\\c\n\t\r", 8);
    assert_string_equal(o, "\"a\\\"b\\\\c\\n\\t\\r\"");
    free(o);
    o = write_str("\x01\x1f\x7f", 3);
    assert_string_equal(o, "\"\\u0001\\u001f\\u007f\"");
    free(o);
    /* C1 controls and bidi overrides: valid UTF-8, written as \u escapes all the same */
    o = write_str("a\xc2\x9b" "b\xe2\x80\xae" "c\xc2\xa0", 10);
    assert_string_equal(o, "\"a\\u009bb\\u202ec\xc2\xa0\"");
    free(o);
    /* NUL inside data survives as an escape */
    o = write_str("a\0b", 3);
    assert_string_equal(o, "\"a\\u0000b\"");
    free(o);
    /* valid UTF-8 passes through; invalid bytes become U+FFFD */
    o = write_str("caf\xc3\xa9", 5);
    assert_string_equal(o, "\"caf\xc3\xa9\"");
    free(o);
    o = write_str("\xff\xc3(\xed\xa0\x80", 6);
    assert_string_equal(o, "\"\\ufffd\\ufffd(\\ufffd\\ufffd\\ufffd\"");
    free(o);
}

static void roundtrip_binary(void **state) {
    (void)state;
    /* every byte value written then parsed yields valid JSON */
    char all[256];
    for (int i = 0; i < 256; i++) all[i] = (char)i;
    char *o = write_str(all, 256);
    char err[128];
    mx_json *v = mx_json_parse(o, strlen(o), err, sizeof err);
    assert_non_null(v);
    assert_int_equal(v->type, MX_JSTR);
    /* the ASCII half is preserved exactly */
    assert_memory_equal(v->u.str.s, all, 128);
    mx_json_free(v);
    free(o);
}

static void tree_write(void **state) {
    (void)state;
    mx_json *o = mx_json_obj();
    mx_json_set(o, "b", mx_json_int(-3));
    mx_json_set(o, "a", mx_json_str("x"));
    mx_json *arr = mx_json_set(o, "list", mx_json_arr());
    mx_json_push(arr, mx_json_bool(1));
    mx_json_push(arr, mx_json_null());
    mx_json_push(arr, mx_json_num(1.5));
    mx_json_set(o, "b", mx_json_int(7)); /* replaces, keeps position */
    mx_buf b = MX_BUF_INIT;
    mx_json_write(&b, o, -1);
    assert_string_equal(b.data, "{\"b\":7,\"a\":\"x\",\"list\":[true,null,1.5]}");
    mx_buf_free(&b);
    mx_json *c = mx_json_clone(o);
    mx_json_write(&b, c, 2);
    assert_non_null(strstr(b.data, "\n  \"a\": \"x\""));
    mx_buf_free(&b);
    mx_json_free(c);
    mx_json_free(o);
}

/* integers are written without printf: every width and both signs */
static void int_write(void **state) {
    (void)state;
    const long long vals[] = {0, 7, -3, 10, -10, 99, 100, 1234567890123LL, LLONG_MAX, LLONG_MIN, LLONG_MIN + 1};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        char want[32];
        snprintf(want, sizeof want, "%lld", vals[i]);
        mx_json *v = mx_json_int(vals[i]);
        mx_buf b = MX_BUF_INIT;
        mx_json_write(&b, v, -1);
        assert_string_equal(b.data, want);
        mx_buf_free(&b);
        mx_json_free(v);
    }
}

/* append: no search, in order; a clone keeps order and values */
static void append_clone(void **state) {
    (void)state;
    mx_json *o = mx_json_obj();
    mx_json_append(o, "z", mx_json_int(1));
    mx_json_append_owned(o, strdup("a"), mx_json_str("x"));
    mx_json *c = mx_json_clone(o);
    mx_buf b = MX_BUF_INIT;
    mx_json_write(&b, c, -1);
    assert_string_equal(b.data, "{\"z\":1,\"a\":\"x\"}");
    mx_buf_free(&b);
    mx_json_free(c);
    mx_json_free(o);
}

static void parse_errors(void **state) {
    (void)state;
    const char *bad[] = {"", "{", "[1,]", "{\"a\"}", "{\"a\":1,}", "\"unterminated", "tru", "01x", "[1] 2",
                         "\"\\x\"", "\"\\ud800\\u0041\"", "{\"a\":\"\x01\"}", NULL};
    char err[128];
    for (int i = 0; bad[i]; i++) {
        mx_json *v = mx_json_parse(bad[i], strlen(bad[i]), err, sizeof err);
        if (v) fail_msg("accepted '%s'", bad[i]);
        assert_non_null(strstr(err, "at byte"));
    }
    /* nesting bound */
    char deep[300];
    memset(deep, '[', 200);
    mx_json *v = mx_json_parse(deep, 200, err, sizeof err);
    assert_null(v);
    assert_non_null(strstr(err, "deep"));
}

static void parse_values(void **state) {
    (void)state;
    const char *s = "{\"s\":\"a\\u00e9\\ud83d\\ude00\",\"n\":-12,\"f\":2.5e1,\"t\":true,\"z\":null,\"a\":[]}";
    mx_json *v = mx_json_parse(s, strlen(s), NULL, 0);
    assert_non_null(v);
    assert_string_equal(mx_json_get_str(v, "s"), "a\xc3\xa9\xf0\x9f\x98\x80");
    assert_int_equal(mx_json_get(v, "n")->u.i, -12);
    assert_true(mx_json_get(v, "f")->u.n == 25.0);
    assert_int_equal(mx_json_get(v, "t")->u.b, 1);
    assert_int_equal(mx_json_get(v, "z")->type, MX_JNULL);
    assert_int_equal(mx_json_get(v, "a")->u.c.len, 0);
    assert_null(mx_json_get(v, "missing"));
    mx_json_free(v);
}

/* Every byte value at every place of a 24-byte string of plain letters (the
 * writer scans plain bytes 8 at a time): written as the bytes before it, the
 * byte alone, the bytes after it. */
static void escaping_in_runs(void **state) {
    (void)state;
    for (int c = 0; c < 256; c++) {
        char one[1] = {(char)c};
        char *alone = write_str(one, 1);
        size_t al = strlen(alone);
        for (size_t at = 0; at < 24; at++) {
            char s[24];
            memset(s, 'a', sizeof s);
            s[at] = (char)c;
            char *o = write_str(s, sizeof s);
            char want[64];
            size_t w = 0;
            want[w++] = '"';
            memset(want + w, 'a', at);
            w += at;
            memcpy(want + w, alone + 1, al - 2);
            w += al - 2;
            memset(want + w, 'a', sizeof s - at - 1);
            w += sizeof s - at - 1;
            want[w++] = '"';
            want[w] = 0;
            if (strcmp(o, want) != 0) fail_msg("byte 0x%02x at %zu: %s, not %s", c, at, o, want);
            free(o);
        }
        free(alone);
    }
}

/* The writer's output worked out byte by byte, with none of its shortcuts:
 * what its word-at-a-time scans must give for any string. */
static void ref_string(mx_buf *b, const unsigned char *s, size_t n) {
    mx_buf_putc(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c == '"') mx_buf_puts(b, "\\\"");
        else if (c == '\\') mx_buf_puts(b, "\\\\");
        else if (c == '\n') mx_buf_puts(b, "\\n");
        else if (c == '\r') mx_buf_puts(b, "\\r");
        else if (c == '\t') mx_buf_puts(b, "\\t");
        else if (c < 0x20 || c == 0x7F) mx_buf_printf(b, "\\u%04x", c);
        else if (c < 0x80) mx_buf_putc(b, (char)c);
        else {
            unsigned cp;
            size_t l = mx_utf8_seq(s + i, n - i, &cp), il;
            if (!l) { mx_buf_puts(b, "\\ufffd"); i++; continue; }
            unsigned inv = mx_esc_invisible_at(s + i, n - i, &il);
            if (inv) mx_buf_printf(b, "\\u%04x", inv);
            else mx_buf_put(b, s + i, l);
            i += l;
            continue;
        }
        i++;
    }
    mx_buf_putc(b, '"');
}

/* Each kind of byte or sequence the writer does not copy as it is (and the
 * plain bytes next to the special ones in value: ' ', '!', '#', '[', ']',
 * '~'), alone and in pairs, at every place of strings of every length up
 * to 40 (each path of the scan: under 4, 4-7, 8-15, 16 and more, words
 * overlapping at the end), and after output of every length mod 16 already
 * in the buffer; as a string, a string's body and an object's key. */
static void escaping_every_length(void **state) {
    (void)state;
    static const char *const piece[] = {
        "\"", "\\", "\n", "\r", "\t", "\x01", "\x1f", "\x7f", "\x80", "\xff", "\xc3\xa9", "\xc2\x9b",
        "\xe2\x80\xa8", "\xe2\x80\xae", "\xf0\x9f\x98\x80", "\xe2\x80", "\xc3", "\xed\xa0\x80", " ", "!", "#",
        "[", "]", "~", "\0",
    };
    static const char filler[] = "a !#[]~z0A";
    size_t npiece = sizeof piece / sizeof *piece;
    mx_buf got = MX_BUF_INIT, want = MX_BUF_INIT;
    unsigned char s[64];
    size_t checked = 0;
    for (size_t len = 0; len <= 40; len++) {
        for (size_t p = 0; p < npiece; p++) {
            for (size_t q = 0; q <= npiece; q++) { /* q == npiece: one piece only */
                if (q < npiece && len > 20 && q != p) continue; /* pairs: in the shorter strings */
                for (size_t at = 0; at <= len; at++) {
                    size_t pl = p == npiece - 1 ? 1 : strlen(piece[p]);
                    size_t ql = q == npiece ? 0 : q == npiece - 1 ? 1 : strlen(piece[q]);
                    if (at + pl + ql > len) break;
                    for (size_t i = 0; i < len; i++) s[i] = (unsigned char)filler[(i + len) % (sizeof filler - 1)];
                    memcpy(s + at, piece[p], pl);
                    size_t at2 = len - ql - (at % 3); /* the second piece: near the end */
                    if (ql && at2 >= at + pl) memcpy(s + at2, piece[q], ql);
                    size_t pre = (at + len) % 16;
                    mx_buf_reset(&got);
                    mx_buf_reset(&want);
                    for (size_t i = 0; i < pre; i++) { mx_buf_putc(&got, 'x'); mx_buf_putc(&want, 'x'); }
                    mx_json_write_string(&got, (const char *)s, len);
                    ref_string(&want, s, len);
                    if (got.len != want.len || memcmp(got.data, want.data, got.len) != 0 || got.data[got.len] != 0)
                        fail_msg("len %zu, piece %zu at %zu, piece %zu: %s, not %s", len, p, at, q, got.data, want.data);
                    /* the body alone: the same bytes without the quotes */
                    mx_buf_reset(&got);
                    mx_json_write_string_body(&got, (const char *)s, len);
                    assert_int_equal(got.len, want.len - pre - 2);
                    assert_memory_equal(got.data, want.data + pre + 1, got.len);
                    checked++;
                }
            }
        }
    }
    assert_true(checked > 10000);
    /* keys: written from a C string (no NUL piece) */
    for (size_t len = 1; len <= 40; len++) {
        for (size_t p = 0; p + 1 < npiece; p++) {
            size_t pl = strlen(piece[p]);
            for (size_t at = 0; at + pl <= len; at++) {
                char k[64];
                for (size_t i = 0; i < len; i++) k[i] = filler[(i + 3) % (sizeof filler - 1)];
                memcpy(k + at, piece[p], pl);
                k[len] = 0;
                mx_json *o = mx_json_obj();
                mx_json_append(o, k, mx_json_int(-7));
                mx_json_append(o, "b", mx_json_str(k));
                mx_buf_reset(&got);
                mx_buf_reset(&want);
                mx_json_write(&got, o, -1);
                mx_buf_putc(&want, '{');
                ref_string(&want, (const unsigned char *)k, len);
                mx_buf_puts(&want, ":-7,\"b\":");
                ref_string(&want, (const unsigned char *)k, len);
                mx_buf_putc(&want, '}');
                assert_string_equal(got.data, want.data);
                mx_json_free(o);
            }
        }
    }
    mx_buf_free(&got);
    mx_buf_free(&want);
}

/* Long strings: the buffer grows while a string with escapes late in it is
 * written (the writer's room made per piece, not only once); strings of
 * nothing but escapes (6 bytes out per byte in, more than the room made for
 * the string at first) into a new buffer of every length: a writer making
 * too little room for an escape writes past the buffer (ASan build). */
static void escaping_long(void **state) {
    (void)state;
    static const char *const dense[] = {"\x01", "\"", "\xe2\x80\xa8", "\xff"};
    for (size_t d = 0; d < 4; d++) {
        size_t pl = strlen(dense[d]);
        for (size_t reps = 1; reps <= 150; reps++) {
            unsigned char s[600];
            for (size_t i = 0; i < reps; i++) memcpy(s + i * pl, dense[d], pl);
            mx_buf got = MX_BUF_INIT, want = MX_BUF_INIT;
            mx_json_write_string(&got, (const char *)s, reps * pl);
            ref_string(&want, s, reps * pl);
            assert_int_equal(got.len, want.len);
            assert_string_equal(got.data, want.data);
            mx_buf_free(&got);
            mx_buf_free(&want);
        }
    }
    for (size_t len = 100; len < 5000; len = len * 3 / 2 + 7) {
        unsigned char *s = malloc(len);
        for (size_t i = 0; i < len; i++) s[i] = (unsigned char)('a' + i % 26);
        for (size_t i = len / 2; i < len; i += 7) s[i] = i % 2 ? '"' : 0x01; /* escapes longer than the byte */
        mx_buf got = MX_BUF_INIT, want = MX_BUF_INIT;
        mx_json_write_string(&got, (const char *)s, len);
        ref_string(&want, s, len);
        assert_int_equal(got.len, want.len);
        assert_string_equal(got.data, want.data);
        mx_buf_free(&got);
        mx_buf_free(&want);
        free(s);
    }
}

/* A tree in an arena writes as the same tree on the heap, across several
 * blocks and a piece larger than a block; heap nodes attached to it later (a
 * replaced value, a key added by mx_json_set, an item pushed, a replaced
 * string) are freed by mx_json_free, the rest by mx_jarena_free (the ASan
 * build's leak check and poisoned gaps watch both). */
static mx_json *sample(mx_jarena *a, int i) {
    mx_json *o = mx_json_obj_in(a);
    char k[16];
    for (int j = 0; j < 9; j++) { /* grows past the first 4 slots twice */
        snprintf(k, sizeof k, "k%d", j);
        mx_json_append_in(a, o, k, j % 3 ? mx_json_int_in(a, i * 10 + j) : mx_json_str_in(a, "v\"\n"));
    }
    mx_json *arr = mx_json_append_in(a, o, "list", mx_json_arr_in(a));
    for (int j = 0; j < 6; j++) mx_json_push_in(a, arr, j % 2 ? mx_json_bool_in(a, j) : mx_json_null_in(a));
    mx_json_append_in(a, o, "n", mx_json_num_in(a, 1.5));
    return o;
}
static void arena_trees(void **state) {
    (void)state;
    mx_jarena *a = mx_jarena_new();
    mx_json *ar = mx_json_arr_in(a), *heap = mx_json_arr();
    for (int i = 0; i < 200; i++) { /* ~60 KB: several blocks */
        mx_json_push_in(a, ar, sample(a, i));
        mx_json_push(heap, sample(NULL, i));
    }
    char *big = malloc(20000); /* larger than a block's quarter: a block of its own */
    memset(big, 'x', 19999);
    big[19999] = 0;
    mx_json_push_in(a, ar, mx_json_str_in(a, big));
    mx_json_push(heap, mx_json_str(big));
    mx_buf wa = MX_BUF_INIT, wh = MX_BUF_INIT;
    mx_json_write(&wa, ar, -1);
    mx_json_write(&wh, heap, -1);
    assert_string_equal(mx_buf_cstr(&wa), mx_buf_cstr(&wh));
    /* heap parts attached later, to the arena tree and to the heap one alike */
    mx_json *targets[2] = {ar, heap};
    for (int t = 0; t < 2; t++) {
        mx_json *o = targets[t]->u.c.items[3];
        mx_json_set(o, "k1", mx_json_str("replaced"));   /* an arena item freed, a heap one in */
        mx_json_set(o, "added", mx_json_str("new"));     /* the arrays and keys move to the heap */
        mx_json_append(o, "added2", mx_json_obj());
        mx_json_push(mx_json_get(targets[t]->u.c.items[4], "list"), mx_json_str("pushed"));
        mx_json_str_replace(mx_json_get(targets[t]->u.c.items[5], "k0"), strdup("a heap string"));
        mx_json_set(mx_json_get(o, "added2"), "deep", mx_json_int(7));
    }
    mx_buf_reset(&wa);
    mx_buf_reset(&wh);
    mx_json_write(&wa, ar, -1);
    mx_json_write(&wh, heap, -1);
    assert_string_equal(mx_buf_cstr(&wa), mx_buf_cstr(&wh));
    assert_non_null(strstr(mx_buf_cstr(&wa), "\"k1\":\"replaced\""));
    assert_non_null(strstr(mx_buf_cstr(&wa), "\"added2\":{\"deep\":7}"));
    mx_json *cl = mx_json_clone(ar); /* a clone is all heap: outlives the arena */
    mx_json_free(ar);
    mx_jarena_free(a);
    mx_buf_reset(&wa);
    mx_json_write(&wa, cl, -1);
    assert_string_equal(mx_buf_cstr(&wa), mx_buf_cstr(&wh));
    mx_json_free(cl);
    mx_json_free(heap);
    mx_buf_free(&wa);
    mx_buf_free(&wh);
    free(big);
    mx_jarena_free(NULL);
}

/* A flat copy (report:finding's cached findings, one per check) writes as
 * its source, every kind of node and an empty array and object in it, from
 * a heap tree and from an arena one; each copy is its own (a value replaced,
 * a key added, a string replaced in one changes neither the source nor
 * another copy), and mx_json_free + mx_jarena_free free it all (ASan). */
static void flat_copies(void **state) {
    (void)state;
    mx_jarena *src_a = mx_jarena_new(), *a = mx_jarena_new();
    for (int from_arena = 0; from_arena < 2; from_arena++) {
        mx_jarena *sa = from_arena ? src_a : NULL;
        mx_json *src = sample(sa, 7);
        mx_json_append_in(sa, src, "empty_arr", mx_json_arr_in(sa));
        mx_json_append_in(sa, src, "empty_obj", mx_json_obj_in(sa));
        mx_json_append_in(sa, src, "a key of some length, not a multiple of 8", mx_json_strn_in(sa, "x\0y", 3));
        mx_json_append_in(sa, src, "nested", sample(sa, 8));
        mx_buf want = MX_BUF_INIT, got = MX_BUF_INIT;
        mx_json_write(&want, src, -1);
        size_t size = mx_json_flat_size(src);
        mx_json *c1 = mx_json_clone_flat_in(a, src, size), *c2 = mx_json_clone_flat_in(a, src, size);
        mx_json_write(&got, c1, -1);
        assert_string_equal(mx_buf_cstr(&got), mx_buf_cstr(&want));
        assert_int_equal(mx_json_get(c1, "empty_arr")->u.c.len, 0);
        /* what a site override does to its check's finding */
        mx_json_str_replace(mx_json_get(c1, "k0"), strdup("overridden"));
        mx_json_set(c1, "added", mx_json_str("site"));
        mx_json_set(mx_json_get(c1, "nested"), "k1", mx_json_str("replaced"));
        mx_json_push(mx_json_get(c1, "list"), mx_json_int(1));
        mx_buf_reset(&got);
        mx_json_write(&got, c2, -1);
        assert_string_equal(mx_buf_cstr(&got), mx_buf_cstr(&want));
        mx_buf_reset(&got);
        mx_json_write(&got, src, -1);
        assert_string_equal(mx_buf_cstr(&got), mx_buf_cstr(&want));
        mx_buf_reset(&got);
        mx_json_write(&got, c1, -1);
        assert_non_null(strstr(mx_buf_cstr(&got), "\"k0\":\"overridden\""));
        assert_non_null(strstr(mx_buf_cstr(&got), "\"added\":\"site\""));
        mx_json_free(c1);
        mx_json_free(c2);
        mx_json_free(src);
        mx_buf_free(&want);
        mx_buf_free(&got);
    }
    mx_jarena_free(a);
    mx_jarena_free(src_a);
}

/* Object keys (written by their own one-pass path), a string's body, and
 * objects made at their size with borrowed keys: the same bytes as the
 * general writer, whatever the key holds. */
static void keys_and_sized_objects(void **state) {
    (void)state;
    static const char *const keys[] = {"host", "", "a\"b", "back\\slash", "tab\there", "\x01ctl", "caf\xc3\xa9",
                                       "\xff bad", "c1\xc2\x9b", "del\x7f", "a_rather_long_plain_key_of_forty_bytes__", NULL};
    for (const char *const *k = keys; *k; k++) {
        mx_json *o = mx_json_obj();
        mx_json_set(o, *k, mx_json_int(1));
        mx_buf w = MX_BUF_INIT, want = MX_BUF_INIT;
        mx_json_write(&w, o, -1);
        mx_buf_putc(&want, '{');
        mx_json_write_string(&want, *k, strlen(*k));
        mx_buf_puts(&want, ":1}");
        assert_string_equal(mx_buf_cstr(&w), mx_buf_cstr(&want));
        /* the body: the literal without its quotes */
        mx_buf_reset(&w);
        mx_json_write_string_body(&w, *k, strlen(*k));
        char *lit = write_str(*k, strlen(*k));
        assert_int_equal(w.len, strlen(lit) - 2);
        assert_memory_equal(w.data ? w.data : "", lit + 1, w.len);
        free(lit);
        mx_buf_free(&w);
        mx_buf_free(&want);
        mx_json_free(o);
    }
    /* sized objects, in an arena with borrowed keys and on the heap, grown
     * past their size by plain calls (the arena one's keys then copied) */
    mx_jarena *a = mx_jarena_new();
    mx_json *ao = mx_json_obj_sized_in(a, 2), *ho = mx_json_obj_sized_in(NULL, 2), *ref = mx_json_obj();
    mx_json *objs[3] = {ao, ho, ref};
    for (int t = 0; t < 3; t++) {
        if (t == 0) {
            mx_json_append_lit_in(a, ao, "b", mx_json_str_in(a, "x"));
            mx_json_append_lit_in(a, ao, "a\n", mx_json_int_in(a, 2));
        } else {
            mx_json_append_in(NULL, objs[t], "b", mx_json_str("x"));
            mx_json_append_in(NULL, objs[t], "a\n", mx_json_int(2));
        }
        mx_json_set(objs[t], "c", mx_json_str("grown"));
        mx_json_set(objs[t], "b", mx_json_bool(1));
    }
    assert_int_equal(ao->u.c.len, 3);
    mx_buf w[3] = {MX_BUF_INIT, MX_BUF_INIT, MX_BUF_INIT};
    for (int t = 0; t < 3; t++) mx_json_write(&w[t], objs[t], -1);
    assert_string_equal(mx_buf_cstr(&w[2]), "{\"b\":true,\"a\\n\":2,\"c\":\"grown\"}");
    assert_string_equal(mx_buf_cstr(&w[0]), mx_buf_cstr(&w[2]));
    assert_string_equal(mx_buf_cstr(&w[1]), mx_buf_cstr(&w[2]));
    for (int t = 0; t < 3; t++) mx_buf_free(&w[t]);
    mx_json_free(ao);
    mx_jarena_free(a);
    mx_json_free(ho);
    mx_json_free(ref);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escaping), cmocka_unit_test(escaping_in_runs), cmocka_unit_test(escaping_every_length), cmocka_unit_test(escaping_long), cmocka_unit_test(roundtrip_binary), cmocka_unit_test(tree_write),
        cmocka_unit_test(int_write), cmocka_unit_test(append_clone),
        cmocka_unit_test(parse_errors), cmocka_unit_test(parse_values), cmocka_unit_test(arena_trees), cmocka_unit_test(flat_copies),
        cmocka_unit_test(keys_and_sized_objects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
