/* Lua module `sys`: what this host runs and how it is configured, for the
 * local checks. Every call goes through the gate, so --record/--replay work
 * and a run asks each question once. All reads are bounded and allow-listed:
 * no arbitrary paths, no arbitrary commands. With the CLI option --sysroot
 * DIR, files and /proc are read under DIR and commands are fixture files. */
#include "runtime.h"
#include "sysinfo.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PORTS 32

/* The run's --sysroot ("" when none) and --config-dir list. */
static const char *sysroot(mx_rt *rt) {
    const char *s = mx_json_get_str(mx_rt_options(rt), "sysroot");
    return s ? s : "";
}

/* Completes through the loop like real I/O: never resumed inline. */
static void finish(mx_rt *rt, mx_gate_req *req, mx_json *result) {
    (void)rt;
    mx_gate_done_later(req, result);
}

/* Pushes nil, error class, detail table when res has "error"; returns 3 or 0.
 * [-0, +3|0, m] */
static int push_failure(lua_State *L, mx_json *res) {
    const char *e = mx_json_get_str(res, "error");
    if (!e) return 0;
    lua_pushnil(L);
    lua_pushstring(L, e);
    mx_lua_push_json(L, res);
    return 3;
}

/* ---- sys.listeners(ports) ---- */

static void start_listeners(mx_rt *rt, mx_json *args, mx_gate_req *req) {
    int ports[MAX_PORTS];
    size_t n = 0;
    mx_json *p = mx_json_get(args, "ports");
    for (size_t i = 0; p && i < p->u.c.len && n < MAX_PORTS; i++) ports[n++] = (int)p->u.c.items[i]->u.i;
    finish(rt, req, mx_sys_listeners(sysroot(rt), ports, n));
}

/* list, info | nil, "error", detail  [-0, +2|3, m] */
static int push_listeners(lua_State *L, mx_json *res, void *h) {
    (void)h;
    if (push_failure(L, res)) return 3;
    mx_lua_push_json(L, mx_json_get(res, "listeners"));
    if (lua_isnil(L, -1)) { lua_pop(L, 1); lua_newtable(L); }
    lua_createtable(L, 0, 3);
    mx_lua_push_json(L, mx_json_get(res, "notes"));
    if (lua_isnil(L, -1)) { lua_pop(L, 1); lua_newtable(L); }
    lua_setfield(L, -2, "notes");
    mx_json *u = mx_json_get(res, "unreadable_pids"), *s = mx_json_get(res, "scanned_pids");
    lua_pushinteger(L, u && u->type == MX_JINT ? (lua_Integer)u->u.i : 0);
    lua_setfield(L, -2, "unreadable_pids");
    lua_pushinteger(L, s && s->type == MX_JINT ? (lua_Integer)s->u.i : 0);
    lua_setfield(L, -2, "scanned_pids");
    return 2;
}

/* sys.listeners({25, 465, 587}) -> list of {address, port, family, inode,
 * uid, pid?, process?}, {notes, unreadable_pids, scanned_pids} */
static int l_listeners(lua_State *L) {
    mx_json *args = mx_json_obj();
    mx_json *ports = mx_json_set(args, "ports", mx_json_arr());
    if (!lua_isnoneornil(L, 1)) {
        if (!lua_istable(L, 1)) { mx_json_free(args); return luaL_argerror(L, 1, "a list of ports"); }
        lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
        if (n > MAX_PORTS) { mx_json_free(args); return luaL_argerror(L, 1, "at most 32 ports"); }
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, 1, i);
            int isnum;
            lua_Integer p = lua_tointegerx(L, -1, &isnum);
            lua_pop(L, 1);
            if (!isnum || p < 1 || p > 65535) { mx_json_free(args); return luaL_argerror(L, 1, "ports must be integers from 1 to 65535"); }
            mx_json_push(ports, mx_json_int(p));
        }
    }
    return mx_gate_call(L, "sys.listeners", args, 1, start_listeners, push_listeners, NULL);
}

/* ---- sys.read_file(path) ---- */

/* The run's --config-dir list: at most 32, as strings. */
static size_t config_dirs(mx_rt *rt, const char **dirs) {
    size_t nd = 0;
    mx_json *cd = mx_json_get(mx_rt_options(rt), "config_dirs");
    for (size_t i = 0; cd && cd->type == MX_JARR && i < cd->u.c.len && nd < 32; i++)
        if (cd->u.c.items[i]->type == MX_JSTR) dirs[nd++] = cd->u.c.items[i]->u.str.s;
    return nd;
}

static void start_read(mx_rt *rt, mx_json *args, mx_gate_req *req) {
    const char *dirs[32], *path = mx_json_get_str(args, "path");
    size_t nd = config_dirs(rt, dirs);
    finish(rt, req, mx_sys_read_file(sysroot(rt), path, mx_sys_path_base(path, dirs, nd)));
}

/* content, {path, size, truncated} | nil, "missing"|"denied"|"error", detail */
static int push_read(lua_State *L, mx_json *res, void *h) {
    (void)h;
    if (push_failure(L, res)) return 3;
    const char *c = mx_json_get_str(res, "content");
    mx_json *cj = mx_json_get(res, "content");
    lua_pushlstring(L, c ? c : "", c ? cj->u.str.len : 0);
    lua_createtable(L, 0, 3);
    lua_pushstring(L, mx_json_get_str(res, "path"));
    lua_setfield(L, -2, "path");
    mx_json *sz = mx_json_get(res, "size"), *tr = mx_json_get(res, "truncated");
    lua_pushinteger(L, sz && sz->type == MX_JINT ? (lua_Integer)sz->u.i : 0);
    lua_setfield(L, -2, "size");
    lua_pushboolean(L, tr && tr->type == MX_JBOOL && tr->u.b);
    lua_setfield(L, -2, "truncated");
    return 2;
}

static int l_read_file(lua_State *L) {
    mx_rt *rt = mx_rt_from_L(L);
    const char *path = luaL_checkstring(L, 1);
    const char *dirs[32];
    size_t nd = config_dirs(rt, dirs);
    const char *why;
    if (!mx_sys_path_allowed(path, dirs, nd, &why)) return luaL_argerror(L, 1, lua_pushfstring(L, "'%s': %s", path, why));
    mx_json *args = mx_json_obj();
    mx_json_set(args, "path", mx_json_str(path));
    return mx_gate_call(L, "sys.read_file", args, 1, start_read, push_read, NULL);
}

/* ---- sys.run(name) ---- */

static void run_done(mx_json *result, void *ud) { mx_gate_done(ud, result, NULL); }

/* The command runs while the loop goes on (probes and other rules too). */
static void start_run(mx_rt *rt, mx_json *args, mx_gate_req *req) {
    const mx_sys_cmd *c = mx_sys_cmd_find(mx_json_get_str(args, "name"));
    int tmo = mx_rt_timeout_ms(rt);
    if (tmo > 10000) tmo = 10000;
    mx_sys_run_async(mx_rt_loop(rt), sysroot(rt), c, tmo, run_done, req);
}

/* {status, stdout, stderr, truncated?} | nil, "missing"|"denied"|"timeout"|"error", detail */
static int push_run(lua_State *L, mx_json *res, void *h) {
    (void)h;
    if (push_failure(L, res)) return 3;
    mx_lua_push_json(L, res);
    return 1;
}

static int l_run(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    const mx_sys_cmd *c = mx_sys_cmd_find(name);
    if (!c) return luaL_argerror(L, 1, lua_pushfstring(L, "unknown command '%s' (allowed: %s)", name, mx_sys_cmd_names()));
    mx_json *args = mx_json_obj();
    mx_json_set(args, "name", mx_json_str(name));
    /* the command line, so a recording says what ran */
    mx_json *argv = mx_json_set(args, "argv", mx_json_arr());
    for (size_t i = 0; c->argv[i]; i++) mx_json_push(argv, mx_json_str(c->argv[i]));
    return mx_gate_call(L, "sys.run", args, 1, start_run, push_run, NULL);
}

/* ---- sys.info() ---- */

static void start_info(mx_rt *rt, mx_json *args, mx_gate_req *req) {
    (void)args;
    mx_json *r = mx_json_obj();
    mx_json_set(r, "uid", mx_json_int((long long)getuid()));
    mx_json_set(r, "euid", mx_json_int((long long)geteuid()));
    mx_json_set(r, "root", mx_json_bool(geteuid() == 0));
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    mx_json_set(r, "hostname", mx_json_str(host));
    mx_json_set(r, "addresses", mx_sys_addresses());
    const char *root = sysroot(rt);
    if (*root) mx_json_set(r, "sysroot", mx_json_str(root));
    finish(rt, req, r);
}

static int push_info(lua_State *L, mx_json *res, void *h) {
    (void)h;
    mx_lua_push_json(L, res);
    return 1;
}

/* sys.info() -> {uid, euid, root, hostname, addresses = {{address, interface, family}}, sysroot?} */
static int l_info(lua_State *L) {
    return mx_gate_call(L, "sys.info", mx_json_obj(), 1, start_info, push_info, NULL);
}

static const luaL_Reg sys_funcs[] = {
    {"listeners", l_listeners},
    {"read_file", l_read_file},
    {"run", l_run},
    {"info", l_info},
    {NULL, NULL},
};

int luaopen_mx_sys(lua_State *L) {
    luaL_newlib(L, sys_funcs);
    return 1;
}
