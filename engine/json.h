/* A small JSON value tree: findings' evidence, recordings, reports.
 * Objects keep insertion order so that output is deterministic. */
#ifndef MX_JSON_H
#define MX_JSON_H
#include <stddef.h>
#include "buf.h"

typedef enum { MX_JNULL, MX_JBOOL, MX_JINT, MX_JNUM, MX_JSTR, MX_JARR, MX_JOBJ } mx_jtype;

typedef struct mx_json mx_json;
struct mx_json {
    mx_jtype type;
    unsigned char arena; /* MX_JA_* bits: what of the node lives in an arena */
    union {
        int b;
        long long i;
        double n;
        struct { char *s; size_t len; } str;
        struct { mx_json **items; char **keys; size_t len, cap; } c; /* keys NULL for arrays */
    } u;
};

/* An arena: nodes bump-allocated from a few large blocks, all freed at once
 * by mx_jarena_free (a check's findings: ~150 nodes, keys and arrays each,
 * one free per block instead of one per piece). Not thread-safe: one per
 * check (batch -P workers each have their own runtime and checks).
 * mx_json_free on an arena node frees only what was attached from the heap
 * later (a site override's replaced summary); a node is never used after its
 * arena is freed. Heap and arena nodes mix freely in one tree. */
typedef struct mx_jarena mx_jarena;
#define MX_JA_NODE 1 /* the node (and an inline string) is in the arena */
#define MX_JA_ARR 2  /* its items/keys arrays and its keys are in the arena */
mx_jarena *mx_jarena_new(void);
/* n bytes (8-aligned, not zeroed) in a, freed with it */
void *mx_jarena_alloc(mx_jarena *a, size_t n);
void mx_jarena_free(mx_jarena *a);
/* The _in constructors allocate in a (a NULL a: the heap, as without _in).
 * mx_json_append_in / mx_json_push_in grow an arena object's arrays in a and
 * copy the key there; the plain mx_json_set / _append / _push on an arena
 * node move its arrays and keys to the heap first. */
mx_json *mx_json_int_in(mx_jarena *a, long long v);
mx_json *mx_json_num_in(mx_jarena *a, double v);
mx_json *mx_json_bool_in(mx_jarena *a, int v);
mx_json *mx_json_null_in(mx_jarena *a);
mx_json *mx_json_strn_in(mx_jarena *a, const char *s, size_t n);
mx_json *mx_json_str_in(mx_jarena *a, const char *s);
mx_json *mx_json_arr_in(mx_jarena *a);
mx_json *mx_json_obj_in(mx_jarena *a);
/* An empty object with room for cap members (no growth while it has fewer). */
mx_json *mx_json_obj_sized_in(mx_jarena *a, size_t cap);
mx_json *mx_json_push_in(mx_jarena *a, mx_json *arr, mx_json *v);
mx_json *mx_json_append_in(mx_jarena *a, mx_json *obj, const char *key, mx_json *v);
/* mx_json_append_in with a key that outlives the node (a string literal):
 * an arena object keeps the pointer instead of a copy (a heap one copies). */
mx_json *mx_json_append_lit_in(mx_jarena *a, mx_json *obj, const char *key, mx_json *v);

mx_json *mx_json_null(void);
mx_json *mx_json_bool(int v);
mx_json *mx_json_int(long long v);
mx_json *mx_json_num(double v);
mx_json *mx_json_str(const char *s);
mx_json *mx_json_strn(const char *s, size_t n);
/* Replaces a string node's text by s (malloc'd, taken over). A node's text
 * is not a malloc'd block of its own: never free() or steal u.str.s. */
void mx_json_str_replace(mx_json *v, char *s);
mx_json *mx_json_arr(void);
mx_json *mx_json_obj(void);
mx_json *mx_json_push(mx_json *arr, mx_json *v);             /* returns v */
mx_json *mx_json_set(mx_json *obj, const char *key, mx_json *v); /* replaces same key; returns v */
/* Appends without looking for key: only where the caller knows the object
 * has no such key (a hot path: mx_json_set compares every key). _owned takes
 * key (malloc'd) over. */
mx_json *mx_json_append(mx_json *obj, const char *key, mx_json *v);
mx_json *mx_json_append_owned(mx_json *obj, char *key, mx_json *v);
mx_json *mx_json_get(const mx_json *obj, const char *key);   /* NULL if absent or not an object */
const char *mx_json_get_str(const mx_json *obj, const char *key); /* NULL unless a string */
mx_json *mx_json_clone(const mx_json *v);
/* A deep copy of v in a (not NULL), in one allocation of size bytes, which
 * mx_json_flat_size(v) gave for v as it is (a tree copied many times keeps
 * its size); each node as the _in constructors make it. */
size_t mx_json_flat_size(const mx_json *v);
mx_json *mx_json_clone_flat_in(mx_jarena *a, const mx_json *v, size_t size);
void mx_json_free(mx_json *v);

/* indent < 0: compact, one line. */
void mx_json_write(mx_buf *b, const mx_json *v, int indent);
/* Compact form; returns 1 when parsing the text gives back exactly v (no
 * invalid UTF-8 replaced, no number that reads back as an integer or null). */
int mx_json_write_check(mx_buf *b, const mx_json *v);
/* Writes a JSON string literal (with quotes). Invalid UTF-8 bytes become U+FFFD,
 * control characters are escaped, so any byte string yields valid JSON. */
void mx_json_write_string(mx_buf *b, const char *s, size_t n);
/* The same without the quotes: a part of a string literal whose other parts
 * are plain ASCII (the same bytes as the whole string written at once). */
void mx_json_write_string_body(mx_buf *b, const char *s, size_t n);

/* Parses one JSON text. On error returns NULL and writes a message with the
 * byte offset to err (if not NULL). Nesting deeper than 64 is an error. */
mx_json *mx_json_parse(const char *s, size_t n, char *err, size_t errlen);

#endif
