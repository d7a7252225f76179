/* Lua module `log`: delivery events from this host's mail logs, via the call
 * gate (so --trace, --record and --replay see them like any engine call).
 *
 *   for ev in log.events{files=, since=, until=, domain=, cause=, failures=, utc=, limit=} do ... end
 *   local r = log.aggregate{...same filters..., by = "domain"|"address"|"cause"|"source", top=}
 *
 * The files are read and aggregated in C (engine/logread.c, logagg.c) when
 * the call starts; the result is JSON like every primitive's.  Bounds: an
 * events call returns at most `limit` events (default 10 000, at most
 * MAX_EVENTS = 100 000; the result says `truncated`), reply texts are cut
 * at 512 bytes, and aggregates hold at most 2 048 groups per dimension (the
 * rest is one "(other)" group), so neither a recording nor the Lua heap
 * grows with the log.  Event tables are built one at a time as the
 * iterator advances, not all at once. */
#include "runtime.h"
#include "logagg.h"
#include "logparse.h"
#include "logread.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_EVENTS 10000
#define MAX_EVENTS 100000
#define MAX_FILES 64
#define TEXT_MAX 512
#define ITER_MT "mx.log.events"

static const char *const by_names[] = {"domain", "address", "cause", "source", NULL};
static const mx_agg_dim by_dims[] = {MX_AGG_DOMAIN, MX_AGG_ADDR, MX_AGG_CAUSE, MX_AGG_SOURCE};

/* ---- the work, in C, when the call starts ---- */

/* Completes through the loop like real I/O: never resumed inline. */
static void finish(mx_rt *rt, mx_gate_req *req, mx_json *result) {
    (void)rt;
    mx_gate_done_later(req, result);
}

static void fmt_utc(char *b, size_t n, int64_t t) {
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(b, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Epoch seconds and their UTC rendering; nothing when unknown. */
static void set_time(mx_json *o, const char *key, const char *key_utc, int64_t t) {
    if (t == INT64_MAX || t == INT64_MIN) return;
    char b[32];
    fmt_utc(b, sizeof b, t);
    mx_json_set(o, key, mx_json_int((long long)t));
    mx_json_set(o, key_utc, mx_json_str(b));
}

/* Resolves a since/until argument (epoch number or a WHEN string). */
static int when_arg(const mx_json *v, mx_log_parser *p, int64_t now, int64_t *out) {
    if (!v) return 0;
    if (v->type == MX_JINT) { *out = (int64_t)v->u.i; return 0; }
    if (v->type == MX_JNUM) { *out = (int64_t)v->u.n; return 0; }
    if (v->type == MX_JSTR) return mx_log_parse_when(p, v->u.str.s, now, out);
    return -1;
}

/* Opens the stream the args describe: files (or options.log_files, or the
 * usual locations and their rotations) and the filter.  Keeps the strings
 * the filter points to in args.  NULL with err set. */
static mx_log_stream *open_stream(mx_rt *rt, mx_json *args, char *err, size_t errlen) {
    int64_t now = (int64_t)time(NULL);
    int utc = 0;
    mx_json *u = mx_json_get(args, "utc");
    if (u && u->type == MX_JBOOL) utc = u->u.b;
    mx_log_parser tp;
    mx_log_parser_init(&tp, now, utc);
    mx_log_filter f;
    mx_log_filter_init(&f);
    if (when_arg(mx_json_get(args, "since"), &tp, now, &f.since) < 0 ||
        when_arg(mx_json_get(args, "until"), &tp, now, &f.until) < 0) {
        snprintf(err, errlen, "unreadable since/until");
        return NULL;
    }
    f.domain = mx_json_get_str(args, "domain");
    const char *cause = mx_json_get_str(args, "cause");
    if (cause) f.cause = mx_log_cause_from_name(cause);
    mx_json *fo = mx_json_get(args, "failures");
    if (fo && fo->type == MX_JBOOL) f.failures_only = fo->u.b;

    mx_json *files = mx_json_get(args, "files");
    if (!files) {
        mx_json *o = mx_rt_options(rt);
        files = o ? mx_json_get(o, "log_files") : NULL;
    }
    const char *paths[MAX_FILES];
    size_t np = 0;
    char **found = NULL;
    size_t nfound = 0;
    if (files && files->type == MX_JARR) {
        for (size_t i = 0; i < files->u.c.len && np < MAX_FILES; i++)
            if (files->u.c.items[i]->type == MX_JSTR) paths[np++] = files->u.c.items[i]->u.str.s;
    } else {
        for (size_t i = 0; mx_log_default_paths[i]; i++) mx_log_find_rotations(mx_log_default_paths[i], &found, &nfound);
        for (size_t i = 0; i < nfound && np < MAX_FILES; i++) paths[np++] = found[i];
    }
    mx_log_stream *st = mx_log_stream_new(paths, np, now, utc, &f); /* copies the paths */
    for (size_t i = 0; i < nfound; i++) free(found[i]);
    free(found);
    return st;
}

/* What every result carries about the reading itself. */
static void stats_json(mx_json *res, mx_log_stream *st) {
    const mx_log_stats *s = mx_log_stream_stats(st);
    mx_json_set(res, "lines", mx_json_int((long long)s->lines));
    mx_json_set(res, "matched", mx_json_int((long long)s->events));
    mx_json_set(res, "unparsed", mx_json_int((long long)s->unparsed));
    const mx_log_file_stat *fs;
    size_t nf = mx_log_stream_files(st, &fs);
    mx_json *arr = mx_json_set(res, "files", mx_json_arr());
    for (size_t i = 0; i < nf; i++) {
        mx_json *o = mx_json_push(arr, mx_json_obj());
        mx_json_set(o, "path", mx_json_str(fs[i].path));
        mx_json_set(o, "ok", mx_json_bool(fs[i].ok));
        mx_json_set(o, "lines", mx_json_int((long long)fs[i].lines));
        if (fs[i].error[0]) mx_json_set(o, "error", mx_json_str(fs[i].error));
    }
}

static void set_slice(mx_json *o, const char *key, mx_log_str s, size_t max) {
    if (!s.p || !s.n) return;
    mx_json_set(o, key, mx_json_strn(s.p, s.n < max ? s.n : max));
}

static mx_json *event_json(const mx_log_event *ev) {
    mx_json *o = mx_json_obj();
    set_time(o, "time", "time_utc", ev->time);
    set_slice(o, "queue_id", ev->queue_id, 64);
    set_slice(o, "recipient", ev->recipient, 320);
    if (ev->domain.n) {
        char d[256];
        size_t n = ev->domain.n < sizeof d - 1 ? ev->domain.n : sizeof d - 1;
        for (size_t i = 0; i < n; i++) d[i] = (ev->domain.p[i] >= 'A' && ev->domain.p[i] <= 'Z') ? (char)(ev->domain.p[i] + 32) : ev->domain.p[i];
        d[n] = 0;
        mx_json_set(o, "domain", mx_json_str(d));
    }
    set_slice(o, "relay", ev->relay_host, 256);
    set_slice(o, "address", ev->relay_addr, 64);
    if (ev->port) mx_json_set(o, "port", mx_json_int(ev->port));
    set_slice(o, "source", ev->source, 128);
    set_slice(o, "dsn", ev->dsn, 16);
    mx_json_set(o, "status", mx_json_str(mx_log_status_name(ev->status)));
    mx_json_set(o, "cause", mx_json_str(ev->cause == MX_LOG_CAUSE_NONE ? "none" : mx_log_cause_name(ev->cause)));
    set_slice(o, "reply", ev->text, TEXT_MAX);
    mx_json_set(o, "mta", mx_json_str(mx_log_mta_name(ev->mta)));
    mx_json_set(o, "local", mx_json_bool(ev->local));
    return o;
}

static void start_events(mx_rt *rt, mx_json *args, mx_gate_req *req) {
    char err[256];
    mx_json *res = mx_json_obj();
    mx_log_stream *st = open_stream(rt, args, err, sizeof err);
    if (!st) {
        mx_json_set(res, "error", mx_json_str(err));
        finish(rt, req, res);
        return;
    }
    mx_json *lim = mx_json_get(args, "limit");
    long long limit = lim && lim->type == MX_JINT ? lim->u.i : DEFAULT_EVENTS;
    mx_json *evs = mx_json_set(res, "events", mx_json_arr());
    mx_log_event ev;
    long long n = 0;
    int truncated = 0;
    while (mx_log_stream_next(st, &ev) == 1) {
        if (n == limit) { truncated = 1; continue; } /* keep counting what matched */
        mx_json_push(evs, event_json(&ev));
        n++;
    }
    mx_json_set(res, "truncated", mx_json_bool(truncated));
    stats_json(res, st);
    mx_log_stream_free(st);
    finish(rt, req, res);
}

static mx_json *group_json(const mx_agg_group *g) {
    mx_json *o = mx_json_obj();
    mx_json_set(o, "key", mx_json_str(g->key));
    mx_json_set(o, "events", mx_json_int((long long)g->events));
    mx_json_set(o, "attempts", mx_json_int((long long)g->attempts));
    mx_json_set(o, "failures", mx_json_int((long long)g->ext_fail));
    mx_json_set(o, "successes", mx_json_int((long long)g->ext_ok));
    mx_json_set(o, "failed_attempts", mx_json_int((long long)g->att_fail));
    mx_json_set(o, "local", mx_json_int((long long)g->local));
    mx_json_set(o, "messages", mx_json_int((long long)mx_agg_distinct_count(&g->msgs)));
    mx_json_set(o, "recipients", mx_json_int((long long)mx_agg_distinct_count(&g->rcpts)));
    mx_json_set(o, "domains", mx_json_int((long long)mx_agg_distinct_count(&g->domains)));
    mx_json_set(o, "addresses", mx_json_int((long long)mx_agg_distinct_count(&g->addrs)));
    mx_json_set(o, "exact", mx_json_bool(mx_agg_distinct_exact(&g->msgs) && mx_agg_distinct_exact(&g->rcpts) &&
                                         mx_agg_distinct_exact(&g->domains) && mx_agg_distinct_exact(&g->addrs)));
    set_time(o, "first_seen", "first_seen_utc", g->first);
    set_time(o, "last_seen", "last_seen_utc", g->last);
    set_time(o, "first_failure", "first_failure_utc", g->first_fail);
    set_time(o, "last_failure", "last_failure_utc", g->last_fail);
    set_time(o, "last_success", "last_success_utc", g->last_ok);
    mx_json *st = mx_json_set(o, "by_status", mx_json_obj());
    for (int s = 0; s < MX_LOG_STATUS__COUNT; s++)
        if (g->by_status[s]) mx_json_set(st, mx_log_status_name(s), mx_json_int((long long)g->by_status[s]));
    mx_json *bc = mx_json_set(o, "by_cause", mx_json_obj());
    for (int c = 0; c < MX_LOG_CAUSE_MAX; c++)
        if (g->by_cause[c])
            mx_json_set(bc, c == MX_LOG_CAUSE_NONE ? "none" : mx_log_cause_name(c), mx_json_int((long long)g->by_cause[c]));
    return o;
}

static void start_aggregate(mx_rt *rt, mx_json *args, mx_gate_req *req) {
    char err[256];
    mx_json *res = mx_json_obj();
    mx_log_stream *st = open_stream(rt, args, err, sizeof err);
    if (!st) {
        mx_json_set(res, "error", mx_json_str(err));
        finish(rt, req, res);
        return;
    }
    const char *by = mx_json_get_str(args, "by");
    mx_agg_dim dim = MX_AGG_DOMAIN;
    for (size_t i = 0; by && by_names[i]; i++)
        if (strcmp(by, by_names[i]) == 0) dim = by_dims[i];
    mx_json *top = mx_json_get(args, "top");
    long long ntop = top && top->type == MX_JINT ? top->u.i : -1;
    mx_log_agg *agg = mx_log_agg_new(0);
    mx_log_event ev;
    while (mx_log_stream_next(st, &ev) == 1) mx_log_agg_add(agg, &ev);
    const mx_agg_group *const *gs;
    size_t n = mx_log_agg_list(agg, dim, &gs);
    mx_json *arr = mx_json_set(res, "groups", mx_json_arr());
    for (size_t i = 0; i < n && (ntop < 0 || (long long)i < ntop); i++) mx_json_push(arr, group_json(gs[i]));
    mx_json *total = group_json(mx_log_agg_total(agg));
    mx_json_set(total, "key", mx_json_str("(total)"));
    mx_json_set(res, "total", total);
    mx_json_set(res, "dropped", mx_json_int((long long)mx_log_agg_dropped(agg, dim)));
    stats_json(res, st);
    mx_log_agg_free(agg);
    mx_log_stream_free(st);
    finish(rt, req, res);
}

/* ---- Lua side ---- */

static const char *const filter_fields[] = {"by", "cause", "domain", "failures", "files", "limit", "since", "top",
                                            "until", "utc", NULL};

/* Checks field k (its value on top of the stack) and sets it in a; returns
 * NULL or what is wrong. [-0, +0, m] */
static const char *filter_field(lua_State *L, mx_json *a, const char *k, int aggregate) {
    int t = lua_type(L, -1);
    if (t == LUA_TNIL) return NULL;
    if (strcmp(k, "files") == 0) {
        mx_json *fl = mx_json_set(a, "files", mx_json_arr());
        if (t == LUA_TSTRING) {
            mx_json_push(fl, mx_json_str(lua_tostring(L, -1)));
            return NULL;
        }
        if (t != LUA_TTABLE) return "files: a path or a list of paths";
        lua_Integer n = luaL_len(L, -1);
        if (n > MAX_FILES) return "files: at most 64 files";
        for (lua_Integer i = 1; i <= n; i++) {
            int ok = lua_geti(L, -1, i) == LUA_TSTRING;
            if (ok) mx_json_push(fl, mx_json_str(lua_tostring(L, -1)));
            lua_pop(L, 1);
            if (!ok) return "files: a list of path strings";
        }
        return NULL;
    }
    if (strcmp(k, "since") == 0 || strcmp(k, "until") == 0) {
        if (t == LUA_TNUMBER) {
            mx_json_set(a, k, mx_json_int((long long)lua_tointeger(L, -1)));
            return NULL;
        }
        if (t != LUA_TSTRING) return "since/until: a number or a string";
        mx_log_parser p;
        int64_t now = (int64_t)time(NULL), v;
        mx_log_parser_init(&p, now, 1);
        if (mx_log_parse_when(&p, lua_tostring(L, -1), now, &v) < 0)
            return "since/until: epoch seconds, \"2h\", \"3d\", \"2024-03-01\" or \"2024-03-01T10:00Z\"";
        /* kept as written, resolved when the call starts: a replay's key does not depend on the clock */
        mx_json_set(a, k, mx_json_str(lua_tostring(L, -1)));
        return NULL;
    }
    if (strcmp(k, "domain") == 0) {
        if (t != LUA_TSTRING) return "domain: a string";
        mx_json_set(a, k, mx_json_str(lua_tostring(L, -1)));
        return NULL;
    }
    if (strcmp(k, "cause") == 0) {
        if (t != LUA_TSTRING || mx_log_cause_from_name(lua_tostring(L, -1)) < 0)
            return "cause: refused, timeout, unreachable, net_unreachable, greeting_lost, greeting_reject, "
                   "rcpt_reject, dns_fail, domain_not_found, null_mx, tls_fail, rbl_reject, sender_identity, sender_reputation or other";
        mx_json_set(a, k, mx_json_str(lua_tostring(L, -1)));
        return NULL;
    }
    if (strcmp(k, "failures") == 0 || strcmp(k, "utc") == 0) {
        if (t != LUA_TBOOLEAN) return "failures/utc: a boolean";
        mx_json_set(a, k, mx_json_bool(lua_toboolean(L, -1)));
        return NULL;
    }
    if (!aggregate && strcmp(k, "limit") == 0) {
        lua_Integer v = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
        if (v < 1 || v > MAX_EVENTS) return "limit: an integer from 1 to 100000";
        mx_json_set(a, k, mx_json_int((long long)v));
        return NULL;
    }
    if (aggregate && strcmp(k, "by") == 0) {
        const char *v = t == LUA_TSTRING ? lua_tostring(L, -1) : "";
        for (size_t i = 0; by_names[i]; i++)
            if (strcmp(v, by_names[i]) == 0) {
                mx_json_set(a, k, mx_json_str(v));
                return NULL;
            }
        return "by: \"domain\", \"address\", \"cause\" or \"source\"";
    }
    if (aggregate && strcmp(k, "top") == 0) {
        lua_Integer v = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
        if (v < 1) return "top: a positive integer";
        mx_json_set(a, k, mx_json_int((long long)v));
        return NULL;
    }
    return aggregate ? "unknown field (files, since, until, domain, cause, failures, utc, by, top)"
                     : "unknown field (files, since, until, domain, cause, failures, utc, limit)";
}

/* Checks the filter table at idx and copies it into a new args object with
 * its fields in a fixed order (the call's key must not depend on table
 * iteration order, or --replay would miss).  Unknown fields and bad values
 * raise, naming the field. [-0, +0, v] */
static mx_json *filter_args(lua_State *L, int idx, int aggregate) {
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int known = 0;
        if (lua_type(L, -2) == LUA_TSTRING)
            for (size_t i = 0; filter_fields[i]; i++) known |= strcmp(lua_tostring(L, -2), filter_fields[i]) == 0;
        lua_pop(L, 1);
        if (!known) {
            lua_pop(L, 1);
            return luaL_argerror(L, idx, aggregate ? "unknown field (files, since, until, domain, cause, failures, utc, by, top)"
                                                   : "unknown field (files, since, until, domain, cause, failures, utc, limit)"),
                   NULL;
        }
    }
    mx_json *a = mx_json_obj();
    for (size_t i = 0; filter_fields[i]; i++) {
        lua_getfield(L, idx, filter_fields[i]);
        const char *bad = filter_field(L, a, filter_fields[i], aggregate);
        lua_pop(L, 1);
        if (bad) {
            mx_json_free(a);
            return luaL_argerror(L, idx, bad), NULL;
        }
    }
    return a;
}

/* Pushes nil, "error", detail when the result is an error. [-0, +3|0, m] */
static int push_error(lua_State *L, mx_json *res) {
    const char *e = mx_json_get_str(res, "error");
    if (!e) return 0;
    lua_pushnil(L);
    lua_pushliteral(L, "error");
    mx_lua_push_json(L, res);
    return 3;
}

typedef struct ev_iter {
    mx_json *events; /* owned; NULL once closed */
    size_t next;
} ev_iter;

/* __gc and __close of the iterator state. [-0, +0, -] */
static int iter_close(lua_State *L) {
    ev_iter *it = luaL_checkudata(L, 1, ITER_MT);
    mx_json_free(it->events);
    it->events = NULL;
    return 0;
}

/* The iterator: next event table, or nil at the end. [-0, +1, m] */
static int iter_next(lua_State *L) {
    ev_iter *it = luaL_checkudata(L, lua_upvalueindex(1), ITER_MT);
    if (!it->events || it->next >= it->events->u.c.len) {
        lua_pushnil(L);
        return 1;
    }
    mx_lua_push_json(L, it->events->u.c.items[it->next]);
    /* the event is in Lua now: free its C copy as we go */
    mx_json_free(it->events->u.c.items[it->next]);
    it->events->u.c.items[it->next] = mx_json_null();
    it->next++;
    return 1;
}

/* iterator, info  [-0, +2|3, m] */
static int push_events(lua_State *L, mx_json *res, void *h) {
    (void)h;
    if (push_error(L, res)) return 3;
    ev_iter *it = lua_newuserdatauv(L, sizeof *it, 0);
    it->events = NULL;
    it->next = 0;
    luaL_setmetatable(L, ITER_MT);
    /* take the events array out of the result (freed by the caller); a
     * replayed result is the recording's: copied */
    int borrowed = mx_rt_result_borrowed(L);
    for (size_t i = 0; i < res->u.c.len; i++)
        if (strcmp(res->u.c.keys[i], "events") == 0 && res->u.c.items[i]->type == MX_JARR) {
            if (borrowed) it->events = mx_json_clone(res->u.c.items[i]);
            else {
                it->events = res->u.c.items[i];
                res->u.c.items[i] = mx_json_null();
            }
        }
    lua_pushcclosure(L, iter_next, 1);
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, it->events ? (lua_Integer)it->events->u.c.len : 0);
    lua_setfield(L, -2, "count");
    mx_json *m = mx_json_get(res, "matched"), *tr = mx_json_get(res, "truncated");
    lua_pushinteger(L, m && m->type == MX_JINT ? (lua_Integer)m->u.i : 0);
    lua_setfield(L, -2, "matched");
    lua_pushboolean(L, tr && tr->type == MX_JBOOL && tr->u.b);
    lua_setfield(L, -2, "truncated");
    mx_json *ln = mx_json_get(res, "lines"), *un = mx_json_get(res, "unparsed");
    lua_pushinteger(L, ln && ln->type == MX_JINT ? (lua_Integer)ln->u.i : 0);
    lua_setfield(L, -2, "lines");
    lua_pushinteger(L, un && un->type == MX_JINT ? (lua_Integer)un->u.i : 0);
    lua_setfield(L, -2, "unparsed");
    mx_lua_push_json(L, mx_json_get(res, "files"));
    lua_setfield(L, -2, "files");
    return 2;
}

/* log.events{...} -> iterator, info | nil, "error", detail */
static int l_events(lua_State *L) {
    mx_json *args = filter_args(L, 1, 0);
    /* not cacheable: a run should not keep 100 000 events in its cache */
    return mx_gate_call(L, "log.events", args, 0, start_events, push_events, NULL);
}

/* result table  [-0, +1|3, m] */
static int push_aggregate(lua_State *L, mx_json *res, void *h) {
    (void)h;
    if (push_error(L, res)) return 3;
    mx_lua_push_json(L, res);
    return 1;
}

/* log.aggregate{..., by=} -> {groups={...}, total=, dropped=, lines=, matched=, unparsed=, files=} */
static int l_aggregate(lua_State *L) {
    mx_json *args = filter_args(L, 1, 1);
    if (!mx_json_get(args, "by")) mx_json_set(args, "by", mx_json_str("domain"));
    return mx_gate_call(L, "log.aggregate", args, 1, start_aggregate, push_aggregate, NULL);
}

/* log.causes() -> the cause names, in classification order */
static int l_causes(lua_State *L) {
    lua_createtable(L, mx_log_cause_count() - 1, 0);
    for (int c = 1; c < mx_log_cause_count(); c++) {
        lua_pushstring(L, mx_log_cause_name(c));
        lua_rawseti(L, -2, c);
    }
    return 1;
}

static const luaL_Reg log_funcs[] = {
    {"events", l_events},
    {"aggregate", l_aggregate},
    {"causes", l_causes},
    {NULL, NULL},
};

static const luaL_Reg iter_meta[] = {
    {"__gc", iter_close},
    {"__close", iter_close},
    {NULL, NULL},
};

int luaopen_mx_log(lua_State *L) {
    if (luaL_newmetatable(L, ITER_MT)) {
        luaL_setfuncs(L, iter_meta, 0);
        lua_pushliteral(L, "locked");
        lua_setfield(L, -2, "__metatable");
    }
    lua_pop(L, 1);
    luaL_newlib(L, log_funcs);
    return 1;
}
