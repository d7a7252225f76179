/* engine/logfollow.c: following a file across appends, partial lines,
 * rotation by rename (the old file drained first, also when gzipped and
 * removed right after), copytruncate, a path that vanishes and comes back,
 * over-long lines, and reopening (SIGHUP). */
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

#include "logfollow.h"

static char dir[64], path[128], old[128];

typedef struct got {
    char text[8192];
    size_t n;
    int lines, cut;
} got;

static void on_line(void *ud, const char *line, size_t len, int flags) {
    got *g = ud;
    g->lines++;
    if (flags & MX_FOLLOW_LINE_CUT) g->cut++;
    size_t take = len < 60 ? len : 60; /* long lines: their start only */
    if (g->n + take + 2 < sizeof g->text) {
        memcpy(g->text + g->n, line, take);
        g->n += take;
        g->text[g->n++] = '|';
        g->text[g->n] = 0;
    }
}

static void append(const char *p, const char *s) {
    int fd = open(p, O_WRONLY | O_APPEND | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
    close(fd);
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/mx-follow-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(path, sizeof path, "%s/mail.log", dir);
    snprintf(old, sizeof old, "%s/mail.log.1", dir);
    return 0;
}
static int teardown(void **state) {
    (void)state;
    unlink(path);
    unlink(old);
    return rmdir(dir);
}

static void from_end_and_partial_lines(void **state) {
    (void)state;
    append(path, "before 1\nbefore 2\n");
    mx_follow f;
    mx_follow_init(&f, path, 1);
    assert_int_equal(f.state, MX_FOLLOW_READING);
    got g = {0};
    mx_follow_poll(&f, on_line, &g);
    assert_int_equal(g.lines, 0); /* started at the end */
    append(path, "one\ntw");
    mx_follow_poll(&f, on_line, &g);
    assert_string_equal(g.text, "one|");
    append(path, "o\n");
    mx_follow_poll(&f, on_line, &g);
    assert_string_equal(g.text, "one|two|");
    mx_follow_free(&f);
}

static void from_start(void **state) {
    (void)state;
    append(path, "a\nb\n");
    mx_follow f;
    mx_follow_init(&f, path, 0);
    got g = {0};
    mx_follow_poll(&f, on_line, &g);
    assert_string_equal(g.text, "a|b|");
    mx_follow_free(&f);
}

static void rename_rotation(void **state) {
    (void)state;
    append(path, "old\n");
    mx_follow f;
    mx_follow_init(&f, path, 1);
    got g = {0};
    /* written after the last poll, then rotated: still read, before the new file */
    append(path, "late 1\nunfinished");
    assert_int_equal(rename(path, old), 0);
    append(path, "new 1\n");
    int ev = mx_follow_poll(&f, on_line, &g);
    assert_true(ev & MX_FOLLOW_EV_ROTATED);
    assert_string_equal(g.text, "late 1|unfinished|new 1|");
    assert_int_equal(f.rotations, 1);
    /* the old file gzipped and removed: nothing more from it, the new one goes on */
    unlink(old);
    append(path, "new 2\n");
    mx_follow_poll(&f, on_line, &g);
    assert_string_equal(g.text, "late 1|unfinished|new 1|new 2|");
    mx_follow_free(&f);
}

static void vanished_then_created(void **state) {
    (void)state;
    append(path, "x\n");
    mx_follow f;
    mx_follow_init(&f, path, 1);
    got g = {0};
    assert_int_equal(rename(path, old), 0);
    append(old, "to old\n"); /* the MTA still writes to its open file */
    int ev = mx_follow_poll(&f, on_line, &g);
    assert_true(ev & MX_FOLLOW_EV_GONE);
    assert_string_equal(g.text, "to old|");
    append(path, "fresh\n");
    ev = mx_follow_poll(&f, on_line, &g);
    assert_true(ev & MX_FOLLOW_EV_ROTATED);
    assert_string_equal(g.text, "to old|fresh|");
    mx_follow_free(&f);
}

static void copytruncate(void **state) {
    (void)state;
    append(path, "first line, long enough\n");
    mx_follow f;
    mx_follow_init(&f, path, 0);
    got g = {0};
    mx_follow_poll(&f, on_line, &g);
    assert_int_equal(truncate(path, 0), 0);
    append(path, "after\n");
    int ev = mx_follow_poll(&f, on_line, &g);
    assert_true(ev & MX_FOLLOW_EV_TRUNCATED);
    assert_string_equal(g.text, "first line, long enough|after|");
    assert_int_equal(f.truncations, 1);
    mx_follow_free(&f);
}

/* truncated and written past the old offset before the next poll: the
 * last bytes read are gone, so it is a truncation all the same */
static void copytruncate_regrown(void **state) {
    (void)state;
    append(path, "short\n");
    mx_follow f;
    mx_follow_init(&f, path, 1);
    got g = {0};
    assert_int_equal(truncate(path, 0), 0);
    append(path, "a longer line written after the truncation\n");
    int ev = mx_follow_poll(&f, on_line, &g);
    assert_true(ev & MX_FOLLOW_EV_TRUNCATED);
    assert_string_equal(g.text, "a longer line written after the truncation|");
    mx_follow_free(&f);
}

static void waiting_for_the_file(void **state) {
    (void)state;
    mx_follow f;
    mx_follow_init(&f, path, 1);
    assert_int_equal(f.state, MX_FOLLOW_WAITING);
    got g = {0};
    assert_int_equal(mx_follow_poll(&f, on_line, &g), 0);
    append(path, "born\n");
    assert_true(mx_follow_poll(&f, on_line, &g) & MX_FOLLOW_EV_OPENED);
    assert_string_equal(g.text, "born|"); /* a file that appears later is read from its start */
    mx_follow_free(&f);
}

static void long_line_is_cut(void **state) {
    (void)state;
    mx_follow f;
    mx_follow_init(&f, path, 0);
    size_t n = MX_FOLLOW_LINE_MAX + 1000;
    char *big = malloc(n + 1);
    memset(big, 'z', n);
    big[n] = 0;
    append(path, big);
    got g = {0};
    mx_follow_poll(&f, on_line, &g);
    assert_int_equal(g.lines, 0); /* no newline yet */
    assert_true(f.part_len <= MX_FOLLOW_LINE_MAX);
    append(path, "\nok\n");
    mx_follow_poll(&f, on_line, &g);
    assert_int_equal(g.lines, 2);
    assert_int_equal(g.cut, 1);
    assert_non_null(strstr(g.text, "|ok|"));
    free(big);
    mx_follow_free(&f);
}

static void reopen_keeps_offset(void **state) {
    (void)state;
    append(path, "a\n");
    mx_follow f;
    mx_follow_init(&f, path, 0);
    got g = {0};
    mx_follow_poll(&f, on_line, &g);
    mx_follow_reopen(&f);
    append(path, "b\n");
    mx_follow_poll(&f, on_line, &g);
    assert_string_equal(g.text, "a|b|"); /* nothing read twice */
    mx_follow_free(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(from_end_and_partial_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(from_start, setup, teardown),
        cmocka_unit_test_setup_teardown(rename_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(vanished_then_created, setup, teardown),
        cmocka_unit_test_setup_teardown(copytruncate, setup, teardown),
        cmocka_unit_test_setup_teardown(copytruncate_regrown, setup, teardown),
        cmocka_unit_test_setup_teardown(waiting_for_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(long_line_is_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(reopen_keeps_offset, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
