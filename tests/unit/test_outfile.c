/* Output files (outfile.h): a planted symbolic link is refused and its
 * target left alone; whole files replace atomically; streamed files are
 * truncated or appended without following a link. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "outfile.h"

static char dir[64];
static char path_a[128], path_victim[128], path_link[128];

static int setup(void **st) {
    (void)st;
    snprintf(dir, sizeof dir, "/tmp/mxdiag-outfile-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(path_a, sizeof path_a, "%s/out.json", dir);
    snprintf(path_victim, sizeof path_victim, "%s/victim", dir);
    snprintf(path_link, sizeof path_link, "%s/link", dir);
    return 0;
}

static int teardown(void **st) {
    (void)st;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void put(const char *p, const char *s) {
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(s, f);
    fclose(f);
}

static char *get(const char *p) {
    static char buf[256];
    FILE *f = fopen(p, "r");
    if (!f) return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

/* Files in dir other than the ones the test made: no temporary is left. */
static int stray_files(void) {
    char cmd[160];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | grep -v -e '^out.json$' -e '^victim$' -e '^link$' -e '^fifo$' | grep -q .", dir);
    return system(cmd) == 0;
}

static void atomic_write_and_replace(void **st) {
    (void)st;
    char err[256];
    unlink(path_a);
    assert_int_equal(mx_file_write_atomic(path_a, "one\n", 4, err, sizeof err), 0);
    assert_string_equal(get(path_a), "one\n");
    struct stat s;
    assert_int_equal(stat(path_a, &s), 0);
    mode_t um = umask(0);
    umask(um);
    assert_int_equal(s.st_mode & 0777, 0666 & ~um); /* not mkstemp's 0600 */
    /* a replaced file keeps its permission bits */
    chmod(path_a, 0640);
    assert_int_equal(mx_file_write_atomic(path_a, "two\n", 4, err, sizeof err), 0);
    assert_string_equal(get(path_a), "two\n");
    assert_int_equal(stat(path_a, &s), 0);
    assert_int_equal(s.st_mode & 0777, 0640);
    assert_false(stray_files());
}

static void atomic_refuses_symlink(void **st) {
    (void)st;
    char err[256];
    put(path_victim, "precious\n");
    unlink(path_link);
    assert_int_equal(symlink(path_victim, path_link), 0);
    assert_int_equal(mx_file_write_atomic(path_link, "evil\n", 5, err, sizeof err), -1);
    assert_non_null(strstr(err, "symbolic link"));
    assert_string_equal(get(path_victim), "precious\n");
    struct stat s;
    assert_int_equal(lstat(path_link, &s), 0);
    assert_true(S_ISLNK(s.st_mode)); /* the link is left as it was, too */
    /* a dangling link: refused as well, nothing created where it points */
    unlink(path_link);
    char nowhere[160];
    snprintf(nowhere, sizeof nowhere, "%s/created-through-link", dir);
    assert_int_equal(symlink(nowhere, path_link), 0);
    assert_int_equal(mx_file_write_atomic(path_link, "evil\n", 5, err, sizeof err), -1);
    assert_int_equal(access(nowhere, F_OK), -1);
    unlink(path_link);
    assert_false(stray_files());
}

static void atomic_refuses_non_regular(void **st) {
    (void)st;
    char err[256];
    char sub[160];
    snprintf(sub, sizeof sub, "%s/adir", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(mx_file_write_atomic(sub, "x", 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file"));
    rmdir(sub);
    /* a directory that does not exist: a clear error, no crash */
    snprintf(sub, sizeof sub, "%s/missing/out.json", dir);
    assert_int_equal(mx_file_write_atomic(sub, "x", 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "missing"));
}

static void stream_truncates_and_appends(void **st) {
    (void)st;
    char err[256];
    put(path_a, "old content\n");
    int fd = mx_file_open_out(path_a, 0, err, sizeof err);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "new\n", 4), 4);
    close(fd);
    assert_string_equal(get(path_a), "new\n");
    fd = mx_file_open_out(path_a, 1, err, sizeof err);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "more\n", 5), 5);
    close(fd);
    assert_string_equal(get(path_a), "new\nmore\n");
    /* devices are fine (-o /dev/null) and are not truncated */
    fd = mx_file_open_out("/dev/null", 0, err, sizeof err);
    assert_true(fd >= 0);
    close(fd);
}

static void stream_refuses_symlink(void **st) {
    (void)st;
    char err[256];
    put(path_victim, "precious\n");
    unlink(path_link);
    assert_int_equal(symlink(path_victim, path_link), 0);
    for (int append = 0; append < 2; append++) {
        assert_int_equal(mx_file_open_out(path_link, append, err, sizeof err), -1);
        assert_non_null(strstr(err, "symbolic link"));
        assert_string_equal(get(path_victim), "precious\n");
    }
    unlink(path_link);
}

static void tmp_commit_and_discard(void **st) {
    (void)st;
    char err[256], *tmp = NULL;
    unlink(path_a);
    int fd = mx_file_open_tmp(path_a, &tmp, err, sizeof err);
    assert_true(fd >= 0);
    assert_non_null(tmp);
    assert_int_equal(write(fd, "metrics\n", 8), 8);
    close(fd);
    assert_int_equal(access(path_a, F_OK), -1); /* not there until complete */
    assert_int_equal(mx_file_commit(tmp, path_a, err, sizeof err), 0);
    assert_string_equal(get(path_a), "metrics\n");
    free(tmp);
    /* a link planted while the temporary was written: refused at commit */
    fd = mx_file_open_tmp(path_a, &tmp, err, sizeof err);
    assert_true(fd >= 0);
    close(fd);
    put(path_victim, "precious\n");
    unlink(path_a);
    assert_int_equal(symlink(path_victim, path_a), 0);
    assert_int_equal(mx_file_commit(tmp, path_a, err, sizeof err), -1);
    assert_non_null(strstr(err, "symbolic link"));
    assert_string_equal(get(path_victim), "precious\n");
    assert_int_equal(access(tmp, F_OK), -1); /* the temporary is removed */
    free(tmp);
    unlink(path_a);
    /* discard */
    fd = mx_file_open_tmp(path_a, &tmp, err, sizeof err);
    assert_true(fd >= 0);
    close(fd);
    mx_file_discard(tmp);
    assert_int_equal(access(tmp, F_OK), -1);
    free(tmp);
    assert_false(stray_files());
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(atomic_write_and_replace),
        cmocka_unit_test(atomic_refuses_symlink),
        cmocka_unit_test(atomic_refuses_non_regular),
        cmocka_unit_test(stream_truncates_and_appends),
        cmocka_unit_test(stream_refuses_symlink),
        cmocka_unit_test(tmp_commit_and_discard),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
