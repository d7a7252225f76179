/* Finding order (deterministic whatever the timing) and overall status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "report.h"

static mx_json *finding(const char *code, const char *host, int pref, const char *addr) {
    mx_json *o = mx_json_obj();
    mx_json_set(o, "rule", mx_json_str("t"));
    mx_json_set(o, "code", mx_json_str(code));
    mx_json *e = mx_json_set(o, "evidence", mx_json_obj());
    if (host) mx_json_set(e, "host", mx_json_str(host));
    if (pref >= 0) mx_json_set(e, "preference", mx_json_int(pref));
    if (addr) mx_json_set(e, "address", mx_json_str(addr));
    return o;
}

static void ordering(void **state) {
    (void)state;
    mx_report r = {0};
    /* added in a scrambled, timing-like order */
    mx_report_add(&r, 1, MX_SEV_WARN, finding("tcp.refused", "mx2.example", 20, "192.0.2.2"));
    mx_report_add(&r, 1, MX_SEV_OK, finding("tcp.connected", "mx1.example", 10, "2001:db8::1"));
    mx_report_add(&r, 2, MX_SEV_OK, finding("delivery.ok", NULL, -1, NULL));
    mx_report_add(&r, 1, MX_SEV_OK, finding("tcp.connected", "mx1.example", 10, "192.0.2.1"));
    mx_report_add(&r, 0, MX_SEV_OK, finding("mx.ok", NULL, -1, NULL));
    mx_report_add(&r, 0, MX_SEV_WARN, finding("mx.cname", "mx1.example", 10, NULL));
    mx_report_sort(&r);
    const char *want[][2] = {{"mx.ok", NULL}, {"delivery.ok", NULL}, {"mx.cname", NULL},
                             {"tcp.connected", "192.0.2.1"}, {"tcp.connected", "2001:db8::1"}, {"tcp.refused", "192.0.2.2"}};
    assert_int_equal(r.len, 6);
    for (size_t i = 0; i < r.len; i++) {
        assert_string_equal(mx_json_get_str(r.items[i].obj, "code"), want[i][0]);
        const char *a = mx_json_get_str(mx_json_get(r.items[i].obj, "evidence"), "address");
        if (want[i][1]) assert_string_equal(a, want[i][1]);
        else assert_null(a);
    }
    mx_report_free(&r);
}

static void status_and_exit(void **state) {
    (void)state;
    mx_report r = {0};
    assert_int_equal(mx_report_status(&r), MX_SEV_OK);
    mx_report_add(&r, 0, MX_SEV_INFO, finding("mx.implicit", NULL, -1, NULL));
    assert_int_equal(mx_severity_exit(mx_report_status(&r)), 0);
    mx_report_add(&r, 0, MX_SEV_UNKNOWN, finding("dns.timeout", NULL, -1, NULL));
    assert_int_equal(mx_severity_exit(mx_report_status(&r)), 3);
    mx_report_add(&r, 0, MX_SEV_WARN, finding("mx.cname", NULL, -1, NULL));
    assert_int_equal(mx_severity_exit(mx_report_status(&r)), 1); /* warn outranks unknown */
    mx_report_add(&r, 0, MX_SEV_CRIT, finding("delivery.none", NULL, -1, NULL));
    assert_int_equal(mx_severity_exit(mx_report_status(&r)), 2);
    assert_string_equal(mx_status_name(mx_report_status(&r)), "crit");
    mx_json *doc = mx_report_json(&r, mx_json_obj(), 5, NULL);
    assert_string_equal(mx_json_get_str(doc, "schema"), "mxdiag.check/1");
    assert_int_equal(mx_json_get(doc, "exit_code")->u.i, 2);
    assert_int_equal(mx_json_get(doc, "findings")->u.c.len, 4);
    mx_json_free(doc);
    mx_report_free(&r);
}

static void severity_names(void **state) {
    (void)state;
    mx_severity s;
    assert_int_equal(mx_severity_parse("crit", &s), 0);
    assert_int_equal(s, MX_SEV_CRIT);
    assert_int_equal(mx_severity_parse("critical", &s), -1);
    assert_int_equal(mx_severity_parse("", &s), -1);
}

static void text_output(void **state) {
    (void)state;
    mx_report r = {0};
    mx_report_add(&r, 0, MX_SEV_CRIT, finding("tcp.refused", "mx1.example", 10, "192.0.2.1"));
    mx_json *target = mx_json_obj();
    mx_json_set(target, "input", mx_json_str("example"));
    mx_json_set(target, "kind", mx_json_str("domain"));
    mx_buf b = MX_BUF_INIT;
    mx_report_text(&b, &r, target, 3, 0);
    assert_non_null(strstr(b.data, "status: CRITICAL"));
    assert_non_null(strstr(b.data, "mx1.example (MX preference 10)"));
    assert_non_null(strstr(b.data, "tcp.refused"));
    assert_null(strchr(b.data, '\033')); /* no colour when not asked */
    mx_buf_free(&b);
    mx_json_free(target);
    mx_report_free(&r);
}

/* An implicit MX (no MX record: the domain's own address, RFC 5321 §5.1) has
 * the RFC's preference 0 in its evidence, but is never headed "MX preference 0". */
static void implicit_mx_heading(void **state) {
    (void)state;
    mx_report r = {0};
    mx_report_add(&r, 0, MX_SEV_INFO, finding("mx.implicit", "aonly.example", 0, NULL));
    mx_report_add(&r, 1, MX_SEV_OK, finding("tcp.connected", "aonly.example", 0, "192.0.2.1"));
    mx_report_add(&r, 1, MX_SEV_OK, finding("tcp.connected", "mx.other.example", 0, "192.0.2.2"));
    mx_report_sort(&r);
    mx_json *target = mx_json_obj();
    mx_json_set(target, "input", mx_json_str("aonly.example"));
    mx_json_set(target, "kind", mx_json_str("domain"));
    mx_buf b = MX_BUF_INIT;
    mx_report_text(&b, &r, target, 3, 0);
    assert_non_null(strstr(b.data, "aonly.example (no MX record: the domain's own address, implicit MX)"));
    assert_null(strstr(b.data, "aonly.example (MX preference"));
    /* a real MX with preference 0 keeps its heading */
    assert_non_null(strstr(b.data, "mx.other.example (MX preference 0)"));
    mx_buf_free(&b);
    mx_json_free(target);
    mx_report_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ordering), cmocka_unit_test(status_and_exit), cmocka_unit_test(severity_names),
        cmocka_unit_test(text_output), cmocka_unit_test(implicit_mx_heading),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
