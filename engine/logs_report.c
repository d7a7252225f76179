/* See logs_report.h. */
#include "logs_report.h"
#include "logfacts.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

int mx_logs_judge_option(const char *a) {
    return strcmp(a, "--rules-dir") == 0 || strncmp(a, "--rules-dir=", 12) == 0 || strcmp(a, "--trace") == 0;
}

mx_json *mx_logs_judgement(mx_log_agg *agg, const mx_log_stats *stats, const char *const *samples,
                           const mx_log_file_stat *files, size_t nf, const mx_log_filter *filter, int64_t now,
                           mx_logs_judge_fn judge, int argc, char **argv, mx_json *root) {
    mx_log_facts_in in = {agg, stats, samples, now, filter->since, filter->until, filter->domain};
    mx_json *facts = mx_log_facts_json(&in);
    mx_json_set(root, "histogram", mx_json_clone(mx_json_get(facts, "histogram")));
    mx_json *out = NULL;
    if (judge) {
        /* rules that read the logs themselves (log.events) read the same files */
        mx_json *opts = mx_json_obj();
        mx_json *lf = mx_json_set(opts, "log_files", mx_json_arr());
        for (size_t i = 0; i < nf; i++) mx_json_push(lf, mx_json_str(files[i].path));
        /* the run's facts: {"logs": facts} (moved in, not copied: it is big) */
        mx_json *run_facts = mx_json_obj();
        mx_json_set(run_facts, "logs", facts);
        facts = NULL;
        out = judge(argc, argv, run_facts, opts);
        mx_json_free(run_facts);
        mx_json_free(opts);
    }
    mx_json_free(facts);
    return out;
}

/* Ten levels, ASCII (a log's text output may go anywhere). */
static char level(uint64_t v, uint64_t max) {
    static const char lv[] = " .:-=+*#%@";
    if (!v) return ' ';
    if (!max) return '@';
    size_t i = 1 + (size_t)((v * 8 + max - 1) / max); /* 1..9 for 1..max */
    return lv[i > 9 ? 9 : i];
}

void mx_logs_print_histogram(FILE *o, const mx_json *hist) {
    const mx_json *series = mx_json_get(hist, "series"), *st = mx_json_get(hist, "start"),
                  *w = mx_json_get(hist, "width");
    if (!series || series->type != MX_JOBJ || !series->u.c.len || !st || !w || w->u.i <= 0) return;
    char from[32], unit[32];
    time_t t = (time_t)st->u.i;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(from, sizeof from, "%Y-%m-%d %H:%MZ", &tm);
    long long ws = w->u.i;
    if (ws % 86400 == 0) snprintf(unit, sizeof unit, "%lldd", ws / 86400);
    else if (ws % 3600 == 0) snprintf(unit, sizeof unit, "%lldh", ws / 3600);
    else snprintf(unit, sizeof unit, "%lldmin", ws / 60);
    size_t nb = (size_t)mx_json_get(hist, "buckets")->u.i;
    fprintf(o, "\nremote deliveries over time (one column per %s from %s; ' .:-=+*#%%@' = none to most of the row):\n",
            unit, from);
    for (size_t s = 0; s < series->u.c.len; s++) {
        const mx_json *arr = series->u.c.items[s];
        uint64_t max = 0, sum = 0;
        for (size_t b = 0; b < arr->u.c.len; b++) {
            uint64_t v = (uint64_t)arr->u.c.items[b]->u.i;
            sum += v;
            if (v > max) max = v;
        }
        fprintf(o, "  %-16s |", series->u.c.keys[s]);
        for (size_t b = 0; b < nb && b < arr->u.c.len; b++) fputc(level((uint64_t)arr->u.c.items[b]->u.i, max), o);
        fprintf(o, "| %llu\n", (unsigned long long)sum);
    }
}
