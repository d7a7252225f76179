/* errno + ICMP -> verdict mapping: a timeout must never read as refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
#include "net.h"

static mx_icmp icmp4(int type, int code) { mx_icmp i = {1, 0, type, code, {0}, 0}; return i; }
static mx_icmp icmp6(int type, int code) { mx_icmp i = {1, 1, type, code, {0}, 0}; return i; }

static void plain_errnos(void **state) {
    (void)state;
    assert_string_equal(mx_net_verdict(0, NULL), "connected");
    assert_string_equal(mx_net_verdict(ECONNREFUSED, NULL), "refused");
    assert_string_equal(mx_net_verdict(ETIMEDOUT, NULL), "timeout");
    assert_string_equal(mx_net_verdict(EHOSTUNREACH, NULL), "unreachable");
    assert_string_equal(mx_net_verdict(ENETUNREACH, NULL), "unreachable");
    assert_string_equal(mx_net_verdict(EADDRNOTAVAIL, NULL), "local");
    assert_string_equal(mx_net_verdict(EPERM, NULL), "local");
    assert_string_equal(mx_net_verdict(EACCES, NULL), "local");
    assert_string_equal(mx_net_verdict(EMFILE, NULL), "error");
    mx_icmp none = {0};
    assert_string_equal(mx_net_verdict(ECONNREFUSED, &none), "refused");
}

static void icmpv4(void **state) {
    (void)state;
    mx_icmp i;
    i = icmp4(3, 3); assert_string_equal(mx_net_verdict(ECONNREFUSED, &i), "rejected");
    i = icmp4(3, 1); assert_string_equal(mx_net_verdict(EHOSTUNREACH, &i), "unreachable");
    i = icmp4(3, 0); assert_string_equal(mx_net_verdict(ENETUNREACH, &i), "unreachable");
    i = icmp4(3, 13); assert_string_equal(mx_net_verdict(EHOSTUNREACH, &i), "prohibited");
    i = icmp4(3, 9); assert_string_equal(mx_net_verdict(EHOSTUNREACH, &i), "prohibited");
    i = icmp4(3, 10); assert_string_equal(mx_net_verdict(EHOSTUNREACH, &i), "prohibited");
    i = icmp4(11, 0); assert_string_equal(mx_net_verdict(EHOSTUNREACH, &i), "unreachable");
}

static void icmpv6(void **state) {
    (void)state;
    mx_icmp i;
    i = icmp6(1, 4); assert_string_equal(mx_net_verdict(ECONNREFUSED, &i), "rejected");
    i = icmp6(1, 1); assert_string_equal(mx_net_verdict(EACCES, &i), "prohibited");
    i = icmp6(1, 3); assert_string_equal(mx_net_verdict(EHOSTUNREACH, &i), "unreachable");
    i = icmp6(1, 0); assert_string_equal(mx_net_verdict(ENETUNREACH, &i), "unreachable");
    i = icmp6(3, 0); assert_string_equal(mx_net_verdict(EHOSTUNREACH, &i), "unreachable");
}

static void descriptions(void **state) {
    (void)state;
    char buf[128];
    mx_icmp i = icmp4(3, 13);
    mx_icmp_describe(&i, buf, sizeof buf);
    assert_non_null(strstr(buf, "administratively prohibited"));
    assert_non_null(strstr(buf, "type 3 code 13"));
    i = icmp6(1, 4);
    mx_icmp_describe(&i, buf, sizeof buf);
    assert_non_null(strstr(buf, "port unreachable"));
    i = icmp4(3, 99);
    mx_icmp_describe(&i, buf, sizeof buf);
    assert_non_null(strstr(buf, "code 99"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_errnos), cmocka_unit_test(icmpv4), cmocka_unit_test(icmpv6), cmocka_unit_test(descriptions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
