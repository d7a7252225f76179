/* The process-wide once-store (shstore.h): one mutex over a hash of keys. A
 * key's waiters are collected under the lock and woken after it is dropped,
 * so a wake function may take its own worker's lock without an ordering
 * between the two. */
#include "shstore.h"
#include "buf.h"
#include "strmap.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct sh_entry {
    int state;               /* MX_SHSTORE_RUN (running) or MX_SHSTORE_DONE */
    int owner;               /* the worker running it */
    int ok;
    char *value;
    size_t len;
    mx_shstore_waiter *w;    /* waiters (one per worker at most) */
    int *w_worker;
    size_t nw, capw;
} sh_entry;

struct mx_shstore {
    pthread_mutex_t mu;
    mx_strmap keys;          /* key -> sh_entry */
    mx_strmap parked;        /* key -> sh_parked */
    mx_shstore_stats stats;
};

mx_shstore *mx_shstore_new(void) {
    mx_shstore *s = mx_xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    return s;
}

static void entry_free(void *v) {
    sh_entry *e = v;
    free(e->value);
    free(e->w);
    free(e->w_worker);
    free(e);
}

typedef struct sh_parked {
    char *data;
    size_t len;
} sh_parked;

static void parked_free(void *v) {
    sh_parked *p = v;
    free(p->data);
    free(p);
}

void mx_shstore_free(mx_shstore *s) {
    if (!s) return;
    mx_strmap_free(&s->keys, entry_free);
    mx_strmap_free(&s->parked, parked_free);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static char *copy_bytes(const char *p, size_t n) {
    char *c = mx_xmalloc(n + 1);
    if (n) memcpy(c, p, n);
    c[n] = 0;
    return c;
}

int mx_shstore_claim(mx_shstore *s, const char *key, int worker, const mx_shstore_waiter *w, int *ok,
                     char **value, size_t *len) {
    pthread_mutex_lock(&s->mu);
    s->stats.claims++;
    sh_entry *e = mx_strmap_get(&s->keys, key);
    int r;
    if (!e) {
        e = mx_xcalloc(1, sizeof *e);
        e->state = MX_SHSTORE_RUN;
        e->owner = worker;
        mx_strmap_put(&s->keys, key, e);
        s->stats.runs++;
        r = MX_SHSTORE_RUN;
    } else if (e->state == MX_SHSTORE_DONE) {
        *ok = e->ok;
        *value = copy_bytes(e->value, e->len);
        *len = e->len;
        s->stats.hits++;
        r = MX_SHSTORE_DONE;
    } else if (e->owner == worker) {
        /* the caller runs it already: its own callers wait for it locally */
        r = MX_SHSTORE_RUN;
    } else {
        s->stats.waits++;
        if (w) {
            size_t i;
            for (i = 0; i < e->nw && e->w_worker[i] != worker; i++) {}
            if (i == e->nw) {
                if (e->nw == e->capw) {
                    e->capw = e->capw ? e->capw * 2 : 4;
                    e->w = mx_xrealloc(e->w, e->capw * sizeof *e->w);
                    e->w_worker = mx_xrealloc(e->w_worker, e->capw * sizeof *e->w_worker);
                }
                e->nw++;
            }
            e->w[i] = *w;
            e->w_worker[i] = worker;
        }
        r = MX_SHSTORE_WAIT;
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* Takes e's waiters (under the lock); wake_all calls them (unlocked). */
static mx_shstore_waiter *take_waiters(sh_entry *e, size_t *n) {
    mx_shstore_waiter *w = e->w;
    *n = e->nw;
    e->w = NULL;
    free(e->w_worker);
    e->w_worker = NULL;
    e->nw = e->capw = 0;
    return w;
}

static void wake_all(mx_shstore_waiter *w, size_t n) {
    for (size_t i = 0; i < n; i++) w[i].wake(w[i].ctx, w[i].ticket);
    free(w);
}

int mx_shstore_publish(mx_shstore *s, const char *key, int worker, int ok, const char *value, size_t len) {
    pthread_mutex_lock(&s->mu);
    sh_entry *e = mx_strmap_get(&s->keys, key);
    if (!e || e->state != MX_SHSTORE_RUN || e->owner != worker) {
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    e->state = MX_SHSTORE_DONE;
    e->ok = ok ? 1 : 0;
    e->value = copy_bytes(value ? value : "", value ? len : 0);
    e->len = value ? len : 0;
    size_t n;
    mx_shstore_waiter *w = take_waiters(e, &n);
    pthread_mutex_unlock(&s->mu);
    wake_all(w, n);
    return 0;
}

int mx_shstore_abandon(mx_shstore *s, const char *key, int worker) {
    pthread_mutex_lock(&s->mu);
    sh_entry *e = mx_strmap_get(&s->keys, key);
    if (!e || e->state != MX_SHSTORE_RUN || e->owner != worker) {
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    size_t n;
    mx_shstore_waiter *w = take_waiters(e, &n);
    mx_strmap_del(&s->keys, key);
    entry_free(e);
    pthread_mutex_unlock(&s->mu);
    wake_all(w, n);
    return 0;
}

int mx_shstore_unwait(mx_shstore *s, const char *key, int worker) {
    int removed = 0;
    pthread_mutex_lock(&s->mu);
    sh_entry *e = mx_strmap_get(&s->keys, key);
    for (size_t i = 0; e && i < e->nw; i++) {
        if (e->w_worker[i] != worker) continue;
        e->w[i] = e->w[e->nw - 1];
        e->w_worker[i] = e->w_worker[e->nw - 1];
        e->nw--;
        removed = 1;
        break;
    }
    pthread_mutex_unlock(&s->mu);
    return removed;
}

int mx_shstore_done(mx_shstore *s, const char *key) {
    pthread_mutex_lock(&s->mu);
    sh_entry *e = mx_strmap_get(&s->keys, key);
    int d = e && e->state == MX_SHSTORE_DONE;
    pthread_mutex_unlock(&s->mu);
    return d;
}

int mx_shstore_park(mx_shstore *s, const char *key, const void *data, size_t len) {
    pthread_mutex_lock(&s->mu);
    int r = -1;
    if (!mx_strmap_has(&s->parked, key)) {
        sh_parked *p = mx_xcalloc(1, sizeof *p);
        p->data = copy_bytes(data, len);
        p->len = len;
        mx_strmap_put(&s->parked, key, p);
        r = 0;
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

int mx_shstore_unpark(mx_shstore *s, const char *key, char **data, size_t *len) {
    pthread_mutex_lock(&s->mu);
    sh_parked *p = mx_strmap_del(&s->parked, key);
    pthread_mutex_unlock(&s->mu);
    if (!p) return 0;
    *data = p->data;
    *len = p->len;
    free(p);
    return 1;
}

void mx_shstore_get_stats(mx_shstore *s, mx_shstore_stats *out) {
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    pthread_mutex_unlock(&s->mu);
}
