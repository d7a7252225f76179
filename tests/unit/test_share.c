/* Lua values across runtimes for batch -P (bindings/rt_share.c): what one
 * worker's shared.once result is, another worker's Lua state gets back
 * exactly: integer/float, key types, sparse arrays, an empty table's
 * __json = "object" mark, nested results like the tcp and smtp rules'. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <lualib.h>
#include <string.h>
#include "runtime.h"

/* deep equality that also compares math.type and key types */
static const char *deq_src =
    "local function deq(a, b)\n"
    "  if type(a) ~= type(b) then return false end\n"
    "  if type(a) == 'number' then return math.type(a) == math.type(b) and a == b end\n"
    "  if type(a) ~= 'table' then return a == b end\n"
    "  local ma, mb = getmetatable(a), getmetatable(b)\n"
    "  if (ma and ma.__json) ~= (mb and mb.__json) then return false end\n"
    "  for k, v in pairs(a) do\n"
    "    local found = false\n"
    "    for k2, v2 in pairs(b) do\n"
    "      if math.type(k) == math.type(k2) and (type(k) ~= 'table' and k == k2) then\n"
    "        if not deq(v, v2) then return false end\n"
    "        found = true\n"
    "      elseif type(k) == 'table' and type(k2) == 'table' and deq(k, k2) then found = deq(v, v2) end\n"
    "    end\n"
    "    if not found then return false end\n"
    "  end\n"
    "  for k in pairs(b) do if rawget(a, k) == nil and type(k) ~= 'table' then return false end end\n"
    "  return true\n"
    "end\n"
    "return deq\n";

static const char *values_src =
    "local obj = setmetatable({}, {__json = 'object'})\n"
    "return {\n"
    "  { verdict = 'connected', detail = { elapsed_ms = 12, rtt = 0.25, family = 4 } },\n"
    "  { 1, 2, 3, [5] = 'sparse', [1.5] = 'float key', ['1'] = 'string one' },\n"
    "  { whole = 1.0, neg = -0.0, big = math.maxinteger, small = math.mininteger, huge = math.huge },\n"
    "  { empty = {}, object = obj, list = { {}, { a = false } } },\n"
    "  { greeting = { code = 220, text = 'mx.example ESMTP\\0with nul' }, ehlo = { 'PIPELINING', 'STARTTLS' } },\n"
    "  'a plain string', 42, 4.5, true, false,\n"
    "}\n";

static lua_State *new_state(void) {
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    return L;
}

static void test_round_trip(void **st) {
    (void)st;
    lua_State *A = new_state(), *B = new_state();
    assert_int_equal(luaL_dostring(A, values_src), LUA_OK);
    assert_int_equal(luaL_dostring(B, deq_src), LUA_OK);   /* B: deq */
    assert_int_equal(luaL_dostring(B, values_src), LUA_OK); /* B: deq, originals */
    lua_Integer n = luaL_len(A, -1);
    assert_true(n >= 10);
    for (lua_Integer i = 1; i <= n; i++) {
        mx_buf b = MX_BUF_INIT;
        char err[200];
        lua_geti(A, -1, i);
        assert_int_equal(mx_share_encode(A, -1, &b, NULL, NULL, err, sizeof err), 0);
        lua_pop(A, 1);
        assert_int_equal(mx_share_decode(B, b.data, b.len, NULL, NULL), 0);
        /* deq(decoded, original) */
        lua_pushvalue(B, 1);
        lua_insert(B, -2);
        lua_geti(B, 2, i);
        assert_int_equal(lua_pcall(B, 2, 1, 0), LUA_OK);
        if (!lua_toboolean(B, -1)) fail_msg("value %lld did not come back the same", (long long)i);
        lua_pop(B, 1);
        /* a cut encoding is refused, never half a value */
        for (size_t cut = 0; cut < b.len; cut++) {
            int top = lua_gettop(B);
            assert_int_equal(mx_share_decode(B, b.data, cut, NULL, NULL), -1);
            assert_int_equal(lua_gettop(B), top);
        }
        mx_buf_free(&b);
    }
    lua_close(A);
    lua_close(B);
}

/* the comparison itself can fail: a float is not an integer */
static void test_deq_sees_difference(void **st) {
    (void)st;
    lua_State *L = new_state();
    assert_int_equal(luaL_dostring(L, deq_src), LUA_OK);
    assert_int_equal(luaL_loadstring(L, "local deq = ...; return deq({a = 1}, {a = 1.0}) or deq({1}, {['1'] = 1}) "
                                        "or deq({}, setmetatable({}, {__json = 'object'}))"), LUA_OK);
    lua_pushvalue(L, 1);
    assert_int_equal(lua_pcall(L, 1, 1, 0), LUA_OK);
    assert_false(lua_toboolean(L, -1));
    lua_close(L);
}

static int hook_enc(lua_State *L, int idx, mx_buf *out, void *ud) {
    (void)ud;
    int *fd = lua_touserdata(L, idx);
    if (*fd < 0) return -1;
    mx_buf_put(out, fd, sizeof *fd);
    return 0;
}
static int hook_dec(lua_State *L, const char *p, size_t n, void *ud) {
    (void)ud;
    if (n != sizeof(int)) return -1;
    int v;
    memcpy(&v, p, sizeof v);
    lua_pushinteger(L, v + 1000); /* the receiving side's own object */
    return 0;
}

static void test_refused_and_hooks(void **st) {
    (void)st;
    lua_State *L = new_state();
    mx_buf b = MX_BUF_INIT;
    char err[200];
    /* functions and cycles cannot cross */
    assert_int_equal(luaL_dostring(L, "return { f = print }"), LUA_OK);
    assert_int_equal(mx_share_encode(L, -1, &b, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "function"));
    assert_int_equal(b.len, 0);
    assert_int_equal(luaL_dostring(L, "local t = {}; t.self = t; return t"), LUA_OK);
    assert_int_equal(mx_share_encode(L, -1, &b, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "deep"));
    /* a userdata: only through the hook */
    int *fd = lua_newuserdatauv(L, sizeof *fd, 0);
    *fd = 7;
    assert_int_equal(mx_share_encode(L, -1, &b, NULL, NULL, err, sizeof err), -1);
    assert_int_equal(mx_share_encode(L, -1, &b, hook_enc, NULL, err, sizeof err), 0);
    assert_int_equal(mx_share_decode(L, b.data, b.len, hook_dec, NULL), 0);
    assert_int_equal(lua_tointeger(L, -1), 1007);
    assert_int_equal(mx_share_decode(L, b.data, b.len, NULL, NULL), -1);
    *fd = -1; /* refused by the hook: nothing written */
    mx_buf_reset(&b);
    assert_int_equal(mx_share_encode(L, -2, &b, hook_enc, NULL, err, sizeof err), -1);
    assert_int_equal(b.len, 0);
    /* trailing bytes: not a whole encoding */
    mx_buf_puts(&b, "nn");
    assert_int_equal(mx_share_decode(L, b.data, b.len, NULL, NULL), -1);
    mx_buf_free(&b);
    lua_close(L);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_deq_sees_difference),
        cmocka_unit_test(test_refused_and_hooks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
