/* Client TLS over an already connected non-blocking fd, for any event loop:
 * every call returns at once and says which readiness it waits for.
 * Verification never aborts the handshake: we want to finish it and report
 * every certificate problem we can determine (trust, name, dates) as facts. */
#ifndef MX_TLS_H
#define MX_TLS_H
#include <stddef.h>
#include <sys/types.h>
#include <time.h>
#include <openssl/ssl.h>
#include "json.h"

#define MX_TLS_OK          0
#define MX_TLS_WANT_READ   1
#define MX_TLS_WANT_WRITE  2
#define MX_TLS_ERROR     (-1)

/* Peer certificates examined and re-verified; a longer chain is reported
 * (chain_length is the count sent) but only this many are used. */
#define MX_TLS_MAX_CHAIN   10
/* SAN entries reported per certificate. */
#define MX_TLS_MAX_SANS    100
/* Formatted error text, OpenSSL reasons joined with "; ". */
#define MX_TLS_ERROR_MAX   256
/* One subject/issuer string (RFC 2253 form); longer ones are cut. */
#define MX_TLS_NAME_MAX    512

typedef struct mx_tls mx_tls;

/* One context per run. ca_file NULL: default paths only (SSL_CERT_FILE and
 * SSL_CERT_DIR apply). TLS 1.0 and security level 0 are allowed on purpose:
 * an old server must be reachable so that the report can say it is old.
 * Returns NULL with a message in err on failure. */
SSL_CTX *mx_tls_ctx_new(const char *ca_file, char *err, size_t errlen);

/* servername (may be NULL) is sent as SNI unless it is an IP literal, and is
 * the name verified. The fd stays the caller's: mx_tls_free does not close it.
 * Returns NULL only when OpenSSL cannot allocate. */
mx_tls *mx_tls_new(SSL_CTX *ctx, int fd, const char *servername);

/* MX_TLS_OK when done, WANT_READ/WANT_WRITE to wait, MX_TLS_ERROR with
 * mx_tls_error() set ("wrong version number", "unexpected eof while reading"). */
int mx_tls_handshake(mx_tls *t);

/* > 0 bytes moved; 0 when the peer closed the TLS session cleanly; -1 with
 * *want = MX_TLS_WANT_READ / MX_TLS_WANT_WRITE to wait, or MX_TLS_ERROR. */
ssize_t mx_tls_read(mx_tls *t, void *buf, size_t len, int *want);
ssize_t mx_tls_write(mx_tls *t, const void *buf, size_t len, int *want);
/* Sends close_notify once; best effort, never waits. */
void mx_tls_shutdown(mx_tls *t);

const char *mx_tls_error(const mx_tls *t); /* "" when no error */
SSL *mx_tls_ssl(mx_tls *t);               /* escape hatch for tracing */

/* After a successful handshake: {protocol, cipher, secure_renegotiation,
 * certificate (bool), subject, issuer, sans: [...], not_before, not_after,
 * days_left, expired, not_yet_valid, key_type, key_bits, signature_algorithm,
 * chain_length, chain_truncated, chain: [{subject, issuer, not_after}],
 * verify_ok, verify_code, verify_result, name_ok (null without servername),
 * trusted, trust_code, trust_result}. Dates are ISO 8601 UTC; expiry is
 * judged against now, trust ignores dates and name. Caller frees. */
mx_json *mx_tls_facts(mx_tls *t, time_t now);

void mx_tls_free(mx_tls *t);

/* A thread that used TLS and is about to end (batch's worker threads):
 * OpenSSL's per-thread state (error queue, random generators) is released
 * now rather than left to the library's thread-exit hook. */
void mx_tls_thread_done(void);

#endif
