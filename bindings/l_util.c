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

static const luaL_Reg util_funcs[] = {
    {"json_decode", l_json_decode},
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
