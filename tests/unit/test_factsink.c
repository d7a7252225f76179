/* The fact sinks (engine/factsink.h, bindings/rt_factsink.c): the fact
 * `logs` built straight into Lua tables must be the tables mx_lua_push_json
 * makes from the same fact built as an mx_json: the same values, and the
 * same order of pairs() (sizes and insertion order), so rules see no
 * difference. The built tables are sealed (rt_sandbox.c), every one of them:
 * compared through the seal (the shadow's pairs and sizes), the front seen
 * empty by next/rawlen, and writes to any of them raise. Also empty
 * containers, a lone scalar, the stack left as found. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logfacts.h"
#include "rt_private.h"

/* a (a plain table's tree) and b (absolute indices) hold the same value, b's
 * tables sealed and read through the seal: the same sizes, visited in the
 * same order */
static void assert_same_in(lua_State *L, int a, int b, int depth, int shadow);
static void assert_same(lua_State *L, int a, int b, int depth) { assert_same_in(L, a, b, depth, 0); }
/* shadow: b is a sealed table's shadow (a plain table) */
static void assert_same_in(lua_State *L, int a, int b, int depth, int shadow) {
    assert_true(depth < 20);
    assert_int_equal(lua_type(L, a), lua_type(L, b));
    if (lua_type(L, b) == LUA_TTABLE && !shadow) {
        /* a sealed copy: an empty front, its shadow behind */
        assert_int_equal(lua_rawlen(L, b), 0);
        lua_pushnil(L);
        assert_int_equal(lua_next(L, b), 0);
        assert_int_equal(rt_sealed_copy(L, b), 1); /* pushes the shadow */
        assert_null(lua_getmetatable(L, -1) ? "shadow with a metatable" : NULL);
        assert_same_in(L, a, lua_gettop(L), depth, 1);
        lua_pop(L, 1);
        return;
    }
    switch (lua_type(L, a)) {
    case LUA_TNUMBER:
        assert_int_equal(lua_isinteger(L, a), lua_isinteger(L, b));
        assert_true(lua_rawequal(L, a, b));
        break;
    case LUA_TSTRING:
    case LUA_TBOOLEAN: assert_true(lua_rawequal(L, a, b)); break;
    case LUA_TTABLE: { /* a and a shadow */
        assert_int_equal(lua_rawlen(L, a), lua_rawlen(L, b));
        lua_pushnil(L);
        lua_pushnil(L);
        for (;;) {
            /* stack: ... ka kb */
            int ka = lua_gettop(L) - 1, kb = lua_gettop(L);
            lua_pushvalue(L, ka);
            int ma = lua_next(L, a); /* ka' va */
            lua_pushvalue(L, kb);
            int mb = ma ? lua_next(L, b) : lua_next(L, b); /* kb' vb */
            assert_int_equal(ma, mb);
            if (!ma) {
                lua_pop(L, 2);
                break;
            }
            int top = lua_gettop(L);
            assert_true(lua_rawequal(L, top - 3, top - 1)); /* same key at the same step */
            assert_same(L, top - 2, top, depth + 1);
            /* keep the new keys: ka kb ka' va kb' vb -> ka' kb' */
            lua_pop(L, 1);      /* ka kb ka' va kb' */
            lua_replace(L, kb); /* ka kb' ka' va */
            lua_pop(L, 1);      /* ka kb' ka' */
            lua_replace(L, ka); /* ka' kb' */
        }
        break;
    }
    default: fail_msg("unexpected Lua type %s", lua_typename(L, lua_type(L, a)));
    }
}

static mx_log_str S(const char *s) {
    mx_log_str r = {s, strlen(s)};
    return r;
}

static void check_facts(lua_State *L, mx_log_agg *agg, const mx_log_stats *st, const char *const *samples) {
    mx_log_facts_in in = {agg, st, samples, 1700100000, INT64_MIN, INT64_MAX, NULL};
    mx_json *j = mx_log_facts_json(&in);
    int top = lua_gettop(L);
    mx_lua_push_json(L, j);
    mx_lua_push_built(L, mx_log_facts_build, &in);
    assert_int_equal(lua_gettop(L), top + 2);
    assert_same(L, top + 1, top + 2, 0);
    /* and the built tables back to JSON: the same document */
    mx_json *back = mx_lua_to_json(L, top + 2);
    mx_json *orig = mx_lua_to_json(L, top + 1);
    mx_buf x = MX_BUF_INIT, y = MX_BUF_INIT;
    mx_json_write(&x, back, 0);
    mx_json_write(&y, orig, 0);
    assert_true(x.len > 100);
    assert_string_equal(mx_buf_cstr(&x), mx_buf_cstr(&y));
    mx_buf_free(&x);
    mx_buf_free(&y);
    mx_json_free(back);
    mx_json_free(orig);
    mx_json_free(j);
    lua_settop(L, top);
}

static void test_logs_fact_same(void **state) {
    (void)state;
    lua_State *L = luaL_newstate();
    mx_log_stats st;
    memset(&st, 0, sizeof st);
    const char *samples[MX_LOG_CAUSE_MAX] = {0};
    samples[1] = "421 try later";
    /* no event: empty lists and objects */
    mx_log_agg *a = mx_log_agg_new(50);
    check_facts(L, a, &st, samples);
    /* pseudo-random events over more domains than the cap ("(other)") */
    enum { N = 5000 };
    static char strs[N][4][64];
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        snprintf(strs[i][0], 64, "Q%llu", (unsigned long long)(x % 900));
        snprintf(strs[i][2], 64, "d%llu.test", (unsigned long long)((x >> 16) % 120));
        snprintf(strs[i][1], 64, "u%llu@%.40s", (unsigned long long)((x >> 24) % 7), strs[i][2]);
        snprintf(strs[i][3], 64, "192.0.2.%llu", (unsigned long long)((x >> 32) % 200));
        mx_log_event ev;
        memset(&ev, 0, sizeof ev);
        ev.time = 1700000000 + i * 13;
        ev.mta = MX_LOG_MTA_POSTFIX;
        ev.cause = (mx_log_cause)((x >> 40) % 6);
        ev.status = ev.cause == 0 ? MX_LOG_STATUS_SENT : (mx_log_status)((x >> 44) % 3);
        ev.queue_id = S(strs[i][0]);
        ev.recipient = S(strs[i][1]);
        ev.domain = S(strs[i][2]);
        ev.relay_addr = S((x >> 50) % 5 ? strs[i][3] : "");
        ev.local = (x >> 56) % 9 == 0;
        mx_log_agg_add(a, &ev);
        st.lines++;
        st.events++;
    }
    assert_true(mx_log_agg_dropped(a, MX_AGG_DOMAIN) > 0);
    check_facts(L, a, &st, samples);
    mx_log_agg_free(a);
    lua_close(L);
}

/* more names than the Lua sink gives slots (KEY_SLOTS: the rest set by
 * name), each used in several objects, in orders that differ */
static char many_names[150][8];
static void build_many(const mx_fact_sink *s) {
    s->arr(s->ud);
    for (int r = 0; r < 4; r++) {
        s->obj(s->ud);
        for (int i = 0; i < 150; i++) {
            int k = r % 2 ? 149 - i : (i * 7 + r) % 150;
            s->key(s->ud, many_names[k]);
            s->integer(s->ud, r * 1000 + k);
        }
        s->key(s->ud, "sub");
        s->obj(s->ud);
        for (int i = 0; i < 3 + r; i++) {
            s->key(s->ud, many_names[140 - i * 25]);
            s->str(s->ud, many_names[i], strlen(many_names[i]));
        }
        s->end(s->ud);
        s->end(s->ud);
    }
    s->end(s->ud);
}

/* one scalar, nested empty containers, a deep array; many names */
static void build_small(const mx_fact_sink *s, void *ud) {
    int which = *(int *)ud;
    if (which == 0) {
        s->integer(s->ud, 7);
        return;
    }
    if (which == 2) {
        build_many(s);
        return;
    }
    s->obj(s->ud);
    s->key(s->ud, "e");
    s->arr(s->ud);
    s->end(s->ud);
    s->key(s->ud, "o");
    s->obj(s->ud);
    s->end(s->ud);
    s->key(s->ud, "l");
    s->arr(s->ud);
    for (int i = 0; i < 3000; i++) s->integer(s->ud, i);
    s->end(s->ud);
    s->key(s->ud, "x");
    s->number(s->ud, 0.5);
    s->key(s->ud, "s");
    s->str(s->ud, "a\0b", 3);
    s->end(s->ud);
}

static void test_small(void **state) {
    (void)state;
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    for (int i = 0; i < 150; i++) snprintf(many_names[i], sizeof many_names[i], "n%d", i);
    for (int which = 0; which < 3; which++) {
        mx_fact_json j;
        mx_fact_sink s;
        mx_fact_json_sink(&j, &s);
        build_small(&s, &which);
        mx_json *v = mx_fact_json_take(&j);
        lua_pushinteger(L, 99); /* below: must stay */
        mx_lua_push_json(L, v);
        mx_lua_push_built(L, build_small, &which);
        assert_int_equal(lua_gettop(L), 3);
        assert_same(L, 2, 3, 0);
        assert_int_equal(lua_tointeger(L, 1), 99);
        if (which == 1) {
            /* read as rules read it (# and pairs through the seal), no write gets in */
            static const char code[] =
                "local t = ...\n"
                "assert(#t.l == 3000 and t.l[3000] == 2999 and t.s == 'a\\0b' and t.x == 0.5)\n"
                "local n = 0 for k, v in pairs(t) do n = n + 1 end assert(n == 5)\n"
                "n = 0 for i, v in ipairs(t.l) do n = n + v end assert(n == 2999 * 3000 // 2)\n"
                "assert(next(t) == nil and rawlen(t.l) == 0 and rawget(t, 'l') == nil)\n"
                "for _, f in ipairs({function() t.x = 1 end, function() t.l[1] = 1 end,\n"
                "    function() t.o.k = 1 end, function() t.e[1] = 1 end, function() table.insert(t.l, 1) end}) do\n"
                "  local ok, err = pcall(f) assert(not ok and tostring(err):find('read%-only'), tostring(err))\n"
                "end\n"
                "return true\n";
            assert_int_equal(luaL_loadstring(L, code), LUA_OK);
            lua_pushvalue(L, 3);
            if (lua_pcall(L, 1, 1, 0) != LUA_OK) fail_msg("%s", lua_tostring(L, -1));
            assert_true(lua_toboolean(L, -1));
        }
        lua_settop(L, 0);
        mx_json_free(v);
    }
    lua_close(L);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logs_fact_same),
        cmocka_unit_test(test_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
