/* Lua module `dns`: queries through c-ares, via the call gate. */
#include "runtime.h"
#include "dnsmsg.h"
#include <string.h>

/* Pushes the answer table, or nil, status, detail when the resolver did not
 * answer at all (timeout, port closed, local error). The answer is sealed
 * (read-only): the gate hands the same table to every later asker of the
 * question in the run (MX_GATE_SHARED). nil, status, detail are rare and
 * stay fresh tables, the caller's own. [-0, +1|3, m] */
static int push_answer(lua_State *L, mx_json *res, void *handle) {
    (void)handle;
    const char *st = mx_json_get_str(res, "status");
    if (!st || strcmp(st, "timeout") == 0 || strcmp(st, "refused") == 0 || strcmp(st, "error") == 0) {
        lua_pushnil(L);
        lua_pushstring(L, st ? st : "error");
        mx_lua_push_json(L, res);
        return 3;
    }
    mx_lua_push_json_sealed(L, res);
    return 1;
}

static void on_answer(mx_json *result, void *ud) { mx_gate_done(ud, result, NULL); }

/* A question: its name (normalised), type and the check's own resolvers
 * (a batch entry's `resolver`), or NULL: the run's. Lives for the call. */
typedef struct question {
    const char *name;
    int type;
    const char *resolver;
} question;

static void start_query(mx_rt *rt, mx_json *args, mx_gate_req *req, void *ctx) {
    (void)args;
    const question *q = ctx;
    mx_dns_query(mx_rt_dns_for(rt, q->resolver), q->name, q->type, on_answer, req);
}

/* the question as a call's arguments: for a recording only */
static mx_json *question_args(void *ctx) {
    const question *q = ctx;
    mx_json *args = mx_json_obj();
    mx_json_set(args, "name", mx_json_str(q->name));
    mx_json_set(args, "type", mx_json_str(mx_dns_type_name(q->type)));
    /* part of the question, so the run's cache and a recording keep the answers apart */
    if (q->resolver) mx_json_set(args, "resolver", mx_json_str(q->resolver));
    return args;
}

/* Asks q through the gate. Its key is written here as the gate would write
 * it from question_args' JSON (the same key names, order and string
 * escaping): no JSON tree is made unless the run records. */
static int ask(lua_State *L, question *q) {
    q->resolver = mx_rt_check_resolvers(mx_rt_from_L(L));
    const char *type = mx_dns_type_name(q->type);
    size_t nl = strlen(q->name), tl = strlen(type);
    mx_buf k = MX_BUF_INIT;
    /* made at its size (one allocation: a name seldom needs an escape) */
    mx_buf_reserve(&k, 40 + nl + tl + (q->resolver ? 16 + strlen(q->resolver) : 0));
    mx_buf_put(&k, "dns.query {\"name\":", sizeof "dns.query {\"name\":" - 1);
    mx_json_write_string(&k, q->name, nl);
    mx_buf_put(&k, ",\"type\":", sizeof ",\"type\":" - 1);
    mx_json_write_string(&k, type, tl);
    if (q->resolver) {
        mx_buf_puts(&k, ",\"resolver\":");
        mx_json_write_string(&k, q->resolver, strlen(q->resolver));
    }
    mx_buf_putc(&k, '}');
    return mx_gate_call_keyed(L, "dns.query", mx_buf_steal(&k), question_args, MX_GATE_SHARED, start_query, q,
                              push_answer, NULL);
}

static int invalid(lua_State *L, const char *name, const char *why) {
    lua_pushnil(L);
    lua_pushliteral(L, "invalid");
    lua_createtable(L, 0, 2);
    lua_pushstring(L, name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, why);
    lua_setfield(L, -2, "error");
    return 3;
}

/* dns.query(name, type) -> answer | nil, "timeout"|"refused"|"error"|"invalid", detail */
static int l_query(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    const char *type = luaL_checkstring(L, 2);
    int t = mx_dns_type_from_name(type);
    if (!t) return luaL_argerror(L, 2, "unknown record type (A, AAAA, MX, TXT, PTR, CNAME, NS, SOA, SRV, TLSA, CAA)");
    const char *why;
    if (mx_domain_valid(name, &why) != 0) return invalid(L, name, why);
    char norm[MX_DOMAIN_MAX + 2];
    mx_domain_normalize(name, norm, sizeof norm);
    question q = {norm, t, NULL};
    return ask(L, &q);
}

/* dns.ptr(address) -> answer | nil, status, detail */
static int l_ptr(lua_State *L) {
    const char *addr = luaL_checkstring(L, 1);
    char name[128];
    if (mx_dns_reverse_name(addr, name, sizeof name) != 0) return luaL_argerror(L, 1, "not an IPv4 or IPv6 address");
    question q = {name, mx_dns_type_from_name("PTR"), NULL};
    return ask(L, &q);
}

/* dns.reverse_name(address) -> "x.x.x.x.in-addr.arpa" */
static int l_reverse_name(lua_State *L) {
    char name[128];
    if (mx_dns_reverse_name(luaL_checkstring(L, 1), name, sizeof name) != 0)
        return luaL_argerror(L, 1, "not an IPv4 or IPv6 address");
    lua_pushstring(L, name);
    return 1;
}

/* dns.valid_name(name) -> true | false, reason */
static int l_valid_name(lua_State *L) {
    const char *why;
    if (mx_domain_valid(luaL_checkstring(L, 1), &why) == 0) { lua_pushboolean(L, 1); return 1; }
    lua_pushboolean(L, 0);
    lua_pushstring(L, why);
    return 2;
}

/* dns.servers() -> "addr:port,..." of the resolvers this check uses */
static int l_servers(lua_State *L) {
    mx_rt *rt = mx_rt_from_L(L);
    mx_dns *d = mx_rt_dns_for(rt, mx_rt_check_resolvers(rt));
    const char *rec = mx_rt_replay_servers(rt);
    /* a replay asks no resolver: the recorded run's answer */
    lua_pushstring(L, d ? mx_dns_servers(d) : rec ? rec : "(replay)");
    return 1;
}

static const luaL_Reg dns_funcs[] = {
    {"query", l_query},
    {"ptr", l_ptr},
    {"reverse_name", l_reverse_name},
    {"valid_name", l_valid_name},
    {"servers", l_servers},
    {NULL, NULL},
};

int luaopen_mx_dns(lua_State *L) {
    luaL_newlib(L, dns_funcs);
    return 1;
}
