/* Lua values <-> JSON: engine results pushed to rules, rule values (evidence,
 * facts, call arguments) turned into JSON with sorted keys. */
#include "rt_private.h"
#include <stdlib.h>
#include <string.h>


/* The keys engine results use most (DNS answers first, then the connection
 * and TLS primitives'), each as one C string with a fixed address: lua_setfield
 * finds a Lua string by the address it is given in its cache (a pointer hash
 * and one strcmp), while a result's own key (a fresh copy per object: parsed,
 * cloned, replayed) misses it and is hashed and looked up in the string table
 * each time. The same key either way, so the tables are the same. */
static const char *const keys_a[] = {"aa", "answers", "address", NULL};
static const char *const keys_b[] = {"bytes", "binary", NULL};
static const char *const keys_c[] = {"cname", "conn", "code", NULL};
static const char *const keys_d[] = {"data", NULL};
static const char *const keys_e[] = {"elapsed_ms", "error", "enhanced", "errno", NULL};
static const char *const keys_l[] = {"lines", NULL};
static const char *const keys_n[] = {"name", NULL};
static const char *const keys_p[] = {"preference", "port", NULL};
static const char *const keys_r[] = {"rcode", NULL};
static const char *const keys_s[] = {"status", "server", "source", "stage", NULL};
static const char *const keys_t[] = {"type", "tc", "ttl", "text", NULL};
static const char *const keys_v[] = {"verdict", NULL};

static const char *known_key(const char *k) {
    const char *const *c;
    switch (k[0]) {
    case 'a': c = keys_a; break;
    case 'b': c = keys_b; break;
    case 'c': c = keys_c; break;
    case 'd': c = keys_d; break;
    case 'e': c = keys_e; break;
    case 'l': c = keys_l; break;
    case 'n': c = keys_n; break;
    case 'p': c = keys_p; break;
    case 'r': c = keys_r; break;
    case 's': c = keys_s; break;
    case 't': c = keys_t; break;
    case 'v': c = keys_v; break;
    default: return k;
    }
    for (; *c; c++)
        if (strcmp(*c + 1, k + 1) == 0) return *c;
    return k;
}

void mx_lua_push_json(lua_State *L, const mx_json *v) {
    luaL_checkstack(L, 4, "json too deep");
    if (!v) { lua_pushnil(L); return; }
    switch (v->type) {
    case MX_JNULL: lua_pushnil(L); break;
    case MX_JBOOL: lua_pushboolean(L, v->u.b); break;
    case MX_JINT: lua_pushinteger(L, (lua_Integer)v->u.i); break;
    case MX_JNUM: lua_pushnumber(L, v->u.n); break;
    case MX_JSTR: lua_pushlstring(L, v->u.str.s, v->u.str.len); break;
    case MX_JARR:
        lua_createtable(L, (int)v->u.c.len, 0);
        for (size_t i = 0; i < v->u.c.len; i++) {
            mx_lua_push_json(L, v->u.c.items[i]);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    case MX_JOBJ:
        lua_createtable(L, 0, (int)v->u.c.len);
        for (size_t i = 0; i < v->u.c.len; i++) {
            mx_lua_push_json(L, v->u.c.items[i]);
            lua_setfield(L, -2, known_key(v->u.c.keys[i]));
        }
        break;
    }
}

/* The same as a sealed table (rt_sandbox.c): every table in it, made from
 * JSON here and held by nobody else, becomes the shadow of a sealed one as
 * soon as it is filled (its own tables sealed already), so no second pass
 * over the tree is needed as rt_push_adopted would make; the metatables'
 * fields are pushed once (kb) and set raw. Every empty array or object is
 * one sealed empty table of the Lua state (most answers have an empty
 * `cname`, many an empty `answers`): nothing can be put in it. */
static char empty_key;
static void push_sealed_rec(lua_State *L, const mx_json *v, int kb) {
    if (!v || (v->type != MX_JARR && v->type != MX_JOBJ)) { mx_lua_push_json(L, v); return; } /* (NULL: nil) */
    luaL_checkstack(L, 4, "json too deep");
    if (v->u.c.len == 0) {
        if (lua_rawgetp(L, LUA_REGISTRYINDEX, &empty_key) == LUA_TTABLE) return;
        lua_pop(L, 1);
        lua_newtable(L);
        rt_push_sealed_shadow_kb(L, -1, kb);
        lua_remove(L, -2);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &empty_key);
        return;
    }
    if (v->type == MX_JARR) {
        lua_createtable(L, (int)v->u.c.len, 0);
        for (size_t i = 0; i < v->u.c.len; i++) {
            push_sealed_rec(L, v->u.c.items[i], kb);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
    } else {
        lua_createtable(L, 0, (int)v->u.c.len);
        for (size_t i = 0; i < v->u.c.len; i++) {
            push_sealed_rec(L, v->u.c.items[i], kb);
            lua_setfield(L, -2, known_key(v->u.c.keys[i]));
        }
    }
    rt_push_sealed_shadow_kb(L, -1, kb);
    lua_remove(L, -2);
}
void mx_lua_push_json_sealed(lua_State *L, const mx_json *v) {
    if (!v || (v->type != MX_JARR && v->type != MX_JOBJ)) { mx_lua_push_json(L, v); return; }
    int kb = lua_gettop(L) + 1;
    rt_push_seal_keys(L);
    push_sealed_rec(L, v, kb);
    lua_rotate(L, kb, 1); /* the value where the keys began */
    lua_settop(L, kb);
}

static int keycmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static mx_json *to_json_rec(lua_State *L, int idx, int depth, mx_jarena *a, int *views);

typedef struct kv { const char *k; mx_json *v; } kv;
static int kvcmp(const void *a, const void *b) { return strcmp(((const kv *)a)->k, ((const kv *)b)->k); }

/* an object whose keys are all strings (evidence, facts: nearly every one),
 * in one pass over the table: each value converted as lua_next meets it, the
 * pairs sorted by key. The keys are the table's own strings, alive while it
 * is converted; distinct, so the order is the one the general path below
 * gives. NULL (nothing kept) when the table is empty or a key is not a
 * string: the caller then counts and converts as before. A table with only
 * string keys has length 0, so it is never one the caller makes an array. */
static mx_json *string_keyed_object(lua_State *L, int idx, int depth, mx_jarena *a, int *views) {
    kv small[16];
    kv *p = small;
    size_t k = 0, cap = 16;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_pop(L, 2);
            for (size_t i = 0; i < k; i++) mx_json_free(p[i].v);
            if (p != small) free(p);
            return NULL;
        }
        if (k == cap) {
            kv *q = mx_xmalloc(2 * cap * sizeof *q);
            memcpy(q, p, k * sizeof *q);
            if (p != small) free(p);
            p = q;
            cap *= 2;
        }
        p[k].k = lua_tostring(L, -2);
        p[k].v = to_json_rec(L, -1, depth + 1, a, views);
        k++;
        lua_pop(L, 1);
    }
    if (k == 0) return NULL;
    if (k > 16) qsort(p, k, sizeof *p, kvcmp);
    else
        for (size_t i = 1; i < k; i++) {
            kv x = p[i];
            size_t j = i;
            /* strcmp's order (bytes as unsigned char); most keys differ in the first */
            for (; j > 0; j--) {
                int d = (unsigned char)p[j - 1].k[0] - (unsigned char)x.k[0];
                if (d < 0 || (d == 0 && strcmp(p[j - 1].k, x.k) <= 0)) break;
                p[j] = p[j - 1];
            }
            p[j] = x;
        }
    /* the object made at its size; in an arena its keys copied into one
     * piece (each up to a NUL, as mx_json_append_in copies) */
    mx_json *o = mx_json_obj_sized_in(a, k);
    if (a) {
        size_t tot = 0;
        for (size_t i = 0; i < k; i++) tot += strlen(p[i].k) + 1;
        char *kb = mx_jarena_alloc(a, tot);
        for (size_t i = 0; i < k; i++) {
            size_t l = strlen(p[i].k) + 1;
            memcpy(kb, p[i].k, l);
            mx_json_append_lit_in(a, o, kb, p[i].v);
            kb += l;
        }
    } else {
        for (size_t i = 0; i < k; i++) mx_json_append_in(a, o, p[i].k, p[i].v);
    }
    if (p != small) free(p);
    return o;
}

static mx_json *to_json_rec(lua_State *L, int idx, int depth, mx_jarena *a, int *views) {
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TNIL: return mx_json_null_in(a);
    case LUA_TBOOLEAN: return mx_json_bool_in(a, lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) return mx_json_int_in(a, (long long)lua_tointeger(L, idx));
        return mx_json_num_in(a, lua_tonumber(L, idx));
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        return mx_json_strn_in(a, s, n);
    }
    case LUA_TTABLE: {
        if (depth > 32) return mx_json_str_in(a, "(nested too deep)");
        /* views: noting whether anything read may change later (a proxy, a
         * view of a check's facts), unlike a sealed copy's contents */
        int kind = views && rt_sealed_copy(L, idx) ? 2 : 0;
        if (!kind && (kind = rt_ro_kind(L, idx)) == 2 && views) *views = 1;
        if (kind == 2) {
            /* a read-only view (a fact, an option) converts as its table */
            mx_json *j = to_json_rec(L, -1, depth, a, views);
            lua_pop(L, 1);
            return j;
        }
        luaL_checkstack(L, 6, "json conversion");
        mx_json *so = string_keyed_object(L, idx, depth, a, views);
        if (so) return so;
        lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
        /* A sequence 1..n with nothing else is an array. */
        size_t count = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) { count++; lua_pop(L, 1); }
        if (count == 0) {
            /* empty: arrays are more common in evidence lists; a table marked
             * with __json = "object" stays an object */
            if (luaL_getmetafield(L, idx, "__json") != LUA_TNIL) { lua_pop(L, 1); return mx_json_obj_in(a); }
            return mx_json_arr_in(a);
        }
        if (n > 0 && (size_t)n == count) {
            mx_json *arr = mx_json_arr_in(a);
            for (lua_Integer i = 1; i <= n; i++) {
                lua_rawgeti(L, idx, i);
                mx_json_push_in(a, arr, to_json_rec(L, -1, depth + 1, a, views));
                lua_pop(L, 1);
            }
            return arr;
        }
        char **keys = mx_xcalloc(count, sizeof *keys);
        size_t k = 0;
        lua_pushnil(L);
        while (lua_next(L, idx) && k < count) {
            lua_pushvalue(L, -2);
            keys[k++] = mx_xstrdup(lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
            lua_pop(L, 2);
        }
        if (k < count) lua_pop(L, 2);
        if (k > 1) qsort(keys, k, sizeof *keys, keycmp);
        mx_json *o = mx_json_obj_in(a);
        for (size_t i = 0; i < k; i++) {
            /* numeric keys were stringified; look up both ways */
            lua_getfield(L, idx, keys[i]);
            if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                char *end;
                long long iv = strtoll(keys[i], &end, 10);
                if (*end == 0) lua_rawgeti(L, idx, (lua_Integer)iv);
                else lua_pushnil(L);
            }
            mx_json *item = to_json_rec(L, -1, depth + 1, a, views);
            lua_pop(L, 1);
            /* sorted, so a key met twice (1 and "1" both read as "1") is
             * the last one set: it keeps its place, the later value wins */
            if (o->u.c.len && strcmp(o->u.c.keys[o->u.c.len - 1], keys[i]) == 0) {
                mx_json_free(o->u.c.items[o->u.c.len - 1]);
                o->u.c.items[o->u.c.len - 1] = item;
                free(keys[i]);
            } else if (!a) {
                mx_json_append_owned(o, keys[i], item);
            } else {
                mx_json_append_in(a, o, keys[i], item);
                free(keys[i]);
            }
        }
        free(keys);
        return o;
    }
    default:
        return mx_json_str_in(a, luaL_typename(L, idx));
    }
}
mx_json *mx_lua_to_json(lua_State *L, int idx) { return to_json_rec(L, idx, 0, NULL, NULL); }
mx_json *mx_lua_to_json_in(lua_State *L, int idx, mx_jarena *a) { return to_json_rec(L, idx, 0, a, NULL); }
mx_json *rt_lua_to_json_views(lua_State *L, int idx, mx_jarena *a, int *views) { return to_json_rec(L, idx, 0, a, views); }
