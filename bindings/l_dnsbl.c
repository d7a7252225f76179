/* Lua module `dnsbl`: DNSBL query names (engine/dnsbl.c) and lookups that ask
 * A and TXT concurrently. Each DNS question is its own "dns.query" call
 * through the gate, with the same key as dns.query, so trace, record, replay
 * and the run's cache treat it like any other DNS query. What the answer
 * codes mean is data in rules/lib/dnsbl_catalog.lua, not here. */
#include "rt_private.h" /* mx_task_spawn_all */
#include "dnsbl.h"
#include "dnsmsg.h"
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>


/* List kinds as rules name them. "ip4"/"ip6" also restrict the family. */
enum { KIND_IP, KIND_IP4, KIND_IP6, KIND_DOMAIN };
static const char *const kind_names[] = {"ip", "ip4", "ip6", "domain", NULL};

/* Family of an IP subject as the list sees it (IPv4-mapped IPv6 is IPv4). */
static int subject_family(const char *s) {
    unsigned char a[16];
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (inet_pton(AF_INET, s, a) == 1) return 4;
    if (inet_pton(AF_INET6, s, a) == 1) return memcmp(a, mapped, 12) == 0 ? 4 : 6;
    return 0;
}

/* Builds the query name into out. Returns NULL, or the failure status
 * ("not_applicable" or "invalid") with *why set. */
static const char *build_name(const char *subject, const char *zone, int kind, char *out, size_t outlen,
                              const char **why) {
    int sk = mx_dnsbl_subject_kind(subject, why);
    if (sk < 0) return "invalid";
    int lk = kind == KIND_DOMAIN ? MX_DNSBL_DOMAIN : MX_DNSBL_IP;
    if (sk != lk) {
        *why = sk == MX_DNSBL_IP ? "IP address queried against a domain list" : "domain name queried against an IP list";
        return "not_applicable";
    }
    if (kind == KIND_IP4 && subject_family(subject) != 4) { *why = "IPv6 address queried against an IPv4-only list"; return "not_applicable"; }
    if (kind == KIND_IP6) {
        /* "ip6" asks the IPv6 form of any IPv6 literal, an IPv4-mapped one
         * included: RFC 5782's IPv6 test points ::FFFF:7F00:2/::FFFF:7F00:1
         * are mapped addresses. "ip"/"ip4" keep folding them to IPv4. */
        unsigned char a[16];
        if (inet_pton(AF_INET6, subject, a) != 1) { *why = "IPv4 address queried against an IPv6-only list"; return "not_applicable"; }
        lk = MX_DNSBL_IP6;
    }
    if (mx_dnsbl_query_name(subject, zone, lk, out, outlen, why) != 0) return "invalid";
    return NULL;
}

/* Validates zone (a programming error when bad: it comes from the catalog). */
static const char *check_zone(lua_State *L, int idx) {
    const char *zone = luaL_checkstring(L, idx);
    const char *why;
    char tmp[MX_DNSBL_QUERY_MAX];
    /* "127.0.0.2" as subject only checks the zone's own shape */
    if (mx_dnsbl_query_name("127.0.0.2", zone, MX_DNSBL_IP, tmp, sizeof tmp, &why) != 0) luaL_argerror(L, idx, why);
    return zone;
}

/* [-0, +3, m] nil, status, {subject=, zone=, error=} */
static int push_refusal(lua_State *L, const char *status, const char *subject, const char *zone, const char *why) {
    lua_pushnil(L);
    lua_pushstring(L, status);
    lua_createtable(L, 0, 3);
    lua_pushstring(L, subject);
    lua_setfield(L, -2, "subject");
    lua_pushstring(L, zone);
    lua_setfield(L, -2, "zone");
    lua_pushstring(L, why);
    lua_setfield(L, -2, "error");
    return 3;
}

/* dnsbl.query_name(subject, zone, kind) -> name | nil, "not_applicable"|"invalid", detail  (no I/O) */
static int l_query_name(lua_State *L) {
    const char *subject = luaL_checkstring(L, 1);
    const char *zone = check_zone(L, 2);
    int kind = luaL_checkoption(L, 3, NULL, kind_names);
    char name[MX_DNSBL_QUERY_MAX];
    const char *why = NULL;
    const char *st = build_name(subject, zone, kind, name, sizeof name, &why);
    if (st) return push_refusal(L, st, subject, zone, why);
    lua_pushstring(L, name);
    return 1;
}

/* ---- one DNS question, as a child task of the lookup */

/* The DNSBL key (--dnsbl-key, config dnsbl_key: Spamhaus DQS) is a secret.
 * Rules write the placeholder label MX_DNSBL_KEY_LABEL where it goes
 * (lib/dnsbl_catalog.lua key_label); only the packet sent carries the real
 * key. Everything a rule, a trace or a recording sees (the call's arguments,
 * its cache key, the answer's names) holds the placeholder. */
#define MX_DNSBL_KEY_LABEL "mxdiag-dnsbl-key"

/* Replaces every whole label `from` in name by `to`; NULL when absent or too long. */
static char *swap_label(const char *name, const char *from, const char *to) {
    size_t fl = strlen(from), tl = strlen(to), n = 0, hits = 0;
    for (const char *p = name; (p = strstr(p, from)) != NULL; p += fl)
        if ((p == name || p[-1] == '.') && (p[fl] == '.' || p[fl] == 0)) hits++;
    if (!hits) return NULL;
    size_t cap = strlen(name) + hits * (tl > fl ? tl - fl : 0) + 1;
    char *out = malloc(cap);
    if (!out) return NULL;
    for (const char *p = name; *p;) {
        if ((p == name || p[-1] == '.') && strncmp(p, from, fl) == 0 && (p[fl] == '.' || p[fl] == 0)) {
            memcpy(out + n, to, tl);
            n += tl;
            p += fl;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = 0;
    return out;
}

/* Puts the placeholder back wherever the answer repeats the key (query name,
 * owner names, CNAME targets): compared case-insensitively, as DNS does. */
static void mask_key(mx_json *j, const char *key) {
    if (!j) return;
    if (j->type == MX_JSTR) {
        char low[MX_DNSBL_QUERY_MAX];
        size_t l = j->u.str.len;
        if (l >= sizeof low) return;
        for (size_t i = 0; i <= l; i++) low[i] = (char)((j->u.str.s[i] >= 'A' && j->u.str.s[i] <= 'Z') ? j->u.str.s[i] + 32 : j->u.str.s[i]);
        char *m = swap_label(low, key, MX_DNSBL_KEY_LABEL);
        if (m) mx_json_str_replace(j, m);
        return;
    }
    if (j->type == MX_JARR || j->type == MX_JOBJ)
        for (size_t i = 0; i < j->u.c.len; i++) mask_key(j->u.c.items[i], key);
}

typedef struct keyed_query { mx_gate_req *req; const char *key; } keyed_query;

static void on_answer(mx_json *result, void *ud) { mx_gate_done(ud, result, NULL); }

static void on_keyed_answer(mx_json *result, void *ud) {
    keyed_query *k = ud;
    mx_gate_req *req = k->req;
    mask_key(result, k->key);
    free(k);
    mx_gate_done(req, result, NULL);
}

static void start_query(mx_rt *rt, mx_json *args, mx_gate_req *req) {
    mx_dns *dns = mx_rt_dns_for(rt, mx_json_get_str(args, "resolver"));
    const char *name = mx_json_get_str(args, "name");
    int type = mx_dns_type_from_name(mx_json_get_str(args, "type"));
    const char *key = mx_rt_dnsbl_key(rt);
    char *wire = key && name ? swap_label(name, MX_DNSBL_KEY_LABEL, key) : NULL;
    keyed_query *k = wire ? malloc(sizeof *k) : NULL;
    if (!k) {
        free(wire);
        mx_dns_query(dns, name, type, on_answer, req);
        return;
    }
    k->req = req;
    k->key = key;
    mx_dns_query(dns, wire, type, on_keyed_answer, k);
    free(wire);
}

/* The raw result as one table, whatever happened: the lookup's
 * continuation decides. [-0, +1, m] */
static int push_raw(lua_State *L, mx_json *res, void *handle) {
    (void)handle;
    mx_lua_push_json(L, res);
    return 1;
}

/* Child task body: upvalues name, type. Finishes with the raw result. */
static int ask(lua_State *L) {
    mx_json *args = mx_json_obj();
    mx_json_set(args, "name", mx_json_str(lua_tostring(L, lua_upvalueindex(1))));
    mx_json_set(args, "type", mx_json_str(lua_tostring(L, lua_upvalueindex(2))));
    const char *r = mx_rt_check_resolvers(mx_rt_from_L(L));
    if (r) mx_json_set(args, "resolver", mx_json_str(r)); /* as dns.query does */
    return mx_gate_call(L, "dns.query", args, 1, start_query, push_raw, NULL);
}

/* A transport failure has no DNS answer at all. */
static int transport_failed(const char *st) {
    return !st || strcmp(st, "timeout") == 0 || strcmp(st, "refused") == 0 || strcmp(st, "error") == 0;
}

/* Continuation of lookup. Stack: 1 functions, 2 subject, 3 zone, 4 name,
 * 5 results {a, txt}, 6 error|nil. [-0, +1|3, e] */
static int lookup_k(lua_State *L, int status, lua_KContext ctx) {
    (void)status; (void)ctx;
    if (!lua_isnil(L, 6)) return lua_error(L);
    lua_rawgeti(L, 5, 1); /* 7: A */
    lua_rawgeti(L, 5, 2); /* 8: TXT */
    if (!lua_istable(L, 7)) return luaL_error(L, "dnsbl.lookup: no result for the A query");
    lua_getfield(L, 7, "status");
    const char *st = lua_tostring(L, -1);
    if (transport_failed(st) || (strcmp(st, "NOERROR") != 0 && strcmp(st, "NXDOMAIN") != 0)) {
        /* no usable answer: timeout/refused/error as dns.query says, or an rcode */
        lua_pushnil(L);
        if (transport_failed(st)) lua_pushstring(L, st ? st : "error");
        else lua_pushstring(L, strcmp(st, "SERVFAIL") == 0 ? "servfail" : "rcode");
        lua_pushvalue(L, 7);
        lua_pushvalue(L, 2);
        lua_setfield(L, -2, "subject");
        lua_pushvalue(L, 3);
        lua_setfield(L, -2, "zone");
        return 3;
    }
    lua_pop(L, 1);
    lua_createtable(L, 0, 10); /* 9: the lookup result */
    int out = lua_gettop(L);
    lua_pushvalue(L, 2); lua_setfield(L, out, "subject");
    lua_pushvalue(L, 3); lua_setfield(L, out, "zone");
    lua_pushvalue(L, 4); lua_setfield(L, out, "name");
    lua_getfield(L, 7, "status"); lua_setfield(L, out, "rcode");
    lua_getfield(L, 7, "server"); lua_setfield(L, out, "server");
    lua_getfield(L, 7, "elapsed_ms"); lua_setfield(L, out, "elapsed_ms");
    /* answers: the A records' addresses; foreign: those outside 127.0.0.0/8 */
    lua_newtable(L);
    int answers = lua_gettop(L);
    lua_newtable(L);
    int foreign = lua_gettop(L);
    lua_Integer na = 0, nf = 0;
    if (lua_getfield(L, 7, "answers") == LUA_TTABLE) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, i);
            lua_getfield(L, -1, "type");
            int is_a = lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "A") == 0;
            lua_pop(L, 1);
            lua_getfield(L, -1, "data");
            if (is_a && lua_isstring(L, -1)) {
                const char *addr = lua_tostring(L, -1);
                if (mx_dnsbl_classify_answer(addr, NULL, NULL) != MX_DNSBL_ANSWER_LOOPBACK) {
                    lua_pushvalue(L, -1);
                    lua_rawseti(L, foreign, ++nf);
                }
                lua_rawseti(L, answers, ++na);
            } else {
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    lua_pushvalue(L, answers); lua_setfield(L, out, "answers");
    if (nf) { lua_pushvalue(L, foreign); lua_setfield(L, out, "foreign"); }
    /* "answered", not "listed": an A answer may be an error code (Spamhaus
     * 127.255.255.254) or a rewritten one; only the catalog can say listed */
    lua_pushboolean(L, na > 0); lua_setfield(L, out, "answered");
    lua_pop(L, 2);
    /* txt: the records joined with " | "; a failed TXT query is noted, not fatal */
    if (lua_istable(L, 8)) {
        lua_getfield(L, 8, "status");
        const char *ts = lua_tostring(L, -1);
        if (ts && strcmp(ts, "NOERROR") == 0) {
            luaL_Buffer b;
            int parts = 0;
            lua_getfield(L, 8, "answers");
            int ta = lua_gettop(L);
            luaL_buffinit(L, &b);
            if (lua_istable(L, ta)) {
                lua_Integer n = (lua_Integer)lua_rawlen(L, ta);
                for (lua_Integer i = 1; i <= n; i++) {
                    lua_rawgeti(L, ta, i);
                    lua_getfield(L, -1, "data");
                    if (lua_isstring(L, -1)) {
                        size_t len;
                        const char *s = lua_tolstring(L, -1, &len);
                        lua_pop(L, 2); /* keep the buffer's slot on top */
                        if (parts++) luaL_addstring(&b, " | ");
                        luaL_addlstring(&b, s, len);
                    } else {
                        lua_pop(L, 2);
                    }
                }
            }
            luaL_pushresult(&b);
            if (parts) lua_setfield(L, out, "txt");
            else lua_pop(L, 1);
            lua_pop(L, 1); /* answers */
        } else if (ts && strcmp(ts, "NXDOMAIN") != 0) {
            lua_pushvalue(L, -1);
            lua_setfield(L, out, "txt_error");
        }
        lua_pop(L, 1); /* status */
    }
    lua_settop(L, out);
    return 1;
}

/* dnsbl.lookup(subject, zone, kind) -> {answered=, answers={...}, foreign={...}?, txt=?, rcode=, name=,
 *   subject=, zone=, server=, elapsed_ms=}
 *   | nil, "not_applicable"|"invalid"|"timeout"|"refused"|"error"|"servfail"|"rcode", detail
 * A and TXT are asked concurrently; a refused subject is never queried. */
static int l_lookup(lua_State *L) {
    const char *subject = luaL_checkstring(L, 1);
    const char *zone = check_zone(L, 2);
    int kind = luaL_checkoption(L, 3, NULL, kind_names);
    char name[MX_DNSBL_QUERY_MAX];
    const char *why = NULL;
    const char *st = build_name(subject, zone, kind, name, sizeof name, &why);
    if (st) return push_refusal(L, st, subject, zone, why);
    lua_settop(L, 2);
    lua_createtable(L, 2, 0);
    lua_insert(L, 1);            /* 1 functions, 2 subject, 3 zone */
    lua_pushstring(L, name);     /* 4 name */
    static const char *const types[] = {"A", "TXT"};
    for (int i = 0; i < 2; i++) {
        lua_pushstring(L, name);
        lua_pushstring(L, types[i]);
        lua_pushcclosure(L, ask, 2);
        lua_rawseti(L, 1, i + 1);
    }
    return mx_task_spawn_all(L, lookup_k);
}

/* dnsbl.classify_answer(addr) -> "dnsbl"|"foreign"|"invalid", last octet|why */
static int l_classify_answer(lua_State *L) {
    const char *why = NULL;
    unsigned char o[4];
    int c = mx_dnsbl_classify_answer(luaL_checkstring(L, 1), o, &why);
    if (c == MX_DNSBL_ANSWER_LOOPBACK) {
        lua_pushliteral(L, "dnsbl");
        lua_pushinteger(L, o[3]);
        return 2;
    }
    lua_pushstring(L, c == MX_DNSBL_ANSWER_FOREIGN ? "foreign" : "invalid");
    lua_pushstring(L, why);
    return 2;
}

static const luaL_Reg dnsbl_funcs[] = {
    {"lookup", l_lookup},
    {"query_name", l_query_name},
    {"classify_answer", l_classify_answer},
    {NULL, NULL},
};

int luaopen_mx_dnsbl(lua_State *L) {
    luaL_newlib(L, dnsbl_funcs);
    return 1;
}
