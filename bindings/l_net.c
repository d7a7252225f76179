/* Lua module `net`: TCP connect with verdicts, address helpers, and the
 * socket object a successful connect returns. */
#include "runtime.h"
#include "net.h"
#include <string.h>
#include <unistd.h>

#define SOCKET_MT "mxdiag.socket"

typedef struct l_socket {
    int fd;              /* -1 when closed, or in a replay */
    char peer[64];
    int port;
    char source[64];
    int id;              /* connection ordinal within the run: replay key */
} l_socket;

static int next_socket_id;

/* [-0, +0, -] idempotent close shared by close, __gc and __close */
static void socket_close(l_socket *s) {
    if (s->fd >= 0) { close(s->fd); s->fd = -1; }
}

static l_socket *check_socket(lua_State *L, int idx) { return luaL_checkudata(L, idx, SOCKET_MT); }

static int l_socket_close(lua_State *L) {
    socket_close(check_socket(L, 1));
    return 0;
}
static int l_socket_gc(lua_State *L) {
    socket_close(check_socket(L, 1));
    return 0;
}
static int l_socket_tostring(lua_State *L) {
    l_socket *s = check_socket(L, 1);
    lua_pushfstring(L, "socket %s:%d (%s)", s->peer, s->port, s->fd >= 0 ? "open" : "closed");
    return 1;
}
/* socket:info() -> {address, port, source} */
static int l_socket_info(lua_State *L) {
    l_socket *s = check_socket(L, 1);
    lua_createtable(L, 0, 3);
    lua_pushstring(L, s->peer);
    lua_setfield(L, -2, "address");
    lua_pushinteger(L, s->port);
    lua_setfield(L, -2, "port");
    if (s->source[0]) { lua_pushstring(L, s->source); lua_setfield(L, -2, "source"); }
    return 1;
}

static void discard_fd(void *h) {
    int fd = (int)(intptr_t)h - 1;
    if (fd >= 0) close(fd);
}

static void on_connect(int fd, mx_json *result, void *ud) {
    mx_gate_done(ud, result, fd >= 0 ? (void *)(intptr_t)(fd + 1) : NULL);
}

static void start_connect(mx_rt *rt, mx_json *args, mx_gate_req *req) {
    mx_addr dst, src;
    mx_addr_parse(mx_json_get_str(args, "address"), &dst);
    const char *s = mx_json_get_str(args, "source");
    int has_src = s && mx_addr_parse(s, &src) == 0;
    mx_json *port = mx_json_get(args, "port"), *tmo = mx_json_get(args, "timeout_ms"), *ttl = mx_json_get(args, "ttl");
    mx_net_connect(mx_rt_loop(rt), &dst, (int)port->u.i, has_src ? &src : NULL, (int)tmo->u.i,
                   ttl ? (int)ttl->u.i : 0, on_connect, req);
}

/* connected: socket, detail; failed: nil, verdict, detail [-0, +2|3, m] */
static int push_connect(lua_State *L, mx_json *res, void *handle) {
    const char *v = mx_json_get_str(res, "verdict");
    if (v && strcmp(v, MX_V_CONNECTED) == 0) {
        l_socket *s = lua_newuserdatauv(L, sizeof *s, 0);
        memset(s, 0, sizeof *s);
        s->fd = -1;
        luaL_setmetatable(L, SOCKET_MT);
        s->fd = handle ? (int)(intptr_t)handle - 1 : -1; /* no fd in a replay */
        snprintf(s->peer, sizeof s->peer, "%s", mx_json_get_str(res, "address") ? mx_json_get_str(res, "address") : "");
        mx_json *p = mx_json_get(res, "port");
        s->port = p && p->type == MX_JINT ? (int)p->u.i : 0;
        const char *src = mx_json_get_str(res, "source");
        if (src) snprintf(s->source, sizeof s->source, "%s", src);
        s->id = ++next_socket_id;
        mx_lua_push_json(L, res);
        return 2;
    }
    if (handle) discard_fd(handle);
    lua_pushnil(L);
    lua_pushstring(L, v ? v : MX_V_ERROR);
    mx_lua_push_json(L, res);
    return 3;
}

/* net.connect(address, port, {timeout=seconds, source=address, ttl=n})
 * -> socket, detail | nil, verdict, detail */
static int l_connect(lua_State *L) {
    mx_rt *rt = mx_rt_from_L(L);
    const char *addr = luaL_checkstring(L, 1);
    lua_Integer port = luaL_checkinteger(L, 2);
    luaL_argcheck(L, port >= 1 && port <= 65535, 2, "port must be from 1 to 65535");
    mx_addr dst, src;
    if (mx_addr_parse(addr, &dst) != 0) return luaL_argerror(L, 1, "not an IP address (resolve names with dns.query first)");
    int timeout_ms = mx_rt_timeout_ms(rt);
    const char *source = NULL;
    int ttl = 0;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        if (lua_getfield(L, 3, "timeout") != LUA_TNIL) {
            lua_Number t = luaL_checknumber(L, -1);
            luaL_argcheck(L, t > 0 && t <= 600, 3, "timeout must be from 0 to 600 seconds");
            timeout_ms = (int)(t * 1000);
        }
        lua_pop(L, 1);
        if (lua_getfield(L, 3, "source") != LUA_TNIL) {
            source = luaL_checkstring(L, -1);
            if (mx_addr_parse(source, &src) != 0) return luaL_argerror(L, 3, "source is not an IP address");
        }
        lua_pop(L, 1);
        if (lua_getfield(L, 3, "ttl") != LUA_TNIL) {
            ttl = (int)luaL_checkinteger(L, -1);
            luaL_argcheck(L, ttl >= 1 && ttl <= 255, 3, "ttl must be from 1 to 255");
        }
        lua_pop(L, 1);
    }
    char canon[64];
    mx_addr_format(&dst, canon, sizeof canon);
    mx_json *args = mx_json_obj();
    mx_json_set(args, "address", mx_json_str(canon));
    mx_json_set(args, "port", mx_json_int(port));
    if (source) {
        char sc[64];
        mx_addr_format(&src, sc, sizeof sc);
        mx_json_set(args, "source", mx_json_str(sc));
    }
    mx_json_set(args, "timeout_ms", mx_json_int(timeout_ms));
    if (ttl) mx_json_set(args, "ttl", mx_json_int(ttl));
    return mx_gate_call(L, "net.connect", args, 0, start_connect, push_connect, discard_fd);
}

/* net.parse_address(s) -> {address=canonical, family=4|6} | nil, "invalid" */
static int l_parse_address(lua_State *L) {
    mx_addr a;
    if (mx_addr_parse(luaL_checkstring(L, 1), &a) != 0) {
        lua_pushnil(L);
        lua_pushliteral(L, "invalid");
        return 2;
    }
    char c[64];
    mx_addr_format(&a, c, sizeof c);
    lua_createtable(L, 0, 2);
    lua_pushstring(L, c);
    lua_setfield(L, -2, "address");
    lua_pushinteger(L, a.family == AF_INET ? 4 : 6);
    lua_setfield(L, -2, "family");
    return 1;
}

/* net.is_reserved(addr) -> nil | {name=, block=, rfc=} */
static int l_is_reserved(lua_State *L) {
    mx_addr a;
    if (mx_addr_parse(luaL_checkstring(L, 1), &a) != 0) return luaL_argerror(L, 1, "not an IP address");
    const mx_reserved *r = mx_addr_reserved(&a);
    if (!r) { lua_pushnil(L); return 1; }
    lua_createtable(L, 0, 3);
    lua_pushstring(L, r->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, r->block);
    lua_setfield(L, -2, "block");
    lua_pushstring(L, r->rfc);
    lua_setfield(L, -2, "rfc");
    return 1;
}

static const luaL_Reg net_funcs[] = {
    {"connect", l_connect},
    {"parse_address", l_parse_address},
    {"is_reserved", l_is_reserved},
    {NULL, NULL},
};

static const luaL_Reg socket_methods[] = {
    {"close", l_socket_close},
    {"info", l_socket_info},
    {NULL, NULL},
};

static const luaL_Reg socket_meta[] = {
    {"__gc", l_socket_gc},
    {"__close", l_socket_gc},
    {"__tostring", l_socket_tostring},
    {"__index", NULL},
    {NULL, NULL},
};

int luaopen_mx_net(lua_State *L) {
    luaL_newmetatable(L, SOCKET_MT);
    luaL_setfuncs(L, socket_meta, 0);
    luaL_newlibtable(L, socket_methods);
    luaL_setfuncs(L, socket_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
    luaL_newlib(L, net_funcs);
    return 1;
}
