/* The total connection cap's default (engine/net.c, mx_net_connection_cap):
 * derived from the open-files limit, bounded, lowered by --max-connections.
 * The lab test lab.batch_maxconn shows it reached and never exceeded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "net.h"

static void test_cap(void **st) {
    (void)st;
    /* a large limit: the fixed ceiling */
    assert_int_equal(mx_net_connection_cap(1048576, 0), MX_NET_MAX_CONNECTIONS);
    assert_int_equal(mx_net_connection_cap(1LL << 40, 0), MX_NET_MAX_CONNECTIONS);
    /* the usual 1024: minus the reserve for DNS sockets and files */
    assert_int_equal(mx_net_connection_cap(1024, 0), 1024 - MX_NET_FD_RESERVE);
    /* small limits: half of it, never 0 */
    assert_int_equal(mx_net_connection_cap(96, 0), 48);
    assert_int_equal(mx_net_connection_cap(1, 0), 1);
    assert_int_equal(mx_net_connection_cap(0, 0), 1);
    /* --max-connections lowers it, never raises it past what the limit allows */
    assert_int_equal(mx_net_connection_cap(1024, 4), 4);
    assert_int_equal(mx_net_connection_cap(96, 4000), 48);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_cap)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
