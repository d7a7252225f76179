#include "net.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <netinet/icmp6.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

const char *mx_net_verdict(int err, const mx_icmp *icmp) {
    if (err == 0) return MX_V_CONNECTED;
    if (icmp && icmp->present) {
        if (!icmp->v6) {
            if (icmp->type == ICMP_DEST_UNREACH) {
                switch (icmp->code) {
                case ICMP_PORT_UNREACH: return MX_V_REJECTED;
                case ICMP_NET_ANO: case ICMP_HOST_ANO: case ICMP_PKT_FILTERED: return MX_V_PROHIBITED;
                case ICMP_PROT_UNREACH: return MX_V_REJECTED;
                default: return MX_V_UNREACHABLE;
                }
            }
            if (icmp->type == ICMP_TIME_EXCEEDED) return MX_V_UNREACHABLE;
        } else {
            if (icmp->type == ICMP6_DST_UNREACH) {
                switch (icmp->code) {
                case ICMP6_DST_UNREACH_NOPORT: return MX_V_REJECTED;
                case ICMP6_DST_UNREACH_ADMIN: case 5: case 6: return MX_V_PROHIBITED;
                default: return MX_V_UNREACHABLE;
                }
            }
            if (icmp->type == ICMP6_TIME_EXCEEDED) return MX_V_UNREACHABLE;
        }
    }
    switch (err) {
    case ECONNREFUSED: case ECONNRESET: return MX_V_REFUSED;
    case ETIMEDOUT: return MX_V_TIMEOUT;
    case EHOSTUNREACH: case ENETUNREACH: case ENETDOWN: case EHOSTDOWN: return MX_V_UNREACHABLE;
    case EPERM: case EACCES: case EADDRNOTAVAIL: case EAFNOSUPPORT: return MX_V_LOCAL;
    default: return MX_V_ERROR;
    }
}

void mx_icmp_describe(const mx_icmp *icmp, char *out, size_t outlen) {
    const char *what = "ICMP error";
    if (!icmp->v6) {
        if (icmp->type == ICMP_DEST_UNREACH) {
            static const char *codes[] = {"network unreachable", "host unreachable", "protocol unreachable",
                                          "port unreachable", "fragmentation needed", "source route failed",
                                          "destination network unknown", "destination host unknown",
                                          "source host isolated", "network administratively prohibited",
                                          "host administratively prohibited", "network unreachable for TOS",
                                          "host unreachable for TOS", "communication administratively prohibited",
                                          "host precedence violation", "precedence cutoff in effect"};
            if (icmp->code >= 0 && icmp->code < 16) what = codes[icmp->code];
        } else if (icmp->type == ICMP_TIME_EXCEEDED) what = "time exceeded in transit";
        snprintf(out, outlen, "%s (ICMP type %d code %d)", what, icmp->type, icmp->code);
    } else {
        if (icmp->type == ICMP6_DST_UNREACH) {
            static const char *codes[] = {"no route to destination", "communication administratively prohibited",
                                          "beyond scope of source address", "address unreachable",
                                          "port unreachable", "source address failed ingress/egress policy",
                                          "reject route to destination"};
            if (icmp->code >= 0 && icmp->code < 7) what = codes[icmp->code];
        } else if (icmp->type == ICMP6_TIME_EXCEEDED) what = "hop limit exceeded in transit";
        snprintf(out, outlen, "%s (ICMPv6 type %d code %d)", what, icmp->type, icmp->code);
    }
}

typedef struct conn {
    mx_loop *loop;
    int fd;
    mx_addr dst, src;
    int has_src;
    int port;
    int64_t start;
    mx_timer *timer;
    mx_connect_cb cb;
    void *ud;
    int result_fd;
    mx_json *result;
} conn;

/* Reads the most recent ICMP error from the socket's error queue. */
static void read_errqueue(int fd, mx_icmp *icmp) {
    memset(icmp, 0, sizeof *icmp);
    for (int i = 0; i < 8; i++) {
        char cbuf[512];
        char dbuf[64];
        struct iovec iov = {dbuf, sizeof dbuf};
        struct sockaddr_storage name;
        struct msghdr msg = {0};
        msg.msg_name = &name;
        msg.msg_namelen = sizeof name;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf;
        msg.msg_controllen = sizeof cbuf;
        if (recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (!((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
                  (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)))
                continue;
            struct sock_extended_err *ee = (struct sock_extended_err *)CMSG_DATA(c);
            if (ee->ee_origin != SO_EE_ORIGIN_ICMP && ee->ee_origin != SO_EE_ORIGIN_ICMP6) continue;
            icmp->present = 1;
            icmp->v6 = ee->ee_origin == SO_EE_ORIGIN_ICMP6;
            icmp->type = ee->ee_type;
            icmp->code = ee->ee_code;
            struct sockaddr *off = SO_EE_OFFENDER(ee);
            icmp->from_known = mx_addr_from_sockaddr(off, &icmp->from, NULL) == 0;
        }
    }
}

static void deliver(mx_loop *loop, void *ud) {
    (void)loop;
    conn *c = ud;
    c->cb(c->result_fd, c->result, c->ud);
    free(c);
}

static void complete(conn *c, int err, const char *stage) {
    if (c->timer) { mx_timer_cancel(c->loop, c->timer); c->timer = NULL; }
    if (c->fd >= 0) mx_loop_unwatch(c->loop, c->fd);
    mx_icmp icmp = {0};
    if (err && c->fd >= 0) read_errqueue(c->fd, &icmp);
    mx_json *r = mx_json_obj();
    const char *verdict = mx_net_verdict(err, &icmp);
    mx_json_set(r, "verdict", mx_json_str(verdict));
    char a[64];
    mx_addr_format(&c->dst, a, sizeof a);
    mx_json_set(r, "address", mx_json_str(a));
    mx_json_set(r, "port", mx_json_int(c->port));
    if (c->fd >= 0) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        mx_addr local;
        if (getsockname(c->fd, (struct sockaddr *)&ss, &sl) == 0 && mx_addr_from_sockaddr((struct sockaddr *)&ss, &local, NULL) == 0) {
            int any = 1;
            for (int i = 0; i < 16; i++) if (local.bytes[i]) any = 0;
            if (!any) { mx_addr_format(&local, a, sizeof a); mx_json_set(r, "source", mx_json_str(a)); }
        }
    }
    if (!mx_json_get(r, "source") && c->has_src) {
        mx_addr_format(&c->src, a, sizeof a);
        mx_json_set(r, "source", mx_json_str(a));
    }
    mx_json_set(r, "elapsed_ms", mx_json_int(mx_now_ms() - c->start));
    if (err) {
        mx_json_set(r, "errno", mx_json_int(err));
        mx_json_set(r, "error", mx_json_str(strerror(err)));
        if (stage) mx_json_set(r, "stage", mx_json_str(stage));
    }
    if (icmp.present) {
        mx_json *o = mx_json_obj();
        char text[128];
        mx_icmp_describe(&icmp, text, sizeof text);
        mx_json_set(o, "type", mx_json_int(icmp.type));
        mx_json_set(o, "code", mx_json_int(icmp.code));
        mx_json_set(o, "text", mx_json_str(text));
        if (icmp.from_known) {
            mx_addr_format(&icmp.from, a, sizeof a);
            mx_json_set(o, "from", mx_json_str(a));
            mx_json_set(o, "from_destination", mx_json_bool(memcmp(icmp.from.bytes, c->dst.bytes, 16) == 0 &&
                                                             icmp.from.family == c->dst.family));
        }
        mx_json_set(r, "icmp", o);
    }
    c->result = r;
    if (err == 0) {
        c->result_fd = c->fd;
    } else {
        if (c->fd >= 0) close(c->fd);
        c->result_fd = -1;
    }
    c->fd = -1;
    mx_loop_defer(c->loop, deliver, c);
}

static void on_ready(mx_loop *loop, int fd, int ev, void *ud) {
    (void)loop; (void)ev;
    conn *c = ud;
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) err = errno;
    complete(c, err, err ? "connect" : NULL);
}

static void on_timeout(mx_loop *loop, void *ud) {
    (void)loop;
    conn *c = ud;
    c->timer = NULL;
    complete(c, ETIMEDOUT, "connect");
}

int mx_net_connection_cap(long long nofile_soft, int requested) {
    long long cap = nofile_soft > 2 * MX_NET_FD_RESERVE ? nofile_soft - MX_NET_FD_RESERVE : nofile_soft / 2;
    if (cap > MX_NET_MAX_CONNECTIONS) cap = MX_NET_MAX_CONNECTIONS;
    if (requested > 0 && requested < cap) cap = requested;
    return cap < 1 ? 1 : (int)cap;
}

void mx_net_connect(mx_loop *loop, const mx_addr *dst, int port, const mx_addr *src,
                    int timeout_ms, int ttl, mx_connect_cb cb, void *ud) {
    conn *c = mx_xcalloc(1, sizeof *c);
    c->loop = loop;
    c->dst = *dst;
    c->port = port;
    c->cb = cb;
    c->ud = ud;
    c->start = mx_now_ms();
    c->fd = -1;
    if (src) { c->src = *src; c->has_src = 1; }
    if (src && src->family != dst->family) { complete(c, EAFNOSUPPORT, "bind"); return; }
    int fd = socket(dst->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { complete(c, errno, "socket"); return; }
    c->fd = fd;
    int one = 1;
    if (dst->family == AF_INET) {
        setsockopt(fd, SOL_IP, IP_RECVERR, &one, sizeof one);
        if (ttl > 0) setsockopt(fd, SOL_IP, IP_TTL, &ttl, sizeof ttl);
    } else {
        setsockopt(fd, SOL_IPV6, IPV6_RECVERR, &one, sizeof one);
        if (ttl > 0) setsockopt(fd, SOL_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof ttl);
    }
    struct sockaddr_storage ss;
    socklen_t sl;
    if (src) {
        mx_addr_to_sockaddr(src, 0, &ss, &sl);
        if (bind(fd, (struct sockaddr *)&ss, sl) < 0) { complete(c, errno, "bind"); return; }
    }
    mx_addr_to_sockaddr(dst, port, &ss, &sl);
    if (connect(fd, (struct sockaddr *)&ss, sl) == 0) { complete(c, 0, NULL); return; }
    if (errno != EINPROGRESS) { complete(c, errno, "connect"); return; }
    int rc = mx_loop_watch(loop, fd, MX_EV_WRITE, on_ready, c);
    if (rc < 0) { complete(c, -rc, "watch"); return; }
    c->timer = mx_loop_timer(loop, timeout_ms, on_timeout, c);
}
