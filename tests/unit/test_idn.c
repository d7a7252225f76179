/* Targets as typed: trimming, URLs refused, IDN to IDNA (engine/idn.c and its
 * use in mx_target_parse). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "addr.h"
#include "idn.h"

static void unicode_domain(void **state) {
    (void)state;
    mx_target t;
    const char *why = NULL;
    assert_int_equal(mx_target_parse("b\xc3\xbc" "cher.test", &t, &why), 0);
    assert_int_equal(t.kind, MX_TARGET_DOMAIN);
    assert_string_equal(t.domain, "xn--bcher-kva.test");
    assert_string_equal(t.unicode, "b\xc3\xbc" "cher.test");
    assert_string_equal(t.input, "b\xc3\xbc" "cher.test");
    /* upper case is folded (UTS #46), a trailing dot kept off the domain */
    assert_int_equal(mx_target_parse("B\xc3\x9c" "CHER.Test.", &t, &why), 0);
    assert_string_equal(t.domain, "xn--bcher-kva.test");
    /* non-transitional: German sharp s stays itself */
    assert_int_equal(mx_target_parse("stra\xc3\x9f" "e.test", &t, &why), 0);
    assert_string_equal(t.domain, "xn--strae-oqa.test");
    /* CJK label */
    assert_int_equal(mx_target_parse("\xe6\x97\xa5\xe6\x9c\xac.test", &t, &why), 0);
    assert_string_equal(t.domain, "xn--wgv71a.test");
}

static void ace_typed(void **state) {
    (void)state;
    mx_target t;
    const char *why = NULL;
    assert_int_equal(mx_target_parse("XN--BCHER-KVA.test", &t, &why), 0);
    assert_string_equal(t.domain, "xn--bcher-kva.test");
    assert_string_equal(t.unicode, "b\xc3\xbc" "cher.test");
    /* plain ASCII: no Unicode form */
    assert_int_equal(mx_target_parse("good.test", &t, &why), 0);
    assert_string_equal(t.unicode, "");
    /* broken punycode */
    assert_int_equal(mx_target_parse("xn--zz-.test", &t, &why), -1);
    assert_non_null(strstr(why, "invalid IDNA"));
}

static void parts_converted(void **state) {
    (void)state;
    mx_target t;
    const char *why = NULL;
    assert_int_equal(mx_target_parse("j\xc3\xb6rg@b\xc3\xbc" "cher.test", &t, &why), 0);
    assert_string_equal(t.domain, "xn--bcher-kva.test");
    assert_string_equal(t.local, "j\xc3\xb6rg"); /* the local part is not a host name */
    assert_int_equal(mx_target_parse("mx.b\xc3\xbc" "cher.test:2525", &t, &why), 0);
    assert_int_equal(t.kind, MX_TARGET_HOST);
    assert_string_equal(t.domain, "mx.xn--bcher-kva.test");
    assert_int_equal(t.port, 2525);
    assert_int_equal(mx_target_parse("[mx.b\xc3\xbc" "cher.test]:25", &t, &why), 0);
    assert_string_equal(t.domain, "mx.xn--bcher-kva.test");
    assert_int_equal(mx_target_parse("2001:db8::1", &t, &why), 0);
    assert_int_equal(t.kind, MX_TARGET_ADDRESS);
}

static void invalid_idn(void **state) {
    (void)state;
    mx_target t;
    const char *why = NULL;
    /* U+2603 SNOWMAN is not allowed by IDNA 2008 */
    assert_int_equal(mx_target_parse("\xe2\x98\x83.test", &t, &why), -1);
    assert_non_null(strstr(why, "not a valid internationalised domain name"));
    /* invalid UTF-8 */
    assert_int_equal(mx_target_parse("b\xfc" "cher.test", &t, &why), -1);
    assert_non_null(strstr(why, "not a valid internationalised domain name"));
}

static void trimmed(void **state) {
    (void)state;
    mx_target t;
    const char *why = NULL;
    assert_int_equal(mx_target_parse("  good.test\t\n", &t, &why), 0);
    assert_string_equal(t.input, "good.test");
    assert_string_equal(t.domain, "good.test");
    assert_int_equal(mx_target_parse(" good .test", &t, &why), -1);
    assert_string_equal(why, "whitespace or control character in target");
    assert_int_equal(mx_target_parse("   ", &t, &why), -1);
    assert_string_equal(why, "empty target");
}

static void schemes_refused(void **state) {
    (void)state;
    mx_target t;
    const char *why = NULL;
    assert_int_equal(mx_target_parse("http://good.test", &t, &why), -1);
    assert_non_null(strstr(why, "type the domain alone, e.g. good.test"));
    assert_int_equal(mx_target_parse("HTTPS://user@www.good.test:8443/a/b?c", &t, &why), -1);
    assert_non_null(strstr(why, "e.g. www.good.test"));
    assert_null(strstr(why, "8443"));
    assert_int_equal(mx_target_parse("smtp://mx.good.test:2525", &t, &why), -1);
    assert_non_null(strstr(why, "host:port, e.g. mx.good.test:2525"));
    assert_int_equal(mx_target_parse("mailto:postmaster@good.test", &t, &why), -1);
    assert_non_null(strstr(why, "type the address alone, e.g. postmaster@good.test"));
    assert_int_equal(mx_target_parse("ftp://", &t, &why), -1);
    assert_non_null(strstr(why, "is a URL scheme"));
    /* host:port is no scheme */
    assert_int_equal(mx_target_parse("mx.good.test:25", &t, &why), 0);
}

static void to_ascii_direct(void **state) {
    (void)state;
    char out[300], uni[300], why[300];
    assert_int_equal(mx_idn_to_ascii("_dmarc.example", out, sizeof out, uni, sizeof uni, why, sizeof why), 0);
    assert_string_equal(out, "_dmarc.example");
    assert_string_equal(uni, "");
    assert_int_equal(mx_idn_to_ascii("m\xc3\xbcller.example.", out, sizeof out, uni, sizeof uni, why, sizeof why), 0);
    assert_string_equal(out, "xn--mller-kva.example.");
    assert_string_equal(uni, "m\xc3\xbcller.example");
    /* too small an output buffer is an error, not a truncation */
    assert_int_equal(mx_idn_to_ascii("m\xc3\xbcller.example", out, 10, uni, sizeof uni, why, sizeof why), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unicode_domain), cmocka_unit_test(ace_typed),      cmocka_unit_test(parts_converted),
        cmocka_unit_test(invalid_idn),    cmocka_unit_test(trimmed),        cmocka_unit_test(schemes_refused),
        cmocka_unit_test(to_ascii_direct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
