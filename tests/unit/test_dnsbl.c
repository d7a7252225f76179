#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "dnsbl.h"

static void ok(const char *subject, const char *zone, int kind, const char *want) {
    char out[MX_DNSBL_QUERY_MAX];
    const char *err = NULL;
    int rc = mx_dnsbl_query_name(subject, zone, kind, out, sizeof out, &err);
    if (rc != 0) fail_msg("%s on %s: %s", subject, zone, err);
    assert_string_equal(out, want);
}

static void bad(const char *subject, const char *zone, int kind, const char *want_err) {
    char out[MX_DNSBL_QUERY_MAX];
    const char *err = NULL;
    assert_int_equal(mx_dnsbl_query_name(subject, zone, kind, out, sizeof out, &err), -1);
    assert_non_null(err);
    assert_string_equal(err, want_err);
}

static void test_ipv4(void **state) {
    (void)state;
    ok("198.51.100.1", "zen.spamhaus.org", MX_DNSBL_IP, "1.100.51.198.zen.spamhaus.org");
    ok("127.0.0.2", "zen.spamhaus.org.", MX_DNSBL_IP, "2.0.0.127.zen.spamhaus.org");
    ok("0.0.0.0", "B.Barracudacentral.ORG", MX_DNSBL_IP, "0.0.0.0.b.barracudacentral.org");
    ok("255.255.255.255", "x.test", MX_DNSBL_IP, "255.255.255.255.x.test");
    bad("198.51.100", "zen.spamhaus.org", MX_DNSBL_IP, "subject is not an IP address");
    bad("198.51.100.256", "zen.spamhaus.org", MX_DNSBL_IP, "subject is not an IP address");
    bad("198.051.100.1", "zen.spamhaus.org", MX_DNSBL_IP, "subject is not an IP address");
    bad(" 198.51.100.1", "zen.spamhaus.org", MX_DNSBL_IP, "subject is not an IP address");
    bad("198.51.100.1/24", "zen.spamhaus.org", MX_DNSBL_IP, "subject is not an IP address");
}

#define V6_2001DB8_1 "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"

static void test_ipv6(void **state) {
    (void)state;
    ok("2001:db8::1", "zen.spamhaus.org", MX_DNSBL_IP, V6_2001DB8_1 ".zen.spamhaus.org");
    ok("2001:0db8:0000:0000:0000:0000:0000:0001", "zen.spamhaus.org", MX_DNSBL_IP, V6_2001DB8_1 ".zen.spamhaus.org");
    ok("2001:DB8:0:0::1", "zen.spamhaus.org", MX_DNSBL_IP, V6_2001DB8_1 ".zen.spamhaus.org");
    ok("2001:db8:abcd:12:3456:789a:bcde:f012", "l",
       MX_DNSBL_IP, "2.1.0.f.e.d.c.b.a.9.8.7.6.5.4.3.2.1.0.0.d.c.b.a.8.b.d.0.1.0.0.2.l");
    ok("::1", "l", MX_DNSBL_IP, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.l");
    /* embedded IPv4 (not mapped): 64:ff9b::198.51.100.1 = 64:ff9b::c633:6401 */
    ok("64:ff9b::198.51.100.1", "l", MX_DNSBL_IP,
       "1.0.4.6.3.3.6.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.9.f.f.4.6.0.0.l");
    /* IPv4-mapped: the peer is an IPv4 host */
    ok("::ffff:198.51.100.1", "zen.spamhaus.org", MX_DNSBL_IP, "1.100.51.198.zen.spamhaus.org");
    ok("::FFFF:c633:6401", "zen.spamhaus.org", MX_DNSBL_IP, "1.100.51.198.zen.spamhaus.org");
    bad("2001:db8::1::2", "l", MX_DNSBL_IP, "subject is not an IP address");
    bad("fe80::1%eth0", "l", MX_DNSBL_IP, "subject is not an IP address");
    bad("[2001:db8::1]", "l", MX_DNSBL_IP, "subject is not an IP address");
    bad("2001:db8:0:0:0:0:0:0:1", "l", MX_DNSBL_IP, "subject is not an IP address");
    bad("2001:db8::g", "l", MX_DNSBL_IP, "subject is not an IP address");
}

/* MX_DNSBL_IP6: IPv6 form only, mapped addresses not folded (RFC 5782
 * section 5 test points ::FFFF:7F00:2 listed, ::FFFF:7F00:1 not). */
#define V6_MAPPED_7F00 "0.0.0.f.7.f.f.f.f." "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0"

static void test_ipv6_only(void **state) {
    (void)state;
    ok("::FFFF:7F00:2", "zen.spamhaus.org", MX_DNSBL_IP6, "2.0.0." V6_MAPPED_7F00 ".zen.spamhaus.org");
    ok("::ffff:127.0.0.1", "zen.spamhaus.org", MX_DNSBL_IP6, "1.0.0." V6_MAPPED_7F00 ".zen.spamhaus.org");
    ok("2001:db8::1", "zen.spamhaus.org", MX_DNSBL_IP6, V6_2001DB8_1 ".zen.spamhaus.org");
    /* the same mapped address folds as a plain IP subject */
    ok("::FFFF:7F00:2", "zen.spamhaus.org", MX_DNSBL_IP, "2.0.0.127.zen.spamhaus.org");
    bad("127.0.0.2", "zen.spamhaus.org", MX_DNSBL_IP6, "IPv4 address queried as IPv6");
    bad("spammy.test", "zen.spamhaus.org", MX_DNSBL_IP6, "subject is not an IPv6 address");
    bad("::ffff:7f00:2", "zen.spamhaus.org", 9, "unknown list kind");
}

static void test_domain(void **state) {
    (void)state;
    ok("Example.COM", "dbl.spamhaus.org", MX_DNSBL_DOMAIN, "example.com.dbl.spamhaus.org");
    ok("mail.example.com.", "dbl.spamhaus.org.", MX_DNSBL_DOMAIN, "mail.example.com.dbl.spamhaus.org");
    ok("xn--bcher-kva.example", "dbl.spamhaus.org", MX_DNSBL_DOMAIN, "xn--bcher-kva.example.dbl.spamhaus.org");
    ok("_dmarc.example.com", "z", MX_DNSBL_DOMAIN, "_dmarc.example.com.z");
    bad("198.51.100.1", "dbl.spamhaus.org", MX_DNSBL_DOMAIN, "IP address queried against a domain list");
    bad("2001:db8::1", "dbl.spamhaus.org", MX_DNSBL_DOMAIN, "IP address queried against a domain list");
    bad("example.com", "zen.spamhaus.org", MX_DNSBL_IP, "domain name queried against an IP list");
    bad("", "dbl.spamhaus.org", MX_DNSBL_DOMAIN, "empty subject");
    bad(".", "dbl.spamhaus.org", MX_DNSBL_DOMAIN, "empty subject");
    bad("198.51.100", "dbl.spamhaus.org", MX_DNSBL_DOMAIN, "numeric top-level label: a malformed IP address?");
    bad("a..b", "dbl.spamhaus.org", MX_DNSBL_DOMAIN, "empty label in domain name");
    bad(".example.com", "dbl.spamhaus.org", MX_DNSBL_DOMAIN, "empty label in domain name");
    bad("bob@example.com", "dbl.spamhaus.org", MX_DNSBL_DOMAIN, "e-mail address where a domain name was expected");
    bad("exa mple.com", "dbl.spamhaus.org", MX_DNSBL_DOMAIN, "invalid character in domain name");
    bad("b\xc3\xbc" "cher.example", "dbl.spamhaus.org", MX_DNSBL_DOMAIN,
        "non-ASCII domain name: convert it to A-labels (punycode) first");
    bad("example.com", "", MX_DNSBL_DOMAIN, "empty zone");
    bad("example.com", "dbl..org", MX_DNSBL_DOMAIN, "empty label in domain name");
    bad("example.com", "dbl.spamhaus.org", 7, "unknown list kind");

    /* label 63 ok, 64 refused */
    char label[80];
    memset(label, 'a', 64);
    strcpy(label + 64, ".com");
    bad(label, "z", MX_DNSBL_DOMAIN, "label longer than 63 characters");
    ok(label + 1, "z", MX_DNSBL_DOMAIN,
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com.z");

    /* total length: 249 + ".z" = 251 ok; 252 + "." + "zz" = 255 refused */
    char name[300];
    size_t n = 0;
    while (n < 240) { memcpy(name + n, "abcdefghi.", 10); n += 10; }
    memcpy(name + n, "abcdefghi", 10); /* 249 chars + NUL */
    char want[320];
    snprintf(want, sizeof want, "%s.z", name);
    ok(name, "z", MX_DNSBL_DOMAIN, want);
    memcpy(name + 249, "abc", 4); /* 252 chars */
    bad(name, "zz", MX_DNSBL_DOMAIN, "query name longer than 253 characters");
    /* an IPv6 name is 64 characters before the zone */
    char zone[200];
    memset(zone, 'z', 63);
    zone[63] = '.';
    memset(zone + 64, 'y', 63);
    zone[127] = '.';
    memset(zone + 128, 'x', 63);
    zone[191] = 0;
    bad("2001:db8::1", zone, MX_DNSBL_IP, "query name longer than 253 characters");
    ok("2001:db8::1", zone + 64, MX_DNSBL_IP, V6_2001DB8_1 ".yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy."
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
}

static void test_small_buffer(void **state) {
    (void)state;
    char out[10];
    const char *err = NULL;
    assert_int_equal(mx_dnsbl_query_name("198.51.100.1", "zen.spamhaus.org", MX_DNSBL_IP, out, sizeof out, &err), -1);
    assert_string_equal(err, "output buffer too small");
    assert_int_equal(mx_dnsbl_query_name(NULL, "z", MX_DNSBL_IP, out, sizeof out, &err), -1);
    /* err may be NULL */
    assert_int_equal(mx_dnsbl_query_name("x", "z", MX_DNSBL_IP, out, sizeof out, NULL), -1);
}

static void test_subject_kind(void **state) {
    (void)state;
    const char *err = NULL;
    assert_int_equal(mx_dnsbl_subject_kind("198.51.100.1", &err), MX_DNSBL_IP);
    assert_int_equal(mx_dnsbl_subject_kind("2001:db8::1", &err), MX_DNSBL_IP);
    assert_int_equal(mx_dnsbl_subject_kind("example.com", &err), MX_DNSBL_DOMAIN);
    assert_int_equal(mx_dnsbl_subject_kind("not a name", &err), -1);
    assert_string_equal(err, "invalid character in domain name");
}

static void test_answers(void **state) {
    (void)state;
    unsigned char o[4];
    const char *err = NULL;
    assert_int_equal(mx_dnsbl_classify_answer("127.0.0.2", o, &err), MX_DNSBL_ANSWER_LOOPBACK);
    assert_int_equal(o[3], 2);
    assert_int_equal(mx_dnsbl_classify_answer("127.255.255.254", o, &err), MX_DNSBL_ANSWER_LOOPBACK);
    assert_int_equal(o[1], 255);
    assert_int_equal(mx_dnsbl_classify_answer("92.242.132.24", o, &err), MX_DNSBL_ANSWER_FOREIGN);
    assert_string_equal(err, "answer outside 127.0.0.0/8: the resolver rewrites answers");
    assert_int_equal(mx_dnsbl_classify_answer("128.0.0.1", NULL, NULL), MX_DNSBL_ANSWER_FOREIGN);
    assert_int_equal(mx_dnsbl_classify_answer("::1", o, &err), MX_DNSBL_ANSWER_INVALID);
    assert_int_equal(mx_dnsbl_classify_answer("127.0.0", o, &err), MX_DNSBL_ANSWER_INVALID);
    assert_int_equal(mx_dnsbl_classify_answer(NULL, o, &err), MX_DNSBL_ANSWER_INVALID);
    assert_string_equal(err, "answer is not an IPv4 address");

    assert_int_equal(mx_dnsbl_answer_last_octet("127.0.0.4"), 4);
    assert_int_equal(mx_dnsbl_answer_last_octet("127.0.1.255"), 255);
    assert_int_equal(mx_dnsbl_answer_last_octet("10.0.0.4"), -1);
    assert_int_equal(mx_dnsbl_answer_last_octet("junk"), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4),         cmocka_unit_test(test_ipv6),         cmocka_unit_test(test_ipv6_only),         cmocka_unit_test(test_domain),
        cmocka_unit_test(test_small_buffer), cmocka_unit_test(test_subject_kind), cmocka_unit_test(test_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
