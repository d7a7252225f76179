/* Aggregator internals (engine/logagg.c): the cause x key groups found by
 * the parent key's index, the caps, the distinct counters' growth from a
 * small set to HyperLogLog (blocks reused from the arena), long keys,
 * mx_log_agg_add_batch giving exactly what mx_log_agg_add gives, and every
 * counter of a group equal to a plain 64-bit reference model's, read at any
 * point (written for a hot/cold layout with folded 16-bit deltas, measured
 * and reverted: it fails when such a fold is broken). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logagg.h"
#include "logparse.h"

static mx_log_str S(const char *s) {
    mx_log_str r = {s, strlen(s)};
    return r;
}

/* A remote delivery outcome (or an attempt, status NONE) for rcpt@domain. */
static mx_log_event ev_of(const char *qid, const char *rcpt, const char *domain, const char *addr, int cause,
                          mx_log_status st, int64_t t) {
    mx_log_event ev;
    memset(&ev, 0, sizeof ev);
    ev.time = t;
    ev.mta = MX_LOG_MTA_POSTFIX;
    ev.status = st;
    ev.cause = (mx_log_cause)cause;
    ev.queue_id = S(qid);
    ev.recipient = S(rcpt);
    ev.domain = S(domain);
    ev.relay_addr = S(addr);
    return ev;
}

/* Adds event i (queue id "Q<i>", time 10 + i) for recipient u@dom at addr. */
static void add_nth(mx_log_agg *a, int i, const char *dom, const char *addr, int cause, mx_log_status st) {
    char q[16], rcpt[300];
    snprintf(q, sizeof q, "Q%d", i);
    snprintf(rcpt, sizeof rcpt, "u@%s", dom);
    mx_log_event e = ev_of(q, rcpt, dom, addr, cause, st, 10 + i);
    mx_log_agg_add(a, &e);
}

static void test_cause_key_by_index(void **state) {
    (void)state;
    mx_log_agg *a = mx_log_agg_new(0);
    mx_log_event e1 = ev_of("Q1", "a@Example.COM", "Example.COM", "192.0.2.1", MX_LOG_CAUSE_REFUSED,
                            MX_LOG_STATUS_DEFERRED, 100);
    mx_log_event e2 = ev_of("Q2", "b@example.com", "example.com", "192.0.2.1", MX_LOG_CAUSE_REFUSED,
                            MX_LOG_STATUS_DEFERRED, 200);
    mx_log_event e3 = ev_of("Q3", "c@example.com", "EXAMPLE.com", "192.0.2.2", MX_LOG_CAUSE_TIMEOUT,
                            MX_LOG_STATUS_DEFERRED, 300);
    mx_log_event e4 = ev_of("Q4", "d@other.test", "other.test", "192.0.2.2", MX_LOG_CAUSE_REFUSED,
                            MX_LOG_STATUS_BOUNCED, 400);
    mx_log_agg_add(a, &e1);
    mx_log_agg_add(a, &e2);
    mx_log_agg_add(a, &e3);
    mx_log_agg_add(a, &e4);
    const mx_agg_group *g = mx_log_agg_find(a, MX_AGG_CAUSE_DOMAIN, "refused/example.com");
    assert_non_null(g);
    assert_int_equal(g->events, 2); /* the same group whatever the case of the key */
    assert_int_equal(mx_agg_distinct_count(&g->msgs), 2);
    assert_string_equal(g->sub, "example.com");
    g = mx_log_agg_find(a, MX_AGG_CAUSE_DOMAIN, "timeout/example.com");
    assert_non_null(g);
    assert_int_equal(g->events, 1);
    g = mx_log_agg_find(a, MX_AGG_CAUSE_DOMAIN, "refused/other.test");
    assert_non_null(g);
    assert_int_equal(g->events, 1);
    g = mx_log_agg_find(a, MX_AGG_CAUSE_ADDR, "refused/192.0.2.2");
    assert_non_null(g);
    assert_int_equal(g->events, 1);
    g = mx_log_agg_find(a, MX_AGG_CAUSE_ADDR, "refused/192.0.2.1");
    assert_non_null(g);
    assert_int_equal(g->events, 2);
    const mx_agg_group *const *gs;
    assert_int_equal(mx_log_agg_list(a, MX_AGG_CAUSE_DOMAIN, &gs), 3);
    assert_int_equal(mx_log_agg_list(a, MX_AGG_DOMAIN, &gs), 2);
    mx_log_agg_free(a);
}

/* A success has no cause x key pair: with a cap of 3 and five domains and
 * addresses delivered to first, the failing domain and address that come
 * last still get a group of their own in the cause x key dimensions (the
 * successes' pairs used to fill them, so the failing keys went to
 * "(other)" and were missing from their cause's top lists). */
static void test_success_no_pairs(void **state) {
    (void)state;
    mx_log_agg *a = mx_log_agg_new(3);
    char dom[32], ip[32];
    for (int i = 0; i < 5; i++) {
        snprintf(dom, sizeof dom, "d%d.test", i);
        snprintf(ip, sizeof ip, "192.0.2.%d", i + 1);
        add_nth(a, i, dom, ip, MX_LOG_CAUSE_NONE, MX_LOG_STATUS_SENT);
    }
    const mx_agg_group *const *gs;
    assert_int_equal(mx_log_agg_list(a, MX_AGG_CAUSE_DOMAIN, &gs), 0);
    assert_int_equal(mx_log_agg_list(a, MX_AGG_CAUSE_ADDR, &gs), 0);
    assert_int_equal(mx_log_agg_dropped(a, MX_AGG_DOMAIN), 2); /* the domains themselves are capped */
    mx_log_event f[2] = {
        ev_of("Q7", "u@d4.test", "d4.test", "192.0.2.5", MX_LOG_CAUSE_REFUSED, MX_LOG_STATUS_DEFERRED, 20),
        ev_of("Q8", "", "", "192.0.2.5", MX_LOG_CAUSE_REFUSED, MX_LOG_STATUS_NONE, 21), /* an attempt */
    };
    mx_log_agg_add_batch(a, f, 2);
    const mx_agg_group *g = mx_log_agg_find(a, MX_AGG_CAUSE_DOMAIN, "refused/d4.test");
    assert_non_null(g);
    assert_int_equal(g->ext_fail, 1);
    g = mx_log_agg_find(a, MX_AGG_CAUSE_ADDR, "refused/192.0.2.5");
    assert_non_null(g);
    assert_int_equal(g->ext_fail, 1);
    assert_int_equal(g->attempts, 1);
    assert_int_equal(mx_log_agg_list(a, MX_AGG_CAUSE_DOMAIN, &gs), 1);
    assert_int_equal(mx_log_agg_list(a, MX_AGG_CAUSE_ADDR, &gs), 1);
    assert_int_equal(mx_log_agg_dropped(a, MX_AGG_CAUSE_DOMAIN), 0);
    assert_int_equal(mx_log_agg_dropped(a, MX_AGG_CAUSE_ADDR), 0);
    /* the other dimensions count every event */
    assert_int_equal(mx_log_agg_total(a)->events, 7);
    assert_int_equal(mx_log_agg_find(a, MX_AGG_ADDR, "192.0.2.1")->ext_ok, 1);
    mx_log_agg_free(a);
}

/* A HyperLogLog estimate can overshoot; as reported it never exceeds the
 * values added.  2110 deliveries with distinct queue ids (as in the rules
 * test "cap") are estimated at 2258 messages without that bound. */
static void test_distinct_at_most_events(void **state) {
    (void)state;
    mx_log_agg *a = mx_log_agg_new(0);
    char q[16];
    for (int i = 0; i < 2110; i++) {
        snprintf(q, sizeof q, "%010X", 2101 + i);
        mx_log_event e = ev_of(q, "u@many.test", "many.test", "192.0.2.1", MX_LOG_CAUSE_REFUSED,
                               MX_LOG_STATUS_DEFERRED, 100 + i);
        mx_log_agg_add(a, &e);
    }
    const mx_agg_group *g = mx_log_agg_find(a, MX_AGG_DOMAIN, "many.test");
    assert_non_null(g);
    assert_int_equal(g->events, 2110);
    assert_false(mx_agg_distinct_exact(&g->msgs));
    assert_int_equal(mx_agg_distinct_count(&g->msgs), 2110);
    assert_int_equal(mx_agg_distinct_count(&g->rcpts), 1); /* exact counts pass through */
    mx_log_agg_free(a);
}

/* With a cap of 3 groups: a key that comes when its dimension is full goes
 * to "(other)" and stays there; keys already in keep their own group.  The
 * domain and address dimensions keep MX_AGG_LATE(3) = 1 more key whose first
 * event is a failure and that never went to "(other)" (its group holds every
 * event of its key); the cause x key dimensions hold 3 + 1 pairs. */
static void test_caps(void **state) {
    (void)state;
    assert_int_equal(MX_AGG_LATE(3), 1);
    mx_log_agg *a = mx_log_agg_new(3);
    int n_ev = 0;
#define ADD(d, cause, st) add_nth(a, n_ev++, d, "192.0.2.9", cause, st)
    ADD("d0.test", MX_LOG_CAUSE_NONE, MX_LOG_STATUS_SENT);
    ADD("d1.test", MX_LOG_CAUSE_NONE, MX_LOG_STATUS_SENT);
    ADD("d2.test", MX_LOG_CAUSE_NONE, MX_LOG_STATUS_SENT);
    ADD("d3.test", MX_LOG_CAUSE_NONE, MX_LOG_STATUS_SENT);        /* full: "(other)" */
    ADD("d4.test", MX_LOG_CAUSE_REFUSED, MX_LOG_STATUS_DEFERRED); /* new, failing: its own group */
    ADD("d3.test", MX_LOG_CAUSE_REFUSED, MX_LOG_STATUS_DEFERRED); /* counted in "(other)" before: stays */
    ADD("D4.test", MX_LOG_CAUSE_NONE, MX_LOG_STATUS_SENT);        /* its group takes its success too */
    ADD("d5.test", MX_LOG_CAUSE_TIMEOUT, MX_LOG_STATUS_DEFERRED); /* the late room is taken: "(other)" */
    ADD("d5.test", MX_LOG_CAUSE_NONE, MX_LOG_STATUS_SENT);
    assert_non_null(mx_log_agg_find(a, MX_AGG_DOMAIN, "d2.test"));
    assert_null(mx_log_agg_find(a, MX_AGG_DOMAIN, "d3.test"));
    assert_null(mx_log_agg_find(a, MX_AGG_DOMAIN, "d5.test"));
    const mx_agg_group *g = mx_log_agg_find(a, MX_AGG_DOMAIN, "d4.test");
    assert_non_null(g);
    assert_int_equal(g->ext_fail, 1);
    assert_int_equal(g->ext_ok, 1);
    assert_int_equal(g->last_outcome, 1);
    const mx_agg_group *const *gs;
    size_t n = mx_log_agg_list(a, MX_AGG_DOMAIN, &gs);
    assert_int_equal(n, 5);
    assert_string_equal(gs[n - 1]->key, "(other)");
    assert_int_equal(gs[n - 1]->ext_fail, 2); /* d3, d5 */
    assert_int_equal(gs[n - 1]->ext_ok, 2);
    assert_int_equal(mx_log_agg_dropped(a, MX_AGG_DOMAIN), 4);
    /* one address: in from the first event */
    assert_int_equal(mx_log_agg_find(a, MX_AGG_ADDR, "192.0.2.9")->events, 9);
    /* pairs: refused/d4, refused/d3 (its domain in "(other)" is still ranked
     * per cause), timeout/d5 */
    assert_int_equal(mx_log_agg_list(a, MX_AGG_CAUSE_DOMAIN, &gs), 3);
    assert_non_null(mx_log_agg_find(a, MX_AGG_CAUSE_DOMAIN, "refused/d3.test"));
    assert_int_equal(mx_log_agg_dropped(a, MX_AGG_CAUSE_DOMAIN), 0);
    ADD("d4.test", MX_LOG_CAUSE_TIMEOUT, MX_LOG_STATUS_DEFERRED); /* the 4th pair */
    ADD("d2.test", MX_LOG_CAUSE_REFUSED, MX_LOG_STATUS_DEFERRED); /* the pairs are full */
    assert_non_null(mx_log_agg_find(a, MX_AGG_CAUSE_DOMAIN, "timeout/d4.test"));
    assert_null(mx_log_agg_find(a, MX_AGG_CAUSE_DOMAIN, "refused/d2.test"));
    assert_int_equal(mx_log_agg_dropped(a, MX_AGG_CAUSE_DOMAIN), 1);
    assert_int_equal(mx_log_agg_find(a, MX_AGG_DOMAIN, "d2.test")->events, 2);
    /* an old pair still finds its own group */
    ADD("D4.test", MX_LOG_CAUSE_REFUSED, MX_LOG_STATUS_DEFERRED);
    assert_int_equal(mx_log_agg_find(a, MX_AGG_CAUSE_DOMAIN, "refused/d4.test")->events, 2);
    n = mx_log_agg_list(a, MX_AGG_CAUSE_DOMAIN, &gs);
    assert_int_equal(n, 5);
    assert_string_equal(gs[n - 1]->key, "(other)");
#undef ADD
    mx_log_agg_free(a);
}

/* Past the cap, a key counted in "(other)" once never gets a group of its
 * own (the group would miss its first events), however many keys went
 * there; a failing key never seen before does, even after 50 000 others,
 * while there is room. */
static void test_late_seen(void **state) {
    (void)state;
    mx_log_agg *a = mx_log_agg_new(4);
    char dom[32];
    for (int i = 0; i < 50004; i++) {
        snprintf(dom, sizeof dom, "s%d.test", i);
        add_nth(a, i, dom, "", MX_LOG_CAUSE_NONE, MX_LOG_STATUS_SENT);
    }
    mx_log_event f[8];
    char fd[8][32], fr[8][64];
    for (int i = 0; i < 8; i++) {
        snprintf(fd[i], sizeof fd[i], i < 4 ? "s%d.test" : "new%d.test", i < 4 ? 1000 + i * 9999 : i);
        snprintf(fr[i], sizeof fr[i], "u@%s", fd[i]);
        f[i] = ev_of("Q2", fr[i], fd[i], "", MX_LOG_CAUSE_REFUSED, MX_LOG_STATUS_DEFERRED, 20);
    }
    mx_log_agg_add_batch(a, f, 8);
    for (int i = 0; i < 8; i++) { /* new4, new5: the MX_AGG_LATE(4) = 2 late groups; new6, new7: no room */
        const mx_agg_group *g = mx_log_agg_find(a, MX_AGG_DOMAIN, fd[i]);
        if (i < 4 || i >= 6) {
            assert_null(g);
        } else {
            assert_non_null(g);
            assert_int_equal(g->events, 1);
        }
    }
    const mx_agg_group *const *gs;
    assert_int_equal(mx_log_agg_list(a, MX_AGG_DOMAIN, &gs), 4 + 2 + 1);
    assert_int_equal(mx_log_agg_dropped(a, MX_AGG_DOMAIN), 50000 + 4 + 2);
    mx_log_agg_free(a);
}

/* Distinct counts are exact through every growth of the set (8, 16, ...,
 * 128 slots) up to MX_AGG_EXACT_MAX, then an estimate; many groups growing
 * and overflowing at once reuse the blocks given back. */
static void test_distinct_growth(void **state) {
    (void)state;
    mx_log_agg *a = mx_log_agg_new(0);
    char dom[32], q[32];
    for (int i = 0; i < 200; i++) {
        for (int d = 0; d < 40; d++) {
            snprintf(dom, sizeof dom, "g%d.test", d);
            snprintf(q, sizeof q, "QID%d", i);
            mx_log_event e = ev_of(q, "x@y.test", dom, "192.0.2.3", MX_LOG_CAUSE_NONE, MX_LOG_STATUS_SENT, i);
            mx_log_agg_add(a, &e);
        }
        const mx_agg_group *g = mx_log_agg_find(a, MX_AGG_DOMAIN, "g7.test");
        assert_non_null(g);
        if (i + 1 <= MX_AGG_EXACT_MAX) {
            assert_true(mx_agg_distinct_exact(&g->msgs));
            assert_int_equal(mx_agg_distinct_count(&g->msgs), (uint64_t)(i + 1));
        } else {
            assert_false(mx_agg_distinct_exact(&g->msgs));
            uint64_t c = mx_agg_distinct_count(&g->msgs);
            assert_true(c >= MX_AGG_EXACT_MAX && c <= (uint64_t)(i + 1) * 13 / 10 + 5);
        }
        /* the same value again changes nothing */
        assert_int_equal(mx_agg_distinct_count(&g->rcpts), 1);
    }
    mx_log_agg_free(a);
}

/* A key longer than the key chunks is kept whole. */
static void test_long_key(void **state) {
    (void)state;
    mx_log_agg *a = mx_log_agg_new(0);
    size_t n = 9000;
    char *dom = malloc(n + 1);
    for (size_t i = 0; i < n; i++) dom[i] = (char)('A' + i % 26);
    dom[n] = 0;
    mx_log_event e = ev_of("Q", "u@x", dom, "192.0.2.5", MX_LOG_CAUSE_REFUSED, MX_LOG_STATUS_DEFERRED, 1);
    mx_log_agg_add(a, &e);
    mx_log_agg_add(a, &e);
    const mx_agg_group *const *gs;
    assert_int_equal(mx_log_agg_list(a, MX_AGG_DOMAIN, &gs), 1);
    assert_int_equal(strlen(gs[0]->key), n);
    assert_int_equal(gs[0]->key[0], 'a');
    assert_int_equal(gs[0]->events, 2);
    assert_int_equal(mx_log_agg_list(a, MX_AGG_CAUSE_DOMAIN, &gs), 1);
    assert_int_equal(strlen(gs[0]->key), n + strlen("refused/"));
    free(dom);
    mx_log_agg_free(a);
}

/* Every counter a group has, compared between two aggregations. */
static void assert_groups_equal(const mx_agg_group *x, const mx_agg_group *y) {
    assert_string_equal(x->key, y->key);
    assert_int_equal(x->events, y->events);
    assert_int_equal(x->attempts, y->attempts);
    assert_int_equal(x->att_fail, y->att_fail);
    assert_int_equal(x->external, y->external);
    assert_int_equal(x->local, y->local);
    assert_memory_equal(x->by_status, y->by_status, sizeof x->by_status);
    assert_memory_equal(x->by_cause, y->by_cause, sizeof x->by_cause);
    assert_int_equal(x->ext_ok, y->ext_ok);
    assert_int_equal(x->ext_fail, y->ext_fail);
    assert_int_equal(x->first, y->first);
    assert_int_equal(x->last, y->last);
    assert_int_equal(x->first_fail, y->first_fail);
    assert_int_equal(x->last_fail, y->last_fail);
    assert_int_equal(x->first_ok, y->first_ok);
    assert_int_equal(x->last_ok, y->last_ok);
    assert_int_equal(x->fail_since_ok, y->fail_since_ok);
    assert_int_equal(x->first_fail_since_ok, y->first_fail_since_ok);
    assert_int_equal(x->last_outcome, y->last_outcome);
    assert_int_equal(x->last_cause, y->last_cause);
    assert_int_equal(x->local_fail, y->local_fail);
    assert_int_equal(mx_agg_distinct_count(&x->msgs), mx_agg_distinct_count(&y->msgs));
    assert_int_equal(mx_agg_distinct_count(&x->rcpts), mx_agg_distinct_count(&y->rcpts));
    assert_int_equal(mx_agg_distinct_count(&x->domains), mx_agg_distinct_count(&y->domains));
    assert_int_equal(mx_agg_distinct_count(&x->addrs), mx_agg_distinct_count(&y->addrs));
    assert_int_equal(mx_agg_distinct_exact(&x->msgs), mx_agg_distinct_exact(&y->msgs));
    assert_int_equal(mx_agg_distinct_exact(&x->rcpts), mx_agg_distinct_exact(&y->rcpts));
    assert_int_equal(mx_agg_distinct_exact(&x->domains), mx_agg_distinct_exact(&y->domains));
    assert_int_equal(mx_agg_distinct_exact(&x->addrs), mx_agg_distinct_exact(&y->addrs));
}

/* The batch (which finds the groups of events ahead before counting) gives
 * the single-event result: same groups in the same order under a cap that
 * overflows, same counters, same histogram. */
static void test_batch_same(void **state) {
    (void)state;
    enum { N = 20000 };
    mx_log_event *evs = calloc(N, sizeof *evs);
    char (*strs)[4][64] = calloc(N, sizeof *strs);
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        snprintf(strs[i][0], 64, "Q%llu", (unsigned long long)(x % 5000));
        snprintf(strs[i][2], 64, "D%llu.test", (unsigned long long)((x >> 16) % 300));
        snprintf(strs[i][1], 64, "u%llu@%.40s", (unsigned long long)((x >> 24) % 7), strs[i][2]);
        snprintf(strs[i][3], 64, "192.0.2.%llu", (unsigned long long)((x >> 32) % 200));
        int cause = (int)((x >> 40) % 6);
        mx_log_status st = cause == 0 ? MX_LOG_STATUS_SENT : (mx_log_status)((x >> 44) % 3);
        evs[i] = ev_of(strs[i][0], strs[i][1], strs[i][2], (x >> 50) % 5 ? strs[i][3] : "", cause, st,
                       1700000000 + i * 7);
        evs[i].local = (x >> 56) % 9 == 0;
    }
    mx_log_agg *a = mx_log_agg_new(100), *b = mx_log_agg_new(100);
    for (int i = 0; i < N; i++) mx_log_agg_add(a, &evs[i]);
    for (int i = 0; i < N;) { /* uneven batch sizes, 1 and 0 included */
        int k = i % 3 == 0 ? 1 : 777;
        if (k > N - i) k = N - i;
        mx_log_agg_add_batch(b, &evs[i], (size_t)k);
        mx_log_agg_add_batch(b, &evs[i], 0);
        i += k;
    }
    assert_groups_equal(mx_log_agg_total(a), mx_log_agg_total(b));
    for (int d = 0; d < MX_AGG__DIMS; d++) {
        const mx_agg_group *const *ga, *const *gb;
        size_t na = mx_log_agg_list(a, (mx_agg_dim)d, &ga), nb = mx_log_agg_list(b, (mx_agg_dim)d, &gb);
        assert_int_equal(na, nb);
        for (size_t i = 0; i < na; i++) assert_groups_equal(ga[i], gb[i]);
        assert_int_equal(mx_log_agg_dropped(a, (mx_agg_dim)d), mx_log_agg_dropped(b, (mx_agg_dim)d));
    }
    assert_true(mx_log_agg_dropped(a, MX_AGG_DOMAIN) > 0); /* the cap was reached */
    assert_memory_equal(mx_log_agg_hist(a), mx_log_agg_hist(b), sizeof(mx_agg_hist));
    /* finished (distinct sets and registers given back): the same counts,
     * exact or estimated as before */
    assert_false(mx_agg_distinct_exact(&mx_log_agg_total(a)->msgs));
    mx_log_agg_finish(b);
    mx_log_agg_finish(b); /* twice: nothing more */
    assert_groups_equal(mx_log_agg_total(a), mx_log_agg_total(b));
    for (int d = 0; d < MX_AGG__DIMS; d++) {
        const mx_agg_group *const *ga, *const *gb;
        size_t na = mx_log_agg_list(a, (mx_agg_dim)d, &ga), nb = mx_log_agg_list(b, (mx_agg_dim)d, &gb);
        assert_int_equal(na, nb);
        for (size_t i = 0; i < na; i++) assert_groups_equal(ga[i], gb[i]);
    }
    mx_log_agg_free(a);
    mx_log_agg_free(b);
    free(strs);
    free(evs);
}

/* The counters of one group kept the plain way (64-bit, every event applied
 * at once): what the aggregator's hot deltas folded into its cold groups
 * must equal, whenever a reader looks. */
typedef struct ref_group {
    uint64_t events, attempts, att_fail, external, local, local_fail, ext_ok, ext_fail, fail_since_ok;
    uint64_t by_status[MX_LOG_STATUS__COUNT], by_cause[MX_LOG_CAUSE_MAX];
    int64_t first, last, first_fail, last_fail, first_ok, last_ok, first_fail_since_ok;
    int last_outcome, last_cause;
} ref_group;

static void ref_init(ref_group *r) {
    memset(r, 0, sizeof *r);
    r->first = r->first_fail = r->first_ok = r->first_fail_since_ok = INT64_MAX;
    r->last = r->last_fail = r->last_ok = INT64_MIN;
    r->last_cause = -1;
}

static void ref_add(ref_group *g, const mx_log_event *ev) {
    int fail = ev->cause != MX_LOG_CAUSE_NONE, attempt = ev->status == MX_LOG_STATUS_NONE;
    int timed = ev->time != MX_LOG_TIME_UNKNOWN;
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
                if (timed && ev->time < g->first_fail_since_ok) g->first_fail_since_ok = ev->time;
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
    if (timed) {
        if (ev->time < g->first) g->first = ev->time;
        if (ev->time > g->last) g->last = ev->time;
        if (fail) {
            if (ev->time < g->first_fail) g->first_fail = ev->time;
            if (ev->time > g->last_fail) g->last_fail = ev->time;
        } else if (!ev->local && !attempt) {
            if (ev->time > g->last_ok) g->last_ok = ev->time;
            if (ev->time < g->first_ok) g->first_ok = ev->time;
        }
    }
}

static void assert_ref(const ref_group *r, const mx_agg_group *g) {
    assert_non_null(g);
    assert_int_equal(g->events, r->events);
    assert_int_equal(g->attempts, r->attempts);
    assert_int_equal(g->att_fail, r->att_fail);
    assert_int_equal(g->external, r->external);
    assert_int_equal(g->local, r->local);
    assert_int_equal(g->local_fail, r->local_fail);
    assert_int_equal(g->ext_ok, r->ext_ok);
    assert_int_equal(g->ext_fail, r->ext_fail);
    assert_memory_equal(g->by_status, r->by_status, sizeof r->by_status);
    assert_memory_equal(g->by_cause, r->by_cause, sizeof r->by_cause);
    assert_int_equal(g->first, r->first);
    assert_int_equal(g->last, r->last);
    assert_int_equal(g->first_fail, r->first_fail);
    assert_int_equal(g->last_fail, r->last_fail);
    assert_int_equal(g->first_ok, r->first_ok);
    assert_int_equal(g->last_ok, r->last_ok);
    assert_int_equal(g->fail_since_ok, r->fail_since_ok);
    assert_int_equal(g->first_fail_since_ok, r->first_fail_since_ok);
    assert_int_equal(g->last_outcome, r->last_outcome);
    assert_int_equal(g->last_cause, r->last_cause);
}

/* 200,000 events on three domains under a cap of two (the third goes to
 * "(other)"): more than 65,535 per group (the hot deltas overflow and are
 * folded), runs of failures longer than that with and without successes
 * between, times unknown, times 3e9 s before and after the first (not 32-bit
 * offsets: counted in the cold group after a fold), and reads at uneven
 * points (each folds), through the batch and one by one. */
static void test_hot_cold(void **state) {
    (void)state;
    enum { N = 200000 };
    static const char *doms[3] = {"a.test", "b.test", "c.test"};
    for (int batch = 0; batch < 2; batch++) {
        mx_log_agg *a = mx_log_agg_new(2);
        ref_group tot, dom[3];
        ref_init(&tot);
        for (int d = 0; d < 3; d++) ref_init(&dom[d]);
        mx_log_event *evs = calloc(N, sizeof *evs);
        uint64_t x = 0x9e3779b97f4a7c15ULL;
        for (int i = 0; i < N; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            /* [70,000, 140,000): failures only (a run longer than 65,535); [140,000, 150,000): successes
             * only (folds that saw no failure); [150,000, 160,000): attempts and local outcomes only (no
             * external outcome) */
            /* the first three: one success per domain, so that c.test goes to "(other)" (a first
             * failure would give it a group of its own past the cap) */
            int cause = i < 3                       ? 0
                        : i >= 70000 && i < 140000  ? 1 + (int)(x % 5)
                        : i >= 140000 && i < 150000 ? 0
                                                    : (int)((x >> 8) % 6);
            mx_log_status st = (x >> 16) % 11 == 0 && i >= 3 ? MX_LOG_STATUS_NONE
                               : cause == 0                  ? MX_LOG_STATUS_SENT
                                                   : (mx_log_status)(MX_LOG_STATUS_DEFERRED + (x >> 20) % 3);
            int64_t t = 1700000000 + i;
            unsigned r = (unsigned)((x >> 32) % 1000);
            if (i < 150000 && r >= 1 && r <= 3) r = 4; /* far times: after 150,000 only */
            if (r == 0) t = MX_LOG_TIME_UNKNOWN;
            else if (r == 1) t = 1700000000 + 3000000000LL;
            else if (r == 2) t = 1700000000 - 3000000000LL;
            else if (r == 3) t = 1700000000 + (int64_t)INT32_MAX; /* just out of the 32-bit range */
            evs[i] = ev_of("Q", "r@x", doms[i < 3 ? i : (int)((x >> 40) % 3)], "", cause, st, t);
            evs[i].local = i >= 3 && ((x >> 48) % 13 == 0 || (i >= 150000 && i < 160000));
        }
        for (int i = 0; i < N;) {
            int k = 1 + (int)((unsigned)(i * 2654435761u) % (i < 140000 ? 9000 : 700));
            if (k > N - i) k = N - i;
            if (batch) mx_log_agg_add_batch(a, &evs[i], (size_t)k);
            else
                for (int j = 0; j < k; j++) mx_log_agg_add(a, &evs[i + j]);
            for (int j = i; j < i + k; j++) {
                ref_add(&tot, &evs[j]);
                ref_add(&dom[evs[j].domain.p[0] - 'a'], &evs[j]);
            }
            i += k;
            /* a reader: compare (and fold) now; none before 140,000 (the deltas overflow) */
            if ((i > 140000 && k % 2 == 0) || i == N) {
                assert_ref(&tot, mx_log_agg_total(a));
                const mx_agg_group *const *gs;
                size_t n = mx_log_agg_list(a, MX_AGG_DOMAIN, &gs);
                for (size_t g = 0; g < n; g++) {
                    int d = 0; /* the group's domain; "(other)": the one of the three not in a group */
                    if (strcmp(gs[g]->key, "(other)") == 0)
                        while (mx_log_agg_find(a, MX_AGG_DOMAIN, doms[d])) d++;
                    else
                        d = gs[g]->key[0] - 'a';
                    assert_ref(&dom[d], gs[g]);
                }
            }
        }
        assert_true(tot.events > 65535 * 2 && dom[0].events > 65535);
        assert_true(mx_log_agg_dropped(a, MX_AGG_DOMAIN) > 65535); /* "(other)" had its deltas folded too */
        mx_log_agg_free(a);
        free(evs);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cause_key_by_index), cmocka_unit_test(test_caps), cmocka_unit_test(test_late_seen),
        cmocka_unit_test(test_success_no_pairs),
        cmocka_unit_test(test_distinct_at_most_events),
        cmocka_unit_test(test_distinct_growth),    cmocka_unit_test(test_long_key),
        cmocka_unit_test(test_batch_same),         cmocka_unit_test(test_hot_cold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
