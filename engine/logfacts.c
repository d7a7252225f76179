/* The aggregates as the fact `logs`.  See logfacts.h. */
#include "logfacts.h"

#include <string.h>

/* The fact is built through a sink (factsink.h): into Lua tables for the
 * rules (no JSON tree built, pushed and freed) or into an mx_json.  A
 * group's keys are all different (the names below, status and cause names),
 * as the sink requires. */
static void put_t(const mx_fact_sink *s, const char *key, int64_t t) {
    if (t != INT64_MAX && t != INT64_MIN) mx_fact_kv_int(s, key, t);
}

static void put_n(const mx_fact_sink *s, const char *key, uint64_t n) { mx_fact_kv_int(s, key, (int64_t)n); }

static void put_s(const mx_fact_sink *s, const char *key, const char *v) { mx_fact_kv_str(s, key, v ? v : "", v ? strlen(v) : 0); }

/* A group's fields (its object is opened and closed by the caller, who may
 * add fields); key: the group's key as the rules see it. */
static void group_fields(const mx_fact_sink *s, const mx_agg_group *g, const char *key) {
    put_s(s, "key", key);
    put_n(s, "events", g->events);
    put_n(s, "attempts", g->attempts);
    put_n(s, "failed_attempts", g->att_fail);
    put_n(s, "failures", g->ext_fail);
    put_n(s, "successes", g->ext_ok);
    put_n(s, "local", g->local);
    put_n(s, "local_failures", g->local_fail);
    put_n(s, "messages", mx_agg_distinct_count(&g->msgs));
    put_n(s, "recipients", mx_agg_distinct_count(&g->rcpts));
    put_n(s, "domains", mx_agg_distinct_count(&g->domains));
    put_n(s, "addresses", mx_agg_distinct_count(&g->addrs));
    s->key(s->ud, "exact");
    s->boolean(s->ud, mx_agg_distinct_exact(&g->msgs) && mx_agg_distinct_exact(&g->rcpts) &&
                          mx_agg_distinct_exact(&g->domains) && mx_agg_distinct_exact(&g->addrs));
    put_t(s, "first_seen", g->first);
    put_t(s, "last_seen", g->last);
    put_t(s, "first_failure", g->first_fail);
    put_t(s, "last_failure", g->last_fail);
    put_t(s, "first_success", g->first_ok);
    put_t(s, "last_success", g->last_ok);
    if (g->last_outcome) put_s(s, "last_outcome", g->last_outcome == 1 ? "success" : "failure");
    if (g->last_cause > 0) put_s(s, "last_cause", mx_log_cause_name((mx_log_cause)g->last_cause));
    put_n(s, "failures_since_success", g->fail_since_ok);
    if (g->fail_since_ok) put_t(s, "first_failure_since_success", g->first_fail_since_ok);
    if (g->ext_ok + g->ext_fail) {
        s->key(s->ud, "success_ratio");
        s->number(s->ud, (double)g->ext_ok / (double)(g->ext_ok + g->ext_fail));
    }
    s->key(s->ud, "by_status");
    s->obj(s->ud);
    for (int st = 0; st < MX_LOG_STATUS__COUNT; st++)
        if (g->by_status[st]) put_n(s, mx_log_status_name((mx_log_status)st), g->by_status[st]);
    s->end(s->ud);
    s->key(s->ud, "by_cause");
    s->obj(s->ud);
    for (int c = 1; c < MX_LOG_CAUSE_MAX; c++)
        if (g->by_cause[c]) put_n(s, mx_log_cause_name((mx_log_cause)c), g->by_cause[c]);
    s->end(s->ud);
}

static void group_build(const mx_fact_sink *s, void *ud) {
    const mx_agg_group *g = ud;
    s->obj(s->ud);
    group_fields(s, g, g->key);
    s->end(s->ud);
}

mx_json *mx_log_group_json(const mx_agg_group *g) {
    mx_fact_json j;
    mx_fact_sink s;
    mx_fact_json_sink(&j, &s);
    group_build(&s, (void *)g);
    return mx_fact_json_take(&j);
}

/* failing_only: only groups with a failure (outcome or attempt): remote
 * addresses that only ever accepted say nothing the totals do not. */
static void list_build(const mx_fact_sink *s, mx_log_agg *agg, mx_agg_dim dim, int failing_only) {
    const mx_agg_group *const *gs;
    size_t n = mx_log_agg_list(agg, dim, &gs);
    s->arr(s->ud);
    int other = mx_log_agg_dropped(agg, dim) > 0; /* the "(other)" bucket is last */
    for (size_t i = 0; i < n; i++) {
        int is_other = other && i == n - 1;
        if (failing_only && !gs[i]->ext_fail && !gs[i]->att_fail && !gs[i]->local_fail && !is_other) continue;
        s->obj(s->ud);
        group_fields(s, gs[i], gs[i]->key);
        if (is_other) {
            s->key(s->ud, "other");
            s->boolean(s->ud, 1);
        }
        s->end(s->ud);
    }
    s->end(s->ud);
}

/* The keys of a cause x key dimension for one cause, most failures first
 * (the list is by events: failures and attempts), at most MX_LOG_FACTS_TOP. */
static void top_for_cause(const mx_fact_sink *s, mx_log_agg *agg, mx_agg_dim dim, int cause, const char *field) {
    const mx_agg_group *const *gs;
    size_t n = mx_log_agg_list(agg, dim, &gs);
    const mx_agg_group *top[MX_LOG_FACTS_TOP];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const mx_agg_group *g = gs[i];
        if (g->cause != cause || !g->sub) continue;
        uint64_t w = g->ext_fail + g->local_fail;
        size_t j = k < MX_LOG_FACTS_TOP ? k++ : MX_LOG_FACTS_TOP;
        if (j == MX_LOG_FACTS_TOP) {
            if (w <= top[j - 1]->ext_fail + top[j - 1]->local_fail) continue;
            j--;
        }
        while (j > 0 && top[j - 1]->ext_fail + top[j - 1]->local_fail < w) {
            top[j] = top[j - 1];
            j--;
        }
        top[j] = g;
    }
    s->arr(s->ud);
    for (size_t i = 0; i < k; i++) {
        s->obj(s->ud);
        put_s(s, field, top[i]->sub);
        put_n(s, "failures", top[i]->ext_fail);
        put_n(s, "local_failures", top[i]->local_fail);
        put_n(s, "attempts", top[i]->attempts);
        put_n(s, "messages", mx_agg_distinct_count(&top[i]->msgs));
        s->end(s->ud);
    }
    s->end(s->ud);
}

/* This cause's failures whose key had no pair of its own in a cause x key
 * dimension (the dimension was full when the pair came): they are in its
 * "(other)" group, never in top_for_cause's list. */
static uint64_t untracked_for_cause(mx_log_agg *agg, mx_agg_dim dim, int cause) {
    const mx_agg_group *const *gs;
    size_t n = mx_log_agg_list(agg, dim, &gs);
    if (!n || gs[n - 1]->cause >= 0 || (unsigned)cause >= MX_LOG_CAUSE_MAX) return 0; /* no "(other)" */
    return gs[n - 1]->by_cause[cause];
}

static void hist_build(const mx_fact_sink *s, void *ud) {
    const mx_agg_hist *h = ud;
    s->obj(s->ud);
    put_n(s, "width", (uint64_t)h->width);
    put_n(s, "buckets", h->nbuckets);
    if (h->width) put_t(s, "start", h->start);
    s->key(s->ud, "series");
    s->obj(s->ud);
    for (int c = 0; c < MX_LOG_CAUSE_MAX; c++) {
        uint64_t sum = 0;
        for (size_t b = 0; b < h->nbuckets; b++) sum += h->n[c][b];
        if (!sum) continue;
        s->key(s->ud, c == MX_LOG_CAUSE_NONE ? "success" : mx_log_cause_name((mx_log_cause)c));
        s->arr(s->ud);
        for (size_t b = 0; b < h->nbuckets; b++) s->integer(s->ud, (int64_t)h->n[c][b]);
        s->end(s->ud);
    }
    s->end(s->ud);
    s->end(s->ud);
}

mx_json *mx_log_hist_json(const mx_agg_hist *h) {
    mx_fact_json j;
    mx_fact_sink s;
    mx_fact_json_sink(&j, &s);
    hist_build(&s, (void *)h);
    return mx_fact_json_take(&j);
}

void mx_log_facts_build(const mx_fact_sink *s, void *ud) {
    const mx_log_facts_in *in = ud;
    s->obj(s->ud);
    put_t(s, "now", in->now);
    put_t(s, "since", in->since);
    put_t(s, "until", in->until);
    if (in->domain) put_s(s, "domain", in->domain);
    put_n(s, "lines", in->stats->lines);
    put_n(s, "events", in->stats->events);
    put_n(s, "ignored", in->stats->ignored);
    put_n(s, "filtered", in->stats->filtered);
    put_n(s, "unparsed", in->stats->unparsed);
    put_n(s, "max_groups", MX_AGG_DEFAULT_MAX_GROUPS);
    put_n(s, "max_late_groups", MX_AGG_LATE(MX_AGG_DEFAULT_MAX_GROUPS));
    put_n(s, "max_pairs", MX_AGG_DEFAULT_MAX_GROUPS + MX_AGG_LATE(MX_AGG_DEFAULT_MAX_GROUPS));
    s->key(s->ud, "total");
    s->obj(s->ud);
    group_fields(s, mx_log_agg_total(in->agg), "(total)");
    s->end(s->ud);
    s->key(s->ud, "causes");
    s->arr(s->ud);
    const mx_agg_group *const *gs;
    size_t n = mx_log_agg_list(in->agg, MX_AGG_CAUSE, &gs);
    for (size_t i = 0; i < n; i++) {
        const mx_agg_group *g = gs[i];
        if (g->cause <= MX_LOG_CAUSE_NONE) continue;
        s->obj(s->ud);
        group_fields(s, g, g->key);
        const char *sm = in->samples ? in->samples[g->cause] : NULL;
        if (sm && sm[0]) put_s(s, "sample", sm);
        s->key(s->ud, "top_domains");
        top_for_cause(s, in->agg, MX_AGG_CAUSE_DOMAIN, g->cause, "domain");
        s->key(s->ud, "top_addresses");
        top_for_cause(s, in->agg, MX_AGG_CAUSE_ADDR, g->cause, "address");
        put_n(s, "top_domains_untracked", untracked_for_cause(in->agg, MX_AGG_CAUSE_DOMAIN, g->cause));
        put_n(s, "top_addresses_untracked", untracked_for_cause(in->agg, MX_AGG_CAUSE_ADDR, g->cause));
        s->end(s->ud);
    }
    s->end(s->ud);
    s->key(s->ud, "domains");
    list_build(s, in->agg, MX_AGG_DOMAIN, 0);
    s->key(s->ud, "addresses");
    list_build(s, in->agg, MX_AGG_ADDR, 1);
    s->key(s->ud, "sources");
    list_build(s, in->agg, MX_AGG_SOURCE, 0);
    s->key(s->ud, "dropped");
    s->obj(s->ud);
    put_n(s, "domain_events", mx_log_agg_dropped(in->agg, MX_AGG_DOMAIN));
    put_n(s, "address_events", mx_log_agg_dropped(in->agg, MX_AGG_ADDR));
    s->end(s->ud);
    s->key(s->ud, "histogram");
    hist_build(s, (void *)mx_log_agg_hist(in->agg));
    s->end(s->ud);
}

mx_json *mx_log_facts_json(const mx_log_facts_in *in) {
    mx_fact_json j;
    mx_fact_sink s;
    mx_fact_json_sink(&j, &s);
    mx_log_facts_build(&s, (void *)in);
    return mx_fact_json_take(&j);
}
