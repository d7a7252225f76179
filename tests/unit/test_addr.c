/* Target parsing, address classification and domain-name validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "addr.h"

static void target_domain(void **state) {
    (void)state;
    mx_target t;
    const char *why;
    assert_int_equal(mx_target_parse("Example.COM.", &t, &why), 0);
    assert_int_equal(t.kind, MX_TARGET_DOMAIN);
    assert_string_equal(t.domain, "example.com");
    assert_int_equal(t.port, 0);
}

static void target_mail_address(void **state) {
    (void)state;
    mx_target t;
    assert_int_equal(mx_target_parse("john.doe@Mail.Example.org", &t, NULL), 0);
    assert_int_equal(t.kind, MX_TARGET_DOMAIN);
    assert_string_equal(t.domain, "mail.example.org");
    assert_string_equal(t.local, "john.doe");
    /* the last @ separates: quoted local parts may contain one */
    assert_int_equal(mx_target_parse("\"a@b\"@example.net", &t, NULL), 0);
    assert_string_equal(t.domain, "example.net");
    assert_int_equal(mx_target_parse("user@[192.0.2.7]", &t, NULL), 0);
    assert_int_equal(t.kind, MX_TARGET_ADDRESS);
    assert_int_equal(mx_target_parse("user@[IPv6:2001:db8::1]", &t, NULL), 0);
    assert_int_equal(t.addr.family, AF_INET6);
}

static void target_host_port(void **state) {
    (void)state;
    mx_target t;
    assert_int_equal(mx_target_parse("mx.example.com:2525", &t, NULL), 0);
    assert_int_equal(t.kind, MX_TARGET_HOST);
    assert_string_equal(t.domain, "mx.example.com");
    assert_int_equal(t.port, 2525);
    assert_int_equal(mx_target_parse("192.0.2.1:25", &t, NULL), 0);
    assert_int_equal(t.kind, MX_TARGET_ADDRESS);
    assert_int_equal(t.port, 25);
    assert_int_equal(mx_target_parse("[2001:db8::25]:587", &t, NULL), 0);
    assert_int_equal(t.kind, MX_TARGET_ADDRESS);
    assert_int_equal(t.port, 587);
    assert_int_equal(mx_target_parse("2001:db8::25", &t, NULL), 0);
    assert_int_equal(t.kind, MX_TARGET_ADDRESS);
    assert_int_equal(t.port, 0);
    assert_int_equal(mx_target_parse("[mx.example.com]:25", &t, NULL), 0);
    assert_int_equal(t.kind, MX_TARGET_HOST);
}

static void target_errors(void **state) {
    (void)state;
    mx_target t;
    const char *why = NULL;
    const char *bad[] = {"", "user@", "@example.com", "example..com", "-a.example.com", "a-.example.com",
                         "exa mple.com", "example.com:0", "example.com:65536", "example.com:x", "192.0.2.300",
                         "1.2.3", "[2001:db8::1", "[2001:db8::1]x", "ex\x01mple.com", "b\xfc" "cher.example",
                         "user@example.com:25", "a_b.example.com:99999", "http://example.com", NULL};
    for (int i = 0; bad[i]; i++) {
        why = NULL;
        if (mx_target_parse(bad[i], &t, &why) == 0) fail_msg("accepted '%s'", bad[i]);
        assert_non_null(why);
    }
    char longlabel[80];
    memset(longlabel, 'a', 64);
    strcpy(longlabel + 64, ".com");
    assert_int_equal(mx_target_parse(longlabel, &t, &why), -1);
    assert_non_null(strstr(why, "63"));
    char longname[300];
    for (int i = 0; i < 64; i++) memcpy(longname + i * 4, "abc.", 4);
    strcpy(longname + 256, "com");
    assert_int_equal(mx_target_parse(longname, &t, &why), -1);
    assert_non_null(strstr(why, "253"));
}

static void domain_limits(void **state) {
    (void)state;
    char name[300];
    /* exactly 253 characters: valid; one more: not */
    memset(name, 'a', 253);
    for (int i = 63; i < 253; i += 64) name[i] = '.';
    name[253] = 0;
    assert_int_equal(mx_domain_valid(name, NULL), 0);
    name[253] = 'b';
    name[254] = 0;
    assert_int_equal(mx_domain_valid(name, NULL), -1);
    assert_int_equal(mx_domain_valid("_dmarc.example.com", NULL), 0);
    assert_int_equal(mx_domain_valid("example.com.", NULL), 0);
    assert_int_equal(mx_domain_valid(".", NULL), -1);
}

static void reserved_blocks(void **state) {
    (void)state;
    struct { const char *addr; const char *block; } cases[] = {
        {"127.0.0.1", "127.0.0.0/8"}, {"10.1.2.3", "10.0.0.0/8"}, {"172.16.0.1", "172.16.0.0/12"},
        {"172.31.255.255", "172.16.0.0/12"}, {"192.168.1.1", "192.168.0.0/16"}, {"192.0.2.10", "192.0.2.0/24"},
        {"198.51.100.1", "198.51.100.0/24"}, {"203.0.113.9", "203.0.113.0/24"}, {"169.254.1.1", "169.254.0.0/16"},
        {"100.64.0.1", "100.64.0.0/10"}, {"224.0.0.1", "224.0.0.0/4"}, {"::1", "::1/128"},
        {"2001:db8::25", "2001:db8::/32"}, {"fd00::1", "fc00::/7"}, {"fe80::1", "fe80::/10"},
        {"::ffff:192.0.2.1", "::ffff:0:0/96"}, {NULL, NULL}};
    for (int i = 0; cases[i].addr; i++) {
        mx_addr a;
        assert_int_equal(mx_addr_parse(cases[i].addr, &a), 0);
        const mx_reserved *r = mx_addr_reserved(&a);
        if (!r) fail_msg("%s not classified", cases[i].addr);
        assert_string_equal(r->block, cases[i].block);
    }
    const char *global[] = {"8.8.8.8", "172.32.0.1", "100.128.0.1", "2a00:1450::1", "192.0.3.1", NULL};
    for (int i = 0; global[i]; i++) {
        mx_addr a;
        assert_int_equal(mx_addr_parse(global[i], &a), 0);
        if (mx_addr_reserved(&a)) fail_msg("%s wrongly reserved", global[i]);
    }
}

static void addr_parse_format(void **state) {
    (void)state;
    mx_addr a;
    char out[64];
    assert_int_equal(mx_addr_parse("2001:DB8:0:0::1", &a), 0);
    mx_addr_format(&a, out, sizeof out);
    assert_string_equal(out, "2001:db8::1");
    assert_int_equal(mx_addr_parse("01.2.3.4", &a), -1);
    assert_int_equal(mx_addr_parse("fe80::1%eth0", &a), -1);
    assert_int_equal(mx_addr_parse("", &a), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(target_domain), cmocka_unit_test(target_mail_address), cmocka_unit_test(target_host_port),
        cmocka_unit_test(target_errors), cmocka_unit_test(domain_limits), cmocka_unit_test(reserved_blocks),
        cmocka_unit_test(addr_parse_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
