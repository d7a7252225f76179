/* batch -P N: what one worker's runtime shares with the others of the
 * process. Each worker is a thread with its own loop, DNS channel and Lua
 * state; between them only C objects pass: the once-store behind
 * shared.once (engine/shstore.c, values encoded by rt_share.c) and the
 * connection slots (engine/slots.c, used by l_net.c).
 *
 * Another thread never touches this runtime: it only appends to the inbox
 * (a mutex-protected list) and writes the eventfd. The runtime's own loop
 * reads the eventfd and does the work: signals the event a task.share waiter
 * sleeps on, or starts the connect a slot was granted to. */
#include "rt_private.h"
#include "shstore.h"
#include "slots.h"
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define SOCKET_MT "mxdiag.socket" /* l_net.c's */

enum { WAKE_SHARE = 1, WAKE_SLOT };

typedef struct wake_item {
    int kind;
    uint64_t ticket;
} wake_item;

struct rt_worker {
    mx_rt *rt;
    mx_shstore *store;
    mx_slots *slots;
    int id;
    int efd;
    pthread_mutex_t mu;      /* guards items */
    wake_item *items;
    size_t n, cap;
};

static void inbox_push(rt_worker *w, int kind, uint64_t ticket) {
    pthread_mutex_lock(&w->mu);
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 64;
        w->items = mx_xrealloc(w->items, w->cap * sizeof *w->items);
    }
    w->items[w->n++] = (wake_item){kind, ticket};
    pthread_mutex_unlock(&w->mu);
    uint64_t one = 1;
    while (write(w->efd, &one, sizeof one) < 0 && errno == EINTR) {}
}

/* called from other threads (shstore.h, slots.h): only the inbox */
static void wake_share(void *ctx, uint64_t ticket) { inbox_push(ctx, WAKE_SHARE, ticket); }
static void wake_slot(void *ctx, uint64_t ticket) { inbox_push(ctx, WAKE_SLOT, ticket); }

/* this runtime's loop: the inbox's work, in this thread */
static void on_inbox(mx_loop *loop, int fd, int events, void *ud) {
    (void)loop; (void)events;
    rt_worker *w = ud;
    uint64_t v;
    while (read(fd, &v, sizeof v) < 0 && errno == EINTR) {}
    pthread_mutex_lock(&w->mu);
    wake_item *items = w->items;
    size_t n = w->n;
    w->items = NULL;
    w->n = w->cap = 0;
    pthread_mutex_unlock(&w->mu);
    for (size_t i = 0; i < n; i++) {
        if (items[i].kind == WAKE_SHARE) rt_event_signal(w->rt, (int)items[i].ticket);
        else mx_net_conns_granted(w->rt->net_conns, items[i].ticket);
    }
    free(items);
}

int mx_rt_set_worker(mx_rt *rt, mx_shstore *store, mx_slots *slots, int id, char *err, size_t errlen) {
    rt_worker *w = mx_xcalloc(1, sizeof *w);
    w->rt = rt;
    w->store = store;
    w->slots = slots;
    w->id = id;
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->efd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        free(w);
        return -1;
    }
    pthread_mutex_init(&w->mu, NULL);
    mx_loop_watch(rt->loop, w->efd, MX_EV_READ, on_inbox, w);
    rt->worker = w;
    mx_net_conns_share(rt->net_conns, slots, wake_slot, w);
    return 0;
}

mx_shstore *mx_rt_share_store(mx_rt *rt) { return rt->worker ? rt->worker->store : NULL; }

void rt_worker_free(mx_rt *rt) {
    rt_worker *w = rt->worker;
    if (!w) return;
    mx_loop_unwatch(rt->loop, w->efd);
    close(w->efd);
    pthread_mutex_destroy(&w->mu);
    free(w->items);
    free(w);
    rt->worker = NULL;
}

/* ---- task.share: shared.once across workers (used by lib/shared.lua) ---- */

/* A socket does not cross: it stays with the worker whose probe opened it
 * (that worker's checks carry their dialogue on it, as with one worker);
 * the others read the probe's result without it. */
static int sock_enc(lua_State *L, int idx, mx_buf *out, void *ud) {
    (void)out; (void)ud;
    return luaL_testudata(L, idx, SOCKET_MT) ? 0 : -1;
}
static int sock_dec(lua_State *L, const char *p, size_t n, void *ud) {
    (void)p; (void)ud;
    if (n) return -1;
    lua_pushnil(L);
    return 0;
}

/* task.share(key) -> nil (one worker: shared.once keeps its work in Lua) |
 * "run" (this worker works it out: task.share_publish next) | "done", ok,
 * value | "wait", event (task.wait(event), then ask again) [-1, +(1|2|3), e] */
static int l_share(lua_State *L) {
    mx_rt *rt = mx_rt_from_L(L);
    const char *key = luaL_checkstring(L, 1);
    rt_worker *w = rt->worker;
    if (!w || !w->store) return 0;
    if (!rt->current) return luaL_error(L, "task.share: only possible while a rule runs");
    int ev = rt->nevents + 1; /* the event made below if it waits (same thread: nobody else makes one) */
    mx_shstore_waiter wt = {wake_share, w, (uint64_t)ev};
    int ok = 0;
    char *val = NULL;
    size_t len = 0;
    int r = mx_shstore_claim(w->store, key, w->id, &wt, &ok, &val, &len);
    if (r == MX_SHSTORE_RUN) {
        /* this task owes the other workers the key: given up if it ends first */
        mx_task *t = rt->current;
        if (t->nkeys == t->keys_cap) {
            t->keys_cap = t->keys_cap ? t->keys_cap * 2 : 2;
            t->keys = mx_xrealloc(t->keys, (size_t)t->keys_cap * sizeof *t->keys);
        }
        t->keys[t->nkeys++] = mx_xstrdup(key);
        lua_pushliteral(L, "run");
        return 1;
    }
    if (r == MX_SHSTORE_DONE) {
        lua_pushliteral(L, "done");
        lua_pushboolean(L, ok);
        int dr = mx_share_decode(L, val, len, sock_dec, NULL);
        free(val);
        if (dr != 0) return luaL_error(L, "task.share: the value of '%s' cannot be read back", key);
        return 3;
    }
    lua_pushliteral(L, "wait");
    mx_task_event_new(L);
    if (lua_tointeger(L, -1) != ev) return luaL_error(L, "task.share: event numbering out of step");
    return 2;
}

/* task.share_publish(key, ok, value): the result this worker worked out,
 * for every worker; a value that cannot cross (a function) is published as
 * the failure it is, so nobody waits for it. -> true | false, message
 * [-3, +(1|2), e] */
static int l_share_publish(lua_State *L) {
    mx_rt *rt = mx_rt_from_L(L);
    const char *key = luaL_checkstring(L, 1);
    int ok = lua_toboolean(L, 2);
    rt_worker *w = rt->worker;
    if (!w || !w->store) return luaL_error(L, "task.share_publish: the run has one worker");
    mx_buf b = MX_BUF_INIT;
    char err[256];
    int er = mx_share_encode(L, 3, &b, sock_enc, NULL, err, sizeof err);
    int pr;
    if (er == 0) {
        pr = mx_shstore_publish(w->store, key, w->id, ok, b.data ? b.data : "", b.len);
    } else {
        /* the same shape as a failed pcall: {false, message, n = 2} */
        mx_buf_reset(&b);
        lua_createtable(L, 2, 1);
        lua_pushboolean(L, 0);
        lua_rawseti(L, -2, 1);
        lua_pushfstring(L, "shared.once '%s': %s", key, err);
        lua_rawseti(L, -2, 2);
        lua_pushinteger(L, 2);
        lua_setfield(L, -2, "n");
        mx_share_encode(L, -1, &b, NULL, NULL, err, sizeof err);
        lua_pop(L, 1);
        pr = mx_shstore_publish(w->store, key, w->id, 0, b.data ? b.data : "", b.len);
    }
    mx_buf_free(&b);
    if (pr != 0) return luaL_error(L, "task.share_publish: '%s' is not this worker's to publish", key);
    mx_task *t = rt->current;
    for (int i = 0; t && i < t->nkeys; i++) {
        if (strcmp(t->keys[i], key) == 0) {
            free(t->keys[i]);
            t->keys[i] = t->keys[--t->nkeys];
            break;
        }
    }
    if (er != 0) {
        lua_pushboolean(L, 0);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* task.share_done(key) -> boolean: another worker's result is there [-1, +1, -] */
static int l_share_done(lua_State *L) {
    mx_rt *rt = mx_rt_from_L(L);
    const char *key = luaL_checkstring(L, 1);
    lua_pushboolean(L, rt->worker && rt->worker->store && mx_shstore_done(rt->worker->store, key));
    return 1;
}

void rt_worker_abandon(mx_rt *rt, const char *key) {
    if (rt->worker && rt->worker->store) mx_shstore_abandon(rt->worker->store, key, rt->worker->id);
}

/* Adds task.share, task.share_publish and task.share_done to the table at
 * the top (the `task` module). [-0, +0, m] */
void rt_worker_register(lua_State *L) {
    static const luaL_Reg f[] = {
        {"share", l_share},
        {"share_publish", l_share_publish},
        {"share_done", l_share_done},
        {NULL, NULL},
    };
    luaL_setfuncs(L, f, 0);
}
