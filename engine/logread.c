/* Streaming mail-log reader.  See logread.h. */
#include "logread.h"
#include "buf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Line buffer: must hold one maximal line plus slack; input chunk for gzip. */
#define LINEBUF_SIZE (MX_LOG_MAX_LINE * 4)
#define INBUF_SIZE (128 * 1024)

struct mx_log_reader {
    int fd, own;
    mx_log_source src; /* src.read set: text from it instead of fd (the journal) */
    char name[256];
    int gzip;
    z_stream zs;
    int zinit, zend; /* inflate set up; current member ended */
    unsigned char *in;
    char *buf;
    size_t start, end; /* unconsumed data is buf[start, end) */
    int eof;           /* no more raw/decompressed input */
    int skipping;      /* inside an over-long line: drop until '\n' */
    int failed;
    const volatile sig_atomic_t *stop; /* see mx_log_reader_set_stop */
    int stopped;                       /* *stop was seen */
    size_t nul_end;    /* buf offset one past the last NUL byte in buf[0, end), 0: none */
    int line_nul;      /* the line just returned may hold a NUL */
    uint64_t long_lines, bytes;
    char err[512];
};

static void note_nul(mx_log_reader *r, size_t from);

static void rd_fail(mx_log_reader *r, const char *what, const char *detail) {
    r->failed = 1;
    snprintf(r->err, sizeof r->err, "%.255s: %.100s%s%.100s%s", r->name, what, detail ? " (" : "",
             detail ? detail : "", detail ? ")" : "");
}

static int stop_seen(mx_log_reader *r) {
    if (r->stop && *r->stop) r->stopped = 1;
    return r->stopped;
}

static ssize_t read_raw(mx_log_reader *r, void *dst, size_t cap);

static mx_log_reader *reader_new(int fd, int own, const mx_log_source *src, const char *name,
                                 const volatile sig_atomic_t *stop) {
    mx_log_reader *r = mx_xcalloc(1, sizeof *r);
    r->fd = fd;
    r->own = own;
    if (src) r->src = *src;
    r->stop = stop;
    snprintf(r->name, sizeof r->name, "%s", name);
    r->buf = mx_xmalloc(LINEBUF_SIZE);
    r->in = mx_xmalloc(INBUF_SIZE);
    /* Sniff the gzip magic from the first read; works for pipes too. */
    ssize_t n;
    size_t got = 0;
    while (got < 2) {
        n = read_raw(r, r->in + got, INBUF_SIZE - got); /* EISDIR, EIO, ... fail the reader */
        if (n <= 0) break;
        got += (size_t)n;
    }
    if (got >= 2 && r->in[0] == 0x1f && r->in[1] == 0x8b) {
        r->gzip = 1;
        if (inflateInit2(&r->zs, 15 + 32) != Z_OK) {
            rd_fail(r, "cannot initialise zlib", NULL);
        } else {
            r->zinit = 1;
            r->zs.next_in = r->in;
            r->zs.avail_in = (uInt)got;
        }
    } else {
        memcpy(r->buf, r->in, got);
        r->end = got;
        note_nul(r, 0);
    }
    if (got == 0 && !r->gzip && !r->stopped) r->eof = 1;
    return r;
}

static mx_log_reader *reader_fdopen(int fd, int own, const char *name, const volatile sig_atomic_t *stop) {
    return reader_new(fd, own, NULL, name, stop);
}

mx_log_reader *mx_log_reader_source(const mx_log_source *src) { return reader_new(-1, 0, src, src->name, NULL); }

mx_log_reader *mx_log_reader_fdopen(int fd, int own, const char *name) { return reader_fdopen(fd, own, name, NULL); }

void mx_log_reader_set_stop(mx_log_reader *r, const volatile sig_atomic_t *stop) { r->stop = stop; }

static mx_log_reader *reader_open(const char *path, char *err, size_t errlen, const volatile sig_atomic_t *stop) {
    if (strcmp(path, "-") == 0) return reader_fdopen(0, 0, "(stdin)", stop);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (err) snprintf(err, errlen, "%.300s: %s", path, strerror(errno));
        return NULL;
    }
    /* A directory opens fine and only fails at read(): say what it is. */
    struct stat sb;
    if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        if (err) snprintf(err, errlen, "%.300s: %s", path, strerror(EISDIR));
        close(fd);
        return NULL;
    }
#ifdef POSIX_FADV_SEQUENTIAL
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    return reader_fdopen(fd, 1, path, stop);
}

mx_log_reader *mx_log_reader_open(const char *path, char *err, size_t errlen) {
    return reader_open(path, err, errlen, NULL);
}

/* -1 and r->failed on a read error; -1 and r->stopped when a signal
 * interrupted a blocking read and *stop is set. */
static ssize_t read_raw(mx_log_reader *r, void *dst, size_t cap) {
    if (r->src.read) {
        if (stop_seen(r)) return -1;
        char err[400] = "";
        ssize_t n = r->src.read(r->src.ud, dst, cap, err, sizeof err);
        if (n < 0) rd_fail(r, "read error", err[0] ? err : NULL);
        return n;
    }
    for (;;) {
        ssize_t n = read(r->fd, dst, cap);
        if (n < 0 && errno == EINTR && !stop_seen(r)) continue;
        if (n < 0 && !r->stopped) rd_fail(r, "read error", strerror(errno));
        return n;
    }
}

/* Remembers the last NUL among the bytes appended since offset `from`: one
 * vectorised pass per buffer instead of one per line. */
static void note_nul(mx_log_reader *r, size_t from) {
    const char *q = memrchr(r->buf + from, 0, r->end - from);
    if (q) r->nul_end = (size_t)(q - r->buf) + 1;
}

/* Appends decompressed/raw bytes at buf[end..].  Returns bytes added; 0 at eof/error. */
static size_t fill(mx_log_reader *r) {
    size_t room = LINEBUF_SIZE - r->end;
    if (room == 0 || r->eof || r->failed) return 0;
    if (!r->gzip) {
        ssize_t n = read_raw(r, r->buf + r->end, room);
        if (n <= 0) {
            if (!r->stopped) r->eof = 1;
            return 0;
        }
        r->end += (size_t)n;
        note_nul(r, r->end - (size_t)n);
        return (size_t)n;
    }
    size_t added = 0;
    while (added == 0 && !r->eof && !r->failed) {
        if (r->zs.avail_in == 0) {
            ssize_t n = read_raw(r, r->in, INBUF_SIZE);
            if (n < 0) return added;
            if (n == 0) {
                /* Clean end only if the last member finished. */
                if (!r->zend) rd_fail(r, "truncated gzip file: unexpected end of compressed data", NULL);
                r->eof = 1;
                break;
            }
            r->zs.next_in = r->in;
            r->zs.avail_in = (uInt)n;
            if (r->zend) {
                /* Another gzip member follows (concatenated .gz files). */
                if (inflateReset(&r->zs) != Z_OK) {
                    rd_fail(r, "zlib reset failed", NULL);
                    break;
                }
                r->zend = 0;
            }
        } else if (r->zend) {
            if (inflateReset(&r->zs) != Z_OK) {
                rd_fail(r, "zlib reset failed", NULL);
                break;
            }
            r->zend = 0;
        }
        r->zs.next_out = (unsigned char *)r->buf + r->end;
        r->zs.avail_out = (uInt)room;
        int zr = inflate(&r->zs, Z_NO_FLUSH);
        size_t produced = room - r->zs.avail_out;
        r->end += produced;
        added += produced;
        if (produced) note_nul(r, r->end - produced);
        if (zr == Z_STREAM_END) {
            r->zend = 1;
        } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rd_fail(r, "corrupt gzip data", r->zs.msg ? r->zs.msg : "inflate error");
            break;
        }
    }
    return added;
}

typedef struct batch_line {
    const char *p;     /* in the batch's buf, or (borrowing) the stream's */
    uint32_t len;      /* <= MX_LOG_MAX_LINE */
    int nul;
} batch_line;

/* The whole lines left in r's buffer, up to max, into out, in one loop (a
 * borrowing batch's lines: no per-line calls and bookkeeping); 0 when the
 * buffer has no whole line left. No memmove, no read, so lines returned
 * before stay where they are. Lines over MX_LOG_MAX_LINE, and the rest of
 * one being skipped, are counted and passed over. */
static size_t reader_take_buffered(mx_log_reader *r, batch_line *out, size_t max) {
    char *buf = r->buf;
    size_t start = r->start, k = 0;
    const size_t end = r->end;
    while (k < max && start < end) {
        char *ls = buf + start;
        char *nl = memchr(ls, '\n', end - start);
        if (!nl) break;
        size_t n = (size_t)(nl - ls);
        start += n + 1;
        if (r->skipping) {
            r->skipping = 0;
            continue;
        }
        if (n > MX_LOG_MAX_LINE) {
            r->long_lines++;
            continue;
        }
        out[k].p = ls;
        out[k].len = (uint32_t)n;
        out[k].nul = r->nul_end > start - n - 1;
        k++;
    }
    r->bytes += start - r->start;
    r->start = start;
    if (k) r->line_nul = out[k - 1].nul;
    return k;
}

/* The next line when it is whole in the buffer already (the branch of
 * mx_log_reader_next that finds a '\n'); 0 when the buffer has none left. */
static int reader_next_buffered(mx_log_reader *r, const char **line, size_t *len) {
    batch_line l;
    if (!reader_take_buffered(r, &l, 1)) return 0;
    *line = l.p;
    *len = l.len;
    return 1;
}

int mx_log_reader_next(mx_log_reader *r, const char **line, size_t *len) {
    for (;;) {
        if (reader_next_buffered(r, line, len)) return 1;
        char *s = r->buf + r->start;
        size_t avail = r->end - r->start;
        /* No newline in buffer. */
        if (avail > MX_LOG_MAX_LINE) {
            /* Over-long line: drop what we have and skip to the next '\n'. */
            if (!r->skipping) r->long_lines++;
            r->skipping = 1;
            r->bytes += avail;
            r->start = r->end = 0;
            r->nul_end = 0;
            avail = 0;
        } else if (r->start > 0) {
            memmove(r->buf, s, avail);
            r->nul_end = r->nul_end > r->start ? r->nul_end - r->start : 0;
            r->start = 0;
            r->end = avail;
        }
        /* Between buffers, also inside an over-long line: the stop is
         * seen within one buffer, whatever the line lengths. */
        if (stop_seen(r)) return MX_LOG_STOPPED;
        if (fill(r) == 0) {
            if (r->stopped) return MX_LOG_STOPPED;
            if (!r->eof && !r->failed) continue; /* inflate produced nothing yet */
            /* Last line without '\n'.  In a damaged gzip it is a fragment. */
            if (avail && r->skipping) r->bytes += avail; /* tail of an over-long last line */
            if (avail && !r->skipping && !r->failed) {
                r->line_nul = r->nul_end > r->start;
                *line = r->buf + r->start;
                *len = avail;
                r->bytes += avail;
                r->start = r->end;
                return 1;
            }
            r->start = r->end = 0;
            return r->failed ? -1 : 0;
        }
    }
}

const char *mx_log_reader_error(const mx_log_reader *r) { return r->failed ? r->err : NULL; }
int mx_log_reader_is_gzip(const mx_log_reader *r) { return r->gzip; }
uint64_t mx_log_reader_long_lines(const mx_log_reader *r) { return r->long_lines; }
uint64_t mx_log_reader_bytes(const mx_log_reader *r) { return r->bytes; }
int mx_log_reader_line_may_hold_nul(const mx_log_reader *r) { return r->line_nul; }

void mx_log_reader_close(mx_log_reader *r) {
    if (!r) return;
    if (r->zinit) inflateEnd(&r->zs);
    if (r->own) close(r->fd);
    if (r->src.close) r->src.close(r->src.ud);
    free(r->buf);
    free(r->in);
    free(r);
}

const char *const mx_log_default_paths[] = {
    "/var/log/mail.log", "/var/log/maillog", "/var/log/exim4/mainlog", "/var/log/exim/main.log", NULL,
};

/* ---- rotation order ---------------------------------------------------- */

/* Splits "dir/mail.log.2.gz" into stem "dir/mail.log" and an age rank:
 * numeric suffix N -> N (bigger = older), dateext -> negative date so that
 * older dates come first, none -> 0 (the live file, newest). */
static void rot_key(const char *p, size_t *stem_len, long long *age) {
    size_t n = strlen(p);
    if (n > 3 && strcmp(p + n - 3, ".gz") == 0) n -= 3;
    size_t i = n;
    while (i > 0 && p[i - 1] >= '0' && p[i - 1] <= '9') i--;
    if (i < n && i > 0 && (p[i - 1] == '.' || p[i - 1] == '-')) {
        long long v = strtoll(p + i, NULL, 10);
        *stem_len = i - 1;
        /* dateext: 8-digit YYYYMMDD (or 10-digit with hour): older = smaller date. */
        *age = (n - i >= 8) ? 1000000000000LL - v : v;
        return;
    }
    *stem_len = n;
    *age = 0;
}

typedef struct rot_item {
    const char *path;
    size_t group; /* index of the first path with the same stem */
    long long age;
    size_t idx;
} rot_item;

static int cmp_rot(const void *x, const void *y) {
    const rot_item *a = x, *b = y;
    if (a->group != b->group) return a->group < b->group ? -1 : 1;
    if (a->age != b->age) return a->age > b->age ? -1 : 1; /* older (bigger age) first */
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

size_t mx_log_sort_paths(const char **paths, size_t n) {
    /* Files of one stem are grouped where the first of them appeared and
     * ordered oldest first; unrelated stems keep their relative order. */
    rot_item *it = mx_xcalloc(n ? n : 1, sizeof *it);
    size_t *stem = mx_xcalloc(n ? n : 1, sizeof *stem);
    for (size_t i = 0; i < n; i++) {
        it[i].path = paths[i];
        it[i].idx = i;
        rot_key(paths[i], &stem[i], &it[i].age);
        it[i].group = i;
        for (size_t j = 0; j < i; j++)
            if (stem[j] == stem[i] && strncmp(paths[j], paths[i], stem[i]) == 0) {
                it[i].group = it[j].group;
                break;
            }
    }
    if (n > 1) qsort(it, n, sizeof *it, cmp_rot);
    for (size_t i = 0; i < n; i++) paths[i] = it[i].path;
    free(it);
    free(stem);
    return n;
}

size_t mx_log_find_rotations(const char *base, char ***out, size_t *n) {
    const char *slash = strrchr(base, '/');
    char dir[4096];
    const char *file = base;
    if (slash) {
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - base), base);
        if (!*dir) snprintf(dir, sizeof dir, "/");
        file = slash + 1;
    } else {
        snprintf(dir, sizeof dir, ".");
    }
    size_t fl = strlen(file), added = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        if (strncmp(nm, file, fl) != 0) continue;
        const char *suf = nm + fl;
        if (*suf == 0) {
            /* the base itself */
        } else if (*suf == '.' || *suf == '-') {
            const char *q = suf + 1;
            if (*q < '0' || *q > '9') continue;
            while (*q >= '0' && *q <= '9') q++;
            if (*q && strcmp(q, ".gz") != 0) continue;
        } else {
            continue;
        }
        *out = mx_xrealloc(*out, (*n + 1) * sizeof **out);
        mx_buf b = MX_BUF_INIT;
        mx_buf_printf(&b, "%s%s%s", slash ? dir : "", slash ? (strcmp(dir, "/") ? "/" : "") : "", nm);
        (*out)[(*n)++] = mx_buf_steal(&b);
        added++;
    }
    closedir(d);
    return added;
}

/* ---- stream --------------------------------------------------------------- */

struct mx_log_stream {
    const char **paths;
    mx_log_file_stat *files;
    size_t nfiles, cur;
    mx_log_reader *rd;
    mx_log_parser parser;
    mx_log_filter filter;
    mx_log_stats stats;
    int64_t now;
    int naive_utc;
    const volatile sig_atomic_t *stop;
    int stopped;
    mx_log_event pend; /* last event returned, while its line has recipients left */
    int has_pend;
    mx_log_source src; /* mx_log_stream_new_source: the one "file" */
    int src_used;
};

mx_log_stream *mx_log_stream_new(const char *const *paths, size_t n, int64_t now, int naive_utc,
                                 const mx_log_filter *filter) {
    mx_log_stream *s = mx_xcalloc(1, sizeof *s);
    s->paths = mx_xcalloc(n ? n : 1, sizeof *s->paths);
    for (size_t i = 0; i < n; i++) s->paths[i] = mx_xstrdup(paths[i]);
    mx_log_sort_paths(s->paths, n);
    s->files = mx_xcalloc(n ? n : 1, sizeof *s->files);
    for (size_t i = 0; i < n; i++) s->files[i].path = s->paths[i];
    s->nfiles = n;
    mx_log_parser_init(&s->parser, now, naive_utc);
    s->now = now;
    s->naive_utc = naive_utc;
    if (filter) s->filter = *filter;
    else mx_log_filter_init(&s->filter);
    return s;
}

mx_log_stream *mx_log_stream_new_source(const mx_log_source *src, int64_t now, int naive_utc,
                                        const mx_log_filter *filter) {
    mx_log_stream *s = mx_log_stream_new(&src->name, 1, now, naive_utc, filter);
    s->src = *src;
    return s;
}

static void stream_close_cur(mx_log_stream *s, int interrupted) {
    mx_log_file_stat *f = &s->files[s->cur];
    const char *err = mx_log_reader_error(s->rd);
    f->gzip = mx_log_reader_is_gzip(s->rd);
    f->bytes = mx_log_reader_bytes(s->rd);
    uint64_t ll = mx_log_reader_long_lines(s->rd);
    s->stats.lines += ll;
    s->stats.unparsed += ll;
    s->stats.by_reason[MX_LOG_R_TOO_LONG] += ll;
    f->lines += ll;
    if (err) snprintf(f->error, sizeof f->error, "%.*s", (int)sizeof f->error - 1, err);
    f->ok = err == NULL && !interrupted;
    f->interrupted = interrupted;
    mx_log_reader_close(s->rd);
    s->rd = NULL;
    s->cur++;
}

/* Next line over all files in order, with the per-file bookkeeping.
 * 1: line, len, *nul (line may hold a NUL) set; 0: all files done. */
/* The stop was seen: the current file (if open) is interrupted, the rest
 * not read, and the stream is at its end from now on. */
static void stream_stop(mx_log_stream *s) {
    s->stopped = 1;
    if (s->rd) stream_close_cur(s, 1);
    for (; s->cur < s->nfiles; s->cur++) s->files[s->cur].not_read = 1;
}

static inline __attribute__((always_inline)) int stream_next_line(mx_log_stream *s, const char **line, size_t *len, int *nul) {
    while (s->cur < s->nfiles) {
        if (!s->rd) {
            if (s->stop && *s->stop) {
                stream_stop(s);
                return 0;
            }
            mx_log_file_stat *f = &s->files[s->cur];
            if (s->src.read) {
                s->rd = mx_log_reader_source(&s->src);
                mx_log_reader_set_stop(s->rd, s->stop);
                s->src_used = 1;
            } else s->rd = reader_open(f->path, f->error, sizeof f->error, s->stop);
            if (!s->rd) {
                s->cur++;
                continue;
            }
        }
        int rc = mx_log_reader_next(s->rd, line, len);
        if (rc == 1) {
            s->stats.lines++;
            s->files[s->cur].lines++;
            *nul = mx_log_reader_line_may_hold_nul(s->rd);
            return 1;
        }
        if (rc == MX_LOG_STOPPED) {
            stream_stop(s);
            return 0;
        }
        stream_close_cur(s, 0);
    }
    return 0;
}

void mx_log_stream_set_stop(mx_log_stream *s, const volatile sig_atomic_t *stop) {
    s->stop = stop;
    if (s->rd) mx_log_reader_set_stop(s->rd, stop);
}

int mx_log_stream_stopped(const mx_log_stream *s) { return s->stopped; }

/* The next matching recipient of a multi-recipient line (Sendmail
 * "to=a,b"), counted like a line's event; 0 when the line has none left. */
static int next_pending(mx_log_event *pend, int *has_pend, const mx_log_filter *f, mx_log_stats *st,
                        mx_log_event *ev) {
    while (mx_log_event_next_recipient(pend)) {
        if (!mx_log_filter_match(f, pend)) {
            st->filtered++;
            continue;
        }
        st->events++;
        *ev = *pend;
        return 1;
    }
    *has_pend = 0;
    return 0;
}

/* Parses one line; 1 if it is a matching event, else counts it into st.  A
 * line with more recipients leaves a copy in *pend for next_pending. */
static inline __attribute__((always_inline)) int count_line(mx_log_parser *p, const mx_log_filter *f, mx_log_stats *st, const char *line, size_t len,
                      int nul, mx_log_event *ev, mx_log_event *pend, int *has_pend) {
    mx_log_result pr = nul ? mx_log_parse_line(p, line, len, ev) : mx_log_parse_text_line(p, line, len, ev);
    if (pr == MX_LOG_EVENT) {
        if (ev->more_rcpts.n) {
            *pend = *ev;
            *has_pend = 1;
        }
        if (!mx_log_filter_match(f, ev)) {
            st->filtered++;
            return 0;
        }
        st->events++;
        return 1;
    }
    if (pr == MX_LOG_IGNORED) st->ignored++;
    else st->unparsed++;
    st->by_reason[ev->reason]++;
    return 0;
}

int mx_log_stream_next(mx_log_stream *s, mx_log_event *ev) {
    const char *line;
    size_t len;
    int nul;
    for (;;) {
        if (s->has_pend && next_pending(&s->pend, &s->has_pend, &s->filter, &s->stats, ev)) return 1;
        if (!stream_next_line(s, &line, &len, &nul)) return 0;
        if (count_line(&s->parser, &s->filter, &s->stats, line, len, nul, ev, &s->pend, &s->has_pend)) return 1;
    }
}

/* ---- batches ---------------------------------------------------------------- */

struct mx_log_batch {
    char *buf; /* MX_LOG_BATCH_BYTES + one maximal line */
    size_t used;
    batch_line *lines;
    size_t n, next;
    mx_log_event pend; /* as in mx_log_stream */
    int has_pend;
    int borrow;        /* lines not copied (mx_log_batch_new_borrowing) */
};

mx_log_batch *mx_log_batch_new(void) {
    mx_log_batch *b = mx_xcalloc(1, sizeof *b);
    b->buf = mx_xmalloc(MX_LOG_BATCH_BYTES + MX_LOG_MAX_LINE + 1);
    b->lines = mx_xmalloc(MX_LOG_BATCH_LINES * sizeof *b->lines);
    return b;
}

mx_log_batch *mx_log_batch_new_borrowing(void) {
    mx_log_batch *b = mx_xcalloc(1, sizeof *b);
    b->borrow = 1;
    b->lines = mx_xmalloc(MX_LOG_BATCH_LINES * sizeof *b->lines);
    return b;
}

void mx_log_batch_free(mx_log_batch *b) {
    if (!b) return;
    free(b->buf);
    free(b->lines);
    free(b);
}

size_t mx_log_stream_fill(mx_log_stream *s, mx_log_batch *b) {
    b->used = b->n = b->next = 0;
    b->has_pend = 0;
    const char *line;
    size_t len;
    int nul;
    if (b->borrow) {
        /* the first line may read (and move the buffer's tail); the others
         * are whole lines after it in the same buffer */
        if (!stream_next_line(s, &line, &len, &nul)) return 0;
        b->lines[0].p = line;
        b->lines[0].len = (uint32_t)len;
        b->lines[0].nul = nul;
        size_t k = reader_take_buffered(s->rd, b->lines + 1, MX_LOG_BATCH_LINES - 1);
        s->stats.lines += k;
        s->files[s->cur].lines += k;
        b->n = 1 + k;
        return b->n;
    }
    while (b->used < MX_LOG_BATCH_BYTES && b->n < MX_LOG_BATCH_LINES && stream_next_line(s, &line, &len, &nul)) {
        memcpy(b->buf + b->used, line, len);
        b->lines[b->n].p = b->buf + b->used;
        b->lines[b->n].len = (uint32_t)len;
        b->lines[b->n].nul = nul;
        b->n++;
        b->used += len;
    }
    return b->n;
}

int mx_log_batch_next(mx_log_batch *b, mx_log_parser *p, const mx_log_filter *f, mx_log_stats *st,
                      mx_log_event *ev) {
    for (;;) {
        if (b->has_pend && next_pending(&b->pend, &b->has_pend, f, st, ev)) return 1;
        if (b->next >= b->n) return 0;
        const batch_line *l = &b->lines[b->next++];
        if (count_line(p, f, st, l->p, l->len, l->nul, ev, &b->pend, &b->has_pend)) return 1;
    }
}

void mx_log_stream_parser_init(const mx_log_stream *s, mx_log_parser *p, mx_log_filter *f) {
    mx_log_parser_init(p, s->now, s->naive_utc);
    *f = s->filter;
}

void mx_log_stream_add_stats(mx_log_stream *s, const mx_log_stats *st) {
    s->stats.events += st->events;
    s->stats.ignored += st->ignored;
    s->stats.unparsed += st->unparsed;
    s->stats.filtered += st->filtered;
    for (int i = 0; i < MX_LOG_R__COUNT; i++) s->stats.by_reason[i] += st->by_reason[i];
}

const mx_log_stats *mx_log_stream_stats(const mx_log_stream *s) { return &s->stats; }

size_t mx_log_stream_files(const mx_log_stream *s, const mx_log_file_stat **files) {
    *files = s->files;
    return s->nfiles;
}

void mx_log_stream_free(mx_log_stream *s) {
    if (!s) return;
    if (s->rd) mx_log_reader_close(s->rd);
    else if (s->src.close && !s->src_used) s->src.close(s->src.ud); /* never opened: still the stream's */
    for (size_t i = 0; i < s->nfiles; i++) free((void *)s->paths[i]);
    free(s->paths);
    free(s->files);
    free(s);
}
