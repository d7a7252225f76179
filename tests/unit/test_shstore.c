/* The process-wide once-store behind `batch -P N` (engine/shstore.c): its
 * state machine (claim, publish, wait, error, abandon) and, with real
 * threads, that every key is run by exactly one worker and every waiter is
 * woken exactly once with the owner's value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "shstore.h"

typedef struct wake_log {
    int n;
    uint64_t last;
} wake_log;

static void on_wake(void *ctx, uint64_t ticket) {
    wake_log *l = ctx;
    l->n++;
    l->last = ticket;
}

static void test_claim_publish(void **st) {
    (void)st;
    mx_shstore *s = mx_shstore_new();
    int ok = -1;
    char *v = NULL;
    size_t len = 0;
    wake_log l1 = {0};
    mx_shstore_waiter w1 = {on_wake, &l1, 7};
    assert_int_equal(mx_shstore_claim(s, "tcp|a", 0, NULL, &ok, &v, &len), MX_SHSTORE_RUN);
    assert_false(mx_shstore_done(s, "tcp|a"));
    /* the owner asking again: still its own (its callers wait locally) */
    assert_int_equal(mx_shstore_claim(s, "tcp|a", 0, NULL, &ok, &v, &len), MX_SHSTORE_RUN);
    /* another worker waits, once even if it asks twice */
    assert_int_equal(mx_shstore_claim(s, "tcp|a", 1, &w1, &ok, &v, &len), MX_SHSTORE_WAIT);
    assert_int_equal(mx_shstore_claim(s, "tcp|a", 1, &w1, &ok, &v, &len), MX_SHSTORE_WAIT);
    assert_int_equal(l1.n, 0);
    /* only the owner publishes */
    assert_int_equal(mx_shstore_publish(s, "tcp|a", 1, 1, "x", 1), -1);
    assert_int_equal(mx_shstore_publish(s, "tcp|b", 0, 1, "x", 1), -1);
    assert_int_equal(mx_shstore_publish(s, "tcp|a", 0, 1, "{\"v\":1}", 7), 0);
    assert_int_equal(l1.n, 1);
    assert_int_equal(l1.last, 7);
    assert_true(mx_shstore_done(s, "tcp|a"));
    /* published twice: refused */
    assert_int_equal(mx_shstore_publish(s, "tcp|a", 0, 1, "y", 1), -1);
    /* every later claim reads the value, whoever asks */
    for (int wk = 0; wk < 3; wk++) {
        assert_int_equal(mx_shstore_claim(s, "tcp|a", wk, &w1, &ok, &v, &len), MX_SHSTORE_DONE);
        assert_int_equal(ok, 1);
        assert_int_equal(len, 7);
        assert_string_equal(v, "{\"v\":1}");
        free(v);
    }
    assert_int_equal(l1.n, 1);
    mx_shstore_stats stt;
    mx_shstore_get_stats(s, &stt);
    assert_int_equal(stt.runs, 1);
    assert_int_equal(stt.hits, 3);
    assert_int_equal(stt.waits, 2);
    mx_shstore_free(s);
}

static void test_error_and_abandon(void **st) {
    (void)st;
    mx_shstore *s = mx_shstore_new();
    int ok = -1;
    char *v = NULL;
    size_t len = 0;
    wake_log l1 = {0}, l2 = {0};
    mx_shstore_waiter w1 = {on_wake, &l1, 1}, w2 = {on_wake, &l2, 2};
    /* a failed run: its error is the value, for everyone */
    assert_int_equal(mx_shstore_claim(s, "k", 3, NULL, &ok, &v, &len), MX_SHSTORE_RUN);
    assert_int_equal(mx_shstore_claim(s, "k", 4, &w1, &ok, &v, &len), MX_SHSTORE_WAIT);
    assert_int_equal(mx_shstore_publish(s, "k", 3, 0, "boom", 4), 0);
    assert_int_equal(l1.n, 1);
    assert_int_equal(mx_shstore_claim(s, "k", 4, &w1, &ok, &v, &len), MX_SHSTORE_DONE);
    assert_int_equal(ok, 0);
    assert_string_equal(v, "boom");
    free(v);
    /* an empty value is a value */
    assert_int_equal(mx_shstore_claim(s, "e", 0, NULL, &ok, &v, &len), MX_SHSTORE_RUN);
    assert_int_equal(mx_shstore_publish(s, "e", 0, 1, NULL, 0), 0);
    assert_int_equal(mx_shstore_claim(s, "e", 1, NULL, &ok, &v, &len), MX_SHSTORE_DONE);
    assert_int_equal(len, 0);
    assert_string_equal(v, "");
    free(v);
    /* abandoned: waiters woken, the next claim runs it */
    assert_int_equal(mx_shstore_claim(s, "a", 0, NULL, &ok, &v, &len), MX_SHSTORE_RUN);
    assert_int_equal(mx_shstore_claim(s, "a", 1, &w1, &ok, &v, &len), MX_SHSTORE_WAIT);
    assert_int_equal(mx_shstore_claim(s, "a", 2, &w2, &ok, &v, &len), MX_SHSTORE_WAIT);
    assert_int_equal(mx_shstore_abandon(s, "a", 1), -1);
    /* a dropped waiter is not woken */
    assert_int_equal(mx_shstore_unwait(s, "a", 2), 1);
    assert_int_equal(mx_shstore_unwait(s, "a", 2), 0);
    assert_int_equal(mx_shstore_abandon(s, "a", 0), 0);
    assert_int_equal(l1.n, 2);
    assert_int_equal(l2.n, 0);
    assert_false(mx_shstore_done(s, "a"));
    assert_int_equal(mx_shstore_claim(s, "a", 1, &w1, &ok, &v, &len), MX_SHSTORE_RUN);
    assert_int_equal(mx_shstore_publish(s, "a", 1, 1, "1", 1), 0);
    mx_shstore_free(s);
}

/* ---- threads: K workers over the same keys ---- */
enum { WORKERS = 4, KEYS = 2000 };

typedef struct worker {
    mx_shstore *s;
    int id;
    int ran, read, waited;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int woken;               /* tickets woken, not yet seen */
    int bad;
} worker;

static void thread_wake(void *ctx, uint64_t ticket) {
    worker *w = ctx;
    (void)ticket;
    pthread_mutex_lock(&w->mu);
    w->woken++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void *worker_main(void *arg) {
    worker *w = arg;
    char key[32], val[32];
    for (int k = 0; k < KEYS; k++) {
        int idx = (k * 7 + w->id * 131) % KEYS; /* each worker in its own order */
        snprintf(key, sizeof key, "key%d", idx);
        mx_shstore_waiter me = {thread_wake, w, (uint64_t)idx};
        for (;;) {
            int ok;
            char *v = NULL;
            size_t len;
            int r = mx_shstore_claim(w->s, key, w->id, &me, &ok, &v, &len);
            if (r == MX_SHSTORE_RUN) {
                w->ran++;
                snprintf(val, sizeof val, "v%d", idx);
                if (mx_shstore_publish(w->s, key, w->id, 1, val, strlen(val)) != 0) w->bad++;
                break;
            }
            if (r == MX_SHSTORE_DONE) {
                snprintf(val, sizeof val, "v%d", idx);
                if (!ok || strcmp(v, val)) w->bad++;
                free(v);
                w->read++;
                break;
            }
            /* WAIT: until the owner publishes (woken exactly once) */
            w->waited++;
            pthread_mutex_lock(&w->mu);
            while (!w->woken) pthread_cond_wait(&w->cv, &w->mu);
            w->woken--;
            pthread_mutex_unlock(&w->mu);
        }
    }
    return NULL;
}

static void test_threads(void **st) {
    (void)st;
    mx_shstore *s = mx_shstore_new();
    worker ws[WORKERS];
    pthread_t th[WORKERS];
    memset(ws, 0, sizeof ws);
    for (int i = 0; i < WORKERS; i++) {
        ws[i].s = s;
        ws[i].id = i;
        pthread_mutex_init(&ws[i].mu, NULL);
        pthread_cond_init(&ws[i].cv, NULL);
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &ws[i]), 0);
    }
    int ran = 0, read = 0;
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ws[i].bad, 0);
        assert_int_equal(ws[i].woken, 0); /* no stray wake */
        ran += ws[i].ran;
        read += ws[i].read;
        pthread_mutex_destroy(&ws[i].mu);
        pthread_cond_destroy(&ws[i].cv);
    }
    /* each key worked out once, read by every other worker */
    assert_int_equal(ran, KEYS);
    assert_int_equal(read, KEYS * (WORKERS - 1));
    mx_shstore_stats stt;
    mx_shstore_get_stats(s, &stt);
    assert_int_equal(stt.runs, KEYS);
    mx_shstore_free(s);
}

static void test_park(void **st) {
    (void)st;
    mx_shstore *s = mx_shstore_new();
    char *d = NULL;
    size_t n = 0;
    assert_int_equal(mx_shstore_unpark(s, "conn|0|192.0.2.1", &d, &n), 0);
    assert_int_equal(mx_shstore_park(s, "conn|0|192.0.2.1", "fd=7", 4), 0);
    assert_int_equal(mx_shstore_park(s, "conn|0|192.0.2.1", "fd=8", 4), -1); /* one at a time */
    assert_int_equal(mx_shstore_unpark(s, "conn|0|192.0.2.1", &d, &n), 1);
    assert_int_equal(n, 4);
    assert_string_equal(d, "fd=7");
    free(d);
    /* taken once */
    assert_int_equal(mx_shstore_unpark(s, "conn|0|192.0.2.1", &d, &n), 0);
    assert_int_equal(mx_shstore_park(s, "conn|0|192.0.2.1", "fd=9", 4), 0);
    mx_shstore_free(s); /* a parked leftover is freed */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_park),
        cmocka_unit_test(test_claim_publish),
        cmocka_unit_test(test_error_and_abandon),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
