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
    mx_agg_group **groups; /* insertion order; sorted copy in `sorted` */
    size_t n;
    uint32_t *slots;       /* open addressing: index+1, 0 = empty */
    size_t nslots;
    uint64_t *hashes;
    mx_agg_group *other;
    const mx_agg_group **sorted;
} agg_dim;

struct mx_log_agg {
    size_t max_groups;
    agg_dim dims[MX_AGG__DIMS];
    mx_agg_group total;
};

static char lc(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c; }

/* FNV-1a over lower-cased bytes, finished with a murmur-style mix so the
 * high bits are good enough for HLL register selection. */
static uint64_t hash_lc(const char *p, size_t n, uint64_t seed) {
    uint64_t h = 1469598103934665603ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)lc(p[i]);
        h *= 1099511628211ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
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
static void distinct_add(mx_agg_distinct *d, uint64_t h) {
    if (d->hll) {
        hll_add(d->hll, h);
        return;
    }
    if (!d->set) {
        d->cap = 8;
        d->set = mx_xcalloc(d->cap, sizeof *d->set);
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
            uint64_t *ns = mx_xcalloc(nc, sizeof *ns);
            for (uint32_t k = 0; k < d->cap; k++)
                if (d->set[k]) set_insert(ns, nc, d->set[k]);
            free(d->set);
            d->set = ns;
            d->cap = nc;
        }
        return;
    }
    /* Overflow: switch to a HyperLogLog seeded with what we knew. */
    d->hll = mx_xcalloc(HLL_M, 1);
    for (size_t k = 0; k < d->cap; k++)
        if (d->set[k]) hll_add(d->hll, d->set[k]);
    hll_add(d->hll, h);
    free(d->set);
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
    return r < MX_AGG_EXACT_MAX ? MX_AGG_EXACT_MAX : r; /* we know it overflowed */
}

int mx_agg_distinct_exact(const mx_agg_distinct *d) { return d->hll == NULL; }

static void distinct_free(mx_agg_distinct *d) {
    free(d->set);
    free(d->hll);
}

static void group_init(mx_agg_group *g, char *key, int cause) {
    memset(g, 0, sizeof *g);
    g->key = key;
    g->cause = cause;
    g->first = g->first_fail = INT64_MAX;
    g->last = g->last_fail = g->last_ok = INT64_MIN;
    if (cause >= 0) {
        const char *slash = strchr(key, '/');
        g->sub = slash ? slash + 1 : NULL;
    }
}

mx_log_agg *mx_log_agg_new(size_t max_groups) {
    mx_log_agg *a = mx_xcalloc(1, sizeof *a);
    a->max_groups = max_groups ? max_groups : MX_AGG_DEFAULT_MAX_GROUPS;
    for (int d = 0; d < MX_AGG__DIMS; d++) {
        size_t ns = 16;
        while (ns < a->max_groups * 2) ns <<= 1;
        a->dims[d].nslots = ns;
        a->dims[d].slots = mx_xcalloc(ns, sizeof *a->dims[d].slots);
        a->dims[d].hashes = mx_xcalloc(a->max_groups, sizeof *a->dims[d].hashes);
        a->dims[d].groups = mx_xcalloc(a->max_groups, sizeof *a->dims[d].groups);
    }
    group_init(&a->total, mx_xstrdup("(total)"), -1);
    return a;
}

/* Key = [cause name + "/"] + slice, lower-cased (domains and addresses are
 * case-insensitive).  h is the caller's hash of the slice (computed once per
 * event and shared by all dimensions); cause >= 0 is mixed in for the
 * cause x key dimensions. */
static mx_agg_group *lookup(mx_log_agg *a, mx_agg_dim dim, int cause, const char *p, size_t n, uint64_t h) {
    agg_dim *D = &a->dims[dim];
    const char *prefix = cause >= 0 && dim != MX_AGG_CAUSE ? mx_log_cause_name((mx_log_cause)cause) : NULL;
    if (prefix) h = (h ^ ((uint64_t)(cause + 1) * 0x9e3779b97f4a7c15ULL)) * 0xff51afd7ed558ccdULL;
    size_t mask = D->nslots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t s = D->slots[i];
        if (!s) break;
        if (D->hashes[s - 1] != h) continue;
        mx_agg_group *g = D->groups[s - 1];
        const char *k = prefix ? g->sub : g->key;
        if (prefix && g->cause != cause) continue;
        if (k && strlen(k) == n && strncasecmp(k, p, n) == 0) return g;
    }
    if (D->n >= a->max_groups) {
        if (!D->other) {
            D->other = mx_xmalloc(sizeof *D->other);
            group_init(D->other, mx_xstrdup(OTHER_KEY), -1);
        }
        return D->other;
    }
    size_t pl = prefix ? strlen(prefix) : 0;
    char *key = mx_xmalloc(pl + 1 + n + 1);
    size_t o = 0;
    if (pl) {
        memcpy(key, prefix, pl);
        key[pl] = '/';
        o = pl + 1;
    }
    for (size_t i = 0; i < n; i++) key[o + i] = lc(p[i]);
    key[o + n] = 0;
    mx_agg_group *g = mx_xmalloc(sizeof *g);
    group_init(g, key, cause);
    D->groups[D->n] = g;
    D->hashes[D->n] = h;
    D->n++;
    for (size_t i = h & mask;; i = (i + 1) & mask)
        if (!D->slots[i]) {
            D->slots[i] = (uint32_t)D->n;
            break;
        }
    free(D->sorted);
    D->sorted = NULL;
    return g;
}

/* Which distinct counters a dimension maintains: each costs a hash-set
 * probe per event, so only those the report reads are kept. */
enum { D_MSGS = 1, D_RCPTS = 2, D_DOMS = 4, D_ADDRS = 8, D_ALL = 15 };

static void group_add(mx_agg_group *g, const mx_log_event *ev, uint64_t hq, uint64_t hr, uint64_t hd,
                      uint64_t ha, int which) {
    int fail = ev->cause != MX_LOG_CAUSE_NONE;
    g->events++;
    if (ev->status == MX_LOG_STATUS_NONE) g->attempts++;
    g->by_status[ev->status]++;
    g->by_cause[ev->cause]++;
    if (!ev->local) {
        g->external++;
        if (fail) g->ext_fail++;
        else g->ext_ok++;
    }
    if (ev->time != MX_LOG_TIME_UNKNOWN) {
        if (ev->time < g->first) g->first = ev->time;
        if (ev->time > g->last) g->last = ev->time;
        if (fail) {
            if (ev->time < g->first_fail) g->first_fail = ev->time;
            if (ev->time > g->last_fail) g->last_fail = ev->time;
        } else if (ev->time > g->last_ok && !ev->local) {
            g->last_ok = ev->time;
        }
    }
    if (hq && (which & D_MSGS)) distinct_add(&g->msgs, hq);
    if (hr && (which & D_RCPTS)) distinct_add(&g->rcpts, hr);
    if (hd && (which & D_DOMS)) distinct_add(&g->domains, hd);
    if (ha && (which & D_ADDRS)) distinct_add(&g->addrs, ha);
}

void mx_log_agg_add(mx_log_agg *a, const mx_log_event *ev) {
    /* Hash once per event; 0 means "not logged". */
    uint64_t hq = ev->queue_id.n ? hash_lc(ev->queue_id.p, ev->queue_id.n, 1) | 1 : 0;
    uint64_t hr = ev->recipient.n ? hash_lc(ev->recipient.p, ev->recipient.n, 2) | 1 : 0;
    uint64_t hd = ev->domain.n ? hash_lc(ev->domain.p, ev->domain.n, 3) | 1 : 0;
    uint64_t ha = ev->relay_addr.n ? hash_lc(ev->relay_addr.p, ev->relay_addr.n, 4) | 1 : 0;
    int c = (int)ev->cause;
    const char *cn = mx_log_cause_name(ev->cause);
    group_add(&a->total, ev, hq, hr, hd, ha, D_ALL);
    group_add(lookup(a, MX_AGG_CAUSE, c, cn, strlen(cn), (uint64_t)c * 0x9e3779b97f4a7c15ULL + 5), ev, hq, hr, hd,
              ha, D_ALL);
    if (hd) {
        group_add(lookup(a, MX_AGG_DOMAIN, -1, ev->domain.p, ev->domain.n, hd), ev, hq, hr, hd, ha,
                  D_MSGS | D_RCPTS | D_ADDRS);
        group_add(lookup(a, MX_AGG_CAUSE_DOMAIN, c, ev->domain.p, ev->domain.n, hd), ev, hq, hr, hd, ha, D_MSGS);
    }
    if (ha) {
        group_add(lookup(a, MX_AGG_ADDR, -1, ev->relay_addr.p, ev->relay_addr.n, ha), ev, hq, hr, hd, ha,
                  D_MSGS | D_DOMS);
        group_add(lookup(a, MX_AGG_CAUSE_ADDR, c, ev->relay_addr.p, ev->relay_addr.n, ha), ev, hq, hr, hd, ha,
                  D_MSGS);
    }
    mx_log_str src = ev->source;
    if (!src.n) {
        src.p = mx_log_mta_name(ev->mta);
        src.n = strlen(src.p);
    }
    group_add(lookup(a, MX_AGG_SOURCE, -1, src.p, src.n, hash_lc(src.p, src.n, 6)), ev, hq, hr, hd, ha, D_MSGS);
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
    free(D->sorted);
    D->sorted = mx_xmalloc((n ? n : 1) * sizeof *D->sorted);
    for (size_t i = 0; i < D->n; i++) D->sorted[i] = D->groups[i];
    qsort(D->sorted, D->n, sizeof *D->sorted, cmp_group);
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

static void group_free(mx_agg_group *g) {
    free(g->key);
    distinct_free(&g->msgs);
    distinct_free(&g->rcpts);
    distinct_free(&g->domains);
    distinct_free(&g->addrs);
}

void mx_log_agg_free(mx_log_agg *a) {
    if (!a) return;
    for (int d = 0; d < MX_AGG__DIMS; d++) {
        agg_dim *D = &a->dims[d];
        for (size_t i = 0; i < D->n; i++) {
            group_free(D->groups[i]);
            free(D->groups[i]);
        }
        if (D->other) {
            group_free(D->other);
            free(D->other);
        }
        free(D->groups);
        free(D->slots);
        free(D->hashes);
        free(D->sorted);
    }
    group_free(&a->total);
    free(a);
}
