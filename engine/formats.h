/* Output formats built on the mxdiag.check/1 document: JSON lines, CSV,
 * Prometheus textfile (node_exporter), Nagios plugin line, and the batch
 * summary table. Knows nothing of Lua. */
#ifndef MX_FORMATS_H
#define MX_FORMATS_H
#include <stddef.h>
#include "buf.h"
#include "json.h"
#include "strmap.h"

/* Every string from the document is escaped for its medium (escape.h). */

/* One JSONL line: the document with "index" added, compact, '\n'-terminated. */
void mx_fmt_jsonl(mx_buf *b, mx_json *doc, size_t index);
void mx_fmt_csv_header(mx_buf *b);
/* index,domain,status,exit_code,duration_ms,crit,warn,unknown,codes */
void mx_fmt_csv_row(mx_buf *b, const mx_json *doc, size_t index);
/* Nagios/Icinga: "MXDIAG CRITICAL - domain: summary ... | perfdata\n". */
/* The summary names the verdict's finding (verdict.h); perfdata adds, per MX
 * address, 'host[addr]:port connect'=Nms, greeting, tls and cert_days. */
void mx_fmt_nagios(mx_buf *b, const mx_json *doc);
/* "MXDIAG UNKNOWN - usage: MESSAGE\n" for a usage error in nagios mode. */
void mx_fmt_nagios_usage(mx_buf *b, const char *message);

/* Running totals of a batch for the summary and Prometheus formats: memory is
 * bounded by the number of distinct finding codes, not by the list. */
#define MX_STATS_SLOWEST 10
#define MX_STATS_FAILING 10
/* A code's count of domains (the first member: a (long long *) reads it) and
 * the worst severity it had (mx_severity order: ok 0 .. crit 4). */
typedef struct mx_code_count { long long domains; int worst; } mx_code_count;
typedef struct mx_batch_stats {
    long long by_status[4];         /* ok, warn, crit, unknown */
    long long bad_entries;
    long long done;
    double duration_sum_s;
    mx_strmap codes;                /* code -> (mx_code_count *) */
    struct { char domain[256]; long long ms; } slowest[MX_STATS_SLOWEST];
    int nslowest;
    /* the worst domains (crit, then warn, then unknown; in finishing order
     * within a status) with the code of their worst finding */
    struct { char domain[256]; char code[64]; int rank; long long seq; } failing[MX_STATS_FAILING];
    int nfailing;
    long long failing_total;        /* domains not ok, listed or not */
} mx_batch_stats;

void mx_stats_add(mx_batch_stats *s, const mx_json *doc);
void mx_stats_free(mx_batch_stats *s);
/* Index of a status name in by_status (ok 0, warn 1, crit 2, unknown 3). */
int mx_status_index(const char *status);

/* The end-of-run table: status counts, the failing domains worst first, the
 * most frequent problem codes (warn, crit, unknown: ok and info codes are
 * counted for Prometheus but not listed), the slowest domains. */
/* lists_all: the run's output has every domain (jsonl, csv, prometheus), so
 * the failing domains left out of the table are there; not with --format summary */
void mx_fmt_summary(mx_buf *b, const mx_batch_stats *s, double elapsed_s, int interrupted, int lists_all);
/* Prometheus: per-domain samples are collected in two buffers (status and
 * duration families must each be contiguous); the totals come at the end. */
void mx_fmt_prom_domain(mx_buf *status_fam, mx_buf *duration_fam, const mx_json *doc);
void mx_fmt_prom_head(mx_buf *b, const char *family);
void mx_fmt_prom_totals(mx_buf *b, const mx_batch_stats *s, double elapsed_s, double now_s);

#endif
