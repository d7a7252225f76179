/* The aggregates as the fact `logs`.  See logfacts.h. */
#include "logfacts.h"

#include <string.h>

/* A group's object is built with keys that are all different (the names
 * below, status and cause names): appended, not looked up first (thousands
 * of groups make the `logs` fact). */
static void set_t(mx_json *o, const char *key, int64_t t) {
    if (t != INT64_MAX && t != INT64_MIN) mx_json_append(o, key, mx_json_int((long long)t));
}

static void set_n(mx_json *o, const char *key, uint64_t n) { mx_json_append(o, key, mx_json_int((long long)n)); }

mx_json *mx_log_group_json(const mx_agg_group *g) {
    mx_json *o = mx_json_obj();
    mx_json_append(o, "key", mx_json_str(g->key));
    set_n(o, "events", g->events);
    set_n(o, "attempts", g->attempts);
    set_n(o, "failed_attempts", g->att_fail);
    set_n(o, "failures", g->ext_fail);
    set_n(o, "successes", g->ext_ok);
    set_n(o, "local", g->local);
    set_n(o, "local_failures", g->local_fail);
    set_n(o, "messages", mx_agg_distinct_count(&g->msgs));
    set_n(o, "recipients", mx_agg_distinct_count(&g->rcpts));
    set_n(o, "domains", mx_agg_distinct_count(&g->domains));
    set_n(o, "addresses", mx_agg_distinct_count(&g->addrs));
    mx_json_append(o, "exact", mx_json_bool(mx_agg_distinct_exact(&g->msgs) && mx_agg_distinct_exact(&g->rcpts) &&
                                         mx_agg_distinct_exact(&g->domains) && mx_agg_distinct_exact(&g->addrs)));
    set_t(o, "first_seen", g->first);
    set_t(o, "last_seen", g->last);
    set_t(o, "first_failure", g->first_fail);
    set_t(o, "last_failure", g->last_fail);
    set_t(o, "first_success", g->first_ok);
    set_t(o, "last_success", g->last_ok);
    if (g->last_outcome)
        mx_json_append(o, "last_outcome", mx_json_str(g->last_outcome == 1 ? "success" : "failure"));
    if (g->last_cause > 0) mx_json_append(o, "last_cause", mx_json_str(mx_log_cause_name((mx_log_cause)g->last_cause)));
    set_n(o, "failures_since_success", g->fail_since_ok);
    if (g->fail_since_ok) set_t(o, "first_failure_since_success", g->first_fail_since_ok);
    if (g->ext_ok + g->ext_fail)
        mx_json_append(o, "success_ratio", mx_json_num((double)g->ext_ok / (double)(g->ext_ok + g->ext_fail)));
    mx_json *st = mx_json_append(o, "by_status", mx_json_obj());
    for (int s = 0; s < MX_LOG_STATUS__COUNT; s++)
        if (g->by_status[s]) set_n(st, mx_log_status_name((mx_log_status)s), g->by_status[s]);
    mx_json *bc = mx_json_append(o, "by_cause", mx_json_obj());
    for (int c = 1; c < MX_LOG_CAUSE_MAX; c++)
        if (g->by_cause[c]) set_n(bc, mx_log_cause_name((mx_log_cause)c), g->by_cause[c]);
    return o;
}

/* failing_only: only groups with a failure (outcome or attempt): remote
 * addresses that only ever accepted say nothing the totals do not. */
static mx_json *list_json(mx_log_agg *agg, mx_agg_dim dim, int failing_only) {
    const mx_agg_group *const *gs;
    size_t n = mx_log_agg_list(agg, dim, &gs);
    mx_json *arr = mx_json_arr();
    int other = mx_log_agg_dropped(agg, dim) > 0; /* the "(other)" bucket is last */
    for (size_t i = 0; i < n; i++) {
        if (failing_only && !gs[i]->ext_fail && !gs[i]->att_fail && !gs[i]->local_fail &&
            !(other && i == n - 1))
            continue;
        mx_json *o = mx_json_push(arr, mx_log_group_json(gs[i]));
        if (other && i == n - 1) mx_json_set(o, "other", mx_json_bool(1));
    }
    return arr;
}

/* The keys of a cause x key dimension for one cause, most failures first
 * (the list is by events: failures and attempts), at most MX_LOG_FACTS_TOP. */
static mx_json *top_for_cause(mx_log_agg *agg, mx_agg_dim dim, int cause, const char *field) {
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
    mx_json *arr = mx_json_arr();
    for (size_t i = 0; i < k; i++) {
        mx_json *o = mx_json_push(arr, mx_json_obj());
        mx_json_set(o, field, mx_json_str(top[i]->sub));
        set_n(o, "failures", top[i]->ext_fail);
        set_n(o, "local_failures", top[i]->local_fail);
        set_n(o, "attempts", top[i]->attempts);
        set_n(o, "messages", mx_agg_distinct_count(&top[i]->msgs));
    }
    return arr;
}

static mx_json *hist_json(const mx_agg_hist *h) {
    mx_json *o = mx_json_obj();
    set_n(o, "width", (uint64_t)h->width);
    set_n(o, "buckets", h->nbuckets);
    if (h->width) set_t(o, "start", h->start);
    mx_json *series = mx_json_set(o, "series", mx_json_obj());
    for (int c = 0; c < MX_LOG_CAUSE_MAX; c++) {
        uint64_t sum = 0;
        for (size_t b = 0; b < h->nbuckets; b++) sum += h->n[c][b];
        if (!sum) continue;
        mx_json *arr = mx_json_set(series, c == MX_LOG_CAUSE_NONE ? "success" : mx_log_cause_name((mx_log_cause)c),
                                   mx_json_arr());
        for (size_t b = 0; b < h->nbuckets; b++) mx_json_push(arr, mx_json_int((long long)h->n[c][b]));
    }
    return o;
}

mx_json *mx_log_facts_json(const mx_log_facts_in *in) {
    mx_json *f = mx_json_obj();
    set_t(f, "now", in->now);
    set_t(f, "since", in->since);
    set_t(f, "until", in->until);
    if (in->domain) mx_json_set(f, "domain", mx_json_str(in->domain));
    set_n(f, "lines", in->stats->lines);
    set_n(f, "events", in->stats->events);
    set_n(f, "ignored", in->stats->ignored);
    set_n(f, "filtered", in->stats->filtered);
    set_n(f, "unparsed", in->stats->unparsed);
    set_n(f, "max_groups", MX_AGG_DEFAULT_MAX_GROUPS);
    mx_json *total = mx_json_set(f, "total", mx_log_group_json(mx_log_agg_total(in->agg)));
    mx_json_set(total, "key", mx_json_str("(total)"));
    mx_json *causes = mx_json_set(f, "causes", mx_json_arr());
    const mx_agg_group *const *gs;
    size_t n = mx_log_agg_list(in->agg, MX_AGG_CAUSE, &gs);
    for (size_t i = 0; i < n; i++) {
        const mx_agg_group *g = gs[i];
        if (g->cause <= MX_LOG_CAUSE_NONE) continue;
        mx_json *o = mx_json_push(causes, mx_log_group_json(g));
        const char *s = in->samples ? in->samples[g->cause] : NULL;
        if (s && s[0]) mx_json_set(o, "sample", mx_json_str(s));
        mx_json_set(o, "top_domains", top_for_cause(in->agg, MX_AGG_CAUSE_DOMAIN, g->cause, "domain"));
        mx_json_set(o, "top_addresses", top_for_cause(in->agg, MX_AGG_CAUSE_ADDR, g->cause, "address"));
    }
    mx_json_set(f, "domains", list_json(in->agg, MX_AGG_DOMAIN, 0));
    mx_json_set(f, "addresses", list_json(in->agg, MX_AGG_ADDR, 1));
    mx_json_set(f, "sources", list_json(in->agg, MX_AGG_SOURCE, 0));
    mx_json *dr = mx_json_set(f, "dropped", mx_json_obj());
    set_n(dr, "domain_events", mx_log_agg_dropped(in->agg, MX_AGG_DOMAIN));
    set_n(dr, "address_events", mx_log_agg_dropped(in->agg, MX_AGG_ADDR));
    mx_json_set(f, "histogram", hist_json(mx_log_agg_hist(in->agg)));
    return f;
}
