/* Checks: a check runs every selected rule against one target, starting each
 * as the facts it requires arrive, with a deadline per rule; rule errors
 * become rule.error findings; the finished check's results. */
#include "rt_private.h"
#include "escape.h"
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *rule_state_names[] = {"pending", "running", "done", "skipped", "failed"};

/* ------------------------------------------------------------ checks */

mx_check *rt_check_by_id(mx_rt *rt, int id) {
    return id >= 0 && id < rt->nchecks ? rt->checks[id] : NULL;
}

void rt_add_finding(mx_check *c, int rule, mx_severity sev, mx_json *obj) {
    rt_apply_overrides(c, &sev, obj);
    mx_report_add(&c->report, c->rt->rules[rule].order, sev, obj);
}
void rt_add_finding_arena(mx_check *c, int rule, mx_severity sev, mx_json *obj) {
    /* without site overrides nothing attaches a heap node to the tree (an
     * override's replaced summary or note would): it is freed with the
     * check's arena, not walked node by node first */
    if (c->rt->overrides) { rt_add_finding(c, rule, sev, obj); return; }
    mx_report_add_arena(&c->report, c->rt->rules[rule].order, sev, obj);
}

void rt_rule_error_finding(mx_check *c, int rule, const char *summary, const char *detail) {
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
    rt_add_finding(c, rule, MX_SEV_UNKNOWN, o);
}


static void kill_rule_tasks(mx_rt *rt, mx_check *c, int rule) {
    /* counted, so that a finished rule (the usual case: no task left but the
     * root) does not scan every task of a large batch */
    mx_task *root = rt_task_get(rt, c->runs[rule].root_slot, c->runs[rule].root_gen);
    if (root && root->check == c && root->rule == rule) rt_task_kill(rt, root);
    for (int i = 0; i < rt->ntasks && c->runs[rule].ntasks > 0; i++) {
        mx_task *t = &rt->tasks[i];
        if (t->alive && t->check == c && t->rule == rule) rt_task_kill(rt, t);
    }
}

/* A skipped or failed rule's reason as written in the output: the static
 * sentence, or the missing fact's sentence formatted into buf (at most n - 1
 * bytes, as when it was formatted at the skip). NULL: none. */
#define RULE_REASON_MAX 300
/* the missing fact's sentence around its name (mx_check_rules_write writes
 * it unformatted) */
#define WHY_FACT_A "fact '"
#define WHY_FACT_B "' is not available for this target"
const char *rt_rule_reason(const rule_run *run, char *buf, size_t n) {
    if (run->why || !run->why_fact) return run->why;
    snprintf(buf, n, WHY_FACT_A "%s" WHY_FACT_B, run->why_fact);
    return buf;
}

static void rule_finish(mx_check *c, int rule, int state, const char *why, const char *why_fact);
/* why: a static sentence (kept, never freed) or NULL */
void rt_rule_finish(mx_check *c, int rule, int state, const char *why) { rule_finish(c, rule, state, why, NULL); }

static void rule_finish(mx_check *c, int rule, int state, const char *why, const char *why_fact) {
    rule_run *run = &c->runs[rule];
    if (run->state != RULE_RUNNING && run->state != RULE_PENDING) return;
    /* its deadline needs nothing: the check's timer, when it fires, passes
     * over a rule no longer running */
    if (run->state == RULE_RUNNING) c->nrunning--;
    if (c->dirty[rule]) { c->dirty[rule] = 0; c->ndirty--; }
    run->state = state;
    run->ended = mx_now_ms();
    if (why || why_fact) { run->why = why; run->why_fact = why_fact; }
    c->remaining--;
    /* the facts it may publish can no longer come from it */
    for (size_t p = 0; c->rt->rules[rule].prov_fact && p < c->rt->rules[rule].nprovides; p++)
        rt_fact_changed(c, c->rt->rules[rule].prov_fact[p]);
    if (c->rt->opts.trace) {
        char rb[RULE_REASON_MAX];
        const char *r = why || why_fact ? rt_rule_reason(run, rb, sizeof rb) : NULL;
        mx_rt_trace(c->rt, "rule %s %s%s%s", c->rt->rules[rule].id, rule_state_names[state], r ? ": " : "", r ? r : "");
    }
    kill_rule_tasks(c->rt, c, rule);
    rt_advance(c);
}

int64_t rt_queued_ms(const rule_run *run) {
    return run->queued_ms + (run->nqueued ? mx_now_ms() - run->queued_since : 0);
}

/* The rules' deadlines: one timer per check, armed for the earliest due_ms
 * of its running rules (not a timer made and cancelled per rule run). A rule
 * whose due_ms has come is failed, unless other rules' Lua code held the loop
 * or its calls waited for a connection slot meanwhile: that time is not the
 * rule's, and its deadline moves on by it (granted_ms), as often as needed. */
static void check_deadline(mx_loop *loop, void *ud);
static void deadline_arm(mx_check *c, int64_t due) {
    if (c->deadline) {
        if (c->deadline_due <= due) return;
        mx_timer_cancel(c->rt->loop, c->deadline);
    }
    c->deadline_due = due;
    c->deadline = mx_loop_timer(c->rt->loop, due - mx_now_ms(), check_deadline, c);
}

/* ud: the check (mx_check_free cancels its timer) */
static void check_deadline(mx_loop *loop, void *ud) {
    (void)loop;
    mx_check *c = ud;
    mx_rt *rt = c->rt;
    int id = c->id;
    c->deadline = NULL; /* the loop frees it after this call */
    int64_t now = mx_now_ms();
    /* in rule order; a failed rule's end may start or skip others, or end
     * (and free) the check: looked up again after each */
    for (int rule = 0; rule < c->nruns; rule++) {
        rule_run *run = &c->runs[rule];
        if (run->state != RULE_RUNNING || run->due_ms > now) continue;
        int64_t extra = rt_others_ms(rt, run) + rt_queued_ms(run) - run->granted_ms;
        if (extra > 0) {
            /* other rules' Lua code held the loop meanwhile: that time is not this rule's */
            run->granted_ms += extra;
            run->due_ms = now + extra;
            continue;
        }
        char msg[256];
        snprintf(msg, sizeof msg, "rule %s did not finish within its deadline of %.1f s", rt->rules[rule].id,
                 (double)rt_rule_timeout_ms(rt, rule) / 1000.0);
        rt_rule_error_finding(c, rule, msg, "deadline exceeded");
        rt_rule_finish(c, rule, RULE_FAILED, "deadline exceeded");
        if (rt_check_by_id(rt, id) != c) return;
    }
    /* the next one due among the rules running now (some started meanwhile
     * may have armed it already) */
    for (int rule = 0; rule < c->nruns; rule++)
        if (c->runs[rule].state == RULE_RUNNING) deadline_arm(c, c->runs[rule].due_ms);
}

int rt_rule_timeout_ms(mx_rt *rt, int rule) {
    if (rt->rules[rule].timeout_ms) return rt->rules[rule].timeout_ms;
    /* room for a handful of sequential network steps, each bounded */
    return rt->opts.timeout_ms * 6 + 2000;
}

static int fact_present(const mx_check *c, int fact) {
    return fact >= 0 && fact < c->nhave && c->have[fact];
}

static int fact_pending(mx_check *c, const rt_providers *p) {
    /* can some enabled, unfinished rule still publish it? (a rule not
     * selected for this check is RULE_SKIPPED from the start) */
    for (int i = 0; i < p->n; i++)
        if (c->runs[p->rule[i]].state == RULE_PENDING || c->runs[p->rule[i]].state == RULE_RUNNING) return 1;
    return 0;
}


/* Message handler for applies(): note where it failed while the stack is
 * still there. [-0, +0, -] */
static int applies_msgh(lua_State *L) {
    mx_rt *rt = mx_rt_from_L(L);
    if (rt->acct) rt_error_location(rt, L, rt->acct, rt->rules[rt->acct_rule].file);
    return 1;
}

static void start_rule(mx_check *c, int rule) {
    mx_rt *rt = c->rt;
    lua_State *L = rt->L;
    rule_run *run = &c->runs[rule];
    const mx_rule *r = &rt->rules[rule];
    int64_t now_ms;
    /* predicate: applies(target) -> boolean, run unprotected from I/O */
    if (r->applies_ref != LUA_NOREF) {
        /* handler, function, target: pcall's stack in place (no insert) */
        lua_pushcfunction(L, applies_msgh);
        lua_rawgeti(L, LUA_REGISTRYINDEX, r->applies_ref);
        lua_rawgeti(L, LUA_REGISTRYINDEX, c->target_ref);
        /* the predicate runs under the rule's budget too; the clock read
         * for its time gives its start (mx_now_ms: the same clock in ms) */
        int64_t t0 = rt_now_us();
        run->started = t0 / 1000;
        run->lua_us_at_start = rt->lua_us;
        rt->acct = run;
        rt->acct_rule = rule;
        rt->mem_limit = rt->mem_used + MX_RULE_MEM_LIMIT < MX_LUA_MEM_LIMIT ? rt->mem_used + MX_RULE_MEM_LIMIT : MX_LUA_MEM_LIMIT;
        int ast = lua_pcall(L, 1, 1, lua_gettop(L) - 2);
        int64_t t1 = rt_now_us(), dt = t1 - t0;
        now_ms = t1 / 1000;
        rt->lua_us += dt;
        run->own_us += dt;
        rt->mem_limit = MX_LUA_MEM_LIMIT;
        rt->acct = NULL;
        if (ast != LUA_OK) {
            run->state = RULE_RUNNING;
            c->nrunning++;
            char msg[512];
            snprintf(msg, sizeof msg, "rule %s failed in applies(): %s", r->id, lua_tostring(L, -1));
            rt_rule_error_finding(c, rule, msg, lua_tostring(L, -1));
            lua_pop(L, 2);
            rt_rule_finish(c, rule, RULE_FAILED, "error in applies()");
            return;
        }
        int yes = lua_toboolean(L, -1);
        lua_pop(L, 2);
        if (!yes) { run->state = RULE_PENDING; rt_rule_finish(c, rule, RULE_SKIPPED, "does not apply to this target"); return; }
    } else now_ms = mx_now_ms();

    run->state = RULE_RUNNING;
    c->nrunning++;
    run->started = now_ms;
    if (!run->own_us) run->lua_us_at_start = rt->lua_us;
    mx_task *t = rt_task_new(rt, c, rule);
    run->root_slot = t->slot;
    run->root_gen = t->gen;
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->run_ref);
    lua_xmove(L, t->co, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->target_ref);
    lua_xmove(L, t->co, 1);
    rt_push_report(rt, c, rule);
    lua_xmove(L, t->co, 1);
    t->nargs_fixed = 2;
    run->due_ms = run->started + rt_rule_timeout_ms(rt, rule);
    deadline_arm(c, run->due_ms);
    mx_rt_trace(rt, "rule %s started", rt->rules[rule].id);
    rt_make_ready(rt, t);
}

static void check_complete(mx_check *c) {
    if (c->finished) return;
    c->finished = 1;
    c->end = mx_now_ms();
    /* no rule runs any more: nothing for its deadline timer to look at */
    if (c->deadline) { mx_timer_cancel(c->rt->loop, c->deadline); c->deadline = NULL; }
    c->rt->active_checks--;
    if (c->done_fn) c->done_fn(c, c->done_ud);
}

/* The rules requiring or wanting each fact (an index of rt_deps_index's
 * req_prov/want_prov, rebuilt with it): the ones a publish of the fact, or
 * the end of a rule that may publish it, can make ready or impossible. */
static void waiters_index(mx_rt *rt) {
    if (rt->waiter_off && rt->waiters_gen == rt->deps_gen) return;
    free(rt->waiter_off);
    free(rt->waiters);
    int nf = rt->nfacts;
    int *off = mx_xcalloc((size_t)nf + 2, sizeof *off);
    for (int i = 0; i < rt->nrules; i++) {
        const mx_rule *r = &rt->rules[i];
        for (size_t q = 0; q < r->nrequires; q++) if (r->req_prov[q].fact >= 0 && r->req_prov[q].fact < nf) off[r->req_prov[q].fact + 2]++;
        for (size_t q = 0; q < r->nwants; q++) if (r->want_prov[q].fact >= 0 && r->want_prov[q].fact < nf) off[r->want_prov[q].fact + 2]++;
    }
    for (int f = 0; f < nf; f++) off[f + 2] += off[f + 1];
    /* off[f + 1] is now where f's waiters start; filling moves it to where they end, = off[f + 2]'s start */
    int *w = mx_xmalloc(((size_t)off[nf + 1] + 1) * sizeof *w);
    for (int i = 0; i < rt->nrules; i++) {
        const mx_rule *r = &rt->rules[i];
        for (size_t q = 0; q < r->nrequires; q++) if (r->req_prov[q].fact >= 0 && r->req_prov[q].fact < nf) w[off[r->req_prov[q].fact + 1]++] = i;
        for (size_t q = 0; q < r->nwants; q++) if (r->want_prov[q].fact >= 0 && r->want_prov[q].fact < nf) w[off[r->want_prov[q].fact + 1]++] = i;
    }
    rt->waiter_off = off;
    rt->waiters = w;
    rt->waiters_gen = rt->deps_gen;
}

void rt_fact_changed(mx_check *c, int fact) {
    mx_rt *rt = c->rt;
    if (fact < 0 || fact >= rt->nfacts || !rt->waiter_off) return;
    for (int k = rt->waiter_off[fact]; k < rt->waiter_off[fact + 1]; k++) {
        int w = rt->waiters[k];
        if (w < c->nruns && !c->dirty[w] && c->runs[w].state == RULE_PENDING) { c->dirty[w] = 1; c->ndirty++; }
    }
}

/* Starts every rule whose facts are in, skips those whose facts can no longer
 * come, and finishes the check when no rule is left. Only the rules still
 * pending are looked at (c->pend, compacted by the outermost call: a nested
 * call, from a rule skipped or finished meanwhile, walks the same list and
 * passes over the rules that left it), in rule order as before. */
void rt_advance(mx_check *c) {
    mx_rt *rt = c->rt;
    /* no pending rule dirty: each would still wait (the usual case at a
     * rule's end when no pending rule waits on what it provides) */
    if (c->ndirty) {
        if (!c->advancing) {
            int n = 0;
            for (int k = 0; k < c->npend; k++)
                if (c->runs[c->pend[k]].state == RULE_PENDING) c->pend[n++] = c->pend[k];
            c->npend = n;
        }
        c->advancing++;
        int progress = 1;
        /* passes until one changes nothing or nothing dirty is left (another
         * pass would find every pending rule waiting) */
        while (progress && c->ndirty) {
            progress = 0;
            for (int k = 0; k < c->npend; k++) {
                int i = c->pend[k];
                if (c->runs[i].state != RULE_PENDING) continue;
                /* nothing it waits on changed since it was last looked at: it still waits */
                if (!c->dirty[i]) continue;
                c->dirty[i] = 0;
                c->ndirty--;
                int ready = 1, impossible = 0;
                const char *missing = NULL;
                for (size_t q = 0; q < rt->rules[i].nrequires; q++) {
                    const char *f = rt->rules[i].requires[q];
                    if (fact_present(c, rt->rules[i].req_prov[q].fact)) continue;
                    ready = 0;
                    if (!fact_pending(c, &rt->rules[i].req_prov[q])) { impossible = 1; missing = f; }
                }
                /* optional facts: wait only while some rule may still publish them */
                for (size_t q = 0; ready && q < rt->rules[i].nwants; q++) {
                    if (!fact_present(c, rt->rules[i].want_prov[q].fact) && fact_pending(c, &rt->rules[i].want_prov[q])) ready = 0;
                }
                if (ready) { start_rule(c, i); progress = 1; }
                else if (impossible) {
                    /* the sentence is formatted only where it is written (rt_rule_reason) */
                    rule_finish(c, i, RULE_SKIPPED, NULL, missing);
                    progress = 1;
                }
            }
        }
        c->advancing--;
    }
    /* Nothing runs and rules still wait: they wait on each other (a cycle of
     * requires/wants). Say so instead of hanging. No pending rule is dirty
     * now (a pass without progress clears every one it meets; passes stop
     * when none is left), so each would go on waiting. */
    if (c->remaining > 0 && !c->finished && c->nrunning == 0) {
        for (int k = 0; k < c->npend; k++) {
            int i = c->pend[k];
            if (c->runs[i].state != RULE_PENDING) continue;
            char msg[300];
            snprintf(msg, sizeof msg, "rule %s never started: its requires/wants form a cycle with other rules",
                     rt->rules[i].id);
            rt_rule_error_finding(c, i, msg, "dependency cycle");
            if (c->dirty[i]) { c->dirty[i] = 0; c->ndirty--; }
            c->runs[i].state = RULE_FAILED;
            c->runs[i].why = "dependency cycle";
            c->remaining--;
        }
    }
    if (c->remaining == 0) check_complete(c);
}

static void push_target(mx_rt *rt, mx_check *c, const mx_json *overrides) {
    lua_State *L = rt->L;
    mx_target *t = &c->target;
    lua_createtable(L, 0, 8); /* input kind domain|host|address local_part port unicode options facts: no rehash */
    lua_pushstring(L, t->input);
    lua_setfield(L, -2, "input");
    lua_pushstring(L, c->run_level ? "run" : mx_target_kind_name(t->kind));
    lua_setfield(L, -2, "kind");
    if (c->run_level) { /* no target: input and kind only */ }
    else if (t->kind == MX_TARGET_DOMAIN) { lua_pushstring(L, t->domain); lua_setfield(L, -2, "domain"); }
    if (t->kind == MX_TARGET_HOST) { lua_pushstring(L, t->domain); lua_setfield(L, -2, "host"); }
    if (t->kind == MX_TARGET_ADDRESS) {
        char a[64];
        mx_addr_format(&t->addr, a, sizeof a);
        lua_pushstring(L, a);
        lua_setfield(L, -2, "address");
    }
    if (t->local[0]) { lua_pushstring(L, t->local); lua_setfield(L, -2, "local_part"); }
    if (t->port) { lua_pushinteger(L, t->port); lua_setfield(L, -2, "port"); }
    if (t->unicode[0]) { lua_pushstring(L, t->unicode); lua_setfield(L, -2, "unicode"); }
    if (overrides && overrides->type == MX_JOBJ && overrides->u.c.len) {
        mx_lua_push_json(L, rt->opts.options);
        if (lua_isnil(L, -1)) { lua_pop(L, 1); lua_newtable(L); }
        /* per-check options replace the run's, key by key */
        for (size_t i = 0; i < overrides->u.c.len; i++) {
            if (!strcmp(overrides->u.c.keys[i], "rule_options")) continue; /* each rule's own: report.options */
            mx_lua_push_json(L, overrides->u.c.items[i]);
            lua_setfield(L, -2, overrides->u.c.keys[i]);
        }
        rt_push_adopted(L, -1);
        lua_setfield(L, -3, "options");
        lua_pop(L, 1);
    } else {
        /* the run's options, read-only, are the same for every check: built once */
        if (!rt->has_options_ro) {
            mx_lua_push_json(L, rt->opts.options);
            if (lua_isnil(L, -1)) { lua_pop(L, 1); lua_newtable(L); }
            rt_push_adopted(L, -1);
            rt->options_ro_ref = luaL_ref(L, LUA_REGISTRYINDEX);
            lua_pop(L, 1);
            rt->has_options_ro = 1;
        }
        lua_rawgeti(L, LUA_REGISTRYINDEX, rt->options_ro_ref);
        lua_setfield(L, -2, "options");
    }
    /* the facts: a sealed view of the check's facts table, which
     * report:publish fills with sealed values */
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->facts_ref);
    rt_push_sealed_view(L, -1);
    lua_setfield(L, -3, "facts");
    lua_pop(L, 1);
    /* its only table values are read-only already (the options above, the
     * facts' sealed view): what rt_push_adopted would find walking it */
    int tbl = lua_gettop(L);
    rt_push_sealed_view(L, tbl);
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
    int n = rt_select_rules(rt, o ? o : rt->opts.only, k ? k : rt->opts.skip, on);
    free(o);
    free(k);
    return n;
}

mx_check *mx_check_start(mx_rt *rt, const mx_target *t, mx_check_done_fn done, void *ud) {
    return mx_check_start_opts(rt, t, NULL, done, ud);
}

static mx_check *check_new(mx_rt *rt, const mx_target *t, const mx_json *options, mx_check_done_fn done, void *ud,
                           int run_level);
mx_check *mx_check_start_opts(mx_rt *rt, const mx_target *t, const mx_json *options, mx_check_done_fn done, void *ud) {
    return check_new(rt, t, options, done, ud, 0);
}

/* The run-level check: the rules with scope = "run", once per invocation,
 * without a target (NULL when no such rule is selected). */
mx_check *mx_check_start_run(mx_rt *rt, mx_check_done_fn done, void *ud) {
    int any = 0;
    for (int i = 0; i < rt->nrules; i++) any |= rt->rules[i].scope_run && rt->rules[i].enabled;
    if (!any) return NULL;
    mx_target t;
    memset(&t, 0, sizeof t);
    t.kind = MX_TARGET_HOST;
    snprintf(t.input, sizeof t.input, "(run)");
    return check_new(rt, &t, NULL, done, ud, 1);
}

static mx_check *check_new(mx_rt *rt, const mx_target *t, const mx_json *options, mx_check_done_fn done, void *ud,
                           int run_level) {
    /* the check, its rules' runs and its facts' have[] in one allocation
     * (one calloc and one free per check, not three) */
    rt_deps_index(rt);
    size_t nruns = (size_t)(rt->nrules ? rt->nrules : 1), nfacts = (size_t)(rt->nfacts ? rt->nfacts : 1);
    size_t runs_at = (sizeof(mx_check) + _Alignof(rule_run) - 1) / _Alignof(rule_run) * _Alignof(rule_run);
    size_t size = runs_at + nruns * sizeof(rule_run) + nruns * sizeof(int) + nruns + nfacts;
    mx_check *c = mx_xmalloc(size);
    /* all zero but the target (nearly 2 KB of char arrays), copied over below:
     * it needs no clearing first */
    size_t t_at = offsetof(mx_check, target), t_end = t_at + sizeof c->target;
    memset(c, 0, t_at);
    memset((char *)c + t_end, 0, size - t_end);
    c->runs = (rule_run *)(void *)((char *)c + runs_at);
    c->pend = (int *)(void *)(c->runs + nruns);
    c->dirty = (unsigned char *)(c->pend + nruns);
    c->have = c->dirty + nruns;
    c->nruns = rt->nrules;
    waiters_index(rt);
    c->nhave = rt->nfacts;
    c->rt = rt;
    c->run_level = run_level;
    c->epoch = rt->epoch;
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
    /* the target's JSON in the check's arena (every check makes one: its
     * findings live there too), keys literal and known distinct */
    mx_jarena *a = c->arena = mx_jarena_new();
    mx_json *tj = c->target_json = mx_json_obj_sized_in(a, 6);
    mx_json_append_lit_in(a, tj, "input", mx_json_str_in(a, t->input));
    mx_json_append_lit_in(a, tj, "kind", mx_json_str_in(a, run_level ? "run" : mx_target_kind_name(t->kind)));
    mx_json_append_lit_in(a, tj, "domain", t->kind == MX_TARGET_DOMAIN ? mx_json_str_in(a, t->domain) : mx_json_null_in(a));
    if (t->kind == MX_TARGET_HOST && !run_level) mx_json_append_lit_in(a, tj, "host", mx_json_str_in(a, t->domain));
    if (t->kind == MX_TARGET_ADDRESS) {
        char ab[64];
        mx_addr_format(&t->addr, ab, sizeof ab);
        mx_json_append_lit_in(a, tj, "address", mx_json_str_in(a, ab));
    }
    if (t->port) mx_json_append_lit_in(a, tj, "port", mx_json_int_in(a, t->port));
    if (t->unicode[0]) mx_json_append_lit_in(a, tj, "unicode", mx_json_str_in(a, t->unicode));
    /* the facts table, sized for every fact a rule names (no rehash as they come) */
    lua_createtable(rt->L, 0, rt->nfacts + (rt->opts.facts && rt->opts.facts->type == MX_JOBJ ? (int)rt->opts.facts->u.c.len : 0));
    /* facts every check of the run starts with (mxdiag logs: `logs`) */
    for (size_t i = 0; rt->opts.facts && rt->opts.facts->type == MX_JOBJ && i < rt->opts.facts->u.c.len; i++) {
        const char *k = rt->opts.facts->u.c.keys[i];
        if (rt->fact_build && strcmp(k, rt->fact_build_name) == 0) mx_lua_push_built(rt->L, rt->fact_build, rt->fact_build_ud);
        else mx_lua_push_json(rt->L, rt->opts.facts->u.c.items[i]);
        /* read-only: the built fact (`logs`) is sealed as it is built
         * (rt_factsink.c) and taken as it is; a fact from JSON is read
         * through a proxy made per table read */
        rt_push_readonly(rt->L, -1);
        lua_remove(rt->L, -2);
        lua_setfield(rt->L, -2, k);
    }
    c->facts_ref = luaL_ref(rt->L, LUA_REGISTRYINDEX);
    rt_check_rule_options(c, options);
    push_target(rt, c, options);
    c->target_ref = luaL_ref(rt->L, LUA_REGISTRYINDEX);
    /* the facts the check starts with (as pushed above: a JSON null is no fact) */
    for (size_t i = 0; rt->opts.facts && rt->opts.facts->type == MX_JOBJ && i < rt->opts.facts->u.c.len; i++) {
        int f = rt_fact_index(rt, rt->opts.facts->u.c.keys[i]);
        if (f >= 0) c->have[f] = rt->opts.facts->u.c.items[i]->type != MX_JNULL;
    }
    /* a check's own resolvers (a batch entry's `resolver`, already normalised) */
    const mx_json *own_res = mx_json_get(options, "resolver");
    if (own_res && !rt->replay) c->resolvers = strings_csv(own_res);
    /* a check's own only/skip (a batch entry's settings) replace the run's */
    const mx_json *own_only = mx_json_get(options, "only"), *own_skip = mx_json_get(options, "skip");
    char on[MAX_RULES];
    if (own_only || own_skip) {
        char *o = own_only ? strings_csv(own_only) : NULL, *k = own_skip ? strings_csv(own_skip) : NULL;
        rt_select_rules(rt, o ? o : rt->opts.only, k ? k : rt->opts.skip, on);
        free(o);
        free(k);
    } else {
        for (int i = 0; i < rt->nrules; i++) on[i] = (char)rt->rules[i].enabled;
    }
    for (int i = 0; i < rt->nrules; i++) {
        /* a run-level rule is not part of a target's check, nor a target's rule of the run's */
        if (rt->rules[i].scope_run != run_level) { c->runs[i].state = RULE_SKIPPED; continue; }
        c->runs[i].state = on[i] ? RULE_PENDING : RULE_SKIPPED;
        if (!on[i]) c->runs[i].why = own_only || own_skip ? "not selected (only/skip of this entry)" : "not selected (--only/--skip)";
        else { c->remaining++; c->pend[c->npend++] = i; c->dirty[i] = 1; c->ndirty++; }
    }
    rt_advance(c);
    return c;
}

/* ------------------------------------------------------------ results */

/* A replay reports the recorded run's duration, so that its output is the
 * recorded run's output byte for byte. */
long long rt_check_duration(mx_check *c) {
    mx_rt *rt = c->rt;
    if (!rt->replay) return c->end - c->start;
    return c->id >= 0 && (size_t)c->id < rt->nrec ? rt->rec_durations[c->id] : 0;
}

static mx_json *check_json(mx_check *c, int borrow, int rules);
mx_json *mx_check_json(mx_check *c) { return check_json(c, 0, 1); }
mx_json *mx_check_json_borrowed(mx_check *c) { return check_json(c, 1, 1); }
void mx_check_json_release(mx_json *doc) { mx_report_json_release(doc); }

/* The document without "rules" as a view (runtime.h): the nodes of its own
 * fields in *v, keys pointing at literals, the target and the findings the
 * check's. The same members in the same order as mx_report_json's. */
const mx_json *mx_check_view_of(mx_check *c, mx_check_view *v) {
    mx_report *r = &c->report;
    mx_report_sort(r);
    mx_severity st = mx_report_status(r);
    memset(v, 0, sizeof *v);
    v->schema.type = MX_JSTR;
    v->schema.u.str.s = (char *)"mxdiag.check/1";
    v->schema.u.str.len = sizeof "mxdiag.check/1" - 1;
    v->status.type = MX_JSTR;
    v->status.u.str.s = (char *)mx_status_name(st);
    v->status.u.str.len = strlen(v->status.u.str.s);
    v->exit_code.type = MX_JINT;
    v->exit_code.u.i = mx_severity_exit(st);
    v->duration.type = MX_JINT;
    v->duration.u.i = rt_check_duration(c);
    v->findings.type = MX_JARR;
    v->findings.u.c.items = r->len ? mx_xmalloc(r->len * sizeof *v->findings.u.c.items) : NULL;
    for (size_t i = 0; i < r->len; i++) v->findings.u.c.items[i] = r->items[i].obj;
    v->findings.u.c.len = v->findings.u.c.cap = r->len;
    static const char *const keys[] = {"schema", "target", "status", "exit_code", "duration_ms", "findings"};
    mx_json *items[] = {&v->schema, c->target_json, &v->status, &v->exit_code, &v->duration, &v->findings};
    for (int i = 0; i < 6; i++) { v->keys[i] = (char *)keys[i]; v->items[i] = items[i]; }
    v->doc.type = MX_JOBJ;
    v->doc.u.c.items = v->items;
    v->doc.u.c.keys = v->keys;
    v->doc.u.c.len = v->doc.u.c.cap = 6;
    return &v->doc;
}
void mx_check_view_release(mx_check_view *v) {
    free(v->findings.u.c.items);
    memset(v, 0, sizeof *v);
}

/* The rules of c's report (not those of the other check: run-level or not). */
static int check_rule_listed(const mx_check *c, int i) { return c->rt->rules[i].scope_run == c->run_level; }

/* A rule's `{"id":"ID","status":"` written once per runtime (its id escaped
 * once, not once per check). */
static const char *rule_json_head(mx_rule *r, size_t *len) {
    if (!r->json_head) {
        mx_buf t = MX_BUF_INIT;
        mx_buf_puts(&t, "{\"id\":");
        mx_json_write_string(&t, r->id, strlen(r->id));
        mx_buf_puts(&t, ",\"status\":\"");
        r->json_head_len = t.len;
        r->json_head = mx_buf_steal(&t);
    }
    *len = r->json_head_len;
    return r->json_head;
}

void mx_check_rules_write(mx_check *c, mx_buf *out) {
    mx_rt *rt = c->rt;
    int n = 0;
    mx_buf_putc(out, '[');
    for (int i = 0; i < rt->nrules; i++) {
        if (!check_rule_listed(c, i)) continue;
        if (n++) mx_buf_putc(out, ',');
        mx_rule *r = &rt->rules[i];
        const rule_run *run = &c->runs[i];
        if (!run->debug && r->json_entry && r->json_entry_state == run->state && r->json_entry_why == run->why &&
            r->json_entry_why_fact == run->why_fact) {
            /* the same state and reason (pointers to the same static
             * sentence or fact name) as the last check: the same bytes */
            mx_buf_put(out, r->json_entry, r->json_entry_len);
            continue;
        }
        size_t at = out->len;
        size_t hl;
        const char *head = rule_json_head(r, &hl);
        mx_buf_put(out, head, hl);
        mx_buf_puts(out, rule_state_names[c->runs[i].state]); /* plain ASCII: as it is */
        mx_buf_putc(out, '"');
        size_t fl = !run->why && run->why_fact ? strlen(run->why_fact) : 0;
        if (fl && fl + sizeof WHY_FACT_A + sizeof WHY_FACT_B - 2 < RULE_REASON_MAX) {
            /* rt_rule_reason's sentence without formatting it: its fixed
             * parts are plain, so the fact's name escaped alone gives the
             * same bytes (a name snprintf would cut takes the path below) */
            mx_buf_puts(out, ",\"reason\":\"" WHY_FACT_A);
            mx_json_write_string_body(out, run->why_fact, fl);
            mx_buf_puts(out, WHY_FACT_B);
            mx_buf_putc(out, '"');
        } else {
            char rb[RULE_REASON_MAX];
            const char *why = rt_rule_reason(run, rb, sizeof rb);
            if (why) {
                mx_buf_puts(out, ",\"reason\":");
                mx_json_write_string(out, why, strlen(why));
            }
        }
        if (c->runs[i].debug) {
            mx_buf_puts(out, ",\"debug\":");
            mx_json_write(out, c->runs[i].debug, -1);
        }
        mx_buf_putc(out, '}');
        if (!run->debug) {
            free(r->json_entry);
            r->json_entry_len = out->len - at;
            r->json_entry = mx_xmalloc(r->json_entry_len);
            memcpy(r->json_entry, out->data + at, r->json_entry_len);
            r->json_entry_state = run->state;
            r->json_entry_why = run->why;
            r->json_entry_why_fact = run->why_fact;
        }
    }
    mx_buf_putc(out, ']');
}

static mx_json *check_json(mx_check *c, int borrow, int with_rules) {
    mx_rt *rt = c->rt;
    mx_json *rules = mx_json_arr();
    for (int i = 0; with_rules && i < rt->nrules; i++) {
        if (!check_rule_listed(c, i)) continue; /* reported in the other check */
        mx_json *o = mx_json_obj();
        mx_json_append(o, "id", mx_json_str(rt->rules[i].id));
        mx_json_append(o, "status", mx_json_str(rule_state_names[c->runs[i].state]));
        char rb[RULE_REASON_MAX];
        const char *why = rt_rule_reason(&c->runs[i], rb, sizeof rb);
        if (why) mx_json_append(o, "reason", mx_json_str(why));
        if (c->runs[i].debug) mx_json_append(o, "debug", mx_json_clone(c->runs[i].debug));
        mx_json_push(rules, o);
    }
    mx_json *doc = borrow ? mx_report_json_borrowed(&c->report, c->target_json, rt_check_duration(c))
                          : mx_report_json(&c->report, mx_json_clone(c->target_json), rt_check_duration(c), NULL);
    /* rules after findings would be nicer to read; keep schema order: append */
    if (with_rules) mx_json_set(doc, "rules", rules);
    else mx_json_free(rules);
    return doc;
}

size_t mx_check_broken_rules(mx_check *c, mx_buf *out) {
    mx_rt *rt = c->rt;
    size_t n = 0;
    for (int i = 0; i < rt->nrules; i++) {
        rule_run *run = &c->runs[i];
        if (!rt->rules[i].site || rt->rules[i].scope_run != c->run_level) continue; /* the other check's */
        char rb[RULE_REASON_MAX];
        const char *why = rt_rule_reason(run, rb, sizeof rb);
        if (run->state == RULE_SKIPPED && why &&
            (strncmp(why, "not selected", 12) == 0 || strcmp(why, "does not apply to this target") == 0)) continue;
        if (run->state != RULE_FAILED && run->state != RULE_SKIPPED) continue;
        n++;
        if (!out) continue;
        mx_buf_printf(out, "%s %s: %s", rt->rules[i].id, rule_state_names[run->state], why ? why : "?");
        if (run->state == RULE_FAILED)
            mx_buf_printf(out, " (%s%s%.0d; rule.error above)", run->err_line ? run->err_src : rt->rules[i].file,
                          run->err_line ? ":" : "", run->err_line);
        mx_buf_putc(out, '\n');
    }
    return n;
}

void mx_check_text_v(mx_check *c, mx_buf *out, int colour, int verbosity) {
    mx_report_text_v(out, &c->report, c->target_json, rt_check_duration(c), colour, verbosity);
    /* a broken site rule is said at the end, whatever else was found: its
     * rule.error (severity unknown) is easily lost among warnings, and a
     * skipped rule has no finding at all */
    mx_buf lines = MX_BUF_INIT;
    if (mx_check_broken_rules(c, &lines)) {
        mx_buf_puts(out, "\nSite rules that reached no verdict:\n");
        const char *p = mx_buf_cstr(&lines);
        while (*p) {
            const char *nl = strchr(p, '\n');
            mx_buf_puts(out, "  ");
            mx_esc_text_n(out, p, (size_t)(nl - p), 0);
            mx_buf_putc(out, '\n');
            p = nl + 1;
        }
    }
    mx_buf_free(&lines);
}

/* the -v level (explanations and advice) */
void mx_check_text(mx_check *c, mx_buf *out, int colour) { mx_check_text_v(c, out, colour, 1); }

int mx_check_exit_code(mx_check *c) { return mx_severity_exit(mx_report_status(&c->report)); }

/* The worse of the target's check and the run-level check (may be NULL). */
int mx_check_exit_code_with_run(mx_check *c, mx_check *run) {
    mx_severity a = mx_report_status(&c->report), b = run ? mx_report_status(&run->report) : MX_SEV_OK;
    return mx_severity_exit(b > a ? b : a); /* the enum is in rank order */
}

/* The run-level check's part of a document: {status, exit_code, duration_ms, findings, rules}. */
mx_json *mx_check_run_json(mx_check *run) {
    mx_json *doc = mx_check_json(run);
    mx_json *o = mx_json_obj();
    for (const char *const *k = (const char *const[]){"status", "exit_code", "duration_ms", "findings", "rules", NULL}; *k; k++)
        if (mx_json_get(doc, *k)) mx_json_set(o, *k, mx_json_clone(mx_json_get(doc, *k)));
    mx_json_free(doc);
    return o;
}

void mx_check_free(mx_check *c) {
    if (!c) return;
    mx_rt *rt = c->rt;
    if (c->deadline) mx_timer_cancel(rt->loop, c->deadline);
    for (int i = 0; i < rt->nrules; i++) {
        free(c->runs[i].err_src);
        mx_json_free(c->runs[i].debug);
    }
    for (int i = 0; i < rt->ntasks && c->ntasks > 0; i++)
        if (rt->tasks[i].alive && rt->tasks[i].check == c) rt_task_kill(rt, &rt->tasks[i]);
    luaL_unref(rt->L, LUA_REGISTRYINDEX, c->facts_ref);
    luaL_unref(rt->L, LUA_REGISTRYINDEX, c->target_ref);
    if (c->id >= 0 && c->id < rt->nchecks) rt->checks[c->id] = NULL;
    /* runs and have live in c's own allocation */
    free(c->resolvers);
    mx_json_free(c->rule_opts);
    mx_report_free(&c->report);
    mx_json_free(c->target_json); /* in the arena: only what was attached from the heap since (nothing) */
    mx_jarena_free(c->arena); /* after the findings and the target that live in it */
    /* what the findings borrowed (l_report.c) may go once they are gone */
    rt_report_release(c);
    free(c);
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

/* serve: every probe is a run of its own for what is cached and shared. A
 * new epoch gives the checks started after it their own gate cache entries
 * and shared.once results (task.epoch()), so a probe never reports an earlier
 * probe's connection or answer; checks still running keep theirs. */
unsigned mx_rt_new_epoch(mx_rt *rt) {
    /* No check runs, so no task waits on a task.event and none will signal
     * one: the events of earlier epochs are dropped (a long-lived serve would
     * otherwise keep every probe's). Their ids are never asked about again:
     * shared.once keys its results by epoch. So are the gate's cached
     * answers, whose keys carry their epoch: no later probe can use them
     * (serve kept 65,536 of them, ~25 MB, for nothing). */
    if (rt->active_checks == 0 && rt->ntasks == rt->nfree) {
        rt_events_reset(rt);
        rt_gate_cache_clear(rt);
    }
    return ++rt->epoch;
}

void mx_rt_set_fact_builder(mx_rt *rt, const char *name, mx_fact_build_fn build, void *ud) {
    rt->fact_build_name = name;
    rt->fact_build = build;
    rt->fact_build_ud = ud;
}
