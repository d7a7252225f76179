/* The runtime's private header: the state every runtime unit shares (struct
 * mx_rt, checks, tasks, gate requests) and the functions they call in each
 * other. Not for binding files, which see runtime.h only (l_dnsbl.c's
 * task.all-style lookups excepted: mx_task_spawn_all).
 *
 * The units (bindings/):
 *   rt_state.c    mx_rt_new/mx_rt_free and the accessors binding files use
 *   rt_mem.c      the Lua allocator: memory caps, small-object slab
 *   rt_json.c     Lua values <-> JSON
 *   rt_gate.c     the call gate: trace, cache, in-flight joins, record/replay
 *   rt_sched.c    tasks, the ready queue, yield and resume, the `task` module
 *   rt_sandbox.c  the rules' environment (allow-lists), read-only views,
 *                 instruction budget and compute deadline, pcall/xpcall
 *   rt_loader.c   rule files: trust-checked reading, require, validation,
 *                 --only/--skip selection, `rules list`
 *   rt_checks.c   checks: starting rules as facts arrive, deadlines,
 *                 rule errors, results
 *   l_report.c    the `report` object a rule's run() receives
 *
 * How a rule waits for I/O: a primitive calls mx_gate_call (rt_gate.c), which
 * starts the operation and yields MARKER; the operation's completion calls
 * mx_gate_done, which queues the task (rt_make_ready); mx_rt_run's
 * run_ready/resume_task (rt_sched.c) resume it with the result pushed. */
#ifndef MX_RT_PRIVATE_H
#define MX_RT_PRIVATE_H
#include "runtime.h"
#include "strmap.h"
#include <openssl/ssl.h>
#include <pthread.h>
#include <time.h>

#define MAX_RULES 512
#define HOOK_EVERY 1000

/* The value primitives yield with, so that wrapped coroutine.resume can tell
 * an engine yield from a rule's own. */
extern char rt_engine_marker; /* rt_sched.c */
#define MARKER ((void *)&rt_engine_marker)

enum { RULE_PENDING, RULE_RUNNING, RULE_DONE, RULE_SKIPPED, RULE_FAILED };

typedef struct rt_providers {
    int fact;               /* the fact's index (rt->fact_names, a check's have[]) */
    int n;
    int *rule;              /* indices into rt->rules */
} rt_providers;

typedef struct mx_rule {
    char *id;
    char *file;
    char *description;
    int ref;                /* the validated rule table */
    int run_ref, applies_ref; /* its run and applies functions (the copy's: rt_loader.c), applies_ref
                             * LUA_NOREF when it has none: a rule starts without a table lookup */
    char **requires;
    size_t nrequires;
    char **provides;
    size_t nprovides;
    char **wants;           /* optional facts: waited for while a rule may still publish them */
    size_t nwants;
    /* the rules providing each of requires[] and wants[] (rt_deps_index):
     * rt_advance asks "may this fact still come?" without comparing names */
    struct rt_providers *req_prov, *want_prov;
    int *prov_fact;         /* the index of each of provides[] */
    char **categories;
    size_t ncategories;
    int timeout_ms;         /* 0: derived from the network timeout */
    int logs;               /* kind = "logs": judges `mxdiag logs`' aggregates, never runs in a check */
    int enabled;
    int order;
    int report_mt_ref;      /* the metatable of its report objects (methods bound to the rule), 0: not made yet */
    char *json_head;        /* `{"id":"ID","status":"` of its entry in a check's "rules" (mx_check_rules_write), or NULL */
    size_t json_head_len;
    /* its last whole entry written without debug lines, for the state and
     * reason it had (most checks of a batch repeat them): written as it is */
    char *json_entry;
    size_t json_entry_len;
    int json_entry_state;
    const char *json_entry_why, *json_entry_why_fact;
    mx_json *opt_schema;    /* `options`: {key: type name} (rt_site.c), or NULL */
    int scope_run;          /* scope = "run": once per invocation (rt_site.c) */
    int site;               /* from a site directory, not the shipped rules */
} mx_rule;

typedef struct rule_run {
    int state;
    int root_slot;
    uint32_t root_gen;
    int64_t due_ms;         /* while RUNNING: when its deadline is next looked at (mx_now_ms clock;
                             * started + its timeout, moved on by extensions): the check's deadline timer */
    int64_t started, ended;
    uint64_t instructions;
    const char *why;        /* skip or failure reason: a static sentence (never freed), or NULL */
    const char *why_fact;   /* with why == NULL: skipped because this fact (a rule's requires[] string)
                             * cannot come; the sentence is formatted where it is written (rt_rule_reason) */
    const char *aborted;    /* budget/deadline/memory: pcall may not catch it */
    int64_t own_us;         /* time spent running this rule's Lua code */
    int ntasks;             /* live tasks of this rule run */
    int64_t lua_us_at_start; /* rt->lua_us when it started */
    int64_t granted_ms;     /* deadline extensions for other rules' CPU time */
    int64_t queued_ms;      /* time its calls waited for a connection slot (mx_gate_wait_*) */
    int nqueued;            /* its calls waiting now, since queued_since */
    int64_t queued_since;
    const void *report;     /* its report object (lua_topointer): what report methods accept as self */
    mx_json *debug;         /* report:debug lines (array of strings) or NULL */
    int err_line;           /* where the rule failed (0: unknown) */
    char *err_src;          /* with err_line: its file (at most MX_ERR_SRC_MAX - 1 bytes), else NULL;
                             * not inline: every check allocates a rule_run per rule */
} rule_run;
#define MX_ERR_SRC_MAX 512

typedef struct mx_task mx_task;
struct mx_task {
    int alive;
    uint32_t gen;
    int slot;
    lua_State *co;          /* anchored at [slot + 1] of the runtime's thread table (co_tab_ref) */
    mx_check *check;
    int rule;
    int parent_slot;        /* -1 for a rule's root task */
    uint32_t parent_gen;
    int child_index;
    /* waiting for children (task.all) */
    int pending_children;
    int results_ref;        /* the results table in the registry (task.all from a coroutine of the rule's own) */
    int results_at;         /* else: the results table's index on its own thread's stack (0: none) */
    char *child_error;
    /* resume payload */
    int queued;
    int nargs_fixed;        /* resume with this many values pushed by push */
    mx_json *result;
    int result_borrowed;    /* result is a replayed answer, owned by the recording: not freed */
    void *handle;
    mx_push_fn push;
    mx_discard_fn discard;
    int first;              /* task.all child not yet resumed: its function is on its stack */
    unsigned char co_ok;    /* its thread returned (lua_resume gave LUA_OK): reusable (rt_sched.c) */
    unsigned char co_seen;  /* coroutine.running() handed its thread to Lua: never reused */
    lua_State *spare;       /* a dead task's: its thread, kept (anchored) for the slot's next task, or NULL;
                             * kept across rt_task_new's clearing of the slot (rt_sched.c) */
    /* What others may be waiting for from this task: the task.event ids it
     * made (signalled or not) and the task.share keys it works out for the
     * other workers. When it ends without signalling or publishing one (its
     * rule's deadline stopped it), the waiters are released, not left to wait
     * for their own deadlines (rt_task_kill). */
#define MX_TASK_MADE_IN 4
    int made_in[MX_TASK_MADE_IN]; /* the first ids (in the struct: the task array may move) */
    int *made;              /* all of them, once there are more (NULL until then) */
    int nmade, made_cap;
    char **keys;
    int nkeys, keys_cap;
};

struct mx_check {
    mx_rt *rt;
    int id;
    int ntasks;             /* live tasks of this check */
    mx_target target;
    mx_json *target_json;
    mx_jarena *arena;       /* the findings' trees (report:finding), freed with the check */
    int target_ref, facts_ref;
    void **borrowed;        /* the cache entries its findings' trees borrow from (l_report.c), released */
    int nborrowed, borrowed_cap; /* by mx_check_free (rt_report_release) */
    char *resolvers;        /* this check's own resolvers (c-ares CSV), or NULL: the run's */
    rule_run *runs;
    int remaining;          /* rules not yet finished/skipped */
    int64_t start, end;
    time_t wall;            /* start, for --record and the letter */
    mx_report report;
    mx_check_done_fn done_fn;
    void *done_ud;
    int finished;
    mx_json *rule_opts;     /* this check's rule options (a batch entry's merged over the run's), or NULL: the run's */
    int run_level;          /* the run-level check: only scope = "run" rules (rt_site.c) */
    unsigned epoch;         /* rt->epoch at its start: cached answers and shared work are kept per epoch */
    unsigned char *have;    /* have[fact index]: the fact is in its facts table (set where that table is written) */
    int nhave;
    int *pend;              /* the rules that were PENDING at the last compaction, in rule order (rt_advance) */
    int npend;
    int advancing;          /* rt_advance calls in progress (it nests: a skipped rule's finish advances) */
    int nruns;              /* rt->nrules at its start: the size of runs[], pend[] and dirty[] */
    unsigned char *dirty;   /* dirty[rule]: a fact it requires or wants came, or one of their providers ended,
                             * since rt_advance last looked at it (rt_fact_changed); only pending rules are */
    int ndirty;             /* how many pending rules are dirty: 0, and rt_advance has nothing to look at */
    int nrunning;           /* rules RUNNING: none, and rules still pending wait on each other (a cycle) */
    mx_timer *deadline;     /* one timer for all its running rules' deadlines (rt_checks.c), due at
                             * deadline_due: no later than the earliest due_ms of a running rule (earlier
                             * when the rule it was armed for finished since); NULL: none armed */
    int64_t deadline_due;
};

struct mx_gate_req {
    mx_rt *rt;
    int slot;
    uint32_t gen;
    char *key;
    char *cache_key;        /* the cache's and in-flight table's key: key, prefixed by a non-zero epoch */
    const char *prim;       /* the caller's string literal */
    mx_json *args;
    int cacheable;
    mx_push_fn push;
    mx_discard_fn discard;
    int64_t start;
    int waiting, wait_check, wait_rule; /* mx_gate_wait_begin: whose deadline it moves */
    /* identical cacheable calls made while this one is in flight wait here */
    struct gate_waiter *waiters;
    size_t nwaiters;
    /* an answer given without I/O, until the loop's next turn (done_later) */
    mx_json *im_result;
    void *im_handle;
    int im_borrowed;
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

/* Answers handed to Lua as one sealed table shared by every later caller
 * (rt_gate.c, answer_get/answer_put): at most GATE_ANSWERS_MAX per Lua
 * state, the slot to reuse chosen by a clock (an answer read since the hand
 * last passed is kept one more round). An answer's owner (a cache entry, a
 * replayed entry) holds the tag it was stored with; a slot reused since gives
 * another tag, so the owner then builds its answer again. */
#define GATE_ANSWERS_MAX 4096
typedef struct gate_answer {
    uint64_t tag;           /* 0: none stored */
    unsigned slot;
    mx_push_fn push;        /* the primitive's push, which makes it (a replayed repeat: push_shared) */
} gate_answer;

/* a cached answer: its compact JSON text, and its shared Lua table if made */
typedef struct cache_entry {
    gate_answer ans;
    char text[];
} cache_entry;

typedef struct replay_entry {
    char *key;
    mx_json *result;
    size_t next_same;       /* index + 1 of the next entry with this key; 0: none */
    gate_answer ans;        /* its shared Lua table, when one was made (a cacheable repeat) */
} replay_entry;

/* The recording's entries of one key, in order: the first, and the first not
 * yet answered (entries are answered in order, so the answered ones of a key
 * are always its first ones). */
typedef struct replay_key {
    size_t first, next_unused; /* indexes + 1; next_unused 0: all answered */
} replay_key;

/* The allocator's per-size free lists (rt_mem.c). */
#define SLAB_GRAIN 16
#define SLAB_MAX 512
typedef struct slab_free { struct slab_free *next; } slab_free;
typedef struct rt_slab {
    slab_free *free[SLAB_MAX / SLAB_GRAIN];
    struct slab_chunk *chunks;
    unsigned char *bump;
    size_t left;
} rt_slab;

struct mx_rt {
    unsigned epoch;              /* mx_rt_new_epoch: 0 for check and batch (one run shares all) */
    mx_rt_opts opts;
    int status_shown;       /* a progress status line is on the terminal */
    lua_State *L;
    mx_loop *loop;
    mx_dns *dns;
    mx_rule rules[MAX_RULES];
    int nrules;
    mx_task *tasks;
    int ntasks, tasks_cap;
    int co_tab_ref;         /* registry table: each live task's thread at [slot + 1], or a dead task's
                             * kept for the slot's next one (mx_task.spare); 0: not made yet */
    /* The CPU timer (rt_sandbox.c, rt_cpu_*): tasks' threads run without the
     * count hook; a task computing through CPU_SLICE_MS of the thread's CPU
     * within one pass of the scheduler gets it from a signal. */
    lua_State *volatile running; /* the innermost thread of the task being resumed, or NULL */
    int cpu_state;          /* 0: timer not made yet, 1: made, -1: none (tasks keep the hook) */
    timer_t cpu_timer;      /* CLOCK_THREAD_CPUTIME_ID of cpu_owner, signalling it */
    pthread_t cpu_owner;    /* the thread the timer measures and signals */
    int *free_slots;
    int nfree;
    int pushing_borrowed;   /* resume_task is pushing a borrowed result (mx_rt_result_borrowed) */
    int deps_nrules;        /* nrules when req_prov/want_prov were built (rt_deps_index) */
    unsigned deps_gen;      /* counts rt_deps_index's rebuilds */
    unsigned waiters_gen;   /* deps_gen when waiter_off/waiters were built (rt_checks.c) */
    int *waiter_off;        /* the rules requiring or wanting fact f: waiters[waiter_off[f] .. waiter_off[f + 1]) */
    int *waiters;
    const char **fact_names; /* every fact a rule requires, wants or provides (the rules' strings) */
    int nfacts;
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
    mx_strmap cache;        /* key -> cache_entry */
    char **cache_fifo;      /* insertion order ring, for eviction */
    size_t cache_head;
    mx_strmap inflight;     /* key -> mx_gate_req of a cacheable call in flight */
    /* shared answers (GATE_ANSWERS_MAX): per slot its tag and the push
     * function that made it; the Lua tables in a registry array */
    uint64_t *ans_tags;
    mx_push_fn *ans_push;
    unsigned char *ans_used;
    unsigned ans_hand;
    uint64_t ans_next_tag;
    int ans_stale;          /* the epoch's cache was cleared: drop the array at the next store */
    int stopping;           /* mx_rt_stop: mx_rt_run returns */
    mx_json *recording;     /* array of calls */
    replay_entry *replay;
    size_t nreplay;
    mx_strmap replay_index; /* key -> replay_key: a call's answer without a scan of the recording */
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
    mx_json *replay_miss_keys; /* the first of them: ["RULE: KEY", ...] */
    int64_t lua_us;           /* time spent in all rules' Lua code */
    SSL_CTX *tls_ctx;       /* lazily, see mx_rt_tls_ctx */
    char *tls_ctx_err;
    rt_slab slab;           /* small Lua objects, see rt_alloc */
    int options_ro_ref;     /* read-only view of the run's options (has_options_ro) */
    mx_json *pushing_hit;   /* a cached answer being pushed (see mx_gate_call) */
    const char *fact_build_name; /* mx_rt_set_fact_builder: this run fact is built into Lua */
    mx_fact_build_fn fact_build;
    void *fact_build_ud;
    mx_strmap dns_by_resolvers; /* c-ares CSV -> mx_dns, for checks with their own resolvers */
    int has_options_ro;
    mx_net_conns *net_conns; /* net.connect's slots and queues (l_net.c) */
    mx_json *rule_opts;      /* rule options: {rule id: {key: value}} (rt_site.c) */
    mx_json *overrides;      /* site overrides: [{code, severity?, domains?, summary?, ...}] (rt_site.c) */
    int empty_ro_ref;        /* a read-only empty table (report.options of a rule without options) */
    struct rt_worker *worker; /* batch -P: what it shares with the other workers (NULL: one worker) */
};

/* ---- rt_mem.c */
void *rt_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
void rt_slab_release(rt_slab *sl);

/* ---- rt_gate.c */
/* Frees the cache, the recording and the replay. */
void rt_gate_free(mx_rt *rt);
/* Drops every cached answer (serve, between probes: their keys carry the
 * epoch, so no later probe could use them). */
void rt_gate_cache_clear(mx_rt *rt);
/* --replay PATH: reads the recording into rt. */
int rt_load_replay(mx_rt *rt, const char *path, char *err, size_t errlen);

/* ---- rt_sched.c */
mx_task *rt_task_get(mx_rt *rt, int slot, uint32_t gen);
mx_task *rt_task_new(mx_rt *rt, mx_check *c, int rule);
void rt_task_kill(mx_rt *rt, mx_task *t);
void rt_make_ready(mx_rt *rt, mx_task *t);
/* task.event() (owned by the running rule) / task.signal(id) from C. */
int mx_task_event_new(lua_State *L);
void rt_event_signal(mx_rt *rt, int id);
/* Forgets every event (ids start again from 1): only when no task is alive. */
void rt_events_reset(mx_rt *rt);

/* ---- rt_workers.c (batch -P) */
typedef struct rt_worker rt_worker;
void rt_worker_free(mx_rt *rt);
void rt_worker_register(lua_State *L);
/* A key task t claimed with task.share ("run") and has not published: given
 * up in the process-wide store, so another worker's waiter works it out. */
void rt_worker_abandon(mx_rt *rt, const char *key);
void rt_error_location(mx_rt *rt, lua_State *co, rule_run *run, const char *rule_file);
/* Frees the task table, the ready queue and the events. */
void rt_sched_free(mx_rt *rt);
/* At mx_rt_new, before the sandbox is built: coroutine.running that marks a
 * task's thread held by Lua (never reused). */
void rt_sched_open(lua_State *L);
void rt_fact_changed(mx_check *c, int fact); /* rt_checks.c: a fact came, or a rule that may publish it ended */
/* task.all's machinery (also dnsbl.lookup's): argument 1 a list of functions,
 * run as child tasks; yields until all are done, then continues in k. */
int mx_task_spawn_all(lua_State *L, lua_KFunction k);

/* ---- rt_sandbox.c */
void rt_build_env_proto(mx_rt *rt);
void rt_push_env(mx_rt *rt, int libs_idx);
int rt_ro_kind(lua_State *L, int idx);
void rt_push_readonly(lua_State *L, int idx);
void rt_push_sealed(lua_State *L, int idx);
void rt_push_adopted(lua_State *L, int idx);
void rt_push_sealed_view(lua_State *L, int sidx);
/* 1 and its shadow pushed when the value at idx is a sealed copy (made by
 * rt_push_sealed or util.seal: its contents never change), else 0 [-0, +(0|1), -] */
int rt_sealed_copy(lua_State *L, int idx);
int rt_l_seal(lua_State *L); /* util.seal */
/* ---- rt_json.c: mx_lua_to_json_in that sets *views when it read anything
 * that may change later (a proxy or a view; not a sealed copy) */
mx_json *rt_lua_to_json_views(lua_State *L, int idx, mx_jarena *a, int *views);
int rt_push_seal_keys(lua_State *L); /* pushes the fields of a sealed table's metatable; gives their count */
/* a sealed table over the table at sidx with those fields at kb: a sealed COPY
 * (rt_sealed_copy answers 1), so the caller never changes that table again */
void rt_push_sealed_shadow_kb(lua_State *L, int sidx, int kb);
void rt_count_hook(lua_State *L, lua_Debug *ar);
void rt_cpu_init(mx_rt *rt);  /* at mx_rt_new: whether tasks may run without the hook */
void rt_cpu_arm(mx_rt *rt);   /* rule code runs from here (a pass of the scheduler)... */
void rt_cpu_disarm(mx_rt *rt);/* ...to here: back to the event loop */
void rt_cpu_free(mx_rt *rt);
void rt_deps_index(mx_rt *rt); /* rt_loader.c: mx_rule's req_prov/want_prov, rt->fact_names */
int rt_fact_index(mx_rt *rt, const char *name); /* -1: no rule names it */
int64_t rt_now_us(void);
int64_t rt_others_ms(mx_rt *rt, rule_run *run);

/* ---- rt_loader.c */
int rt_load_code(lua_State *L, const mx_buf *code, const char *path);
int rt_sandbox_require(lua_State *L);
void rt_rule_clear(lua_State *L, mx_rule *r);
int rt_select_rules(mx_rt *rt, const char *only, const char *skip, char *on);
int rt_name_cmp(const void *a, const void *b);

/* ---- rt_checks.c */
mx_check *rt_check_by_id(mx_rt *rt, int id);
void rt_add_finding(mx_check *c, int rule, mx_severity sev, mx_json *obj);
/* obj built wholly in c->arena (report:finding) */
void rt_add_finding_arena(mx_check *c, int rule, mx_severity sev, mx_json *obj);
/* the check's borrowed finding trees given back (l_report.c), when its findings are gone */
void rt_report_release(mx_check *c);
void rt_rule_error_finding(mx_check *c, int rule, const char *summary, const char *detail);
void rt_rule_finish(mx_check *c, int rule, int state, const char *why);
const char *rt_rule_reason(const rule_run *run, char *buf, size_t n);
void rt_advance(mx_check *c);
int64_t rt_queued_ms(const rule_run *run);
int rt_rule_timeout_ms(mx_rt *rt, int rule);
long long rt_check_duration(mx_check *c);

/* ---- rt_site.c: rule options, overrides, run-level rules */
/* Validates the rule table's `options` (schema) and `scope` fields into r. */
int rt_site_validate_rule(lua_State *L, int t, const char *file, mx_rule *r, char *err, size_t errlen);
/* After loading: warnings (two rules declaring one code), run-level checks. */
int rt_site_after_load(mx_rt *rt, char *err, size_t errlen);
/* Pushes the read-only options of rule for check c (report.options). */
void rt_push_rule_options(mx_rt *rt, mx_check *c, int rule);
/* A check's own rule_options merged over the run's (NULL: none). */
void rt_check_rule_options(mx_check *c, const mx_json *options);
/* Applies the site overrides to a finding about to be added. */
void rt_apply_overrides(mx_check *c, mx_severity *sev, mx_json *obj);
void rt_site_free(mx_rt *rt);

/* ---- l_report.c */
void rt_push_report(mx_rt *rt, mx_check *c, int rule);

/* rt_hints.c: the closest of known (NULL-terminated) to word, or NULL;
 * the line where `field =` is first written in src, or 0 */
const char *rt_did_you_mean(const char *word, const char *const *known);
int rt_field_line(const char *src, size_t len, const char *field);

#endif
