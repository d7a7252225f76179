/* String-keyed hash map: see strmap.h. */
#include "strmap.h"
#include <stdlib.h>
#include <string.h>
#include "buf.h"

uint64_t mx_str_hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static size_t find_slot(const mx_strmap *m, const char *key, uint64_t h, int *found) {
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    while (m->keys[i]) {
        if (m->hashes[i] == h && strcmp(m->keys[i], key) == 0) { *found = 1; return i; }
        i = (i + 1) & mask;
    }
    *found = 0;
    return i;
}

static void grow(mx_strmap *m) {
    size_t ocap = m->cap;
    char **okeys = m->keys;
    void **ovals = m->vals;
    uint64_t *ohash = m->hashes;
    m->cap = ocap ? ocap * 2 : 64;
    m->keys = mx_xcalloc(m->cap, sizeof *m->keys);
    m->vals = mx_xcalloc(m->cap, sizeof *m->vals);
    m->hashes = mx_xcalloc(m->cap, sizeof *m->hashes);
    for (size_t i = 0; i < ocap; i++) {
        if (!okeys[i]) continue;
        size_t mask = m->cap - 1, j = (size_t)ohash[i] & mask;
        while (m->keys[j]) j = (j + 1) & mask;
        m->keys[j] = okeys[i];
        m->vals[j] = ovals[i];
        m->hashes[j] = ohash[i];
    }
    free(okeys);
    free(ovals);
    free(ohash);
}

void *mx_strmap_get(const mx_strmap *m, const char *key) {
    if (!m->cap) return NULL;
    int found;
    size_t i = find_slot(m, key, mx_str_hash(key, strlen(key)), &found);
    return found ? m->vals[i] : NULL;
}

int mx_strmap_has(const mx_strmap *m, const char *key) {
    if (!m->cap) return 0;
    int found;
    find_slot(m, key, mx_str_hash(key, strlen(key)), &found);
    return found;
}

void *mx_strmap_put(mx_strmap *m, const char *key, void *val) {
    if ((m->len + 1) * 4 > m->cap * 3) grow(m);
    uint64_t h = mx_str_hash(key, strlen(key));
    int found;
    size_t i = find_slot(m, key, h, &found);
    if (found) {
        void *old = m->vals[i];
        m->vals[i] = val;
        return old;
    }
    m->keys[i] = mx_xstrdup(key);
    m->vals[i] = val;
    m->hashes[i] = h;
    m->len++;
    return NULL;
}

void *mx_strmap_del(mx_strmap *m, const char *key) {
    if (!m->cap) return NULL;
    int found;
    size_t i = find_slot(m, key, mx_str_hash(key, strlen(key)), &found);
    if (!found) return NULL;
    void *val = m->vals[i];
    free(m->keys[i]);
    m->keys[i] = NULL;
    m->len--;
    /* backward shift: move later members of the probe run into the hole */
    size_t mask = m->cap - 1, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->keys[j]) break;
        size_t home = (size_t)m->hashes[j] & mask;
        /* j's entry may move to i when i lies cyclically in [home, j) */
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            m->keys[i] = m->keys[j];
            m->vals[i] = m->vals[j];
            m->hashes[i] = m->hashes[j];
            m->keys[j] = NULL;
            i = j;
        }
    }
    return val;
}

void mx_strmap_each(const mx_strmap *m, void (*fn)(const char *key, void *val, void *ud), void *ud) {
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) fn(m->keys[i], m->vals[i], ud);
}

void mx_strmap_free(mx_strmap *m, void (*free_val)(void *val)) {
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        free(m->keys[i]);
        if (free_val) free_val(m->vals[i]);
    }
    free(m->keys);
    free(m->vals);
    free(m->hashes);
    memset(m, 0, sizeof *m);
}
