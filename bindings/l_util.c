/* Lua module `util`: small pure helpers for rules (no I/O, no gate). */
#include "rt_private.h" /* rt_l_seal: the sandbox's sealed tables */

#define JSON_DECODE_MAX (16u << 20)

/* [-0, +1, m] like mx_lua_push_json, but JSON null becomes the sentinel at
 * upvalue 1 (util.null), so {"drop": null} keeps its key. */
static void push_value(lua_State *L, const mx_json *v, int depth) {
    luaL_checkstack(L, 4, "json too deep");
    if (v->type == MX_JNULL) { lua_pushvalue(L, lua_upvalueindex(1)); return; }
    if ((v->type != MX_JARR && v->type != MX_JOBJ) || depth > 64) { mx_lua_push_json(L, v); return; }
    lua_createtable(L, v->type == MX_JARR ? (int)v->u.c.len : 0, v->type == MX_JOBJ ? (int)v->u.c.len : 0);
    for (size_t i = 0; i < v->u.c.len; i++) {
        push_value(L, v->u.c.items[i], depth + 1);
        if (v->type == MX_JARR) lua_rawseti(L, -2, (lua_Integer)i + 1);
        else lua_setfield(L, -2, v->u.c.keys[i]);
    }
}

/* util.json_decode(text) -> value | nil, "invalid", message  [-0, +1|3, m]
 * Objects and arrays become tables; JSON null becomes util.null. */
static int l_json_decode(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    if (n > JSON_DECODE_MAX) return luaL_argerror(L, 1, "JSON text larger than 16 MiB");
    char err[160];
    mx_json *v = mx_json_parse(s, n, err, sizeof err);
    if (!v) {
        lua_pushnil(L);
        lua_pushliteral(L, "invalid");
        lua_pushstring(L, err);
        return 3;
    }
    push_value(L, v, 0);
    mx_json_free(v);
    return 1;
}

/* ---- util.sort_by ---------------------------------------------------------- */

#define SORT_MAX_KEYS 8

typedef struct {
    const char *s; /* a string key's bytes (anchored in the call's anchor table) */
    size_t len;
    lua_Integer i;
    lua_Number d;
    int is_int;
} sort_val;

typedef struct {
    int nkeys;
    int desc[SORT_MAX_KEYS];
    int is_str[SORT_MAX_KEYS];
    const sort_val *vals; /* element e's key k at vals[e * nkeys + k] */
} sort_ctx;

/* Lua's "<" on strings (lvm.c l_strcmp): strcoll over the parts between
 * embedded NULs, then the shorter first. */
static int str_cmp(const sort_val *a, const sort_val *b) {
    const char *l = a->s, *r = b->s;
    size_t ll = a->len, lr = b->len;
    for (;;) {
        int t = strcoll(l, r);
        if (t != 0) return t;
        size_t len = strlen(l);
        if (len == lr) return len == ll ? 0 : 1;
        if (len == ll) return -1;
        len++;
        l += len;
        ll -= len;
        r += len;
        lr -= len;
    }
}

/* Lua's "<" on numbers: integers exactly, else as floats (exact for the
 * integers a rule counts, below 2^53); NaN is neither less nor greater. */
static int num_cmp(const sort_val *a, const sort_val *b) {
    if (a->is_int && b->is_int) return a->i < b->i ? -1 : a->i > b->i;
    lua_Number x = a->is_int ? (lua_Number)a->i : a->d, y = b->is_int ? (lua_Number)b->i : b->d;
    return x < y ? -1 : x > y;
}

static int elem_cmp(const sort_ctx *c, int x, int y) {
    for (int k = 0; k < c->nkeys; k++) {
        const sort_val *a = &c->vals[(size_t)x * (size_t)c->nkeys + (size_t)k];
        const sort_val *b = &c->vals[(size_t)y * (size_t)c->nkeys + (size_t)k];
        int t = c->is_str[k] ? str_cmp(a, b) : num_cmp(a, b);
        if (t) return c->desc[k] ? -t : t;
    }
    return 0;
}

/* Stable merge sort of the indices idx[0..n) through tmp. */
static void merge_sort(const sort_ctx *c, int *idx, int *tmp, int n) {
    for (int i = 1; i < n; i++) { /* runs of 8 by insertion first */
        if (i % 8 == 0) continue;
        int v = idx[i], j = i;
        while (j % 8 && elem_cmp(c, idx[j - 1], v) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
    for (int w = 8; w < n; w *= 2) {
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int a = lo, b = mid, o = lo;
            while (a < mid && b < hi) tmp[o++] = elem_cmp(c, idx[b], idx[a]) < 0 ? idx[b++] : idx[a++];
            while (a < mid) tmp[o++] = idx[a++];
            while (b < hi) tmp[o++] = idx[b++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof *idx);
    }
}

/* util.sort_by(list, keys) -> list  [-0, +1, e]
 * Sorts list[1..#list] in place by its elements' fields named in keys (an
 * array of up to 8 names; a leading '-' sorts that field descending), as
 * table.sort(list, cmp) with cmp comparing those fields in turn with "<"
 * would, but each field is read once per element and no Lua function runs
 * per comparison. Elements equal on every key keep their order. Values of a
 * key must all be numbers or all strings: anything else raises, as "<" would. */
static int l_sort_by(lua_State *L) {
    lua_Integer len = luaL_len(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    /* bounded so that n * (keys + 1), the anchor table's size, fits an int */
    luaL_argcheck(L, len < INT_MAX / (SORT_MAX_KEYS + 1), 1, "array too big");
    int n = (int)len;
    sort_ctx c = {0};
    const char *field[SORT_MAX_KEYS];
    lua_settop(L, 2);
    lua_Integer nk = luaL_len(L, 2);
    luaL_argcheck(L, nk >= 1 && nk <= SORT_MAX_KEYS, 2, "1 to 8 keys");
    c.nkeys = (int)nk;
    for (int k = 0; k < c.nkeys; k++) {
        lua_geti(L, 2, k + 1);
        if (lua_type(L, -1) != LUA_TSTRING) return luaL_argerror(L, 2, "keys must be field names");
        field[k] = lua_tostring(L, -1);
        c.desc[k] = field[k][0] == '-';
        field[k] += c.desc[k];
        if (!field[k][0]) return luaL_argerror(L, 2, "empty field name");
        /* the name stays on the stack, at 3 + k */
    }
    if (n < 2) {
        lua_settop(L, 1);
        return 1;
    }
    /* scratch as a userdata (freed by the collector when a value raises),
     * the elements and their string keys anchored in a table */
    size_t nv = (size_t)n * (size_t)c.nkeys;
    sort_val *vals = lua_newuserdatauv(L, nv * sizeof *vals + 2 * (size_t)n * sizeof(int), 0);
    int *idx = (int *)(vals + nv), *tmp = idx + n;
    int ud = lua_gettop(L);
    lua_createtable(L, n * (c.nkeys + 1), 0);
    int anchor = ud + 1, na = 0;
    int kind[SORT_MAX_KEYS];
    for (int k = 0; k < c.nkeys; k++) kind[k] = LUA_TNONE;
    for (int e = 0; e < n; e++) {
        idx[e] = e;
        if (lua_geti(L, 1, e + 1) != LUA_TTABLE) return luaL_error(L, "util.sort_by: list[%d] is not a table", e + 1);
        lua_pushvalue(L, -1);
        lua_rawseti(L, anchor, ++na);
        for (int k = 0; k < c.nkeys; k++) {
            int t = lua_getfield(L, -1, field[k]);
            sort_val *v = &vals[(size_t)e * (size_t)c.nkeys + (size_t)k];
            if (t != LUA_TNUMBER && t != LUA_TSTRING)
                return luaL_error(L, "util.sort_by: list[%d].%s is %s, not a number or string", e + 1, field[k],
                                  lua_typename(L, t));
            if (kind[k] == LUA_TNONE) kind[k] = t;
            else if (kind[k] != t)
                return luaL_error(L, "util.sort_by: list[%d].%s is a %s among %ss", e + 1, field[k], lua_typename(L, t),
                                  lua_typename(L, kind[k]));
            if (t == LUA_TSTRING) {
                v->s = lua_tolstring(L, -1, &v->len);
                lua_rawseti(L, anchor, ++na);
            } else {
                v->is_int = lua_isinteger(L, -1);
                if (v->is_int) v->i = lua_tointeger(L, -1);
                else v->d = lua_tonumber(L, -1);
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
    }
    for (int k = 0; k < c.nkeys; k++) c.is_str[k] = kind[k] == LUA_TSTRING;
    c.vals = vals;
    merge_sort(&c, idx, tmp, n);
    /* the elements back in their new order, read from the anchor (element e
     * at the position after its keys' strings) */
    int *pos = tmp; /* anchor position of element e */
    for (int e = 0, a = 1; e < n; e++) {
        pos[e] = a;
        a++;
        for (int k = 0; k < c.nkeys; k++) a += c.is_str[k];
    }
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, anchor, pos[idx[i]]);
        lua_seti(L, 1, i + 1);
    }
    lua_settop(L, 1);
    return 1;
}

static const luaL_Reg util_funcs[] = {
    {"json_decode", l_json_decode},
    {"sort_by", l_sort_by},
    {"seal", rt_l_seal},
    {NULL, NULL},
};

int luaopen_mx_util(lua_State *L) {
    luaL_newlibtable(L, util_funcs);
    lua_newtable(L); /* util.null: a unique value that stands for JSON null */
    mx_lua_seal(L, -1); /* shared by every rule: nobody may change it */
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "null");
    luaL_setfuncs(L, util_funcs, 1);
    return 1;
}
