/* The Lua side of the engine: one Lua state, the rule library, the scheduler
 * that runs rules as coroutines over the C event loop, and the call gate every
 * primitive goes through (trace, record, replay, cache). */
#ifndef MX_RUNTIME_H
#define MX_RUNTIME_H
#include <lua.h>
#include <lauxlib.h>
#include <stdint.h>
#include "addr.h"
#include "dns.h"
#include "json.h"
#include "factsink.h"
#include "loop.h"
#include "report.h"
#include "l_net.h" /* mx_net_conn_stats, for batch */
#include "shstore.h"
#include "slots.h"

/* Lua instructions per rule run (a file's top-level code while loading: a
 * twentieth). The fuzz build sets less (tests/fuzz/CMakeLists.txt): the same
 * paths, but a runaway input ends in a second under ASan, not near
 * libFuzzer's 10-second timeout. */
#ifndef MX_RULE_INSTR_LIMIT
#define MX_RULE_INSTR_LIMIT 200000000L
#endif
#define MX_RULE_MEM_LIMIT (64u << 20)    /* bytes a rule may grow the heap by in one slice */
#define MX_LUA_MEM_LIMIT (1024u << 20)   /* whole Lua heap */

typedef struct mx_rt mx_rt;
typedef struct mx_check mx_check;

typedef struct mx_rt_opts {
    const char *resolvers;       /* NULL: system resolver */
    int timeout_ms;              /* per network operation */
    const char *shipped_dir;     /* shipped rules */
    const char **site_dirs;      /* site rule directories, in order */
    size_t nsite_dirs;
    const char *only, *skip;     /* comma lists of rule ids or categories */
    int trace;
    int transcript;              /* --transcript: the SMTP dialogues (and connects) on stderr, as swaks shows them */
    int progress;                /* stderr is a terminal: one status line while waiting, cleared at the end */
    const char *record_path;
    const char *replay_path;
    mx_json *options;            /* handed to rules as target.options (owned by caller) */
    int per_host;                /* connections at once to one address (0: 2) */
    int max_connections;         /* connections at once in total (0: from RLIMIT_NOFILE) */
    int qps;                     /* DNS queries started per second (0: no cap) */
    const char *ca_file;         /* --ca-file: extra trust anchors for STARTTLS (NULL: system store only) */
    const char *dnsbl_key;       /* --dnsbl-key: DNSBL access key (Spamhaus DQS), a secret: only l_dnsbl.c
                                  * puts it into the packets it sends; never in options, output or recordings */
    int logs_rules;              /* 1: load the logs rules (kind = "logs") only, for `mxdiag logs`; 0: the check rules */
    const mx_json *facts;        /* object: facts every check starts with (name -> value), or NULL; not taken */
} mx_rt_opts;

mx_rt *mx_rt_new(const mx_rt_opts *opts, char *err, size_t errlen);
void mx_rt_free(mx_rt *rt);
/* Loads shipped then site rules. A broken rule file is an error naming the
 * file and field: returns -1 with err set. */
int mx_rt_load_rules(mx_rt *rt, char *err, size_t errlen);
/* Rules a check with these options would run: an `only`/`skip` key (string
 * or list of rule ids/categories) replaces the run's --only/--skip. */
int mx_rt_check_selects(mx_rt *rt, const mx_json *options);
/* The loaded rules as JSON (for `rules list`). */
/* A new epoch: checks started from now on share no cached answer or
 * shared.once result with earlier ones (mxdiag serve: one per probe). */
unsigned mx_rt_new_epoch(mx_rt *rt);
mx_json *mx_rt_rules_json(mx_rt *rt);
/* The sandbox's API as JSON: {globals, modules, std, types} with sorted
 * function names (for `rules api` and RULES.md's drift test). */
mx_json *mx_rt_api_json(mx_rt *rt);
/* Is rule id loaded and selected by the run's --only/--skip? */
int mx_rt_rule_enabled(mx_rt *rt, const char *id);
/* The blocklists' documented free-use limits from lib/dnsbl_catalog.lua:
 * [{name, zone, queries_per_day, connections_per_day?, terms?}] (caller
 * frees), or NULL with err. For `batch`'s volume warning. */
mx_json *mx_rt_dnsbl_usage(mx_rt *rt, char *err, size_t errlen);
/* The cause catalog (lib/log_patterns.lua, site directories first) read and
 * checked, its cause names registered (mx_log_cause_register), compiled into
 * a matcher for mx_log_set_matcher; NULL with a message naming the file and
 * entry in err when it is wrong. */
struct mx_cause_matcher *mx_rt_log_patterns(mx_rt *rt, char *err, size_t errlen);

typedef void (*mx_check_done_fn)(mx_check *c, void *ud);
mx_check *mx_check_start(mx_rt *rt, const mx_target *t, mx_check_done_fn done, void *ud);
/* The run-level check: the rules with scope = "run", once per invocation,
 * with target {input = "(run)", kind = "run"}; NULL when none is selected.
 * Start it after the target's check (a replay matches checks by order). */
mx_check *mx_check_start_run(mx_rt *rt, mx_check_done_fn done, void *ud);
/* Its part of a document: {status, exit_code, duration_ms, findings, rules}. */
mx_json *mx_check_run_json(mx_check *run);
/* The exit code of the worse of c and run (run may be NULL). */
int mx_check_exit_code_with_run(mx_check *c, mx_check *run);
/* Same, with per-check options (an object, may be NULL, not taken) merged
 * key by key over the run's options in target.options. done may run before
 * this returns (every rule skipped): do not free the check from inside done. */
mx_check *mx_check_start_opts(mx_rt *rt, const mx_target *t, const mx_json *options, mx_check_done_fn done, void *ud);
/* Runs until every started check is done, or mx_rt_stop is called (from a
 * loop callback); checks still running then can be freed with mx_check_free. */
void mx_rt_run(mx_rt *rt);
void mx_rt_stop(mx_rt *rt);
/* Finished check: the JSON document (caller owns) and the text rendering. */
mx_json *mx_check_json(mx_check *c);
/* The same, sharing the check's target and findings (no copies) for writing
 * it out at once; free with mx_check_json_release before the check. */
mx_json *mx_check_json_borrowed(mx_check *c);
/* The same without "rules" as a view, for a writer that writes them itself
 * with mx_check_rules_write (a batch writes a line per domain): no tree is
 * built and freed per check; the view's own nodes live in *v (keys pointing
 * at literals), the target and the findings are the check's (sorted here).
 * Read-only; valid while the check is and is not changed; released with
 * mx_check_view_release (never mx_json_free). */
typedef struct mx_check_view {
    mx_json doc, schema, status, exit_code, duration, findings;
    mx_json *items[6];
    char *keys[6];
} mx_check_view;
const mx_json *mx_check_view_of(mx_check *c, mx_check_view *v);
void mx_check_view_release(mx_check_view *v);
/* The "rules" array of mx_check_json, written compact (the same bytes). */
void mx_check_rules_write(mx_check *c, mx_buf *out);
void mx_check_json_release(mx_json *doc);
void mx_check_text(mx_check *c, mx_buf *out, int colour);
/* The same at a verbosity (-1 -q, 0 default, 1 -v, 2 -vv; report.h). */
void mx_check_text_v(mx_check *c, mx_buf *out, int colour, int verbosity);
int mx_check_exit_code(mx_check *c);
/* Site rules of this check that reached no verdict: failed (rule.error), or
 * skipped because a fact they require is missing (not: left out by
 * --only/--skip, or applies() said no). One line "ID failed: ..." or
 * "ID skipped: ..." each appended to out (may be NULL); returns how many. */
size_t mx_check_broken_rules(mx_check *c, mx_buf *out);
/* When the check started, "YYYY-MM-DDTHH:MM:SSZ" (a replay: the recorded
 * run's start, or "unknown"). Returns buf. */
const char *mx_check_started_utc(mx_check *c, char *buf, size_t n);
void mx_check_free(mx_check *c);
/* ---- site settings (rt_site.c), after mx_rt_load_rules ---- */
/* Rule options {rule id: {option: value}} checked against each rule's
 * `options` schema (unknown rule, unknown option with "did you mean", wrong
 * type: -1 with err) and merged over those set before. */
int mx_rt_set_rule_options(mx_rt *rt, const mx_json *map, char *err, size_t errlen);
/* The same check without setting (a batch entry's rule_options). */
int mx_rt_rule_options_check(mx_rt *rt, const mx_json *map, char *err, size_t errlen);
/* --rule-arg "ID.option=VALUE": VALUE converted by the option's declared type
 * (list/map/table: JSON text); is_json: VALUE is JSON text whatever the type
 * (settings files, whose values are typed already). */
int mx_rt_rule_arg(mx_rt *rt, const char *arg, int is_json, char *err, size_t errlen);
/* The run's rule options (NULL: none). */
const mx_json *mx_rt_rule_options(mx_rt *rt);
/* One site override {code, severity?, domains?, summary?, explanation?,
 * advice?} (validated: -1 with err), applied to every later finding. */
int mx_rt_add_override(mx_rt *rt, const mx_json *ov, char *err, size_t errlen);
/* A list of them. */
int mx_rt_set_overrides(mx_rt *rt, const mx_json *list, char *err, size_t errlen);
const mx_json *mx_rt_overrides(mx_rt *rt);
/* The facts a finished check's rules published, {name: value} (caller owns;
 * `mxdiag rules facts`). */
mx_json *mx_check_facts_json(mx_check *c);

/* batch -P N: this runtime is worker id of N, one thread each; shared.once
 * results go through store and connections take their slots from slots (both
 * shared by the workers, owned by the caller, outliving the runtimes). Call
 * before the first check; the runtime is then used by one thread only. */
int mx_rt_set_worker(mx_rt *rt, mx_shstore *store, mx_slots *slots, int id, char *err, size_t errlen);
/* The store shared with the other workers, or NULL (one worker). */
mx_shstore *mx_rt_share_store(mx_rt *rt);

/* Writes the recording (if --record) at the end of a run. */
int mx_rt_finish(mx_rt *rt, char *err, size_t errlen);

/* ---- sandbox ---- */
/* Counts steps of work a C function does for the running rule (the pattern
 * matcher) as Lua instructions against its budget, and checks its deadline;
 * raises (and aborts the rule) when either is exceeded. No-op outside rules. */
void mx_rt_charge(lua_State *L, uint64_t steps);
/* Makes the table at idx an immutable engine value (writes raise, metatable
 * locked) that read-only views hand out as it is (util.null). [-0, +0, m] */
void mx_lua_seal(lua_State *L, int idx);
/* Sets find, match, gmatch, gsub and rep in the table at idx: Lua's pattern
 * functions, with their work charged through mx_rt_charge, and string.rep
 * charged by the size it makes (l_strmatch.c). */
void mx_strmatch_register(lua_State *L, int idx);

/* ---- for binding files ---- */
typedef struct mx_gate_req mx_gate_req;
/* Pushes a primitive's return values from its JSON result (and handle, e.g.
 * a connected fd, or NULL); returns how many. Runs in the rule's coroutine. */
typedef int (*mx_push_fn)(lua_State *L, mx_json *result, void *handle);
/* Frees a handle whose task is gone (e.g. closes an fd). */
typedef void (*mx_discard_fn)(void *handle);
/* Starts the real operation; it must later call mx_gate_done(req, ...). */
typedef void (*mx_start_fn)(mx_rt *rt, mx_json *args, mx_gate_req *req);

/* The one call gate. Builds the call's key from prim and args, traces it,
 * answers from the replay or the cache when it can, else starts it. Yields
 * the calling coroutine: use as `return mx_gate_call(...)`. Takes args;
 * prim is a string literal (kept as it is, not copied). */
int mx_gate_call(lua_State *L, const char *prim, mx_json *args, int cacheable,
                 mx_start_fn start, mx_push_fn push, mx_discard_fn discard);
/* The same with a start function that receives ctx beside the args (e.g. the
 * socket an I/O call works on). start runs inside the call or not at all (an
 * answer from the replay or the cache), so ctx need live only that long. */
typedef void (*mx_start_ctx_fn)(mx_rt *rt, mx_json *args, mx_gate_req *req, void *ctx);
int mx_gate_call_ctx(lua_State *L, const char *prim, mx_json *args, int cacheable,
                     mx_start_ctx_fn start, void *ctx, mx_push_fn push, mx_discard_fn discard);
/* For hot primitives (dns.query): the caller writes the call's key itself,
 * exactly as mx_gate_call would from prim and args (prim, a space, args as
 * compact JSON in their order), and takes it; the args JSON is made by
 * make_args(ctx) only for a recording, and start gets args NULL. A replayed
 * or cached answer then costs no JSON tree nor its writing. */
typedef mx_json *(*mx_args_fn)(void *ctx);
/* cacheable = MX_GATE_SHARED: cacheable, and push's single value (an answer,
 * not nil + error) is a sealed table that may be handed as it is to every
 * later caller of the same key in the run (its epoch): a cache hit or a
 * replayed repeat then returns that table without building it again. */
#define MX_GATE_SHARED 2
int mx_gate_call_keyed(lua_State *L, const char *prim, char *key, mx_args_fn make_args, int cacheable,
                       mx_start_ctx_fn start, void *ctx, mx_push_fn push, mx_discard_fn discard);
/* Completion: takes result (and handle). Never resumes anything inline. */
void mx_gate_done(mx_gate_req *req, mx_json *result, void *handle);
/* A call about to wait for a local resource (a connection slot) / done
 * waiting: the wait does not count against its rule's deadline. */
void mx_gate_wait_begin(mx_gate_req *req);
void mx_gate_wait_end(mx_gate_req *req);
/* For primitives that finish without waiting (reads of this host, logs):
 * completes from the loop's next turn, the same path as real I/O. */
void mx_gate_done_later(mx_gate_req *req, mx_json *result);
/* A primitive that completes without I/O but must still be recorded and
 * replayed (e.g. reads of this host): same as call + immediate done. */

/* Connections open at once to one address (--per-host; 0 = default 2). */
int mx_rt_per_host(mx_rt *rt);
/* Connections open at once in total (--max-connections; 0 = derived from the
 * open-files limit, see mx_net_connection_cap). */
int mx_rt_max_connections(mx_rt *rt);
mx_rt *mx_rt_from_L(lua_State *L);
/* In a push function: 1 when its result is borrowed (a replayed answer, owned
 * by the recording and pushed again for the next caller): read it, never take
 * or change parts of it. Otherwise the result is the push's to take apart. */
int mx_rt_result_borrowed(lua_State *L);
/* The run's connection slots (l_net.c). */
mx_net_conns *mx_rt_net_conns(mx_rt *rt);
/* The runtime a call belongs to (for completions that need its state). */
mx_rt *mx_gate_rt(mx_gate_req *req);
mx_loop *mx_rt_loop(mx_rt *rt);
mx_dns *mx_rt_dns(mx_rt *rt);
/* The running check's own resolvers (c-ares CSV: a batch entry's `resolver`),
 * or NULL when it uses the run's. */
const char *mx_rt_check_resolvers(mx_rt *rt);
/* --replay: the recorded run's dns.servers() (NULL: not recorded, or no replay) */
const char *mx_rt_replay_servers(mx_rt *rt);
/* The DNS channel for these resolvers (NULL: the run's), made on first use. */
mx_dns *mx_rt_dns_for(mx_rt *rt, const char *resolvers);
int mx_rt_timeout_ms(mx_rt *rt);
/* The DNSBL access key (NULL: none); for l_dnsbl.c only. */
const char *mx_rt_dnsbl_key(mx_rt *rt);
/* The run's CLI options (target.options), or NULL. */
mx_json *mx_rt_options(mx_rt *rt);
int mx_rt_replaying(mx_rt *rt);
/* --replay: how many engine calls found no answer in the recording. */
size_t mx_rt_replay_misses(mx_rt *rt);
/* The first (up to 20) of them as "RULE: CALL-KEY" strings, or NULL. */
const mx_json *mx_rt_replay_miss_keys(mx_rt *rt);
int mx_rt_tracing(mx_rt *rt);
/* The run's one TLS client context, created on first use (loading the trust
 * store costs ~25 ms, fifty handshakes' worth). NULL with err set when it
 * cannot be built (e.g. an unreadable --ca-file); the error is sticky. */
struct ssl_ctx_st *mx_rt_tls_ctx(mx_rt *rt, char *err, size_t errlen);
void mx_rt_trace(mx_rt *rt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A line of an SMTP dialogue (`CONN  -> EHLO ...`): shown with --trace (with
 * its time) and with --transcript (without). */
int mx_rt_dialogue_on(mx_rt *rt);
void mx_rt_dialogue(mx_rt *rt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The live status line (opts.progress): replaces the previous one on the
 * terminal ("\r", erase line); mx_rt_status_clear removes it. */
void mx_rt_status(mx_rt *rt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mx_rt_status_clear(mx_rt *rt);

/* JSON <-> Lua. Object keys are sorted when converting tables, so output is
 * deterministic. [-0, +1, m] / [-0, +0, m] */
void mx_lua_push_json(lua_State *L, const mx_json *v);
/* the same, every table in it sealed (read-only: a write raises) [-0, +1, m] */
void mx_lua_push_json_sealed(lua_State *L, const mx_json *v);
mx_json *mx_lua_to_json(lua_State *L, int idx);
/* The same, its nodes in the arena a (json.h; NULL: the heap). */
mx_json *mx_lua_to_json_in(lua_State *L, int idx, mx_jarena *a);
/* Runs build with a sink that makes Lua tables (rt_factsink.c): pushes the
 * value it built, as mx_lua_push_json would push its mx_json. [-0, +1, m] */
void mx_lua_push_built(lua_State *L, mx_fact_build_fn build, void *ud);
/* The run's fact `name` (a key of opts.facts, whose value there only says it
 * is given: not null) is built by build(sink, ud) straight into Lua tables
 * when a check starts, not pushed from opts.facts (mxdiag logs: its
 * aggregates, without a JSON tree). ud must live as long as rt's checks. */
void mx_rt_set_fact_builder(mx_rt *rt, const char *name, mx_fact_build_fn build, void *ud);

/* ---- batch workers: Lua values across runtimes (rt_share.c) ---- */
/* A userdata the caller knows how to hand over (a socket): appends its
 * bytes to out and returns 0, or -1 when it cannot be shared. */
typedef int (*mx_share_udata_fn)(lua_State *L, int idx, mx_buf *out, void *ud);
/* Pushes the value those bytes stand for; 0, or -1 with nothing pushed. */
typedef int (*mx_share_udata_dec_fn)(lua_State *L, const char *p, size_t n, void *ud);
/* Appends the value at idx to out so that mx_share_decode rebuilds it exactly
 * in another Lua state: integers stay integers, floats floats, keys keep
 * their types, an empty table marked __json = "object" its mark; read-only
 * views are copied as their tables. A function, a thread or a userdata the
 * hook (may be NULL) refuses, or nesting deeper than 32 (a cycle): -1 with
 * err, out unchanged. [-0, +0, m] */
int mx_share_encode(lua_State *L, int idx, mx_buf *out, mx_share_udata_fn hook, void *ud, char *err, size_t errlen);
/* Pushes the value data encodes; -1 (nothing pushed) when data is not a
 * whole encoding. [-0, +(0|1), m] */
int mx_share_decode(lua_State *L, const char *data, size_t len, mx_share_udata_dec_fn hook, void *ud);

/* Module openers, one per binding file. */
int luaopen_mx_dns(lua_State *L);
int luaopen_mx_net(lua_State *L);
int luaopen_mx_task(lua_State *L);
int luaopen_mx_sys(lua_State *L);
int luaopen_mx_util(lua_State *L);
int luaopen_mx_dnsbl(lua_State *L);
int luaopen_mx_log(lua_State *L);

#endif
