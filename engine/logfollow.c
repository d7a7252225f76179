/* See logfollow.h. */
#include "logfollow.h"
#include "buf.h" /* mx_xmalloc */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *mx_follow_state_name(mx_follow_state s) { return s == MX_FOLLOW_READING ? "reading" : "waiting"; }

static int open_path(mx_follow *f) {
    int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return -1;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || S_ISDIR(sb.st_mode)) {
        close(fd);
        return -1;
    }
    f->fd = fd;
    f->dev = sb.st_dev;
    f->ino = sb.st_ino;
    f->offset = 0;
    f->tail_len = 0;
    f->gone = 0;
    f->state = MX_FOLLOW_READING;
    return 0;
}

/* Keeps the last bytes consumed (f->tail) */
static void remember_tail(mx_follow *f, const char *p, size_t n) {
    if (n >= sizeof f->tail) {
        memcpy(f->tail, p + n - sizeof f->tail, sizeof f->tail);
        f->tail_len = sizeof f->tail;
        return;
    }
    size_t old = sizeof f->tail - n;
    if (old > f->tail_len) old = f->tail_len;
    memmove(f->tail, f->tail + f->tail_len - old, old);
    memcpy(f->tail + old, p, n);
    f->tail_len = old + n;
}

void mx_follow_init(mx_follow *f, const char *path, int from_end) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
    size_t n = strlen(path);
    f->path = mx_xmalloc(n + 1);
    memcpy(f->path, path, n + 1);
    if (open_path(f) == 0 && from_end) {
        off_t end = lseek(f->fd, 0, SEEK_END);
        if (end > 0) {
            f->offset = (uint64_t)end;
            char last[sizeof f->tail];
            size_t want = (uint64_t)end < sizeof last ? (size_t)end : sizeof last;
            ssize_t r = pread(f->fd, last, want, end - (off_t)want);
            if (r == (ssize_t)want) remember_tail(f, last, want);
        }
    }
}

static void emit_part(mx_follow *f, mx_follow_line_fn fn, void *ud) {
    fn(ud, f->part ? f->part : "", f->part_len, f->part_too_long ? MX_FOLLOW_LINE_CUT : 0);
    f->lines++;
    f->part_len = 0;
    f->part_too_long = 0;
}

/* Keeps bytes of the unfinished line, up to the limit; beyond it the line is
 * cut (the rest dropped until its newline). */
static void part_add(mx_follow *f, const char *p, size_t n) {
    if (f->part_len + n > MX_FOLLOW_LINE_MAX) {
        n = MX_FOLLOW_LINE_MAX - f->part_len;
        f->part_too_long = 1;
    }
    if (!n) return;
    if (f->part_len + n > f->part_cap) {
        size_t cap = f->part_cap ? f->part_cap : 256;
        while (cap < f->part_len + n) cap *= 2;
        f->part = realloc(f->part, cap);
        if (!f->part) abort();
        f->part_cap = cap;
    }
    memcpy(f->part + f->part_len, p, n);
    f->part_len += n;
}

static void feed(mx_follow *f, const char *p, size_t n, mx_follow_line_fn fn, void *ud) {
    while (n) {
        const char *nl = memchr(p, '\n', n);
        if (!nl) {
            part_add(f, p, n);
            return;
        }
        size_t len = (size_t)(nl - p);
        if (f->part_len || f->part_too_long) {
            part_add(f, p, len);
            emit_part(f, fn, ud);
        } else if (len > MX_FOLLOW_LINE_MAX) {
            fn(ud, p, MX_FOLLOW_LINE_MAX, MX_FOLLOW_LINE_CUT);
            f->lines++;
        } else {
            fn(ud, p, len, 0);
            f->lines++;
        }
        p = nl + 1;
        n -= len + 1;
    }
}

/* Reads to EOF (or the budget); returns 1 at EOF, 0 when the budget ran out
 * or the read failed. */
static int drain(mx_follow *f, size_t *budget, mx_follow_line_fn fn, void *ud) {
    char buf[65536];
    while (*budget) {
        size_t want = *budget < sizeof buf ? *budget : sizeof buf;
        ssize_t r = pread(f->fd, buf, want, (off_t)f->offset);
        if (r < 0) {
            if (errno == EINTR) continue;
            return 0;
        }
        if (r == 0) return 1;
        f->offset += (uint64_t)r;
        *budget -= (size_t)r;
        remember_tail(f, buf, (size_t)r);
        feed(f, buf, (size_t)r, fn, ud);
    }
    return 0;
}

/* Are the last bytes read still where they were? */
static int tail_intact(mx_follow *f) {
    if (!f->tail_len || f->offset < f->tail_len) return 1;
    unsigned char now[sizeof f->tail];
    ssize_t r = pread(f->fd, now, f->tail_len, (off_t)(f->offset - f->tail_len));
    if (r < 0) return 1; /* unreadable: the size check decides */
    return (size_t)r == f->tail_len && memcmp(now, f->tail, f->tail_len) == 0;
}

static void restart_at_zero(mx_follow *f) {
    f->offset = 0;
    f->tail_len = 0;
    f->part_len = 0;
    f->part_too_long = 0;
    f->truncations++;
}

static void close_fd(mx_follow *f) {
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    f->state = MX_FOLLOW_WAITING;
}

int mx_follow_poll(mx_follow *f, mx_follow_line_fn fn, void *ud) {
    int ev = 0;
    size_t budget = MX_FOLLOW_POLL_MAX;
    /* a few turns at most: open, truncation, rotation each restart the read */
    for (int turn = 0; turn < 4; turn++) {
        if (f->state == MX_FOLLOW_WAITING) {
            if (open_path(f) != 0) return ev;
            ev |= MX_FOLLOW_EV_OPENED;
        }
        if (!tail_intact(f)) {
            /* copytruncate, and written again past the offset since */
            restart_at_zero(f);
            ev |= MX_FOLLOW_EV_TRUNCATED;
        }
        if (!drain(f, &budget, fn, ud)) return ev; /* more next time */
        struct stat sb;
        if (fstat(f->fd, &sb) == 0 && (uint64_t)sb.st_size < f->offset) {
            /* copytruncate: the file was copied away and emptied in place */
            restart_at_zero(f);
            ev |= MX_FOLLOW_EV_TRUNCATED;
            continue;
        }
        struct stat ps;
        if (stat(f->path, &ps) != 0) {
            if (!f->gone) ev |= MX_FOLLOW_EV_GONE;
            f->gone = 1; /* keep reading the old file until one appears */
            return ev;
        }
        if (ps.st_ino == f->ino && ps.st_dev == f->dev) {
            f->gone = 0;
            return ev;
        }
        /* renamed away and a new file at the path: what was written to the
         * old one between the read above and now is read first */
        if (!drain(f, &budget, fn, ud)) return ev;
        if (f->part_len || f->part_too_long) emit_part(f, fn, ud);
        close_fd(f);
        f->rotations++;
        ev |= MX_FOLLOW_EV_ROTATED;
    }
    return ev;
}

void mx_follow_reopen(mx_follow *f) {
    dev_t dev = f->dev;
    ino_t ino = f->ino;
    uint64_t off = f->offset;
    unsigned char tail[sizeof f->tail];
    size_t tail_len = f->tail_len;
    memcpy(tail, f->tail, tail_len);
    int was_open = f->fd >= 0;
    close_fd(f);
    if (open_path(f) != 0) return;
    if (was_open && f->dev == dev && f->ino == ino) {
        f->offset = off;
        memcpy(f->tail, tail, tail_len);
        f->tail_len = tail_len;
    }
    else f->part_len = 0, f->part_too_long = 0;
}

void mx_follow_free(mx_follow *f) {
    close_fd(f);
    free(f->path);
    free(f->part);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}
