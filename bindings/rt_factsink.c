/* A fact sink (engine/factsink.h) that builds Lua tables: each container's
 * values wait on the Lua stack (an object's keys in a C array) until its
 * end(), then the table is made at its final size and filled in order, as
 * mx_lua_push_json makes it from an mx_json (the same sizes and insertion
 * order: the same tables, down to the order pairs() visits them in). */
#include "runtime.h"
#include "buf.h"

#include <stdlib.h>

typedef struct lsink {
    lua_State *L;
    int depth;
    int base[MX_FACT_SINK_DEPTH]; /* stack index of the container's first value */
    char is_obj[MX_FACT_SINK_DEPTH];
    size_t keybase[MX_FACT_SINK_DEPTH];
    const char **keys;
    size_t nkeys, keycap;
} lsink;

static void room(lsink *s) { luaL_checkstack(s->L, 2, "fact too big"); }

static void open_c(lsink *s, int obj) {
    if (s->depth == MX_FACT_SINK_DEPTH) luaL_error(s->L, "fact nested too deep");
    s->base[s->depth] = lua_gettop(s->L) + 1;
    s->is_obj[s->depth] = (char)obj;
    s->keybase[s->depth] = s->nkeys;
    s->depth++;
}

static void k_obj(void *ud) { open_c(ud, 1); }
static void k_arr(void *ud) { open_c(ud, 0); }

static void k_end(void *ud) {
    lsink *s = ud;
    lua_State *L = s->L;
    if (s->depth == 0) return;
    s->depth--;
    int base = s->base[s->depth];
    int n = lua_gettop(L) - base + 1;
    room(s);
    if (s->is_obj[s->depth]) {
        const char **keys = s->keys + s->keybase[s->depth];
        lua_createtable(L, 0, n);
        for (int i = 0; i < n; i++) {
            lua_pushvalue(L, base + i);
            lua_setfield(L, -2, keys[i]);
        }
        s->nkeys = s->keybase[s->depth];
    } else {
        lua_createtable(L, n, 0);
        for (int i = 0; i < n; i++) {
            lua_pushvalue(L, base + i);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
    }
    if (n > 0) { /* the table to base, over its first value; an empty one is there already */
        lua_replace(L, base);
        lua_settop(L, base);
    }
}

static void k_key(void *ud, const char *k) {
    lsink *s = ud;
    if (s->nkeys == s->keycap) {
        s->keycap = s->keycap ? s->keycap * 2 : 64;
        s->keys = mx_xrealloc(s->keys, s->keycap * sizeof *s->keys);
    }
    s->keys[s->nkeys++] = k;
}

static void k_str(void *ud, const char *v, size_t n) {
    room(ud);
    lua_pushlstring(((lsink *)ud)->L, v, n);
}
static void k_int(void *ud, int64_t v) {
    room(ud);
    lua_pushinteger(((lsink *)ud)->L, (lua_Integer)v);
}
static void k_num(void *ud, double v) {
    room(ud);
    lua_pushnumber(((lsink *)ud)->L, v);
}
static void k_bool(void *ud, int v) {
    room(ud);
    lua_pushboolean(((lsink *)ud)->L, v);
}

void mx_lua_push_built(lua_State *L, mx_fact_build_fn build, void *ud) {
    lsink s = {.L = L};
    mx_fact_sink k = {k_obj, k_arr, k_end, k_key, k_str, k_int, k_num, k_bool, &s};
    int top = lua_gettop(L);
    build(&k, ud);
    free(s.keys);
    /* one value built: anything else is a builder's bug */
    if (lua_gettop(L) != top + 1) {
        lua_settop(L, top);
        lua_pushnil(L);
    }
}
