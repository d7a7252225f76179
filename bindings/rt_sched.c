/* The scheduler: rules and their task.all children run as tasks (coroutines)
 * over the event loop. A task yields MARKER when it waits (an engine call,
 * task.all, task.wait); whatever it waited for puts it on the ready queue
 * (rt_make_ready), and mx_rt_run resumes ready tasks (resume_task) between
 * turns of the loop. Also the Lua module `task`. */
#include "rt_private.h"
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

char rt_engine_marker;

/* ------------------------------------------------------------------ tasks */
mx_task *rt_task_get(mx_rt *rt, int slot, uint32_t gen) {
    if (slot < 0 || slot >= rt->ntasks) return NULL;
    mx_task *t = &rt->tasks[slot];
    return t->alive && t->gen == gen ? t : NULL;
}

/* A task's thread is anchored in one table at [slot + 1] (a rawseti), not
 * with luaL_ref/luaL_unref: a batch starts tens of tasks per domain (each
 * rule, each function of a task.all).
 *
 * The thread of a task whose function returned (lua_resume gave LUA_OK) is
 * kept for the next task of its slot (mx_task.spare, left anchored at [slot +
 * 1]): such a thread is in the state of a new one once its stack is emptied
 * (no call frame, no open upvalue or to-be-closed variable, hooks allowed),
 * and reusing it saves making one, the collector's work of freeing it, and
 * the table writes of moving it to and from a pool (free slots are reused
 * last-freed first, so the slot of a finished task is usually the next one
 * taken). At most one thread per slot is kept: no more than the most tasks
 * alive at once had. A thread that failed, was stopped while it waited
 * (deadline, its rule ended) or that Lua code holds (coroutine.running() was
 * called on it: the rule could resume it later, then running another rule's
 * task) is never reused. Its hook is set as a new thread's would be. */
static void co_table(mx_rt *rt) {
    if (rt->co_tab_ref) return;
    lua_newtable(rt->L);
    rt->co_tab_ref = luaL_ref(rt->L, LUA_REGISTRYINDEX);
}

/* coroutine.running(), as Lua's own, marking the running task's thread as
 * held by Lua (not to be reused). Replaces Lua's own in its coroutine table
 * before the sandbox copies it. [-0, +2, -] */
static int co_running(lua_State *L) {
    mx_rt *rt = mx_rt_from_L(L);
    int ismain = lua_pushthread(L);
    if (rt->current && rt->current->co == L) rt->current->co_seen = 1;
    lua_pushboolean(L, ismain);
    return 2;
}
void rt_sched_open(lua_State *L) {
    lua_getglobal(L, "coroutine");
    lua_pushcfunction(L, co_running);
    lua_setfield(L, -2, "running");
    lua_pop(L, 1);
}

mx_task *rt_task_new(mx_rt *rt, mx_check *c, int rule) {
    int slot;
    if (rt->nfree) slot = rt->free_slots[--rt->nfree];
    else {
        if (rt->ntasks == rt->tasks_cap) {
            /* the running task moves with the array: rt->current follows it
             * (a rule's report:publish may start rules, growing the array) */
            ptrdiff_t cur = rt->current ? rt->current - rt->tasks : -1;
            rt->tasks_cap = rt->tasks_cap ? rt->tasks_cap * 2 : 64;
            rt->tasks = mx_xrealloc(rt->tasks, (size_t)rt->tasks_cap * sizeof *rt->tasks);
            if (cur >= 0) rt->current = &rt->tasks[cur];
            rt->free_slots = mx_xrealloc(rt->free_slots, (size_t)rt->tasks_cap * sizeof *rt->free_slots);
        }
        slot = rt->ntasks++;
        rt->tasks[slot].gen = 0;
        rt->tasks[slot].spare = NULL;
    }
    mx_task *t = &rt->tasks[slot];
    uint32_t gen = t->gen + 1;
    lua_State *spare = t->spare;
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
    lua_State *L = rt->L;
    if (spare) {
        /* the slot's last thread, anchored still */
        t->co = spare;
        /* as lua_newthread would have made it: the main thread's hook */
        if (rt->cpu_state >= 0) lua_sethook(t->co, NULL, 0, 0);
        else lua_sethook(t->co, lua_gethook(L), lua_gethookmask(L), lua_gethookcount(L));
    } else {
        co_table(rt);
        lua_rawgeti(L, LUA_REGISTRYINDEX, rt->co_tab_ref);
        t->co = lua_newthread(L);
        /* made with the main thread's count hook: without the CPU timer it
         * keeps it, else the timer gives it when the task computes for long
         * (rt_sandbox.c) */
        if (rt->cpu_state >= 0) lua_sethook(t->co, NULL, 0, 0);
        lua_rawseti(L, -2, slot + 1);
        lua_pop(L, 1);
    }
    return t;
}

static void release_waiters(mx_rt *rt, mx_task *t);

void rt_task_kill(mx_rt *rt, mx_task *t) {
    if (!t->alive) return;
    t->alive = 0;
    release_waiters(rt, t);
    t->check->runs[t->rule].ntasks--;
    t->check->ntasks--;
    if (t->result && !t->result_borrowed) mx_json_free(t->result);
    t->result = NULL;
    if (t->handle && t->discard) t->discard(t->handle);
    t->handle = NULL;
    lua_State *L = rt->L;
    if (t->co && t->co_ok && !t->co_seen && lua_status(t->co) == LUA_OK) {
        lua_settop(t->co, 0); /* its return values: not to be kept alive */
        t->spare = t->co;     /* kept at [slot + 1] for the slot's next task */
    } else {
        t->spare = NULL;
        lua_rawgeti(L, LUA_REGISTRYINDEX, rt->co_tab_ref);
        lua_pushnil(L);
        lua_rawseti(L, -2, t->slot + 1);
        lua_pop(L, 1);
    }
    luaL_unref(L, LUA_REGISTRYINDEX, t->results_ref);
    free(t->child_error);
    t->child_error = NULL;
    t->co = NULL;
    rt->free_slots[rt->nfree++] = t->slot;
}

void rt_make_ready(mx_rt *rt, mx_task *t) {
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
            rt_rule_error_finding(c, rule, msg, err);
            rt_rule_finish(c, rule, RULE_FAILED, "error");
        } else {
            rt_rule_finish(c, rule, RULE_DONE, NULL);
        }
        return;
    }
    mx_task *p = rt_task_get(rt, t->parent_slot, t->parent_gen);
    if (p) {
        if (ok && p->results_at) {
            /* first return value goes to results[child_index], on the
             * parent's own stack (while it waits in mx_task_spawn_all) */
            lua_State *pco = p->co;
            if (lua_status(pco) == LUA_YIELD && lua_gettop(pco) >= p->results_at && lua_checkstack(pco, 1)) {
                if (lua_gettop(t->co) >= 1) { lua_pushvalue(t->co, 1); lua_xmove(t->co, pco, 1); }
                else lua_pushnil(pco);
                lua_rawseti(pco, p->results_at, t->child_index);
            }
        } else if (ok) {
            /* first return value goes to results[child_index] */
            lua_rawgeti(rt->L, LUA_REGISTRYINDEX, p->results_ref);
            if (lua_gettop(t->co) >= 1) { lua_pushvalue(t->co, 1); lua_xmove(t->co, rt->L, 1); }
            else lua_pushnil(rt->L);
            lua_rawseti(rt->L, -2, t->child_index);
            lua_pop(rt->L, 1);
        } else if (!p->child_error) {
            p->child_error = mx_xstrdup(err ? err : "error in task");
        }
        if (--p->pending_children == 0) rt_make_ready(rt, p);
    }
    rt_task_kill(rt, t);
}

/* Where a rule failed: the innermost frame in the rule's own file, else the
 * innermost Lua frame (a library). The first error of a run wins (a task.all
 * child's error is re-raised in its parent). [-0, +0, -] */
void rt_error_location(mx_rt *rt, lua_State *co, rule_run *run, const char *rule_file) {
    (void)rt;
    if (run->err_line) return;
    lua_Debug ar;
    int any_line = 0;
    char any_src[MX_ERR_SRC_MAX] = "";
    for (int level = 0; lua_getstack(co, level, &ar); level++) {
        if (!lua_getinfo(co, "Sl", &ar) || ar.currentline <= 0 || ar.source[0] != '@') continue;
        if (!any_line) { any_line = ar.currentline; snprintf(any_src, sizeof any_src, "%s", ar.source + 1); }
        if (strcmp(ar.source + 1, rule_file) == 0) {
            char src[MX_ERR_SRC_MAX];
            snprintf(src, sizeof src, "%s", rule_file);
            run->err_line = ar.currentline;
            run->err_src = mx_xstrdup(src);
            return;
        }
    }
    if (any_line) { run->err_line = any_line; run->err_src = mx_xstrdup(any_src); }
}

static void resume_task(mx_rt *rt, mx_task *t) {
    int nargs;
    lua_State *co = t->co;
    if (t->nargs_fixed >= 0 && (t->nargs_fixed > 0 || t->first)) {
        nargs = t->nargs_fixed;
        t->nargs_fixed = -1;
        t->first = 0;
    } else if (t->push) {
        mx_json *res = t->result;
        int borrowed = t->result_borrowed;
        void *h = t->handle;
        mx_push_fn push = t->push;
        t->result = NULL;
        t->result_borrowed = 0;
        t->handle = NULL;
        t->push = NULL;
        rt->pushing_borrowed = borrowed;
        nargs = push(co, res, h);
        rt->pushing_borrowed = 0;
        if (!borrowed) mx_json_free(res);
    } else {
        /* children finished: results table (on its stack already, or
         * pushed now), error or nil */
        nargs = 1;
        if (t->results_at) t->results_at = 0;
        else {
            lua_rawgeti(rt->L, LUA_REGISTRYINDEX, t->results_ref);
            lua_xmove(rt->L, co, 1);
            luaL_unref(rt->L, LUA_REGISTRYINDEX, t->results_ref);
            t->results_ref = LUA_NOREF;
            nargs = 2;
        }
        if (t->child_error) { lua_pushstring(co, t->child_error); free(t->child_error); t->child_error = NULL; }
        else lua_pushnil(co);
    }
    rt->current = t;
    rule_run *run = &t->check->runs[t->rule];
    rt->acct = run;
    rt->acct_rule = t->rule;
    rt->mem_limit = rt->mem_used + MX_RULE_MEM_LIMIT < MX_LUA_MEM_LIMIT ? rt->mem_used + MX_RULE_MEM_LIMIT : MX_LUA_MEM_LIMIT;
    int nres = 0;
    int slot = t->slot;
    uint32_t gen = t->gen;
    int64_t t0 = rt_now_us();
    /* an aborted rule's other tasks (task.all) are counted at once: every
     * count raises again */
    if (run->aborted && !lua_gethook(co)) lua_sethook(co, rt_count_hook, LUA_MASKCOUNT, HOOK_EVERY);
    rt->running = co;
    int st = lua_resume(co, rt->L, nargs, &nres);
    rt->running = NULL;
    int64_t dt = rt_now_us() - t0;
    rt->lua_us += dt;
    run->own_us += dt;
    rt->mem_limit = MX_LUA_MEM_LIMIT;
    rt->current = NULL;
    rt->acct = NULL;
    /* task.all may have grown (moved) the task array, or the rule may have
     * finished meanwhile: look the task up again */
    t = rt_task_get(rt, slot, gen);
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
        t->co_ok = 1;
        task_finished(rt, t, 1, NULL);
        return;
    }
    const char *msg = lua_tostring(co, -1);
    if (st == LUA_ERRMEM || (msg && strcmp(msg, "not enough memory") == 0))
        msg = "not enough memory (a rule may grow the Lua heap by 64 MiB between two engine calls)";
    if (!msg) msg = "error object is not a string";
    rt_error_location(rt, co, run, rt->rules[t->rule].file);
    luaL_traceback(rt->L, co, msg, 0);
    char *full = mx_xstrdup(lua_tostring(rt->L, -1));
    lua_pop(rt->L, 1);
    task_finished(rt, t, 0, full);
    free(full);
}

/* One pass: the ready tasks, and those they make ready. The CPU timer is
 * armed for it (two timer_settime calls a pass, none when nothing is
 * ready): rule code runs only here, and in applies() and while loading, on
 * the main thread, which keeps the count hook. */
static void run_ready(mx_rt *rt) {
    if (!rt->nready) return;
    rt_cpu_arm(rt);
    while (rt->nready) {
        int n = rt->nready;
        int *slots = mx_xmalloc((size_t)n * sizeof *slots);
        uint32_t *gens = mx_xmalloc((size_t)n * sizeof *gens);
        memcpy(slots, rt->ready, (size_t)n * sizeof *slots);
        memcpy(gens, rt->ready_gen, (size_t)n * sizeof *gens);
        rt->nready = 0;
        for (int i = 0; i < n; i++) {
            mx_task *t = rt_task_get(rt, slots[i], gens[i]);
            if (!t) continue;
            t->queued = 0;
            resume_task(rt, t);
        }
        free(slots);
        free(gens);
    }
    rt_cpu_disarm(rt);
}


int mx_rt_result_borrowed(lua_State *L) { return mx_rt_from_L(L)->pushing_borrowed; }

void mx_rt_stop(mx_rt *rt) { rt->stopping = 1; }

void mx_rt_run(mx_rt *rt) {
    rt->stopping = 0;
    while (rt->active_checks > 0 && !rt->stopping) {
        run_ready(rt);
        if (rt->active_checks == 0) break;
        mx_loop_run_once(rt->loop, rt->nready ? 0 : 1000);
    }
    run_ready(rt);
    mx_rt_status_clear(rt);
}


/* ---- task module support: task.all spawns children ---- */
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
    /* the results table: left on the stack under the yielded marker when
     * this is the task's own thread (the continuation finds it where a
     * pushed one would be: results, then the error), else anchored in the
     * registry (task.all from a coroutine of the rule's own) */
    lua_createtable(L, (int)n, 0);
    if (L == p->co) p->results_at = lua_gettop(L);
    else p->results_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    p->pending_children = (int)n;
    p->push = NULL;
    for (lua_Integer i = 1; i <= n; i++) {
        int pslot = p->slot;
        uint32_t pgen = p->gen;
        mx_task *c = rt_task_new(rt, p->check, p->rule);
        p = &rt->tasks[pslot]; /* the task array may have moved */
        c = rt_task_get(rt, c->slot, c->gen);
        c->parent_slot = pslot;
        c->parent_gen = pgen;
        c->child_index = (int)i;
        lua_rawgeti(L, 1, i);
        lua_xmove(L, c->co, 1);
        c->first = 1;
        c->nargs_fixed = 0;
        rt_make_ready(rt, c);
    }
    rt->current = p;
    if (n == 0) rt_make_ready(rt, p);
    lua_pushlightuserdata(L, MARKER);
    return lua_yieldk(L, 1, 0, k);
}

/* ---- task.event/wait/signal: one-shot condition variables, so that work
 * shared by many checks (one probe of an MX address used by thousands of
 * domains) runs once while the others wait for its result. ---- */
typedef struct rt_event {
    int signalled;
    int abandoned;          /* released because the task that made it ended first */
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
int mx_task_event_new(lua_State *L) {
    mx_rt *rt = mx_rt_from_L(L);
    if (rt->nevents == rt->events_cap) {
        rt->events_cap = rt->events_cap ? rt->events_cap * 2 : 64;
        rt->events = mx_xrealloc(rt->events, (size_t)rt->events_cap * sizeof *rt->events);
    }
    memset(&rt->events[rt->nevents], 0, sizeof rt->events[0]);
    rt->events[rt->nevents].owner = rt->current ? rt->current->rule : -1;
    lua_pushinteger(L, ++rt->nevents);
    mx_task *t = rt->current;
    if (t) {
        if (t->nmade < MX_TASK_MADE_IN && !t->made) {
            t->made_in[t->nmade++] = rt->nevents;
        } else {
            if (!t->made) {
                t->made_cap = MX_TASK_MADE_IN * 2;
                t->made = mx_xmalloc((size_t)t->made_cap * sizeof *t->made);
                memcpy(t->made, t->made_in, sizeof t->made_in);
            } else if (t->nmade == t->made_cap) {
                t->made_cap *= 2;
                t->made = mx_xrealloc(t->made, (size_t)t->made_cap * sizeof *t->made);
            }
            t->made[t->nmade++] = rt->nevents;
        }
    }
    return 1;
}

/* What a waiter resumes with: true when the event was signalled, false when
 * it was released because the task that made it ended first. */
static int push_wait(lua_State *L, mx_json *res, void *h) {
    (void)res;
    mx_rt *rt = mx_rt_from_L(L);
    int id = (int)(intptr_t)h;
    lua_pushboolean(L, !(id >= 1 && id <= rt->nevents && rt->events[id - 1].abandoned));
    return 1;
}

/* A task ends (finished, failed, or stopped by its rule's deadline): the
 * events it made and never signalled are released (their waiters resume and
 * task.wait returns false), and the shared keys it never published are given
 * up, so that a check waiting for this task's work does not wait for nothing
 * until its own deadline. Waiters only become ready here: none is resumed
 * inline. */
static void release_waiters(mx_rt *rt, mx_task *t) {
    const int *made = t->made ? t->made : t->made_in;
    for (int i = 0; i < t->nmade; i++) {
        int id = made[i];
        if (id < 1 || id > rt->nevents || rt->events[id - 1].signalled) continue;
        rt->events[id - 1].abandoned = 1;
        rt_event_signal(rt, id);
    }
    free(t->made);
    t->made = NULL;
    t->nmade = t->made_cap = 0;
    for (int i = 0; i < t->nkeys; i++) {
        rt_worker_abandon(rt, t->keys[i]);
        free(t->keys[i]);
    }
    free(t->keys);
    t->keys = NULL;
    t->nkeys = t->keys_cap = 0;
}

/* task.wait(id): returns at once if signalled, else yields until it is [-1, +0, e] */
static int mx_task_event_wait(lua_State *L) {
    mx_rt *rt = mx_rt_from_L(L);
    rt_event *e = event_get(L, rt, 1);
    if (e->signalled) { lua_pushboolean(L, !e->abandoned); return 1; }
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
    t->push = push_wait;
    t->result = NULL;
    t->handle = (void *)(intptr_t)lua_tointeger(L, 1);
    t->discard = NULL;
    lua_pushlightuserdata(L, MARKER);
    return lua_yield(L, 1);
}

/* task.signal(id): wakes every waiter (later, from the scheduler) [-1, +0, e] */
static int mx_task_event_signal(lua_State *L) {
    mx_rt *rt = mx_rt_from_L(L);
    event_get(L, rt, 1);
    rt_event_signal(rt, (int)lua_tointeger(L, 1));
    return 0;
}

void rt_event_signal(mx_rt *rt, int id) {
    if (id < 1 || id > rt->nevents) return;
    rt_event *e = &rt->events[id - 1];
    if (e->signalled) return;
    e->signalled = 1;
    for (int i = 0; i < e->n; i++) {
        mx_task *w = rt_task_get(rt, e->slots[i], e->gens[i]);
        if (w) rt_make_ready(rt, w);
    }
    free(e->slots);
    free(e->gens);
    e->slots = NULL;
    e->gens = NULL;
    e->n = e->cap = 0;
}


void rt_events_reset(mx_rt *rt) {
    for (int i = 0; i < rt->nevents; i++) { free(rt->events[i].slots); free(rt->events[i].gens); }
    rt->nevents = 0;
}

void rt_sched_free(mx_rt *rt) {
    free(rt->waiter_off);
    free(rt->waiters);
    free(rt->tasks);
    free(rt->free_slots);
    free(rt->ready);
    free(rt->ready_gen);
    for (int i = 0; i < rt->nevents; i++) { free(rt->events[i].slots); free(rt->events[i].gens); }
    free(rt->events);
}

/* ---- the Lua module `task`: concurrency inside one rule ---- */

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

/* task.sleep(seconds): waits without blocking other rules (max 60 s). */
static int l_sleep(lua_State *L) {
    lua_Number s = luaL_checknumber(L, 1);
    luaL_argcheck(L, s >= 0 && s <= 60, 1, "seconds must be from 0 to 60");
    mx_json *args = mx_json_obj();
    mx_json_set(args, "ms", mx_json_int((long long)(s * 1000)));
    return mx_gate_call(L, "task.sleep", args, 0, start_sleep, push_none, NULL);
}

/* task.epoch() -> integer: the running check's epoch (0 in check and batch,
 * where the whole run shares its work; serve gives every probe its own). */
static int l_epoch(lua_State *L) {
    mx_rt *rt = mx_rt_from_L(L);
    lua_pushinteger(L, rt->current && rt->current->check ? (lua_Integer)rt->current->check->epoch : 0);
    return 1;
}

static const luaL_Reg task_funcs[] = {
    {"all", l_all},
    {"sleep", l_sleep},
    {"event", mx_task_event_new},
    {"epoch", l_epoch},
    {"wait", mx_task_event_wait},
    {"signal", mx_task_event_signal},
    {NULL, NULL},
};

int luaopen_mx_task(lua_State *L) {
    luaL_newlib(L, task_funcs);
    rt_worker_register(L);
    return 1;
}
