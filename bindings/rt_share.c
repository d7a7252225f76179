/* Lua values across runtimes (batch -P: a shared.once result worked out by
 * one worker's Lua state and read by another's). Not JSON: a value must come
 * back exactly as the rules made it (an integer stays an integer and 1.0 a
 * float; integer keys stay integers, a sparse array stays sparse; an empty
 * table marked __json = "object" keeps its mark), so the encoding is a small
 * tagged binary one of this process's own, never written anywhere.
 *
 *   'n' nil | 'f' false | 't' true | 'i' int64 | 'd' double (bits)
 *   's' u32 len, bytes | 'T' u8 flags (1: __json object), u32 pairs, key value...
 *   'u' u32 len, bytes (a userdata, through the caller's hooks: a socket) */
#include "rt_private.h"
#include <stdlib.h>
#include <string.h>

#define SHARE_MAX_DEPTH 32

typedef struct enc {
    lua_State *L;
    mx_buf *out;
    mx_share_udata_fn hook;
    void *ud;
    char *err;
    size_t errlen;
} enc;

static void put_u32(mx_buf *b, uint32_t v) { mx_buf_put(b, (const char *)&v, 4); }

static int enc_value(enc *e, int idx, int depth) {
    lua_State *L = e->L;
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TNIL: mx_buf_putc(e->out, 'n'); return 0;
    case LUA_TBOOLEAN: mx_buf_putc(e->out, lua_toboolean(L, idx) ? 't' : 'f'); return 0;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            int64_t v = (int64_t)lua_tointeger(L, idx);
            mx_buf_putc(e->out, 'i');
            mx_buf_put(e->out, (const char *)&v, 8);
        } else {
            double d = (double)lua_tonumber(L, idx);
            mx_buf_putc(e->out, 'd');
            mx_buf_put(e->out, (const char *)&d, 8);
        }
        return 0;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        if (n > UINT32_MAX) { snprintf(e->err, e->errlen, "string too long to share"); return -1; }
        mx_buf_putc(e->out, 's');
        put_u32(e->out, (uint32_t)n);
        mx_buf_put(e->out, s, n);
        return 0;
    }
    case LUA_TTABLE: {
        if (depth >= SHARE_MAX_DEPTH) { snprintf(e->err, e->errlen, "table nested too deep to share (or a cycle)"); return -1; }
        luaL_checkstack(L, 8, "share");
        int pushed = 0;
        if (rt_ro_kind(L, idx) == 2) { idx = lua_gettop(L); pushed = 1; } /* a read-only view: its table */
        int flags = 0;
        if (luaL_getmetafield(L, idx, "__json") != LUA_TNIL) {
            if (lua_type(L, -1) == LUA_TSTRING && !strcmp(lua_tostring(L, -1), "object")) flags |= 1;
            lua_pop(L, 1);
        }
        mx_buf_putc(e->out, 'T');
        mx_buf_putc(e->out, (char)flags);
        size_t at = e->out->len;
        put_u32(e->out, 0);
        uint32_t count = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            if (enc_value(e, -2, depth + 1) != 0 || enc_value(e, -1, depth + 1) != 0) {
                lua_pop(L, 2 + pushed);
                return -1;
            }
            count++;
            lua_pop(L, 1);
        }
        memcpy(e->out->data + at, &count, 4);
        if (pushed) lua_pop(L, 1);
        return 0;
    }
    case LUA_TUSERDATA:
        if (e->hook) {
            mx_buf_putc(e->out, 'u');
            size_t at = e->out->len;
            put_u32(e->out, 0);
            int r = e->hook(L, idx, e->out, e->ud);
            if (r == 0) {
                uint32_t n = (uint32_t)(e->out->len - at - 4);
                memcpy(e->out->data + at, &n, 4);
                return 0;
            }
            e->out->len = at - 1;
        }
        /* fall through */
    default:
        snprintf(e->err, e->errlen, "a %s cannot be shared between workers", luaL_typename(L, idx));
        return -1;
    }
}

int mx_share_encode(lua_State *L, int idx, mx_buf *out, mx_share_udata_fn hook, void *ud, char *err, size_t errlen) {
    enc e = {L, out, hook, ud, err, errlen};
    size_t start = out->len;
    if (enc_value(&e, idx, 0) != 0) {
        out->len = start;
        return -1;
    }
    return 0;
}

typedef struct dec {
    lua_State *L;
    const unsigned char *p, *end;
    mx_share_udata_dec_fn hook;
    void *ud;
} dec;

static int get_u32(dec *d, uint32_t *v) {
    if (d->end - d->p < 4) return -1;
    memcpy(v, d->p, 4);
    d->p += 4;
    return 0;
}

/* [-0, +1, m] on success; nothing pushed on failure */
static int dec_value(dec *d, int depth) {
    lua_State *L = d->L;
    if (d->p >= d->end || depth > SHARE_MAX_DEPTH + 1) return -1;
    luaL_checkstack(L, 4, "share");
    int tag = *d->p++;
    switch (tag) {
    case 'n': lua_pushnil(L); return 0;
    case 'f': lua_pushboolean(L, 0); return 0;
    case 't': lua_pushboolean(L, 1); return 0;
    case 'i': {
        int64_t v;
        if (d->end - d->p < 8) return -1;
        memcpy(&v, d->p, 8);
        d->p += 8;
        lua_pushinteger(L, (lua_Integer)v);
        return 0;
    }
    case 'd': {
        double v;
        if (d->end - d->p < 8) return -1;
        memcpy(&v, d->p, 8);
        d->p += 8;
        lua_pushnumber(L, (lua_Number)v);
        return 0;
    }
    case 's': {
        uint32_t n;
        if (get_u32(d, &n) || (size_t)(d->end - d->p) < n) return -1;
        lua_pushlstring(L, (const char *)d->p, n);
        d->p += n;
        return 0;
    }
    case 'T': {
        uint32_t n;
        if (d->p >= d->end) return -1;
        int flags = *d->p++;
        if (get_u32(d, &n)) return -1;
        lua_createtable(L, 0, 0);
        for (uint32_t i = 0; i < n; i++) {
            if (dec_value(d, depth + 1) != 0) { lua_pop(L, 1); return -1; }
            if (dec_value(d, depth + 1) != 0 || lua_isnil(L, -2)) { lua_pop(L, 2); return -1; }
            lua_rawset(L, -3);
        }
        if (flags & 1) {
            /* the same mark mx_json_obj's empty tables carry for rules */
            lua_createtable(L, 0, 1);
            lua_pushliteral(L, "object");
            lua_setfield(L, -2, "__json");
            lua_setmetatable(L, -2);
        }
        return 0;
    }
    case 'u': {
        uint32_t n;
        if (get_u32(d, &n) || (size_t)(d->end - d->p) < n || !d->hook) return -1;
        int r = d->hook(L, (const char *)d->p, n, d->ud);
        d->p += n;
        return r;
    }
    default: return -1;
    }
}

int mx_share_decode(lua_State *L, const char *data, size_t len, mx_share_udata_dec_fn hook, void *ud) {
    dec d = {L, (const unsigned char *)data, (const unsigned char *)data + len, hook, ud};
    if (dec_value(&d, 0) != 0) return -1;
    if (d.p != d.end) { lua_pop(L, 1); return -1; }
    return 0;
}
