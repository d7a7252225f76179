/* Bounded-memory aggregation of delivery events.  See logagg.h. */
#include "logagg.h"
#include "buf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HLL_M 256
#define OTHER_KEY "(other)"

typedef struct agg_dim {
    mx_agg_group *pool;    /* `hard` groups, allocated once (pages touched as used) */
    mx_agg_group **groups; /* insertion order; sorted copy in `sorted` */
    size_t n;
    uint32_t *slots;       /* open addressing: index+1, 0 = empty */
    size_t nslots;
    uint64_t *hashes;
    uint32_t *klens;       /* strlen of the compared part (key, or sub for cause x key) */
    const char **kcmp;     /* the compared part itself: a probe reads these small arrays
                            * and the key bytes (packed in `keys`), not the groups */
    mx_agg_group *other;
    const mx_agg_group **sorted;
    uint64_t sorted_gen;   /* `sorted` is valid while this equals the agg's gen */
    /* CAUSE_x dimensions only: the group of (cause, key) found by the key's
     * index in the parent dimension (DOMAIN, ADDR) and the cause, as index+1
     * (0: not seen yet): a fixed-size integer key instead of hashing and
     * comparing "cause/key" strings on every event. */
    uint32_t *pair;
    /* Keys past the cap.  `cap` keys are kept in the order first seen; after
     * them, DOMAIN and ADDR keep up to `hard` - `cap` more keys whose first
     * event is a failure and that were never counted in "(other)" before (so
     * such a group holds every event of its key, like the first ones): a
     * busy relay's log names more destinations than the cap, and without
     * this a domain that only starts to fail late in the log went unnamed.
     * `seen` is a Bloom filter of the keys counted in "(other)": a false
     * positive only sends a new failing key to "(other)" as the cap alone
     * would.  NULL for the other dimensions (cap == hard). */
    size_t cap, hard;
    uint64_t *seen;
} agg_dim;

/* The Bloom filter of keys sent to "(other)": 2^21 bits (256 KiB, allocated
 * when the dimension first fills), 4 probes from one 64-bit key hash.  A new
 * failing key is refused by a false positive about once in 15 000 after
 * 50 000 keys past the cap, once in 1 100 after 100 000. */
#define SEEN_BITS 21
static inline uint64_t seen_bit(uint64_t h, int k) {
    uint64_t x = k == 3 ? h * 0x9e3779b97f4a7c15ULL : h >> (1 + SEEN_BITS * k); /* bits 1-63 in three slices */
    return (k == 3 ? x >> (64 - SEEN_BITS) : x) & ((1ULL << SEEN_BITS) - 1);
}
/* Adds h; returns whether it was (maybe) there before. */
static int seen_add(uint64_t *b, uint64_t h) {
    uint64_t was = 1;
    for (int k = 0; k < 4; k++) {
        uint64_t i = seen_bit(h, k), m = 1ULL << (i & 63);
        was &= (b[i >> 6] & m) != 0;
        b[i >> 6] |= m;
    }
    return (int)was;
}

/* Memory of the distinct counters: a set grows 8 -> 16 -> ... -> 128 slots
 * and is then replaced by 256 HLL registers, thousands of times over a log
 * with many groups.  Blocks of those six sizes come from 64 KiB chunks and go
 * back to a free list per size, instead of a malloc/free per growth step. */
#if defined(__SANITIZE_ADDRESS__)
#define MX_AGG_ARENA 0 /* sanitizer builds: a malloc per block, so ASan sees each */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MX_AGG_ARENA 0
#endif
#endif
#ifndef MX_AGG_ARENA
#define MX_AGG_ARENA 1
#endif
#define ARENA_CLASSES 6
#define ARENA_CHUNK (64 * 1024)
typedef struct mx_agg_arena {
    void *free[ARENA_CLASSES];  /* singly linked through each block's first word */
    char *cur;                  /* bump region of the newest chunk */
    size_t left;
    void **chunks;              /* every chunk, for the final free */
    size_t nchunks, capchunks;
} mx_agg_arena;

/* class of a block of `bytes` (64 << class): 8..128 slots of 8 bytes, 256 */
static int arena_class(size_t bytes) {
    int c = 0;
    while ((size_t)64 << c < bytes) c++;
    return c;
}

static void *arena_get(mx_agg_arena *A, size_t bytes) {
    if (!MX_AGG_ARENA) return mx_xcalloc(1, bytes);
    int c = arena_class(bytes);
    size_t sz = (size_t)64 << c;
    void *b = A->free[c];
    if (b) {
        A->free[c] = *(void **)b;
    } else {
        if (A->left < sz) {
            if (A->nchunks == A->capchunks) {
                A->capchunks = A->capchunks ? A->capchunks * 2 : 16;
                A->chunks = mx_xrealloc(A->chunks, A->capchunks * sizeof *A->chunks);
            }
            A->cur = mx_xmalloc(ARENA_CHUNK);
            A->chunks[A->nchunks++] = A->cur;
            A->left = ARENA_CHUNK;
        }
        b = A->cur;
        A->cur += sz;
        A->left -= sz;
    }
    memset(b, 0, sz);
    return b;
}

static void arena_put(mx_agg_arena *A, void *b, size_t bytes) {
    if (!b) return;
    if (!MX_AGG_ARENA) {
        free(b);
        return;
    }
    int c = arena_class(bytes);
    *(void **)b = A->free[c];
    A->free[c] = b;
}

static void arena_free(mx_agg_arena *A) {
    for (size_t i = 0; i < A->nchunks; i++) free(A->chunks[i]);
    free(A->chunks);
}

/* Last source key and its group: nearly every event of a log has the same
 * one ("postfix", or one of a few instances), so this skips a hash + probe. */
#define SRC_MEMO 64

struct mx_log_agg {
    size_t max_groups;
    agg_dim dims[MX_AGG__DIMS];
    mx_agg_group total;
    uint64_t gen;                                /* bumped by every add */
    mx_agg_group *cause_group[MX_LOG_CAUSE_MAX]; /* MX_AGG_CAUSE lookups, memoised */
    mx_agg_group *src_group;
    size_t src_n;
    mx_agg_hist hist;
    int64_t hist_lo, hist_hi;                    /* earliest and latest time in the histogram */
    char src_key[SRC_MEMO];
    mx_agg_arena arena;                          /* distinct sets and HLL registers */
    char *keys;                                  /* bump region for group keys, in chunks */
    size_t keys_left;
    void **key_chunks;
    size_t nkey_chunks, cap_key_chunks;
};

/* ASCII lower-casing table (same result as the old branchy lc()). */
static const unsigned char lc_tab[256] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
    32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
    48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
    64, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 91, 92, 93, 94, 95,
    96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127,
    128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 142, 143,
    144, 145, 146, 147, 148, 149, 150, 151, 152, 153, 154, 155, 156, 157, 158, 159,
    160, 161, 162, 163, 164, 165, 166, 167, 168, 169, 170, 171, 172, 173, 174, 175,
    176, 177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 190, 191,
    192, 193, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 204, 205, 206, 207,
    208, 209, 210, 211, 212, 213, 214, 215, 216, 217, 218, 219, 220, 221, 222, 223,
    224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239,
    240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253, 254, 255,
};

static char lc(char c) { return (char)lc_tab[(unsigned char)c]; }

/* FNV-1a over lower-cased bytes, finished with a murmur-style mix so the
 * high bits are good enough for HLL register selection. */
static inline uint64_t hash_mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint64_t hash_lc(const char *p, size_t n, uint64_t seed) {
    uint64_t h = 1469598103934665603ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)lc(p[i]);
        h *= 1099511628211ULL;
    }
    return hash_mix(h);
}

static inline uint64_t fnv_lc(uint64_t h, char c) { return (h ^ lc_tab[(unsigned char)c]) * 1099511628211ULL; }

/* hash_lc of four slices at once (out[k] == hash_lc(p[k], n[k], k + 1) | 1,
 * 0 for an empty slice): FNV-1a is one multiply after another per byte, so
 * the four chains are interleaved over their common length, where the CPU
 * runs them side by side. */
static void hash_lc4(const mx_log_str *const s[4], uint64_t out[4]) {
    const char *p[4];
    size_t n[4];
    uint64_t h[4];
    size_t m = SIZE_MAX;
    int longest = 0;
    for (int k = 0; k < 4; k++)
        if (s[k]->n > s[longest]->n) longest = k;
    for (int k = 0; k < 4; k++) {
        /* an empty slice (its hash is 0) runs along on the longest one's
         * bytes, so that it does not end the interleaved part at 0 */
        const mx_log_str *x = s[k]->n ? s[k] : s[longest];
        p[k] = x->p;
        n[k] = x->n;
        h[k] = 1469598103934665603ULL ^ (uint64_t)(k + 1);
        if (n[k] < m) m = n[k];
    }
    size_t i = 0;
    for (; i < m; i++) {
        h[0] = fnv_lc(h[0], p[0][i]);
        h[1] = fnv_lc(h[1], p[1][i]);
        h[2] = fnv_lc(h[2], p[2][i]);
        h[3] = fnv_lc(h[3], p[3][i]);
    }
    for (int k = 0; k < 4; k++) {
        if (!s[k]->n) {
            out[k] = 0;
            continue;
        }
        uint64_t x = h[k];
        for (size_t j = i; j < n[k]; j++) x = fnv_lc(x, p[k][j]);
        out[k] = s[k]->n ? hash_mix(x) | 1 : 0;
    }
}

static void hll_add(uint8_t *hll, uint64_t h) {
    unsigned idx = (unsigned)(h >> 56);
    uint64_t rest = h << 8;
    uint8_t rank = rest ? (uint8_t)(__builtin_clzll(rest) + 1) : 57;
    if (rank > hll[idx]) hll[idx] = rank;
}

#define SET_SLOTS (MX_AGG_EXACT_MAX * 2)

static void set_insert(uint64_t *set, uint32_t cap, uint64_t h) {
    size_t i = (size_t)(h ^ (h >> 29)) & (cap - 1);
    while (set[i] && set[i] != h) i = (i + 1) & (cap - 1);
    set[i] = h;
}

/* Exact phase: small open-addressed set of hashes (0 = empty; hashes are
 * odd), grown by doubling so that most groups, which see few distinct
 * values, stay tiny. */
static void distinct_add(mx_agg_arena *A, mx_agg_distinct *d, uint64_t h) {
    d->adds++;
    if (d->hll) {
        hll_add(d->hll, h);
        return;
    }
    if (!d->set) {
        d->cap = 8;
        d->set = arena_get(A, d->cap * sizeof *d->set);
    }
    size_t i = (size_t)(h ^ (h >> 29)) & (d->cap - 1);
    for (;; i = (i + 1) & (d->cap - 1)) {
        if (d->set[i] == h) return;
        if (!d->set[i]) break;
    }
    if (d->n < MX_AGG_EXACT_MAX) {
        d->set[i] = h;
        d->n++;
        if (d->n * 2 > d->cap && d->cap < SET_SLOTS) {
            uint32_t nc = d->cap * 2;
            uint64_t *ns = arena_get(A, nc * sizeof *ns);
            for (uint32_t k = 0; k < d->cap; k++)
                if (d->set[k]) set_insert(ns, nc, d->set[k]);
            arena_put(A, d->set, d->cap * sizeof *d->set);
            d->set = ns;
            d->cap = nc;
        }
        return;
    }
    /* Overflow: switch to a HyperLogLog seeded with what we knew. */
    d->hll = arena_get(A, HLL_M);
    for (size_t k = 0; k < d->cap; k++)
        if (d->set[k]) hll_add(d->hll, d->set[k]);
    hll_add(d->hll, h);
    arena_put(A, d->set, d->cap * sizeof *d->set);
    d->set = NULL;
}

uint64_t mx_agg_distinct_count(const mx_agg_distinct *d) {
    if (!d->hll) return d->n;
    double sum = 0;
    int zeros = 0;
    for (int i = 0; i < HLL_M; i++) {
        sum += ldexp(1.0, -d->hll[i]);
        if (!d->hll[i]) zeros++;
    }
    double m = HLL_M, alpha = 0.7213 / (1.0 + 1.079 / m);
    double est = alpha * m * m / sum;
    if (est <= 2.5 * m && zeros) est = m * log(m / zeros); /* linear counting */
    uint64_t r = (uint64_t)(est + 0.5);
    if (r > d->adds) r = d->adds;
    return r < MX_AGG_EXACT_MAX ? MX_AGG_EXACT_MAX : r; /* we know it overflowed */
}

int mx_agg_distinct_exact(const mx_agg_distinct *d) { return d->hll == NULL && d->cap != MX_AGG_ESTIMATED; }

static void group_init(mx_agg_group *g, char *key, int cause) {
    memset(g, 0, sizeof *g);
    g->key = key;
    g->cause = cause;
    g->first = g->first_fail = g->first_ok = g->first_fail_since_ok = INT64_MAX;
    g->last = g->last_fail = g->last_ok = INT64_MIN;
    g->last_cause = -1;
    if (cause >= 0) {
        const char *slash = strchr(key, '/');
        g->sub = slash ? slash + 1 : NULL;
    }
}

mx_log_agg *mx_log_agg_new(size_t max_groups) {
    mx_log_agg *a = mx_xcalloc(1, sizeof *a);
    a->max_groups = max_groups ? max_groups : MX_AGG_DEFAULT_MAX_GROUPS;
    for (int d = 0; d < MX_AGG__DIMS; d++) {
        agg_dim *D = &a->dims[d];
        /* DOMAIN, ADDR: max_groups first seen + MX_AGG_LATE late failing
         * keys; the cause x key pairs (failures only) as many as both */
        int late = d == MX_AGG_DOMAIN || d == MX_AGG_ADDR, pairs = d == MX_AGG_CAUSE_DOMAIN || d == MX_AGG_CAUSE_ADDR;
        D->hard = late || pairs ? a->max_groups + MX_AGG_LATE(a->max_groups) : a->max_groups;
        D->cap = pairs ? D->hard : a->max_groups;
        size_t ns = 16;
        while (ns < D->hard * 2) ns <<= 1;
        D->nslots = ns;
        D->slots = mx_xcalloc(ns, sizeof *D->slots);
        D->hashes = mx_xcalloc(D->hard, sizeof *D->hashes);
        D->klens = mx_xcalloc(D->hard, sizeof *D->klens);
        D->kcmp = mx_xcalloc(D->hard, sizeof *D->kcmp);
        D->groups = mx_xcalloc(D->hard, sizeof *D->groups);
        D->pool = mx_xcalloc(D->hard, sizeof *D->pool);
        /* indexed by the parent's (DOMAIN's, ADDR's) groups, as many as its own */
        if (pairs) D->pair = mx_xcalloc(D->hard * MX_LOG_CAUSE_MAX, sizeof *D->pair);
    }
    group_init(&a->total, mx_xstrdup("(total)"), -1);
    return a;
}

/* n bytes for a group key, packed with the others (never freed alone). */
static char *key_alloc(mx_log_agg *a, size_t n) {
    if (n > 4096 || !MX_AGG_ARENA) { /* a key this long (from the log) gets a block of its own; so does every
                                       * key in sanitizer builds */
        if (a->nkey_chunks == a->cap_key_chunks) {
            a->cap_key_chunks = a->cap_key_chunks ? a->cap_key_chunks * 2 : 16;
            a->key_chunks = mx_xrealloc(a->key_chunks, a->cap_key_chunks * sizeof *a->key_chunks);
        }
        return a->key_chunks[a->nkey_chunks++] = mx_xmalloc(n);
    }
    if (a->keys_left < n) {
        if (a->nkey_chunks == a->cap_key_chunks) {
            a->cap_key_chunks = a->cap_key_chunks ? a->cap_key_chunks * 2 : 16;
            a->key_chunks = mx_xrealloc(a->key_chunks, a->cap_key_chunks * sizeof *a->key_chunks);
        }
        a->keys = a->key_chunks[a->nkey_chunks++] = mx_xmalloc(ARENA_CHUNK);
        a->keys_left = ARENA_CHUNK;
    }
    char *k = a->keys;
    a->keys += n;
    a->keys_left -= n;
    return k;
}

/* k (lower-cased, kn bytes) equals slice p (any case)? */
static int key_eq(const char *k, size_t kn, const char *p, size_t n) {
    if (kn != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (k[i] != lc(p[i])) return 0;
    return 1;
}

/* Key = [cause name + "/"] + slice, lower-cased (domains and addresses are
 * case-insensitive).  h is the caller's hash of the slice (computed once per
 * event and shared by all dimensions); cause >= 0 is mixed in for the
 * cause x key dimensions.  failing: the event is a failure (or a failed
 * attempt), which may give a new key a group past the cap (agg_dim). */
static mx_agg_group *lookup(mx_log_agg *a, mx_agg_dim dim, int cause, const char *p, size_t n, uint64_t h,
                            int failing) {
    agg_dim *D = &a->dims[dim];
    const char *prefix = cause >= 0 && dim != MX_AGG_CAUSE ? mx_log_cause_name((mx_log_cause)cause) : NULL;
    if (prefix) h = (h ^ ((uint64_t)(cause + 1) * 0x9e3779b97f4a7c15ULL)) * 0xff51afd7ed558ccdULL;
    size_t mask = D->nslots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t s = D->slots[i];
        if (!s) break;
        if (D->hashes[s - 1] != h) continue;
        if (prefix && D->pool[s - 1].cause != cause) continue;
        const char *k = D->kcmp[s - 1];
        if (k && key_eq(k, D->klens[s - 1], p, n)) return &D->pool[s - 1];
    }
    if (D->n >= D->cap) {
        if (D->hard > D->cap && !D->seen) D->seen = mx_xcalloc((1u << SEEN_BITS) / 64, sizeof *D->seen);
        /* a late group only for a key never counted in "(other)": it then
         * holds all of its key's events (its bits, set here too, are never
         * read for it again: the probe above finds its group first) */
        int was = D->seen ? seen_add(D->seen, h) : 1;
        if (!(failing && D->n < D->hard && !was)) {
            if (!D->other) {
                D->other = mx_xmalloc(sizeof *D->other);
                group_init(D->other, mx_xstrdup(OTHER_KEY), -1);
            }
            return D->other;
        }
    }
    size_t pl = prefix ? strlen(prefix) : 0;
    char *key = key_alloc(a, pl + 1 + n + 1);
    size_t o = 0;
    if (pl) {
        memcpy(key, prefix, pl);
        key[pl] = '/';
        o = pl + 1;
    }
    for (size_t i = 0; i < n; i++) key[o + i] = lc(p[i]);
    key[o + n] = 0;
    mx_agg_group *g = &D->pool[D->n];
    group_init(g, key, cause);
    D->groups[D->n] = g;
    D->hashes[D->n] = h;
    /* what the probe above compares: strlen of sub (cause x key) or key */
    const char *cmp = prefix ? g->sub : g->key;
    D->klens[D->n] = cmp ? (uint32_t)strlen(cmp) : 0;
    D->kcmp[D->n] = cmp;
    D->n++;
    for (size_t i = h & mask;; i = (i + 1) & mask)
        if (!D->slots[i]) {
            D->slots[i] = (uint32_t)D->n;
            break;
        }
    return g;
}

/* Which distinct counters a dimension maintains: each costs a hash-set
 * probe per event, so only those the report reads are kept. */
enum { D_MSGS = 1, D_RCPTS = 2, D_DOMS = 4, D_ADDRS = 8, D_ALL = 15 };

static inline __attribute__((always_inline)) void group_add(mx_agg_arena *A, mx_agg_group *g, const mx_log_event *ev,
                                                           uint64_t hq, uint64_t hr, uint64_t hd, uint64_t ha, int which) {
    int fail = ev->cause != MX_LOG_CAUSE_NONE;
    int attempt = ev->status == MX_LOG_STATUS_NONE;
    g->events++;
    g->by_status[ev->status]++;
    if (attempt) {
        g->attempts++;
        if (!ev->local) g->att_fail++;
    } else {
        g->by_cause[ev->cause]++;
        if (ev->local) {
            g->local++;
            if (fail) g->local_fail++;
        } else {
            g->external++;
            if (fail) {
                g->ext_fail++;
                g->fail_since_ok++;
                if (ev->time != MX_LOG_TIME_UNKNOWN && ev->time < g->first_fail_since_ok)
                    g->first_fail_since_ok = ev->time;
                g->last_outcome = 2;
                g->last_cause = (int)ev->cause;
            } else {
                g->ext_ok++;
                g->fail_since_ok = 0;
                g->first_fail_since_ok = INT64_MAX;
                g->last_outcome = 1;
            }
        }
    }
    if (ev->time != MX_LOG_TIME_UNKNOWN) {
        if (ev->time < g->first) g->first = ev->time;
        if (ev->time > g->last) g->last = ev->time;
        if (fail) { /* attempts too: a failed connection dates the trouble */
            if (ev->time < g->first_fail) g->first_fail = ev->time;
            if (ev->time > g->last_fail) g->last_fail = ev->time;
        } else if (!ev->local && !attempt) {
            if (ev->time > g->last_ok) g->last_ok = ev->time;
            if (ev->time < g->first_ok) g->first_ok = ev->time;
        }
    }
    if (hq && (which & D_MSGS)) distinct_add(A, &g->msgs, hq);
    if (hr && (which & D_RCPTS)) distinct_add(A, &g->rcpts, hr);
    if (hd && (which & D_DOMS)) distinct_add(A, &g->domains, hd);
    if (ha && (which & D_ADDRS)) distinct_add(A, &g->addrs, ha);
}

/* The width ladder: each a multiple of the one before. */
static int64_t hist_next_width(int64_t w) {
    static const int64_t ladder[] = {60, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400};
    for (size_t i = 0; i < sizeof ladder / sizeof ladder[0]; i++)
        if (ladder[i] > w) return ladder[i];
    return w * 2;
}

/* Re-buckets for a window [lo, hi] at the narrowest width that fits it. */
static void hist_refit(mx_agg_hist *h, int64_t lo, int64_t hi) {
    int64_t w = h->width ? h->width : 60;
    while (hi / w - lo / w >= MX_AGG_HIST_BUCKETS) w = hist_next_width(w);
    int64_t start = lo / w * w;
    if (h->width && (w != h->width || start != h->start)) {
        uint32_t old[MX_LOG_CAUSE_MAX][MX_AGG_HIST_BUCKETS];
        memcpy(old, h->n, sizeof old);
        memset(h->n, 0, sizeof h->n);
        for (int c = 0; c < MX_LOG_CAUSE_MAX; c++)
            for (size_t b = 0; b < MX_AGG_HIST_BUCKETS; b++)
                if (old[c][b]) h->n[c][(h->start + (int64_t)b * h->width - start) / w] += old[c][b];
    }
    h->width = w;
    h->start = start;
    h->nbuckets = (size_t)(hi / w - start / w) + 1;
}

static void hist_add(mx_log_agg *a, int64_t t, int cause) {
    mx_agg_hist *h = &a->hist;
    if (t < 0) return;
    if (!h->width) {
        a->hist_lo = a->hist_hi = t;
        hist_refit(h, t, t);
    } else if (t < h->start || t >= h->start + MX_AGG_HIST_BUCKETS * h->width) {
        if (t < a->hist_lo) a->hist_lo = t;
        if (t > a->hist_hi) a->hist_hi = t;
        hist_refit(h, a->hist_lo, a->hist_hi);
    } else {
        if (t < a->hist_lo) a->hist_lo = t;
        if (t > a->hist_hi) {
            a->hist_hi = t;
            h->nbuckets = (size_t)((t - h->start) / h->width) + 1;
        }
    }
    h->n[cause][(t - h->start) / h->width]++;
}

const mx_agg_hist *mx_log_agg_hist(const mx_log_agg *a) { return &a->hist; }

/* The group of (cause, key) in a CAUSE_x dimension, given the key's group
 * pg in its parent dimension (DOMAIN for CAUSE_DOMAIN, ADDR for CAUSE_ADDR;
 * both are updated by the same events).  When pg is a real group, its index
 * and the cause find the pair without touching the string; the first time
 * (or when pg is the parent's "(other)", so the key has no index) the string
 * lookup decides, exactly as before, and a real group is remembered. */
static mx_agg_group *pair_lookup(mx_log_agg *a, mx_agg_dim dim, mx_agg_dim parent, const mx_agg_group *pg, int cause,
                                 const char *p, size_t n, uint64_t h) {
    agg_dim *D = &a->dims[dim], *P = &a->dims[parent];
    if (pg == P->other || (unsigned)cause >= MX_LOG_CAUSE_MAX) return lookup(a, dim, cause, p, n, h, 1);
    size_t slot = (size_t)(pg - P->pool) * MX_LOG_CAUSE_MAX + (size_t)cause;
    uint32_t s = D->pair[slot];
    if (s) return &D->pool[s - 1];
    mx_agg_group *g = lookup(a, dim, cause, p, n, h, 1);
    if (g != D->other) D->pair[slot] = (uint32_t)(g - D->pool) + 1;
    return g;
}

/* An event's hashes and groups, found before its counters are updated. */
typedef struct agg_res {
    uint64_t hq, hr, hd, ha;
    mx_agg_group *g[6]; /* cause, domain, cause x domain, addr, cause x addr, source; NULL: none */
    int counted;        /* a failure: it has cause x key groups (successes have none) */
} agg_res;
enum { G_CAUSE, G_DOM, G_CDOM, G_ADDR, G_CADDR, G_SRC };

/* Finds (creating them in event order, as the keys come) the groups of ev.
 * Group creation happens here only: resolving events ahead of updating them
 * keeps every dimension's insertion order, hence the cap's choice. */
static void agg_resolve(mx_log_agg *a, const mx_log_event *ev, agg_res *r) {
    /* Hash once per event; 0 means "not logged". */
    const mx_log_str *const strs[4] = {&ev->queue_id, &ev->recipient, &ev->domain, &ev->relay_addr};
    uint64_t hs[4];
    hash_lc4(strs, hs);
    r->hq = hs[0], r->hr = hs[1], r->hd = hs[2], r->ha = hs[3];
    int c = (int)ev->cause;
    /* The cause key is a constant per cause (and, once the dimension is full,
     * the answer stays "(other)"), so its lookup is done once per cause. */
    mx_agg_group *cg = (unsigned)c < MX_LOG_CAUSE_MAX ? a->cause_group[c] : NULL;
    if (!cg) {
        const char *cn = mx_log_cause_name(ev->cause);
        cg = lookup(a, MX_AGG_CAUSE, c, cn, strlen(cn), (uint64_t)c * 0x9e3779b97f4a7c15ULL + 5, 0);
        if ((unsigned)c < MX_LOG_CAUSE_MAX) a->cause_group[c] = cg;
    }
    r->g[G_CAUSE] = cg;
    /* The cause x key dimensions rank the keys of each failure cause: a
     * success has no pair there.  (Successes' pairs, never read, used to
     * take the dimension's room first on a log with more keys than the
     * cap, so that the failing keys that came later went to "(other)" and
     * the top domains and addresses of a cause were not the top ones.) */
    r->counted = ev->cause != MX_LOG_CAUSE_NONE;
    r->g[G_DOM] = r->g[G_CDOM] = r->g[G_ADDR] = r->g[G_CADDR] = NULL;
    if (r->hd) {
        mx_agg_group *dg = lookup(a, MX_AGG_DOMAIN, -1, ev->domain.p, ev->domain.n, r->hd, r->counted);
        r->g[G_DOM] = dg;
        if (r->counted)
            r->g[G_CDOM] = pair_lookup(a, MX_AGG_CAUSE_DOMAIN, MX_AGG_DOMAIN, dg, c, ev->domain.p, ev->domain.n, r->hd);
    }
    if (r->ha) {
        mx_agg_group *ag = lookup(a, MX_AGG_ADDR, -1, ev->relay_addr.p, ev->relay_addr.n, r->ha, r->counted);
        r->g[G_ADDR] = ag;
        if (r->counted)
            r->g[G_CADDR] =
                pair_lookup(a, MX_AGG_CAUSE_ADDR, MX_AGG_ADDR, ag, c, ev->relay_addr.p, ev->relay_addr.n, r->ha);
    }
    mx_log_str src = ev->source;
    if (!src.n) {
        src.p = mx_log_mta_name(ev->mta);
        src.n = strlen(src.p);
    }
    /* Same bytes as the last source: same group (a key's group never changes,
     * and a key that went to "(other)" keeps going there). */
    mx_agg_group *sg;
    if (a->src_group && src.n == a->src_n && memcmp(src.p, a->src_key, src.n) == 0) {
        sg = a->src_group;
    } else {
        sg = lookup(a, MX_AGG_SOURCE, -1, src.p, src.n, hash_lc(src.p, src.n, 6), 0);
        if (src.n <= SRC_MEMO) {
            memcpy(a->src_key, src.p, src.n);
            a->src_n = src.n;
            a->src_group = sg;
        } else {
            a->src_group = NULL;
        }
    }
    r->g[G_SRC] = sg;
}

/* Updates the counters of ev's groups (found by agg_resolve). */
static void agg_apply(mx_log_agg *a, const mx_log_event *ev, const agg_res *r) {
    mx_agg_arena *A = &a->arena;
    a->gen++;
    if (ev->status != MX_LOG_STATUS_NONE && !ev->local && ev->time != MX_LOG_TIME_UNKNOWN &&
        (unsigned)ev->cause < MX_LOG_CAUSE_MAX)
        hist_add(a, ev->time, (int)ev->cause);
    uint64_t hq = r->hq, hr = r->hr, hd = r->hd, ha = r->ha;
    group_add(A, &a->total, ev, hq, hr, hd, ha, D_ALL);
    group_add(A, r->g[G_CAUSE], ev, hq, hr, hd, ha, D_ALL);
    if (hd) {
        group_add(A, r->g[G_DOM], ev, hq, hr, hd, ha, D_MSGS | D_RCPTS | D_ADDRS);
        if (r->counted) group_add(A, r->g[G_CDOM], ev, hq, hr, hd, ha, D_MSGS);
    }
    if (ha) {
        group_add(A, r->g[G_ADDR], ev, hq, hr, hd, ha, D_MSGS | D_DOMS);
        if (r->counted) group_add(A, r->g[G_CADDR], ev, hq, hr, hd, ha, D_MSGS);
    }
    group_add(A, r->g[G_SRC], ev, hq, hr, hd, ha, D_MSGS);
}

void mx_log_agg_add(mx_log_agg *a, const mx_log_event *ev) {
    agg_res r;
    agg_resolve(a, ev, &r);
    agg_apply(a, ev, &r);
}

/* Prefetching for mx_log_agg_add_batch.  On a log with thousands of domains
 * and addresses, the groups an event updates (552 bytes each, a few per
 * event) and the hash sets of their distinct counters are rarely in cache:
 * measured, most of the aggregation's time was those loads.  The batch
 * finds the groups of event i + 2*PF_DIST and asks for their counters' cache
 * lines, asks for the set slots event i + PF_DIST will probe (the set
 * pointers are in the lines asked for before), and updates event i. */
#define PF_DIST 4
#define PF_RING (4 * PF_DIST) /* a power of two above 2 * PF_DIST */

static void pf_group(const mx_agg_group *g, int cause) {
    const char *p = (const char *)&g->events, *e = (const char *)&g->by_cause[0];
    for (; p < e; p += 64) __builtin_prefetch(p, 1, 3);
    __builtin_prefetch(e - 1, 1, 3);
    if ((unsigned)cause < MX_LOG_CAUSE_MAX) __builtin_prefetch(&g->by_cause[cause], 1, 3);
}

static void pf_set(const mx_agg_distinct *d, uint64_t h) {
    if (!h) return;
    if (d->hll) __builtin_prefetch(&d->hll[h >> 56], 1, 3);
    else if (d->set) __builtin_prefetch(&d->set[(size_t)(h ^ (h >> 29)) & (d->cap - 1)], 1, 3);
}

static void pf_sets(const agg_res *r) {
    const mx_agg_group *g;
    if ((g = r->g[G_DOM])) {
        pf_set(&g->msgs, r->hq);
        pf_set(&g->rcpts, r->hr);
        pf_set(&g->addrs, r->ha);
    }
    if ((g = r->g[G_CDOM]) && r->counted) pf_set(&g->msgs, r->hq);
    if ((g = r->g[G_ADDR])) {
        pf_set(&g->msgs, r->hq);
        pf_set(&g->domains, r->hd);
    }
    if ((g = r->g[G_CADDR]) && r->counted) pf_set(&g->msgs, r->hq);
}

static void pf_groups(const agg_res *r, int cause) {
    if (r->g[G_DOM]) pf_group(r->g[G_DOM], cause);
    if (r->g[G_ADDR]) pf_group(r->g[G_ADDR], cause);
    if (!r->counted) return;
    if (r->g[G_CDOM]) pf_group(r->g[G_CDOM], cause);
    if (r->g[G_CADDR]) pf_group(r->g[G_CADDR], cause);
}

void mx_log_agg_add_batch(mx_log_agg *a, const mx_log_event *evs, size_t n) {
    agg_res ring[PF_RING];
    size_t ahead = n < 2 * PF_DIST ? n : 2 * PF_DIST;
    for (size_t j = 0; j < ahead; j++) {
        agg_resolve(a, &evs[j], &ring[j % PF_RING]);
        pf_groups(&ring[j % PF_RING], (int)evs[j].cause);
    }
    for (size_t i = 0; i < n; i++) {
        size_t j = i + 2 * PF_DIST;
        if (j < n) {
            agg_res *r = &ring[j % PF_RING];
            agg_resolve(a, &evs[j], r);
            pf_groups(r, (int)evs[j].cause);
        }
        if (i + PF_DIST < n) pf_sets(&ring[(i + PF_DIST) % PF_RING]);
        agg_apply(a, &evs[i], &ring[i % PF_RING]);
    }
}

const mx_agg_group *mx_log_agg_total(const mx_log_agg *a) { return &a->total; }

static int cmp_group(const void *x, const void *y) {
    const mx_agg_group *a = *(const mx_agg_group *const *)x, *b = *(const mx_agg_group *const *)y;
    if (a->events != b->events) return a->events > b->events ? -1 : 1;
    return strcmp(a->key, b->key);
}

size_t mx_log_agg_list(mx_log_agg *a, mx_agg_dim dim, const mx_agg_group *const **out) {
    agg_dim *D = &a->dims[dim];
    size_t n = D->n + (D->other ? 1 : 0);
    /* The report lists a dimension many times (once per cause): sort only
     * after adds. */
    if (D->sorted && D->sorted_gen == a->gen) {
        *out = D->sorted;
        return n;
    }
    D->sorted_gen = a->gen;
    free(D->sorted);
    D->sorted = mx_xmalloc((n ? n : 1) * sizeof *D->sorted);
    for (size_t i = 0; i < D->n; i++) D->sorted[i] = D->groups[i];
    if (D->n > 1) qsort(D->sorted, D->n, sizeof *D->sorted, cmp_group);
    if (D->other) D->sorted[D->n] = D->other;
    *out = D->sorted;
    return n;
}

const mx_agg_group *mx_log_agg_find(const mx_log_agg *a, mx_agg_dim dim, const char *key) {
    const agg_dim *D = &a->dims[dim];
    for (size_t i = 0; i < D->n; i++)
        if (strcasecmp(D->groups[i]->key, key) == 0) return D->groups[i];
    return NULL;
}

uint64_t mx_log_agg_dropped(const mx_log_agg *a, mx_agg_dim dim) {
    return a->dims[dim].other ? a->dims[dim].other->events : 0;
}

/* The distinct sets' blocks, when each is its own malloc (no arena). */
static void group_release_sets(mx_agg_group *g) {
    if (MX_AGG_ARENA) return;
    mx_agg_distinct *ds[4] = {&g->msgs, &g->rcpts, &g->domains, &g->addrs};
    for (int i = 0; i < 4; i++) {
        free(ds[i]->set);
        free(ds[i]->hll);
    }
}

static void group_free(mx_agg_group *g) {
    group_release_sets(g);
    free(g->key);
}

static void distinct_finish(mx_agg_distinct *d) {
    if (d->cap == MX_AGG_ESTIMATED) return;
    int exact = d->hll == NULL;
    uint64_t c = mx_agg_distinct_count(d);
    if (!MX_AGG_ARENA) { /* the arena's chunks go at once below */
        free(d->set);
        free(d->hll);
    }
    d->set = NULL;
    d->hll = NULL;
    d->n = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
    d->cap = exact ? 0 : MX_AGG_ESTIMATED;
}

static void group_finish(mx_agg_group *g) {
    distinct_finish(&g->msgs);
    distinct_finish(&g->rcpts);
    distinct_finish(&g->domains);
    distinct_finish(&g->addrs);
}

void mx_log_agg_finish(mx_log_agg *a) {
    group_finish(&a->total);
    for (int d = 0; d < MX_AGG__DIMS; d++) {
        agg_dim *D = &a->dims[d];
        for (size_t i = 0; i < D->n; i++) group_finish(&D->pool[i]);
        if (D->other) group_finish(D->other);
        free(D->seen); /* only an add reads it */
        D->seen = NULL;
    }
    arena_free(&a->arena);
    memset(&a->arena, 0, sizeof a->arena);
}

void mx_log_agg_free(mx_log_agg *a) {
    if (!a) return;
    for (int d = 0; d < MX_AGG__DIMS; d++) {
        agg_dim *D = &a->dims[d];
        for (size_t i = 0; i < D->n; i++) group_release_sets(&D->pool[i]); /* keys: in key_chunks */
        if (D->other) {
            group_free(D->other);
            free(D->other);
        }
        free(D->groups);
        free(D->pool);
        free(D->pair);
        free(D->slots);
        free(D->hashes);
        free(D->klens);
        free(D->kcmp);
        free(D->sorted);
        free(D->seen);
    }
    group_free(&a->total);
    arena_free(&a->arena);
    for (size_t i = 0; i < a->nkey_chunks; i++) free(a->key_chunks[i]);
    free(a->key_chunks);
    free(a);
}
