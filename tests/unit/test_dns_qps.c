/* --qps: DNS queries are paced, and a query's timeout starts when it is sent,
 * so waiting in the queue can never be reported as a resolver timeout.
 * A local UDP socket plays a resolver that never answers and counts what
 * arrives. The bound checked is one-sided: a slow machine can only send
 * fewer queries in the window, never more. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "dns.h"

typedef struct ctx {
    int done, timeouts;
    long long max_elapsed;
} ctx;

static void on_result(mx_json *res, void *ud) {
    ctx *c = ud;
    c->done++;
    const char *st = mx_json_get_str(res, "status");
    if (st && strcmp(st, "timeout") == 0) c->timeouts++;
    mx_json *e = mx_json_get(res, "elapsed_ms");
    if (e && e->u.i > c->max_elapsed) c->max_elapsed = e->u.i;
    mx_json_free(res);
}

static int drain(int fd) {
    char buf[1500];
    int n = 0;
    while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) n++;
    return n;
}

static void paced_and_timed_from_send(void **state) {
    (void)state;
    int srv = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(srv >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(srv, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(srv, (struct sockaddr *)&a, &al);
    char servers[64];
    snprintf(servers, sizeof servers, "127.0.0.1:%d", ntohs(a.sin_port));

    mx_loop *loop = mx_loop_new();
    mx_dns_opts o = {servers, 300, 0, 20};
    char err[256];
    mx_dns *d = mx_dns_new(loop, &o, err, sizeof err);
    assert_non_null(d);
    ctx c = {0};
    enum { N = 30 };
    for (int i = 0; i < N; i++) {
        char name[64];
        snprintf(name, sizeof name, "q%d.example.test", i);
        mx_dns_query(d, name, 1, on_result, &c);
    }
    int64_t t0 = mx_now_ms();
    int early = 0, total = 0;
    while (c.done < N && mx_now_ms() - t0 < 10000) {
        mx_loop_run_once(loop, 20);
        int got = drain(srv);
        total += got;
        if (mx_now_ms() - t0 < 500) early += got;
    }
    total += drain(srv);
    assert_int_equal(c.done, N);
    /* 20 queries/s: about 10 in the first half second (c-ares may retry
     * each once, so allow both packets of the first 11 queries) */
    if (early > 22) fail_msg("%d packets in the first 500 ms at --qps 20", early);
    /* every query was sent before it could time out */
    if (total < N) fail_msg("only %d packets for %d queries: some timed out unsent", total, N);
    /* timeouts are measured from the send: never the queueing time */
    assert_true(c.max_elapsed < 1000);
    mx_dns_free(d);
    mx_loop_free(loop);
    close(srv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(paced_and_timed_from_send),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
