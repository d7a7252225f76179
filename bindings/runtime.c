/* Runtime: Lua state, sandbox, rule loader, scheduler, checks and the call gate. */
#include "runtime.h"
#include "escape.h"
#include "outfile.h"
#include "tls.h"
#include "strmap.h"
#include "trust.h"
#include <dirent.h>
#include <errno.h>
#include <lualib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_RULES 512
#define HOOK_EVERY 1000

/* The value primitives yield with, so that wrapped coroutine.resume can tell
 * an engine yield from a rule's own. */
static char engine_marker;
#define MARKER ((void *)&engine_marker)

enum { RULE_PENDING, RULE_RUNNING, RULE_DONE, RULE_SKIPPED, RULE_FAILED };
static const char *rule_state_names[] = {"pending", "running", "done", "skipped", "failed"};

typedef struct mx_rule {
    char *id;
    char *file;
    char *description;
    int ref;                /* the validated rule table */
    char **requires;
    size_t nrequires;
    char **provides;
    size_t nprovides;
    char **wants;           /* optional facts: waited for while a rule may still publish them */
    size_t nwants;
    char **categories;
    size_t ncategories;
    int timeout_ms;         /* 0: derived from the network timeout */
    int logs;               /* kind = "logs": judges `mxdiag logs`' aggregates, never runs in a check */
    int enabled;
    int order;
} mx_rule;

typedef struct rule_run {
    int state;
    int root_slot;
    uint32_t root_gen;
    mx_timer *deadline;
    int64_t started, ended;
    uint64_t instructions;
    char *why;              /* skip or failure reason */
    void *deadline_ud;      /* freed when the deadline timer is cancelled */
    const char *aborted;    /* budget/deadline/memory: pcall may not catch it */
    int64_t own_us;         /* time spent running this rule's Lua code */
    int ntasks;             /* live tasks of this rule run */
    int64_t lua_us_at_start; /* rt->lua_us when it started */
    int64_t granted_ms;     /* deadline extensions for other rules' CPU time */
    int64_t queued_ms;      /* time its calls waited for a connection slot (mx_gate_wait_*) */
    int nqueued;            /* its calls waiting now, since queued_since */
    int64_t queued_since;
    int err_line;           /* where the rule failed (0: unknown) */
    char err_src[512];
} rule_run;

typedef struct mx_task mx_task;
struct mx_task {
    int alive;
    uint32_t gen;
    int slot;
    lua_State *co;
    int co_ref;
    mx_check *check;
    int rule;
    int parent_slot;        /* -1 for a rule's root task */
    uint32_t parent_gen;
    int child_index;
    /* waiting for children (task.all) */
    int pending_children;
    int results_ref;
    char *child_error;
    /* resume payload */
    int queued;
    int nargs_fixed;        /* resume with this many values pushed by push */
    mx_json *result;
    void *handle;
    mx_push_fn push;
    mx_discard_fn discard;
    int start_fn_ref;       /* child: the function to call first */
};

struct mx_check {
    mx_rt *rt;
    int id;
    int ntasks;             /* live tasks of this check */
    mx_target target;
    mx_json *target_json;
    int target_ref, facts_ref;
    char *resolvers;        /* this check's own resolvers (c-ares CSV), or NULL: the run's */
    rule_run *runs;
    int remaining;          /* rules not yet finished/skipped */
    int64_t start, end;
    time_t wall;            /* start, for --record and the letter */
    mx_report report;
    mx_check_done_fn done_fn;
    void *done_ud;
    int finished;
};

struct mx_gate_req {
    mx_rt *rt;
    int slot;
    uint32_t gen;
    char *key;
    char *prim;
    mx_json *args;
    int cacheable;
    mx_push_fn push;
    mx_discard_fn discard;
    int64_t start;
    int waiting, wait_check, wait_rule; /* mx_gate_wait_begin: whose deadline it moves */
    /* identical cacheable calls made while this one is in flight wait here */
    struct gate_waiter *waiters;
    size_t nwaiters;
};

typedef struct gate_waiter {
    int slot;
    uint32_t gen;
    mx_push_fn push;
    mx_discard_fn discard;
} gate_waiter;

/* The run's answer cache is bounded (oldest answers go first) so that a
 * batch of a million domains runs in constant memory. */
#define GATE_CACHE_MAX 65536

typedef struct replay_entry {
    char *key;
    mx_json *result;
    int used;
} replay_entry;

#if defined(__SANITIZE_ADDRESS__)
#define MX_RT_SLAB 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MX_RT_SLAB 0
#endif
#endif
#ifndef MX_RT_SLAB
#define MX_RT_SLAB 1
#endif
#define SLAB_GRAIN 16
#define SLAB_MAX 512
typedef struct slab_free { struct slab_free *next; } slab_free;
typedef struct slab_chunk {
    struct slab_chunk *next;
    _Alignas(16) unsigned char mem[65536 - 16];
} slab_chunk;
typedef struct rt_slab {
    slab_free *free[SLAB_MAX / SLAB_GRAIN];
    slab_chunk *chunks;
    unsigned char *bump;
    size_t left;
} rt_slab;

struct mx_rt {
    mx_rt_opts opts;
    lua_State *L;
    mx_loop *loop;
    mx_dns *dns;
    mx_rule rules[MAX_RULES];
    int nrules;
    mx_task *tasks;
    int ntasks, tasks_cap;
    int *free_slots;
    int nfree;
    int *ready;             /* slots */
    uint32_t *ready_gen;
    int nready, ready_cap;
    mx_check **checks;
    int nchecks, checks_cap;
    int active_checks;
    int next_check_id;
    mx_task *current;
    size_t mem_used, mem_limit;
    int in_rule;
    int64_t t0;
    /* gate */
    mx_strmap cache;        /* key -> mx_json result */
    char **cache_fifo;      /* insertion order ring, for eviction */
    size_t cache_head;
    mx_strmap inflight;     /* key -> mx_gate_req of a cacheable call in flight */
    int stopping;           /* mx_rt_stop: mx_rt_run returns */
    mx_json *recording;     /* array of calls */
    replay_entry *replay;
    size_t nreplay;
    int env_proto_ref;      /* table of allowed globals */
    int shipped_libs_ref;   /* the shipped rules' library table (LUA_NOREF until made) */
    int pending_calls;      /* primitives started and not yet done */
    struct rt_event *events; /* task.event(): one-shot condition variables */
    int nevents, events_cap;
    rule_run *acct;         /* whose instructions the hook counts (NULL: none) */
    int acct_rule;
    uint64_t load_instructions; /* top-level code of rule files while loading */
    const char *load_aborted;   /* the file being loaded hit its budget */
    int loading;
    long long *rec_durations; /* --replay: each check's recorded duration_ms */
    char **rec_started;       /* --replay: each check's recorded start (UTC) */
    char *rec_servers;        /* --replay: the recorded run's dns.servers() */
    size_t nrec;
    size_t replay_misses;     /* --replay: calls not in the recording */
    int64_t lua_us;           /* time spent in all rules' Lua code */
    SSL_CTX *tls_ctx;       /* lazily, see mx_rt_tls_ctx */
    char *tls_ctx_err;
    rt_slab slab;           /* small Lua objects, see rt_alloc */
    int options_ro_ref;     /* read-only view of the run's options (has_options_ro) */
    mx_json *pushing_hit;   /* a cached answer being pushed (see mx_gate_call) */
    mx_strmap dns_by_resolvers; /* c-ares CSV -> mx_dns, for checks with their own resolvers */
    int has_options_ro;
};

/* ------------------------------------------------------------------ memory */

/* Lua tells the allocator each block's size when it frees or resizes it, so
 * small blocks (strings, tables, closures, coroutines: most of a batch run's
 * allocations) come from per-size free lists carved out of 64 KiB chunks,
 * with no header and no malloc call. Chunks are kept until the state is
 * closed; the memory caps count bytes as before. Sanitizer builds use plain
 * malloc so ASan still sees every Lua block. */
static void *slab_get(rt_slab *sl, size_t size) {
    int k = (int)((size + SLAB_GRAIN - 1) / SLAB_GRAIN) - 1;
    slab_free *f = sl->free[k];
    if (f) {
        sl->free[k] = f->next;
        return f;
    }
    size_t obj = (size_t)(k + 1) * SLAB_GRAIN;
    if (sl->left < obj) {
        slab_chunk *c = malloc(sizeof *c);
        if (!c) return NULL;
        c->next = sl->chunks;
        sl->chunks = c;
        sl->bump = c->mem;
        sl->left = sizeof c->mem;
    }
    void *p = sl->bump;
    sl->bump += obj;
    sl->left -= obj;
    return p;
}
static void slab_put(rt_slab *sl, void *p, size_t size) {
    int k = (int)((size + SLAB_GRAIN - 1) / SLAB_GRAIN) - 1;
    slab_free *f = p;
    f->next = sl->free[k];
    sl->free[k] = f;
}
static void slab_release(rt_slab *sl) {
    while (sl->chunks) {
        slab_chunk *n = sl->chunks->next;
        free(sl->chunks);
        sl->chunks = n;
    }
    memset(sl, 0, sizeof *sl);
}
#define SLAB_SMALL(n) (MX_RT_SLAB && (n) <= SLAB_MAX)

static void *rt_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    mx_rt *rt = ud;
    if (!ptr) osize = 0;
    if (nsize == 0) {
        if (ptr && SLAB_SMALL(osize)) slab_put(&rt->slab, ptr, osize);
        else free(ptr);
        rt->mem_used -= osize;
        return NULL;
    }
    if (nsize > osize && rt->mem_used + (nsize - osize) > rt->mem_limit) return NULL;
    void *p;
    if (ptr && SLAB_SMALL(osize) && SLAB_SMALL(nsize)
        && (osize + SLAB_GRAIN - 1) / SLAB_GRAIN == (nsize + SLAB_GRAIN - 1) / SLAB_GRAIN) {
        p = ptr;                              /* same size class */
    } else if (SLAB_SMALL(nsize) || (ptr && SLAB_SMALL(osize))) {
        p = SLAB_SMALL(nsize) ? slab_get(&rt->slab, nsize) : malloc(nsize);
        if (!p) return NULL;
        if (ptr) {
            memcpy(p, ptr, osize < nsize ? osize : nsize);
            if (SLAB_SMALL(osize)) slab_put(&rt->slab, ptr, osize);
            else free(ptr);
        }
    } else {
        p = realloc(ptr, nsize);
        if (!p) return NULL;
    }
    rt->mem_used = rt->mem_used - osize + nsize;
    return p;
}

/* ------------------------------------------------------------------ trace */

int mx_rt_tracing(mx_rt *rt) { return rt->opts.trace; }
void mx_rt_trace(mx_rt *rt, const char *fmt, ...) {
    if (!rt->opts.trace) return;
    /* keys and results hold names and replies from outside: escaped as a line */
    char prefix[32];
    snprintf(prefix, sizeof prefix, "[%6lld ms] ", (long long)(mx_now_ms() - rt->t0));
    va_list ap;
    va_start(ap, fmt);
    mx_esc_vline(stderr, prefix, fmt, ap);
    va_end(ap);
}

mx_rt *mx_rt_from_L(lua_State *L) {
    mx_rt *rt;
    lua_getallocf(L, (void **)&rt);
    return rt;
}
mx_loop *mx_rt_loop(mx_rt *rt) { return rt->loop; }
int mx_rt_per_host(mx_rt *rt) { return rt->opts.per_host; }
int mx_rt_max_connections(mx_rt *rt) { return rt->opts.max_connections; }
mx_dns *mx_rt_dns(mx_rt *rt) { return rt->dns; }
const char *mx_rt_replay_servers(mx_rt *rt) { return rt->replay ? rt->rec_servers : NULL; }

const char *mx_rt_check_resolvers(mx_rt *rt) {
    return rt->current && rt->current->check ? rt->current->check->resolvers : NULL;
}
static void free_dns(void *d) { mx_dns_free(d); }
mx_dns *mx_rt_dns_for(mx_rt *rt, const char *resolvers) {
    if (!resolvers || !rt->dns) return rt->dns; /* no override, or a replay */
    mx_dns *d = mx_strmap_get(&rt->dns_by_resolvers, resolvers);
    if (d) return d;
    char err[256];
    mx_dns_opts dopts = {resolvers, rt->opts.timeout_ms, 0, rt->opts.qps};
    d = mx_dns_new(rt->loop, &dopts, err, sizeof err);
    if (!d) return rt->dns; /* validated when the list was read; cannot happen */
    mx_strmap_put(&rt->dns_by_resolvers, resolvers, d);
    return d;
}
int mx_rt_timeout_ms(mx_rt *rt) { return rt->opts.timeout_ms; }
const char *mx_rt_dnsbl_key(mx_rt *rt) { return rt->opts.dnsbl_key; }
mx_json *mx_rt_options(mx_rt *rt) { return rt->opts.options; }
SSL_CTX *mx_rt_tls_ctx(mx_rt *rt, char *err, size_t errlen) {
    if (!rt->tls_ctx && !rt->tls_ctx_err) {
        char e[512] = "";
        rt->tls_ctx = mx_tls_ctx_new(rt->opts.ca_file, e, sizeof e);
        if (!rt->tls_ctx) rt->tls_ctx_err = mx_xstrdup(e[0] ? e : "cannot create the TLS context");
    }
    if (!rt->tls_ctx && err) snprintf(err, errlen, "%s", rt->tls_ctx_err);
    return rt->tls_ctx;
}
size_t mx_rt_replay_misses(mx_rt *rt) { return rt->replay_misses; }
int mx_rt_replaying(mx_rt *rt) { return rt->replay != NULL || rt->opts.replay_path != NULL; }

/* ------------------------------------------------------------ json <-> lua */

static int ro_kind(lua_State *L, int idx);

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
            lua_setfield(L, -2, v->u.c.keys[i]);
        }
        break;
    }
}

static int keycmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static mx_json *to_json_rec(lua_State *L, int idx, int depth) {
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TNIL: return mx_json_null();
    case LUA_TBOOLEAN: return mx_json_bool(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) return mx_json_int((long long)lua_tointeger(L, idx));
        return mx_json_num(lua_tonumber(L, idx));
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        return mx_json_strn(s, n);
    }
    case LUA_TTABLE: {
        if (depth > 32) return mx_json_str("(nested too deep)");
        if (ro_kind(L, idx) == 2) {
            /* a read-only view (a fact, an option) converts as its table */
            mx_json *j = to_json_rec(L, -1, depth);
            lua_pop(L, 1);
            return j;
        }
        luaL_checkstack(L, 6, "json conversion");
        lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
        /* A sequence 1..n with nothing else is an array. */
        size_t count = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) { count++; lua_pop(L, 1); }
        if (count == 0) {
            /* empty: arrays are more common in evidence lists; a table marked
             * with __json = "object" stays an object */
            if (luaL_getmetafield(L, idx, "__json") != LUA_TNIL) { lua_pop(L, 1); return mx_json_obj(); }
            return mx_json_arr();
        }
        if (n > 0 && (size_t)n == count) {
            mx_json *a = mx_json_arr();
            for (lua_Integer i = 1; i <= n; i++) {
                lua_rawgeti(L, idx, i);
                mx_json_push(a, to_json_rec(L, -1, depth + 1));
                lua_pop(L, 1);
            }
            return a;
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
        qsort(keys, k, sizeof *keys, keycmp);
        mx_json *o = mx_json_obj();
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
            mx_json_set(o, keys[i], to_json_rec(L, -1, depth + 1));
            lua_pop(L, 1);
            free(keys[i]);
        }
        free(keys);
        return o;
    }
    default:
        return mx_json_str(luaL_typename(L, idx));
    }
}
mx_json *mx_lua_to_json(lua_State *L, int idx) { return to_json_rec(L, idx, 0); }

/* ------------------------------------------------------------------ tasks */

static mx_task *task_get(mx_rt *rt, int slot, uint32_t gen) {
    if (slot < 0 || slot >= rt->ntasks) return NULL;
    mx_task *t = &rt->tasks[slot];
    return t->alive && t->gen == gen ? t : NULL;
}

static mx_task *task_new(mx_rt *rt, mx_check *c, int rule) {
    int slot;
    if (rt->nfree) slot = rt->free_slots[--rt->nfree];
    else {
        if (rt->ntasks == rt->tasks_cap) {
            rt->tasks_cap = rt->tasks_cap ? rt->tasks_cap * 2 : 64;
            rt->tasks = mx_xrealloc(rt->tasks, (size_t)rt->tasks_cap * sizeof *rt->tasks);
            rt->free_slots = mx_xrealloc(rt->free_slots, (size_t)rt->tasks_cap * sizeof *rt->free_slots);
        }
        slot = rt->ntasks++;
        rt->tasks[slot].gen = 0;
    }
    mx_task *t = &rt->tasks[slot];
    uint32_t gen = t->gen + 1;
    memset(t, 0, sizeof *t);
    t->alive = 1;
    t->gen = gen;
    t->slot = slot;
    t->check = c;
    t->rule = rule;
    c->runs[rule].ntasks++;
    c->ntasks++;
    t->parent_slot = -1;
    t->results_ref = LUA_NOREF;
    t->start_fn_ref = LUA_NOREF;
    t->co = lua_newthread(rt->L);
    t->co_ref = luaL_ref(rt->L, LUA_REGISTRYINDEX);
    return t;
}

static void task_kill(mx_rt *rt, mx_task *t) {
    if (!t->alive) return;
    t->alive = 0;
    t->check->runs[t->rule].ntasks--;
    t->check->ntasks--;
    if (t->result) { mx_json_free(t->result); t->result = NULL; }
    if (t->handle && t->discard) t->discard(t->handle);
    t->handle = NULL;
    luaL_unref(rt->L, LUA_REGISTRYINDEX, t->co_ref);
    luaL_unref(rt->L, LUA_REGISTRYINDEX, t->results_ref);
    luaL_unref(rt->L, LUA_REGISTRYINDEX, t->start_fn_ref);
    free(t->child_error);
    t->child_error = NULL;
    t->co = NULL;
    rt->free_slots[rt->nfree++] = t->slot;
}

static void make_ready(mx_rt *rt, mx_task *t) {
    if (t->queued) return;
    t->queued = 1;
    if (rt->nready == rt->ready_cap) {
        rt->ready_cap = rt->ready_cap ? rt->ready_cap * 2 : 64;
        rt->ready = mx_xrealloc(rt->ready, (size_t)rt->ready_cap * sizeof *rt->ready);
        rt->ready_gen = mx_xrealloc(rt->ready_gen, (size_t)rt->ready_cap * sizeof *rt->ready_gen);
    }
    rt->ready[rt->nready] = t->slot;
    rt->ready_gen[rt->nready] = t->gen;
    rt->nready++;
}

/* ------------------------------------------------------------------ gate */

static char *gate_key(const char *prim, const mx_json *args) {
    mx_buf b = MX_BUF_INIT;
    mx_buf_puts(&b, prim);
    mx_buf_putc(&b, ' ');
    mx_json_write(&b, args, -1);
    return mx_buf_steal(&b);
}

static void trace_result(mx_rt *rt, const char *key, const mx_json *res, const char *how) {
    if (!rt->opts.trace) return;
    mx_buf b = MX_BUF_INIT;
    mx_json_write(&b, res, -1);
    if (b.len > 600) { b.len = 600; mx_buf_puts(&b, "..."); }
    mx_rt_trace(rt, "<- %s%s %s", how, key, mx_buf_cstr(&b));
    mx_buf_free(&b);
}

/* The cache keeps compact JSON text, not trees: a tree costs several times
 * the text's size, and a million-domain batch keeps 65,536 answers. */
static void cache_put(mx_rt *rt, const char *key, const char *text) {
    if (!rt->cache_fifo) rt->cache_fifo = mx_xcalloc(GATE_CACHE_MAX, sizeof *rt->cache_fifo);
    char *old = mx_strmap_put(&rt->cache, key, mx_xstrdup(text));
    if (old) { free(old); return; }
    char **slot = &rt->cache_fifo[rt->cache_head];
    if (*slot) {
        free(mx_strmap_del(&rt->cache, *slot));
        free(*slot);
    }
    *slot = mx_xstrdup(key);
    rt->cache_head = (rt->cache_head + 1) % GATE_CACHE_MAX;
}

void mx_gate_done(mx_gate_req *req, mx_json *result, void *handle) {
    mx_rt *rt = req->rt;
    rt->pending_calls--;
    trace_result(rt, req->key, result, "");
    if (rt->recording) {
        mx_json *e = mx_json_obj();
        mx_json_set(e, "call", mx_json_str(req->prim));
        mx_json_set(e, "args", mx_json_clone(req->args));
        mx_json_set(e, "result", mx_json_clone(result));
        mx_json_push(rt->recording, e);
    }
    if (req->cacheable && !rt->replay) {
        /* Every caller, first or cached, gets the answer as it reads back
         * from JSON text (as a replay does): the same bytes for all. */
        mx_buf b = MX_BUF_INIT;
        if (!mx_json_write_check(&b, result)) {
            mx_json *norm = mx_json_parse(mx_buf_cstr(&b), b.len, NULL, 0);
            if (norm) { mx_json_free(result); result = norm; }
        }
        cache_put(rt, req->key, mx_buf_cstr(&b));
        mx_buf_free(&b);
        if (mx_strmap_get(&rt->inflight, req->key) == req) mx_strmap_del(&rt->inflight, req->key);
        for (size_t i = 0; i < req->nwaiters; i++) {
            gate_waiter *w = &req->waiters[i];
            mx_task *wt = task_get(rt, w->slot, w->gen);
            if (!wt) continue;
            wt->result = mx_json_clone(result);
            wt->handle = NULL;
            wt->push = w->push;
            wt->discard = w->discard;
            make_ready(rt, wt);
        }
        free(req->waiters);
    }
    mx_task *t = task_get(rt, req->slot, req->gen);
    if (!t) {
        /* The task was killed (deadline): drop the result. */
        mx_json_free(result);
        if (handle && req->discard) req->discard(handle);
    } else {
        t->result = result;
        t->handle = handle;
        t->push = req->push;
        t->discard = req->discard;
        make_ready(rt, t);
    }
    free(req->key);
    free(req->prim);
    mx_json_free(req->args);
    free(req);
}

typedef struct immediate {
    mx_gate_req *req;
    mx_json *result;
} immediate;

static void immediate_cb(mx_loop *loop, void *ud) {
    (void)loop;
    immediate *im = ud;
    mx_gate_done(im->req, im->result, NULL);
    free(im);
}

void mx_gate_done_later(mx_gate_req *req, mx_json *result) {
    immediate *im = mx_xmalloc(sizeof *im);
    im->req = req;
    im->result = result;
    mx_loop_defer(req->rt->loop, immediate_cb, im);
}

int mx_gate_call(lua_State *L, const char *prim, mx_json *args, int cacheable,
                 mx_start_fn start, mx_push_fn push, mx_discard_fn discard) {
    mx_rt *rt = mx_rt_from_L(L);
    mx_task *t = rt->current;
    if (!t || !lua_isyieldable(L)) {
        mx_json_free(args);
        return luaL_error(L, "%s: engine calls are only possible while a rule runs", prim);
    }
    mx_gate_req *req = mx_xcalloc(1, sizeof *req);
    req->rt = rt;
    req->slot = t->slot;
    req->gen = t->gen;
    req->prim = mx_xstrdup(prim);
    req->args = args;
    req->key = gate_key(prim, args);
    req->cacheable = cacheable;
    req->push = push;
    req->discard = discard;
    req->start = mx_now_ms();
    mx_rt_trace(rt, "-> %s", req->key);
    mx_json *answer = NULL;
    if (rt->replay) {
        for (size_t i = 0; i < rt->nreplay; i++) {
            if (!rt->replay[i].used && strcmp(rt->replay[i].key, req->key) == 0) {
                rt->replay[i].used = 1;
                answer = mx_json_clone(rt->replay[i].result);
                break;
            }
        }
        for (size_t i = 0; !answer && cacheable && i < rt->nreplay; i++)
            if (strcmp(rt->replay[i].key, req->key) == 0) answer = mx_json_clone(rt->replay[i].result);
        if (!answer) {
            rt->replay_misses++;
            answer = mx_json_obj();
            mx_json_set(answer, "verdict", mx_json_str("error"));
            mx_json_set(answer, "status", mx_json_str("error"));
            mx_json_set(answer, "error", mx_json_str("not in the recording"));
        }
    } else if (cacheable) {
        const char *hit_text = mx_strmap_get(&rt->cache, req->key);
        mx_json *hit = hit_text ? mx_json_parse(hit_text, strlen(hit_text), NULL, 0) : NULL;
        mx_gate_req *leader = hit ? NULL : mx_strmap_get(&rt->inflight, req->key);
        if (leader) {
            /* The same question is already on the wire: wait for its answer
             * instead of asking again (one query, many waiters). */
            leader->waiters = mx_xrealloc(leader->waiters, (leader->nwaiters + 1) * sizeof *leader->waiters);
            leader->waiters[leader->nwaiters++] = (gate_waiter){t->slot, t->gen, push, discard};
            mx_rt_trace(rt, "   (joins the call in flight) %s", req->key);
            free(req->key); free(req->prim); mx_json_free(req->args); free(req);
            lua_pushlightuserdata(L, MARKER);
            return lua_yield(L, 1);
        }
        if (!hit) mx_strmap_put(&rt->inflight, req->key, req);
        if (hit) {
            /* Shared work: the same question in one run is asked once. A
             * cached answer involves no I/O, so the call returns it at once,
             * pushed as a resumed task's answer would be (no yield, nothing
             * resumed from here). */
            trace_result(rt, req->key, hit, "(cached) ");
            free(req->key); free(req->prim); mx_json_free(req->args); free(req);
            /* held by rt while pushing: a memory error in push leaves it
             * there, freed by the next hit or mx_rt_free */
            mx_json_free(rt->pushing_hit);
            rt->pushing_hit = hit;
            int n = push(L, hit, NULL);
            rt->pushing_hit = NULL;
            mx_json_free(hit);
            return n;
        }
    }
    rt->pending_calls++;
    if (answer) {
        immediate *im = mx_xmalloc(sizeof *im);
        im->req = req;
        im->result = answer;
        mx_loop_defer(rt->loop, immediate_cb, im);
    } else {
        start(rt, req->args, req);
    }
    lua_pushlightuserdata(L, MARKER);
    return lua_yield(L, 1);
}

/* ------------------------------------------------------------ sandbox */

/* Lua written once here: coroutine wrappers that let engine yields pass
 * through a rule's own coroutines (STYLE point 5), and xpcall.
 *
 * xpcall calls the message handler itself, after the protected call has
 * returned, as an ordinary call: Lua runs a message handler inside its error
 * machinery, where an error raised by the count hook leaves hooks off
 * (L->allowhook) while the handler runs, so a handler that loops would never
 * be stopped. The handler sees the same error value; it runs after the stack
 * is unwound, which a rule cannot observe (no debug library). An error in the
 * handler becomes xpcall's second result.
 *
 * coroutine.close of an aborted rule raises instead of closing: a coroutine
 * that the count hook stopped is dead with hooks off, and closing it would run
 * its pending __close handlers unbounded. */
static const char *prelude =
    "local marker, co_create, co_resume, co_yield, co_status, co_running, co_isyieldable, co_close, aborted, pcall = ...\n"
    "local pack, unpack, type, error = table.pack, table.unpack, type, error\n"
    "local function resume(co, ...)\n"
    "  local r = pack(co_resume(co, ...))\n"
    "  while r[1] and r[2] == marker and co_status(co) == 'suspended' do\n"
    "    r = pack(co_resume(co, co_yield(marker)))\n"
    "  end\n"
    "  if not r[1] and aborted() then error(aborted(), 0) end\n"
    "  return unpack(r, 1, r.n)\n"
    "end\n"
    "local function wrap(f)\n"
    "  local co = co_create(f)\n"
    "  return function(...)\n"
    "    local r = pack(resume(co, ...))\n"
    "    if r[1] then return unpack(r, 2, r.n) end\n"
    "    error(r[2], 0)\n"
    "  end\n"
    "end\n"
    "local function close(co)\n"
    "  if aborted() then error(aborted(), 0) end\n"
    "  return co_close(co)\n"
    "end\n"
    "local function xpcall(f, msgh, ...)\n"
    "  if type(msgh) ~= 'function' then\n"
    "    error(\"bad argument #2 to 'xpcall' (function expected, got \" .. type(msgh) .. ')', 2)\n"
    "  end\n"
    "  local r = pack(pcall(f, ...))\n"
    "  if r[1] then return unpack(r, 1, r.n) end\n"
    "  local _, v = pcall(msgh, r[2])\n"
    "  return false, v\n"
    "end\n"
    "return { create = co_create, resume = resume, wrap = wrap, yield = co_yield, status = co_status,\n"
    "         running = co_running, isyieldable = co_isyieldable, close = close }, xpcall\n";

/* Read-only views. A proxy is an empty table whose metatable (locked with
 * __metatable) reaches the hidden table: reading gives the hidden table's
 * values, with tables among them (keys too) given as read-only proxies in
 * turn, so no path through indexing, pairs or # leads to a writable table
 * shared with other rules or checks. One proxy per hidden table (a weak
 * cache), so proxies compare equal when their tables do. The metatable key
 * RO_KEY marks engine read-only values: a proxy (the hidden table) or a
 * sealed value (true), which are handed out as they are. */
static char ro_key, ro_cache_key;
#define RO_KEY ((void *)&ro_key)

/* 0: not read-only; 1: sealed; 2: a proxy, and its hidden table is pushed. [-0, +(0|1), -] */
static int ro_kind(lua_State *L, int idx) {
    if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) return 0;
    int t = lua_rawgetp(L, -1, RO_KEY);
    if (t == LUA_TTABLE) { lua_remove(L, -2); return 2; }
    lua_pop(L, 2);
    return t == LUA_TNIL ? 0 : 1;
}
/* replaces a proxy at idx by its hidden table (keys given back by a rule) [-0, +0, -] */
static void ro_unwrap(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    if (ro_kind(L, idx) == 2) lua_replace(L, idx);
}
static void push_ro_value(lua_State *L, int idx);
static int ro_newindex(lua_State *L) { return luaL_error(L, "attempt to modify a read-only table (field '%s')", luaL_tolstring(L, 2, NULL)); }
static int ro_len(lua_State *L) { lua_pushinteger(L, (lua_Integer)luaL_len(L, lua_upvalueindex(1))); return 1; }
/* __index(proxy, key) [-0, +1, e] */
static int ro_index(lua_State *L) {
    lua_settop(L, 2);
    ro_unwrap(L, 2);
    lua_gettable(L, lua_upvalueindex(1));
    push_ro_value(L, -1);
    return 1;
}
/* the iterator __pairs returns: next over the hidden table, read-only values [-2, +(1|2), e] */
static int ro_iter(lua_State *L) {
    lua_settop(L, 2);
    ro_unwrap(L, 2);
    if (!lua_next(L, lua_upvalueindex(1))) {
        lua_pushnil(L);
        return 1;
    }
    push_ro_value(L, -2);
    push_ro_value(L, -2);
    return 2;
}
static int ro_pairs(lua_State *L) {
    lua_getmetatable(L, 1);
    lua_rawgetp(L, -1, RO_KEY);
    lua_pushcclosure(L, ro_iter, 1);
    lua_pushvalue(L, 1); /* the proxy as the state: never the hidden table */
    lua_pushnil(L);
    return 3;
}
/* [-0, +1, m] a new proxy of the table at idx; flat: its values are no
 * tables and it never changes (library tables), so __index can be the table
 * itself (no C call on every string.format) */
static void new_proxy(lua_State *L, int idx, int flat) {
    idx = lua_absindex(L, idx);
    lua_newtable(L);                   /* proxy */
    lua_createtable(L, 0, 6);          /* metatable */
    lua_pushvalue(L, idx);
    if (!flat) lua_pushcclosure(L, ro_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, ro_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushvalue(L, idx);
    lua_pushcclosure(L, ro_len, 1);
    lua_setfield(L, -2, "__len");
    lua_pushcfunction(L, ro_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pushvalue(L, idx);
    lua_rawsetp(L, -2, RO_KEY);
    lua_setmetatable(L, -2);
}
/* [-0, +1, m] the value at idx as a rule may see it: a table not marked
 * read-only as its (cached) proxy, anything else as it is */
static void push_ro_value(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE) { lua_pushvalue(L, idx); return; }
    int kind = ro_kind(L, idx);
    if (kind) {
        if (kind == 2) lua_pop(L, 1);
        lua_pushvalue(L, idx);
        return;
    }
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &ro_cache_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "k");       /* ephemeron: an entry lives as long as its table */
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &ro_cache_key);
    }
    lua_pushvalue(L, idx);
    if (lua_rawget(L, -2) == LUA_TTABLE) { lua_remove(L, -2); return; }
    lua_pop(L, 1);
    new_proxy(L, idx, 0);
    lua_pushvalue(L, idx);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
    lua_remove(L, -2);
}
static void push_readonly(lua_State *L, int idx) { push_ro_value(L, idx); }

void mx_lua_seal(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    lua_createtable(L, 0, 3);
    lua_pushcfunction(L, ro_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pushboolean(L, 1);
    lua_rawsetp(L, -2, RO_KEY);
    lua_setmetatable(L, idx);
}

static int l_sandbox_require(lua_State *L);
static int sb_pcall(lua_State *L);
static int sb_rawset(lua_State *L);
static int sb_setmetatable(lua_State *L);
static int sb_aborted(lua_State *L);

/* [-0, +1, m] a fresh environment for one rule or library file; its require
 * loads into libs (a table at libs_idx: one per rule file, shared by the
 * libraries that file pulls in) */
static void push_env(mx_rt *rt, int libs_idx) {
    lua_State *L = rt->L;
    libs_idx = lua_absindex(L, libs_idx);
    lua_newtable(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->env_proto_ref);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_settable(L, -5);
    }
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "_G");
    lua_pushvalue(L, libs_idx);
    lua_pushcclosure(L, l_sandbox_require, 1);
    lua_setfield(L, -2, "require");
}

/* [-0, +1, m] a read-only view of a library table at idx: its values are
 * functions and constants (flat) or it has tables (deep view) */
static void push_lib_ro(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    int flat = 1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -1) == LUA_TTABLE) flat = 0;
        lua_pop(L, 1);
    }
    if (flat) new_proxy(L, idx, 1);
    else push_ro_value(L, idx);
}

static void copy_lib_ro(lua_State *L, int proto, const char *name, const char *const *fields) {
    /* copy the listed fields of global library `name` into a read-only table */
    lua_getglobal(L, name);
    lua_newtable(L);
    for (const char *const *f = fields; *f; f++) {
        lua_getfield(L, -2, *f);
        lua_setfield(L, -2, *f);
    }
    push_lib_ro(L, -1);
    lua_setfield(L, proto, name);
    lua_pop(L, 2);
}

static void build_env_proto(mx_rt *rt) {
    lua_State *L = rt->L;
    lua_newtable(L);
    int proto = lua_gettop(L);
    /* no load/loadstring/dofile/loadfile (binary chunks, unsandboxed code),
     * collectgarbage, print, io, debug, package */
    static const char *const base[] = {"assert", "error", "ipairs", "next", "pairs", "select", "tonumber",
                                       "tostring", "type", "rawequal", "rawget", "rawlen", "getmetatable", NULL};
    for (const char *const *f = base; *f; f++) {
        lua_getglobal(L, *f);
        lua_setfield(L, proto, *f);
    }
    static const luaL_Reg wrapped[] = {{"pcall", sb_pcall}, {"rawset", sb_rawset}, {NULL, NULL}};
    for (const luaL_Reg *w = wrapped; w->name; w++) {
        lua_pushcfunction(L, w->func);
        lua_setfield(L, proto, w->name);
    }
    lua_getglobal(L, "setmetatable");
    lua_pushcclosure(L, sb_setmetatable, 1);
    lua_setfield(L, proto, "setmetatable");
    /* string: the allowed functions, with find/match/gmatch/gsub replaced by
     * the bounded matcher (l_strmatch.c) */
    static const char *const string_f[] = {"byte", "char", "format", "len", "lower", "rep", "reverse", "sub",
                                           "upper", "pack", "unpack", "packsize", NULL};
    lua_getglobal(L, "string");
    lua_newtable(L);
    for (const char *const *f = string_f; *f; f++) {
        lua_getfield(L, -2, *f);
        lua_setfield(L, -2, *f);
    }
    mx_strmatch_register(L, lua_gettop(L));
    new_proxy(L, -1, 1);
    lua_setfield(L, proto, "string");
    /* ("").dump would reach the real string table through the shared string
     * metatable: give strings the same functions, and hide the metatable so
     * no rule can change it for the others */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 4);
    static const char *const table_f[] = {"concat", "insert", "move", "pack", "remove", "sort", "unpack", NULL};
    copy_lib_ro(L, proto, "table", table_f);
    static const char *const math_f[] = {"abs", "ceil", "floor", "fmod", "huge", "max", "maxinteger", "min",
                                         "mininteger", "modf", "pi", "sqrt", "tointeger", "type", "ult", "log", "exp", NULL};
    copy_lib_ro(L, proto, "math", math_f);
    static const char *const utf8_f[] = {"char", "charpattern", "codepoint", "codes", "len", "offset", NULL};
    copy_lib_ro(L, proto, "utf8", utf8_f);
    static const char *const os_f[] = {"time", "clock", "date", "difftime", NULL};
    copy_lib_ro(L, proto, "os", os_f);
    /* coroutine wrappers and xpcall */
    if (luaL_loadbufferx(L, prelude, strlen(prelude), "=prelude", "t") != LUA_OK) lua_error(L);
    lua_pushlightuserdata(L, MARKER);
    lua_getglobal(L, "coroutine");
    static const char *const cof[] = {"create", "resume", "yield", "status", "running", "isyieldable", "close"};
    for (int i = 0; i < 7; i++) lua_getfield(L, -1 - i, cof[i]);
    lua_remove(L, -8);
    lua_pushcfunction(L, sb_aborted);
    lua_pushcfunction(L, sb_pcall);
    lua_call(L, 10, 2);
    lua_setfield(L, proto, "xpcall");
    push_lib_ro(L, -1);
    lua_setfield(L, proto, "coroutine");
    lua_pop(L, 1);
    /* engine modules */
    static const struct { const char *name; lua_CFunction open; } mods[] = {
        {"dns", luaopen_mx_dns}, {"net", luaopen_mx_net}, {"task", luaopen_mx_task},
        {"sys", luaopen_mx_sys},
        {"util", luaopen_mx_util},
        {"dnsbl", luaopen_mx_dnsbl},
        {"log", luaopen_mx_log},
    };
    for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++) {
        luaL_requiref(L, mods[i].name, mods[i].open, 0);
        push_lib_ro(L, -1);
        lua_setfield(L, proto, mods[i].name);
        lua_pop(L, 1);
    }
    /* a placeholder, so that the API listing shows it: push_env gives each
     * file its own */
    lua_pushcfunction(L, l_sandbox_require);
    lua_setfield(L, proto, "require");
    lua_pushlightuserdata(L, MARKER);
    lua_setfield(L, LUA_REGISTRYINDEX, "mx.marker");
    rt->env_proto_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    rt->shipped_libs_ref = LUA_NOREF;
}

/* Instruction budget and wall-clock deadline of the running rule. */
static int rule_timeout_ms(mx_rt *rt, int rule);
static int64_t queued_ms(const rule_run *run);

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
/* How long other rules' Lua code held the loop since this rule started: a
 * rule's deadline is extended by it, so one busy rule cannot make another
 * miss its deadline. */
static int64_t others_ms(mx_rt *rt, rule_run *run) {
    int64_t us = rt->lua_us - run->lua_us_at_start - run->own_us;
    return us > 0 ? us / 1000 : 0;
}

/* Raises msg prefixed with the position of the running Lua code (level 0:
 * in a hook; level 1 from a C function: its Lua caller). */
static void hook_error(lua_State *L, int level, const char *msg) {
    lua_Debug ar;
    if (lua_getstack(L, level, &ar) && lua_getinfo(L, "Sl", &ar) && ar.currentline > 0)
        lua_pushfstring(L, "%s:%d: %s", ar.short_src, ar.currentline, msg);
    else
        lua_pushstring(L, msg);
    lua_error(L);
}

/* Counts n units of work against the running rule's instruction budget and
 * checks its wall-clock deadline (code that never yields never returns to
 * the event loop's timer). Once exceeded, the run is marked aborted: the
 * sandbox's pcall, xpcall, coroutine.resume and coroutine.close re-raise
 * instead of catching, and every later charge raises again, so a rule cannot
 * swallow its own termination. The top-level code of a rule file being
 * loaded has a budget of its own, with the same abort. */
static void charge(lua_State *L, uint64_t n, int level) {
    mx_rt *rt = mx_rt_from_L(L);
    if (!rt) return; /* a Lua state of no runtime (unit tests): no budget */
    rule_run *run = rt->acct;
    if (!run) {
        if (!rt->loading) return;
        if (!rt->load_aborted && (rt->load_instructions += n) > (uint64_t)MX_RULE_INSTR_LIMIT / 20)
            rt->load_aborted = "instruction budget exceeded while loading the rule file";
        if (rt->load_aborted) hook_error(L, level, rt->load_aborted);
        return;
    }
    run->instructions += n;
    if (run->aborted) hook_error(L, level, run->aborted);
    if (run->instructions > (uint64_t)MX_RULE_INSTR_LIMIT) {
        run->aborted = "instruction budget exceeded (200 million Lua instructions per rule)";
        hook_error(L, level, run->aborted);
    }
    /* the same deadline as the timer's (rule_deadline): other rules' Lua time
     * and the time spent queued for a connection slot are not this rule's */
    if (run->started &&
        mx_now_ms() > run->started + rule_timeout_ms(rt, rt->acct_rule) + others_ms(rt, run) + queued_ms(run)) {
        run->aborted = "rule deadline exceeded while computing";
        hook_error(L, level, run->aborted);
    }
}

static void count_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    charge(L, HOOK_EVERY, 0);
}

/* Work done inside a C function called by a rule (steps of the pattern
 * matcher), counted as instructions: see runtime.h. [-0, +0, e] */
void mx_rt_charge(lua_State *L, uint64_t steps) { charge(L, steps, 1); }

/* the reason the running rule (or the file being loaded) was aborted, or NULL */
static const char *abort_reason(lua_State *L, int status) {
    mx_rt *rt = mx_rt_from_L(L);
    if (!rt->acct) return rt->loading ? rt->load_aborted : NULL;
    if (status == LUA_ERRMEM && !rt->acct->aborted) rt->acct->aborted = "memory limit exceeded";
    return rt->acct->aborted;
}
static int rule_aborted(lua_State *L, int status) { return abort_reason(L, status) != NULL; }

/* pcall for rules: as lbaselib's, yieldable (engine calls pass through), but
 * an aborted rule's error is re-raised. (xpcall is built on it: prelude.)
 * [-?, +?, e] */
static int sb_finish_pcall(lua_State *L, int status, lua_KContext extra) {
    if (status != LUA_OK && status != LUA_YIELD) {
        if (rule_aborted(L, status)) return lua_error(L);
        lua_pushboolean(L, 0);
        lua_pushvalue(L, -2);
        return 2;
    }
    return lua_gettop(L) - (int)extra;
}
static int sb_pcall(lua_State *L) {
    luaL_checkany(L, 1);
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    int status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, sb_finish_pcall);
    return sb_finish_pcall(L, status, 0);
}
/* aborted() -> reason | false, for the prelude's wrappers [-0, +1, -] */
static int sb_aborted(lua_State *L) {
    const char *why = abort_reason(L, LUA_OK);
    if (why) lua_pushstring(L, why);
    else lua_pushboolean(L, 0);
    return 1;
}
/* setmetatable without __gc: a finalizer would run at some later collection,
 * outside its rule's budget and deadline. [-0, +1, e] */
static int sb_setmetatable(lua_State *L) {
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL) return luaL_error(L, "setmetatable: __gc finalizers are not allowed in rules");
        lua_pop(L, 1);
    }
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 2, 1);
    return 1;
}
/* rawset that refuses the engine's read-only values (modules, target, util.null). */
static int sb_rawset(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    int kind = ro_kind(L, 1);
    if (kind == 2) lua_pop(L, 1);
    if (kind) return luaL_error(L, "rawset: attempt to modify a read-only table");
    luaL_checkany(L, 2);
    luaL_checkany(L, 3);
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 1;
}

/* Loads a rule file's text (read by the trust checks) as luaL_loadfilex
 * would: chunk name "@path", a UTF-8 BOM and a first line starting with '#'
 * skipped (its newline kept, so line numbers stay right), text mode only.
 * [-0, +1, -] */
static int load_code(lua_State *L, const mx_buf *code, const char *path) {
    const char *p = code->data ? code->data : "";
    size_t n = code->len;
    if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3, n -= 3;
    if (n && *p == '#') {
        const char *nl = memchr(p, '\n', n);
        n = nl ? n - (size_t)(nl - p) : 0;
        p = nl ? nl : p + n;
    }
    char chunk[4200];
    snprintf(chunk, sizeof chunk, "@%s", path);
    return luaL_loadbufferx(L, p, n, chunk, "t");
}

/* require(name): rules/lib/<name>.lua from the site then shipped directories,
 * loaded in text mode into its own sandbox environment, once per rule file:
 * upvalue 1 is that file's table of loaded libraries, so no rule shares a
 * library instance (its tables, its upvalues) with another. */
static char lib_loading;
static int l_sandbox_require(lua_State *L) {
    mx_rt *rt = mx_rt_from_L(L);
    const char *name = luaL_checkstring(L, 1);
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.'))
            return luaL_error(L, "require: invalid library name '%s'", name);
    if (lua_type(L, lua_upvalueindex(1)) != LUA_TTABLE) return luaL_error(L, "require: not available here");
    lua_settop(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    int libs = lua_gettop(L);
    lua_getfield(L, libs, name);
    if (lua_touserdata(L, -1) == &lib_loading) return luaL_error(L, "require: library '%s' requires itself", name);
    if (!lua_isnil(L, -1)) return 1;
    lua_pop(L, 1);
    char path[4096];
    const char *found = NULL;
    char rel[512];
    snprintf(rel, sizeof rel, "%s", name);
    for (char *c = rel; *c; c++) if (*c == '.') *c = '/';
    /* read through the same checks as rule files (a root run takes code only
     * from root-owned files); a library that is there but refused is an
     * error, not a reason to fall back to the next directory */
    mx_buf code = MX_BUF_INIT;
    char terr[1024];
    for (size_t i = rt->opts.nsite_dirs + 1; i > 0 && !found; i--) {
        snprintf(path, sizeof path, "%s/lib/%s.lua", i > 1 ? rt->opts.site_dirs[i - 2] : rt->opts.shipped_dir, rel);
        mx_buf_reset(&code);
        if (mx_trust_read_file(path, MX_TRUST_CODE_MAX, &code, terr, sizeof terr) == 0) found = path;
        else if (errno != ENOENT && errno != ENOTDIR) {
            mx_buf_free(&code);
            return luaL_error(L, "require '%s': %s", name, terr);
        }
    }
    if (!found) { mx_buf_free(&code); return luaL_error(L, "require: no library '%s' in the rule directories' lib/", name); }
    int lst = load_code(L, &code, found);
    mx_buf_free(&code);
    if (lst != LUA_OK) return lua_error(L);
    push_env(rt, libs);
    lua_setupvalue(L, -2, 1);
    lua_pushlightuserdata(L, &lib_loading);
    lua_setfield(L, libs, name);
    if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
        lua_pushnil(L);
        lua_setfield(L, libs, name);
        return lua_error(L);
    }
    if (lua_isnil(L, -1)) { lua_pop(L, 1); lua_pushboolean(L, 1); }
    lua_pushvalue(L, -1);
    lua_setfield(L, libs, name);
    return 1;
}

/* ------------------------------------------------------------ rule loader */

static int id_valid(const char *s) {
    if (!*s || !(*s >= 'a' && *s <= 'z')) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' || *s == '-')) return 0;
    return 1;
}
int mx_code_valid(const char *s);
int mx_code_valid(const char *s) {
    /* lower case, dotted: "tcp.refused", "logs.cause_timeout" */
    const char *dot = strchr(s, '.');
    if (!dot || dot == s || !dot[1]) return 0;
    if (!(*s >= 'a' && *s <= 'z')) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '.')) return 0;
    return s[-1] != '.';
}

/* [-0, +1, -] t[k] without metamethods (a rule's table is data) */
static int rawfield(lua_State *L, int idx, const char *k) {
    idx = lua_absindex(L, idx);
    lua_pushstring(L, k);
    return lua_rawget(L, idx);
}

static char **string_list(lua_State *L, int idx, const char *field, size_t *n, const char *file, char *err, size_t errlen) {
    *n = 0;
    rawfield(L, idx, field);
    if (lua_isnil(L, -1)) { lua_pop(L, 1); return NULL; }
    if (!lua_istable(L, -1)) {
        snprintf(err, errlen, "%s: field '%s' must be a list of strings, not a %s", file, field, luaL_typename(L, -1));
        lua_pop(L, 1);
        return (char **)-1;
    }
    size_t len = lua_rawlen(L, -1);
    char **list = mx_xcalloc(len + 1, sizeof *list);
    for (size_t i = 1; i <= len; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i);
        if (lua_type(L, -1) != LUA_TSTRING) {
            snprintf(err, errlen, "%s: field '%s' item %zu must be a string, not a %s", file, field, i, luaL_typename(L, -1));
            lua_pop(L, 2);
            for (size_t k = 0; k < i - 1; k++) free(list[k]);
            free(list);
            return (char **)-1;
        }
        list[i - 1] = mx_xstrdup(lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    *n = len;
    return list;
}

static void rule_clear(lua_State *L, mx_rule *r) {
    free(r->id); free(r->file); free(r->description);
    for (size_t i = 0; i < r->nrequires; i++) free(r->requires[i]);
    for (size_t i = 0; i < r->nprovides; i++) free(r->provides[i]);
    for (size_t i = 0; i < r->nwants; i++) free(r->wants[i]);
    free(r->wants);
    for (size_t i = 0; i < r->ncategories; i++) free(r->categories[i]);
    free(r->requires); free(r->provides); free(r->categories);
    luaL_unref(L, LUA_REGISTRYINDEX, r->ref);
    memset(r, 0, sizeof *r);
}

/* Validates the rule table on top of the stack; fills r. 0 or -1 with err. */
static int validate_rule(lua_State *L, const char *file, mx_rule *r, char *err, size_t errlen) {
    int t = lua_gettop(L);
    if (!lua_istable(L, t)) {
        snprintf(err, errlen, "%s: a rule file must return a table, not a %s", file, luaL_typename(L, t));
        return -1;
    }
    static const char *const known[] = {"id", "description", "categories", "requires", "provides", "codes", "run",
                                        "applies", "timeout", "wants", "kind", NULL};
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) { snprintf(err, errlen, "%s: rule table has a non-string key", file); lua_pop(L, 1); return -1; }
        const char *k = lua_tostring(L, -1);
        int ok = 0;
        for (const char *const *p = known; *p; p++) if (strcmp(*p, k) == 0) ok = 1;
        if (!ok) { snprintf(err, errlen, "%s: unknown field '%s' in rule table", file, k); lua_pop(L, 1); return -1; }
    }
    memset(r, 0, sizeof *r);
    r->ref = LUA_NOREF;
    rawfield(L, t, "id");
    if (lua_type(L, -1) != LUA_TSTRING || !id_valid(lua_tostring(L, -1))) {
        snprintf(err, errlen, "%s: field 'id' must be a string of lower-case letters, digits, '.', '_' or '-'", file);
        lua_pop(L, 1);
        return -1;
    }
    r->id = mx_xstrdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    rawfield(L, t, "description");
    if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) == 0) {
        snprintf(err, errlen, "%s: rule '%s': field 'description' must be a non-empty string", file, r->id);
        lua_pop(L, 1);
        goto fail;
    }
    r->description = mx_xstrdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    rawfield(L, t, "run");
    if (!lua_isfunction(L, -1)) {
        snprintf(err, errlen, "%s: rule '%s': field 'run' must be a function, not a %s", file, r->id, luaL_typename(L, -1));
        lua_pop(L, 1);
        goto fail;
    }
    lua_pop(L, 1);
    rawfield(L, t, "applies");
    if (!lua_isnil(L, -1) && !lua_isfunction(L, -1)) {
        snprintf(err, errlen, "%s: rule '%s': field 'applies' must be a function", file, r->id);
        lua_pop(L, 1);
        goto fail;
    }
    lua_pop(L, 1);
    rawfield(L, t, "timeout");
    if (!lua_isnil(L, -1)) {
        if (!lua_isnumber(L, -1) || lua_tonumber(L, -1) <= 0 || lua_tonumber(L, -1) > 3600) {
            snprintf(err, errlen, "%s: rule '%s': field 'timeout' must be a number of seconds from 0 to 3600", file, r->id);
            lua_pop(L, 1);
            goto fail;
        }
        r->timeout_ms = (int)(lua_tonumber(L, -1) * 1000);
    }
    lua_pop(L, 1);
    rawfield(L, t, "kind");
    if (!lua_isnil(L, -1)) {
        const char *kind = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
        if (strcmp(kind, "check") != 0 && strcmp(kind, "logs") != 0) {
            snprintf(err, errlen, "%s: rule '%s': field 'kind' must be \"check\" or \"logs\"", file, r->id);
            lua_pop(L, 1);
            goto fail;
        }
        r->logs = strcmp(kind, "logs") == 0;
    }
    lua_pop(L, 1);
    char ebuf[512] = "";
    r->requires = string_list(L, t, "requires", &r->nrequires, file, ebuf, sizeof ebuf);
    if (r->requires == (char **)-1) { r->requires = NULL; snprintf(err, errlen, "%s", ebuf); goto fail; }
    r->provides = string_list(L, t, "provides", &r->nprovides, file, ebuf, sizeof ebuf);
    if (r->provides == (char **)-1) { r->provides = NULL; snprintf(err, errlen, "%s", ebuf); goto fail; }
    r->wants = string_list(L, t, "wants", &r->nwants, file, ebuf, sizeof ebuf);
    if (r->wants == (char **)-1) { r->wants = NULL; snprintf(err, errlen, "%s", ebuf); goto fail; }
    r->categories = string_list(L, t, "categories", &r->ncategories, file, ebuf, sizeof ebuf);
    if (r->categories == (char **)-1) { r->categories = NULL; snprintf(err, errlen, "%s", ebuf); goto fail; }
    rawfield(L, t, "codes");
    if (!lua_istable(L, -1)) {
        snprintf(err, errlen, "%s: rule '%s': field 'codes' must be a table of code = default severity", file, r->id);
        lua_pop(L, 1);
        goto fail;
    }
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        mx_severity sv;
        if (lua_type(L, -2) != LUA_TSTRING || !mx_code_valid(lua_tostring(L, -2))) {
            snprintf(err, errlen, "%s: rule '%s': codes: '%s' is not a dotted lower-case code like 'tcp.refused'", file, r->id,
                     lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?");
            lua_pop(L, 3);
            goto fail;
        }
        if (lua_type(L, -1) != LUA_TSTRING || mx_severity_parse(lua_tostring(L, -1), &sv) != 0) {
            snprintf(err, errlen, "%s: rule '%s': codes: '%s' must map to ok, info, warn, crit or unknown", file, r->id,
                     lua_tostring(L, -2));
            lua_pop(L, 3);
            goto fail;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    r->file = mx_xstrdup(file);
    /* the engine keeps a plain copy of what it reads later (run, applies,
     * codes): no metamethod of the rule's table runs outside the rule's
     * limits, and changing the returned table later changes nothing */
    lua_createtable(L, 0, 3);
    rawfield(L, t, "run");
    lua_setfield(L, -2, "run");
    rawfield(L, t, "applies");
    lua_setfield(L, -2, "applies");
    lua_newtable(L);
    rawfield(L, t, "codes");
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -5);
    }
    lua_pop(L, 1);
    lua_setfield(L, -2, "codes");
    r->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
fail:
    rule_clear(L, r);
    return -1;
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Loads every *.lua of dir (not lib/) in sorted order. A rule with an id
 * already loaded replaces it in place (site rules override shipped ones). */
static int load_dir(mx_rt *rt, const char *dir, int required, int shipped, char *err, size_t errlen) {
    /* as root the directory and each file pass the trust checks (trust.h),
     * and each file is read from the descriptor that was checked */
    char terr[1024];
    int dfd = mx_trust_open_dir(dir, 1, terr, sizeof terr);
    if (dfd < 0) {
        if (!required && errno == ENOENT) return 0;
        if (errno == EPERM) snprintf(err, errlen, "not loading rules from %s: %s", dir, terr);
        else snprintf(err, errlen, "cannot read rules directory %s: %s", dir, strerror(errno));
        return -1;
    }
    int lfd = dup(dfd);
    DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
    if (!d) {
        snprintf(err, errlen, "cannot read rules directory %s: %s", dir, strerror(errno));
        if (lfd >= 0) close(lfd);
        close(dfd);
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".lua") != 0 || e->d_name[0] == '.') continue;
        if (n == cap) { cap = cap ? cap * 2 : 16; names = mx_xrealloc(names, cap * sizeof *names); }
        names[n++] = mx_xstrdup(e->d_name);
    }
    closedir(d);
    if (n > 1) qsort(names, n, sizeof *names, name_cmp); /* names is NULL for an empty directory or one with only lib/ */
    int rc = 0;
    lua_State *L = rt->L;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        mx_buf code = MX_BUF_INIT;
        if (mx_trust_read_at(dfd, dir, names[i], MX_TRUST_CODE_MAX, &code, err, errlen) != 0) {
            mx_buf_free(&code);
            rc = -1;
            break;
        }
        int lds = load_code(L, &code, path);
        mx_buf_free(&code);
        if (lds != LUA_OK) {
            const char *m = lua_tostring(L, -1);
            /* syntax errors name the file already; mode errors do not */
            if (strncmp(m, path, strlen(path)) == 0) snprintf(err, errlen, "%s", m);
            else snprintf(err, errlen, "%s: %s", path, m);
            lua_pop(L, 1);
            rc = -1;
            break;
        }
        /* the libraries this file requires: the shipped rules share one set
         * (they are one program: the tcp rule's held connection reaches the
         * smtp rule through `conn`, `shared.once` is once per run), a site
         * rule file gets its own, so it can neither read nor change what the
         * shipped rules or another site rule keep in a library */
        if (shipped) {
            if (rt->shipped_libs_ref == LUA_NOREF) {
                lua_newtable(L);
                rt->shipped_libs_ref = luaL_ref(L, LUA_REGISTRYINDEX);
            }
            lua_rawgeti(L, LUA_REGISTRYINDEX, rt->shipped_libs_ref);
        } else {
            lua_newtable(L);
        }
        push_env(rt, -1);
        lua_remove(L, -2);
        lua_setupvalue(L, -2, 1);
        rt->loading = 1;
        rt->load_instructions = 0;
        rt->load_aborted = NULL;
        rt->mem_limit = rt->mem_used + MX_RULE_MEM_LIMIT < MX_LUA_MEM_LIMIT ? rt->mem_used + MX_RULE_MEM_LIMIT : MX_LUA_MEM_LIMIT;
        int lst = lua_pcall(L, 0, 1, 0);
        rt->mem_limit = MX_LUA_MEM_LIMIT;
        rt->loading = 0;
        if (lst != LUA_OK) {
            snprintf(err, errlen, "%s: error while loading: %s", path, lua_tostring(L, -1));
            lua_pop(L, 1);
            rc = -1;
            break;
        }
        mx_rule r;
        if (validate_rule(L, path, &r, err, errlen) != 0) { lua_pop(L, 1); rc = -1; break; }
        lua_pop(L, 1);
        /* a run has one kind of rules: check rules, or (mxdiag logs) logs rules */
        if (r.logs != (rt->opts.logs_rules != 0)) { rule_clear(L, &r); continue; }
        int slot = -1;
        for (int k = 0; k < rt->nrules; k++) if (strcmp(rt->rules[k].id, r.id) == 0) slot = k;
        if (slot >= 0) {
            r.order = rt->rules[slot].order;
            rule_clear(L, &rt->rules[slot]);
            rt->rules[slot] = r;
            mx_rt_trace(rt, "rule %s from %s replaces the shipped one", r.id, path);
        } else {
            if (rt->nrules == MAX_RULES) { snprintf(err, errlen, "too many rules (limit %d)", MAX_RULES); rule_clear(L, &r); rc = -1; break; }
            r.order = rt->nrules;
            rt->rules[rt->nrules++] = r;
        }
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    close(dfd);
    return rc;
}

static int in_list(const char *list, const char *word) {
    if (!list) return 0;
    size_t wl = strlen(word);
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == wl && strncmp(p, word, l) == 0) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}
static int rule_selected(const mx_rule *r, const char *list) {
    if (in_list(list, r->id)) return 1;
    for (size_t i = 0; i < r->ncategories; i++) if (in_list(list, r->categories[i])) return 1;
    return 0;
}

/* Which rules run for `only`/`skip` (comma lists of ids or categories, NULL:
 * all / none): on[i] set; returns how many. `only` pulls in the rules that
 * provide what the chosen ones require, unless skipped. */
static int select_rules(mx_rt *rt, const char *only, const char *skip, char *on) {
    for (int i = 0; i < rt->nrules; i++) {
        on[i] = only ? (char)rule_selected(&rt->rules[i], only) : 1;
        if (skip && rule_selected(&rt->rules[i], skip)) on[i] = 0;
    }
    if (only) {
        int changed = 1;
        while (changed) {
            changed = 0;
            for (int i = 0; i < rt->nrules; i++) {
                if (!on[i]) continue;
                for (size_t q = 0; q < rt->rules[i].nrequires; q++)
                    for (int k = 0; k < rt->nrules; k++)
                        for (size_t p = 0; p < rt->rules[k].nprovides; p++)
                            if (!on[k] && strcmp(rt->rules[k].provides[p], rt->rules[i].requires[q]) == 0 &&
                                !(skip && rule_selected(&rt->rules[k], skip))) {
                                on[k] = 1;
                                changed = 1;
                            }
            }
        }
    }
    int n = 0;
    for (int i = 0; i < rt->nrules; i++) n += on[i];
    return n;
}

int mx_rt_load_rules(mx_rt *rt, char *err, size_t errlen) {
    if (load_dir(rt, rt->opts.shipped_dir, 1, 1, err, errlen) != 0) return -1;
    for (size_t i = 0; i < rt->opts.nsite_dirs; i++)
        if (load_dir(rt, rt->opts.site_dirs[i], 1, 0, err, errlen) != 0) return -1;
    /* a fact required by a rule and provided by nobody is a loader error: it
     * would silently skip the rule forever */
    for (int i = 0; i < rt->nrules; i++) {
        mx_rule *r = &rt->rules[i];
        for (size_t q = 0; q < r->nrequires; q++) {
            int found = mx_json_get(rt->opts.facts, r->requires[q]) != NULL; /* given by the run */
            for (int k = 0; k < rt->nrules && !found; k++)
                for (size_t p = 0; p < rt->rules[k].nprovides; p++)
                    if (strcmp(rt->rules[k].provides[p], r->requires[q]) == 0) found = 1;
            if (!found) {
                snprintf(err, errlen, "%s: rule '%s' requires fact '%s' that no rule provides", r->file, r->id, r->requires[q]);
                return -1;
            }
        }
    }
    char on[MAX_RULES];
    if (select_rules(rt, rt->opts.only, rt->opts.skip, on) == 0 && rt->opts.only) {
        snprintf(err, errlen, "--only %s matches no rule id or category", rt->opts.only);
        return -1;
    }
    for (int i = 0; i < rt->nrules; i++) rt->rules[i].enabled = on[i];
    return 0;
}


mx_json *mx_rt_rules_json(mx_rt *rt) {
    mx_json *arr = mx_json_arr();
    lua_State *L = rt->L;
    for (int i = 0; i < rt->nrules; i++) {
        mx_rule *r = &rt->rules[i];
        mx_json *o = mx_json_obj();
        mx_json_set(o, "id", mx_json_str(r->id));
        mx_json_set(o, "description", mx_json_str(r->description));
        mx_json_set(o, "file", mx_json_str(r->file));
        mx_json_set(o, "enabled", mx_json_bool(r->enabled));
        mx_json *a = mx_json_arr();
        for (size_t k = 0; k < r->ncategories; k++) mx_json_push(a, mx_json_str(r->categories[k]));
        mx_json_set(o, "categories", a);
        a = mx_json_arr();
        for (size_t k = 0; k < r->nrequires; k++) mx_json_push(a, mx_json_str(r->requires[k]));
        mx_json_set(o, "requires", a);
        a = mx_json_arr();
        for (size_t k = 0; k < r->nprovides; k++) mx_json_push(a, mx_json_str(r->provides[k]));
        mx_json_set(o, "provides", a);
        a = mx_json_arr();
        for (size_t k = 0; k < r->nwants; k++) mx_json_push(a, mx_json_str(r->wants[k]));
        mx_json_set(o, "wants", a);
        lua_rawgeti(L, LUA_REGISTRYINDEX, r->ref);
        lua_getfield(L, -1, "codes");
        mx_json_set(o, "codes", mx_lua_to_json(L, -1));
        lua_pop(L, 2);
        mx_json_push(arr, o);
    }
    return arr;
}

/* Sorted names of the keys of the table at idx, functions or all. [-0, +0, m] */
static mx_json *table_names(lua_State *L, int idx, int functions_only) {
    idx = lua_absindex(L, idx);
    size_t n = 0, cap = 0;
    char **names = NULL;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) == LUA_TSTRING && (!functions_only || lua_isfunction(L, -1))) {
            if (n == cap) { cap = cap ? cap * 2 : 16; names = mx_xrealloc(names, cap * sizeof *names); }
            names[n++] = mx_xstrdup(lua_tostring(L, -2));
        }
        lua_pop(L, 1);
    }
    qsort(names, n, sizeof *names, name_cmp);
    mx_json *a = mx_json_arr();
    for (size_t i = 0; i < n; i++) { mx_json_push(a, mx_json_str(names[i])); free(names[i]); }
    free(names);
    return a;
}

/* What a rule can call, read from the sandbox itself (for RULES.md's drift
 * test): globals, modules (engine and standard), methods of engine types. */
int mx_rt_rule_enabled(mx_rt *rt, const char *id) {
    for (int i = 0; i < rt->nrules; i++)
        if (!strcmp(rt->rules[i].id, id)) return rt->rules[i].enabled;
    return 0;
}

/* The blocklists' documented free-use limits, from the catalog library the
 * rules use (a site's lib/dnsbl_catalog.lua wins, as for the rules):
 * [{name, zone, queries_per_day, connections_per_day?, terms?}] for the
 * lists that document one. NULL with err when the catalog cannot be loaded. */
mx_json *mx_rt_dnsbl_usage(mx_rt *rt, char *err, size_t errlen) {
    lua_State *L = rt->L;
    int top = lua_gettop(L);
    lua_newtable(L); /* its own library table: a require of its own */
    lua_pushcclosure(L, l_sandbox_require, 1);
    lua_pushliteral(L, "dnsbl_catalog");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        snprintf(err, errlen, "dnsbl_catalog: %s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
        lua_settop(L, top);
        return NULL;
    }
    mx_json *out = mx_json_arr();
    if (lua_istable(L, -1) && lua_getfield(L, -1, "lists") == LUA_TTABLE) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        for (lua_Integer i = 1; i <= n; i++) {
            if (lua_rawgeti(L, -1, i) == LUA_TTABLE && lua_getfield(L, -1, "usage") == LUA_TTABLE) {
                lua_getfield(L, -1, "queries_per_day");
                lua_getfield(L, -2, "connections_per_day");
                lua_getfield(L, -3, "terms");
                lua_getfield(L, -5, "name");
                lua_getfield(L, -6, "zone");
                if (lua_isinteger(L, -5) && lua_tointeger(L, -5) > 0 && lua_type(L, -1) == LUA_TSTRING) {
                    mx_json *u = mx_json_obj();
                    mx_json_set(u, "name", mx_json_str(lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : lua_tostring(L, -1)));
                    mx_json_set(u, "zone", mx_json_str(lua_tostring(L, -1)));
                    mx_json_set(u, "queries_per_day", mx_json_int(lua_tointeger(L, -5)));
                    if (lua_isinteger(L, -4)) mx_json_set(u, "connections_per_day", mx_json_int(lua_tointeger(L, -4)));
                    if (lua_type(L, -3) == LUA_TSTRING) mx_json_set(u, "terms", mx_json_str(lua_tostring(L, -3)));
                    mx_json_push(out, u);
                }
                lua_pop(L, 5);
            }
            lua_settop(L, top + 2);
        }
    }
    lua_settop(L, top);
    return out;
}

mx_json *mx_rt_api_json(mx_rt *rt) {
    lua_State *L = rt->L;
    static const char *const std[] = {"string", "table", "math", "utf8", "os", "coroutine", NULL};
    mx_json *doc = mx_json_obj(), *globals = mx_json_arr(), *mods = mx_json_obj(), *stdm = mx_json_obj();
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->env_proto_ref);
    mx_json *keys = table_names(L, -1, 0);
    for (size_t i = 0; i < keys->u.c.len; i++) {
        const char *k = keys->u.c.items[i]->u.str.s;
        lua_getfield(L, -1, k);
        if (lua_isfunction(L, -1)) mx_json_push(globals, mx_json_str(k));
        else if (lua_istable(L, -1)) {
            /* modules are read-only proxies: list the table behind */
            if (ro_kind(L, -1) != 2) lua_pushvalue(L, -1);
            int is_std = 0;
            for (const char *const *p = std; *p; p++) if (strcmp(*p, k) == 0) is_std = 1;
            mx_json_set(is_std ? stdm : mods, k, table_names(L, -1, 0));
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    mx_json_free(keys);
    /* userdata types: registry metatables named "mxdiag.<type>" */
    mx_json *types = mx_json_obj();
    lua_pushnil(L);
    while (lua_next(L, LUA_REGISTRYINDEX)) {
        if (lua_type(L, -2) == LUA_TSTRING && strncmp(lua_tostring(L, -2), "mxdiag.", 7) == 0 && lua_istable(L, -1)) {
            const char *tn = lua_tostring(L, -2) + 7;
            if (lua_getfield(L, -1, "__index") == LUA_TTABLE) mx_json_set(types, tn, table_names(L, -1, 1));
            else mx_json_set(types, tn, mx_json_arr());
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    mx_json *report = mx_json_arr();
    mx_json_push(report, mx_json_str("finding"));
    mx_json_push(report, mx_json_str("publish"));
    mx_json_set(types, "report", report);
    mx_json_set(doc, "globals", globals);
    mx_json_set(doc, "modules", mods);
    mx_json_set(doc, "std", stdm);
    mx_json_set(doc, "types", types);
    return doc;
}

/* ------------------------------------------------------------ checks */

static mx_check *check_by_id(mx_rt *rt, int id) {
    return id >= 0 && id < rt->nchecks ? rt->checks[id] : NULL;
}

static void add_finding(mx_check *c, int rule, mx_severity sev, mx_json *obj) {
    mx_report_add(&c->report, c->rt->rules[rule].order, sev, obj);
}

static void rule_error_finding(mx_check *c, int rule, const char *summary, const char *detail) {
    mx_rt *rt = c->rt;
    mx_json *o = mx_json_obj();
    mx_json_set(o, "rule", mx_json_str(rt->rules[rule].id));
    mx_json_set(o, "code", mx_json_str("rule.error"));
    mx_json_set(o, "severity", mx_json_str("unknown"));
    mx_json_set(o, "summary", mx_json_str(summary));
    mx_json_set(o, "explanation", mx_json_str(
        "The rule stopped before it could reach a verdict, so what it checks is unknown. The other rules are not affected."));
    mx_json_set(o, "advice", mx_json_str(
        "If the rule is a site rule, fix it (the error names the file and line); if it is a shipped rule, report it with --record output attached."));
    mx_json *e = mx_json_obj();
    rule_run *run = &c->runs[rule];
    mx_json_set(e, "file", mx_json_str(run->err_line ? run->err_src : rt->rules[rule].file));
    if (run->err_line) mx_json_set(e, "line", mx_json_int(run->err_line));
    if (run->err_line && strcmp(run->err_src, rt->rules[rule].file) != 0)
        mx_json_set(e, "rule_file", mx_json_str(rt->rules[rule].file));
    if (detail) mx_json_set(e, "error", mx_json_str(detail));
    mx_json_set(o, "evidence", e);
    add_finding(c, rule, MX_SEV_UNKNOWN, o);
}

static void advance(mx_check *c);

static void kill_rule_tasks(mx_rt *rt, mx_check *c, int rule) {
    /* counted, so that a finished rule (the usual case: no task left but the
     * root) does not scan every task of a large batch */
    mx_task *root = task_get(rt, c->runs[rule].root_slot, c->runs[rule].root_gen);
    if (root && root->check == c && root->rule == rule) task_kill(rt, root);
    for (int i = 0; i < rt->ntasks && c->runs[rule].ntasks > 0; i++) {
        mx_task *t = &rt->tasks[i];
        if (t->alive && t->check == c && t->rule == rule) task_kill(rt, t);
    }
}

static void rule_finish(mx_check *c, int rule, int state, const char *why) {
    rule_run *run = &c->runs[rule];
    if (run->state != RULE_RUNNING && run->state != RULE_PENDING) return;
    if (run->deadline) {
        mx_timer_cancel(c->rt->loop, run->deadline);
        run->deadline = NULL;
        free(run->deadline_ud);
    }
    run->deadline_ud = NULL;
    run->state = state;
    run->ended = mx_now_ms();
    if (why) { free(run->why); run->why = mx_xstrdup(why); }
    c->remaining--;
    mx_rt_trace(c->rt, "rule %s %s%s%s", c->rt->rules[rule].id, rule_state_names[state], why ? ": " : "", why ? why : "");
    kill_rule_tasks(c->rt, c, rule);
    advance(c);
}

/* A call that waits for a local resource (a connection slot, l_net.c) before
 * it starts: that time is not its rule's, so the rule's deadline moves by it
 * (a cap on connections must not turn into "deadline exceeded"). */
void mx_gate_wait_begin(mx_gate_req *req) {
    mx_task *t = task_get(req->rt, req->slot, req->gen);
    if (!t || req->waiting) return;
    req->waiting = 1;
    req->wait_check = t->check->id;
    req->wait_rule = t->rule;
    rule_run *run = &t->check->runs[t->rule];
    if (run->nqueued++ == 0) run->queued_since = mx_now_ms();
}
void mx_gate_wait_end(mx_gate_req *req) {
    if (!req->waiting) return;
    req->waiting = 0;
    mx_check *c = check_by_id(req->rt, req->wait_check);
    if (!c) return;
    rule_run *run = &c->runs[req->wait_rule];
    if (run->nqueued > 0 && --run->nqueued == 0) run->queued_ms += mx_now_ms() - run->queued_since;
}
static int64_t queued_ms(const rule_run *run) {
    return run->queued_ms + (run->nqueued ? mx_now_ms() - run->queued_since : 0);
}

typedef struct deadline_ud {
    mx_rt *rt;
    int check_id;
    int rule;
} deadline_ud;

static void rule_deadline(mx_loop *loop, void *ud) {
    (void)loop;
    deadline_ud *d = ud;
    mx_check *c = check_by_id(d->rt, d->check_id);
    int rule = d->rule;
    free(d);
    if (!c) return;
    rule_run *run = &c->runs[rule];
    run->deadline = NULL;
    run->deadline_ud = NULL;
    int64_t extra = others_ms(c->rt, run) + queued_ms(run) - run->granted_ms;
    if (extra > 0) {
        /* other rules' Lua code held the loop meanwhile: that time is not this rule's */
        run->granted_ms += extra;
        deadline_ud *nd = mx_xmalloc(sizeof *nd);
        nd->rt = c->rt;
        nd->check_id = c->id;
        nd->rule = rule;
        run->deadline = mx_loop_timer(c->rt->loop, extra, rule_deadline, nd);
        run->deadline_ud = nd;
        return;
    }
    char msg[256];
    snprintf(msg, sizeof msg, "rule %s did not finish within its deadline of %.1f s", c->rt->rules[rule].id,
             (double)rule_timeout_ms(c->rt, rule) / 1000.0);
    rule_error_finding(c, rule, msg, "deadline exceeded");
    rule_finish(c, rule, RULE_FAILED, "deadline exceeded");
}

static int rule_timeout_ms(mx_rt *rt, int rule) {
    if (rt->rules[rule].timeout_ms) return rt->rules[rule].timeout_ms;
    /* room for a handful of sequential network steps, each bounded */
    return rt->opts.timeout_ms * 6 + 2000;
}

/* ---- report object: report:finding{...}, report:publish(name, value) ---- */

static mx_check *report_check(lua_State *L, int *rule) {
    mx_rt *rt = mx_rt_from_L(L);
    mx_check *c = check_by_id(rt, (int)lua_tointeger(L, lua_upvalueindex(1)));
    *rule = (int)lua_tointeger(L, lua_upvalueindex(2));
    if (!c || c->finished || c->runs[*rule].state != RULE_RUNNING)
        luaL_error(L, "report used after its rule finished");
    return c;
}

static const char *opt_field_string(lua_State *L, int t, const char *field, int required) {
    lua_getfield(L, t, field);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        if (required) luaL_error(L, "report:finding: field '%s' is required", field);
        return NULL;
    }
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "report:finding: field '%s' must be a string", field);
    const char *s = lua_tostring(L, -1);
    lua_pop(L, 1); /* string stays alive: it is referenced by the table */
    return s;
}

/* report:finding{code=, severity=?, summary=, explanation=?, advice=?, evidence=?} [-0,+0,e] */
static int l_report_finding(lua_State *L) {
    int rule;
    mx_check *c = report_check(L, &rule);
    mx_rt *rt = c->rt;
    luaL_checktype(L, 2, LUA_TTABLE);
    static const char *const known[] = {"code", "severity", "summary", "explanation", "advice", "evidence", NULL};
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        lua_pop(L, 1);
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        int ok = 0;
        for (const char *const *p = known; k && *p; p++) if (strcmp(*p, k) == 0) ok = 1;
        if (!ok) return luaL_error(L, "report:finding: unknown field '%s'", k ? k : "?");
    }
    const char *code = opt_field_string(L, 2, "code", 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->rules[rule].ref);
    lua_getfield(L, -1, "codes");
    lua_getfield(L, -1, code);
    if (lua_isnil(L, -1)) return luaL_error(L, "report:finding: code '%s' is not declared in rule '%s' codes", code, rt->rules[rule].id);
    mx_severity sev;
    mx_severity_parse(lua_tostring(L, -1), &sev);
    lua_pop(L, 3);
    const char *sevs = opt_field_string(L, 2, "severity", 0);
    if (sevs && mx_severity_parse(sevs, &sev) != 0)
        return luaL_error(L, "report:finding: severity '%s' is not one of ok, info, warn, crit, unknown", sevs);
    const char *summary = opt_field_string(L, 2, "summary", 1);
    const char *expl = opt_field_string(L, 2, "explanation", 0);
    const char *adv = opt_field_string(L, 2, "advice", 0);
    lua_getfield(L, 2, "evidence");
    if (!lua_isnil(L, -1) && !lua_istable(L, -1)) return luaL_error(L, "report:finding: field 'evidence' must be a table");
    mx_json *evd = lua_isnil(L, -1) ? mx_json_obj() : mx_lua_to_json(L, -1);
    lua_pop(L, 1);
    if (evd->type != MX_JOBJ) { mx_json *o = mx_json_obj(); mx_json_set(o, "items", evd); evd = o; }
    mx_json *o = mx_json_obj();
    mx_json_set(o, "rule", mx_json_str(rt->rules[rule].id));
    mx_json_set(o, "code", mx_json_str(code));
    mx_json_set(o, "severity", mx_json_str(mx_severity_name(sev)));
    mx_json_set(o, "summary", mx_json_str(summary));
    mx_json_set(o, "explanation", mx_json_str(expl ? expl : ""));
    mx_json_set(o, "advice", mx_json_str(adv ? adv : ""));
    mx_json_set(o, "evidence", evd);
    add_finding(c, rule, sev, o);
    return 0;
}

/* report:publish(name, value) [-0,+0,e] */
static int l_report_publish(lua_State *L) {
    int rule;
    mx_check *c = report_check(L, &rule);
    mx_rt *rt = c->rt;
    const char *name = luaL_checkstring(L, 2);
    luaL_checkany(L, 3);
    int ok = 0;
    for (size_t i = 0; i < rt->rules[rule].nprovides; i++) if (strcmp(rt->rules[rule].provides[i], name) == 0) ok = 1;
    if (!ok) return luaL_error(L, "report:publish: rule '%s' does not list '%s' in its 'provides'", rt->rules[rule].id, name);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->facts_ref);
    lua_pushvalue(L, 3);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
    mx_rt_trace(rt, "fact %s published by %s", name, rt->rules[rule].id);
    advance(c);
    return 0;
}

/* report:pending(name) -> true while another enabled rule of this check that
 * has not finished may still publish the fact (so a rule handing something
 * over, such as an open connection, knows whether anyone will take it). [-0,+1,e] */
static int l_report_pending(lua_State *L) {
    int rule;
    mx_check *c = report_check(L, &rule);
    const char *name = luaL_checkstring(L, 2);
    int pending = 0;
    for (int k = 0; k < c->rt->nrules && !pending; k++) {
        if (k == rule || (c->runs[k].state != RULE_PENDING && c->runs[k].state != RULE_RUNNING)) continue;
        for (size_t p = 0; p < c->rt->rules[k].nprovides; p++)
            if (strcmp(c->rt->rules[k].provides[p], name) == 0) pending = 1;
    }
    lua_pushboolean(L, pending);
    return 1;
}

static void push_report(mx_rt *rt, mx_check *c, int rule) {
    lua_State *L = rt->L;
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, c->id);
    lua_pushinteger(L, rule);
    lua_pushcclosure(L, l_report_finding, 2);
    lua_setfield(L, -2, "finding");
    lua_pushinteger(L, c->id);
    lua_pushinteger(L, rule);
    lua_pushcclosure(L, l_report_publish, 2);
    lua_setfield(L, -2, "publish");
    lua_pushinteger(L, c->id);
    lua_pushinteger(L, rule);
    lua_pushcclosure(L, l_report_pending, 2);
    lua_setfield(L, -2, "pending");
}

static int fact_present(mx_rt *rt, mx_check *c, const char *name) {
    lua_rawgeti(rt->L, LUA_REGISTRYINDEX, c->facts_ref);
    lua_getfield(rt->L, -1, name);
    int present = !lua_isnil(rt->L, -1);
    lua_pop(rt->L, 2);
    return present;
}

static int fact_pending(mx_rt *rt, mx_check *c, const char *name) {
    /* can some enabled, unfinished rule still publish it? */
    for (int k = 0; k < rt->nrules; k++) {
        /* a rule not selected for this check is RULE_SKIPPED from the start */
        if (c->runs[k].state != RULE_PENDING && c->runs[k].state != RULE_RUNNING) continue;
        for (size_t p = 0; p < rt->rules[k].nprovides; p++)
            if (strcmp(rt->rules[k].provides[p], name) == 0) return 1;
    }
    return 0;
}

static void error_location(mx_rt *rt, lua_State *co, rule_run *run, const char *rule_file);

/* Message handler for applies(): note where it failed while the stack is
 * still there. [-0, +0, -] */
static int applies_msgh(lua_State *L) {
    mx_rt *rt = mx_rt_from_L(L);
    if (rt->acct) error_location(rt, L, rt->acct, rt->rules[rt->acct_rule].file);
    return 1;
}

static void start_rule(mx_check *c, int rule) {
    mx_rt *rt = c->rt;
    lua_State *L = rt->L;
    rule_run *run = &c->runs[rule];
    /* predicate: applies(target) -> boolean, run unprotected from I/O */
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->rules[rule].ref);
    lua_getfield(L, -1, "applies");
    if (lua_isfunction(L, -1)) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, c->target_ref);
        /* the predicate runs under the rule's budget too */
        run->started = mx_now_ms();
        run->lua_us_at_start = rt->lua_us;
        rt->acct = run;
        rt->acct_rule = rule;
        rt->mem_limit = rt->mem_used + MX_RULE_MEM_LIMIT < MX_LUA_MEM_LIMIT ? rt->mem_used + MX_RULE_MEM_LIMIT : MX_LUA_MEM_LIMIT;
        lua_pushcfunction(L, applies_msgh);
        lua_insert(L, -3);
        int64_t t0 = now_us();
        int ast = lua_pcall(L, 1, 1, lua_gettop(L) - 2);
        int64_t dt = now_us() - t0;
        rt->lua_us += dt;
        run->own_us += dt;
        lua_remove(L, -2);
        rt->mem_limit = MX_LUA_MEM_LIMIT;
        rt->acct = NULL;
        if (ast != LUA_OK) {
            run->state = RULE_RUNNING;
            char msg[512];
            snprintf(msg, sizeof msg, "rule %s failed in applies(): %s", rt->rules[rule].id, lua_tostring(L, -1));
            rule_error_finding(c, rule, msg, lua_tostring(L, -1));
            lua_pop(L, 2);
            rule_finish(c, rule, RULE_FAILED, "error in applies()");
            return;
        }
        int yes = lua_toboolean(L, -1);
        lua_pop(L, 2);
        if (!yes) { run->state = RULE_PENDING; rule_finish(c, rule, RULE_SKIPPED, "does not apply to this target"); return; }
    } else lua_pop(L, 2);

    run->state = RULE_RUNNING;
    run->started = mx_now_ms();
    if (!run->own_us) run->lua_us_at_start = rt->lua_us;
    mx_task *t = task_new(rt, c, rule);
    run->root_slot = t->slot;
    run->root_gen = t->gen;
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->rules[rule].ref);
    lua_getfield(L, -1, "run");
    lua_xmove(L, t->co, 1);
    lua_pop(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->target_ref);
    lua_xmove(L, t->co, 1);
    push_report(rt, c, rule);
    lua_xmove(L, t->co, 1);
    t->nargs_fixed = 2;
    deadline_ud *d = mx_xmalloc(sizeof *d);
    d->rt = rt;
    d->check_id = c->id;
    d->rule = rule;
    run->deadline = mx_loop_timer(rt->loop, rule_timeout_ms(rt, rule), rule_deadline, d);
    run->deadline_ud = d;
    mx_rt_trace(rt, "rule %s started", rt->rules[rule].id);
    make_ready(rt, t);
}

static void check_complete(mx_check *c) {
    if (c->finished) return;
    c->finished = 1;
    c->end = mx_now_ms();
    c->rt->active_checks--;
    if (c->done_fn) c->done_fn(c, c->done_ud);
}

/* Starts every rule whose facts are in, skips those whose facts can no longer
 * come, and finishes the check when no rule is left. */
static void advance(mx_check *c) {
    mx_rt *rt = c->rt;
    int progress = 1;
    while (progress) {
        progress = 0;
        for (int i = 0; i < rt->nrules; i++) {
            if (c->runs[i].state != RULE_PENDING) continue;
            int ready = 1, impossible = 0;
            const char *missing = NULL;
            for (size_t q = 0; q < rt->rules[i].nrequires; q++) {
                const char *f = rt->rules[i].requires[q];
                if (fact_present(rt, c, f)) continue;
                ready = 0;
                if (!fact_pending(rt, c, f)) { impossible = 1; missing = f; }
            }
            /* optional facts: wait only while some rule may still publish them */
            for (size_t q = 0; ready && q < rt->rules[i].nwants; q++) {
                const char *f = rt->rules[i].wants[q];
                if (!fact_present(rt, c, f) && fact_pending(rt, c, f)) ready = 0;
            }
            if (ready) { start_rule(c, i); progress = 1; }
            else if (impossible) {
                char why[300];
                snprintf(why, sizeof why, "fact '%s' is not available for this target", missing);
                rule_finish(c, i, RULE_SKIPPED, why);
                progress = 1;
            }
        }
    }
    /* Nothing runs and rules still wait: they wait on each other (a cycle of
     * requires/wants). Say so instead of hanging. */
    if (c->remaining > 0 && !c->finished) {
        int running = 0;
        for (int i = 0; i < rt->nrules; i++) running |= c->runs[i].state == RULE_RUNNING;
        if (!running) {
            for (int i = 0; i < rt->nrules; i++) {
                if (c->runs[i].state != RULE_PENDING) continue;
                char msg[300];
                snprintf(msg, sizeof msg, "rule %s never started: its requires/wants form a cycle with other rules",
                         rt->rules[i].id);
                rule_error_finding(c, i, msg, "dependency cycle");
                c->runs[i].state = RULE_FAILED;
                c->runs[i].why = mx_xstrdup("dependency cycle");
                c->remaining--;
            }
        }
    }
    if (c->remaining == 0) check_complete(c);
}

static void push_target(mx_rt *rt, mx_check *c, const mx_json *overrides) {
    lua_State *L = rt->L;
    mx_target *t = &c->target;
    lua_newtable(L);
    lua_pushstring(L, t->input);
    lua_setfield(L, -2, "input");
    lua_pushstring(L, mx_target_kind_name(t->kind));
    lua_setfield(L, -2, "kind");
    if (t->kind == MX_TARGET_DOMAIN) { lua_pushstring(L, t->domain); lua_setfield(L, -2, "domain"); }
    if (t->kind == MX_TARGET_HOST) { lua_pushstring(L, t->domain); lua_setfield(L, -2, "host"); }
    if (t->kind == MX_TARGET_ADDRESS) {
        char a[64];
        mx_addr_format(&t->addr, a, sizeof a);
        lua_pushstring(L, a);
        lua_setfield(L, -2, "address");
    }
    if (t->local[0]) { lua_pushstring(L, t->local); lua_setfield(L, -2, "local_part"); }
    if (t->port) { lua_pushinteger(L, t->port); lua_setfield(L, -2, "port"); }
    if (overrides && overrides->type == MX_JOBJ && overrides->u.c.len) {
        mx_lua_push_json(L, rt->opts.options);
        if (lua_isnil(L, -1)) { lua_pop(L, 1); lua_newtable(L); }
        /* per-check options replace the run's, key by key */
        for (size_t i = 0; i < overrides->u.c.len; i++) {
            mx_lua_push_json(L, overrides->u.c.items[i]);
            lua_setfield(L, -2, overrides->u.c.keys[i]);
        }
        push_readonly(L, -1);
        lua_setfield(L, -3, "options");
        lua_pop(L, 1);
    } else {
        /* the run's options, read-only, are the same for every check: built once */
        if (!rt->has_options_ro) {
            mx_lua_push_json(L, rt->opts.options);
            if (lua_isnil(L, -1)) { lua_pop(L, 1); lua_newtable(L); }
            push_readonly(L, -1);
            rt->options_ro_ref = luaL_ref(L, LUA_REGISTRYINDEX);
            lua_pop(L, 1);
            rt->has_options_ro = 1;
        }
        lua_rawgeti(L, LUA_REGISTRYINDEX, rt->options_ro_ref);
        lua_setfield(L, -2, "options");
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->facts_ref);
    push_readonly(L, -1);
    lua_setfield(L, -3, "facts");
    lua_pop(L, 1);
    int tbl = lua_gettop(L);
    push_readonly(L, tbl);
    lua_remove(L, tbl);
}

/* "a,b" from a JSON string or list of strings (a batch entry's only/skip/resolver) */
static char *strings_csv(const mx_json *v) {
    if (v->type == MX_JSTR) return mx_xstrdup(v->u.str.s);
    mx_buf b = MX_BUF_INIT;
    for (size_t i = 0; v->type == MX_JARR && i < v->u.c.len; i++) {
        if (v->u.c.items[i]->type != MX_JSTR) continue;
        if (b.len) mx_buf_putc(&b, ',');
        mx_buf_puts(&b, v->u.c.items[i]->u.str.s);
    }
    return b.len ? mx_buf_steal(&b) : mx_xstrdup("");
}

/* How many rules a check with these options would run (its own only/skip
 * replacing the run's); lets a batch refuse an entry whose only matches nothing. */
int mx_rt_check_selects(mx_rt *rt, const mx_json *options) {
    const mx_json *own_only = mx_json_get(options, "only"), *own_skip = mx_json_get(options, "skip");
    if (!own_only && !own_skip) {
        int n = 0;
        for (int i = 0; i < rt->nrules; i++) n += rt->rules[i].enabled;
        return n;
    }
    char *o = own_only ? strings_csv(own_only) : NULL, *k = own_skip ? strings_csv(own_skip) : NULL;
    char on[MAX_RULES];
    int n = select_rules(rt, o ? o : rt->opts.only, k ? k : rt->opts.skip, on);
    free(o);
    free(k);
    return n;
}

mx_check *mx_check_start(mx_rt *rt, const mx_target *t, mx_check_done_fn done, void *ud) {
    return mx_check_start_opts(rt, t, NULL, done, ud);
}

mx_check *mx_check_start_opts(mx_rt *rt, const mx_target *t, const mx_json *options, mx_check_done_fn done, void *ud) {
    mx_check *c = mx_xcalloc(1, sizeof *c);
    c->rt = rt;
    c->target = *t;
    c->start = mx_now_ms();
    c->wall = time(NULL);
    c->done_fn = done;
    c->done_ud = ud;
    if (rt->nchecks == rt->checks_cap) {
        rt->checks_cap = rt->checks_cap ? rt->checks_cap * 2 : 16;
        rt->checks = mx_xrealloc(rt->checks, (size_t)rt->checks_cap * sizeof *rt->checks);
    }
    c->id = rt->nchecks;
    rt->checks[rt->nchecks++] = c;
    rt->active_checks++;
    c->target_json = mx_json_obj();
    mx_json_set(c->target_json, "input", mx_json_str(t->input));
    mx_json_set(c->target_json, "kind", mx_json_str(mx_target_kind_name(t->kind)));
    mx_json_set(c->target_json, "domain", t->kind == MX_TARGET_DOMAIN ? mx_json_str(t->domain) : mx_json_null());
    if (t->kind == MX_TARGET_HOST) mx_json_set(c->target_json, "host", mx_json_str(t->domain));
    if (t->kind == MX_TARGET_ADDRESS) {
        char a[64];
        mx_addr_format(&t->addr, a, sizeof a);
        mx_json_set(c->target_json, "address", mx_json_str(a));
    }
    if (t->port) mx_json_set(c->target_json, "port", mx_json_int(t->port));
    lua_newtable(rt->L);
    /* facts every check of the run starts with (mxdiag logs: `logs`) */
    for (size_t i = 0; rt->opts.facts && rt->opts.facts->type == MX_JOBJ && i < rt->opts.facts->u.c.len; i++) {
        mx_lua_push_json(rt->L, rt->opts.facts->u.c.items[i]);
        lua_setfield(rt->L, -2, rt->opts.facts->u.c.keys[i]);
    }
    c->facts_ref = luaL_ref(rt->L, LUA_REGISTRYINDEX);
    push_target(rt, c, options);
    c->target_ref = luaL_ref(rt->L, LUA_REGISTRYINDEX);
    c->runs = mx_xcalloc((size_t)(rt->nrules ? rt->nrules : 1), sizeof *c->runs);
    /* a check's own resolvers (a batch entry's `resolver`, already normalised) */
    const mx_json *own_res = mx_json_get(options, "resolver");
    if (own_res && !rt->replay) c->resolvers = strings_csv(own_res);
    /* a check's own only/skip (a batch entry's settings) replace the run's */
    const mx_json *own_only = mx_json_get(options, "only"), *own_skip = mx_json_get(options, "skip");
    char on[MAX_RULES];
    if (own_only || own_skip) {
        char *o = own_only ? strings_csv(own_only) : NULL, *k = own_skip ? strings_csv(own_skip) : NULL;
        select_rules(rt, o ? o : rt->opts.only, k ? k : rt->opts.skip, on);
        free(o);
        free(k);
    } else {
        for (int i = 0; i < rt->nrules; i++) on[i] = (char)rt->rules[i].enabled;
    }
    for (int i = 0; i < rt->nrules; i++) {
        c->runs[i].state = on[i] ? RULE_PENDING : RULE_SKIPPED;
        if (!on[i]) c->runs[i].why = mx_xstrdup(own_only || own_skip ? "not selected (only/skip of this entry)" : "not selected (--only/--skip)");
        else c->remaining++;
    }
    advance(c);
    return c;
}

/* ------------------------------------------------------------ scheduler */

static void task_finished(mx_rt *rt, mx_task *t, int ok, const char *err) {
    mx_check *c = t->check;
    int rule = t->rule;
    if (t->parent_slot < 0) {
        if (!ok) {
            char msg[1024];
            snprintf(msg, sizeof msg, "rule %s failed: %s", rt->rules[rule].id, err);
            /* first line only in the summary; the whole traceback in evidence */
            char *nl = strchr(msg, '\n');
            if (nl) *nl = 0;
            rule_error_finding(c, rule, msg, err);
            rule_finish(c, rule, RULE_FAILED, "error");
        } else {
            rule_finish(c, rule, RULE_DONE, NULL);
        }
        return;
    }
    mx_task *p = task_get(rt, t->parent_slot, t->parent_gen);
    if (p) {
        if (ok) {
            /* first return value goes to results[child_index] */
            lua_rawgeti(rt->L, LUA_REGISTRYINDEX, p->results_ref);
            if (lua_gettop(t->co) >= 1) { lua_pushvalue(t->co, 1); lua_xmove(t->co, rt->L, 1); }
            else lua_pushnil(rt->L);
            lua_rawseti(rt->L, -2, t->child_index);
            lua_pop(rt->L, 1);
        } else if (!p->child_error) {
            p->child_error = mx_xstrdup(err ? err : "error in task");
        }
        if (--p->pending_children == 0) make_ready(rt, p);
    }
    task_kill(rt, t);
}

/* Where a rule failed: the innermost frame in the rule's own file, else the
 * innermost Lua frame (a library). The first error of a run wins (a task.all
 * child's error is re-raised in its parent). [-0, +0, -] */
static void error_location(mx_rt *rt, lua_State *co, rule_run *run, const char *rule_file) {
    (void)rt;
    if (run->err_line) return;
    lua_Debug ar;
    int any_line = 0;
    char any_src[sizeof run->err_src] = "";
    for (int level = 0; lua_getstack(co, level, &ar); level++) {
        if (!lua_getinfo(co, "Sl", &ar) || ar.currentline <= 0 || ar.source[0] != '@') continue;
        if (!any_line) { any_line = ar.currentline; snprintf(any_src, sizeof any_src, "%s", ar.source + 1); }
        if (strcmp(ar.source + 1, rule_file) == 0) {
            run->err_line = ar.currentline;
            snprintf(run->err_src, sizeof run->err_src, "%s", rule_file);
            return;
        }
    }
    if (any_line) { run->err_line = any_line; snprintf(run->err_src, sizeof run->err_src, "%s", any_src); }
}

static void resume_task(mx_rt *rt, mx_task *t) {
    int nargs;
    lua_State *co = t->co;
    if (t->nargs_fixed >= 0 && (t->nargs_fixed > 0 || t->start_fn_ref != LUA_NOREF)) {
        nargs = t->nargs_fixed;
        t->nargs_fixed = -1;
        if (t->start_fn_ref != LUA_NOREF) {
            luaL_unref(rt->L, LUA_REGISTRYINDEX, t->start_fn_ref);
            t->start_fn_ref = LUA_NOREF;
        }
    } else if (t->push) {
        mx_json *res = t->result;
        void *h = t->handle;
        mx_push_fn push = t->push;
        t->result = NULL;
        t->handle = NULL;
        t->push = NULL;
        nargs = push(co, res, h);
        mx_json_free(res);
    } else {
        /* children finished: results table, error or nil */
        lua_rawgeti(rt->L, LUA_REGISTRYINDEX, t->results_ref);
        lua_xmove(rt->L, co, 1);
        luaL_unref(rt->L, LUA_REGISTRYINDEX, t->results_ref);
        t->results_ref = LUA_NOREF;
        if (t->child_error) { lua_pushstring(co, t->child_error); free(t->child_error); t->child_error = NULL; }
        else lua_pushnil(co);
        nargs = 2;
    }
    rt->current = t;
    rule_run *run = &t->check->runs[t->rule];
    rt->acct = run;
    rt->acct_rule = t->rule;
    rt->mem_limit = rt->mem_used + MX_RULE_MEM_LIMIT < MX_LUA_MEM_LIMIT ? rt->mem_used + MX_RULE_MEM_LIMIT : MX_LUA_MEM_LIMIT;
    int nres = 0;
    int slot = t->slot;
    uint32_t gen = t->gen;
    int64_t t0 = now_us();
    int st = lua_resume(co, rt->L, nargs, &nres);
    int64_t dt = now_us() - t0;
    rt->lua_us += dt;
    run->own_us += dt;
    rt->mem_limit = MX_LUA_MEM_LIMIT;
    rt->current = NULL;
    rt->acct = NULL;
    /* task.all may have grown (moved) the task array, or the rule may have
     * finished meanwhile: look the task up again */
    t = task_get(rt, slot, gen);
    if (!t) return;
    if (st == LUA_YIELD) {
        int engine = nres == 1 && lua_touserdata(co, -1) == MARKER;
        lua_pop(co, nres);
        if (!engine) {
            task_finished(rt, t, 0, "coroutine.yield() outside a coroutine of the rule's own (engine calls yield by themselves)");
        }
        return;
    }
    if (st == LUA_OK) {
        /* keep return values at the bottom of the stack for the parent */
        task_finished(rt, t, 1, NULL);
        return;
    }
    const char *msg = lua_tostring(co, -1);
    if (st == LUA_ERRMEM || (msg && strcmp(msg, "not enough memory") == 0))
        msg = "not enough memory (a rule may grow the Lua heap by 64 MiB between two engine calls)";
    if (!msg) msg = "error object is not a string";
    error_location(rt, co, run, rt->rules[t->rule].file);
    luaL_traceback(rt->L, co, msg, 0);
    char *full = mx_xstrdup(lua_tostring(rt->L, -1));
    lua_pop(rt->L, 1);
    task_finished(rt, t, 0, full);
    free(full);
}

static void run_ready(mx_rt *rt) {
    while (rt->nready) {
        int n = rt->nready;
        int *slots = mx_xmalloc((size_t)n * sizeof *slots);
        uint32_t *gens = mx_xmalloc((size_t)n * sizeof *gens);
        memcpy(slots, rt->ready, (size_t)n * sizeof *slots);
        memcpy(gens, rt->ready_gen, (size_t)n * sizeof *gens);
        rt->nready = 0;
        for (int i = 0; i < n; i++) {
            mx_task *t = task_get(rt, slots[i], gens[i]);
            if (!t) continue;
            t->queued = 0;
            resume_task(rt, t);
        }
        free(slots);
        free(gens);
    }
}


void mx_rt_stop(mx_rt *rt) { rt->stopping = 1; }

void mx_rt_run(mx_rt *rt) {
    rt->stopping = 0;
    while (rt->active_checks > 0 && !rt->stopping) {
        run_ready(rt);
        if (rt->active_checks == 0) break;
        mx_loop_run_once(rt->loop, rt->nready ? 0 : 1000);
    }
    run_ready(rt);
}


/* ---- task module support: task.all spawns children ---- */
int mx_task_spawn_all(lua_State *L, lua_KFunction k);
int mx_task_spawn_all(lua_State *L, lua_KFunction k) {
    /* [-0, +0, e] argument 1: list of functions; yields until all are done */
    mx_rt *rt = mx_rt_from_L(L);
    mx_task *p = rt->current;
    if (!p || !lua_isyieldable(L)) return luaL_error(L, "task.all: only possible while a rule runs");
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
    if (n > 10000) return luaL_error(L, "task.all: too many functions (%d, limit 10000)", (int)n);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, i);
        if (!lua_isfunction(L, -1)) return luaL_error(L, "task.all: item %d is a %s, not a function", (int)i, luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    lua_createtable(L, (int)n, 0);
    p->results_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    p->pending_children = (int)n;
    p->push = NULL;
    for (lua_Integer i = 1; i <= n; i++) {
        int pslot = p->slot;
        uint32_t pgen = p->gen;
        mx_task *c = task_new(rt, p->check, p->rule);
        p = &rt->tasks[pslot]; /* the task array may have moved */
        c = task_get(rt, c->slot, c->gen);
        c->parent_slot = pslot;
        c->parent_gen = pgen;
        c->child_index = (int)i;
        lua_rawgeti(L, 1, i);
        lua_xmove(L, c->co, 1);
        lua_pushboolean(L, 1);
        c->start_fn_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* marks "first resume" */
        c->nargs_fixed = 0;
        make_ready(rt, c);
    }
    rt->current = p;
    if (n == 0) make_ready(rt, p);
    lua_pushlightuserdata(L, MARKER);
    return lua_yieldk(L, 1, 0, k);
}

/* ---- task.event/wait/signal: one-shot condition variables, so that work
 * shared by many checks (one probe of an MX address used by thousands of
 * domains) runs once while the others wait for its result. ---- */
typedef struct rt_event {
    int signalled;
    int owner;              /* the rule that made it: only it may wait or signal */
    int n, cap;
    int *slots;
    uint32_t *gens;
} rt_event;

static int push_none(lua_State *L, mx_json *res, void *h) {
    (void)L; (void)res; (void)h;
    return 0;
}

static rt_event *event_get(lua_State *L, mx_rt *rt, int arg) {
    lua_Integer id = luaL_checkinteger(L, arg);
    luaL_argcheck(L, id >= 1 && id <= rt->nevents, arg, "not an event made by task.event()");
    /* ids are small integers: without this a rule could wake (or spoil)
     * another rule's waiters */
    int rule = rt->current ? rt->current->rule : -1;
    luaL_argcheck(L, rt->events[id - 1].owner == rule, arg, "an event made by another rule");
    return &rt->events[id - 1];
}

/* task.event() -> id [-0, +1, m] */
int mx_task_event_new(lua_State *L);
int mx_task_event_new(lua_State *L) {
    mx_rt *rt = mx_rt_from_L(L);
    if (rt->nevents == rt->events_cap) {
        rt->events_cap = rt->events_cap ? rt->events_cap * 2 : 64;
        rt->events = mx_xrealloc(rt->events, (size_t)rt->events_cap * sizeof *rt->events);
    }
    memset(&rt->events[rt->nevents], 0, sizeof rt->events[0]);
    rt->events[rt->nevents].owner = rt->current ? rt->current->rule : -1;
    lua_pushinteger(L, ++rt->nevents);
    return 1;
}

/* task.wait(id): returns at once if signalled, else yields until it is [-1, +0, e] */
int mx_task_event_wait(lua_State *L);
int mx_task_event_wait(lua_State *L) {
    mx_rt *rt = mx_rt_from_L(L);
    rt_event *e = event_get(L, rt, 1);
    if (e->signalled) return 0;
    mx_task *t = rt->current;
    if (!t || !lua_isyieldable(L)) return luaL_error(L, "task.wait: only possible while a rule runs");
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 4;
        e->slots = mx_xrealloc(e->slots, (size_t)e->cap * sizeof *e->slots);
        e->gens = mx_xrealloc(e->gens, (size_t)e->cap * sizeof *e->gens);
    }
    e->slots[e->n] = t->slot;
    e->gens[e->n] = t->gen;
    e->n++;
    t->push = push_none;
    t->result = NULL;
    t->handle = NULL;
    lua_pushlightuserdata(L, MARKER);
    return lua_yield(L, 1);
}

/* task.signal(id): wakes every waiter (later, from the scheduler) [-1, +0, e] */
int mx_task_event_signal(lua_State *L);
int mx_task_event_signal(lua_State *L) {
    mx_rt *rt = mx_rt_from_L(L);
    rt_event *e = event_get(L, rt, 1);
    if (e->signalled) return 0;
    e->signalled = 1;
    for (int i = 0; i < e->n; i++) {
        mx_task *w = task_get(rt, e->slots[i], e->gens[i]);
        if (w) make_ready(rt, w);
    }
    free(e->slots);
    free(e->gens);
    e->slots = NULL;
    e->gens = NULL;
    e->n = e->cap = 0;
    return 0;
}

/* ------------------------------------------------------------ results */

/* A replay reports the recorded run's duration, so that its output is the
 * recorded run's output byte for byte. */
static long long check_duration(mx_check *c) {
    mx_rt *rt = c->rt;
    if (!rt->replay) return c->end - c->start;
    return c->id >= 0 && (size_t)c->id < rt->nrec ? rt->rec_durations[c->id] : 0;
}

static mx_json *check_json(mx_check *c, int borrow);
mx_json *mx_check_json(mx_check *c) { return check_json(c, 0); }
mx_json *mx_check_json_borrowed(mx_check *c) { return check_json(c, 1); }
void mx_check_json_release(mx_json *doc) { mx_report_json_release(doc); }

static mx_json *check_json(mx_check *c, int borrow) {
    mx_rt *rt = c->rt;
    mx_json *rules = mx_json_arr();
    for (int i = 0; i < rt->nrules; i++) {
        mx_json *o = mx_json_obj();
        mx_json_set(o, "id", mx_json_str(rt->rules[i].id));
        mx_json_set(o, "status", mx_json_str(rule_state_names[c->runs[i].state]));
        if (c->runs[i].why) mx_json_set(o, "reason", mx_json_str(c->runs[i].why));
        mx_json_push(rules, o);
    }
    mx_json *doc = borrow ? mx_report_json_borrowed(&c->report, c->target_json, check_duration(c))
                          : mx_report_json(&c->report, mx_json_clone(c->target_json), check_duration(c), NULL);
    /* rules after findings would be nicer to read; keep schema order: append */
    mx_json_set(doc, "rules", rules);
    return doc;
}

void mx_check_text(mx_check *c, mx_buf *out, int colour) {
    mx_report_text(out, &c->report, c->target_json, check_duration(c), colour);
}

int mx_check_exit_code(mx_check *c) { return mx_severity_exit(mx_report_status(&c->report)); }

void mx_check_free(mx_check *c) {
    if (!c) return;
    mx_rt *rt = c->rt;
    for (int i = 0; i < rt->nrules; i++) {
        if (c->runs[i].deadline) { mx_timer_cancel(rt->loop, c->runs[i].deadline); free(c->runs[i].deadline_ud); }
        free(c->runs[i].why);
    }
    for (int i = 0; i < rt->ntasks && c->ntasks > 0; i++)
        if (rt->tasks[i].alive && rt->tasks[i].check == c) task_kill(rt, &rt->tasks[i]);
    luaL_unref(rt->L, LUA_REGISTRYINDEX, c->facts_ref);
    luaL_unref(rt->L, LUA_REGISTRYINDEX, c->target_ref);
    if (c->id >= 0 && c->id < rt->nchecks) rt->checks[c->id] = NULL;
    free(c->runs);
    free(c->resolvers);
    mx_report_free(&c->report);
    mx_json_free(c->target_json);
    free(c);
}

/* ------------------------------------------------------------ lifecycle */

static int load_replay(mx_rt *rt, const char *path, char *err, size_t errlen) {
    mx_buf b = MX_BUF_INIT;
    char rerr[4400];
    if (mx_file_read_all(path, MX_FILE_MAX_JSON, &b, rerr, sizeof rerr) != 0) {
        snprintf(err, errlen, "recording: %s", rerr);
        mx_buf_free(&b);
        return -1;
    }
    char perr[128];
    mx_json *doc = mx_json_parse(b.data ? b.data : "", b.len, perr, sizeof perr);
    mx_buf_free(&b);
    if (!doc) { snprintf(err, errlen, "recording %s is not valid JSON: %s", path, perr); return -1; }
    const char *schema = mx_json_get_str(doc, "schema");
    mx_json *calls = mx_json_get(doc, "calls");
    if (!schema || strcmp(schema, "mxdiag.recording/1") != 0 || !calls || calls->type != MX_JARR) {
        snprintf(err, errlen, "%s is not an mxdiag recording (schema mxdiag.recording/1)", path);
        mx_json_free(doc);
        return -1;
    }
    const char *servers = mx_json_get_str(doc, "servers");
    if (servers) rt->rec_servers = mx_xstrdup(servers);
    mx_json *checks = mx_json_get(doc, "checks");
    if (checks && checks->type == MX_JARR && checks->u.c.len) {
        rt->nrec = checks->u.c.len;
        rt->rec_durations = mx_xcalloc(rt->nrec, sizeof *rt->rec_durations);
        rt->rec_started = mx_xcalloc(rt->nrec, sizeof *rt->rec_started);
        for (size_t i = 0; i < rt->nrec; i++) {
            mx_json *d = mx_json_get(checks->u.c.items[i], "duration_ms");
            const char *st = mx_json_get_str(checks->u.c.items[i], "started");
            rt->rec_durations[i] = d && d->type == MX_JINT ? d->u.i : 0;
            rt->rec_started[i] = st ? mx_xstrdup(st) : NULL;
        }
    }
    rt->replay = mx_xcalloc(calls->u.c.len + 1, sizeof *rt->replay);
    for (size_t i = 0; i < calls->u.c.len; i++) {
        mx_json *e = calls->u.c.items[i];
        const char *call = mx_json_get_str(e, "call");
        mx_json *args = mx_json_get(e, "args"), *res = mx_json_get(e, "result");
        if (!call || !args || !res) continue;
        rt->replay[rt->nreplay].key = gate_key(call, args);
        rt->replay[rt->nreplay].result = mx_json_clone(res);
        rt->nreplay++;
    }
    mx_json_free(doc);
    return 0;
}

mx_rt *mx_rt_new(const mx_rt_opts *opts, char *err, size_t errlen) {
    mx_rt *rt = mx_xcalloc(1, sizeof *rt);
    rt->opts = *opts;
    if (rt->opts.timeout_ms <= 0) rt->opts.timeout_ms = 10000;
    rt->t0 = mx_now_ms();
    rt->mem_limit = MX_LUA_MEM_LIMIT;
    rt->loop = mx_loop_new();
    if (!rt->loop) { snprintf(err, errlen, "cannot create the event loop"); free(rt); return NULL; }
    if (opts->replay_path) {
        if (load_replay(rt, opts->replay_path, err, errlen) != 0) { mx_loop_free(rt->loop); free(rt); return NULL; }
    } else {
        mx_dns_opts dopts = {opts->resolvers, rt->opts.timeout_ms, 0, opts->qps};
        rt->dns = mx_dns_new(rt->loop, &dopts, err, errlen);
        if (!rt->dns) { mx_loop_free(rt->loop); free(rt); return NULL; }
    }
    if (opts->record_path) rt->recording = mx_json_arr();
    rt->L = lua_newstate(rt_alloc, rt);
    if (!rt->L) { snprintf(err, errlen, "cannot create the Lua state"); mx_rt_free(rt); return NULL; }
    luaL_openlibs(rt->L);
    lua_sethook(rt->L, count_hook, LUA_MASKCOUNT, HOOK_EVERY);
    build_env_proto(rt);
    return rt;
}

const char *mx_check_started_utc(mx_check *c, char *buf, size_t n) {
    mx_rt *rt = c->rt;
    if (rt->replay) {
        const char *s = c->id >= 0 && (size_t)c->id < rt->nrec ? rt->rec_started[c->id] : NULL;
        snprintf(buf, n, "%s", s ? s : "unknown");
        return buf;
    }
    struct tm tm;
    gmtime_r(&c->wall, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

int mx_rt_finish(mx_rt *rt, char *err, size_t errlen) {
    if (!rt->recording || !rt->opts.record_path) return 0;
    mx_json *doc = mx_json_obj();
    mx_json_set(doc, "schema", mx_json_str("mxdiag.recording/1"));
    /* what is needed to run the same check again offline (rules test) */
    mx_json_set(doc, "options", rt->opts.options ? mx_json_clone(rt->opts.options) : mx_json_obj());
    if (rt->opts.only) mx_json_set(doc, "only", mx_json_str(rt->opts.only));
    if (rt->opts.skip) mx_json_set(doc, "skip", mx_json_str(rt->opts.skip));
    /* what dns.servers() said, so that a replay elsewhere says the same */
    const char *servers = rt->dns ? mx_dns_servers(rt->dns) : rt->rec_servers;
    if (servers) mx_json_set(doc, "servers", mx_json_str(servers));
    mx_json *checks = mx_json_arr();
    for (int i = 0; i < rt->nchecks; i++) {
        mx_check *c = rt->checks[i];
        if (!c) continue;
        char when[64];
        mx_json *o = mx_json_obj();
        mx_json_set(o, "target", mx_json_str(c->target.input));
        mx_json_set(o, "started", mx_json_str(mx_check_started_utc(c, when, sizeof when)));
        mx_json_set(o, "duration_ms", mx_json_int(check_duration(c)));
        mx_json_push(checks, o);
    }
    mx_json_set(doc, "checks", checks);
    mx_json_set(doc, "calls", rt->recording);
    rt->recording = NULL;
    mx_buf b = MX_BUF_INIT;
    mx_json_write(&b, doc, 1);
    mx_buf_putc(&b, '\n');
    mx_json_free(doc);
    /* never through a planted link: a temporary next to it, renamed */
    int rc = mx_file_write_atomic(rt->opts.record_path, b.data, b.len, err, errlen);
    mx_buf_free(&b);
    return rc;
}

void mx_rt_free(mx_rt *rt) {
    if (!rt) return;
    if (rt->L) {
        for (int i = 0; i < rt->ntasks; i++) if (rt->tasks[i].alive) task_kill(rt, &rt->tasks[i]);
        for (int i = 0; i < rt->nrules; i++) rule_clear(rt->L, &rt->rules[i]);
        lua_close(rt->L);
        mx_json_free(rt->pushing_hit);
        slab_release(&rt->slab);
    }
    /* let in-flight primitives of killed tasks finish so nothing leaks */
    /* Primitives started by tasks that were killed (a rule's deadline) may
     * still be in flight: let them finish (each is bounded by its own
     * timeout) so their sockets and memory are released. */
    int64_t until = mx_now_ms() + rt->opts.timeout_ms + 1000;
    while (rt->pending_calls > 0 && mx_now_ms() < until) mx_loop_run_once(rt->loop, 100);
    mx_dns_free(rt->dns);
    mx_strmap_free(&rt->dns_by_resolvers, free_dns);
    mx_loop_free(rt->loop);
    if (rt->tls_ctx) SSL_CTX_free(rt->tls_ctx);
    free(rt->tls_ctx_err);
    mx_strmap_free(&rt->cache, free);
    if (rt->cache_fifo) for (size_t i = 0; i < GATE_CACHE_MAX; i++) free(rt->cache_fifo[i]);
    free(rt->cache_fifo);
    mx_strmap_free(&rt->inflight, NULL);
    mx_json_free(rt->recording);
    for (size_t i = 0; i < rt->nreplay; i++) { free(rt->replay[i].key); mx_json_free(rt->replay[i].result); }
    free(rt->replay);
    for (size_t i = 0; i < rt->nrec; i++) free(rt->rec_started[i]);
    free(rt->rec_started);
    free(rt->rec_servers);
    free(rt->rec_durations);
    free(rt->tasks);
    free(rt->free_slots);
    free(rt->ready);
    free(rt->ready_gen);
    for (int i = 0; i < rt->nevents; i++) { free(rt->events[i].slots); free(rt->events[i].gens); }
    free(rt->events);
    free(rt->checks);
    free(rt);
}
