#include "tls.h"
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include "buf.h"

struct mx_tls {
    SSL *ssl;
    int fd;
    char *servername; /* NULL, or without trailing dot */
    int is_ip;
    char error[MX_TLS_ERROR_MAX];
};

static void copy_err(char *err, size_t errlen, const char *what) {
    if (!err || !errlen) return;
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    snprintf(err, errlen, "%s%s%s", what, r ? ": " : "", r ? r : "");
    ERR_clear_error();
}

SSL_CTX *mx_tls_ctx_new(const char *ca_file, char *err, size_t errlen) {
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) { copy_err(err, errlen, "cannot create TLS context"); return NULL; }
    /* Diagnosis must reach old servers to say they are old: TLS 1.0 and
     * level-0 ciphers/keys are allowed, and the report names protocol,
     * cipher and key size so rules can flag them. */
    SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
    SSL_CTX_set_security_level(ctx, 0);
    /* but never anonymous suites: a certificate is what we came to see */
    SSL_CTX_set_cipher_list(ctx, "ALL:!aNULL:!eNULL:@SECLEVEL=0");
    /* Servers without RFC 5746 are still servers; report, don't refuse. */
    SSL_CTX_set_options(ctx, SSL_OP_LEGACY_SERVER_CONNECT);
    /* Complete the handshake whatever the chain; verification results are read afterwards. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_verify_depth(ctx, MX_TLS_MAX_CHAIN);
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) ERR_clear_error(); /* no system store is not fatal */
    if (ca_file && SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
        char what[300];
        snprintf(what, sizeof what, "cannot load CA file %s", ca_file);
        copy_err(err, errlen, what);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* A socket BIO whose writes use MSG_NOSIGNAL: OpenSSL sends an alert when a
 * handshake fails, often just after the peer reset the connection, and a
 * plain write() would then kill the process with SIGPIPE. */
static int nosig_write(BIO *b, const char *buf, int len) {
    int fd = -1;
    BIO_get_fd(b, &fd);
    errno = 0;
    ssize_t n = send(fd, buf, (size_t)(len > 0 ? len : 0), MSG_NOSIGNAL);
    BIO_clear_retry_flags(b);
    if (n <= 0 && BIO_sock_should_retry((int)n)) BIO_set_retry_write(b);
    return (int)n;
}

/* Built once per process, under pthread_once: batch's workers start their
 * first STARTTLS at the same moment, and a plain "if (!m) m = new" let two
 * threads both build one (one of them lost: LeakSanitizer's intermittent
 * 106 bytes from BIO_meth_new in lab.batch_broken). */
static BIO_METHOD *nosig_m; /* lives for the process */
static pthread_once_t nosig_once = PTHREAD_ONCE_INIT;

static void nosig_build(void) {
    const BIO_METHOD *sock = BIO_s_socket();
    BIO_METHOD *nm = BIO_meth_new(BIO_TYPE_SOCKET, "mx socket");
    if (!nm) return;
    BIO_meth_set_write(nm, nosig_write);
    BIO_meth_set_read(nm, BIO_meth_get_read(sock));
    BIO_meth_set_puts(nm, BIO_meth_get_puts(sock));
    BIO_meth_set_ctrl(nm, BIO_meth_get_ctrl(sock));
    BIO_meth_set_create(nm, BIO_meth_get_create(sock));
    BIO_meth_set_destroy(nm, BIO_meth_get_destroy(sock));
    nosig_m = nm;
}

static BIO_METHOD *nosig_method(void) {
    pthread_once(&nosig_once, nosig_build);
    return nosig_m;
}

mx_tls *mx_tls_new(SSL_CTX *ctx, int fd, const char *servername) {
    ERR_clear_error();
    mx_tls *t = mx_xcalloc(1, sizeof *t);
    t->fd = fd;
    t->ssl = SSL_new(ctx);
    if (!t->ssl) goto fail;
    BIO_METHOD *bm = nosig_method();
    BIO *bio = bm ? BIO_new(bm) : NULL;
    if (!bio) goto fail;
    BIO_set_fd(bio, fd, BIO_NOCLOSE);
    SSL_set_bio(t->ssl, bio, bio);
    SSL_set_connect_state(t->ssl);
    if (servername && *servername) {
        size_t n = strlen(servername);
        if (servername[n - 1] == '.') n--;
        t->servername = mx_xstrndup(servername, n);
        unsigned char ip[16];
        t->is_ip = inet_pton(AF_INET, t->servername, ip) == 1 || inet_pton(AF_INET6, t->servername, ip) == 1;
        X509_VERIFY_PARAM *p = SSL_get0_param(t->ssl);
        if (t->is_ip) {
            /* RFC 6066: SNI carries host names only. */
            if (X509_VERIFY_PARAM_set1_ip_asc(p, t->servername) != 1) goto fail;
        } else {
            if (SSL_set_tlsext_host_name(t->ssl, t->servername) != 1) goto fail;
            X509_VERIFY_PARAM_set_hostflags(p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            if (X509_VERIFY_PARAM_set1_host(p, t->servername, 0) != 1) goto fail;
        }
    }
    return t;
fail:
    ERR_clear_error();
    mx_tls_free(t);
    return NULL;
}

void mx_tls_free(mx_tls *t) {
    if (!t) return;
    SSL_free(t->ssl);
    free(t->servername);
    free(t);
}

const char *mx_tls_error(const mx_tls *t) { return t->error; }
SSL *mx_tls_ssl(mx_tls *t) { return t->ssl; }

/* Fills t->error from the OpenSSL error queue (reasons only: the codes and
 * function names mean nothing to a postmaster), draining it. */
static void set_error(mx_tls *t, int sslerr, int saved_errno) {
    size_t off = 0;
    unsigned long e;
    t->error[0] = 0;
    while ((e = ERR_get_error()) != 0) {
        const char *r = ERR_reason_error_string(e);
        char tmp[128];
        if (!r) {
            ERR_error_string_n(e, tmp, sizeof tmp);
            r = tmp;
        }
        if (strstr(t->error, r)) continue; /* the same reason repeated adds nothing */
        int n = snprintf(t->error + off, sizeof t->error - off, "%s%s", off ? "; " : "", r);
        if (n < 0 || (size_t)n >= sizeof t->error - off) { off = sizeof t->error - 1; break; }
        off += (size_t)n;
    }
    if (off) return;
    if (sslerr == SSL_ERROR_SYSCALL)
        snprintf(t->error, sizeof t->error, "%s", saved_errno ? strerror(saved_errno) : "connection closed by peer");
    else if (sslerr == SSL_ERROR_ZERO_RETURN)
        snprintf(t->error, sizeof t->error, "peer closed the TLS session");
    else
        snprintf(t->error, sizeof t->error, "TLS error %d", sslerr);
}

static int classify(mx_tls *t, int rc) {
    int saved = errno;
    int e = SSL_get_error(t->ssl, rc);
    switch (e) {
    case SSL_ERROR_WANT_READ: return MX_TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return MX_TLS_WANT_WRITE;
    default: set_error(t, e, saved); return MX_TLS_ERROR;
    }
}

int mx_tls_handshake(mx_tls *t) {
    ERR_clear_error();
    errno = 0;
    int rc = SSL_do_handshake(t->ssl);
    if (rc == 1) return MX_TLS_OK;
    return classify(t, rc);
}

ssize_t mx_tls_read(mx_tls *t, void *buf, size_t len, int *want) {
    size_t got = 0;
    ERR_clear_error();
    errno = 0;
    int rc = SSL_read_ex(t->ssl, buf, len, &got);
    if (rc == 1) { *want = MX_TLS_OK; return (ssize_t)got; }
    if (SSL_get_error(t->ssl, rc) == SSL_ERROR_ZERO_RETURN) { *want = MX_TLS_OK; return 0; }
    *want = classify(t, rc);
    return -1;
}

ssize_t mx_tls_write(mx_tls *t, const void *buf, size_t len, int *want) {
    size_t put = 0;
    ERR_clear_error();
    errno = 0;
    int rc = SSL_write_ex(t->ssl, buf, len, &put);
    if (rc == 1) { *want = MX_TLS_OK; return (ssize_t)put; }
    *want = classify(t, rc);
    return -1;
}

void mx_tls_shutdown(mx_tls *t) {
    ERR_clear_error();
    if (SSL_is_init_finished(t->ssl)) SSL_shutdown(t->ssl);
    ERR_clear_error();
}

/* ---- facts ---- */

static mx_json *name_json(const X509_NAME *name) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio) return mx_json_null();
    X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
    char *p;
    long n = BIO_get_mem_data(bio, &p);
    if (n < 0) n = 0;
    if (n > MX_TLS_NAME_MAX) n = MX_TLS_NAME_MAX;
    mx_json *v = mx_json_strn(p, (size_t)n);
    BIO_free(bio);
    return v;
}

/* ASN1_TIME as seconds since the epoch; 0 on failure (no real cert uses 1970). */
static time_t asn1_epoch(const ASN1_TIME *a) {
    struct tm tm;
    if (!a || ASN1_TIME_to_tm(a, &tm) != 1) return 0;
    return timegm(&tm);
}

static mx_json *time_json(time_t t) {
    if (!t) return mx_json_null();
    struct tm tm;
    char s[32];
    gmtime_r(&t, &tm);
    strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return mx_json_str(s);
}

static mx_json *sans_json(X509 *cert) {
    mx_json *arr = mx_json_arr();
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    if (!names) return arr;
    int n = sk_GENERAL_NAME_num(names);
    for (int i = 0, kept = 0; i < n && kept < MX_TLS_MAX_SANS; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type == GEN_DNS) {
            const ASN1_STRING *s = g->d.dNSName;
            mx_json_push(arr, mx_json_strn((const char *)ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s)));
            kept++;
        } else if (g->type == GEN_IPADD) {
            const ASN1_OCTET_STRING *s = g->d.iPAddress;
            char txt[INET6_ADDRSTRLEN];
            int len = ASN1_STRING_length(s);
            int af = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
            if (af && inet_ntop(af, ASN1_STRING_get0_data(s), txt, sizeof txt)) {
                mx_json_push(arr, mx_json_str(txt));
                kept++;
            }
        }
    }
    GENERAL_NAMES_free(names);
    return arr;
}

/* Verifies the chain against the context's store ignoring dates and name,
 * so "untrusted" is reported on its own and not hidden behind "expired". */
static int check_trust(SSL *ssl, X509 *leaf, STACK_OF(X509) *chain, int *code) {
    X509_STORE *store = SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl));
    X509_STORE_CTX *sc = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    int ok = 0;
    *code = X509_V_ERR_UNSPECIFIED;
    if (!sc || !untrusted) goto out;
    int n = chain ? sk_X509_num(chain) : 0;
    for (int i = 0; i < n && i < MX_TLS_MAX_CHAIN; i++) sk_X509_push(untrusted, sk_X509_value(chain, i));
    if (X509_STORE_CTX_init(sc, store, leaf, untrusted) != 1) goto out;
    X509_STORE_CTX_set_default(sc, "ssl_server");
    X509_VERIFY_PARAM *p = X509_STORE_CTX_get0_param(sc);
    X509_VERIFY_PARAM_set_flags(p, X509_V_FLAG_NO_CHECK_TIME);
    X509_VERIFY_PARAM_set_depth(p, MX_TLS_MAX_CHAIN);
    ok = X509_verify_cert(sc) == 1;
    *code = ok ? X509_V_OK : X509_STORE_CTX_get_error(sc);
out:
    X509_STORE_CTX_free(sc);
    sk_X509_free(untrusted); /* the certificates belong to the SSL */
    ERR_clear_error();
    return ok;
}

static void cert_facts(mx_json *o, X509 *cert, time_t now) {
    mx_json_set(o, "subject", name_json(X509_get_subject_name(cert)));
    mx_json_set(o, "issuer", name_json(X509_get_issuer_name(cert)));
    mx_json_set(o, "sans", sans_json(cert));
    time_t nb = asn1_epoch(X509_get0_notBefore(cert));
    time_t na = asn1_epoch(X509_get0_notAfter(cert));
    mx_json_set(o, "not_before", time_json(nb));
    mx_json_set(o, "not_after", time_json(na));
    long long diff = (long long)na - (long long)now;
    long long days = diff >= 0 ? diff / 86400 : -((-diff + 86399) / 86400);
    mx_json_set(o, "days_left", mx_json_int(days));
    mx_json_set(o, "expired", mx_json_bool(now > na));
    mx_json_set(o, "not_yet_valid", mx_json_bool(now < nb));
    EVP_PKEY *pk = X509_get0_pubkey(cert);
    const char *kt = pk ? EVP_PKEY_get0_type_name(pk) : NULL;
    mx_json_set(o, "key_type", kt ? mx_json_str(kt) : mx_json_null());
    mx_json_set(o, "key_bits", mx_json_int(pk ? EVP_PKEY_get_bits(pk) : 0));
    int sig = X509_get_signature_nid(cert);
    mx_json_set(o, "signature_algorithm", sig != NID_undef ? mx_json_str(OBJ_nid2ln(sig)) : mx_json_null());
}

mx_json *mx_tls_facts(mx_tls *t, time_t now) {
    SSL *ssl = t->ssl;
    mx_json *o = mx_json_obj();
    mx_json_set(o, "protocol", mx_json_str(SSL_get_version(ssl)));
    const char *cipher = SSL_get_cipher_name(ssl);
    mx_json_set(o, "cipher", cipher ? mx_json_str(cipher) : mx_json_null());
    mx_json_set(o, "secure_renegotiation", mx_json_bool(SSL_get_secure_renegotiation_support(ssl)));
    X509 *leaf = SSL_get0_peer_certificate(ssl);
    mx_json_set(o, "certificate", mx_json_bool(leaf != NULL));
    if (!leaf) return o;
    cert_facts(o, leaf, now);

    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl); /* client side: includes the leaf */
    int n = chain ? sk_X509_num(chain) : 0;
    mx_json_set(o, "chain_length", mx_json_int(n));
    mx_json_set(o, "chain_truncated", mx_json_bool(n > MX_TLS_MAX_CHAIN));
    mx_json *ch = mx_json_set(o, "chain", mx_json_arr());
    for (int i = 0; i < n && i < MX_TLS_MAX_CHAIN; i++) {
        X509 *c = sk_X509_value(chain, i);
        mx_json *e = mx_json_push(ch, mx_json_obj());
        mx_json_set(e, "subject", name_json(X509_get_subject_name(c)));
        mx_json_set(e, "issuer", name_json(X509_get_issuer_name(c)));
        mx_json_set(e, "not_after", time_json(asn1_epoch(X509_get0_notAfter(c))));
    }

    /* What the handshake itself concluded (first error only, real clock). */
    long vr = SSL_get_verify_result(ssl);
    mx_json_set(o, "verify_ok", mx_json_bool(vr == X509_V_OK));
    mx_json_set(o, "verify_code", mx_json_int(vr));
    mx_json_set(o, "verify_result", mx_json_str(X509_verify_cert_error_string(vr)));

    /* Each problem on its own, since verification stops at the first. */
    if (t->servername) {
        int m = t->is_ip ? X509_check_ip_asc(leaf, t->servername, 0)
                         : X509_check_host(leaf, t->servername, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL);
        mx_json_set(o, "name_ok", mx_json_bool(m == 1));
    } else {
        mx_json_set(o, "name_ok", mx_json_null());
    }
    int tc;
    int trusted = check_trust(ssl, leaf, chain, &tc);
    mx_json_set(o, "trusted", mx_json_bool(trusted));
    mx_json_set(o, "trust_code", mx_json_int(tc));
    mx_json_set(o, "trust_result", mx_json_str(X509_verify_cert_error_string(tc)));
    return o;
}

void mx_tls_thread_done(void) {
    ERR_clear_error();
    OPENSSL_thread_stop();
}
