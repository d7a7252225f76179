/* Cross-worker connection slots (slots.h): one mutex; wakes are collected
 * under it and called after it is dropped. */
#include "slots.h"
#include "buf.h"
#include "strmap.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct sl_addr {
    int active;              /* per-address slots held (granted, or waiting for a total slot) */
    int open;                /* granted: connections open now */
    int peak;
    long long connects;
    mx_slots_waiter *q;      /* waiting for a per-address slot, FIFO */
    size_t nq, capq;
} sl_addr;

typedef struct sl_total_wait {
    mx_slots_waiter w;
    sl_addr *p;
} sl_total_wait;

typedef struct sl_wakes {
    mx_slots_waiter *w;
    size_t n, cap;
} sl_wakes;

struct mx_slots {
    pthread_mutex_t mu;
    int per_host, total_limit, total_active;
    int total_only;          /* granted without an address (TTL probes) */
    mx_strmap addrs;         /* addr -> sl_addr, kept for the counts */
    sl_total_wait *tq;       /* waiting for a total slot, FIFO */
    size_t tq_n, tq_cap;
    mx_slots_stats st;
};

mx_slots *mx_slots_new(int per_host, int total_limit) {
    mx_slots *s = mx_xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->per_host = per_host > 0 ? per_host : 1;
    s->total_limit = total_limit > 0 ? total_limit : 1;
    s->st.per_host = s->per_host;
    s->st.total_limit = s->total_limit;
    return s;
}

static void addr_free(void *v) {
    sl_addr *p = v;
    free(p->q);
    free(p);
}

void mx_slots_free(mx_slots *s) {
    if (!s) return;
    mx_strmap_free(&s->addrs, addr_free);
    free(s->tq);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static sl_addr *addr_get(mx_slots *s, const char *addr) {
    sl_addr *p = mx_strmap_get(&s->addrs, addr);
    if (!p) {
        p = mx_xcalloc(1, sizeof *p);
        mx_strmap_put(&s->addrs, addr, p);
        s->st.addresses++;
    }
    return p;
}

static void wakes_add(sl_wakes *wk, const mx_slots_waiter *w) {
    if (wk->n == wk->cap) {
        wk->cap = wk->cap ? wk->cap * 2 : 8;
        wk->w = mx_xrealloc(wk->w, wk->cap * sizeof *wk->w);
    }
    wk->w[wk->n++] = *w;
}

static void wakes_run(sl_wakes *wk) {
    for (size_t i = 0; i < wk->n; i++) wk->w[i].wake(wk->w[i].ctx, wk->w[i].ticket);
    free(wk->w);
}

static void grant(mx_slots *s, sl_addr *p) {
    s->total_active++;
    s->st.connects++;
    if (s->total_active > s->st.peak) s->st.peak = s->total_active;
    if (!p) { s->total_only++; return; }
    p->open++;
    p->connects++;
    if (p->open > p->peak) p->peak = p->open;
    if (p->peak > s->st.peak_per_host) s->st.peak_per_host = p->peak;
    if (p->connects > s->st.max_connects_per_address) s->st.max_connects_per_address = p->connects;
}

/* p's per-address slot is held: take a total slot now (1) or queue for one. */
static int total_step(mx_slots *s, sl_addr *p, const mx_slots_waiter *w) {
    if (s->total_active < s->total_limit && s->tq_n == 0) {
        grant(s, p);
        return 1;
    }
    if (s->tq_n == s->tq_cap) {
        s->tq_cap = s->tq_cap ? s->tq_cap * 2 : 64;
        s->tq = mx_xrealloc(s->tq, s->tq_cap * sizeof *s->tq);
    }
    s->tq[s->tq_n].w = *w;
    s->tq[s->tq_n].p = p;
    s->tq_n++;
    return 0;
}

int mx_slots_acquire(mx_slots *s, const char *addr, const mx_slots_waiter *w) {
    pthread_mutex_lock(&s->mu);
    sl_addr *p = addr ? addr_get(s, addr) : NULL;
    int r;
    if (!p) {
        r = total_step(s, NULL, w);
    } else if (p->active < s->per_host) {
        p->active++;
        r = total_step(s, p, w);
    } else {
        if (p->nq == p->capq) {
            p->capq = p->capq ? p->capq * 2 : 4;
            p->q = mx_xrealloc(p->q, p->capq * sizeof *p->q);
        }
        p->q[p->nq++] = *w;
        r = 0;
    }
    if (!r) s->st.waited++;
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* Hands free slots on: p's next waiter (per-address), then the total queue. */
static void hand_on(mx_slots *s, sl_addr *p, sl_wakes *wk) {
    if (p && p->nq && p->active < s->per_host) {
        mx_slots_waiter w = p->q[0];
        memmove(p->q, p->q + 1, (p->nq - 1) * sizeof *p->q);
        p->nq--;
        p->active++;
        if (total_step(s, p, &w)) wakes_add(wk, &w);
    }
    size_t i = 0;
    while (i < s->tq_n && s->total_active < s->total_limit) {
        grant(s, s->tq[i].p);
        wakes_add(wk, &s->tq[i].w);
        i++;
    }
    if (i) {
        memmove(s->tq, s->tq + i, (s->tq_n - i) * sizeof *s->tq);
        s->tq_n -= i;
    }
}

void mx_slots_release(mx_slots *s, const char *addr) {
    sl_wakes wk = {0};
    pthread_mutex_lock(&s->mu);
    sl_addr *p = addr ? mx_strmap_get(&s->addrs, addr) : NULL;
    if (!addr && s->total_only > 0) {
        s->total_only--;
        s->total_active--;
        hand_on(s, NULL, &wk);
    } else if (p && p->open > 0) {
        p->open--;
        p->active--;
        s->total_active--;
        hand_on(s, p, &wk);
    }
    pthread_mutex_unlock(&s->mu);
    wakes_run(&wk);
}

int mx_slots_cancel(mx_slots *s, const char *addr, void *ctx, uint64_t ticket) {
    sl_wakes wk = {0};
    int found = 0;
    pthread_mutex_lock(&s->mu);
    sl_addr *p = addr ? mx_strmap_get(&s->addrs, addr) : NULL;
    for (size_t i = 0; p && i < p->nq; i++) {
        if (p->q[i].ctx != ctx || p->q[i].ticket != ticket) continue;
        memmove(p->q + i, p->q + i + 1, (p->nq - i - 1) * sizeof *p->q);
        p->nq--;
        found = 1;
        break;
    }
    for (size_t i = 0; !found && i < s->tq_n; i++) {
        if (s->tq[i].w.ctx != ctx || s->tq[i].w.ticket != ticket) continue;
        sl_addr *tp = s->tq[i].p;
        memmove(s->tq + i, s->tq + i + 1, (s->tq_n - i - 1) * sizeof *s->tq);
        s->tq_n--;
        found = 1;
        /* it held p's per-address slot: the next one may have it */
        if (tp) tp->active--;
        hand_on(s, tp, &wk);
    }
    pthread_mutex_unlock(&s->mu);
    wakes_run(&wk);
    return found;
}

long long mx_slots_connects(mx_slots *s, const char *addr) {
    pthread_mutex_lock(&s->mu);
    sl_addr *p = mx_strmap_get(&s->addrs, addr);
    long long n = p ? p->connects : 0;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void mx_slots_get_stats(mx_slots *s, mx_slots_stats *out) {
    pthread_mutex_lock(&s->mu);
    *out = s->st;
    pthread_mutex_unlock(&s->mu);
}
