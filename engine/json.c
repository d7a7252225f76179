#include "json.h"
#include "escape.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MX_JSON_MAX_DEPTH 64

/* ---- arena ---- */
typedef struct ablk {
    struct ablk *next;
    size_t cap, used;
    unsigned char data[]; /* 8-aligned: after three words */
} ablk;
struct mx_jarena {
    ablk *head;
};
#define ARENA_FIRST 8192 /* a domain's findings fit in one block (about 6 KB) */
#define ARENA_NEXT 16384

/* Under AddressSanitizer a block is poisoned but for the pieces handed out,
 * each followed by a poisoned gap of 8 bytes: reading or writing past a node,
 * a string or an array is reported as with malloc. */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN 1
#endif
#endif
#ifdef ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define ARENA_GAP 8
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define ARENA_GAP 0
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

mx_jarena *mx_jarena_new(void) {
    /* the arena and its first block: one allocation */
    mx_jarena *a = mx_xmalloc(sizeof *a + sizeof(ablk) + ARENA_FIRST);
    ablk *b = (ablk *)(a + 1);
    b->next = NULL;
    b->cap = ARENA_FIRST;
    b->used = 0;
    POISON(b->data, b->cap);
    a->head = b;
    return a;
}
void mx_jarena_free(mx_jarena *a) {
    if (!a) return;
    ablk *first = (ablk *)(a + 1);
    for (ablk *b = a->head, *n; b; b = n) {
        n = b->next;
        UNPOISON(b->data, b->cap);
        if (b != first) free(b);
    }
    free(a);
}
static void *aalloc(mx_jarena *a, size_t want) {
    size_t n = ((want + 7) & ~(size_t)7) + ARENA_GAP;
    ablk *b = a->head;
    if (b->cap - b->used < n) {
        size_t cap = n > ARENA_NEXT / 4 ? n : ARENA_NEXT;
        ablk *nb = mx_xmalloc(sizeof *nb + cap);
        nb->cap = cap;
        nb->used = 0;
        if (cap != ARENA_NEXT) {
            /* a large piece gets a block of its own, behind the current one */
            nb->next = b->next;
            b->next = nb;
            nb->used = n;
            POISON(nb->data, nb->cap);
            UNPOISON(nb->data, want);
            return nb->data;
        }
        nb->next = b;
        POISON(nb->data, nb->cap);
        a->head = b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    UNPOISON(p, want);
    return p;
}

void *mx_jarena_alloc(mx_jarena *a, size_t n) { return aalloc(a, n); }

static mx_json *jnew(mx_jtype t) {
    mx_json *v = mx_xcalloc(1, sizeof *v);
    v->type = t;
    return v;
}
static mx_json *jnew_in(mx_jarena *a, mx_jtype t) {
    if (!a) return jnew(t);
    mx_json *v = aalloc(a, sizeof *v);
    memset(v, 0, sizeof *v);
    v->type = t;
    v->arena = MX_JA_NODE | (t == MX_JARR || t == MX_JOBJ ? MX_JA_ARR : 0);
    return v;
}
mx_json *mx_json_null(void) { return jnew(MX_JNULL); }
mx_json *mx_json_bool(int b) { mx_json *v = jnew(MX_JBOOL); v->u.b = !!b; return v; }
mx_json *mx_json_int(long long i) { mx_json *v = jnew(MX_JINT); v->u.i = i; return v; }
mx_json *mx_json_num(double n) { mx_json *v = jnew(MX_JNUM); v->u.n = n; return v; }
mx_json *mx_json_null_in(mx_jarena *a) { return jnew_in(a, MX_JNULL); }
mx_json *mx_json_bool_in(mx_jarena *a, int b) { mx_json *v = jnew_in(a, MX_JBOOL); v->u.b = !!b; return v; }
mx_json *mx_json_int_in(mx_jarena *a, long long i) { mx_json *v = jnew_in(a, MX_JINT); v->u.i = i; return v; }
mx_json *mx_json_num_in(mx_jarena *a, double n) { mx_json *v = jnew_in(a, MX_JNUM); v->u.n = n; return v; }
/* A string's bytes live in the node's own allocation, right after it: one
 * malloc and one free per string instead of two (trees are built and freed
 * for every answer, finding and result written). */
#define INLINE_STR(v) ((char *)((v) + 1))
mx_json *mx_json_strn_in(mx_jarena *a, const char *s, size_t n) {
    mx_json *v = a ? aalloc(a, sizeof *v + n + 1) : mx_xmalloc(sizeof *v + n + 1);
    memset(v, 0, sizeof *v);
    v->type = MX_JSTR;
    v->arena = a ? MX_JA_NODE : 0;
    v->u.str.s = INLINE_STR(v);
    memcpy(v->u.str.s, s, n);
    v->u.str.s[n] = 0;
    v->u.str.len = n;
    return v;
}
mx_json *mx_json_strn(const char *s, size_t n) { return mx_json_strn_in(NULL, s, n); }
mx_json *mx_json_str_in(mx_jarena *a, const char *s) { return mx_json_strn_in(a, s ? s : "", s ? strlen(s) : 0); }
void mx_json_str_replace(mx_json *v, char *s) {
    if (v->u.str.s != INLINE_STR(v)) free(v->u.str.s);
    v->u.str.s = s;
    v->u.str.len = strlen(s);
}
mx_json *mx_json_str(const char *s) { return mx_json_strn(s ? s : "", s ? strlen(s) : 0); }
mx_json *mx_json_arr(void) { return jnew(MX_JARR); }
mx_json *mx_json_obj(void) { return jnew(MX_JOBJ); }
mx_json *mx_json_arr_in(mx_jarena *a) { return jnew_in(a, MX_JARR); }
mx_json *mx_json_obj_in(mx_jarena *a) { return jnew_in(a, MX_JOBJ); }
mx_json *mx_json_obj_sized_in(mx_jarena *a, size_t cap) {
    mx_json *o = jnew_in(a, MX_JOBJ);
    if (!cap) return o;
    o->u.c.items = a ? aalloc(a, cap * sizeof *o->u.c.items) : mx_xmalloc(cap * sizeof *o->u.c.items);
    o->u.c.keys = a ? aalloc(a, cap * sizeof *o->u.c.keys) : mx_xmalloc(cap * sizeof *o->u.c.keys);
    o->u.c.cap = cap;
    return o;
}

static void cgrow(mx_json *c) {
    if (c->arena & MX_JA_ARR) {
        /* grown by a plain call (a site override adding a field): the arrays
         * and keys move to the heap, where mx_json_free frees them */
        size_t cap = c->u.c.cap ? c->u.c.cap * 2 : 4;
        mx_json **items = mx_xmalloc(cap * sizeof *items);
        if (c->u.c.len) memcpy(items, c->u.c.items, c->u.c.len * sizeof *items);
        char **keys = NULL;
        if (c->type == MX_JOBJ) {
            keys = mx_xmalloc(cap * sizeof *keys);
            for (size_t i = 0; i < c->u.c.len; i++) keys[i] = mx_xstrdup(c->u.c.keys[i]);
        }
        c->u.c.items = items;
        c->u.c.keys = keys;
        c->u.c.cap = cap;
        c->arena &= (unsigned char)~MX_JA_ARR;
        return;
    }
    if (c->u.c.len < c->u.c.cap) return;
    size_t cap = c->u.c.cap ? c->u.c.cap * 2 : 4;
    c->u.c.items = mx_xrealloc(c->u.c.items, cap * sizeof *c->u.c.items);
    if (c->type == MX_JOBJ) c->u.c.keys = mx_xrealloc(c->u.c.keys, cap * sizeof *c->u.c.keys);
    c->u.c.cap = cap;
}
/* 1 when c's arrays are (and stay) in a */
static int cgrow_in(mx_jarena *a, mx_json *c) {
    if (!a || !(c->arena & MX_JA_ARR)) { cgrow(c); return 0; }
    if (c->u.c.len < c->u.c.cap) return 1;
    size_t cap = c->u.c.cap ? c->u.c.cap * 2 : 4;
    mx_json **items = aalloc(a, cap * sizeof *items);
    if (c->u.c.len) memcpy(items, c->u.c.items, c->u.c.len * sizeof *items);
    c->u.c.items = items;
    if (c->type == MX_JOBJ) {
        char **keys = aalloc(a, cap * sizeof *keys);
        if (c->u.c.len) memcpy(keys, c->u.c.keys, c->u.c.len * sizeof *keys);
        c->u.c.keys = keys;
    }
    c->u.c.cap = cap;
    return 1;
}
mx_json *mx_json_push(mx_json *arr, mx_json *v) {
    cgrow(arr);
    arr->u.c.items[arr->u.c.len++] = v;
    return v;
}
mx_json *mx_json_push_in(mx_jarena *a, mx_json *arr, mx_json *v) {
    cgrow_in(a, arr);
    arr->u.c.items[arr->u.c.len++] = v;
    return v;
}
mx_json *mx_json_set(mx_json *obj, const char *key, mx_json *v) {
    for (size_t i = 0; i < obj->u.c.len; i++) {
        if (strcmp(obj->u.c.keys[i], key) == 0) {
            mx_json_free(obj->u.c.items[i]);
            obj->u.c.items[i] = v;
            return v;
        }
    }
    cgrow(obj);
    obj->u.c.keys[obj->u.c.len] = mx_xstrdup(key);
    obj->u.c.items[obj->u.c.len++] = v;
    return v;
}
mx_json *mx_json_append_owned(mx_json *obj, char *key, mx_json *v) {
    cgrow(obj);
    obj->u.c.keys[obj->u.c.len] = key;
    obj->u.c.items[obj->u.c.len++] = v;
    return v;
}
mx_json *mx_json_append(mx_json *obj, const char *key, mx_json *v) {
    return mx_json_append_owned(obj, mx_xstrdup(key), v);
}
mx_json *mx_json_append_in(mx_jarena *a, mx_json *obj, const char *key, mx_json *v) {
    char *k;
    if (cgrow_in(a, obj)) {
        size_t n = strlen(key) + 1;
        k = aalloc(a, n);
        memcpy(k, key, n);
    } else {
        k = mx_xstrdup(key);
    }
    obj->u.c.keys[obj->u.c.len] = k;
    obj->u.c.items[obj->u.c.len++] = v;
    return v;
}
mx_json *mx_json_append_lit_in(mx_jarena *a, mx_json *obj, const char *key, mx_json *v) {
    /* an arena object's keys are never freed one by one, and cgrow copies
     * them when it moves the arrays to the heap */
    char *k = cgrow_in(a, obj) ? (char *)key : mx_xstrdup(key);
    obj->u.c.keys[obj->u.c.len] = k;
    obj->u.c.items[obj->u.c.len++] = v;
    return v;
}
mx_json *mx_json_get(const mx_json *obj, const char *key) {
    if (!obj || obj->type != MX_JOBJ) return NULL;
    /* the first byte compared here: most keys differ in it (no strcmp call) */
    for (size_t i = 0; i < obj->u.c.len; i++) {
        const char *k = obj->u.c.keys[i];
        if (k[0] == key[0] && strcmp(k, key) == 0) return obj->u.c.items[i];
    }
    return NULL;
}
const char *mx_json_get_str(const mx_json *obj, const char *key) {
    mx_json *v = mx_json_get(obj, key);
    return v && v->type == MX_JSTR ? v->u.str.s : NULL;
}
mx_json *mx_json_clone(const mx_json *v) {
    if (!v) return NULL;
    switch (v->type) {
    case MX_JNULL: return mx_json_null();
    case MX_JBOOL: return mx_json_bool(v->u.b);
    case MX_JINT: return mx_json_int(v->u.i);
    case MX_JNUM: return mx_json_num(v->u.n);
    case MX_JSTR: return mx_json_strn(v->u.str.s, v->u.str.len);
    case MX_JARR: {
        mx_json *a = mx_json_arr();
        for (size_t i = 0; i < v->u.c.len; i++) mx_json_push(a, mx_json_clone(v->u.c.items[i]));
        return a;
    }
    case MX_JOBJ: {
        /* an object's keys are distinct (mx_json_set replaces): no search */
        mx_json *o = mx_json_obj();
        for (size_t i = 0; i < v->u.c.len; i++)
            mx_json_append(o, v->u.c.keys[i], mx_json_clone(v->u.c.items[i]));
        return o;
    }
    }
    return NULL;
}
/* The flat copy: a tree laid out in one piece (mx_json_flat_size bytes),
 * each node as the _in constructors make it (a string inline after its node,
 * a container's arrays and keys in the arena): one arena allocation per copy
 * instead of one per piece. */
#define A8(n) (((n) + 7) & ~(size_t)7)
size_t mx_json_flat_size(const mx_json *v) {
    switch (v->type) {
    case MX_JSTR: return A8(sizeof *v + v->u.str.len + 1);
    case MX_JARR: case MX_JOBJ: {
        size_t n = v->u.c.len, s = A8(sizeof *v) + A8(n * sizeof *v->u.c.items), k = 0;
        if (v->type == MX_JOBJ && n) {
            for (size_t i = 0; i < n; i++) k += strlen(v->u.c.keys[i]) + 1;
            s += A8(n * sizeof *v->u.c.keys) + A8(k);
        }
        for (size_t i = 0; i < n; i++) s += mx_json_flat_size(v->u.c.items[i]);
        return s;
    }
    default: return A8(sizeof *v);
    }
}
static mx_json *flat_copy(const mx_json *v, unsigned char **p) {
    mx_json *c = (mx_json *)*p;
    *c = *v;
    c->arena = MX_JA_NODE;
    if (v->type == MX_JSTR) {
        c->u.str.s = INLINE_STR(c);
        memcpy(c->u.str.s, v->u.str.s, v->u.str.len);
        c->u.str.s[v->u.str.len] = 0;
        *p += A8(sizeof *v + v->u.str.len + 1);
        return c;
    }
    *p += A8(sizeof *v);
    if (v->type != MX_JARR && v->type != MX_JOBJ) return c;
    size_t n = v->u.c.len;
    c->arena |= MX_JA_ARR;
    c->u.c.cap = n;
    c->u.c.items = NULL;
    c->u.c.keys = NULL;
    if (!n) return c;
    c->u.c.items = (mx_json **)*p;
    *p += A8(n * sizeof *c->u.c.items);
    if (v->type == MX_JOBJ) {
        c->u.c.keys = (char **)*p;
        *p += A8(n * sizeof *c->u.c.keys);
        char *kb = (char *)*p;
        for (size_t i = 0; i < n; i++) {
            size_t l = strlen(v->u.c.keys[i]) + 1;
            memcpy(kb, v->u.c.keys[i], l);
            c->u.c.keys[i] = kb;
            kb += l;
        }
        *p += A8((size_t)(kb - (char *)*p));
    }
    for (size_t i = 0; i < n; i++) c->u.c.items[i] = flat_copy(v->u.c.items[i], p);
    return c;
}
mx_json *mx_json_clone_flat_in(mx_jarena *a, const mx_json *v, size_t size) {
    unsigned char *p = aalloc(a, size), *start = p;
    mx_json *c = flat_copy(v, &p);
    if ((size_t)(p - start) != size) { /* a size not of this tree: a bug, never an overrun ignored */
        fputs("mxdiag: mx_json_clone_flat_in: size mismatch\n", stderr);
        abort();
    }
    return c;
}
void mx_json_free(mx_json *v) {
    if (!v) return;
    if (v->type == MX_JSTR && v->u.str.s != INLINE_STR(v)) free(v->u.str.s);
    if (v->type == MX_JARR || v->type == MX_JOBJ) {
        /* an arena node's children may be heap nodes (attached later) */
        int heap = !(v->arena & MX_JA_ARR);
        for (size_t i = 0; i < v->u.c.len; i++) {
            mx_json_free(v->u.c.items[i]);
            if (heap && v->u.c.keys) free(v->u.c.keys[i]);
        }
        if (heap) {
            free(v->u.c.items);
            free(v->u.c.keys);
        }
    }
    if (!(v->arena & MX_JA_NODE)) free(v);
}


/* 1 for the bytes a JSON string holds as they are: printable ASCII but '"'
 * and '\\' (one load per byte instead of four comparisons) */
static const unsigned char plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* ---- writer ----
 * A cursor into the buffer: room is made once per value (a string, a number,
 * a key with its punctuation), not once per byte or character; b->len and the
 * NUL after it are set when the writing is done (jw_done). */
typedef struct {
    mx_buf *b;
    char *p, *end; /* end: the last byte of b's room (kept for the NUL) */
} jw;

static void jw_init(jw *w, mx_buf *b) {
    if (!b->data) mx_buf_reserve(b, 0);
    w->b = b;
    w->p = b->data + b->len;
    w->end = b->data + b->cap - 1;
}
static void jw_done(jw *w) {
    w->b->len = (size_t)(w->p - w->b->data);
    *w->p = 0;
}
static void jw_grow(jw *w, size_t n) {
    mx_buf *b = w->b;
    b->len = (size_t)(w->p - b->data);
    mx_buf_reserve(b, n);
    w->p = b->data + b->len;
    w->end = b->data + b->cap - 1;
}
/* room for n more bytes at w->p */
static inline void jw_need(jw *w, size_t n) {
    if ((size_t)(w->end - w->p) < n) jw_grow(w, n);
}
#define JW_LIT(w, lit) (jw_need((w), sizeof lit - 1), memcpy((w)->p, lit, sizeof lit - 1), (w)->p += sizeof lit - 1)

/* The high bit of each of x's 8 bytes that is not plain (above): a control
 * byte, '"', '\\', DEL or a byte >= 0x80. Exact for every byte: each sum is
 * over a byte's low 7 bits and carries at most into its own high bit. */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
static inline uint64_t special8(uint64_t x) {
    uint64_t y = x & ~HIGHS;
    uint64_t ctl = ~(y + ONES * (0x80 - 0x20));         /* y < 0x20 */
    uint64_t quo = ~((y ^ (ONES * '"')) + ONES * 0x7F);  /* y == '"' */
    uint64_t bsl = ~((y ^ (ONES * '\\')) + ONES * 0x7F); /* y == '\\' */
    uint64_t del = y + ONES;                             /* y == 0x7F */
    return (x | ctl | quo | bsl | del) & HIGHS;
}
/* SSE2 (every x86-64) scans 16 bytes at a time; MX_JSON_NO_SSE2 (for its
 * tests) or another machine: 8-byte words */
#if defined(__SSE2__) && !defined(MX_JSON_NO_SSE2)
#define JSON_SSE2 1
#else
#define JSON_SSE2 0
/* the offset of the first byte (in memory order) special8 marked in m (not 0)
 * (MX_JSON_NO_SSE2: this scan on SSE2 machines too, for its tests) */
static inline size_t first8(uint64_t m) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return (size_t)__builtin_clzll(m) >> 3;
#else
    return (size_t)__builtin_ctzll(m) >> 3;
#endif
}
#endif

#if JSON_SSE2
#include <emmintrin.h>
/* Bit k set for each byte k of v that is not plain: one signed compare
 * takes the controls, DEL and the bytes >= 0x80 at once. */
static inline unsigned special16(__m128i v) {
    /* v + 1 (wrapping) below 0x21 as a signed byte: v < 0x20, DEL, v >= 0x80 */
    __m128i ctl = _mm_cmpgt_epi8(_mm_set1_epi8(0x21), _mm_add_epi8(v, _mm_set1_epi8(1)));
    __m128i quo = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
    __m128i bsl = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(ctl, _mm_or_si128(quo, bsl)));
}
#endif

/* Copies the plain bytes s[0..n) starts with to o (room for n there) and
 * returns how many: 16 (SSE2) or 8 at a time, the last (overlapping) word for
 * the rest; a byte that is not plain stops it (bytes after it may be copied
 * too, and are written over by what follows). */
static inline size_t copy_plain(char *o, const unsigned char *s, size_t n) {
    uint64_t x, m;
    size_t i = 0;
#if JSON_SSE2
    unsigned k;
    if (n >= 16) {
        __m128i v;
        for (; i + 16 <= n; i += 16) {
            v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
            _mm_storeu_si128((__m128i *)(void *)(o + i), v);
            if ((k = special16(v))) return i + (size_t)__builtin_ctz(k);
        }
        if (i == n) return n;
        /* the bytes before i are plain: a mark is at i or after */
        v = _mm_loadu_si128((const __m128i *)(const void *)(s + n - 16));
        _mm_storeu_si128((__m128i *)(void *)(o + n - 16), v);
        if ((k = special16(v))) return n - 16 + (size_t)__builtin_ctz(k);
        return n;
    }
    if (n >= 8) {
        /* the first and the last 8 bytes (overlapping) in one vector */
        uint64_t z;
        memcpy(&x, s, 8);
        memcpy(&z, s + n - 8, 8);
        memcpy(o, &x, 8);
        memcpy(o + n - 8, &z, 8);
        if (!(k = special16(_mm_set_epi64x((long long)z, (long long)x)))) return n;
        k = (unsigned)__builtin_ctz(k);
        return k < 8 ? k : n - 16 + k;
    }
#else
    if (n >= 8) {
        for (; i + 8 <= n; i += 8) {
            memcpy(&x, s + i, 8);
            memcpy(o + i, &x, 8);
            if ((m = special8(x))) return i + first8(m);
        }
        if (i == n) return n;
        /* the bytes before i are plain: a mark is at i or after */
        memcpy(&x, s + n - 8, 8);
        memcpy(o + n - 8, &x, 8);
        if ((m = special8(x))) return n - 8 + first8(m);
        return n;
    }
#endif
    if (n >= 4) {
        uint32_t a, z;
        memcpy(&a, s, 4);
        memcpy(&z, s + n - 4, 4);
        memcpy(o, &a, 4);
        memcpy(o + n - 4, &z, 4);
        /* both halves in one word; where a mark is, found byte by byte
         * (it stops before n: a byte in s[0..n) is not plain) */
        if ((m = special8((uint64_t)a | (uint64_t)z << 32)))
            while (plain[s[i]]) i++;
        else i = n;
        return i;
    }
    while (i < n && plain[s[i]]) { o[i] = (char)s[i]; i++; }
    return i;
}

static const char hexdig[] = "0123456789abcdef";
/* \u and 4 lowercase hex digits of c (<= 0xFFFF): "\\u%04x" */
static void put_u4(char *o, unsigned c) {
    o[0] = '\\';
    o[1] = 'u';
    o[2] = hexdig[(c >> 12) & 15];
    o[3] = hexdig[(c >> 8) & 15];
    o[4] = hexdig[(c >> 4) & 15];
    o[5] = hexdig[c & 15];
}

/* The rest of a string from s[i], a byte that is not plain: escapes, UTF-8
 * checks, and the plain runs between them. */
static void put_rest(jw *w, const unsigned char *s, size_t n, size_t i, int *lossy, int quotes) {
    while (i < n) {
        unsigned c = s[i];
        jw_need(w, 6); /* the longest escape; a UTF-8 sequence is at most 4 */
        char *o = w->p;
        if (c == '"' || c == '\\') { o[0] = '\\'; o[1] = (char)c; w->p += 2; i++; }
        else if (c == '\n') { o[0] = '\\'; o[1] = 'n'; w->p += 2; i++; }
        else if (c == '\r') { o[0] = '\\'; o[1] = 'r'; w->p += 2; i++; }
        else if (c == '\t') { o[0] = '\\'; o[1] = 't'; w->p += 2; i++; }
        else if (c < 0x80) { put_u4(o, c); w->p += 6; i++; } /* other controls, DEL */
        else {
            unsigned cp0;
            size_t l = mx_utf8_seq(s + i, n - i, &cp0);
            if (l == 0) { put_u4(o, 0xFFFD); w->p += 6; i++; if (lossy) *lossy = 1; }
            else {
                /* C1 controls, bidi controls, U+2028/9 as \u escapes too: a
                 * terminal showing the JSON must not obey them (escape.h) */
                size_t il;
                unsigned cp = mx_esc_invisible_at(s + i, n - i, &il);
                if (cp) { put_u4(o, cp); w->p += 6; } /* all <= U+FFFF */
                else { memcpy(o, s + i, l); w->p += l; }
                i += l;
            }
        }
        jw_need(w, n - i);
        size_t k = copy_plain(w->p, s + i, n - i);
        w->p += k;
        i += k;
    }
    if (quotes) { jw_need(w, 1); *w->p++ = '"'; }
}

/* A string, quoted or not: most (keys, codes, sentences) need no escape and
 * are copied at once into the room made for them. */
static inline void put_string(jw *w, const char *str, size_t n, int *lossy, int quotes) {
    const unsigned char *s = (const unsigned char *)str;
    jw_need(w, n + 2);
    if (quotes) *w->p++ = '"';
    size_t i = copy_plain(w->p, s, n);
    w->p += i;
    if (i == n) {
        if (quotes) *w->p++ = '"';
        return;
    }
    put_rest(w, s, n, i, lossy, quotes);
}

void mx_json_write_string(mx_buf *b, const char *s, size_t n) {
    jw w;
    jw_init(&w, b);
    put_string(&w, s, n, NULL, 1);
    jw_done(&w);
}
void mx_json_write_string_body(mx_buf *b, const char *s, size_t n) {
    jw w;
    jw_init(&w, b);
    put_string(&w, s, n, NULL, 0);
    jw_done(&w);
}

/* %lld without vsnprintf: numbers are in every evidence object and answer */
static void put_int(jw *w, long long i) {
    char d[24], *e = d + sizeof d, *q = e;
    unsigned long long u = i < 0 ? 0ULL - (unsigned long long)i : (unsigned long long)i;
    do { *--q = (char)('0' + u % 10); u /= 10; } while (u);
    if (i < 0) *--q = '-';
    jw_need(w, sizeof d);
    memcpy(w->p, q, (size_t)(e - q));
    w->p += e - q;
}

static void indent_to(jw *w, int indent, int depth) {
    if (indent < 0) return;
    size_t n = (size_t)indent * (size_t)depth;
    jw_need(w, n + 1);
    *w->p++ = '\n';
    memset(w->p, ' ', n);
    w->p += n;
}

static void write_rec(jw *w, const mx_json *v, int indent, int depth, int *lossy) {
    if (!v) { JW_LIT(w, "null"); return; }
    switch (v->type) {
    case MX_JNULL: JW_LIT(w, "null"); break;
    case MX_JBOOL: if (v->u.b) JW_LIT(w, "true"); else JW_LIT(w, "false"); break;
    case MX_JINT: put_int(w, v->u.i); break;
    case MX_JNUM: {
        /* reads back as null or an integer: not the same value type */
        char t[40];
        int l;
        if (!isfinite(v->u.n) || (v->u.n == floor(v->u.n) && fabs(v->u.n) < 1e15)) { if (lossy) *lossy = 1; }
        if (!isfinite(v->u.n)) l = snprintf(t, sizeof t, "null");
        else if (v->u.n == floor(v->u.n) && fabs(v->u.n) < 1e15) l = snprintf(t, sizeof t, "%.0f", v->u.n);
        else l = snprintf(t, sizeof t, "%.17g", v->u.n);
        if (l < 0) l = 0;
        if ((size_t)l >= sizeof t) l = sizeof t - 1; /* never: at most 24 characters */
        jw_need(w, (size_t)l);
        memcpy(w->p, t, (size_t)l);
        w->p += l;
        break;
    }
    case MX_JSTR: put_string(w, v->u.str.s, v->u.str.len, lossy, 1); break;
    case MX_JARR:
    case MX_JOBJ: {
        int obj = v->type == MX_JOBJ;
        jw_need(w, 1);
        *w->p++ = obj ? '{' : '[';
        for (size_t i = 0; i < v->u.c.len; i++) {
            const mx_json *x = v->u.c.items[i];
            if (obj && indent < 0) {
                /* the comma, a key of plain bytes (nearly all: short names)
                 * and its quotes and colon in one room, copied as they are
                 * found (no strlen); any other key through put_string */
                const char *k = v->u.c.keys[i];
                size_t kn = strlen(k);
                jw_need(w, kn + 4);
                char *o = w->p;
                if (i) *o++ = ',';
                *o++ = '"';
                size_t n = copy_plain(o, (const unsigned char *)k, kn);
                if (n == kn) {
                    o += n;
                    *o++ = '"';
                    *o++ = ':';
                    w->p = o;
                } else {
                    w->p = o - 1;
                    put_string(w, k, kn, lossy, 1);
                    jw_need(w, 1);
                    *w->p++ = ':';
                }
            } else {
                if (i) { jw_need(w, 1); *w->p++ = ','; }
                indent_to(w, indent, depth + 1);
                if (obj) {
                    const char *k = v->u.c.keys[i];
                    put_string(w, k, strlen(k), lossy, 1);
                    JW_LIT(w, ": ");
                }
            }
            /* a string (most values) without a call */
            if (x && x->type == MX_JSTR) put_string(w, x->u.str.s, x->u.str.len, lossy, 1);
            else write_rec(w, x, indent, depth + 1, lossy);
        }
        if (v->u.c.len) indent_to(w, indent, depth);
        jw_need(w, 1);
        *w->p++ = obj ? '}' : ']';
        break;
    }
    }
}
void mx_json_write(mx_buf *b, const mx_json *v, int indent) {
    jw w;
    jw_init(&w, b);
    write_rec(&w, v, indent, 0, NULL);
    jw_done(&w);
}
int mx_json_write_check(mx_buf *b, const mx_json *v) {
    int lossy = 0;
    jw w;
    jw_init(&w, b);
    write_rec(&w, v, -1, 0, &lossy);
    jw_done(&w);
    return !lossy;
}

/* ---- parser ---- */
typedef struct {
    const char *s;
    size_t n, i;
    char *err;
    size_t errlen;
    int failed;
} jp;

static void jfail(jp *p, const char *msg) {
    if (p->failed) return;
    p->failed = 1;
    if (p->err && p->errlen) snprintf(p->err, p->errlen, "%s at byte %zu", msg, p->i);
}
static void jws(jp *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r')) p->i++;
}
static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
static void put_utf8(mx_buf *b, unsigned cp) {
    if (cp < 0x80) mx_buf_putc(b, (char)cp);
    else if (cp < 0x800) { mx_buf_putc(b, (char)(0xC0 | (cp >> 6))); mx_buf_putc(b, (char)(0x80 | (cp & 0x3F))); }
    else if (cp < 0x10000) {
        mx_buf_putc(b, (char)(0xE0 | (cp >> 12))); mx_buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        mx_buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else {
        mx_buf_putc(b, (char)(0xF0 | (cp >> 18))); mx_buf_putc(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
        mx_buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F))); mx_buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    }
}
static int read_hex4(jp *p, unsigned *out) {
    if (p->i + 4 > p->n) return 0;
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p->s[p->i + k]);
        if (h < 0) return 0;
        v = v * 16 + (unsigned)h;
    }
    p->i += 4;
    *out = v;
    return 1;
}
static mx_json *jstring(jp *p) {
    mx_buf b = MX_BUF_INIT;
    p->i++; /* opening quote */
    while (p->i < p->n) {
        unsigned char c = (unsigned char)p->s[p->i];
        if (c == '"') {
            p->i++;
            mx_json *v = mx_json_strn(b.data ? b.data : "", b.len);
            mx_buf_free(&b);
            return v;
        }
        if (c < 0x20) { jfail(p, "control character in string"); break; }
        if (c == '\\') {
            p->i++;
            if (p->i >= p->n) break;
            char e = p->s[p->i++];
            switch (e) {
            case '"': mx_buf_putc(&b, '"'); break;
            case '\\': mx_buf_putc(&b, '\\'); break;
            case '/': mx_buf_putc(&b, '/'); break;
            case 'b': mx_buf_putc(&b, '\b'); break;
            case 'f': mx_buf_putc(&b, '\f'); break;
            case 'n': mx_buf_putc(&b, '\n'); break;
            case 'r': mx_buf_putc(&b, '\r'); break;
            case 't': mx_buf_putc(&b, '\t'); break;
            case 'u': {
                unsigned cp;
                if (!read_hex4(p, &cp)) { jfail(p, "bad \\u escape"); goto out; }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo;
                    if (p->i + 2 <= p->n && p->s[p->i] == '\\' && p->s[p->i + 1] == 'u') {
                        p->i += 2;
                        if (!read_hex4(p, &lo) || lo < 0xDC00 || lo > 0xDFFF) { jfail(p, "bad surrogate pair"); goto out; }
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    } else cp = 0xFFFD;
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) cp = 0xFFFD;
                put_utf8(&b, cp);
                break;
            }
            default: jfail(p, "bad escape"); goto out;
            }
            continue;
        }
        mx_buf_putc(&b, (char)c);
        p->i++;
    }
    jfail(p, "unterminated string");
out:
    mx_buf_free(&b);
    return NULL;
}
static mx_json *jvalue(jp *p, int depth);
static mx_json *jnumber(jp *p) {
    size_t st = p->i;
    int isfloat = 0;
    if (p->s[p->i] == '-') p->i++;
    if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9') { jfail(p, "bad number"); return NULL; }
    while (p->i < p->n) {
        char c = p->s[p->i];
        if (c >= '0' && c <= '9') p->i++;
        else if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') { isfloat = 1; p->i++; }
        else break;
    }
    char tmp[64];
    size_t len = p->i - st;
    if (len >= sizeof tmp) { jfail(p, "number too long"); return NULL; }
    memcpy(tmp, p->s + st, len);
    tmp[len] = 0;
    char *end;
    if (!isfloat) {
        long long v = strtoll(tmp, &end, 10);
        if (*end == 0) return mx_json_int(v);
    }
    double d = strtod(tmp, &end);
    if (*end) { jfail(p, "bad number"); return NULL; }
    return mx_json_num(d);
}
static int jlit(jp *p, const char *lit) {
    size_t l = strlen(lit);
    if (p->i + l <= p->n && memcmp(p->s + p->i, lit, l) == 0) { p->i += l; return 1; }
    return 0;
}
static mx_json *jvalue(jp *p, int depth) {
    if (depth > MX_JSON_MAX_DEPTH) { jfail(p, "nesting too deep"); return NULL; }
    jws(p);
    if (p->i >= p->n) { jfail(p, "unexpected end"); return NULL; }
    char c = p->s[p->i];
    if (c == '"') return jstring(p);
    if (c == '{' || c == '[') {
        int obj = c == '{';
        mx_json *v = obj ? mx_json_obj() : mx_json_arr();
        p->i++;
        jws(p);
        if (p->i < p->n && p->s[p->i] == (obj ? '}' : ']')) { p->i++; return v; }
        for (;;) {
            char *key = NULL;
            if (obj) {
                jws(p);
                if (p->i >= p->n || p->s[p->i] != '"') { jfail(p, "expected key"); break; }
                mx_json *k = jstring(p);
                if (!k) break;
                key = mx_xstrndup(k->u.str.s, k->u.str.len); mx_json_free(k);
                jws(p);
                if (p->i >= p->n || p->s[p->i] != ':') { free(key); jfail(p, "expected ':'"); break; }
                p->i++;
            }
            mx_json *item = jvalue(p, depth + 1);
            if (!item) { free(key); break; }
            if (obj) { mx_json_set(v, key, item); free(key); }
            else mx_json_push(v, item);
            jws(p);
            if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
            if (p->i < p->n && p->s[p->i] == (obj ? '}' : ']')) { p->i++; return v; }
            jfail(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
            break;
        }
        mx_json_free(v);
        return NULL;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return jnumber(p);
    if (jlit(p, "true")) return mx_json_bool(1);
    if (jlit(p, "false")) return mx_json_bool(0);
    if (jlit(p, "null")) return mx_json_null();
    jfail(p, "unexpected character");
    return NULL;
}
mx_json *mx_json_parse(const char *s, size_t n, char *err, size_t errlen) {
    jp p = {s, n, 0, err, errlen, 0};
    mx_json *v = jvalue(&p, 0);
    if (v) {
        jws(&p);
        if (p.i != p.n) { jfail(&p, "trailing data"); mx_json_free(v); return NULL; }
    }
    return v;
}
