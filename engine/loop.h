/* The event loop: epoll for descriptors, a binary heap of timers, and a queue
 * of deferred calls that run at the top of the next iteration (completions
 * use it so that nothing is resumed inline from inside an I/O callback). */
#ifndef MX_LOOP_H
#define MX_LOOP_H
#include <stdint.h>

typedef struct mx_loop mx_loop;
typedef struct mx_timer mx_timer;

#define MX_EV_READ  1
#define MX_EV_WRITE 2
#define MX_EV_ERROR 4

typedef void (*mx_fd_cb)(mx_loop *loop, int fd, int events, void *ud);
typedef void (*mx_timer_cb)(mx_loop *loop, void *ud);
typedef void (*mx_defer_cb)(mx_loop *loop, void *ud);

mx_loop *mx_loop_new(void);
void mx_loop_free(mx_loop *loop);

/* Monotonic milliseconds. */
int64_t mx_now_ms(void);

/* Watch fd for events (MX_EV_READ|MX_EV_WRITE); 0 removes the watch.
 * Returns 0 or -errno. */
int mx_loop_watch(mx_loop *loop, int fd, int events, mx_fd_cb cb, void *ud);
void mx_loop_unwatch(mx_loop *loop, int fd);

/* One-shot timer after ms milliseconds. The handle is valid until it fires or
 * is cancelled; cancelling inside its own callback is not allowed. */
mx_timer *mx_loop_timer(mx_loop *loop, int64_t ms, mx_timer_cb cb, void *ud);
void mx_timer_cancel(mx_loop *loop, mx_timer *t);

void mx_loop_defer(mx_loop *loop, mx_defer_cb cb, void *ud);

/* Runs deferred calls, then waits at most max_wait_ms (or until the next timer)
 * for I/O, then fires due timers. Returns the number of things done. */
int mx_loop_run_once(mx_loop *loop, int64_t max_wait_ms);
/* Nonzero while there is any timer, watch or deferred call. */
int mx_loop_busy(const mx_loop *loop);

#endif
