/* The Lua module `util`'s sort_by: the same order as table.sort with a Lua
 * comparator over the same keys, stable on ties, strings compared as Lua's
 * "<" compares them, and misuse raised with the element named. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "runtime.h"
#include "lua_chunks.h"

static int setup(void **state) {
    (void)state;
    chunks_open("util", luaopen_mx_util);
    return 0;
}

static void test_small(void **state) {
    (void)state;
    run("local l = {} util.sort_by(l, {'a'}) return tostring(#l)", "0");
    run("local l = {{a = 1}} return tostring(util.sort_by(l, {'a'}) == l)", "true");
    run("local l = {{a = 3}, {a = 1}, {a = 2}} util.sort_by(l, {'a'}) "
        "return l[1].a .. l[2].a .. l[3].a",
        "123");
    run("local l = {{a = 3}, {a = 1}, {a = 2}} util.sort_by(l, {'-a'}) "
        "return l[1].a .. l[2].a .. l[3].a",
        "321");
    /* integers and floats in one key compare as numbers */
    run("local l = {{a = 2.5}, {a = 1}, {a = 2}, {a = -0.5}} util.sort_by(l, {'a'}) "
        "return l[1].a .. ' ' .. l[2].a .. ' ' .. l[3].a .. ' ' .. l[4].a",
        "-0.5 1 2 2.5");
    /* the impact ranking of the logs rules: impact down, failures down, name up */
    run("local l = {{i = 0.5, f = 1, n = 'b'}, {i = 0.5, f = 2, n = 'c'}, {i = 1, f = 1, n = 'z'},"
        " {i = 0.5, f = 1, n = 'a'}} util.sort_by(l, {'-i', '-f', 'n'}) "
        "return l[1].n .. l[2].n .. l[3].n .. l[4].n",
        "zcab");
    /* strings: byte order (the C locale) with prefixes first, and embedded NULs
     * as Lua compares them */
    run("local l = {{s = 'ab'}, {s = 'a'}, {s = 'a\\0b'}, {s = 'a\\0a'}, {s = 'B'}, {s = ''}} "
        "util.sort_by(l, {'s'}) local o = {} for i, e in ipairs(l) do o[i] = e.s:gsub('%z', '0') end "
        "return table.concat(o, ',')",
        ",B,a,a0a,a0b,ab");
}

/* Random lists against table.sort with the equivalent comparator: with a
 * unique last key the orders must be equal; without, against a stable
 * reference (the original position as the last key). */
static void test_against_table_sort(void **state) {
    (void)state;
    run("math.randomseed(7) "
        "local words = {'alpha', 'beta', 'b', 'gamma', 'x.example', 'X.example', 'a', '', 'delta'} "
        "for round = 1, 400 do "
        "  local n = round % 67 "
        "  local l = {} "
        "  for i = 1, n do "
        "    local f = math.random(0, 4) "
        "    l[i] = { f = f, s = math.random(0, 3), w = words[math.random(#words)], "
        "             imp = f > 0 and f * f / (f + math.random(0, 5)) or 0, id = i, "
        "             name = string.format('d%03d.example', math.random(1, 999)) .. i } "
        "  end "
        "  local specs = { {'-imp', '-f', 'name'}, {'w', '-s', 'id'}, {'-w'}, {'f', 's'}, {'-imp'} } "
        "  local spec = specs[round % #specs + 1] "
        "  local a, b = {}, {} "
        "  for i = 1, n do a[i] = l[i]; b[i] = l[i] end "
        "  util.sort_by(a, spec) "
        "  table.sort(b, function(x, y) "
        "    for _, k in ipairs(spec) do "
        "      local desc = k:sub(1, 1) == '-' "
        "      local f = desc and k:sub(2) or k "
        "      local u, v = x[f], y[f] "
        "      if u ~= v then if desc then return u > v else return u < v end end "
        "    end "
        "    return x.id < y.id "
        "  end) "
        "  for i = 1, n do "
        "    if a[i] ~= b[i] then "
        "      return string.format('round %d (n %d, %s): position %d differs', round, n, "
        "        table.concat(spec, ' '), i) "
        "    end "
        "  end "
        "end "
        "return 'same'",
        "same");
}

/* Elements read through __index (the fact's read-only groups are proxies):
 * each field once per element, and the values kept alive while sorting even
 * when the proxy makes a fresh long (not interned) string each time and the
 * collector runs (under ASan a string left unanchored is a use after free). */
static void test_proxies(void **state) {
    (void)state;
    run("local reads = 0 "
        "local function proxy(t) return setmetatable({}, { __index = function(_, k) "
        "  reads = reads + 1 collectgarbage() "
        "  local v = t[k] if type(v) == 'string' then return v .. string.rep('.', 48) end return v end }) end "
        "local l = {} "
        "for i = 1, 50 do l[i] = proxy({ n = string.format('k%02d', (i * 37) % 50), v = i % 7 }) end "
        "util.sort_by(l, {'-v', 'n'}) "
        "local o = {} for i = 1, 3 do o[i] = l[i].v .. l[i].n:sub(1, 3) end "
        "return table.concat(o, ' ') .. ' reads=' .. reads",
        "6k08 6k17 6k22 reads=106");
}

static void test_misuse(void **state) {
    (void)state;
    raises("util.sort_by({{a = 1}, 5}, {'a'})", "list[2] is not a table");
    raises("util.sort_by({{a = 1}, {}}, {'a'})", "list[2].a is nil, not a number or string");
    raises("util.sort_by({{a = 1}, {a = 'x'}}, {'a'})", "list[2].a is a string among numbers");
    raises("util.sort_by({{a = 1}, {a = 2}}, {})", "1 to 8 keys");
    raises("util.sort_by({{a = 1}, {a = 2}}, {'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'})", "1 to 8 keys");
    raises("util.sort_by({{a = 1}, {a = 2}}, {1})", "keys must be field names");
    raises("util.sort_by({{a = 1}, {a = 2}}, {'-'})", "empty field name");
    raises("util.sort_by({{a = 1}, {a = 2}}, 'a')", "table expected");
    /* a list that refuses writes keeps its order and raises, as table.sort would */
    raises("local t = {{a = 2}, {a = 1}} "
           "local ro = setmetatable({}, { __index = t, __len = function() return #t end, "
           "  __newindex = function() error('read-only') end }) "
           "util.sort_by(ro, {'a'})",
           "read-only");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small),
        cmocka_unit_test(test_against_table_sort),
        cmocka_unit_test(test_proxies),
        cmocka_unit_test(test_misuse),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
