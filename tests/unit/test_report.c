/* Finding order (deterministic whatever the timing) and overall status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "report.h"
#include "verdict.h"

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

/* Any order of adding gives one order after sorting, in findings few
 * enough to sort on the stack (by insertion) and more (qsort): each finding
 * before the next by mx_finding_cmp, the same sequence whatever the order
 * they were added in. */
static void ordering_any_input(void **state) {
    (void)state;
    static const char *const codes[] = {"tcp.refused", "tcp.connected", "mx.ok", "smtp.banner", "dnsbl.listed"};
    static const char *const hosts[] = {NULL, "mx1.example", "mx2.example", "a.example"};
    static const char *const addrs[] = {NULL, "192.0.2.1", "192.0.2.10", "2001:db8::1", "198.51.100.7"};
    for (size_t n = 2; n <= 60; n += 29) { /* 2, 31 (stack) and 60 (heap) */
        char first[60][64];
        for (unsigned round = 0; round < 4; round++) {
            mx_report r = {0};
            unsigned x = 12345u + round * 7919u;
            size_t order[60];
            for (size_t i = 0; i < n; i++) order[i] = i;
            for (size_t i = n - 1; i > 0 && round; i--) { /* round 0: in order */
                x = x * 1103515245u + 12345u;
                size_t j = (x >> 8) % (i + 1), t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
            for (size_t i = 0; i < n; i++) {
                size_t f = order[i];
                const char *h = hosts[f % 4];
                mx_report_add(&r, (int)(f % 3), MX_SEV_OK,
                              finding(codes[f % 5], h, h ? (int)(f % 2) * 10 : -1, addrs[(f / 4) % 5]));
            }
            mx_report_sort(&r);
            assert_int_equal(r.len, n);
            for (size_t i = 0; i + 1 < n; i++) assert_true(mx_finding_cmp(&r.items[i], &r.items[i + 1]) < 0);
            for (size_t i = 0; i < n; i++) {
                const mx_json *e = mx_json_get(r.items[i].obj, "evidence");
                char d[64];
                snprintf(d, sizeof d, "%d %s %s %s", r.items[i].rule_order, mx_json_get_str(r.items[i].obj, "code"),
                         mx_json_get_str(e, "host") ? mx_json_get_str(e, "host") : "-",
                         mx_json_get_str(e, "address") ? mx_json_get_str(e, "address") : "-");
                if (round == 0) strcpy(first[i], d);
                else assert_string_equal(d, first[i]);
            }
            mx_report_free(&r);
        }
    }
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

static mx_json *sfinding(const char *code, const char *sev, const char *summary, const char *host, const char *addr,
                         int conclusion) {
    mx_json *o = finding(code, host, host ? 10 : -1, addr);
    mx_json_set(o, "severity", mx_json_str(sev));
    mx_json_set(o, "summary", mx_json_str(summary));
    mx_json_set(o, "explanation", mx_json_str("Why it matters."));
    mx_json_set(o, "advice", mx_json_str("Start the MTA. Then look again."));
    if (conclusion) mx_json_set(o, "conclusion", mx_json_bool(1));
    return o;
}

/* a refused MX: the conclusion delivery.none (crit) and its cause tcp.refused (warn) */
static void refused_report(mx_report *r) {
    mx_report_add(r, 0, MX_SEV_OK, sfinding("mx.ok", "ok", "example has 1 usable MX host", NULL, NULL, 0));
    mx_report_add(r, 2, MX_SEV_CRIT, sfinding("delivery.none", "crit", "No mail host accepts mail", NULL, NULL, 1));
    mx_report_add(r, 1, MX_SEV_WARN,
                  sfinding("tcp.refused", "warn", "192.0.2.1:25 refused the connection", "mx1.example", "192.0.2.1", 0));
    mx_report_add(r, 1, MX_SEV_OK, sfinding("tcp.connected", "ok", "192.0.2.2:25 accepted", "mx1.example", "192.0.2.2", 0));
    mx_report_add(r, 3, MX_SEV_OK, sfinding("smtp.greeting_ok", "ok", "greets", "mx1.example", "192.0.2.2", 0));
}

static void text_output(void **state) {
    (void)state;
    mx_report r = {0};
    refused_report(&r);
    mx_json *target = mx_json_obj();
    mx_json_set(target, "input", mx_json_str("example"));
    mx_json_set(target, "kind", mx_json_str("domain"));
    mx_buf b = MX_BUF_INIT;
    /* default: the verdict names the cause, not the conclusion, then its next step */
    mx_report_text_v(&b, &r, target, 3, 0, 0);
    const char *first = "CRITICAL example: mx1.example: 192.0.2.1:25 refused the connection\n  -> Start the MTA.\n";
    assert_memory_equal(b.data, first, strlen(first));
    assert_non_null(strstr(b.data, "status: CRITICAL"));
    /* problems by severity: the crit conclusion before the warn cause */
    assert_true(strstr(b.data, "delivery.none") < strstr(b.data, "tcp.refused"));
    /* ok findings of one address folded into one line; no explanation */
    assert_non_null(strstr(b.data, "OK      mx1.example[192.0.2.2]: tcp.connected, smtp.greeting_ok\n"));
    assert_null(strstr(b.data, "Why it matters."));
    assert_null(strchr(b.data, '\033')); /* no colour when not asked */
    /* -q: the verdict line only */
    mx_buf_reset(&b);
    mx_report_text_v(&b, &r, target, 3, 0, -1);
    assert_string_equal(mx_buf_cstr(&b), "CRITICAL example: mx1.example: 192.0.2.1:25 refused the connection\n");
    /* -v: explanations and full advice, every ok finding on its own line */
    mx_buf_reset(&b);
    mx_report_text_v(&b, &r, target, 3, 0, 1);
    assert_non_null(strstr(b.data, "Why it matters."));
    assert_non_null(strstr(b.data, "Start the MTA. Then look again."));
    assert_non_null(strstr(b.data, "smtp.greeting_ok"));
    assert_null(strstr(b.data, "address: 192.0.2.1"));
    /* -vv: the evidence, as a person writes it */
    mx_buf_reset(&b);
    mx_report_text_v(&b, &r, target, 3, 0, 2);
    assert_non_null(strstr(b.data, "address: 192.0.2.1"));
    mx_buf_free(&b);
    mx_json_free(target);
    mx_report_free(&r);
}

static void verdict_pick(void **state) {
    (void)state;
    mx_report r = {0};
    refused_report(&r);
    mx_report_sort(&r);
    const mx_json *objs[8];
    for (size_t i = 0; i < r.len; i++) objs[i] = r.items[i].obj;
    long p = mx_verdict_pick(objs, r.len, MX_SEV_CRIT);
    assert_true(p >= 0);
    assert_string_equal(mx_json_get_str(objs[p], "code"), "tcp.refused");
    /* OK: the delivery verdict (a conclusion of severity ok), not an info note */
    mx_report ok = {0};
    mx_report_add(&ok, 0, MX_SEV_INFO, sfinding("mx.reserved_address", "info", "a documentation address", NULL, NULL, 0));
    mx_report_add(&ok, 0, MX_SEV_OK, sfinding("mx.ok", "ok", "1 usable MX", NULL, NULL, 0));
    mx_report_add(&ok, 2, MX_SEV_OK, sfinding("delivery.ok", "ok", "A most-preferred mail host accepts", NULL, NULL, 1));
    for (size_t i = 0; i < ok.len; i++) objs[i] = ok.items[i].obj;
    p = mx_verdict_pick(objs, ok.len, MX_SEV_OK);
    assert_string_equal(mx_json_get_str(objs[p], "code"), "delivery.ok");
    /* only a conclusion among the problems: it is the verdict */
    mx_report only = {0};
    mx_report_add(&only, 2, MX_SEV_CRIT, sfinding("delivery.none", "crit", "none", NULL, NULL, 1));
    objs[0] = only.items[0].obj;
    assert_int_equal(mx_verdict_pick(objs, 1, MX_SEV_CRIT), 0);
    assert_int_equal(mx_verdict_pick(objs, 0, MX_SEV_CRIT), -1);
    /* the next step: the advice's first sentence, "e.g." does not end it */
    mx_json *f = sfinding("x.y", "warn", "s", NULL, NULL, 0);
    mx_json_set(f, "advice", mx_json_str("Use a relay, e.g. a smarthost. Then retry."));
    mx_buf b = MX_BUF_INIT;
    mx_verdict_next(&b, f);
    assert_string_equal(mx_buf_cstr(&b), "Use a relay, e.g. a smarthost.");
    mx_buf_free(&b);
    mx_json_free(f);
    /* a finding marked next_step gives the next step; the cause stays the verdict */
    mx_report ns = {0};
    refused_report(&ns);
    mx_json *nf = sfinding("outbound.remote_filtered", "warn", "Only this target fails", NULL, NULL, 0);
    mx_json_set(nf, "advice", mx_json_str("The block is theirs: contact their postmaster. Then retry."));
    mx_json_set(nf, "next_step", mx_json_bool(1));
    mx_report_add(&ns, 4, MX_SEV_WARN, nf);
    const mx_json *nobjs[8];
    for (size_t i = 0; i < ns.len; i++) nobjs[i] = ns.items[i].obj;
    long cause = mx_verdict_pick(nobjs, ns.len, MX_SEV_CRIT);
    assert_string_equal(mx_json_get_str(nobjs[cause], "code"), "tcp.refused");
    long next = mx_verdict_next_pick(nobjs, ns.len, cause);
    assert_string_equal(mx_json_get_str(nobjs[next], "code"), "outbound.remote_filtered");
    assert_int_equal(mx_verdict_next_pick(nobjs, ns.len - 1, cause), cause); /* without it: the cause's advice */
    mx_json *target = mx_json_obj();
    mx_json_set(target, "input", mx_json_str("example"));
    mx_json_set(target, "kind", mx_json_str("domain"));
    mx_report_text_v(&b, &ns, target, 3, 0, 0);
    const char *want = "CRITICAL example: mx1.example: 192.0.2.1:25 refused the connection\n"
                       "  -> The block is theirs: contact their postmaster.\n";
    assert_memory_equal(b.data, want, strlen(want));
    mx_buf_free(&b);
    mx_json_free(target);
    mx_report_free(&ns);
    mx_report_free(&r);
    mx_report_free(&ok);
    mx_report_free(&only);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ordering), cmocka_unit_test(ordering_any_input), cmocka_unit_test(status_and_exit), cmocka_unit_test(severity_names),
        cmocka_unit_test(text_output), cmocka_unit_test(verdict_pick),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
