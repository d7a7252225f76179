/* rss_run FD PROGRAM ARGS...: runs PROGRAM and writes "pid N" then
 * "status S rss KB" (wait4's ru_maxrss of PROGRAM alone) to descriptor FD.
 *
 * The hostile suite needs the peak RSS of mxdiag itself.  Measured from
 * Python, ru_maxrss also holds the interpreter's own size: Linux keeps the
 * high-water mark of the forked (or vforked) interpreter across exec.  This
 * launcher is small, so the child it forks starts small. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: rss_run FD PROGRAM [ARGS...]\n");
        return 2;
    }
    int fd = atoi(argv[1]);
    pid_t pid = fork();
    if (pid < 0) return 2;
    if (pid == 0) {
        close(fd);
        execv(argv[2], argv + 2);
        _exit(127);
    }
    dprintf(fd, "pid %d\n", (int)pid);
    int st = 0;
    struct rusage ru;
    while (wait4(pid, &st, 0, &ru) < 0)
        if (errno != EINTR) return 2;
    dprintf(fd, "status %d rss %ld\n", st, ru.ru_maxrss);
    return 0;
}
