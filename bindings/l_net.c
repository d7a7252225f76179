/* Lua module `net`: TCP connect with verdicts, address helpers, and the
 * socket object a successful connect returns. */
#include "runtime.h"
#include "l_net.h"
#include "net.h"
#include "stream.h"
#include "strmap.h"
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define SOCKET_MT "mxdiag.socket"
/* Politeness: connections open at once to one address (queued beyond);
 * --per-host N changes it for a run. */
#define NET_MAX_PER_ADDRESS 2

typedef struct l_socket {
    mx_stream *st;       /* NULL when closed, or in a replay */
    int closed;
    int replay;          /* answers come from the recording */
    char peer[64];
    int port;
    char source[64];
    char conn[200];      /* "<address>:<port>/<source>#<n>": the gate key of its I/O */
    int holds_slot;      /* 1: counts against NET_MAX_PER_ADDRESS and the total cap; 2: the total cap only */
    int tls;             /* STARTTLS succeeded (live runs) */
    mx_net_conns *nc;    /* the run's connection slots (holds_slot) */
} l_socket;

/* ---- politeness: per-address slots and the connects waiting for one ---- */

typedef struct polite_wait {
    mx_rt *rt;
    mx_json *args;       /* owned by req */
    mx_gate_req *req;
} polite_wait;

typedef struct polite_addr {
    char addr[64];
    int active;
    polite_wait *q;
    size_t nq, capq;
} polite_addr;

/* The run's connection slots, owned by its runtime (mx_rt_net_conns). */
struct mx_net_conns {
    /* Hashed: a batch run meets many thousands of addresses. An address's
     * entry is dropped when nothing is open to it or waiting for it. */
    mx_strmap polite;
    int per_host_limit;
    /* The total cap (mx_net_connection_cap): a connect that holds its
     * address's slot then waits here, in FIFO order, for one of total_limit
     * slots, so that many concurrent checks never run the process out of
     * descriptors (EMFILE would become "error" verdicts). A slot is held from
     * the socket's creation to its close, like the per-address one; the
     * connect's timeout starts when it leaves the queue. */
    int total_limit, total_active;
    polite_wait *total_q;
    size_t total_head, total_nq, total_capq;
    /* batch -P: the slots of the whole process instead (engine/slots.c);
     * connects waiting for a grant, by ticket */
    mx_slots *shared;
    mx_slots_wake_fn wake;
    void *wake_ctx;
    struct shared_wait { uint64_t ticket; polite_wait w; } *sw;
    size_t nsw, capsw;
    uint64_t next_ticket;
};

/* What the process's runs did, for batch's summary (read after the run). */
static mx_conn_stats total_stats = {MX_NET_MAX_CONNECTIONS, 0, 0, 0};

void mx_net_conn_stats(mx_conn_stats *out) { *out = total_stats; }

mx_net_conns *mx_net_conns_new(void) {
    mx_net_conns *nc = mx_xcalloc(1, sizeof *nc);
    nc->per_host_limit = NET_MAX_PER_ADDRESS;
    nc->total_limit = MX_NET_MAX_CONNECTIONS;
    return nc;
}

static void free_polite(void *v) {
    polite_addr *p = v;
    free(p->q);
    free(p);
}
void mx_net_conns_free(mx_net_conns *nc) {
    if (!nc) return;
    mx_strmap_free(&nc->polite, free_polite);
    free(nc->total_q);
    free(nc->sw);
    free(nc);
}

static polite_addr *polite_get(mx_net_conns *nc, const char *addr) {
    polite_addr *p = mx_strmap_get(&nc->polite, addr);
    if (p) return p;
    p = mx_xcalloc(1, sizeof *p);
    snprintf(p->addr, sizeof p->addr, "%s", addr);
    mx_strmap_put(&nc->polite, addr, p);
    return p;
}

static void polite_forget(mx_net_conns *nc, polite_addr *p) {
    if (p->active > 0 || p->nq > 0) return;
    mx_strmap_del(&nc->polite, p->addr);
    free(p->q);
    free(p);
}

static void real_connect(mx_rt *rt, mx_json *args, mx_gate_req *req);

static void total_start(polite_wait w) {
    mx_net_conns *nc = mx_rt_net_conns(w.rt);
    nc->total_active++;
    total_stats.connects++;
    if (nc->total_active > total_stats.peak) total_stats.peak = nc->total_active;
    real_connect(w.rt, w.args, w.req);
}

/* Connect now if a total slot is free and nobody waits before it, else queue. */
static void total_acquire(polite_wait w) {
    mx_net_conns *nc = mx_rt_net_conns(w.rt);
    if (nc->total_active < nc->total_limit && nc->total_nq == 0) { total_start(w); return; }
    total_stats.waited++;
    mx_rt_trace(w.rt, "net.connect %s: waiting, %d connections open in total (limit %d)", mx_json_get_str(w.args, "address"),
                nc->total_active, nc->total_limit);
    if (nc->total_head + nc->total_nq == nc->total_capq) {
        if (nc->total_head > 0) {
            memmove(nc->total_q, nc->total_q + nc->total_head, nc->total_nq * sizeof *nc->total_q);
            nc->total_head = 0;
        } else {
            nc->total_capq = nc->total_capq ? nc->total_capq * 2 : 64;
            nc->total_q = mx_xrealloc(nc->total_q, nc->total_capq * sizeof *nc->total_q);
        }
    }
    nc->total_q[nc->total_head + nc->total_nq++] = w;
    mx_gate_wait_begin(w.req);
}

/* A socket counted against the total cap is gone: start the oldest waiters. */
static void total_release(mx_net_conns *nc) {
    if (nc->shared) { mx_slots_release(nc->shared, NULL); return; }
    if (nc->total_active > 0) nc->total_active--;
    while (nc->total_nq && nc->total_active < nc->total_limit) {
        polite_wait w = nc->total_q[nc->total_head++];
        if (--nc->total_nq == 0) nc->total_head = 0;
        mx_gate_wait_end(w.req);
        total_start(w);
    }
}

/* A connection to addr ended (or never connected): free its total slot and
 * its address's slot, and wake the next waiters. */
static void polite_release(mx_net_conns *nc, const char *addr) {
    if (nc->shared) { mx_slots_release(nc->shared, addr); return; }
    total_release(nc);
    polite_addr *p = polite_get(nc, addr);
    if (p->active > 0) p->active--;
    if (p->nq && p->active < nc->per_host_limit) {
        polite_wait w = p->q[0];
        memmove(p->q, p->q + 1, (p->nq - 1) * sizeof *p->q);
        p->nq--;
        p->active++;
        mx_gate_wait_end(w.req);
        total_acquire(w);
        return;
    }
    polite_forget(nc, p);
}

/* The connected fd travels to push_connect (or discard) with its address. */
typedef struct conn_handle {
    int fd;
    mx_net_conns *nc;
    char addr[64];
} conn_handle;

/* [-0, +0, -] idempotent close shared by close, __gc and __close */
static void socket_close(l_socket *s) {
    if (s->closed) return;
    s->closed = 1;
    if (s->st) { mx_stream_free(s->st); s->st = NULL; }
    if (s->holds_slot == 1) polite_release(s->nc, s->peer);
    else if (s->holds_slot == 2) total_release(s->nc);
    s->holds_slot = 0;
}

static l_socket *check_socket(lua_State *L, int idx) { return luaL_checkudata(L, idx, SOCKET_MT); }

static int l_socket_close(lua_State *L) {
    socket_close(check_socket(L, 1));
    return 0;
}
static int l_socket_gc(lua_State *L) {
    socket_close(check_socket(L, 1));
    return 0;
}
static int l_socket_tostring(lua_State *L) {
    l_socket *s = check_socket(L, 1);
    lua_pushfstring(L, "socket %s (%s)", s->conn, s->closed ? "closed" : s->replay ? "replay" : "open");
    return 1;
}
/* socket:info() -> {address, port, source, conn, tls} [-0, +1, m] */
static int l_socket_info(lua_State *L) {
    l_socket *s = check_socket(L, 1);
    lua_createtable(L, 0, 5);
    lua_pushstring(L, s->peer);
    lua_setfield(L, -2, "address");
    lua_pushinteger(L, s->port);
    lua_setfield(L, -2, "port");
    if (s->source[0]) { lua_pushstring(L, s->source); lua_setfield(L, -2, "source"); }
    lua_pushstring(L, s->conn);
    lua_setfield(L, -2, "conn");
    lua_pushboolean(L, s->tls);
    lua_setfield(L, -2, "tls");
    return 1;
}

static void discard_conn(void *h) {
    conn_handle *c = h;
    if (c->fd >= 0) close(c->fd);
    if (c->addr[0]) polite_release(c->nc, c->addr);
    else total_release(c->nc); /* a TTL probe's handle holds only a total slot */
    free(c);
}

static void on_connect(int fd, mx_json *result, void *ud) {
    mx_gate_req *req = ud;
    mx_net_conns *nc = mx_rt_net_conns(mx_gate_rt(req));
    const char *addr = mx_json_get_str(result, "address");
    if (fd < 0) {
        polite_release(nc, addr ? addr : "");
        mx_gate_done(req, result, NULL);
        return;
    }
    conn_handle *c = mx_xcalloc(1, sizeof *c);
    c->fd = fd;
    c->nc = nc;
    snprintf(c->addr, sizeof c->addr, "%s", addr ? addr : "");
    mx_gate_done(req, result, c);
}

/* A TTL-limited probe (traceroute) holds no per-address slot: most expire on
 * the path and never reach the address; the path rule bounds how many one
 * trace has in flight. Its handle carries no address, so nothing is released. */
static void on_connect_probe(int fd, mx_json *result, void *ud) {
    mx_gate_req *req = ud;
    mx_net_conns *nc = mx_rt_net_conns(mx_gate_rt(req));
    if (fd < 0) {
        total_release(nc);
        mx_gate_done(req, result, NULL);
        return;
    }
    conn_handle *c = mx_xcalloc(1, sizeof *c);
    c->fd = fd;
    c->nc = nc;
    mx_gate_done(req, result, c);
}

static void real_connect(mx_rt *rt, mx_json *args, mx_gate_req *req) {
    mx_addr dst, src;
    mx_addr_parse(mx_json_get_str(args, "address"), &dst);
    const char *s = mx_json_get_str(args, "source");
    int has_src = s && mx_addr_parse(s, &src) == 0;
    mx_json *port = mx_json_get(args, "port"), *tmo = mx_json_get(args, "timeout_ms"), *ttl = mx_json_get(args, "ttl");
    mx_net_connect(mx_rt_loop(rt), &dst, (int)port->u.i, has_src ? &src : NULL, (int)tmo->u.i,
                   ttl ? (int)ttl->u.i : 0, ttl ? on_connect_probe : on_connect, req);
}

void mx_net_conns_share(mx_net_conns *nc, mx_slots *slots, mx_slots_wake_fn wake, void *ctx) {
    nc->shared = slots;
    nc->wake = wake;
    nc->wake_ctx = ctx;
}

/* batch -P: both slots from the process's, or wait (in this worker's list)
 * for the grant that another worker's close makes. */
static void shared_acquire(mx_rt *rt, mx_net_conns *nc, mx_json *args, mx_gate_req *req) {
    const char *addr = mx_json_get(args, "ttl") ? NULL : mx_json_get_str(args, "address");
    mx_slots_waiter w = {nc->wake, nc->wake_ctx, ++nc->next_ticket};
    if (nc->nsw == nc->capsw) {
        nc->capsw = nc->capsw ? nc->capsw * 2 : 16;
        nc->sw = mx_xrealloc(nc->sw, nc->capsw * sizeof *nc->sw);
    }
    /* listed before asking: the grant can only arrive through this loop, later */
    nc->sw[nc->nsw].ticket = w.ticket;
    nc->sw[nc->nsw].w = (polite_wait){rt, args, req};
    if (mx_slots_acquire(nc->shared, addr, &w)) {
        real_connect(rt, args, req);
        return;
    }
    nc->nsw++;
    mx_rt_trace(rt, "net.connect %s: waiting for a connection slot (--per-host or the total cap, all workers)",
                addr ? addr : "(probe)");
    mx_gate_wait_begin(req);
}

void mx_net_conns_granted(mx_net_conns *nc, uint64_t ticket) {
    for (size_t i = 0; i < nc->nsw; i++) {
        if (nc->sw[i].ticket != ticket) continue;
        polite_wait w = nc->sw[i].w;
        nc->sw[i] = nc->sw[--nc->nsw];
        mx_gate_wait_end(w.req);
        real_connect(w.rt, w.args, w.req);
        return;
    }
}

static void start_connect(mx_rt *rt, mx_json *args, mx_gate_req *req) {
    struct rlimit rl;
    long long nofile = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (long long)rl.rlim_cur : 1LL << 40;
    mx_net_conns *nc = mx_rt_net_conns(rt);
    if (nc->shared) { shared_acquire(rt, nc, args, req); return; }
    nc->total_limit = mx_net_connection_cap(nofile, mx_rt_max_connections(rt));
    total_stats.limit = nc->total_limit;
    if (mx_json_get(args, "ttl")) {
        total_acquire((polite_wait){rt, args, req}); /* a socket all the same */
        return;
    }
    polite_addr *p = polite_get(nc, mx_json_get_str(args, "address"));
    nc->per_host_limit = mx_rt_per_host(rt) > 0 ? mx_rt_per_host(rt) : NET_MAX_PER_ADDRESS;
    if (p->active < nc->per_host_limit) {
        p->active++;
        total_acquire((polite_wait){rt, args, req});
        return;
    }
    mx_rt_trace(rt, "net.connect %s: waiting, %d connections already open to it", p->addr, p->active);
    if (p->nq == p->capq) {
        p->capq = p->capq ? p->capq * 2 : 4;
        p->q = mx_xrealloc(p->q, p->capq * sizeof *p->q);
    }
    p->q[p->nq++] = (polite_wait){rt, args, req};
    mx_gate_wait_begin(req);
}

/* The n-th connection to this endpoint in the run (1-based): with the
 * endpoint it names the connection in gate keys, so a replay finds each
 * connection's own answers. [-0, +0, m] */
static int next_ordinal(lua_State *L, const char *endpoint) {
    lua_getfield(L, LUA_REGISTRYINDEX, "mx.net.ordinals");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, "mx.net.ordinals");
    }
    lua_getfield(L, -1, endpoint);
    int n = (int)lua_tointeger(L, -1) + 1;
    lua_pop(L, 1);
    lua_pushinteger(L, n);
    lua_setfield(L, -2, endpoint);
    lua_pop(L, 1);
    return n;
}

/* connected: socket, detail; failed: nil, verdict, detail [-0, +2|3, m] */
static int push_connect_as(lua_State *L, mx_json *res, void *handle, int dialogue) {
    const char *v = mx_json_get_str(res, "verdict");
    conn_handle *c = handle;
    if (v && strcmp(v, MX_V_CONNECTED) == 0) {
        l_socket *s = lua_newuserdatauv(L, sizeof *s, 0);
        memset(s, 0, sizeof *s);
        s->closed = 1; /* closed until complete */
        luaL_setmetatable(L, SOCKET_MT);
        snprintf(s->peer, sizeof s->peer, "%s", mx_json_get_str(res, "address") ? mx_json_get_str(res, "address") : "");
        mx_json *p = mx_json_get(res, "port");
        s->port = p && p->type == MX_JINT ? (int)p->u.i : 0;
        const char *src = mx_json_get_str(res, "source");
        if (src) snprintf(s->source, sizeof s->source, "%s", src);
        char endpoint[160];
        snprintf(endpoint, sizeof endpoint, s->peer[0] && strchr(s->peer, ':') ? "[%s]:%d/%s" : "%s:%d/%s", s->peer,
                 s->port, s->source[0] ? s->source : "-");
        snprintf(s->conn, sizeof s->conn, "%s#%d", endpoint, next_ordinal(L, endpoint));
        s->closed = 0;
        if (dialogue) mx_rt_dialogue(mx_rt_from_L(L), "%s  === connected", s->conn);
        if (c) {
            s->st = mx_stream_new(mx_rt_loop(mx_rt_from_L(L)), c->fd, NULL);
            s->holds_slot = c->addr[0] ? 1 : 2;
            s->nc = c->nc;
            free(c);
        } else {
            s->replay = 1; /* no fd in a replay */
        }
        mx_lua_push_json(L, res);
        return 2;
    }
    if (c) discard_conn(c);
    /* a traceroute probe is the trace's business, not the dialogue's */
    if (dialogue)
        mx_rt_dialogue(mx_rt_from_L(L), "=== %s port %lld: %s", mx_json_get_str(res, "address") ? mx_json_get_str(res, "address") : "?",
                       mx_json_get(res, "port") && mx_json_get(res, "port")->type == MX_JINT ? mx_json_get(res, "port")->u.i : 0LL,
                       v ? v : MX_V_ERROR);
    lua_pushnil(L);
    lua_pushstring(L, v ? v : MX_V_ERROR);
    mx_lua_push_json(L, res);
    return 3;
}

static int push_connect(lua_State *L, mx_json *res, void *handle) { return push_connect_as(L, res, handle, 1); }
static int push_probe(lua_State *L, mx_json *res, void *handle) { return push_connect_as(L, res, handle, 0); }

/* ---- socket I/O: every operation goes through the call gate ----
 * The socket of the call being started reaches start() as the gate's context
 * (mx_gate_call_ctx). */

typedef struct io_call {
    mx_gate_req *req;
    l_socket *sock;      /* alive while the call is pending: it is the caller's argument 1 */
    size_t n;            /* send: bytes to send */
    char conn[200];
} io_call;

static io_call *io_call_new(mx_gate_req *req, l_socket *sock) {
    io_call *c = mx_xcalloc(1, sizeof *c);
    c->req = req;
    c->sock = sock;
    snprintf(c->conn, sizeof c->conn, "%s", c->sock ? c->sock->conn : "?");
    return c;
}

static mx_json *io_result(mx_stream *st, mx_stream_status status, const char *conn) {
    mx_json *r = mx_json_obj();
    mx_json_set(r, "status", mx_json_str(mx_stream_status_names[status]));
    mx_json_set(r, "conn", mx_json_str(conn));
    mx_json_set(r, "elapsed_ms", mx_json_int(st ? mx_stream_elapsed_ms(st) : 0));
    if (status != MX_STREAM_OK) {
        mx_json_set(r, "error", mx_json_str(st ? mx_stream_error(st) : "connection closed locally"));
        const char *lim = st ? mx_stream_limit(st) : NULL;
        if (lim) mx_json_set(r, "limit", mx_json_str(lim));
        if (st) mx_json_set(r, "bytes_in", mx_json_int((long long)mx_stream_bytes_in(st)));
        size_t n = 0;
        const char *pend = st ? mx_stream_pending(st, &n) : "";
        if (n) mx_json_set(r, "unterminated", mx_json_strn(pend, n > 200 ? 200 : n)); /* a line cut short */
    }
    return r;
}

/* A socket with no stream: closed under a pending call, or already failed. */
static int io_unavailable(io_call *c) {
    if (c->sock && c->sock->st) return 0;
    mx_gate_done(c->req, io_result(NULL, MX_STREAM_CLOSED, c->conn), NULL);
    free(c);
    return 1;
}

/* Failure values: nil, status, detail [-0, +3, m] */
static int push_failure(lua_State *L, mx_json *res) {
    const char *st = mx_json_get_str(res, "status");
    mx_rt *rt = mx_rt_from_L(L);
    mx_rt_dialogue(rt, "%s  !! %s: %s", mx_json_get_str(res, "conn") ? mx_json_get_str(res, "conn") : "?", st ? st : "error",
                mx_json_get_str(res, "error") ? mx_json_get_str(res, "error") : "");
    lua_pushnil(L);
    lua_pushstring(L, st ? st : "closed");
    mx_lua_push_json(L, res);
    return 3;
}

static int is_ok(const mx_json *res) {
    const char *st = mx_json_get_str(res, "status");
    return st && strcmp(st, "ok") == 0;
}

/* Reads the optional {timeout=seconds} table at idx into milliseconds. */
static int opt_timeout_ms(lua_State *L, int idx, const char *field_owner) {
    int ms = mx_rt_timeout_ms(mx_rt_from_L(L));
    if (lua_isnoneornil(L, idx)) return ms;
    luaL_checktype(L, idx, LUA_TTABLE);
    if (lua_getfield(L, idx, "timeout") != LUA_TNIL) {
        lua_Number t = luaL_checknumber(L, -1);
        if (!(t > 0 && t <= 600)) luaL_error(L, "%s: timeout must be from 0 to 600 seconds", field_owner);
        ms = (int)(t * 1000);
    }
    lua_pop(L, 1);
    return ms;
}

static l_socket *check_open(lua_State *L, const char *what) {
    l_socket *s = check_socket(L, 1);
    if (s->closed) luaL_error(L, "%s: socket %s is closed", what, s->conn);
    if (s->st && mx_stream_busy(s->st))
        luaL_error(L, "%s: socket %s is busy with %s (one operation at a time)", what, s->conn,
                   mx_stream_op_names[mx_stream_current_op(s->st)]);
    return s;
}

/* -- read_line -- */
static void line_done(mx_stream *st, mx_stream_status status, void *ud) {
    io_call *c = ud;
    mx_json *r = io_result(st, status, c->conn);
    if (status == MX_STREAM_OK) {
        size_t n;
        const char *line = mx_stream_line(st, &n);
        mx_json_set(r, "line", mx_json_strn(line, n));
    }
    mx_gate_done(c->req, r, NULL);
    free(c);
}
static void start_read_line(mx_rt *rt, mx_json *args, mx_gate_req *req, void *sock) {
    (void)rt;
    io_call *c = io_call_new(req, sock);
    if (io_unavailable(c)) return;
    mx_stream_read_line(c->sock->st, (int)mx_json_get(args, "timeout_ms")->u.i, line_done, c);
}
/* line | nil, status, detail [-0, +1|3, m] */
static int push_line(lua_State *L, mx_json *res, void *h) {
    (void)h;
    if (!is_ok(res)) return push_failure(L, res);
    mx_json *line = mx_json_get(res, "line");
    mx_buf b = MX_BUF_INIT;
    if (line && line->type == MX_JSTR) mx_smtp_printable(&b, line->u.str.s, line->u.str.len);
    mx_rt_dialogue(mx_rt_from_L(L), "%s  <- %s", mx_json_get_str(res, "conn"), mx_buf_cstr(&b));
    mx_buf_free(&b);
    if (line && line->type == MX_JSTR) lua_pushlstring(L, line->u.str.s, line->u.str.len);
    else lua_pushliteral(L, "");
    return 1;
}
/* sock:read_line{timeout=} -> line | nil, "timeout"|"closed"|"protocol", detail */
static int l_socket_read_line(lua_State *L) {
    l_socket *s = check_open(L, "read_line");
    int ms = opt_timeout_ms(L, 2, "read_line");
    mx_json *args = mx_json_obj();
    mx_json_set(args, "conn", mx_json_str(s->conn));
    mx_json_set(args, "timeout_ms", mx_json_int(ms));
    return mx_gate_call_ctx(L, "net.read_line", args, 0, start_read_line, s, push_line, NULL);
}

/* -- read_reply -- */
static void reply_done(mx_stream *st, mx_stream_status status, void *ud) {
    io_call *c = ud;
    mx_json *r = io_result(st, status, c->conn);
    const mx_smtp_reply *rep = mx_stream_reply(st);
    if (status == MX_STREAM_OK || rep->nlines) {
        mx_json *j = mx_smtp_reply_to_json(rep);
        char *text = mx_smtp_reply_text(rep);
        mx_json_set(j, "text", mx_json_str(text));
        free(text);
        if (rep->enhanced_mismatch) mx_json_set(j, "enhanced_mismatch", mx_json_bool(1));
        if (status == MX_STREAM_OK) {
            for (size_t i = 0; i < j->u.c.len; i++) mx_json_set(r, j->u.c.keys[i], mx_json_clone(j->u.c.items[i]));
        } else {
            mx_json_set(r, "partial", mx_json_clone(j)); /* what came before the failure */
        }
        mx_json_free(j);
    }
    mx_gate_done(c->req, r, NULL);
    free(c);
}
static void start_read_reply(mx_rt *rt, mx_json *args, mx_gate_req *req, void *sock) {
    (void)rt;
    io_call *c = io_call_new(req, sock);
    if (io_unavailable(c)) return;
    mx_stream_read_reply(c->sock->st, (int)mx_json_get(args, "timeout_ms")->u.i, reply_done, c);
}
/* {code, enhanced, lines, text, binary, elapsed_ms} | nil, status, detail [-0, +1|3, m] */
static int push_reply(lua_State *L, mx_json *res, void *h) {
    (void)h;
    mx_rt *rt = mx_rt_from_L(L);
    const char *conn = mx_json_get_str(res, "conn");
    mx_json *lines = mx_json_get(res, "lines");
    mx_json *code = mx_json_get(res, "code");
    if (!is_ok(res)) {
        mx_json *part = mx_json_get(res, "partial");
        lines = part ? mx_json_get(part, "lines") : NULL;
        code = part ? mx_json_get(part, "code") : NULL;
    }
    if (mx_rt_dialogue_on(rt) && lines && lines->type == MX_JARR) {
        size_t n = lines->u.c.len, shown = n > 12 ? 10 : n;
        for (size_t i = 0; i < shown; i++) {
            mx_buf b = MX_BUF_INIT;
            mx_json *li = lines->u.c.items[i];
            if (li->type == MX_JSTR) mx_smtp_printable(&b, li->u.str.s, li->u.str.len > 200 ? 200 : li->u.str.len);
            mx_rt_dialogue(rt, "%s  <- %03lld%c%s", conn ? conn : "?", code && code->type == MX_JINT ? code->u.i : 0,
                        i + 1 == n && is_ok(res) ? ' ' : '-', mx_buf_cstr(&b));
            mx_buf_free(&b);
        }
        if (shown < n) mx_rt_dialogue(rt, "%s  <- ... (%zu more lines)", conn ? conn : "?", n - shown);
    }
    if (!is_ok(res)) return push_failure(L, res);
    mx_lua_push_json(L, res);
    return 1;
}
/* sock:read_reply{timeout=} -> reply | nil, "timeout"|"closed"|"protocol", detail */
static int l_socket_read_reply(lua_State *L) {
    l_socket *s = check_open(L, "read_reply");
    int ms = opt_timeout_ms(L, 2, "read_reply");
    mx_json *args = mx_json_obj();
    mx_json_set(args, "conn", mx_json_str(s->conn));
    mx_json_set(args, "timeout_ms", mx_json_int(ms));
    return mx_gate_call_ctx(L, "net.read_reply", args, 0, start_read_reply, s, push_reply, NULL);
}

/* -- send -- */
static void send_done(mx_stream *st, mx_stream_status status, void *ud) {
    io_call *c = ud;
    mx_json *r = io_result(st, status, c->conn);
    if (status == MX_STREAM_OK) mx_json_set(r, "bytes", mx_json_int((long long)c->n));
    mx_gate_done(c->req, r, NULL);
    free(c);
}
static void start_send(mx_rt *rt, mx_json *args, mx_gate_req *req, void *sock) {
    (void)rt;
    io_call *c = io_call_new(req, sock);
    if (io_unavailable(c)) return;
    mx_json *d = mx_json_get(args, "data");
    c->n = d->u.str.len;
    mx_stream_write(c->sock->st, d->u.str.s, d->u.str.len, (int)mx_json_get(args, "timeout_ms")->u.i, send_done, c);
}
/* true | nil, status, detail [-0, +1|3, m] */
static int push_sent(lua_State *L, mx_json *res, void *h) {
    (void)h;
    if (!is_ok(res)) return push_failure(L, res);
    lua_pushboolean(L, 1);
    return 1;
}
/* sock:send(data, {timeout=}) -> true | nil, "timeout"|"closed", detail */
static int l_socket_send(lua_State *L) {
    l_socket *s = check_open(L, "send");
    size_t n;
    const char *data = luaL_checklstring(L, 2, &n);
    luaL_argcheck(L, n > 0 && n <= 65536, 2, "data must be 1 to 65536 bytes");
    int ms = opt_timeout_ms(L, 3, "send");
    mx_rt *rt = mx_rt_from_L(L);
    if (mx_rt_dialogue_on(rt)) {
        /* one trace line per protocol line, as the peer will see them */
        const char *p = data, *end = data + n;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
            size_t shown = len && p[len - 1] == '\r' ? len - 1 : len;
            mx_buf b = MX_BUF_INIT;
            mx_smtp_printable(&b, p, shown > 200 ? 200 : shown);
            mx_rt_dialogue(rt, "%s  -> %s", s->conn, mx_buf_cstr(&b));
            mx_buf_free(&b);
            p += len + (nl ? 1 : 0);
        }
    }
    mx_json *args = mx_json_obj();
    mx_json_set(args, "conn", mx_json_str(s->conn));
    mx_json_set(args, "data", mx_json_strn(data, n));
    mx_json_set(args, "timeout_ms", mx_json_int(ms));
    return mx_gate_call_ctx(L, "net.send", args, 0, start_send, s, push_sent, NULL);
}

/* -- starttls -- */
static void tls_done(mx_stream *st, mx_stream_status status, void *ud) {
    io_call *c = ud;
    mx_json *r;
    if (status == MX_STREAM_OK) {
        r = mx_tls_facts(mx_stream_tls(st), time(NULL));
        mx_json_set(r, "status", mx_json_str("ok"));
        mx_json_set(r, "conn", mx_json_str(c->conn));
        mx_json_set(r, "elapsed_ms", mx_json_int(mx_stream_elapsed_ms(st)));
        if (mx_stream_discarded(st))
            mx_json_set(r, "discarded_plaintext", mx_json_int((long long)mx_stream_discarded(st)));
        if (c->sock) c->sock->tls = 1;
    } else {
        r = io_result(st, status, c->conn);
    }
    mx_gate_done(c->req, r, NULL);
    free(c);
}
static void start_starttls(mx_rt *rt, mx_json *args, mx_gate_req *req, void *sock) {
    io_call *c = io_call_new(req, sock);
    if (io_unavailable(c)) return;
    char err[512] = "";
    SSL_CTX *ctx = mx_rt_tls_ctx(rt, err, sizeof err);
    if (!ctx) {
        mx_json *r = io_result(NULL, MX_STREAM_TLS, c->conn);
        mx_json_set(r, "error", mx_json_str(err));
        mx_gate_done(c->req, r, NULL);
        free(c);
        return;
    }
    mx_stream_starttls(c->sock->st, ctx, mx_json_get_str(args, "servername"),
                       (int)mx_json_get(args, "timeout_ms")->u.i, tls_done, c);
}
/* facts | nil, "tls_failed"|"timeout"|"closed", detail [-0, +1|3, m] */
static int push_tls(lua_State *L, mx_json *res, void *h) {
    (void)h;
    if (!is_ok(res)) {
        const char *st = mx_json_get_str(res, "status");
        if (st && strcmp(st, "closed") != 0 && strcmp(st, "tls_failed") != 0 && strcmp(st, "timeout") != 0)
            mx_json_set(res, "status", mx_json_str("tls_failed"));
        return push_failure(L, res);
    }
    mx_rt *rt = mx_rt_from_L(L);
    if (mx_rt_dialogue_on(rt)) {
        const char *conn = mx_json_get_str(res, "conn");
        mx_json *v = mx_json_get(res, "verify_ok"), *nm = mx_json_get(res, "name_ok");
        mx_rt_dialogue(rt, "%s  == TLS started: %s, cipher %s", conn, mx_json_get_str(res, "protocol"),
                    mx_json_get_str(res, "cipher") ? mx_json_get_str(res, "cipher") : "?");
        mx_rt_dialogue(rt, "%s  == peer certificate: subject %s; issuer %s; valid %s .. %s", conn,
                    mx_json_get_str(res, "subject") ? mx_json_get_str(res, "subject") : "(none)",
                    mx_json_get_str(res, "issuer") ? mx_json_get_str(res, "issuer") : "-",
                    mx_json_get_str(res, "not_before") ? mx_json_get_str(res, "not_before") : "?",
                    mx_json_get_str(res, "not_after") ? mx_json_get_str(res, "not_after") : "?");
        mx_rt_dialogue(rt, "%s  == verification: %s (%s); name %s", conn, v && v->type == MX_JBOOL && v->u.b ? "ok" : "FAILED",
                    mx_json_get_str(res, "verify_result") ? mx_json_get_str(res, "verify_result") : "-",
                    nm && nm->type == MX_JBOOL ? (nm->u.b ? "matches" : "MISMATCH") : "not checked");
    }
    mx_lua_push_json(L, res);
    return 1;
}
/* sock:starttls{servername=, timeout=} -> facts | nil, "tls_failed"|"timeout"|"closed", detail */
static int l_socket_starttls(lua_State *L) {
    l_socket *s = check_open(L, "starttls");
    int ms = opt_timeout_ms(L, 2, "starttls");
    const char *sn = NULL;
    if (lua_istable(L, 2)) {
        if (lua_getfield(L, 2, "servername") != LUA_TNIL) sn = luaL_checkstring(L, -1);
        lua_pop(L, 1); /* the string stays referenced by the table */
    }
    if (s->tls) return luaL_error(L, "starttls: TLS is already active on %s", s->conn);
    mx_json *args = mx_json_obj();
    mx_json_set(args, "conn", mx_json_str(s->conn));
    if (sn) mx_json_set(args, "servername", mx_json_str(sn));
    mx_json_set(args, "timeout_ms", mx_json_int(ms));
    mx_rt_dialogue(mx_rt_from_L(L), "%s  == starting TLS (SNI %s)", s->conn, sn ? sn : "none");
    return mx_gate_call_ctx(L, "net.starttls", args, 0, start_starttls, s, push_tls, NULL);
}

/* net.connect(address, port, {timeout=seconds, source=address, ttl=n})
 * -> socket, detail | nil, verdict, detail */
static int l_connect(lua_State *L) {
    mx_rt *rt = mx_rt_from_L(L);
    const char *addr = luaL_checkstring(L, 1);
    lua_Integer port = luaL_checkinteger(L, 2);
    luaL_argcheck(L, port >= 1 && port <= 65535, 2, "port must be from 1 to 65535");
    mx_addr dst, src;
    if (mx_addr_parse(addr, &dst) != 0) return luaL_argerror(L, 1, "not an IP address (resolve names with dns.query first)");
    int timeout_ms = mx_rt_timeout_ms(rt);
    const char *source = NULL;
    int ttl = 0;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        if (lua_getfield(L, 3, "timeout") != LUA_TNIL) {
            lua_Number t = luaL_checknumber(L, -1);
            luaL_argcheck(L, t > 0 && t <= 600, 3, "timeout must be from 0 to 600 seconds");
            timeout_ms = (int)(t * 1000);
        }
        lua_pop(L, 1);
        if (lua_getfield(L, 3, "source") != LUA_TNIL) {
            source = luaL_checkstring(L, -1);
            if (mx_addr_parse(source, &src) != 0) return luaL_argerror(L, 3, "source is not an IP address");
        }
        lua_pop(L, 1);
        if (lua_getfield(L, 3, "ttl") != LUA_TNIL) {
            ttl = (int)luaL_checkinteger(L, -1);
            luaL_argcheck(L, ttl >= 1 && ttl <= 255, 3, "ttl must be from 1 to 255");
        }
        lua_pop(L, 1);
    }
    char canon[64];
    mx_addr_format(&dst, canon, sizeof canon);
    mx_json *args = mx_json_obj();
    mx_json_set(args, "address", mx_json_str(canon));
    mx_json_set(args, "port", mx_json_int(port));
    if (source) {
        char sc[64];
        mx_addr_format(&src, sc, sizeof sc);
        mx_json_set(args, "source", mx_json_str(sc));
    }
    mx_json_set(args, "timeout_ms", mx_json_int(timeout_ms));
    if (ttl) mx_json_set(args, "ttl", mx_json_int(ttl));
    if (ttl) {
        mx_rt_status(rt, "Tracing the path to %s port %lld (hop %d)\u2026", canon, (long long)port, ttl);
    } else {
        mx_rt_status(rt, "Trying %s port %lld\u2026", canon, (long long)port);
        mx_rt_dialogue(rt, "=== Trying %s port %lld%s%s...", canon, (long long)port, source ? " from " : "", source ? source : "");
    }
    return mx_gate_call(L, "net.connect", args, 0, start_connect, ttl ? push_probe : push_connect, discard_conn);
}

/* ---- net.hostname(): a read of this host, recorded so a replay elsewhere
 * sends the same EHLO. */
typedef struct host_call {
    mx_gate_req *req;
} host_call;
static void host_done(mx_loop *loop, void *ud) {
    (void)loop;
    host_call *h = ud;
    char name[256] = "";
    if (gethostname(name, sizeof name - 1) != 0) name[0] = 0;
    name[sizeof name - 1] = 0;
    mx_json *r = mx_json_obj();
    mx_json_set(r, "hostname", mx_json_str(name));
    mx_gate_done(h->req, r, NULL);
    free(h);
}
static void start_hostname(mx_rt *rt, mx_json *args, mx_gate_req *req) {
    (void)args;
    host_call *h = mx_xmalloc(sizeof *h);
    h->req = req;
    mx_loop_defer(mx_rt_loop(rt), host_done, h); /* completes from the loop, like any I/O */
}
/* [-0, +1, m] */
static int push_hostname(lua_State *L, mx_json *res, void *h) {
    (void)h;
    const char *n = mx_json_get_str(res, "hostname");
    if (n && *n) lua_pushstring(L, n);
    else lua_pushnil(L);
    return 1;
}
/* net.hostname() -> this host's name (gethostname) | nil */
static int l_hostname(lua_State *L) {
    return mx_gate_call(L, "net.hostname", mx_json_obj(), 1, start_hostname, push_hostname, NULL);
}

/* net.parse_address(s) -> {address=canonical, family=4|6} | nil, "invalid" */
static int l_parse_address(lua_State *L) {
    mx_addr a;
    if (mx_addr_parse(luaL_checkstring(L, 1), &a) != 0) {
        lua_pushnil(L);
        lua_pushliteral(L, "invalid");
        return 2;
    }
    char c[64];
    mx_addr_format(&a, c, sizeof c);
    lua_createtable(L, 0, 2);
    lua_pushstring(L, c);
    lua_setfield(L, -2, "address");
    lua_pushinteger(L, a.family == AF_INET ? 4 : 6);
    lua_setfield(L, -2, "family");
    return 1;
}

/* net.is_reserved(addr) -> nil | {name=, block=, rfc=} */
static int l_is_reserved(lua_State *L) {
    mx_addr a;
    if (mx_addr_parse(luaL_checkstring(L, 1), &a) != 0) return luaL_argerror(L, 1, "not an IP address");
    const mx_reserved *r = mx_addr_reserved(&a);
    if (!r) { lua_pushnil(L); return 1; }
    lua_createtable(L, 0, 3);
    lua_pushstring(L, r->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, r->block);
    lua_setfield(L, -2, "block");
    lua_pushstring(L, r->rfc);
    lua_setfield(L, -2, "rfc");
    return 1;
}

/* ---- batch -P: a held connection handed to whichever worker takes it ---- */

/* What travels with a parked fd (then the detail, rt_share-encoded). */
typedef struct parked_sock {
    int fd, port, holds_slot;
    char peer[64], source[64], conn[200];
} parked_sock;

/* Closes a parked connection nobody took and frees its slots. */
static void parked_close(mx_rt *rt, const char *data, size_t len) {
    parked_sock ps;
    if (len < sizeof ps) return;
    memcpy(&ps, data, sizeof ps);
    close(ps.fd);
    if (ps.holds_slot == 1) polite_release(mx_rt_net_conns(rt), ps.peer);
    else if (ps.holds_slot == 2) total_release(mx_rt_net_conns(rt));
}

/* net.park(key, sock, detail) -> boolean: with several workers, the
 * connection (open, nothing sent or read yet) leaves this Lua state for the
 * process, under key, with its slot: the first worker to ask takes it
 * (net.unpark). false (sock untouched) with one worker or a used socket.
 * [-3, +1, e] */
static int l_park(lua_State *L) {
    const char *key = luaL_checkstring(L, 1);
    l_socket *s = check_socket(L, 2);
    mx_rt *rt = mx_rt_from_L(L);
    mx_shstore *store = mx_rt_share_store(rt);
    if (!store || s->closed || s->replay || !s->st) { lua_pushboolean(L, 0); return 1; }
    mx_buf b = MX_BUF_INIT;
    parked_sock ps;
    memset(&ps, 0, sizeof ps);
    mx_buf_put(&b, &ps, sizeof ps);
    char err[200];
    if (mx_share_encode(L, 3, &b, NULL, NULL, err, sizeof err) != 0) mx_buf_putc(&b, 'n');
    int fd = mx_stream_detach(s->st);
    if (fd < 0) { mx_buf_free(&b); lua_pushboolean(L, 0); return 1; }
    ps.fd = fd;
    ps.port = s->port;
    ps.holds_slot = s->holds_slot;
    memcpy(ps.peer, s->peer, sizeof ps.peer);
    memcpy(ps.source, s->source, sizeof ps.source);
    memcpy(ps.conn, s->conn, sizeof ps.conn);
    memcpy(b.data, &ps, sizeof ps);
    s->st = NULL; /* its fd and slot are the parked connection's now */
    s->holds_slot = 0;
    s->closed = 1;
    if (mx_shstore_park(store, key, b.data, b.len) != 0) {
        /* one held under key already (conn.hold replaces): close that one */
        char *od;
        size_t on;
        if (mx_shstore_unpark(store, key, &od, &on)) { parked_close(rt, od, on); free(od); }
        mx_shstore_park(store, key, b.data, b.len);
    }
    mx_buf_free(&b);
    lua_pushboolean(L, 1);
    return 1;
}

/* net.unpark(key) -> sock, detail | nil: the connection parked under key, now
 * this runtime's (its loop, its Lua state), once. [-1, +(1|2), m] */
static int l_unpark(lua_State *L) {
    const char *key = luaL_checkstring(L, 1);
    mx_rt *rt = mx_rt_from_L(L);
    mx_shstore *store = mx_rt_share_store(rt);
    char *data;
    size_t len;
    if (!store || !mx_shstore_unpark(store, key, &data, &len)) { lua_pushnil(L); return 1; }
    parked_sock ps;
    if (len < sizeof ps) { free(data); lua_pushnil(L); return 1; }
    memcpy(&ps, data, sizeof ps);
    l_socket *s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    s->closed = 1;
    luaL_setmetatable(L, SOCKET_MT);
    memcpy(s->peer, ps.peer, sizeof s->peer);
    memcpy(s->source, ps.source, sizeof s->source);
    memcpy(s->conn, ps.conn, sizeof s->conn);
    s->port = ps.port;
    s->st = mx_stream_new(mx_rt_loop(rt), ps.fd, NULL);
    s->holds_slot = ps.holds_slot;
    s->nc = mx_rt_net_conns(rt);
    s->closed = 0;
    if (mx_share_decode(L, data + sizeof ps, len - sizeof ps, NULL, NULL) != 0) lua_pushnil(L);
    free(data);
    return 2;
}

static const luaL_Reg net_funcs[] = {
    {"connect", l_connect},
    {"park", l_park},
    {"unpark", l_unpark},
    {"hostname", l_hostname},
    {"parse_address", l_parse_address},
    {"is_reserved", l_is_reserved},
    {NULL, NULL},
};

static const luaL_Reg socket_methods[] = {
    {"close", l_socket_close},
    {"info", l_socket_info},
    {"read_line", l_socket_read_line},
    {"read_reply", l_socket_read_reply},
    {"send", l_socket_send},
    {"starttls", l_socket_starttls},
    {NULL, NULL},
};

static const luaL_Reg socket_meta[] = {
    {"__gc", l_socket_gc},
    {"__close", l_socket_gc},
    {"__tostring", l_socket_tostring},
    {"__index", NULL},
    {NULL, NULL},
};

int luaopen_mx_net(lua_State *L) {
    luaL_newmetatable(L, SOCKET_MT);
    luaL_setfuncs(L, socket_meta, 0);
    luaL_newlibtable(L, socket_methods);
    luaL_setfuncs(L, socket_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
    luaL_newlib(L, net_funcs);
    return 1;
}
