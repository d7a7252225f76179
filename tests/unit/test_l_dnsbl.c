/* The Lua module `dnsbl` without I/O: query_name and classify_answer, and the
 * refusals lookup shares with them (a domain never goes to an IP list, an IP
 * never to a domain list, an IPv6 address never to an IPv4-only list). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "runtime.h"
#include "lua_chunks.h"

static int setup(void **state) {
    (void)state;
    chunks_open("dnsbl", luaopen_mx_dnsbl);
    return 0;
}

#define R(expr) "local a, b, c = " expr " return tostring(a) .. '|' .. tostring(b) .. '|' .. (type(c) == 'table' and tostring(c.error) or tostring(c))"

static void test_query_name(void **state) {
    (void)state;
    run(R("dnsbl.query_name('198.51.100.1', 'zen.spamhaus.org', 'ip')"), "1.100.51.198.zen.spamhaus.org|nil|nil");
    run(R("dnsbl.query_name('198.51.100.1', 'zen.spamhaus.org', 'ip4')"), "1.100.51.198.zen.spamhaus.org|nil|nil");
    run(R("dnsbl.query_name('::ffff:198.51.100.1', 'bl.spamcop.net', 'ip4')"), "1.100.51.198.bl.spamcop.net|nil|nil");
    run(R("dnsbl.query_name('2001:db8::bad', 'zen.spamhaus.org', 'ip6')"),
        "d.a.b.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.spamhaus.org|nil|nil");
    run(R("dnsbl.query_name('Spammy.TEST.', 'dbl.spamhaus.org', 'domain')"), "spammy.test.dbl.spamhaus.org|nil|nil");
    /* 'ip6' asks the IPv6 form even of a mapped address (RFC 5782 IPv6 test
     * points); 'ip' and 'ip4' keep folding it to IPv4 */
    run(R("dnsbl.query_name('::FFFF:7F00:2', 'zen.spamhaus.org', 'ip6')"),
        "2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.zen.spamhaus.org|nil|nil");
    run(R("dnsbl.query_name('::FFFF:7F00:2', 'zen.spamhaus.org', 'ip')"), "2.0.0.127.zen.spamhaus.org|nil|nil");
    /* the DQS key placeholder is an ordinary label to the query builder */
    run(R("dnsbl.query_name('127.0.0.2', 'mxdiag-dnsbl-key.zen.dq.spamhaus.net', 'ip4')"),
        "2.0.0.127.mxdiag-dnsbl-key.zen.dq.spamhaus.net|nil|nil");
}

static void test_refusals(void **state) {
    (void)state;
    run(R("dnsbl.query_name('spammy.test', 'zen.spamhaus.org', 'ip')"),
        "nil|not_applicable|domain name queried against an IP list");
    run(R("dnsbl.query_name('198.51.100.1', 'dbl.spamhaus.org', 'domain')"),
        "nil|not_applicable|IP address queried against a domain list");
    run(R("dnsbl.query_name('2001:db8::1', 'bl.spamcop.net', 'ip4')"),
        "nil|not_applicable|IPv6 address queried against an IPv4-only list");
    run(R("dnsbl.query_name('198.51.100.1', 'x.test', 'ip6')"),
        "nil|not_applicable|IPv4 address queried against an IPv6-only list");
    run(R("dnsbl.query_name('a..b', 'dbl.spamhaus.org', 'domain')"), "nil|invalid|empty label in domain name");
    /* lookup refuses before any I/O: works outside a rule */
    run(R("dnsbl.lookup('spammy.test', 'zen.spamhaus.org', 'ip')"),
        "nil|not_applicable|domain name queried against an IP list");
    run(R("dnsbl.lookup('198.51.100.1', 'dbl.spamhaus.org', 'domain')"),
        "nil|not_applicable|IP address queried against a domain list");
}

static void test_misuse_raises(void **state) {
    (void)state;
    run("return tostring(pcall(dnsbl.query_name, '198.51.100.1', 'zen.spamhaus.org', 'ipv4'))", "false");
    run("return tostring(pcall(dnsbl.query_name, '198.51.100.1', 'bad zone', 'ip'))", "false");
    run("return tostring(pcall(dnsbl.lookup, '198.51.100.1', 'zen.spamhaus.org'))", "false");
}

static void test_classify(void **state) {
    (void)state;
    run("local a, b = dnsbl.classify_answer('127.0.0.2') return a .. '|' .. b", "dnsbl|2");
    run("local a, b = dnsbl.classify_answer('127.255.255.254') return a .. '|' .. b", "dnsbl|254");
    run("local a = dnsbl.classify_answer('192.0.2.1') return a", "foreign");
    run("local a = dnsbl.classify_answer('nonsense') return a", "invalid");
}

/* The catalog and its verdict library (rules/lib), on lookup results as
 * dnsbl.lookup returns them: what each answer decodes to. */
static void load_libs(void) {
    run("package.path = '" MXDIAG_SOURCE_RULES "/lib/?.lua;' .. package.path "
        "C = require('dnsbl_catalog') V = require('dnsbl_verdict') "
        "function L(id) for _, l in ipairs(C.lists) do if l.id == id then return l end end end "
        "function K(c) if c.state ~= 'listed' then return c.state .. ':' .. tostring(c.reason) end "
        "  local t = {} for _, h in ipairs(c.hits) do t[#t + 1] = h.code .. '/' .. h.severity "
        "  .. (h.policy and '/policy' or '') end "
        "  return 'listed:' .. table.concat(t, ',') .. (c.unknown and (' unknown:' .. table.concat(c.unknown, ',')) or '') end "
        "return 'ok'", "ok");
}

static void test_catalog_codes(void **state) {
    (void)state;
    load_libs();
    /* PBL: a policy listing, crit for a direct sender */
    run("return K(V.classify(L('spamhaus-zen'), {answers = {'127.0.0.11'}}))", "listed:127.0.0.11/crit/policy");
    run("return K(V.classify(L('spamhaus-zen'), {answers = {'127.0.0.10'}}))", "listed:127.0.0.10/crit/policy");
    run("return tostring(L('spamhaus-zen').codes['127.0.0.10'].advice:find('smarthost') ~= nil)", "true");
    /* BCL */
    run("return K(V.classify(L('spamhaus-zen'), {answers = {'127.0.0.30'}}))", "listed:127.0.0.30/crit");
    /* a documented code next to an unknown one: the listing, with the unknown named */
    run("return K(V.classify(L('spamhaus-zen'), {answers = {'127.0.0.99', '127.0.0.2'}}))",
        "listed:127.0.0.2/crit unknown:127.0.0.99");
    /* only unknown codes: undocumented, not a listing; .5-.7 are unused by ZEN */
    run("return V.classify(L('spamhaus-zen'), {answers = {'127.0.0.6'}}).state", "undocumented");
    /* error codes are never listings, even next to a listing */
    run("return V.classify(L('spamhaus-zen'), {answers = {'127.0.0.2', '127.255.255.254'}}).state", "error");
    run("return tostring(V.classify(L('spamhaus-zen'), {answers = {'127.255.255.254'}}).reason:find('DQS') ~= nil)",
        "true");
    /* Mailspike bl: .13/.14 are rep. levels, never bl answers; every bl code blocks */
    run("return K(V.classify(L('mailspike'), {answers = {'127.0.0.2'}}))", "listed:127.0.0.2/crit");
    run("return K(V.classify(L('mailspike'), {answers = {'127.0.0.12'}}))", "listed:127.0.0.12/crit");
    run("return V.classify(L('mailspike'), {answers = {'127.0.0.13'}}).state", "undocumented");
    /* 127.0.0.1 is never a listing: not on a generic list, not on a catalog list */
    run("return V.classify(V.generic('rbl.lab.test'), {answers = {'127.0.0.1'}}).state", "error");
    run("return tostring(V.classify(V.generic('rbl.lab.test'), {answers = {'127.0.0.1'}}).reason:find('RFC 5782') ~= nil)",
        "true");
    run("return K(V.classify(V.generic('rbl.lab.test'), {answers = {'127.0.0.4'}}))", "listed:127.0.0.4/warn");
    run("return V.classify(L('spamcop'), {answers = {'127.0.0.1'}}).state", "error");
}

static void test_catalog_keyed(void **state) {
    (void)state;
    load_libs();
    /* without a key: the public mirrors */
    run("local z = {} for _, l in ipairs(V.lists_for(C, {})) do z[#z + 1] = l.zone end return table.concat(z, ' ', 1, 2)",
        "zen.spamhaus.org dbl.spamhaus.org");
    /* with a key: the DQS zones with the placeholder label, never the key */
    run("local z = {} for _, l in ipairs(V.lists_for(C, {dnsbl_key = true})) do z[#z + 1] = l.zone end "
        "return table.concat(z, ' ', 1, 3)",
        "mxdiag-dnsbl-key.zen.dq.spamhaus.net mxdiag-dnsbl-key.dbl.dq.spamhaus.net bl.spamcop.net");
    /* a dnsbl_zones selection by public zone keeps the catalog entry, keyed */
    run("local l = V.lists_for(C, {dnsbl_key = true, dnsbl_zones = {'zen.spamhaus.org', 'rbl.lab.test'}}) "
        "return l[1].zone .. ' ' .. l[1].id .. ' ' .. l[2].zone .. ' ' .. tostring(l[2].generic)",
        "mxdiag-dnsbl-key.zen.dq.spamhaus.net spamhaus-zen rbl.lab.test true");
    /* per-kind trust: an IPv6 failure does not take IPv4 verdicts with it */
    run("local t = {ok = false, reason = 'r6', kinds = {ip4 = {ok = true}, ip6 = {ok = false, reason = 'r6'}}} "
        "return tostring(V.trusted(t, 'ip4')) .. ' ' .. tostring(V.trusted(t, 'ip6')) .. ' ' .. tostring(V.trusted({ok = true}, 'domain'))",
        "true false true");
    run("return table.concat(L('spamhaus-zen').test.listed6, ',') .. ' ' .. table.concat(L('spamhaus-zen').test.unlisted6, ',')",
        "::ffff:7f00:2 ::ffff:7f00:1");
    /* documented free-use limits */
    run("return L('spamhaus-zen').usage.queries_per_day .. ' ' .. L('spamhaus-zen').usage.connections_per_day .. ' ' "
        ".. L('mailspike').usage.queries_per_day", "300000 100000 100000");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_name),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_misuse_raises),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_catalog_codes),
        cmocka_unit_test(test_catalog_keyed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
