/* Lua module `task`: concurrency inside one rule. */
#include "runtime.h"

int mx_task_spawn_all(lua_State *L, lua_KFunction k);
int mx_task_event_new(lua_State *L);
int mx_task_event_wait(lua_State *L);
int mx_task_event_signal(lua_State *L);

/* continuation after the children finished: stack has results, err */
static int all_k(lua_State *L, int status, lua_KContext ctx) {
    (void)status; (void)ctx;
    if (!lua_isnil(L, -1)) return lua_error(L);
    lua_pop(L, 1);
    return 1;
}

/* task.all({f1, f2, ...}) -> {r1, r2, ...}: runs the functions concurrently
 * (each may call engine primitives) and returns their first results in order.
 * If one raises, the others still finish, then the error is raised. */
static int l_all(lua_State *L) {
    lua_settop(L, 1);
    return mx_task_spawn_all(L, all_k);
}

static void on_timer(mx_loop *loop, void *ud) {
    (void)loop;
    mx_json *r = mx_json_obj();
    mx_json_set(r, "slept", mx_json_bool(1));
    mx_gate_done(ud, r, NULL);
}
static void start_sleep(mx_rt *rt, mx_json *args, mx_gate_req *req) {
    mx_json *ms = mx_json_get(args, "ms");
    mx_loop_timer(mx_rt_loop(rt), ms ? ms->u.i : 0, on_timer, req);
}
static int push_nothing(lua_State *L, mx_json *res, void *h) {
    (void)L; (void)res; (void)h;
    return 0;
}

/* task.sleep(seconds): waits without blocking other rules (max 60 s). */
static int l_sleep(lua_State *L) {
    lua_Number s = luaL_checknumber(L, 1);
    luaL_argcheck(L, s >= 0 && s <= 60, 1, "seconds must be from 0 to 60");
    mx_json *args = mx_json_obj();
    mx_json_set(args, "ms", mx_json_int((long long)(s * 1000)));
    return mx_gate_call(L, "task.sleep", args, 0, start_sleep, push_nothing, NULL);
}

static const luaL_Reg task_funcs[] = {
    {"all", l_all},
    {"sleep", l_sleep},
    {"event", mx_task_event_new},
    {"wait", mx_task_event_wait},
    {"signal", mx_task_event_signal},
    {NULL, NULL},
};

int luaopen_mx_task(lua_State *L) {
    luaL_newlib(L, task_funcs);
    return 1;
}
