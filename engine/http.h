/* A small HTTP server on libmicrohttpd, driven from the engine's event loop:
 * MHD runs in its external epoll mode (no thread of its own, none per
 * request); its epoll descriptor is a watch of loop.c and its timeout a
 * timer. A handler answers at once or later (mx_http_respond from any loop
 * callback): until then the connection is suspended. */
#ifndef MX_HTTP_H
#define MX_HTTP_H
#include <stddef.h>
#include "loop.h"

typedef struct mx_http mx_http;
typedef struct mx_http_req mx_http_req;

/* Called once per request, when its headers are in. The request's path,
 * arguments and headers can be read only inside this call. */
typedef void (*mx_http_handler)(mx_http_req *r, void *ud);
/* A request answered later went away before its answer (server freed). */

/* Listens on addr (an IPv4 or IPv6 literal) and port. NULL with err. */
mx_http *mx_http_new(mx_loop *loop, const char *addr, int port, mx_http_handler h, void *ud, char *err, size_t errlen);
/* The port it listens on (for port 0). */
int mx_http_port(const mx_http *s);
/* Stops accepting new connections (the ones open are served). */
void mx_http_quiesce(mx_http *s);
/* Requests not yet answered. */
int mx_http_pending(const mx_http *s);
/* Closes everything; requests not yet answered must have been answered. */
void mx_http_free(mx_http *s);

const char *mx_http_method(mx_http_req *r);
const char *mx_http_path(mx_http_req *r);
/* A query-string argument (NULL: absent; "" for "?name"). */
const char *mx_http_arg(mx_http_req *r, const char *name);
/* How many times the argument name is given. */
int mx_http_arg_count(mx_http_req *r, const char *name);
const char *mx_http_header(mx_http_req *r, const char *name);
/* The peer's address as text. */
const char *mx_http_peer(mx_http_req *r);
/* Answers r (body copied). Once per request. Inside the handler or later. */
void mx_http_respond(mx_http_req *r, int status, const char *content_type, const char *body, size_t len);
/* Answers r with an extra header (e.g. Retry-After), else as above. */
void mx_http_respond_hdr(mx_http_req *r, int status, const char *content_type, const char *body, size_t len,
                         const char *hname, const char *hvalue);

#endif
