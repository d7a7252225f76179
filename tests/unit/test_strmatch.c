/* The sandbox's pattern functions (bindings/l_strmatch.c) against Lua's own:
 * the same results, captures and error messages for hand-picked and random
 * patterns. (That they stop at the rule's budget is tests/rules/test_sandbox.py.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <lualib.h>
#include "runtime.h"

/* Compares std.<f> and sb.<f> on each case; returns a list of differences. */
static const char *compare_lua =
    "local std, sb, cases, random_n = ...\n"
    "local function pk(...) return table.pack(...) end\n"
    "local function show(r)\n"
    "  local t = {}\n"
    "  for i = 1, r.n do t[#t + 1] = type(r[i]) == 'string' and string.format('%q', r[i]) or tostring(r[i]) end\n"
    "  return '(' .. table.concat(t, ', ') .. ')'\n"
    "end\n"
    "local function run(lib, f, args)\n"
    "  if f == 'gmatch' then\n"
    "    return pk(pcall(function()\n"
    "      local out = {}\n"
    "      for a, b, c in lib.gmatch(table.unpack(args, 1, args.n)) do\n"
    "        out[#out + 1] = tostring(a) .. '|' .. tostring(b) .. '|' .. tostring(c)\n"
    "        if #out > 100 then break end\n"
    "      end\n"
    "      return table.concat(out, ';')\n"
    "    end))\n"
    "  end\n"
    "  return pk(pcall(lib[f], table.unpack(args, 1, args.n)))\n"
    "end\n"
    "-- embedded zeros (a C string literal would end there)\n"
    "for _, c in ipairs({ { 'a\\0b', 'a%zb' }, { '\\0a\\0', '%z' }, { 'a\\0b', '[\\0]' }, { 'a\\0b', '\\0b' },\n"
    "                     { 'a\\0b', 'a.b' }, { 'x\\0y', '%Z+' } }) do cases[#cases + 1] = c end\n"
    "local diffs, count = {}, 0\n"
    "local function check(f, args)\n"
    "  count = count + 1\n"
    "  local a, b = run(std, f, args), run(sb, f, args)\n"
    "  if show(a) ~= show(b) then\n"
    "    diffs[#diffs + 1] = f .. show(args) .. ': lua ' .. show(a) .. ' sandbox ' .. show(b)\n"
    "  end\n"
    "end\n"
    "local repls = { '<%0>', '%1-%2', '%%', 'x', 7, { a = 'A', hello = false, [1] = 'one' },\n"
    "  function(x, y) return y and (x .. y) or (x == 'b' and false or x:upper()) end, '%9', '%z' }\n"
    "for _, c in ipairs(cases) do\n"
    "  local args = table.pack(table.unpack(c))\n"
    "  check('find', args); check('match', args); check('gmatch', args)\n"
    "  check('find', table.pack(c[1], c[2], 1, true))\n"
    "  for _, init in ipairs({ 0, 2, -3, 100 }) do\n"
    "    check('find', table.pack(c[1], c[2], init)); check('match', table.pack(c[1], c[2], init))\n"
    "    check('gmatch', table.pack(c[1], c[2], init))\n"
    "  end\n"
    "  for _, r in ipairs(repls) do\n"
    "    check('gsub', table.pack(c[1], c[2], r)); check('gsub', table.pack(c[1], c[2], r, 1))\n"
    "  end\n"
    "end\n"
    "-- random patterns over a small alphabet: every construct, short subjects\n"
    "local atoms = { 'a', 'b', '.', '%a', '%d', '%s', '%W', '[ab]', '[^a]', '[a-c]', '[%d.]', '%.', '%%',\n"
    "  '(', ')', '()', '%1', '%b()', '%f[%w]', '^', '$', '*', '+', '-', '?', '[]', '%', ']' }\n"
    "local subjects = { '', 'a', 'ab', 'aab b', '(a(b)c)', 'x1.2 yz', 'a.b%c', '  aaa  ' }\n"
    "local seed = 12345\n"
    "local function rnd(n) seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n + 1 end\n"
    "for _ = 1, random_n do\n"
    "  local p = {}\n"
    "  for _ = 1, rnd(6) do p[#p + 1] = atoms[rnd(#atoms)] end\n"
    "  local args = table.pack(subjects[rnd(#subjects)], table.concat(p))\n"
    "  check('find', args); check('match', args); check('gmatch', args)\n"
    "  check('gsub', table.pack(args[1], args[2], '<%0>'))\n"
    "end\n"
    "return table.concat(diffs, '\\n'), count\n";

static void same_as_lua(void **state) {
    (void)state;
    lua_State *L = luaL_newstate();
    assert_non_null(L);
    luaL_openlibs(L);
    assert_int_equal(luaL_loadstring(L, compare_lua), LUA_OK);
    lua_getglobal(L, "string");
    lua_newtable(L);
    mx_strmatch_register(L, -1);
    static const char *const cases[][2] = {
        {"hello world", "o"}, {"hello world", "o w"}, {"hello world", "l+"}, {"hello world", "^h"},
        {"hello world", "^w"}, {"hello world", "d$"}, {"hello world", "(h)(e)"}, {"hello world", "()ll()"},
        {"hello world", "%w+"}, {"hello world", "%W"}, {"key = value", "(%w+)%s*=%s*(%w+)"},
        {"THE (quick) fox", "%f[%a]%a+"}, {"THE (quick) fox", "%b()"}, {"[[x]]", "%b[]"},
        {"abc", "a-b"}, {"abc", "a-"}, {"aaa", "a-$"}, {"abc", ".-"}, {"", ""}, {"", ".*"}, {"abc", ""},
        {"abc", "[]]"}, {"a]c", "[]]"}, {"a-c", "[a%-]+"}, {"a^c", "[%^]"}, {"x", "[^]x]"},
        {"hello hello", "(h%a+) %1"}, {"aXb", "%u"}, {"a.b", "a.b"}, {"axb a.b", "a.b"}, {"a+b", "a+b"}, {"a+b", "a%+b"},
        {"250-PIPELINING\r\n250 SIZE", "^(%d%d%d)([ -])(.-)\r?\n"}, {"127.0.0.2", "^127%.0%.0%.(%d+)$"},
        {"a,b,,c", "([^,]*)"}, {"abc", "%"}, {"abc", "[a"}, {"abc", "(a"}, {"abc", "a)"}, {"abc", "%1"},
        {"abc", "%b"}, {"abc", "%f"}, {"abc", "(()"}, {"x y z", "%s*"},
        {"caf\xc3\xa9", "[\x80-\xff]+"}, {"aaa", "a?a?a?aaa"}, {"ab", "(a)(b)()"},
        {"mail.example.org.", "^(.-)%.?$"}, {"one two  three", "%S+"}, {"x=1, y=2", "(%w)=(%d)"},
    };
    lua_createtable(L, (int)(sizeof cases / sizeof cases[0]), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lua_createtable(L, 2, 0);
        lua_pushstring(L, cases[i][0]);
        lua_rawseti(L, -2, 1);
        lua_pushstring(L, cases[i][1]);
        lua_rawseti(L, -2, 2);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_pushinteger(L, 20000);
    if (lua_pcall(L, 4, 2, 0) != LUA_OK) fail_msg("%s", lua_tostring(L, -1));
    const char *diffs = lua_tostring(L, -2);
    if (diffs[0]) fail_msg("differences from Lua's matcher:\n%.4000s", diffs);
    assert_true(lua_tointeger(L, -1) > 20000);
    lua_close(L);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_as_lua),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
