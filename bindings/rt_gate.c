/* The call gate every primitive goes through: --trace lines, the run's
 * answer cache, identical calls in flight joined, --record and --replay. */
#include "rt_private.h"
#include <sys/ioctl.h>
#include "escape.h"
#include "outfile.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int mx_rt_dialogue_on(mx_rt *rt) { return rt->opts.trace || rt->opts.transcript; }
void mx_rt_dialogue(mx_rt *rt, const char *fmt, ...) {
    if (!rt->opts.trace && !rt->opts.transcript) return;
    mx_rt_status_clear(rt);
    char prefix[32] = "";
    if (rt->opts.trace) snprintf(prefix, sizeof prefix, "[%6lld ms] ", (long long)(mx_now_ms() - rt->t0));
    va_list ap;
    va_start(ap, fmt);
    mx_esc_vline(stderr, prefix, fmt, ap);
    va_end(ap);
}

/* The status line: escaped (names come from outside), cut to the terminal's
 * width so that it never wraps (a wrapped line cannot be erased with \r). */
void mx_rt_status(mx_rt *rt, const char *fmt, ...) {
    if (!rt->opts.progress) return;
    mx_buf b = MX_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    mx_esc_vprintf(&b, fmt, ap);
    va_end(ap);
    struct winsize ws;
    size_t width = ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10 ? ws.ws_col - 1 : 79;
    /* count characters, not bytes (the text may hold UTF-8) */
    size_t cut = b.len, chars = 0;
    for (size_t i = 0; i < b.len; i++) {
        if (((unsigned char)b.data[i] & 0xC0) != 0x80 && chars++ == width) { cut = i; break; }
    }
    fputs("\r\033[K", stderr);
    fwrite(b.data ? b.data : "", 1, cut, stderr);
    fflush(stderr);
    rt->status_shown = 1;
    mx_buf_free(&b);
}
void mx_rt_status_clear(mx_rt *rt) {
    if (!rt->status_shown) return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    rt->status_shown = 0;
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
#define CACHE_KEY(req) ((req)->cache_key ? (req)->cache_key : (req)->key)

static void cache_put(mx_rt *rt, const char *key, const char *text, size_t len) {
    if (!rt->cache_fifo) rt->cache_fifo = mx_xcalloc(GATE_CACHE_MAX, sizeof *rt->cache_fifo);
    cache_entry *ce = mx_xmalloc(sizeof *ce + len + 1);
    ce->ans = (gate_answer){.tag = 0};
    memcpy(ce->text, text, len + 1);
    cache_entry *old = mx_strmap_put(&rt->cache, key, ce);
    if (old) { free(old); return; }
    char **slot = &rt->cache_fifo[rt->cache_head];
    if (*slot) {
        free(mx_strmap_del(&rt->cache, *slot));
        free(*slot);
    }
    *slot = mx_xstrdup(key);
    rt->cache_head = (rt->cache_head + 1) % GATE_CACHE_MAX;
}

/* borrowed: result is a replayed answer, owned by the recording (rt->replay):
 * pushed as it is, never freed or changed here (push functions only read) */
static void gate_done(mx_gate_req *req, mx_json *result, void *handle, int borrowed) {
    mx_rt *rt = req->rt;
    rt->pending_calls--;
    trace_result(rt, req->key, result, "");
    if (rt->recording) {
        mx_json *e = mx_json_obj();
        mx_json_set(e, "call", mx_json_str(req->prim));
        mx_json_set(e, "args", req->args ? mx_json_clone(req->args) : mx_json_obj());
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
        cache_put(rt, CACHE_KEY(req), mx_buf_cstr(&b), b.len);
        mx_buf_free(&b);
        if (mx_strmap_get(&rt->inflight, CACHE_KEY(req)) == req) mx_strmap_del(&rt->inflight, CACHE_KEY(req));
        for (size_t i = 0; i < req->nwaiters; i++) {
            gate_waiter *w = &req->waiters[i];
            mx_task *wt = rt_task_get(rt, w->slot, w->gen);
            if (!wt) continue;
            wt->result = mx_json_clone(result);
            wt->result_borrowed = 0;
            wt->handle = NULL;
            wt->push = w->push;
            wt->discard = w->discard;
            rt_make_ready(rt, wt);
        }
        free(req->waiters);
    }
    mx_task *t = rt_task_get(rt, req->slot, req->gen);
    if (!t) {
        /* The task was killed (deadline): drop the result. */
        if (!borrowed) mx_json_free(result);
        if (handle && req->discard) req->discard(handle);
    } else {
        if (t->result && !t->result_borrowed) mx_json_free(t->result);
        t->result = result;
        t->result_borrowed = borrowed;
        t->handle = handle;
        t->push = req->push;
        t->discard = req->discard;
        rt_make_ready(rt, t);
    }
    free(req->key); free(req->cache_key);
    mx_json_free(req->args);
    free(req);
}

void mx_gate_done(mx_gate_req *req, mx_json *result, void *handle) { gate_done(req, result, handle, 0); }

/* An answer given without I/O (a replay's, mx_gate_done_later's): done
 * from the loop's next turn, as real I/O is; the answer waits in req. */
static void immediate_cb(mx_loop *loop, void *ud) {
    (void)loop;
    mx_gate_req *req = ud;
    gate_done(req, req->im_result, req->im_handle, req->im_borrowed);
}
static void done_later(mx_gate_req *req, mx_json *result, void *handle, int borrowed) {
    req->im_result = result;
    req->im_handle = handle;
    req->im_borrowed = borrowed;
    mx_loop_defer(req->rt->loop, immediate_cb, req);
}

mx_rt *mx_gate_rt(mx_gate_req *req) { return req->rt; }

void mx_gate_done_later(mx_gate_req *req, mx_json *result) { done_later(req, result, NULL, 0); }

/* ------------------------------------------------------- shared answers */

static char answers_key; /* registry: the array of shared answers, slot + 1 */

/* [-0, +(0|1), -] pushes the shared answer a holds, made by push, and gives
 * 1; 0 when there is none (never stored, its slot reused, the epoch's cache
 * cleared since) */
static int answer_get(lua_State *L, mx_rt *rt, const gate_answer *a, mx_push_fn push) {
    if (!a->tag || rt->ans_stale || rt->ans_tags[a->slot] != a->tag || rt->ans_push[a->slot] != push) return 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &answers_key);
    lua_rawgeti(L, -1, (lua_Integer)a->slot + 1);
    lua_remove(L, -2);
    rt->ans_used[a->slot] = 1;
    return 1;
}

/* stores the value at idx (a sealed answer push made) as a's shared answer
 * [-0, +0, m] */
static void answer_put(lua_State *L, mx_rt *rt, gate_answer *a, int idx, mx_push_fn push) {
    idx = lua_absindex(L, idx);
    if (!rt->ans_tags) {
        rt->ans_tags = mx_xcalloc(GATE_ANSWERS_MAX, sizeof *rt->ans_tags);
        rt->ans_push = mx_xcalloc(GATE_ANSWERS_MAX, sizeof *rt->ans_push);
        rt->ans_used = mx_xcalloc(GATE_ANSWERS_MAX, 1);
        rt->ans_stale = 1;
    }
    if (rt->ans_stale) {
        /* the first store, or the first of a new epoch: a new array (the
         * old one's answers go with it) */
        lua_createtable(L, GATE_ANSWERS_MAX, 0);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &answers_key);
        memset(rt->ans_tags, 0, GATE_ANSWERS_MAX * sizeof *rt->ans_tags);
        memset(rt->ans_used, 0, GATE_ANSWERS_MAX);
        rt->ans_hand = 0;
        rt->ans_stale = 0;
    }
    /* the clock: a slot read since the hand last passed gets another round */
    while (rt->ans_used[rt->ans_hand]) {
        rt->ans_used[rt->ans_hand] = 0;
        rt->ans_hand = (rt->ans_hand + 1) % GATE_ANSWERS_MAX;
    }
    unsigned slot = rt->ans_hand;
    rt->ans_hand = (rt->ans_hand + 1) % GATE_ANSWERS_MAX;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &answers_key);
    lua_pushvalue(L, idx);
    lua_rawseti(L, -2, (lua_Integer)slot + 1); /* the array part is there: no allocation */
    lua_pop(L, 1);
    rt->ans_tags[slot] = a->tag = ++rt->ans_next_tag;
    rt->ans_push[slot] = push;
    a->slot = slot;
}

/* push of a replayed repeat of a shared call (handle: its entry's
 * gate_answer): the stored answer, or the primitive's push, stored [-0, +n, m] */
static int push_shared(lua_State *L, mx_json *res, void *handle) {
    gate_answer *a = handle;
    mx_rt *rt = mx_rt_from_L(L);
    if (answer_get(L, rt, a, a->push)) return 1;
    int n = a->push(L, res, NULL);
    if (n == 1 && lua_type(L, -1) == LUA_TTABLE) answer_put(L, rt, a, -1, a->push);
    return n;
}

/* A cacheable call's answer given at once, without a yield (a cache hit):
 * the shared answer when one is stored, else push's values
 * from res (or from text, the cache's), stored when they are one shared
 * answer. req is freed here (after its trace line), except when text does not
 * parse: -1, nothing pushed, and the call goes on as a miss. [-0, +n, m] */
static int answer_now(lua_State *L, mx_rt *rt, mx_gate_req *req, gate_answer *a, const char *text,
                      mx_json *res, const char *how) {
    mx_push_fn push = req->push;
    int shared = req->cacheable == MX_GATE_SHARED;
    int have = shared && answer_get(L, rt, a, push);
    mx_json *parsed = NULL;
    if (text && (!have || rt->opts.trace)) {
        parsed = mx_json_parse(text, strlen(text), NULL, 0);
        if (!parsed) {
            if (have) lua_pop(L, 1);
            return -1;
        }
        res = parsed;
    }
    trace_result(rt, req->key, res, how);
    free(req->key); free(req->cache_key); mx_json_free(req->args); free(req);
    if (have) { mx_json_free(parsed); return 1; }
    /* held by rt while pushing: a memory error in push leaves it there,
     * freed by the next hit or mx_rt_free */
    mx_json_free(rt->pushing_hit);
    rt->pushing_hit = parsed;
    int n = push(L, res, NULL);
    rt->pushing_hit = NULL;
    mx_json_free(parsed);
    if (shared && n == 1 && lua_type(L, -1) == LUA_TTABLE) answer_put(L, rt, a, -1, push);
    return n;
}

/* start or start_ctx (with ctx) begins the real operation; key: the call's
 * key written by the caller (taken), or NULL: written here from args; args
 * NULL: made by make_args(ctx) when a recording needs them */
static int gate_call(lua_State *L, const char *prim, mx_json *args, char *key, mx_args_fn make_args, int cacheable,
                     mx_start_fn start, mx_start_ctx_fn start_ctx, void *ctx, mx_push_fn push,
                     mx_discard_fn discard) {
    mx_rt *rt = mx_rt_from_L(L);
    mx_task *t = rt->current;
    if (!t || !lua_isyieldable(L)) {
        mx_json_free(args);
        free(key);
        return luaL_error(L, "%s: engine calls are only possible while a rule runs", prim);
    }
    if (!args && rt->recording) {
        args = make_args(ctx);
#ifndef NDEBUG
        /* the caller's key is the one gate_key writes (a replay finds it so) */
        char *k = gate_key(prim, args);
        if (strcmp(k, key) != 0) {
            fprintf(stderr, "mxdiag: gate key mismatch: '%s' written, '%s' expected\n", key, k);
            abort();
        }
        free(k);
#endif
    }
    mx_gate_req *req = mx_xcalloc(1, sizeof *req);
    req->rt = rt;
    req->slot = t->slot;
    req->gen = t->gen;
    req->prim = prim; /* a string literal: not copied */
    req->args = args;
    req->key = key ? key : gate_key(prim, args);
    if (t->check && t->check->epoch) {
        mx_buf ck = MX_BUF_INIT;
        mx_buf_printf(&ck, "epoch %u %s", t->check->epoch, req->key);
        req->cache_key = mx_buf_steal(&ck);
    }
    req->cacheable = cacheable;
    req->push = push;
    req->discard = discard;
    req->start = mx_now_ms();
    mx_rt_trace(rt, "-> %s", req->key);
    mx_json *answer = NULL;
    void *handle = NULL;
    int borrowed = 0; /* a replayed answer is pushed from the recording itself, not a copy */
    if (rt->replay) {
        /* the first unused entry with this key; a cacheable call asked more
         * often than it was recorded gets the key's first answer again */
        replay_key *rk = mx_strmap_get(&rt->replay_index, req->key);
        if (rk && rk->next_unused) {
            replay_entry *e = &rt->replay[rk->next_unused - 1];
            rk->next_unused = e->next_same;
            answer = e->result;
            borrowed = 1;
        } else if (rk && cacheable) {
            replay_entry *e = &rt->replay[rk->first - 1];
            answer = e->result;
            borrowed = 1;
            if (cacheable == MX_GATE_SHARED) {
                /* asked before in this run: its shared answer, once made,
                 * instead of a new one; still after a yield, as every
                 * replayed answer, so that the order of a replay stays the
                 * recorded run's */
                e->ans.push = push;
                req->push = push_shared;
                handle = &e->ans;
            }
        }
        if (!answer) {
            rt->replay_misses++;
            /* named later (rules test): which call, with which arguments, by which rule */
            if (!rt->replay_miss_keys) rt->replay_miss_keys = mx_json_arr();
            const char *by = t->check && t->rule >= 0 && t->rule < rt->nrules ? rt->rules[t->rule].id : "?";
            /* every rule with a miss is named once (the list is ids first, then keys) */
            int named = 0;
            for (size_t k = 0; k < rt->replay_miss_keys->u.c.len; k++) {
                const char *e = rt->replay_miss_keys->u.c.items[k]->u.str.s;
                size_t bl = strlen(by);
                if (!strncmp(e, by, bl) && e[bl] == ':') named = 1;
            }
            if (rt->replay_miss_keys->u.c.len < 20 || !named) {
                mx_buf mk = MX_BUF_INIT;
                mx_buf_printf(&mk, "%s: %s", by, req->key);
                mx_json_push(rt->replay_miss_keys, mx_json_str(mx_buf_cstr(&mk)));
                mx_buf_free(&mk);
            }
            answer = mx_json_obj();
            mx_json_set(answer, "verdict", mx_json_str("error"));
            mx_json_set(answer, "status", mx_json_str("error"));
            mx_json_set(answer, "error", mx_json_str("not in the recording"));
        }
    } else if (cacheable) {
        cache_entry *ce = mx_strmap_get(&rt->cache, CACHE_KEY(req));
        if (ce) {
            /* Shared work: the same question in one run is asked once. A
             * cached answer involves no I/O, so the call returns it at once,
             * pushed as a resumed task's answer would be (no yield, nothing
             * resumed from here). */
            int n = answer_now(L, rt, req, &ce->ans, ce->text, NULL, "(cached) ");
            if (n >= 0) return n;
        }
        mx_gate_req *leader = mx_strmap_get(&rt->inflight, CACHE_KEY(req));
        if (leader) {
            /* The same question is already on the wire: wait for its answer
             * instead of asking again (one query, many waiters). */
            leader->waiters = mx_xrealloc(leader->waiters, (leader->nwaiters + 1) * sizeof *leader->waiters);
            leader->waiters[leader->nwaiters++] = (gate_waiter){t->slot, t->gen, push, discard};
            mx_rt_trace(rt, "   (joins the call in flight) %s", req->key);
            free(req->key); free(req->cache_key); mx_json_free(req->args); free(req);
            lua_pushlightuserdata(L, MARKER);
            return lua_yield(L, 1);
        }
        mx_strmap_put(&rt->inflight, CACHE_KEY(req), req);
    }
    rt->pending_calls++;
    if (answer) {
        done_later(req, answer, handle, borrowed);
    } else {
        if (start_ctx) start_ctx(rt, req->args, req, ctx);
        else start(rt, req->args, req);
    }
    lua_pushlightuserdata(L, MARKER);
    return lua_yield(L, 1);
}

int mx_gate_call(lua_State *L, const char *prim, mx_json *args, int cacheable,
                 mx_start_fn start, mx_push_fn push, mx_discard_fn discard) {
    return gate_call(L, prim, args, NULL, NULL, cacheable, start, NULL, NULL, push, discard);
}

int mx_gate_call_ctx(lua_State *L, const char *prim, mx_json *args, int cacheable,
                     mx_start_ctx_fn start, void *ctx, mx_push_fn push, mx_discard_fn discard) {
    return gate_call(L, prim, args, NULL, NULL, cacheable, NULL, start, ctx, push, discard);
}

int mx_gate_call_keyed(lua_State *L, const char *prim, char *key, mx_args_fn make_args, int cacheable,
                       mx_start_ctx_fn start, void *ctx, mx_push_fn push, mx_discard_fn discard) {
    return gate_call(L, prim, NULL, key, make_args, cacheable, NULL, start, ctx, push, discard);
}

/* A call that waits for a local resource (a connection slot, l_net.c) before
 * it starts: that time is not its rule's, so the rule's deadline moves by it
 * (a cap on connections must not turn into "deadline exceeded"). */
void mx_gate_wait_begin(mx_gate_req *req) {
    mx_task *t = rt_task_get(req->rt, req->slot, req->gen);
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
    mx_check *c = rt_check_by_id(req->rt, req->wait_check);
    if (!c) return;
    rule_run *run = &c->runs[req->wait_rule];
    if (run->nqueued > 0 && --run->nqueued == 0) run->queued_ms += mx_now_ms() - run->queued_since;
}

int rt_load_replay(mx_rt *rt, const char *path, char *err, size_t errlen) {
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
    mx_strmap tails = MX_STRMAP_INIT;
    for (size_t i = 0; i < calls->u.c.len; i++) {
        mx_json *e = calls->u.c.items[i];
        const char *call = mx_json_get_str(e, "call");
        mx_json *args = mx_json_get(e, "args"), *res = mx_json_get(e, "result");
        if (!call || !args || !res) continue;
        replay_entry *re = &rt->replay[rt->nreplay++];
        re->key = gate_key(call, args);
        re->result = mx_json_clone(res);
        /* chained after the key's last entry (tails: the entries with no next yet) */
        replay_key *rk = mx_strmap_get(&rt->replay_index, re->key);
        if (!rk) {
            rk = mx_xcalloc(1, sizeof *rk);
            rk->first = rk->next_unused = rt->nreplay;
            mx_strmap_put(&rt->replay_index, re->key, rk);
            mx_strmap_put(&tails, re->key, (void *)(uintptr_t)rt->nreplay);
        } else {
            size_t tail = (size_t)(uintptr_t)mx_strmap_get(&tails, re->key);
            rt->replay[tail - 1].next_same = rt->nreplay;
            mx_strmap_put(&tails, re->key, (void *)(uintptr_t)rt->nreplay);
        }
    }
    mx_strmap_free(&tails, NULL);
    mx_json_free(doc);
    return 0;
}

int mx_rt_finish(mx_rt *rt, char *err, size_t errlen) {
    if (!rt->recording || !rt->opts.record_path) return 0;
    mx_json *doc = mx_json_obj();
    mx_json_set(doc, "schema", mx_json_str("mxdiag.recording/1"));
    /* what is needed to run the same check again offline (rules test) */
    mx_json_set(doc, "options", rt->opts.options ? mx_json_clone(rt->opts.options) : mx_json_obj());
    if (rt->opts.only) mx_json_set(doc, "only", mx_json_str(rt->opts.only));
    if (rt->opts.skip) mx_json_set(doc, "skip", mx_json_str(rt->opts.skip));
    /* the site settings that shape the findings, so a replay reproduces them */
    if (rt->rule_opts && rt->rule_opts->u.c.len) mx_json_set(doc, "rule_options", mx_json_clone(rt->rule_opts));
    if (rt->overrides && rt->overrides->u.c.len) mx_json_set(doc, "overrides", mx_json_clone(rt->overrides));
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
        mx_json_set(o, "duration_ms", mx_json_int(rt_check_duration(c)));
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

void rt_gate_cache_clear(mx_rt *rt) {
    mx_strmap_free(&rt->cache, free);
    rt->ans_stale = 1; /* the shared answers go with the epoch's cache */
    if (rt->cache_fifo) for (size_t i = 0; i < GATE_CACHE_MAX; i++) free(rt->cache_fifo[i]);
    free(rt->cache_fifo);
    rt->cache_fifo = NULL;
    rt->cache_head = 0;
}

void rt_gate_free(mx_rt *rt) {
    rt_gate_cache_clear(rt);
    free(rt->ans_tags); free(rt->ans_push); free(rt->ans_used);
    mx_strmap_free(&rt->inflight, NULL);
    mx_json_free(rt->recording);
    for (size_t i = 0; i < rt->nreplay; i++) { free(rt->replay[i].key); mx_json_free(rt->replay[i].result); }
    free(rt->replay);
    mx_strmap_free(&rt->replay_index, free);
    for (size_t i = 0; i < rt->nrec; i++) free(rt->rec_started[i]);
    free(rt->rec_started);
    free(rt->rec_servers);
    mx_json_free(rt->replay_miss_keys);
    rt->replay_miss_keys = NULL;
    free(rt->rec_durations);
}
