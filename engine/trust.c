/* Ownership and mode checks on what a root run loads as code or settings
 * (see trust.h for the policy). */
#include "trust.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int forced = -1;

void mx_trust_force(int strict) { forced = strict; }

int mx_trust_strict(void) { return forced >= 0 ? forced : geteuid() == 0; }

/* The owner of the running binary: whoever can replace it already decides
 * what runs, so trusting their files adds nothing (a build tree run with
 * sudo). (uid_t)-1 when unknown. */
static uid_t exe_uid = (uid_t)-1;
static pthread_once_t exe_once = PTHREAD_ONCE_INIT;
static void exe_owner_once(void) {
    struct stat st;
    if (stat("/proc/self/exe", &st) == 0) exe_uid = st.st_uid;
}
static uid_t exe_owner(void) {
    pthread_once(&exe_once, exe_owner_once); /* rules load in batch's worker threads */
    return exe_uid;
}

static int owner_ok(uid_t u) { return u == 0 || u == exe_owner(); }

static const char *user_name(uid_t u, char *buf, size_t n) {
    struct passwd pwd, *pw = NULL;
    char pwbuf[1024];
    if (getpwuid_r(u, &pwd, pwbuf, sizeof pwbuf, &pw) == 0 && pw && pw->pw_name) snprintf(buf, n, "%s", pw->pw_name);
    else snprintf(buf, n, "uid %u", (unsigned)u);
    return buf;
}

/* 0 when st (of path) may hold code for a root run, else -1 with err.
 * kind: 0 the file, 1 a directory whose every file is loaded, 2 a directory
 * on the way to the file or directory loaded. */
static int check_stat(const struct stat *st, const char *path, int kind, char *err, size_t errlen) {
    char who[64];
    if (!owner_ok(st->st_uid)) {
        snprintf(err, errlen, "%s is owned by %s, not root: a root run loads code and settings only from files and "
                 "directories owned by root", path, user_name(st->st_uid, who, sizeof who));
        errno = EPERM;
        return -1;
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        /* others cannot rename or remove a root-owned entry of a sticky directory */
        if (kind == 2 && (st->st_mode & S_ISVTX)) return 0;
        snprintf(err, errlen, "%s is writable by %s (mode %04o): a root run loads code and settings only from files "
                 "and directories that only root can write", path,
                 (st->st_mode & S_IWOTH) ? "everyone" : "its group", (unsigned)(st->st_mode & 07777));
        errno = EPERM;
        return -1;
    }
    return 0;
}

int mx_trust_open_dir(const char *path, int listing, char *err, size_t errlen) {
    if (!mx_trust_strict()) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            snprintf(err, errlen, "cannot read directory %s: %s", path, strerror(e));
            errno = e;
        }
        return fd;
    }
    /* links on the way are resolved first; the walk below then opens the
     * resolved path with O_NOFOLLOW, so what is checked is what is opened */
    char *real = realpath(path, NULL);
    if (!real) {
        int e = errno;
        snprintf(err, errlen, "cannot read directory %s: %s", path, strerror(e));
        errno = e;
        return -1;
    }
    int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    char shown[PATH_MAX + 2] = "/";
    size_t shown_len = 1;
    const char *p = real;
    int rc = 0;
    if (fd < 0 || fstat(fd, &st) != 0) rc = -1, snprintf(err, errlen, "cannot open /: %s", strerror(errno));
    while (rc == 0) {
        while (*p == '/') p++;
        const char *end = strchr(p, '/');
        size_t l = end ? (size_t)(end - p) : strlen(p);
        /* the directory reached so far: the one asked for when nothing
         * follows, and then a sticky one will not do if every file in it
         * is loaded (anyone could add one) */
        if (check_stat(&st, shown, l == 0 && listing ? 1 : 2, err, errlen) != 0) { rc = -1; break; }
        if (l == 0) break;
        char comp[NAME_MAX + 1];
        if (l > NAME_MAX) { snprintf(err, errlen, "%s: name too long", path); errno = ENAMETOOLONG; rc = -1; break; }
        memcpy(comp, p, l);
        comp[l] = 0;
        int nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (nfd < 0) {
            int e = errno;
            snprintf(err, errlen, "cannot read directory %s: %s%s", path, strerror(e),
                     e == ELOOP ? " (a link changed while it was opened)" : "");
            errno = e;
            rc = -1;
            break;
        }
        close(fd);
        fd = nfd;
        if (shown_len > 1) shown[shown_len++] = '/';
        memcpy(shown + shown_len, comp, l + 1);
        shown_len += l;
        if (fstat(fd, &st) != 0) { snprintf(err, errlen, "%s: %s", shown, strerror(errno)); rc = -1; break; }
        p += l;
    }
    free(real);
    if (rc != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int mx_trust_read_at(int dirfd, const char *dirpath, const char *name, size_t max, mx_buf *out, char *err,
                     size_t errlen) {
    int strict = mx_trust_strict();
    char path[PATH_MAX + NAME_MAX + 2];
    snprintf(path, sizeof path, "%s%s%s", dirpath, dirpath[0] && dirpath[strlen(dirpath) - 1] == '/' ? "" : "/", name);
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (strict ? O_NOFOLLOW : 0));
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        if (e == ELOOP && strict)
            snprintf(err, errlen, "%s is a symbolic link: a root run does not follow links to code or settings "
                     "(put the file itself there)", path);
        else snprintf(err, errlen, "cannot read %s: %s", path, strerror(e));
        errno = e == ELOOP ? EPERM : e;
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(err, errlen, "%s is not a regular file", path);
        errno = EINVAL;
        return -1;
    }
    if (strict && check_stat(&st, path, 0, err, errlen) != 0) { close(fd); errno = EPERM; return -1; }
    char chunk[16384];
    ssize_t n;
    size_t got = 0;
    while ((n = read(fd, chunk, sizeof chunk)) != 0) {
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(e));
            errno = e;
            return -1;
        }
        if ((size_t)n > max - got) {
            close(fd);
            snprintf(err, errlen, "%s is larger than %zu KiB", path, max >> 10);
            errno = EFBIG;
            return -1;
        }
        mx_buf_put(out, chunk, (size_t)n);
        got += (size_t)n;
    }
    close(fd);
    return 0;
}

int mx_trust_read_file(const char *path, size_t max, mx_buf *out, char *err, size_t errlen) {
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    const char *name = path;
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (slash) name = slash + 1;
    if (!*name) { snprintf(err, errlen, "%s: not a file name", path); errno = EINVAL; return -1; }
    int dfd = mx_trust_open_dir(dir, 0, err, errlen);
    if (dfd < 0) {
        /* a missing directory means a missing file to the caller */
        if (errno == ENOENT || errno == ENOTDIR) snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = mx_trust_read_at(dfd, slash ? dir : ".", name, max, out, err, errlen);
    int e = errno;
    close(dfd);
    errno = e;
    return rc;
}
