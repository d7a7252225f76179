/* Streaming mail-log reader: plain or gzip files, stdin, rotated sets.
 *
 * Memory is bounded by one fixed buffer per open file whatever the file
 * size: a line longer than MX_LOG_MAX_LINE is skipped (and counted), never
 * stored.  gzip is detected by its magic bytes, not by the file name, and
 * several concatenated members are read through.  A damaged gzip yields the
 * lines decoded so far, then an error that says what went wrong.
 *
 * mx_log_stream combines reader + parser over several files in time order
 * (oldest rotation first) and is what a report or a Lua iterator uses. */
#ifndef MX_LOGREAD_H
#define MX_LOGREAD_H
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "logparse.h"

#define MX_LOG_MAX_LINE (64 * 1024)

typedef struct mx_log_reader mx_log_reader;

/* path "-" reads stdin.  NULL on open failure with a message in err. */
mx_log_reader *mx_log_reader_open(const char *path, char *err, size_t errlen);
/* Same over an already open descriptor (not closed by the reader unless own). */
mx_log_reader *mx_log_reader_fdopen(int fd, int own, const char *name);

/* Text produced by a function instead of read from a descriptor (the systemd
 * journal, logjournal.h): read fills dst with at most cap bytes of
 * '\n'-terminated lines and returns the count, 0 at the end, or -1 with a
 * message in err (errlen bytes). The reader applies the same limits as to a
 * file (MX_LOG_MAX_LINE), and calls close(ud) when it is closed. */
typedef struct mx_log_source {
    const char *name;
    ssize_t (*read)(void *ud, char *dst, size_t cap, char *err, size_t errlen);
    void (*close)(void *ud);
    void *ud;
} mx_log_source;
mx_log_reader *mx_log_reader_source(const mx_log_source *src);
/* 1: line and len set (no '\n'; valid until the next call); 0: end; -1: error
 * (mx_log_reader_error); lines read before an error were delivered;
 * MX_LOG_STOPPED: *stop (mx_log_reader_set_stop) was set. */
int mx_log_reader_next(mx_log_reader *r, const char **line, size_t *len);
#define MX_LOG_STOPPED (-2)
/* A flag (set by a signal handler) that stops reading: looked at before
 * each refill of the buffer (every few hundred KiB, also inside an
 * over-long line) and when a blocking read is interrupted (EINTR), so a
 * stop is seen within one buffer.  NULL: never stops. */
void mx_log_reader_set_stop(mx_log_reader *r, const volatile sig_atomic_t *stop);
const char *mx_log_reader_error(const mx_log_reader *r); /* NULL if none */
int mx_log_reader_is_gzip(const mx_log_reader *r);
uint64_t mx_log_reader_long_lines(const mx_log_reader *r); /* skipped, over MX_LOG_MAX_LINE */
uint64_t mx_log_reader_bytes(const mx_log_reader *r);      /* decompressed bytes consumed */
/* 0 when the line last returned certainly holds no NUL byte (then
 * mx_log_parse_text_line may skip its own scan). */
int mx_log_reader_line_may_hold_nul(const mx_log_reader *r);
void mx_log_reader_close(mx_log_reader *r);

/* The usual mail-log locations (Debian, RHEL, Exim on either), NULL-terminated:
 * what `mxdiag logs` and log.events read when no file is named. */
extern const char *const mx_log_default_paths[];

/* Orders paths oldest first: "mail.log.3.gz, mail.log.2.gz, mail.log.1,
 * mail.log" and dateext "mail.log-20240301.gz" before "mail.log".
 * Unrelated names keep their relative order. In place; returns n. */
size_t mx_log_sort_paths(const char **paths, size_t n);

/* Appends to *out (malloc'd array, *n entries) base and its existing
 * rotations (base.N, base.N.gz, base-YYYYMMDD[.gz]) found in base's
 * directory, unsorted.  Returns the number added (0 if base has none). */
size_t mx_log_find_rotations(const char *base, char ***out, size_t *n);

/* ---- stream: files in order -> events ------------------------------------ */

typedef struct mx_log_file_stat {
    const char *path;
    int ok;            /* opened and read to the end without error */
    int gzip;
    uint64_t lines;
    uint64_t bytes;    /* consumed: up to the end of the last line read */
    int interrupted;   /* reading stopped inside this file (mx_log_stream_set_stop) */
    int not_read;      /* never opened: the stop came first */
    char error[512];   /* "" if none */
} mx_log_file_stat;

typedef struct mx_log_stats {
    uint64_t lines;
    uint64_t events;
    uint64_t ignored;
    uint64_t unparsed;
    uint64_t by_reason[MX_LOG_R__COUNT];
    uint64_t filtered;  /* events dropped by the filter */
} mx_log_stats;

typedef struct mx_log_stream mx_log_stream;

/* Copies paths and sorts them with mx_log_sort_paths.  filter may be NULL. */
mx_log_stream *mx_log_stream_new(const char *const *paths, size_t n, int64_t now, int naive_utc,
                                 const mx_log_filter *filter);
/* A stream over one source (its name stands for the file name in the
 * stats); the stream owns it: closed with the stream, read or not. */
mx_log_stream *mx_log_stream_new_source(const mx_log_source *src, int64_t now, int naive_utc,
                                        const mx_log_filter *filter);
/* 1: next matching event (slices valid until the next call); 0: all files
 * done, or stopped (mx_log_stream_stopped).  One event per recipient: a line
 * naming several (Sendmail "to=a,b") gives one event each, in line order. */
int mx_log_stream_next(mx_log_stream *s, mx_log_event *ev);
/* Stops the stream when *stop becomes non-zero (a signal handler's flag):
 * the file being read is marked interrupted (lines and bytes say how far it
 * got), the files after it not_read, and the stream then ends as if done.
 * Lines already handed out (to batches too) are complete. */
void mx_log_stream_set_stop(mx_log_stream *s, const volatile sig_atomic_t *stop);
int mx_log_stream_stopped(const mx_log_stream *s);
const mx_log_stats *mx_log_stream_stats(const mx_log_stream *s);
size_t mx_log_stream_files(const mx_log_stream *s, const mx_log_file_stat **files);
void mx_log_stream_free(mx_log_stream *s);

/* ---- batches: parse on several threads, in input order ------------------- *
 *
 * mx_log_stream_fill copies the stream's next lines (whole lines, at most
 * MX_LOG_BATCH_BYTES of text or MX_LOG_BATCH_LINES lines) into a batch and
 * does the per-file bookkeeping of mx_log_stream_next (line counts, over-long
 * lines, errors).  It is not thread-safe: callers serialise fills, and the
 * order of fills is the input order.  Any thread can then parse its batch
 * with its own parser (mx_log_batch_next), counting into its own stats, which
 * mx_log_stream_add_stats finally adds to the stream's.  A report that feeds
 * each batch's events to its aggregator in fill order gets exactly what a
 * single mx_log_stream_next loop gets. */
#define MX_LOG_BATCH_BYTES (512 * 1024)
#define MX_LOG_BATCH_LINES 8192

typedef struct mx_log_batch mx_log_batch;

mx_log_batch *mx_log_batch_new(void);
/* A batch whose lines are not copied: slices of the stream's read buffer,
 * up to the last whole line in it (a fill takes at least one line, reading
 * more if needed).  They stay valid only until the stream is read again (the
 * next fill of any batch, mx_log_stream_next): for one thread that fills,
 * parses and aggregates a batch before it fills the next. */
mx_log_batch *mx_log_batch_new_borrowing(void);
void mx_log_batch_free(mx_log_batch *b);
/* Lines put in b (0: the stream is done); b's previous lines are dropped. */
size_t mx_log_stream_fill(mx_log_stream *s, mx_log_batch *b);
/* 1: next matching event of b (slices valid until the next fill of b);
 * 0: b done.  Counts events/ignored/unparsed/filtered into st (not lines). */
int mx_log_batch_next(mx_log_batch *b, mx_log_parser *p, const mx_log_filter *f, mx_log_stats *st,
                      mx_log_event *ev);
/* The stream's parser settings and filter, for the threads' own copies. */
void mx_log_stream_parser_init(const mx_log_stream *s, mx_log_parser *p, mx_log_filter *f);
/* Adds events/ignored/unparsed/by_reason/filtered of st (lines are counted by fills). */
void mx_log_stream_add_stats(mx_log_stream *s, const mx_log_stats *st);

#endif
