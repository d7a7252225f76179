/* Connection slots shared by `batch -P N`'s workers (engine/slots.c): the
 * per-address limit and the total cap hold whoever asks, waiters get their
 * slots in order, a cancelled wait gives its place back; with real threads,
 * the limits are never exceeded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "slots.h"

typedef struct wake_log {
    uint64_t order[16];
    int n;
} wake_log;

static void on_wake(void *ctx, uint64_t ticket) {
    wake_log *l = ctx;
    l->order[l->n++] = ticket;
}

static void test_per_host(void **st) {
    (void)st;
    mx_slots *s = mx_slots_new(1, 10);
    wake_log l = {{0}, 0};
    mx_slots_waiter w[4];
    for (int i = 0; i < 4; i++) w[i] = (mx_slots_waiter){on_wake, &l, (uint64_t)i};
    assert_int_equal(mx_slots_acquire(s, "192.0.2.1", &w[0]), 1);
    /* the same address waits; another does not */
    assert_int_equal(mx_slots_acquire(s, "192.0.2.1", &w[1]), 0);
    assert_int_equal(mx_slots_acquire(s, "192.0.2.1", &w[2]), 0);
    assert_int_equal(mx_slots_acquire(s, "192.0.2.2", &w[3]), 1);
    assert_int_equal(l.n, 0);
    mx_slots_release(s, "192.0.2.1");
    assert_int_equal(l.n, 1);
    assert_int_equal(l.order[0], 1); /* FIFO */
    /* the second waiter's task is gone: its place is given back */
    assert_int_equal(mx_slots_cancel(s, "192.0.2.1", &l, 2), 1);
    assert_int_equal(mx_slots_cancel(s, "192.0.2.1", &l, 2), 0);
    mx_slots_release(s, "192.0.2.1");
    assert_int_equal(l.n, 1);
    mx_slots_release(s, "192.0.2.2");
    mx_slots_stats stt;
    mx_slots_get_stats(s, &stt);
    assert_int_equal(stt.connects, 3);
    assert_int_equal(stt.waited, 2);
    assert_int_equal(stt.peak_per_host, 1);
    assert_int_equal(stt.peak, 2);
    assert_int_equal(stt.addresses, 2);
    assert_int_equal(mx_slots_connects(s, "192.0.2.1"), 2);
    assert_int_equal(mx_slots_connects(s, "192.0.2.9"), 0);
    /* a release of nothing changes nothing */
    mx_slots_release(s, "192.0.2.9");
    mx_slots_release(s, "192.0.2.2");
    mx_slots_get_stats(s, &stt);
    assert_int_equal(stt.connects, 3);
    mx_slots_free(s);
}

static void test_total(void **st) {
    (void)st;
    mx_slots *s = mx_slots_new(2, 2);
    wake_log l = {{0}, 0};
    mx_slots_waiter w[5];
    for (int i = 0; i < 5; i++) w[i] = (mx_slots_waiter){on_wake, &l, (uint64_t)i};
    assert_int_equal(mx_slots_acquire(s, "a", &w[0]), 1);
    assert_int_equal(mx_slots_acquire(s, "b", &w[1]), 1);
    /* the cap is reached: these queue for a total slot, in order */
    assert_int_equal(mx_slots_acquire(s, "c", &w[2]), 0);
    assert_int_equal(mx_slots_acquire(s, "d", &w[3]), 0);
    /* cancelled while waiting for a total slot: its per-address slot freed too */
    assert_int_equal(mx_slots_cancel(s, "d", &l, 3), 1);
    assert_int_equal(mx_slots_acquire(s, "d", &w[4]), 0);
    mx_slots_release(s, "a");
    assert_int_equal(l.n, 1);
    assert_int_equal(l.order[0], 2);
    mx_slots_release(s, "b");
    assert_int_equal(l.n, 2);
    assert_int_equal(l.order[1], 4);
    mx_slots_stats stt;
    mx_slots_get_stats(s, &stt);
    assert_int_equal(stt.peak, 2);
    assert_int_equal(stt.connects, 4);
    mx_slots_release(s, "c");
    /* a TTL probe: a total slot, no address's */
    assert_int_equal(mx_slots_acquire(s, NULL, &w[0]), 1);
    assert_int_equal(mx_slots_acquire(s, "e", &w[1]), 0); /* the cap: d and the probe */
    mx_slots_release(s, NULL);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.order[2], 1);
    mx_slots_release(s, NULL); /* none held: nothing */
    mx_slots_get_stats(s, &stt);
    assert_int_equal(stt.peak, 2);
    assert_int_equal(stt.addresses, 5);
    mx_slots_release(s, "d");
    mx_slots_release(s, "e");
    mx_slots_free(s);
}

/* ---- threads: workers connecting to a few addresses ---- */
enum { THREADS = 4, ROUNDS = 3000, ADDRS = 3, PER_HOST = 2, TOTAL = 5 };

typedef struct counts {
    pthread_mutex_t mu;
    int open[ADDRS], open_total, worst_host, worst_total;
} counts;
static counts C;

typedef struct tw {
    mx_slots *s;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int granted;
    unsigned seed;
} tw;

static void thread_wake(void *ctx, uint64_t ticket) {
    tw *w = ctx;
    (void)ticket;
    pthread_mutex_lock(&w->mu);
    w->granted++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void *tw_main(void *arg) {
    tw *w = arg;
    char addr[16];
    for (int r = 0; r < ROUNDS; r++) {
        int a = (int)(rand_r(&w->seed) % ADDRS);
        snprintf(addr, sizeof addr, "198.51.100.%d", a);
        mx_slots_waiter me = {thread_wake, w, (uint64_t)r};
        if (!mx_slots_acquire(w->s, addr, &me)) {
            pthread_mutex_lock(&w->mu);
            while (!w->granted) pthread_cond_wait(&w->cv, &w->mu);
            w->granted--;
            pthread_mutex_unlock(&w->mu);
        }
        pthread_mutex_lock(&C.mu);
        C.open[a]++;
        C.open_total++;
        if (C.open[a] > C.worst_host) C.worst_host = C.open[a];
        if (C.open_total > C.worst_total) C.worst_total = C.open_total;
        C.open[a]--;
        C.open_total--;
        pthread_mutex_unlock(&C.mu);
        mx_slots_release(w->s, addr);
    }
    return NULL;
}

static void test_threads(void **st) {
    (void)st;
    mx_slots *s = mx_slots_new(PER_HOST, TOTAL);
    memset(&C, 0, sizeof C);
    pthread_mutex_init(&C.mu, NULL);
    /* each thread holds one connection at a time: with 4 threads the per-host
     * limit is what binds; the slot store's own peak says it held */
    tw ws[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&ws[i], 0, sizeof ws[i]);
        ws[i].s = s;
        ws[i].seed = (unsigned)i * 7919u + 1;
        pthread_mutex_init(&ws[i].mu, NULL);
        pthread_cond_init(&ws[i].cv, NULL);
        assert_int_equal(pthread_create(&th[i], NULL, tw_main, &ws[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ws[i].granted, 0);
    }
    mx_slots_stats stt;
    mx_slots_get_stats(s, &stt);
    assert_int_equal(stt.connects, THREADS * ROUNDS);
    assert_true(stt.peak_per_host <= PER_HOST);
    assert_true(stt.peak <= TOTAL);
    assert_true(C.worst_host <= PER_HOST);
    for (int i = 0; i < THREADS; i++) {
        pthread_mutex_destroy(&ws[i].mu);
        pthread_cond_destroy(&ws[i].cv);
    }
    pthread_mutex_destroy(&C.mu);
    mx_slots_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_host),
        cmocka_unit_test(test_total),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
