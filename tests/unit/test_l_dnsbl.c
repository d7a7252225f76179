/* The Lua module `dnsbl` without I/O: query_name and classify_answer, and the
 * refusals lookup shares with them (a domain never goes to an IP list, an IP
 * never to a domain list, an IPv6 address never to an IPv4-only list). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <lauxlib.h>
#include <lualib.h>
#include <string.h>
#include "runtime.h"

static lua_State *L;

static int setup(void **state) {
    (void)state;
    L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "dnsbl", luaopen_mx_dnsbl, 1);
    lua_pop(L, 1);
    return 0;
}
static int teardown(void **state) {
    (void)state;
    lua_close(L);
    return 0;
}

/* Runs a chunk that returns a string; asserts it equals want. */
static void run(const char *chunk, const char *want) {
    if (luaL_dostring(L, chunk) != LUA_OK) fail_msg("%s: %s", chunk, lua_tostring(L, -1));
    const char *got = lua_tostring(L, -1);
    if (!got) fail_msg("%s: returned a %s", chunk, luaL_typename(L, -1));
    if (strcmp(got, want) != 0) fail_msg("%s:\n got  %s\n want %s", chunk, got, want);
    lua_settop(L, 0);
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_name),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_misuse_raises),
        cmocka_unit_test(test_classify),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
