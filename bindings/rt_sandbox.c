/* The sandbox rules run in: the globals and library functions they may use,
 * read-only views of shared tables, the instruction budget and compute-time
 * deadline (count hook), and pcall/xpcall/coroutine wrappers that cannot
 * swallow an abort. Also `rules api` (what a rule can call). */
#include "rt_private.h"
#include <lualib.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- what a rule may use: the allow-lists (everything else of Lua's
 * standard library is absent from the rules' environment) ---- */

/* no load/loadstring/dofile/loadfile (binary chunks, unsandboxed code),
 * collectgarbage, print, io, debug, package */
static const char *const base[] = {"assert", "error", "ipairs", "next", "pairs", "select", "tonumber",
                                   "tostring", "type", "rawequal", "rawget", "rawlen", NULL};
/* string: these, plus find/match/gmatch/gsub/rep from the bounded matcher
 * (l_strmatch.c) */
static const char *const string_f[] = {"byte", "char", "format", "len", "lower", "rep", "reverse", "sub",
                                       "upper", "pack", "unpack", "packsize", NULL};
static const char *const table_f[] = {"concat", "insert", "move", "pack", "remove", "sort", "unpack", NULL};
static const char *const math_f[] = {"abs", "ceil", "floor", "fmod", "huge", "max", "maxinteger", "min",
                                     "mininteger", "modf", "pi", "sqrt", "tointeger", "type", "ult", "log", "exp", NULL};
static const char *const utf8_f[] = {"char", "charpattern", "codepoint", "codes", "len", "offset", NULL};
static const char *const os_f[] = {"time", "clock", "date", "difftime", NULL};
/* the engine's modules, each a read-only table */
static const struct { const char *name; lua_CFunction open; } mods[] = {
    {"dns", luaopen_mx_dns}, {"net", luaopen_mx_net}, {"task", luaopen_mx_task},
    {"sys", luaopen_mx_sys},
    {"util", luaopen_mx_util},
    {"dnsbl", luaopen_mx_dnsbl},
    {"log", luaopen_mx_log},
};

/* ------------------------------------------------------------ sandbox */

/* Lua written once here: coroutine wrappers that let engine yields pass
 * through a rule's own coroutines (STYLE point 5), and xpcall.
 *
 * xpcall calls the message handler itself, after the protected call has
 * returned, as an ordinary call: Lua runs a message handler inside its error
 * machinery, where an error raised by the count hook leaves hooks off
 * (L->allowhook) while the handler runs, so a handler that loops would never
 * be stopped. The handler sees the same error value; it runs after the stack
 * is unwound, which a rule cannot observe (no debug library). An error in the
 * handler becomes xpcall's second result.
 *
 * coroutine.close of an aborted rule raises instead of closing: a coroutine
 * that the count hook stopped is dead with hooks off, and closing it would run
 * its pending __close handlers unbounded. A __close handler that the budget
 * stops while coroutine.close runs it raises too (close would return false
 * and the error, and the rule could end as if nothing happened). */
static const char *prelude =
    "local marker, co_create, co_resume, co_yield, co_status, co_running, co_isyieldable, co_close, aborted, pcall = ...\n"
    "local pack, unpack, type, error = table.pack, table.unpack, type, error\n"
    "local function resume(co, ...)\n"
    "  local r = pack(co_resume(co, ...))\n"
    "  while r[1] and r[2] == marker and co_status(co) == 'suspended' do\n"
    "    r = pack(co_resume(co, co_yield(marker)))\n"
    "  end\n"
    "  if not r[1] and aborted() then error(aborted(), 0) end\n"
    "  return unpack(r, 1, r.n)\n"
    "end\n"
    "local function wrap(f)\n"
    "  local co = co_create(f)\n"
    "  return function(...)\n"
    "    local r = pack(resume(co, ...))\n"
    "    if r[1] then return unpack(r, 2, r.n) end\n"
    "    error(r[2], 0)\n"
    "  end\n"
    "end\n"
    "local function close(co)\n"
    "  if aborted() then error(aborted(), 0) end\n"
    "  local r = pack(co_close(co))\n"
    "  if not r[1] and aborted() then error(aborted(), 0) end\n"
    "  return unpack(r, 1, r.n)\n"
    "end\n"
    "local function xpcall(f, msgh, ...)\n"
    "  if type(msgh) ~= 'function' then\n"
    "    error(\"bad argument #2 to 'xpcall' (function expected, got \" .. type(msgh) .. ')', 2)\n"
    "  end\n"
    "  local r = pack(pcall(f, ...))\n"
    "  if r[1] then return unpack(r, 1, r.n) end\n"
    "  local _, v = pcall(msgh, r[2])\n"
    "  return false, v\n"
    "end\n"
    "return { create = co_create, resume = resume, wrap = wrap, yield = co_yield, status = co_status,\n"
    "         running = co_running, isyieldable = co_isyieldable, close = close }, xpcall\n";

/* Read-only views. A proxy is an empty table whose metatable (locked with
 * __metatable) reaches the hidden table: reading gives the hidden table's
 * values, with tables among them (keys too) given as read-only proxies in
 * turn, so no path through indexing, pairs or # leads to a writable table
 * shared with other rules or checks. One proxy per hidden table (a weak
 * cache), so proxies compare equal when their tables do. The metatable key
 * RO_KEY marks engine read-only values: a proxy (the hidden table) or a
 * sealed value (true), which are handed out as they are. */
static char ro_key, ro_cache_key;
#define RO_KEY ((void *)&ro_key)

/* 0: not read-only; 1: sealed; 2: a proxy, and its hidden table is pushed. [-0, +(0|1), -] */
static int ro_newindex(lua_State *L);
/* 1 when the metatable at idx is one of the engine's read-only values' (its
 * __newindex is ro_newindex: no rule can reach that function) [-0, +0, -] */
static int engine_mt(lua_State *L, int idx) {
    lua_pushliteral(L, "__newindex");
    int yes = lua_rawget(L, idx < 0 ? idx - 1 : idx) == LUA_TFUNCTION && lua_tocfunction(L, -1) == ro_newindex;
    lua_pop(L, 1);
    return yes;
}
int rt_ro_kind(lua_State *L, int idx) {
    if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) return 0;
    int t = lua_rawgetp(L, -1, RO_KEY);
    if (t == LUA_TTABLE) { lua_remove(L, -2); return 2; }
    lua_pop(L, 1);
    if (t == LUA_TNIL && engine_mt(L, -1)) {
        /* a sealed table: its shadow is its __index */
        lua_pushliteral(L, "__index");
        lua_rawget(L, -2);
        lua_remove(L, -2);
        return 2;
    }
    lua_pop(L, 1);
    return t == LUA_TNIL ? 0 : 1;
}
/* replaces a proxy at idx by its hidden table (keys given back by a rule) [-0, +0, -] */
static void ro_unwrap(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    if (rt_ro_kind(L, idx) == 2) lua_replace(L, idx);
}
static void push_ro_value(lua_State *L, int idx);
static int ro_newindex(lua_State *L) { return luaL_error(L, "attempt to modify a read-only table (field '%s')", luaL_tolstring(L, 2, NULL)); }
/* __len of a proxy or a sealed table: the length of the table behind (its
 * metatable's RO_KEY; only # reaches it, with the table it belongs to) */
static int ro_len(lua_State *L) {
    lua_getmetatable(L, 1);
    lua_rawgetp(L, -1, RO_KEY);
    lua_pushinteger(L, (lua_Integer)luaL_len(L, -1));
    return 1;
}
/* __index(proxy, key) [-0, +1, e] */
static int ro_index(lua_State *L) {
    lua_settop(L, 2);
    ro_unwrap(L, 2);
    lua_gettable(L, lua_upvalueindex(1));
    push_ro_value(L, -1);
    return 1;
}
/* the iterator __pairs returns: next over the hidden table, read-only values [-2, +(1|2), e] */
static int ro_iter(lua_State *L) {
    lua_settop(L, 2);
    ro_unwrap(L, 2);
    if (!lua_next(L, lua_upvalueindex(1))) {
        lua_pushnil(L);
        return 1;
    }
    push_ro_value(L, -2);
    push_ro_value(L, -2);
    return 2;
}
static int ro_pairs(lua_State *L) {
    lua_getmetatable(L, 1);
    lua_rawgetp(L, -1, RO_KEY);
    lua_pushcclosure(L, ro_iter, 1);
    lua_pushvalue(L, 1); /* the proxy as the state: never the hidden table */
    lua_pushnil(L);
    return 3;
}
/* [-0, +1, m] a new proxy of the table at idx; flat: its values are no
 * tables and it never changes (library tables), so __index can be the table
 * itself (no C call on every string.format) */
static void new_proxy(lua_State *L, int idx, int flat) {
    idx = lua_absindex(L, idx);
    lua_newtable(L);                   /* proxy */
    lua_createtable(L, 0, 6);          /* metatable */
    lua_pushvalue(L, idx);
    if (!flat) lua_pushcclosure(L, ro_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, ro_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, ro_len);
    lua_setfield(L, -2, "__len");
    lua_pushcfunction(L, ro_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pushvalue(L, idx);
    lua_rawsetp(L, -2, RO_KEY);
    lua_setmetatable(L, -2);
}
/* [-0, +1, m] the value at idx as a rule may see it: a table not marked
 * read-only as its (cached) proxy, anything else as it is */
static void push_ro_value(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE) { lua_pushvalue(L, idx); return; }
    int kind = rt_ro_kind(L, idx);
    if (kind) {
        if (kind == 2) lua_pop(L, 1);
        lua_pushvalue(L, idx);
        return;
    }
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &ro_cache_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "k");       /* ephemeron: an entry lives as long as its table */
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &ro_cache_key);
    }
    lua_pushvalue(L, idx);
    if (lua_rawget(L, -2) == LUA_TTABLE) { lua_remove(L, -2); return; }
    lua_pop(L, 1);
    new_proxy(L, idx, 0);
    lua_pushvalue(L, idx);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
    lua_remove(L, -2);
}
void rt_push_readonly(lua_State *L, int idx) { push_ro_value(L, idx); }

/* Sealed tables. A sealed table is empty; its metatable's __index is a
 * TABLE, its shadow, which holds the contents with every table among them
 * (keys too) sealed in turn, so a read is the VM's own lookup (no C call, no
 * proxy per table read) and no path through it leads to a writable table.
 * RO_KEY is the shadow: rt_ro_kind answers 2 with it, as for a proxy, so the
 * JSON conversion and task.share read the contents. rawget, next and rawlen
 * see an empty table, as they see a proxy. Facts are sealed when published
 * (a copy: what others read is the value at report:publish; the publisher's
 * own table stays its own); the target, its options and facts made from JSON
 * are sealed in place (nobody else holds them). */

/* the iterator of a sealed table's __pairs: next over its shadow (upvalue 1),
 * whose keys and values are sealed already [-2, +(1|2), e] */
static int sealed_iter(lua_State *L) {
    lua_settop(L, 2);
    if (!lua_next(L, lua_upvalueindex(1))) {
        lua_pushnil(L);
        return 1;
    }
    return 2;
}
/* __len of a sealed table: its shadow's length (only # reaches it) */
static int sealed_len(lua_State *L) {
    lua_getmetatable(L, 1);
    lua_pushliteral(L, "__index");
    lua_rawget(L, -2);
    lua_pushinteger(L, (lua_Integer)luaL_len(L, -1));
    return 1;
}
static int sealed_pairs(lua_State *L) {
    lua_getmetatable(L, 1);
    lua_pushliteral(L, "__index");
    lua_rawget(L, -2);
    lua_pushcclosure(L, sealed_iter, 1);
    lua_pushvalue(L, 1); /* the sealed table as the state: never its shadow */
    lua_pushnil(L);
    return 3;
}
/* The metatable fields of a sealed table, pushed once per sealing (7 slots
 * from kb): the four keys as strings already made, the three functions, so
 * each metatable is filled with raw sets (no string lookup per field). [-0, +7, m] */
enum { SK_INDEX, SK_NEWINDEX, SK_NEWINDEX_FN, SK_LEN, SK_LEN_FN, SK_PAIRS, SK_PAIRS_FN, SK_N };
static void push_seal_keys(lua_State *L) {
    lua_pushliteral(L, "__index");
    lua_pushliteral(L, "__newindex");
    lua_pushcfunction(L, ro_newindex);
    lua_pushliteral(L, "__len");
    lua_pushcfunction(L, sealed_len);
    lua_pushliteral(L, "__pairs");
    lua_pushcfunction(L, sealed_pairs);
}
/* makes the table at fidx (empty) a sealed table whose contents are the
 * table at sidx (kb: push_seal_keys' slots, a sealed copy; or 0: a view, the
 * fields named here). A copy's metatable has four fields (four hash nodes):
 * no __metatable and no RO_KEY; __newindex being ro_newindex marks it (engine_mt), and the
 * sandbox's getmetatable and setmetatable treat it as protected
 * (sb_getmetatable, sb_setmetatable). [-0, +0, m] */
static void seal_front(lua_State *L, int fidx, int sidx, int kb) {
    lua_createtable(L, 0, kb ? 4 : 5);
    if (!kb) {
        /* a view (rt_push_sealed_view): its RO_KEY is its shadow, so it is
         * read as a proxy is (rt_ro_kind answers 2 with it), and unlike a
         * sealed copy it is not taken as never changing (rt_sealed_copy: a
         * check's facts change as they come) */
        lua_pushvalue(L, sidx);
        lua_rawsetp(L, -2, RO_KEY);
        lua_pushvalue(L, sidx);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, ro_newindex);
        lua_setfield(L, -2, "__newindex");
        lua_pushcfunction(L, sealed_len);
        lua_setfield(L, -2, "__len");
        lua_pushcfunction(L, sealed_pairs);
        lua_setfield(L, -2, "__pairs");
    } else {
        lua_pushvalue(L, kb + SK_INDEX);
        lua_pushvalue(L, sidx);
        lua_rawset(L, -3);
        for (int k = SK_NEWINDEX; k < SK_N; k += 2) {
            lua_pushvalue(L, kb + k);
            lua_pushvalue(L, kb + k + 1);
            lua_rawset(L, -3);
        }
    }
    lua_setmetatable(L, fidx);
}
/* [-0, +1, m] a new sealed table whose contents are the table at sidx (which
 * the engine may go on writing: a check's facts) */
void rt_push_sealed_view(lua_State *L, int sidx) {
    sidx = lua_absindex(L, sidx);
    lua_newtable(L);
    seal_front(L, lua_gettop(L), sidx, 0);
}
/* 1 when the metatable at the top is a sealed copy's: the engine's (its
 * __newindex is ro_newindex) with no RO_KEY (a proxy's and a view's have
 * one). Pops it. [-1, +0, -] */
static int sealed_copy_mt(lua_State *L) {
    if (!engine_mt(L, -1)) { lua_pop(L, 1); return 0; }
    int t = lua_rawgetp(L, -1, RO_KEY);
    lua_pop(L, 2);
    return t == LUA_TNIL;
}
int rt_sealed_copy(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) return 0;
    if (!sealed_copy_mt(L)) return 0;
    lua_getmetatable(L, idx);
    lua_pushliteral(L, "__index");
    lua_rawget(L, -2);
    lua_remove(L, -2);
    return 1;
}
/* For sealing many tables at once (engine answers, rt_json.c): the
 * metatable fields pushed once (SK_N slots from kb), and a sealed table of
 * the table at sidx made with them: a sealed copy, not a view (no RO_KEY:
 * taken as never changing), so the table at sidx must never change again.
 * [-0, +SK_N, m] / [-0, +1, m] */
int rt_push_seal_keys(lua_State *L) {
    luaL_checkstack(L, SK_N, "sealing a table");
    push_seal_keys(L);
    return SK_N;
}
void rt_push_sealed_shadow_kb(lua_State *L, int sidx, int kb) {
    sidx = lua_absindex(L, sidx);
    lua_newtable(L);
    seal_front(L, lua_gettop(L), sidx, kb);
}
/* 1 when the table at idx has no metatable or one with __json only (a rule's
 * mark for an empty object), which its sealed copy keeps; any other metatable
 * (methods, __index) keeps the old proxy, read through it [-0, +0, -] */
static int plain_table(lua_State *L, int idx) {
    if (!lua_getmetatable(L, idx)) return 1;
    int ok = 1;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING || strcmp(lua_tostring(L, -1), "__json") != 0) {
            ok = 0;
            lua_pop(L, 1);
            break;
        }
    }
    lua_pop(L, 1);
    return ok;
}
/* Sealing one value: seen maps each original table met to its sealed table
 * (a table met twice, or a cycle, is sealed once); depth beyond
 * SEAL_DEPTH is read through the old proxy instead (still read-only).
 * One pass over each table: its sealed pairs wait on the stack (up to
 * SEAL_RUN of them) until the count is known, and the shadow is then made
 * at its size and filled in the original's order (so pairs order and # are
 * those of a copy made with a counting pass first, without that pass). A
 * longer table counts the rest from where it is and goes on directly. */
#define SEAL_DEPTH 64
#define SEAL_RUN 48
/* seen: a Lua table at stack index `seen` whose array part holds the sealed
 * tables of the first SEAL_SEEN originals met (orig[i]: the original of
 * seen[i + 1], found by a scan: no table-keyed hash set or look-up for the
 * few tables most facts have), and whose hash part maps any further
 * original to its sealed table. */
#define SEAL_SEEN 16
typedef struct seal_ctx {
    int seen, n;
    const void *orig[SEAL_SEEN];
} seal_ctx;
static void seal_value(lua_State *L, int idx, seal_ctx *sc, int depth);
/* [-0, +1, m] the value at idx sealed: a table through seal_value, any other value as it is */
static inline void seal_push(lua_State *L, int idx, seal_ctx *sc, int depth) {
    if (lua_type(L, idx) == LUA_TTABLE) seal_value(L, idx, sc, depth);
    else lua_pushvalue(L, idx);
}
/* the shadow of the table at idx, sized as its copy with n pairs ([-0, +1, m]) */
static void new_shadow(lua_State *L, int idx, lua_Integer n) {
    lua_Integer narr = (lua_Integer)lua_rawlen(L, idx);
    lua_createtable(L, (int)narr, (int)(n > narr ? n - narr : 0));
}
/* moves the n sealed pairs at first.. into the shadow at sh, in their order [-0, +0, m] */
static void flush_pairs(lua_State *L, int first, int n, int sh) {
    for (int i = 0; i < n; i++) {
        lua_pushvalue(L, first + 2 * i);
        lua_pushvalue(L, first + 2 * i + 1);
        lua_rawset(L, sh);
    }
}
/* [-0, +(0|1), -] pushes the sealed table of the table at idx and gives 1
 * when it was met before, else 0 */
static int seen_get(lua_State *L, int idx, const seal_ctx *sc) {
    const void *p = lua_topointer(L, idx);
    int n = sc->n < SEAL_SEEN ? sc->n : SEAL_SEEN;
    for (int i = 0; i < n; i++)
        if (sc->orig[i] == p) { lua_rawgeti(L, sc->seen, i + 1); return 1; }
    if (sc->n <= SEAL_SEEN) return 0;
    lua_pushvalue(L, idx);
    if (lua_rawget(L, sc->seen) != LUA_TNIL) return 1;
    lua_pop(L, 1);
    return 0;
}
/* notes f (a stack index) as the sealed table of the table at idx [-0, +0, m] */
static void seen_put(lua_State *L, int idx, int f, seal_ctx *sc) {
    lua_pushvalue(L, f);
    if (sc->n < SEAL_SEEN) {
        sc->orig[sc->n] = lua_topointer(L, idx);
        lua_rawseti(L, sc->seen, sc->n + 1);
    } else {
        lua_pushvalue(L, idx);
        lua_insert(L, -2);
        lua_rawset(L, sc->seen);
    }
    sc->n++;
}
/* [-0, +1, m] the sealed form of the value at idx (sc->seen + 1..: push_seal_keys') */
static void seal_value(lua_State *L, int idx, seal_ctx *sc, int depth) {
    if (lua_type(L, idx) != LUA_TTABLE) { lua_pushvalue(L, idx); return; }
    idx = lua_absindex(L, idx);
    if (lua_getmetatable(L, idx)) {
        /* read-only already (sealed, a view, a proxy: the engine's
         * __newindex; util.null: RO_KEY): as it is */
        if (engine_mt(L, -1)) { lua_pop(L, 1); lua_pushvalue(L, idx); return; }
        int t = lua_rawgetp(L, -1, RO_KEY);
        lua_pop(L, 2);
        if (t != LUA_TNIL) { lua_pushvalue(L, idx); return; }
        if (!plain_table(L, idx)) { push_ro_value(L, idx); return; }
    }
    if (seen_get(L, idx, sc)) return;
    if (depth > SEAL_DEPTH) { push_ro_value(L, idx); return; }
    luaL_checkstack(L, 8, "sealing a fact");
    lua_createtable(L, 0, 0);
    int f = lua_gettop(L), sh = 0, n = 0;
    seen_put(L, idx, f, sc);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (sh) { /* a long table, its shadow made: [k v] -> [k] */
            seal_push(L, -2, sc, depth + 1);
            seal_push(L, -2, sc, depth + 1);
            lua_rawset(L, sh);
            lua_pop(L, 1);
            continue;
        }
        /* [k v] -> [sk sv k]: the pair kept, the original key to go on from
         * (the stack grown as it fills: a coroutine's is small, and growing
         * it by the whole run for every table costs more than the check) */
        luaL_checkstack(L, 8, "sealing a fact");
        if (lua_type(L, -2) == LUA_TTABLE) {
            seal_value(L, -2, sc, depth + 1);
            lua_rotate(L, -3, 1);                   /* [sk k v] */
            if (lua_type(L, -1) == LUA_TTABLE) { seal_value(L, -1, sc, depth + 1); lua_replace(L, -2); }
            lua_rotate(L, -2, 1);                   /* [sk sv k] */
        } else {
            if (lua_type(L, -1) == LUA_TTABLE) { seal_value(L, -1, sc, depth + 1); lua_replace(L, -2); }
            lua_pushvalue(L, -2);                   /* [k sv k] */
        }
        if (++n < SEAL_RUN) continue;
        /* long: count the rest, make the shadow, empty the stack into it */
        lua_Integer total = n;
        lua_pushvalue(L, -1);
        while (lua_next(L, idx)) { total++; lua_pop(L, 1); }
        new_shadow(L, idx, total);
        lua_rotate(L, f + 1, 1);                    /* [f sh pairs k] */
        sh = f + 1;
        flush_pairs(L, f + 2, n, sh);
        lua_rotate(L, f + 2, 1);                    /* [f sh k pairs] */
        lua_settop(L, f + 2);
    }
    if (!sh) {
        new_shadow(L, idx, n);
        sh = lua_gettop(L);
        flush_pairs(L, f + 1, n, sh);
    }
    if (lua_getmetatable(L, idx)) lua_setmetatable(L, sh); /* __json only */
    seal_front(L, f, sh, sc->seen + 1);
    lua_settop(L, f); /* the shadow: the front holds it */
}
/* [-0, +1, m] a sealed copy of the value at idx (report:publish): tables
 * copied into sealed tables, shared ones once, cycles kept; values already
 * read-only as they are. */
void rt_push_sealed(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE) { lua_pushvalue(L, idx); return; }
    /* read-only already (shared.list's and shared.memo's values: most
     * publishes of a batch): as seal_value takes it, without the seen
     * table and the metatable fields a walk needs */
    if (lua_getmetatable(L, idx)) {
        int ro = engine_mt(L, -1);
        lua_pop(L, 1);
        if (ro) { lua_pushvalue(L, idx); return; }
    }
    lua_createtable(L, SEAL_SEEN, 0);
    int seen = lua_gettop(L);
    luaL_checkstack(L, SK_N, "sealing a fact");
    push_seal_keys(L); /* seen + 1.. */
    seal_ctx sc = {.seen = seen, .n = 0};
    seal_value(L, idx, &sc, 0);
    lua_rotate(L, seen, 1); /* the sealed value where seen was */
    lua_settop(L, seen);
}
/* util.seal(value) -> a sealed copy of value (rt_push_sealed): what
 * shared.memo keeps, so that report:publish takes its tables as they are and
 * report:finding converts a finding from it once (l_report.c) [-0, +1, m] */
int rt_l_seal(lua_State *L) {
    luaL_checkany(L, 1);
    rt_push_sealed(L, 1);
    return 1;
}
/* [-0, +1, m] seals in place a table only the engine holds (made from JSON:
 * the target, options, the facts a check starts with): it becomes the shadow
 * of a new sealed table, and the tables in it the same way. */
void rt_push_adopted(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE || rt_ro_kind(L, idx) == 1) { lua_pushvalue(L, idx); return; }
    if (rt_ro_kind(L, idx) == 2) { lua_pop(L, 1); lua_pushvalue(L, idx); return; }
    luaL_checkstack(L, 6, "sealing a table");
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -1) == LUA_TTABLE) {
            int kind = rt_ro_kind(L, -1);
            if (kind) lua_pop(L, kind == 2); /* read-only already (options, facts) */
            else {
                lua_pushvalue(L, -2);
                rt_push_adopted(L, -2);
                lua_rawset(L, idx); /* an existing field: allowed while traversing */
            }
        }
        lua_pop(L, 1);
    }
    rt_push_sealed_view(L, idx);
}

void mx_lua_seal(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    lua_createtable(L, 0, 3);
    lua_pushcfunction(L, ro_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pushboolean(L, 1);
    lua_rawsetp(L, -2, RO_KEY);
    lua_setmetatable(L, idx);
}

static int sb_pcall(lua_State *L);
static int sb_co_switch(lua_State *L);
static mx_json *table_names(lua_State *L, int idx, int functions_only);
static int sb_rawset(lua_State *L);
static int sb_getmetatable(lua_State *L);
static int sb_setmetatable(lua_State *L);
static int sb_aborted(lua_State *L);

/* [-0, +1, m] a fresh environment for one rule or library file; its require
 * loads into libs (a table at libs_idx: one per rule file, shared by the
 * libraries that file pulls in) */
void rt_push_env(mx_rt *rt, int libs_idx) {
    lua_State *L = rt->L;
    libs_idx = lua_absindex(L, libs_idx);
    lua_newtable(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->env_proto_ref);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_settable(L, -5);
    }
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "_G");
    lua_pushvalue(L, libs_idx);
    lua_pushcclosure(L, rt_sandbox_require, 1);
    lua_setfield(L, -2, "require");
}

/* __index of an engine module's table: a name it does not have is an error
 * listing the names it has ("dns.lookup does not exist; dns has: a, aaaa,
 * mx, ..."), not plain Lua's "attempt to call a nil value" later.
 * Upvalue 1: the module's name. [-0, +0, e] */
static int module_missing(lua_State *L) {
    const char *mod = lua_tostring(L, lua_upvalueindex(1));
    const char *key = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : luaL_tolstring(L, 2, NULL);
    mx_json *names = table_names(L, 1, 0);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < names->u.c.len; i++) {
        if (i) luaL_addstring(&b, ", ");
        luaL_addstring(&b, names->u.c.items[i]->u.str.s);
    }
    mx_json_free(names);
    luaL_pushresult(&b);
    luaL_where(L, 2); /* the rule's line that asked, not this function's */
    lua_pushfstring(L, "%s%s.%s does not exist; %s has: %s", lua_tostring(L, -1), mod, key, mod, lua_tostring(L, -2));
    return lua_error(L);
}

/* [-0, +1, m] a read-only view of a library table at idx: its values are
 * functions and constants (flat) or it has tables (deep view) */
static void push_lib_ro(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    int flat = 1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -1) == LUA_TTABLE) flat = 0;
        lua_pop(L, 1);
    }
    if (flat) new_proxy(L, idx, 1);
    else push_ro_value(L, idx);
}

static void copy_lib_ro(lua_State *L, int proto, const char *name, const char *const *fields) {
    /* copy the listed fields of global library `name` into a read-only table */
    lua_getglobal(L, name);
    lua_newtable(L);
    for (const char *const *f = fields; *f; f++) {
        lua_getfield(L, -2, *f);
        lua_setfield(L, -2, *f);
    }
    push_lib_ro(L, -1);
    lua_setfield(L, proto, name);
    lua_pop(L, 2);
}

void rt_build_env_proto(mx_rt *rt) {
    lua_State *L = rt->L;
    lua_newtable(L);
    int proto = lua_gettop(L);
    for (const char *const *f = base; *f; f++) {
        lua_getglobal(L, *f);
        lua_setfield(L, proto, *f);
    }
    static const luaL_Reg wrapped[] = {{"pcall", sb_pcall}, {"rawset", sb_rawset}, {"getmetatable", sb_getmetatable}, {NULL, NULL}};
    for (const luaL_Reg *w = wrapped; w->name; w++) {
        lua_pushcfunction(L, w->func);
        lua_setfield(L, proto, w->name);
    }
    lua_getglobal(L, "setmetatable");
    lua_pushcclosure(L, sb_setmetatable, 1);
    lua_setfield(L, proto, "setmetatable");
    /* string: the allowed functions, with find/match/gmatch/gsub replaced by
     * the bounded matcher (l_strmatch.c) */
    lua_getglobal(L, "string");
    lua_newtable(L);
    for (const char *const *f = string_f; *f; f++) {
        lua_getfield(L, -2, *f);
        lua_setfield(L, -2, *f);
    }
    mx_strmatch_register(L, lua_gettop(L));
    new_proxy(L, -1, 1);
    lua_setfield(L, proto, "string");
    /* ("").dump would reach the real string table through the shared string
     * metatable: give strings the same functions, and hide the metatable so
     * no rule can change it for the others */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 4);
    copy_lib_ro(L, proto, "table", table_f);
    copy_lib_ro(L, proto, "math", math_f);
    copy_lib_ro(L, proto, "utf8", utf8_f);
    copy_lib_ro(L, proto, "os", os_f);
    /* coroutine wrappers and xpcall */
    if (luaL_loadbufferx(L, prelude, strlen(prelude), "=prelude", "t") != LUA_OK) lua_error(L);
    lua_pushlightuserdata(L, MARKER);
    lua_getglobal(L, "coroutine");
    /* resume and close run code on another thread: the CPU timer's wrappers
     * (sb_co_switch), put in Lua's own table so that errors and tracebacks
     * name them as before ('coroutine.resume') */
    static const char *const switching[] = {"resume", "close"};
    for (int i = 0; i < 2; i++) {
        lua_getfield(L, -1, switching[i]);
        if (lua_tocfunction(L, -1) != sb_co_switch) {
            lua_pushcclosure(L, sb_co_switch, 1);
            lua_setfield(L, -2, switching[i]);
        } else lua_pop(L, 1);
    }
    static const char *const cof[] = {"create", "resume", "yield", "status", "running", "isyieldable", "close"};
    for (int i = 0; i < 7; i++) lua_getfield(L, -1 - i, cof[i]);
    lua_remove(L, -8);
    lua_pushcfunction(L, sb_aborted);
    lua_pushcfunction(L, sb_pcall);
    lua_call(L, 10, 2);
    lua_setfield(L, proto, "xpcall");
    push_lib_ro(L, -1);
    lua_setfield(L, proto, "coroutine");
    lua_pop(L, 1);
    /* engine modules */
    for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++) {
        luaL_requiref(L, mods[i].name, mods[i].open, 0);
        lua_createtable(L, 0, 1);
        lua_pushstring(L, mods[i].name);
        lua_pushcclosure(L, module_missing, 1);
        lua_setfield(L, -2, "__index");
        lua_setmetatable(L, -2);
        push_lib_ro(L, -1);
        lua_setfield(L, proto, mods[i].name);
        lua_pop(L, 1);
    }
    /* a placeholder, so that the API listing shows it: rt_push_env gives each
     * file its own */
    lua_pushcfunction(L, rt_sandbox_require);
    lua_setfield(L, proto, "require");
    lua_pushlightuserdata(L, MARKER);
    lua_setfield(L, LUA_REGISTRYINDEX, "mx.marker");
    rt->env_proto_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    rt->shipped_libs_ref = LUA_NOREF;
}

/* Instruction budget and wall-clock deadline of the running rule. */

int64_t rt_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
/* How long other rules' Lua code held the loop since this rule started: a
 * rule's deadline is extended by it, so one busy rule cannot make another
 * miss its deadline. */
int64_t rt_others_ms(mx_rt *rt, rule_run *run) {
    int64_t us = rt->lua_us - run->lua_us_at_start - run->own_us;
    return us > 0 ? us / 1000 : 0;
}

/* Raises msg prefixed with the position of the running Lua code (level 0:
 * in a hook; level 1 from a C function: its Lua caller). */
static void hook_error(lua_State *L, int level, const char *msg) {
    lua_Debug ar;
    if (lua_getstack(L, level, &ar) && lua_getinfo(L, "Sl", &ar) && ar.currentline > 0)
        lua_pushfstring(L, "%s:%d: %s", ar.short_src, ar.currentline, msg);
    else
        lua_pushstring(L, msg);
    lua_error(L);
}

/* Counts n units of work against the running rule's instruction budget and
 * checks its wall-clock deadline (code that never yields never returns to
 * the event loop's timer). Once exceeded, the run is marked aborted: the
 * sandbox's pcall, xpcall, coroutine.resume and coroutine.close re-raise
 * instead of catching, and every later charge raises again, so a rule cannot
 * swallow its own termination. The top-level code of a rule file being
 * loaded has a budget of its own, with the same abort. */
static void charge(lua_State *L, uint64_t n, int level) {
    mx_rt *rt = mx_rt_from_L(L);
    if (!rt) return; /* a Lua state of no runtime (unit tests): no budget */
    rule_run *run = rt->acct;
    if (!run) {
        if (!rt->loading) return;
        if (!rt->load_aborted && (rt->load_instructions += n) > (uint64_t)MX_RULE_INSTR_LIMIT / 20)
            rt->load_aborted = "instruction budget exceeded while loading the rule file";
        if (rt->load_aborted) hook_error(L, level, rt->load_aborted);
        return;
    }
    run->instructions += n;
    if (run->aborted) hook_error(L, level, run->aborted);
    if (run->instructions > (uint64_t)MX_RULE_INSTR_LIMIT) {
        run->aborted = "instruction budget exceeded (200 million Lua instructions per rule)";
        hook_error(L, level, run->aborted);
    }
    /* the same deadline as the timer's (check_deadline, rt_checks.c): other rules' Lua time
     * and the time spent queued for a connection slot are not this rule's */
    if (run->started &&
        mx_now_ms() > run->started + rt_rule_timeout_ms(rt, rt->acct_rule) + rt_others_ms(rt, run) + rt_queued_ms(run)) {
        run->aborted = "rule deadline exceeded while computing";
        hook_error(L, level, run->aborted);
    }
}

void rt_count_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    charge(L, HOOK_EVERY, 0);
}

/* Work done inside a C function called by a rule (steps of the pattern
 * matcher), counted as instructions: see runtime.h. [-0, +0, e] */
void mx_rt_charge(lua_State *L, uint64_t steps) { charge(L, steps, 1); }

/* the reason the running rule (or the file being loaded) was aborted, or NULL */
static const char *abort_reason(lua_State *L, int status) {
    mx_rt *rt = mx_rt_from_L(L);
    if (!rt->acct) return rt->loading ? rt->load_aborted : NULL;
    if (status == LUA_ERRMEM && !rt->acct->aborted) rt->acct->aborted = "memory limit exceeded";
    return rt->acct->aborted;
}
static int rule_aborted(lua_State *L, int status) { return abort_reason(L, status) != NULL; }

/* pcall for rules: as lbaselib's, yieldable (engine calls pass through), but
 * an aborted rule's error is re-raised. (xpcall is built on it: prelude.)
 * [-?, +?, e] */
static int sb_finish_pcall(lua_State *L, int status, lua_KContext extra) {
    if (status != LUA_OK && status != LUA_YIELD) {
        if (rule_aborted(L, status)) return lua_error(L);
        lua_pushboolean(L, 0);
        lua_pushvalue(L, -2);
        return 2;
    }
    return lua_gettop(L) - (int)extra;
}
static int sb_pcall(lua_State *L) {
    luaL_checkany(L, 1);
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    int status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, sb_finish_pcall);
    return sb_finish_pcall(L, status, 0);
}
/* aborted() -> reason | false, for the prelude's wrappers [-0, +1, -] */
static int sb_aborted(lua_State *L) {
    const char *why = abort_reason(L, LUA_OK);
    if (why) lua_pushstring(L, why);
    else lua_pushboolean(L, 0);
    return 1;
}
/* setmetatable without __gc: a finalizer would run at some later collection,
 * outside its rule's budget and deadline. [-0, +1, e] */
static int sb_setmetatable(lua_State *L) {
    if (lua_type(L, 1) == LUA_TTABLE && lua_getmetatable(L, 1)) {
        if (engine_mt(L, -1)) return luaL_error(L, "cannot change a protected metatable");
        lua_pop(L, 1);
    }
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL) return luaL_error(L, "setmetatable: __gc finalizers are not allowed in rules");
        lua_pop(L, 1);
    }
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 2, 1);
    return 1;
}
/* getmetatable as Lua's, with the engine's read-only values' metatables
 * protected (a sealed table's has no __metatable field) [-0, +1, -] */
static int sb_getmetatable(lua_State *L) {
    luaL_checkany(L, 1);
    if (!lua_getmetatable(L, 1)) {
        lua_pushnil(L);
        return 1;
    }
    if (engine_mt(L, -1)) {
        lua_pushboolean(L, 0);
        return 1;
    }
    luaL_getmetafield(L, 1, "__metatable");
    return 1;
}
/* rawset that refuses the engine's read-only values (modules, target, util.null). */
static int sb_rawset(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    int kind = rt_ro_kind(L, 1);
    if (kind == 2) lua_pop(L, 1);
    if (kind) return luaL_error(L, "rawset: attempt to modify a read-only table");
    luaL_checkany(L, 2);
    luaL_checkany(L, 3);
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 1;
}

/* Sorted names of the keys of the table at idx, functions or all. [-0, +0, m] */
static mx_json *table_names(lua_State *L, int idx, int functions_only) {
    idx = lua_absindex(L, idx);
    size_t n = 0, cap = 0;
    char **names = NULL;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) == LUA_TSTRING && (!functions_only || lua_isfunction(L, -1))) {
            if (n == cap) { cap = cap ? cap * 2 : 16; names = mx_xrealloc(names, cap * sizeof *names); }
            names[n++] = mx_xstrdup(lua_tostring(L, -2));
        }
        lua_pop(L, 1);
    }
    if (n > 1) qsort(names, n, sizeof *names, rt_name_cmp);
    mx_json *a = mx_json_arr();
    for (size_t i = 0; i < n; i++) { mx_json_push(a, mx_json_str(names[i])); free(names[i]); }
    free(names);
    return a;
}

/* What a rule can call, read from the sandbox itself (for RULES.md's drift
 * test): globals, modules (engine and standard), methods of engine types. */
mx_json *mx_rt_api_json(mx_rt *rt) {
    lua_State *L = rt->L;
    static const char *const std[] = {"string", "table", "math", "utf8", "os", "coroutine", NULL};
    mx_json *doc = mx_json_obj(), *globals = mx_json_arr(), *mods = mx_json_obj(), *stdm = mx_json_obj();
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->env_proto_ref);
    mx_json *keys = table_names(L, -1, 0);
    for (size_t i = 0; i < keys->u.c.len; i++) {
        const char *k = keys->u.c.items[i]->u.str.s;
        lua_getfield(L, -1, k);
        if (lua_isfunction(L, -1)) mx_json_push(globals, mx_json_str(k));
        else if (lua_istable(L, -1)) {
            /* modules are read-only proxies: list the table behind */
            if (rt_ro_kind(L, -1) != 2) lua_pushvalue(L, -1);
            int is_std = 0;
            for (const char *const *p = std; *p; p++) if (strcmp(*p, k) == 0) is_std = 1;
            mx_json_set(is_std ? stdm : mods, k, table_names(L, -1, 0));
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    mx_json_free(keys);
    /* userdata types: registry metatables named "mxdiag.<type>" */
    mx_json *types = mx_json_obj();
    lua_pushnil(L);
    while (lua_next(L, LUA_REGISTRYINDEX)) {
        if (lua_type(L, -2) == LUA_TSTRING && strncmp(lua_tostring(L, -2), "mxdiag.", 7) == 0 && lua_istable(L, -1)) {
            const char *tn = lua_tostring(L, -2) + 7;
            if (lua_getfield(L, -1, "__index") == LUA_TTABLE) mx_json_set(types, tn, table_names(L, -1, 1));
            else mx_json_set(types, tn, mx_json_arr());
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    mx_json *report = mx_json_arr();
    mx_json_push(report, mx_json_str("finding"));
    mx_json_push(report, mx_json_str("publish"));
    mx_json_set(types, "report", report);
    mx_json_set(doc, "globals", globals);
    mx_json_set(doc, "modules", mods);
    mx_json_set(doc, "std", stdm);
    mx_json_set(doc, "types", types);
    return doc;
}

/* ------------------------------------------------------------ CPU timer */

/* Lua 5.4 stops at every VM instruction while a count hook is set on a
 * thread, whatever its count (luaG_traceexec): for a batch, the largest
 * single cost of a domain. So the threads of tasks (a rule's run(), its
 * task.all functions, and the coroutines they make) run without the hook,
 * and get it only when they compute for long: each runtime has a timer on
 * the CPU clock of the thread that runs its rules (CLOCK_THREAD_CPUTIME_ID,
 * its signal sent to that thread only), armed while a pass of the scheduler
 * resumes tasks (run_ready) and disarmed when the runtime goes back to the
 * event loop. An idle runtime thus gets no signal at all (a thread's CPU
 * clock does not move while it waits), and no thread is added. Once the
 * pass has used CPU_SLICE_MS of CPU, the handler sets the count hook on the
 * innermost thread running rule code (rt->running, kept by resume_task and
 * the sandbox's coroutine.resume/close), and again every CPU_SLICE_MS while
 * the pass goes on; a thread keeps the hook for its life, so the budget,
 * the compute deadline and an aborted rule's re-raise work as before from
 * then on. lua_sethook is made to be called from a signal handler (ldebug.c:
 * the hook and its mask are written as single words and read where Lua
 * checks them).
 *
 * Loading rule files and applies() run on the main thread, which keeps the
 * hook. When the timer cannot be made (or MXDIAG_TEST_NO_CPU_TIMER is set,
 * for the tests), every task thread gets the hook, as before.
 *
 * What the signal may interrupt while armed: rule code, and the engine
 * primitives rules call, which start non-blocking I/O (DNS by c-ares, connect,
 * TLS and SMTP over non-blocking sockets) or read local files and commands
 * (engine/sysinfo.c, whose poll and waitpid loops retry on EINTR);
 * SA_RESTART restarts the blocking calls that allow it. The event loop's
 * epoll_wait, which SA_RESTART does not restart, runs only while the timer
 * is disarmed. */
#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CPU_SLICE_MS 10
#define CPU_SIGNAL SIGURG /* ignored by default; mxdiag uses INT, TERM, HUP, PIPE */

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static int cpu_handler_ok;                   /* the handler is installed */
static _Thread_local mx_rt *volatile cpu_rt; /* the runtime armed on this thread, or NULL */
static _Thread_local int cpu_unblocked;      /* CPU_SIGNAL unblocked on this thread */

static void cpu_handler(int sig) {
    (void)sig;
    int e = errno;
    mx_rt *rt = cpu_rt;
    lua_State *co = rt ? rt->running : NULL;
    if (co && !lua_gethook(co)) lua_sethook(co, rt_count_hook, LUA_MASKCOUNT, HOOK_EVERY);
    errno = e;
}

static void cpu_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cpu_handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    cpu_handler_ok = sigaction(CPU_SIGNAL, &sa, NULL) == 0;
}

static int cpu_test_off(void) {
    const char *off = getenv("MXDIAG_TEST_NO_CPU_TIMER");
    return off && *off;
}

/* The timer of the calling thread. 0 on success. */
static int cpu_timer_make(mx_rt *rt) {
    if (cpu_test_off()) return -1;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = CPU_SIGNAL;
    sev.sigev_notify_thread_id = (pid_t)syscall(SYS_gettid);
    if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &rt->cpu_timer) != 0) return -1;
    rt->cpu_owner = pthread_self();
    rt->cpu_state = 1;
    return 0;
}

/* No timer: every live task's thread gets the hook, and new ones keep it
 * (rt_task_new). Coroutines they made get it from the thread that resumes
 * them (sb_co_switch). */
static void cpu_give_up(mx_rt *rt) {
    if (rt->cpu_state == 1) timer_delete(rt->cpu_timer);
    rt->cpu_state = -1;
    for (int i = 0; i < rt->ntasks; i++)
        if (rt->tasks[i].alive && rt->tasks[i].co && !lua_gethook(rt->tasks[i].co))
            lua_sethook(rt->tasks[i].co, rt_count_hook, LUA_MASKCOUNT, HOOK_EVERY);
}

/* At mx_rt_new (any thread): the timer itself is made by the thread that
 * runs the rules, at its first pass (batch -P: runtimes are made by the main
 * thread, run by workers). */
void rt_cpu_init(mx_rt *rt) {
    pthread_once(&cpu_once, cpu_install);
    rt->cpu_state = cpu_handler_ok && !cpu_test_off() ? 0 : -1;
}

void rt_cpu_arm(mx_rt *rt) {
    if (rt->cpu_state < 0) return;
    if (rt->cpu_state == 1 && !pthread_equal(rt->cpu_owner, pthread_self())) {
        timer_delete(rt->cpu_timer); /* another thread runs this runtime now */
        rt->cpu_state = 0;
    }
    if (rt->cpu_state == 0 && cpu_timer_make(rt) != 0) { cpu_give_up(rt); return; }
    if (!cpu_unblocked) {
        /* a mask inherited from whoever started mxdiag must not hold it back */
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, CPU_SIGNAL);
        if (pthread_sigmask(SIG_UNBLOCK, &s, NULL) != 0) { cpu_give_up(rt); return; }
        cpu_unblocked = 1;
    }
    cpu_rt = rt;
    struct itimerspec its = {{0, CPU_SLICE_MS * 1000000L}, {0, CPU_SLICE_MS * 1000000L}};
    if (timer_settime(rt->cpu_timer, 0, &its, NULL) != 0) { cpu_rt = NULL; cpu_give_up(rt); }
}

void rt_cpu_disarm(mx_rt *rt) {
    if (rt->cpu_state != 1) return;
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    timer_settime(rt->cpu_timer, 0, &its, NULL);
    /* a signal sent before it stopped was delivered at the latest on the
     * way out of timer_settime (it is not blocked here) */
    cpu_rt = NULL;
}

void rt_cpu_free(mx_rt *rt) {
    if (rt->cpu_state == 1) timer_delete(rt->cpu_timer);
    rt->cpu_state = -1;
    if (cpu_rt == rt) cpu_rt = NULL;
}

/* coroutine.resume and coroutine.close as the prelude calls them (upvalue 1:
 * Lua's own). Both run code on the thread co: within a task, co is the
 * innermost thread running while they do (what the timer's signal gives the
 * hook to). A hook on either side is passed to the other, so that code run
 * from a counted thread is counted and a loop resuming coroutines again and
 * again stays counted. [-?, +?, e] */
static int sb_co_switch(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTHREAD); /* Lua's own check and message, named as before */
    mx_rt *rt = mx_rt_from_L(L);
    lua_State *co = lua_tothread(L, 1);
    if (lua_gethook(L) && !lua_gethook(co)) lua_sethook(co, rt_count_hook, LUA_MASKCOUNT, HOOK_EVERY);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    if (!rt || rt->running != L) {
        lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
        return lua_gettop(L);
    }
    rt->running = co;
    /* protected: rt->running must not be left on co (it may be collected) */
    int st = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
    rt->running = L;
    if (lua_gethook(co) && !lua_gethook(L)) lua_sethook(L, rt_count_hook, LUA_MASKCOUNT, HOOK_EVERY);
    if (st != LUA_OK) {
        /* as a memory error raised through here would have been (abort_reason) */
        if (st == LUA_ERRMEM && rt->acct && !rt->acct->aborted) rt->acct->aborted = "memory limit exceeded";
        return lua_error(L);
    }
    return lua_gettop(L);
}
