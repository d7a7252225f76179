#include "loop.h"
#include "buf.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

struct mx_timer {
    int64_t due;
    uint64_t seq;      /* FIFO among equal due times */
    size_t heap_index;
    mx_timer_cb cb;
    void *ud;
};

typedef struct watch {
    int fd;
    int events;
    mx_fd_cb cb;
    void *ud;
} watch;

typedef struct deferred {
    mx_defer_cb cb;
    void *ud;
} deferred;

struct mx_loop {
    int epfd;
    watch *watches;     /* indexed by fd */
    int nwatches_cap;
    int nwatching;
    mx_timer **heap;
    size_t nheap, heap_cap;
    uint64_t seq;
    deferred *dq;
    size_t ndq, dq_cap;
};

int64_t mx_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

mx_loop *mx_loop_new(void) {
    mx_loop *l = mx_xcalloc(1, sizeof *l);
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) { free(l); return NULL; }
    return l;
}

void mx_loop_free(mx_loop *l) {
    if (!l) return;
    for (size_t i = 0; i < l->nheap; i++) free(l->heap[i]);
    free(l->heap);
    free(l->watches);
    free(l->dq);
    close(l->epfd);
    free(l);
}

static int timer_less(const mx_timer *a, const mx_timer *b) {
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}
static void heap_swap(mx_loop *l, size_t i, size_t j) {
    mx_timer *t = l->heap[i];
    l->heap[i] = l->heap[j];
    l->heap[j] = t;
    l->heap[i]->heap_index = i;
    l->heap[j]->heap_index = j;
}
static void heap_up(mx_loop *l, size_t i) {
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!timer_less(l->heap[i], l->heap[p])) break;
        heap_swap(l, i, p);
        i = p;
    }
}
static void heap_down(mx_loop *l, size_t i) {
    for (;;) {
        size_t a = 2 * i + 1, b = a + 1, m = i;
        if (a < l->nheap && timer_less(l->heap[a], l->heap[m])) m = a;
        if (b < l->nheap && timer_less(l->heap[b], l->heap[m])) m = b;
        if (m == i) break;
        heap_swap(l, i, m);
        i = m;
    }
}
static void heap_remove(mx_loop *l, size_t i) {
    l->nheap--;
    if (i != l->nheap) {
        l->heap[i] = l->heap[l->nheap];
        l->heap[i]->heap_index = i;
        heap_down(l, i);
        heap_up(l, i);
    }
}

mx_timer *mx_loop_timer(mx_loop *l, int64_t ms, mx_timer_cb cb, void *ud) {
    mx_timer *t = mx_xcalloc(1, sizeof *t);
    t->due = mx_now_ms() + (ms < 0 ? 0 : ms);
    t->seq = l->seq++;
    t->cb = cb;
    t->ud = ud;
    if (l->nheap == l->heap_cap) {
        l->heap_cap = l->heap_cap ? l->heap_cap * 2 : 64;
        l->heap = mx_xrealloc(l->heap, l->heap_cap * sizeof *l->heap);
    }
    t->heap_index = l->nheap;
    l->heap[l->nheap++] = t;
    heap_up(l, t->heap_index);
    return t;
}

void mx_timer_cancel(mx_loop *l, mx_timer *t) {
    if (!t) return;
    heap_remove(l, t->heap_index);
    free(t);
}

void mx_loop_defer(mx_loop *l, mx_defer_cb cb, void *ud) {
    if (l->ndq == l->dq_cap) {
        l->dq_cap = l->dq_cap ? l->dq_cap * 2 : 64;
        l->dq = mx_xrealloc(l->dq, l->dq_cap * sizeof *l->dq);
    }
    l->dq[l->ndq].cb = cb;
    l->dq[l->ndq].ud = ud;
    l->ndq++;
}

int mx_loop_watch(mx_loop *l, int fd, int events, mx_fd_cb cb, void *ud) {
    if (fd < 0) return -EBADF;
    if (events == 0) { mx_loop_unwatch(l, fd); return 0; }
    if (fd >= l->nwatches_cap) {
        int cap = l->nwatches_cap ? l->nwatches_cap : 64;
        while (cap <= fd) cap *= 2;
        l->watches = mx_xrealloc(l->watches, (size_t)cap * sizeof *l->watches);
        memset(l->watches + l->nwatches_cap, 0, (size_t)(cap - l->nwatches_cap) * sizeof *l->watches);
        l->nwatches_cap = cap;
    }
    watch *w = &l->watches[fd];
    struct epoll_event ev = {0};
    ev.events = ((events & MX_EV_READ) ? EPOLLIN : 0) | ((events & MX_EV_WRITE) ? EPOLLOUT : 0);
    ev.data.fd = fd;
    int op = w->cb ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(l->epfd, op, fd, &ev) < 0) {
        if (op == EPOLL_CTL_MOD && errno == ENOENT) {
            if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) return -errno;
        } else return -errno;
    }
    if (!w->cb) l->nwatching++;
    w->fd = fd;
    w->events = events;
    w->cb = cb;
    w->ud = ud;
    return 0;
}

void mx_loop_unwatch(mx_loop *l, int fd) {
    if (fd < 0 || fd >= l->nwatches_cap || !l->watches[fd].cb) return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    memset(&l->watches[fd], 0, sizeof l->watches[fd]);
    l->nwatching--;
}

int mx_loop_busy(const mx_loop *l) { return l->nheap > 0 || l->nwatching > 0 || l->ndq > 0; }

int mx_loop_run_once(mx_loop *l, int64_t max_wait_ms) {
    int done = 0;
    /* Deferred calls may defer more; run only those present now so that a
     * chain of deferrals cannot starve I/O. */
    size_t n = l->ndq;
    if (n) {
        deferred *batch = mx_xmalloc(n * sizeof *batch);
        memcpy(batch, l->dq, n * sizeof *batch);
        memmove(l->dq, l->dq + n, (l->ndq - n) * sizeof *l->dq);
        l->ndq -= n;
        for (size_t i = 0; i < n; i++) batch[i].cb(l, batch[i].ud);
        free(batch);
        done += (int)n;
    }
    int64_t wait = max_wait_ms;
    /* deferred calls may have made work ready for the caller: do not sleep */
    if (l->ndq || n) wait = 0;
    if (l->nheap) {
        int64_t d = l->heap[0]->due - mx_now_ms();
        if (d < 0) d = 0;
        if (wait < 0 || d < wait) wait = d;
    }
    if (wait > 1000 * 1000) wait = 1000 * 1000;
    struct epoll_event evs[256];
    int k = epoll_wait(l->epfd, evs, 256, (int)wait);
    for (int i = 0; i < k; i++) {
        int fd = evs[i].data.fd;
        if (fd >= l->nwatches_cap) continue;
        watch *w = &l->watches[fd];
        if (!w->cb) continue; /* unwatched by an earlier callback in this batch */
        int e = 0;
        if (evs[i].events & (EPOLLIN | EPOLLHUP)) e |= MX_EV_READ;
        if (evs[i].events & EPOLLOUT) e |= MX_EV_WRITE;
        if (evs[i].events & (EPOLLERR | EPOLLHUP)) e |= MX_EV_ERROR;
        w->cb(l, fd, e, w->ud);
        done++;
    }
    int64_t now = mx_now_ms();
    while (l->nheap && l->heap[0]->due <= now) {
        mx_timer *t = l->heap[0];
        heap_remove(l, 0);
        t->cb(l, t->ud);
        free(t);
        done++;
    }
    return done;
}
