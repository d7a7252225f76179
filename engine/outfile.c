/* Output files that do not follow planted links: see outfile.h. */
#include "outfile.h"
#include "buf.h"
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* 0 when path may be replaced: missing or a regular file; *mode gets the
 * permission bits to keep (or 0666 less the umask for a new file). */
static int check_target(const char *path, mode_t *mode, char *err, size_t errlen) {
    struct stat st;
    mode_t um = umask(022);
    umask(um);
    *mode = 0666 & ~um;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) return 0;
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISLNK(st.st_mode)) {
        snprintf(err, errlen, "refusing to write %s: it is a symbolic link (remove it or write elsewhere)", path);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "refusing to write %s: it exists and is not a regular file", path);
        return -1;
    }
    *mode = st.st_mode & 07777;
    return 0;
}

/* "DIR/.BASE.XXXXXX" next to path: rename stays within one file system. */
static char *tmp_template(const char *path) {
    char *d = mx_xstrdup(path), *b = mx_xstrdup(path);
    mx_buf t = MX_BUF_INIT;
    mx_buf_printf(&t, "%s/.%s.XXXXXX", dirname(d), basename(b));
    free(d);
    free(b);
    return mx_buf_steal(&t);
}

int mx_file_open_tmp(const char *path, char **tmp_path, char *err, size_t errlen) {
    mode_t mode;
    *tmp_path = NULL;
    if (check_target(path, &mode, err, errlen) != 0) return -1;
    char *tmp = tmp_template(path);
    int fd = mkostemp(tmp, O_CLOEXEC); /* O_CREAT|O_EXCL: never an existing file or link */
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a temporary file for %s: %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    if (fchmod(fd, mode) != 0) { /* mkstemp makes 0600; a textfile collector must read it */
        snprintf(err, errlen, "cannot set the mode of %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        free(tmp);
        return -1;
    }
    *tmp_path = tmp;
    return fd;
}

int mx_file_commit(const char *tmp_path, const char *path, char *err, size_t errlen) {
    mode_t mode;
    /* a link planted while we wrote would only be replaced, not followed, by
     * rename; it is refused all the same so the outcome does not depend on timing */
    if (check_target(path, &mode, err, errlen) != 0) { unlink(tmp_path); return -1; }
    if (rename(tmp_path, path) != 0) {
        snprintf(err, errlen, "cannot rename %s to %s: %s", tmp_path, path, strerror(errno));
        unlink(tmp_path);
        return -1;
    }
    return 0;
}

void mx_file_discard(const char *tmp_path) {
    if (tmp_path) unlink(tmp_path);
}

int mx_file_write_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen) {
    char *tmp;
    int fd = mx_file_open_tmp(path, &tmp, err, errlen);
    if (fd < 0) return -1;
    const char *p = data;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, p + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;
        off += (size_t)n;
    }
    int ok = off == len, saved = errno;
    if (ok && fsync(fd) != 0) { ok = 0; saved = errno; }
    if (close(fd) != 0 && ok) { ok = 0; saved = errno; }
    if (!ok) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(saved));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    int rc = mx_file_commit(tmp, path, err, errlen);
    free(tmp);
    return rc;
}

int mx_file_open_out(const char *path, int append, char *err, size_t errlen) {
    int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (append ? O_APPEND : 0), 0666);
    if (fd < 0) {
        if (errno == ELOOP)
            snprintf(err, errlen, "refusing to write %s: it is a symbolic link (remove it or write elsewhere)", path);
        else
            snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode)) {
        snprintf(err, errlen, "refusing to write %s: not a file", path);
        close(fd);
        return -1;
    }
    /* truncated only once we know it is the regular file we opened, never a link's target */
    if (S_ISREG(st.st_mode) && !append && ftruncate(fd, 0) != 0) {
        snprintf(err, errlen, "cannot truncate %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int mx_file_read_all(const char *path, size_t max, mx_buf *out, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno)); return -1; }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (unsigned long long)st.st_size > max) {
        snprintf(err, errlen, "%s is larger than %zu MiB", path, max >> 20);
        fclose(f);
        return -1;
    }
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (out->len + n > max) {
            snprintf(err, errlen, "%s is larger than %zu MiB", path, max >> 20);
            fclose(f);
            return -1;
        }
        mx_buf_put(out, chunk, n);
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { snprintf(err, errlen, "cannot read %s", path); return -1; }
    return 0;
}
