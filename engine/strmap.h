/* A string-keyed hash map (open addressing, linear probing, backward-shift
 * deletion). Keys are copied; values are opaque pointers owned by the caller.
 * Used where an mx_json object's linear lookup would make a run quadratic:
 * the call gate's cache and in-flight table, batch --resume sets. */
#ifndef MX_STRMAP_H
#define MX_STRMAP_H
#include <stddef.h>
#include <stdint.h>

typedef struct mx_strmap {
    char **keys;
    void **vals;
    uint64_t *hashes;
    size_t cap;   /* power of two, or 0 */
    size_t len;
} mx_strmap;

#define MX_STRMAP_INIT {NULL, NULL, NULL, 0, 0}

uint64_t mx_str_hash(const char *s, size_t n); /* FNV-1a 64, stable across runs */
void *mx_strmap_get(const mx_strmap *m, const char *key);
int mx_strmap_has(const mx_strmap *m, const char *key);
/* Inserts or replaces; returns the previous value (or NULL). */
void *mx_strmap_put(mx_strmap *m, const char *key, void *val);
/* Removes key; returns its value (or NULL). */
void *mx_strmap_del(mx_strmap *m, const char *key);
/* Calls fn(key, val, ud) for every entry (no changes to m meanwhile). */
void mx_strmap_each(const mx_strmap *m, void (*fn)(const char *key, void *val, void *ud), void *ud);
/* Frees the table and keys; free_val (may be NULL) is called on each value. */
void mx_strmap_free(mx_strmap *m, void (*free_val)(void *val));

#endif
