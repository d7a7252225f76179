/* The runtime's state: mx_rt_new, mx_rt_free, and the accessors binding
 * files use (loop, DNS channels, options, the TLS context). */
#include "rt_private.h"
#include "tls.h"
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>

mx_rt *mx_rt_from_L(lua_State *L) {
    mx_rt *rt;
    lua_getallocf(L, (void **)&rt);
    return rt;
}
mx_loop *mx_rt_loop(mx_rt *rt) { return rt->loop; }
mx_net_conns *mx_rt_net_conns(mx_rt *rt) { return rt->net_conns; }
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
const mx_json *mx_rt_replay_miss_keys(mx_rt *rt) { return rt->replay_miss_keys; }
int mx_rt_replaying(mx_rt *rt) { return rt->replay != NULL || rt->opts.replay_path != NULL; }

mx_rt *mx_rt_new(const mx_rt_opts *opts, char *err, size_t errlen) {
    mx_rt *rt = mx_xcalloc(1, sizeof *rt);
    rt->opts = *opts;
    if (rt->opts.timeout_ms <= 0) rt->opts.timeout_ms = 10000;
    rt->t0 = mx_now_ms();
    rt->mem_limit = MX_LUA_MEM_LIMIT;
    rt->loop = mx_loop_new();
    if (!rt->loop) { snprintf(err, errlen, "cannot create the event loop"); free(rt); return NULL; }
    if (opts->replay_path) {
        if (rt_load_replay(rt, opts->replay_path, err, errlen) != 0) { mx_loop_free(rt->loop); free(rt); return NULL; }
    } else {
        mx_dns_opts dopts = {opts->resolvers, rt->opts.timeout_ms, 0, opts->qps};
        rt->dns = mx_dns_new(rt->loop, &dopts, err, errlen);
        if (!rt->dns) { mx_loop_free(rt->loop); free(rt); return NULL; }
    }
    if (opts->record_path) rt->recording = mx_json_arr();
    rt->net_conns = mx_net_conns_new();
    rt->L = lua_newstate(rt_alloc, rt);
    if (!rt->L) { snprintf(err, errlen, "cannot create the Lua state"); mx_rt_free(rt); return NULL; }
    luaL_openlibs(rt->L);
    rt_sched_open(rt->L);
    lua_sethook(rt->L, rt_count_hook, LUA_MASKCOUNT, HOOK_EVERY);
    rt_cpu_init(rt);
    rt_build_env_proto(rt);
    return rt;
}

void mx_rt_free(mx_rt *rt) {
    if (!rt) return;
    if (rt->L) {
        for (int i = 0; i < rt->ntasks; i++) if (rt->tasks[i].alive) rt_task_kill(rt, &rt->tasks[i]);
        for (int i = 0; i < rt->nrules; i++) rt_rule_clear(rt->L, &rt->rules[i]);
        lua_close(rt->L);
        mx_json_free(rt->pushing_hit);
        rt_slab_release(&rt->slab);
    }
    /* let in-flight primitives of killed tasks finish so nothing leaks */
    /* Primitives started by tasks that were killed (a rule's deadline) may
     * still be in flight: let them finish (each is bounded by its own
     * timeout) so their sockets and memory are released. */
    int64_t until = mx_now_ms() + rt->opts.timeout_ms + 1000;
    while (rt->pending_calls > 0 && mx_now_ms() < until) mx_loop_run_once(rt->loop, 100);
    rt_worker_free(rt);
    rt_cpu_free(rt);
    mx_dns_free(rt->dns);
    mx_strmap_free(&rt->dns_by_resolvers, free_dns);
    mx_loop_free(rt->loop);
    if (rt->tls_ctx) SSL_CTX_free(rt->tls_ctx);
    free(rt->tls_ctx_err);
    mx_net_conns_free(rt->net_conns);
    rt_gate_free(rt);
    rt_sched_free(rt);
    rt_site_free(rt);
    free(rt->checks);
    free(rt->fact_names);
    free(rt);
}
