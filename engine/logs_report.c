/* See logs_report.h. */
#include "logs_report.h"
#include "logfacts.h"
#include "termtext.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int mx_logs_judge_option(const char *a) {
    return strcmp(a, "--rules-dir") == 0 || strncmp(a, "--rules-dir=", 12) == 0 || strcmp(a, "--trace") == 0;
}

mx_json *mx_logs_judgement(mx_log_agg *agg, const mx_log_stats *stats, const char *const *samples,
                           const mx_log_file_stat *files, size_t nf, const mx_log_filter *filter, int64_t now,
                           mx_logs_judge_fn judge, int argc, char **argv, mx_json *root) {
    mx_log_facts_in in = {agg, stats, samples, now, filter->since, filter->until, filter->domain};
    mx_json_set(root, "histogram", mx_log_hist_json(mx_log_agg_hist(agg)));
    mx_json *out = NULL;
    if (judge) {
        /* rules that read the logs themselves (log.events) read the same files */
        mx_json *opts = mx_json_obj();
        mx_json *lf = mx_json_set(opts, "log_files", mx_json_arr());
        for (size_t i = 0; i < nf; i++) mx_json_push(lf, mx_json_str(files[i].path));
        out = judge(argc, argv, &in, opts);
        mx_json_free(opts);
    }
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

/* The sum of buckets [from, from + per) of a series. */
static uint64_t column(const mx_json *arr, size_t nb, size_t from, size_t per) {
    uint64_t v = 0;
    for (size_t k = from; k < from + per && k < nb && k < arr->u.c.len; k++) v += (uint64_t)arr->u.c.items[k]->u.i;
    return v;
}

void mx_logs_print_histogram(mx_buf *b, const mx_json *hist, int width) {
    const mx_json *series = mx_json_get(hist, "series"), *st = mx_json_get(hist, "start"),
                  *w = mx_json_get(hist, "width"), *nbj = mx_json_get(hist, "buckets");
    if (!series || series->type != MX_JOBJ || !series->u.c.len || !st || !w || w->u.i <= 0 || !nbj || nbj->u.i <= 0)
        return;
    size_t nb = (size_t)nbj->u.i;
    /* a row is "  NAME(16) |COLUMNS| SUM": columns merge buckets until it fits the width; a
     * site's cause name longer than the built-in ones widens the name column */
    int digits = 1, namew = 16;
    for (size_t s = 0; s < series->u.c.len; s++) {
        int kn = (int)strlen(series->u.c.keys[s]);
        if (kn > namew) namew = kn;
    }
    for (size_t s = 0; s < series->u.c.len; s++) {
        uint64_t sum = column(series->u.c.items[s], nb, 0, nb);
        int d = snprintf(NULL, 0, "%llu", (unsigned long long)sum);
        if (d > digits) digits = d;
    }
    int avail = width - 22 - digits - (namew - 16);
    if (avail < 8) avail = 8;
    size_t per = nb <= (size_t)avail ? 1 : (nb + (size_t)avail - 1) / (size_t)avail;
    char from[32], unit[32];
    time_t t = (time_t)st->u.i;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(from, sizeof from, "%Y-%m-%d %H:%MZ", &tm);
    long long ws = w->u.i * (long long)per;
    if (ws % 86400 == 0) snprintf(unit, sizeof unit, "%lldd", ws / 86400);
    else if (ws % 3600 == 0) snprintf(unit, sizeof unit, "%lldh", ws / 3600);
    else if (ws % 60 == 0) snprintf(unit, sizeof unit, "%lldmin", ws / 60);
    else snprintf(unit, sizeof unit, "%llds", ws);
    char head[160];
    snprintf(head, sizeof head,
             "remote deliveries over time (one column per %s from %s; ' .:-=+*#%%@' = none to most of the row):", unit,
             from);
    mx_buf_putc(b, '\n');
    mx_text_wrap(b, head, 0, 2, width);
    mx_buf_putc(b, '\n');
    for (size_t s = 0; s < series->u.c.len; s++) {
        const mx_json *arr = series->u.c.items[s];
        uint64_t max = 0;
        for (size_t k = 0; k < nb; k += per) {
            uint64_t v = column(arr, nb, k, per);
            if (v > max) max = v;
        }
        mx_buf_printf(b, "  %-*s |", namew, series->u.c.keys[s]);
        for (size_t k = 0; k < nb; k += per) mx_buf_putc(b, level(column(arr, nb, k, per), max));
        mx_buf_printf(b, "| %llu\n", (unsigned long long)column(arr, nb, 0, nb));
    }
}
