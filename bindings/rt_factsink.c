/* A fact sink (engine/factsink.h) that builds Lua tables: each container's
 * values wait on the Lua stack (an object's keys in a C array) until its
 * end(), then the table is made at its final size and filled in order, as
 * mx_lua_push_json makes it from an mx_json (the same sizes and insertion
 * order: the same tables, down to the order pairs() visits them in).
 * Each table is sealed as it ends (rt_sandbox.c: it becomes the shadow of an
 * empty front whose metatable's __index is it, the fields of that metatable
 * pushed once per build), so the fact is sealed all the way down in the one
 * pass that builds it: the rules read it with the VM's own lookups, no proxy
 * per table and no C call per field (rt_push_readonly takes it as it is).
 * Field names are made Lua strings once per build: each name's address
 * (builders pass literals and static names: factsink.h) is given a stack
 * slot below the build holding its string, and fields are set raw with it
 * (lua_setfield would find the string again per field per table). */
#include "rt_private.h"
#include "buf.h"

#include <stdint.h>
#include <stdlib.h>

#define KEY_SLOTS 64 /* names given a slot; any further one is set by name */
#define KEY_HASH 128 /* open addressing, power of two, > KEY_SLOTS */

typedef struct fkey {
    const char *name;
    int slot; /* stack index of its string; 0: none (set by name) */
} fkey;

typedef struct lsink {
    lua_State *L;
    int depth;
    int kb;    /* rt_push_seal_keys' slots */
    int empty; /* a sealed empty table */
    int slots, nslots; /* the names' first slot, slots used */
    fkey hash[KEY_HASH]; /* name address -> slot */
    int base[MX_FACT_SINK_DEPTH]; /* stack index of the container's first value */
    char is_obj[MX_FACT_SINK_DEPTH];
    size_t keybase[MX_FACT_SINK_DEPTH];
    fkey *keys; /* the open objects' keys */
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
    if (n == 0) { /* every empty container: the one sealed empty table (nothing can be put in it) */
        if (s->is_obj[s->depth]) s->nkeys = s->keybase[s->depth];
        room(s);
        lua_pushvalue(L, s->empty);
        return;
    }
    luaL_checkstack(L, 6, "fact too big"); /* the shadow, its front and the front's metatable being made */
    if (s->is_obj[s->depth]) {
        const fkey *keys = s->keys + s->keybase[s->depth];
        lua_createtable(L, 0, n);
        for (int i = 0; i < n; i++) {
            if (keys[i].slot) {
                lua_pushvalue(L, keys[i].slot);
                lua_pushvalue(L, base + i);
                lua_rawset(L, -3);
            } else {
                lua_pushvalue(L, base + i);
                lua_setfield(L, -2, keys[i].name);
            }
        }
        s->nkeys = s->keybase[s->depth];
    } else {
        lua_createtable(L, n, 0);
        for (int i = 0; i < n; i++) {
            lua_pushvalue(L, base + i);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
    }
    rt_push_sealed_shadow_kb(L, -1, s->kb); /* [values shadow front] */
    lua_replace(L, base);                   /* the front over the first value */
    lua_settop(L, base);
}

static void k_key(void *ud, const char *k) {
    lsink *s = ud;
    if (s->nkeys == s->keycap) {
        s->keycap = s->keycap ? s->keycap * 2 : 64;
        s->keys = mx_xrealloc(s->keys, s->keycap * sizeof *s->keys);
    }
    /* the name's slot, found by its address (made at its first use) */
    uintptr_t a = (uintptr_t)k;
    size_t h = (size_t)((a >> 3) ^ (a >> 11)) & (KEY_HASH - 1);
    while (s->hash[h].name && s->hash[h].name != k) h = (h + 1) & (KEY_HASH - 1);
    if (!s->hash[h].name && s->nslots < KEY_SLOTS) {
        s->hash[h].name = k;
        s->hash[h].slot = s->slots + s->nslots++;
        room(s);
        lua_pushstring(s->L, k);
        lua_replace(s->L, s->hash[h].slot);
    }
    s->keys[s->nkeys].name = k;
    s->keys[s->nkeys++].slot = s->hash[h].name ? s->hash[h].slot : 0;
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
    int top = lua_gettop(L);
    lsink s = {.L = L, .kb = top + 1};
    mx_fact_sink k = {k_obj, k_arr, k_end, k_key, k_str, k_int, k_num, k_bool, &s};
    /* below the build: the metatable fields, the empty table (made with
     * room for its front and metatable), the names' slots */
    luaL_checkstack(L, KEY_SLOTS + 16, "fact too big");
    int below = rt_push_seal_keys(L);
    lua_newtable(L);
    rt_push_sealed_shadow_kb(L, -1, s.kb);
    lua_remove(L, -2);
    s.empty = top + ++below;
    for (int i = 0; i < KEY_SLOTS; i++) lua_pushnil(L);
    s.slots = top + below + 1;
    below += KEY_SLOTS;
    /* no collection while building: everything made is kept (the fact), so
     * a collector step would only mark the tables made so far again */
    int gc = lua_gc(L, LUA_GCISRUNNING);
    if (gc) lua_gc(L, LUA_GCSTOP);
    build(&k, ud);
    if (gc) lua_gc(L, LUA_GCRESTART);
    free(s.keys);
    /* one value built: anything else is a builder's bug */
    if (lua_gettop(L) != top + below + 1) {
        lua_settop(L, top);
        lua_pushnil(L);
        return;
    }
    lua_replace(L, top + 1); /* the value where the keys began */
    lua_settop(L, top + 1);
}
