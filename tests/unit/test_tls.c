/* Runs our client against an in-process OpenSSL server over a socketpair,
 * with certificates made at test time: no files, no network, no clock games
 * beyond the "now" passed to mx_tls_facts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "tls.h"

#define DAY (24L * 3600)

typedef struct {
    EVP_PKEY *ca_key, *other_ca_key;
    X509 *ca, *other_ca;
    char ca_file[64];
} fixture;

static fixture fx;

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(cert, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

/* issuer NULL: self-signed. from/to are offsets from now, in seconds. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *san, X509 *issuer, EVP_PKEY *issuer_key,
                       long from, long to, int is_ca) {
    static long serial = 1;
    X509 *c = X509_new();
    assert_non_null(c);
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), serial++);
    X509_gmtime_adj(X509_getm_notBefore(c), from);
    X509_gmtime_adj(X509_getm_notAfter(c), to);
    X509_set_pubkey(c, key);
    X509_NAME *name = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"mxdiag test", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
    X509 *iss = issuer ? issuer : c;
    add_ext(c, iss, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    add_ext(c, iss, NID_key_usage, is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    add_ext(c, iss, NID_subject_key_identifier, "hash");
    if (!is_ca) add_ext(c, iss, NID_ext_key_usage, "serverAuth");
    if (san) add_ext(c, iss, NID_subject_alt_name, san);
    assert_true(X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
    return c;
}

static int setup(void **state) {
    (void)state;
    fx.ca_key = EVP_EC_gen("P-256");
    fx.other_ca_key = EVP_EC_gen("P-256");
    if (!fx.ca_key || !fx.other_ca_key) return -1;
    fx.ca = make_cert(fx.ca_key, "mxdiag test CA", NULL, NULL, NULL, -DAY, 365 * DAY, 1);
    fx.other_ca = make_cert(fx.other_ca_key, "unknown CA", NULL, NULL, NULL, -DAY, 365 * DAY, 1);
    strcpy(fx.ca_file, "/tmp/mxdiag-test-ca-XXXXXX");
    int fd = mkstemp(fx.ca_file);
    if (fd < 0) return -1;
    FILE *f = fdopen(fd, "w");
    PEM_write_X509(f, fx.ca);
    fclose(f);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    unlink(fx.ca_file);
    X509_free(fx.ca);
    X509_free(fx.other_ca);
    EVP_PKEY_free(fx.ca_key);
    EVP_PKEY_free(fx.other_ca_key);
    return 0;
}

static void nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

typedef struct {
    const char *cn, *san;
    long from, to;
    int untrusted_issuer;   /* signed by a CA the client does not know */
    int max_proto;          /* 0: default */
    int send_ca;            /* include the CA in the chain sent */
    const char *servername;
    const char *ca_file;    /* client side; NULL = defaults only */
} scenario;

/* Handshakes client and server in lockstep; returns the client's result and
 * its facts (NULL when the handshake failed). */
static mx_json *run(const scenario *s, char *err, size_t errlen) {
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    nonblock(sv[0]);
    nonblock(sv[1]);

    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *ca = s->untrusted_issuer ? fx.other_ca : fx.ca;
    EVP_PKEY *ca_key = s->untrusted_issuer ? fx.other_ca_key : fx.ca_key;
    X509 *leaf = make_cert(key, s->cn, s->san, ca, ca_key, s->from, s->to, 0);
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(sctx);
    SSL_CTX_set_security_level(sctx, 0);
    if (s->max_proto) SSL_CTX_set_max_proto_version(sctx, s->max_proto);
    assert_int_equal(SSL_CTX_use_certificate(sctx, leaf), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(sctx, key), 1);
    if (s->send_ca) assert_int_equal(SSL_CTX_add1_chain_cert(sctx, ca), 1);
    SSL *srv = SSL_new(sctx);
    SSL_set_fd(srv, sv[1]);
    SSL_set_accept_state(srv);

    char cerr[256] = "";
    SSL_CTX *cctx = mx_tls_ctx_new(s->ca_file, cerr, sizeof cerr);
    assert_non_null(cctx);
    mx_tls *t = mx_tls_new(cctx, sv[0], s->servername);
    assert_non_null(t);

    int crc = MX_TLS_WANT_WRITE, sdone = 0;
    for (int i = 0; i < 1000 && (crc != MX_TLS_OK || !sdone) && crc != MX_TLS_ERROR; i++) {
        if (crc != MX_TLS_OK) crc = mx_tls_handshake(t);
        if (!sdone) {
            int r = SSL_do_handshake(srv);
            if (r == 1) sdone = 1;
            else if (SSL_get_error(srv, r) != SSL_ERROR_WANT_READ && SSL_get_error(srv, r) != SSL_ERROR_WANT_WRITE)
                sdone = -1;
        }
    }
    mx_json *facts = NULL;
    if (crc == MX_TLS_OK) {
        facts = mx_tls_facts(t, time(NULL));
        /* data flows both ways after the handshake */
        int want;
        assert_int_equal(mx_tls_write(t, "EHLO x\r\n", 8, &want), 8);
        char buf[32];
        assert_int_equal(SSL_read(srv, buf, sizeof buf), 8);
        assert_int_equal(SSL_write(srv, "250 ok\r\n", 8), 8);
        assert_int_equal(mx_tls_read(t, buf, sizeof buf, &want), 8);
        assert_memory_equal(buf, "250 ok\r\n", 8);
        assert_int_equal(mx_tls_read(t, buf, sizeof buf, &want), -1);
        assert_int_equal(want, MX_TLS_WANT_READ);
        mx_tls_shutdown(t);
        assert_int_equal(SSL_read(srv, buf, sizeof buf), 0); /* close_notify seen */
    } else {
        snprintf(err, errlen, "%s", mx_tls_error(t));
    }
    mx_tls_free(t);
    SSL_CTX_free(cctx);
    SSL_free(srv);
    SSL_CTX_free(sctx);
    X509_free(leaf);
    EVP_PKEY_free(key);
    close(sv[0]);
    close(sv[1]);
    ERR_clear_error();
    return facts;
}

static int jbool(const mx_json *o, const char *k) {
    mx_json *v = mx_json_get(o, k);
    assert_non_null(v);
    assert_int_equal(v->type, MX_JBOOL);
    return v->u.b;
}
static long long jint(const mx_json *o, const char *k) {
    mx_json *v = mx_json_get(o, k);
    assert_non_null(v);
    assert_int_equal(v->type, MX_JINT);
    return v->u.i;
}

static void test_good(void **state) {
    (void)state;
    scenario s = {"mx.test", "DNS:mx.test,DNS:*.mail.test,IP:192.0.2.1", -DAY, 90 * DAY, 0, 0, 1, "mx.test", fx.ca_file};
    char err[256];
    mx_json *f = run(&s, err, sizeof err);
    assert_non_null(f);
    assert_string_equal(mx_json_get_str(f, "protocol"), "TLSv1.3");
    assert_non_null(mx_json_get_str(f, "cipher"));
    assert_true(jbool(f, "certificate"));
    assert_string_equal(mx_json_get_str(f, "subject"), "CN=mx.test,O=mxdiag test");
    assert_string_equal(mx_json_get_str(f, "issuer"), "CN=mxdiag test CA,O=mxdiag test");
    mx_json *sans = mx_json_get(f, "sans");
    assert_int_equal(sans->u.c.len, 3);
    assert_string_equal(sans->u.c.items[1]->u.str.s, "*.mail.test");
    assert_string_equal(sans->u.c.items[2]->u.str.s, "192.0.2.1");
    long long days = jint(f, "days_left");
    assert_true(days == 89 || days == 90);
    assert_false(jbool(f, "expired"));
    assert_false(jbool(f, "not_yet_valid"));
    assert_true(jbool(f, "verify_ok"));
    assert_int_equal(jint(f, "verify_code"), X509_V_OK);
    assert_true(jbool(f, "name_ok"));
    assert_true(jbool(f, "trusted"));
    assert_int_equal(jint(f, "chain_length"), 2);
    assert_false(jbool(f, "chain_truncated"));
    assert_string_equal(mx_json_get_str(f, "key_type"), "EC");
    assert_int_equal(jint(f, "key_bits"), 256);
    const char *na = mx_json_get_str(f, "not_after");
    assert_int_equal(strlen(na), 20);
    assert_int_equal(na[19], 'Z');
    assert_int_equal(na[10], 'T');
    mx_json_free(f);

    /* a wildcard name and an IP address both match; SNI is skipped for the IP */
    s.servername = "a.mail.test.";
    f = run(&s, err, sizeof err);
    assert_true(jbool(f, "name_ok"));
    assert_true(jbool(f, "verify_ok"));
    mx_json_free(f);
    s.servername = "192.0.2.1";
    f = run(&s, err, sizeof err);
    assert_true(jbool(f, "name_ok"));
    assert_true(jbool(f, "verify_ok"));
    mx_json_free(f);
    s.servername = "b.a.mail.test"; /* wildcards cover one label */
    f = run(&s, err, sizeof err);
    assert_false(jbool(f, "name_ok"));
    mx_json_free(f);
    /* no servername: name not judged */
    s.servername = NULL;
    f = run(&s, err, sizeof err);
    assert_int_equal(mx_json_get(f, "name_ok")->type, MX_JNULL);
    assert_true(jbool(f, "verify_ok"));
    mx_json_free(f);
}

/* MX_TLS_MAX_SANS: a certificate with 150 SANs lists the first 100. */
static void test_many_sans(void **state) {
    (void)state;
    char san[150 * 24] = "DNS:mx.test";
    for (int i = 1; i < 150; i++) snprintf(san + strlen(san), sizeof san - strlen(san), ",DNS:h%d.test", i);
    scenario s = {"mx.test", san, -DAY, 90 * DAY, 0, 0, 1, "mx.test", fx.ca_file};
    char err[256];
    mx_json *f = run(&s, err, sizeof err);
    assert_non_null(f);
    mx_json *sans = mx_json_get(f, "sans");
    assert_non_null(sans);
    assert_int_equal(sans->u.c.len, MX_TLS_MAX_SANS);
    assert_string_equal(sans->u.c.items[0]->u.str.s, "mx.test");
    assert_string_equal(sans->u.c.items[MX_TLS_MAX_SANS - 1]->u.str.s, "h99.test");
    assert_true(jbool(f, "name_ok"));
    mx_json_free(f);
}

static void test_expired(void **state) {
    (void)state;
    scenario s = {"mx.test", "DNS:mx.test", -30 * DAY, -2 * DAY, 0, 0, 0, "mx.test", fx.ca_file};
    char err[256];
    mx_json *f = run(&s, err, sizeof err);
    assert_non_null(f);
    assert_true(jbool(f, "expired"));
    assert_true(jint(f, "days_left") <= -2);
    assert_false(jbool(f, "verify_ok"));
    assert_int_equal(jint(f, "verify_code"), X509_V_ERR_CERT_HAS_EXPIRED);
    assert_string_equal(mx_json_get_str(f, "verify_result"), "certificate has expired");
    assert_true(jbool(f, "name_ok"));
    assert_true(jbool(f, "trusted"));   /* trust judged apart from dates */
    assert_int_equal(jint(f, "chain_length"), 1);
    mx_json_free(f);
}

static void test_wrong_name(void **state) {
    (void)state;
    scenario s = {"other.test", "DNS:other.test", -DAY, 30 * DAY, 0, 0, 0, "mx.test", fx.ca_file};
    char err[256];
    mx_json *f = run(&s, err, sizeof err);
    assert_non_null(f);
    assert_false(jbool(f, "name_ok"));
    assert_false(jbool(f, "verify_ok"));
    assert_int_equal(jint(f, "verify_code"), X509_V_ERR_HOSTNAME_MISMATCH);
    assert_true(jbool(f, "trusted"));
    assert_false(jbool(f, "expired"));
    mx_json_free(f);

    /* a matching CN does not count when the certificate has DNS SANs (RFC 6125) */
    s.cn = "mx.test";
    f = run(&s, err, sizeof err);
    assert_false(jbool(f, "name_ok"));
    mx_json_free(f);
}

static void test_everything_wrong(void **state) {
    (void)state;
    /* expired, wrong name, unknown issuer: all three reported */
    scenario s = {"other.test", "DNS:other.test", -30 * DAY, -DAY, 1, 0, 0, "mx.test", fx.ca_file};
    char err[256];
    mx_json *f = run(&s, err, sizeof err);
    assert_non_null(f);
    assert_true(jbool(f, "expired"));
    assert_false(jbool(f, "name_ok"));
    assert_false(jbool(f, "trusted"));
    assert_int_equal(jint(f, "trust_code"), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    assert_false(jbool(f, "verify_ok"));
    mx_json_free(f);

    /* our CA, but the client does not know it (default paths only) */
    scenario u = {"mx.test", "DNS:mx.test", -DAY, 30 * DAY, 0, 0, 0, "mx.test", NULL};
    f = run(&u, err, sizeof err);
    assert_non_null(f);
    assert_false(jbool(f, "trusted"));
    assert_true(jbool(f, "name_ok"));
    assert_false(jbool(f, "expired"));
    mx_json_free(f);
}

static void test_tls12(void **state) {
    (void)state;
    scenario s = {"mx.test", "DNS:mx.test", -DAY, 30 * DAY, 0, TLS1_2_VERSION, 0, "mx.test", fx.ca_file};
    char err[256];
    mx_json *f = run(&s, err, sizeof err);
    assert_non_null(f);
    assert_string_equal(mx_json_get_str(f, "protocol"), "TLSv1.2");
    assert_true(jbool(f, "secure_renegotiation"));
    assert_true(jbool(f, "verify_ok"));
    mx_json_free(f);

    /* an old server is reached and named, not refused */
    s.max_proto = TLS1_VERSION;
    f = run(&s, err, sizeof err);
    assert_non_null(f);
    assert_string_equal(mx_json_get_str(f, "protocol"), "TLSv1");
    mx_json_free(f);
}

/* The peer is not speaking TLS (a plain SMTP greeting on the port). */
static void test_garbage(void **state) {
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    nonblock(sv[0]);
    char err[256];
    SSL_CTX *ctx = mx_tls_ctx_new(NULL, err, sizeof err);
    assert_non_null(ctx);
    mx_tls *t = mx_tls_new(ctx, sv[0], "mx.test");
    assert_int_equal(mx_tls_handshake(t), MX_TLS_WANT_READ);
    const char *greeting = "220 mx.test ESMTP Postfix\r\n";
    assert_int_equal(write(sv[1], greeting, strlen(greeting)), (ssize_t)strlen(greeting));
    assert_int_equal(mx_tls_handshake(t), MX_TLS_ERROR);
    assert_string_equal(mx_tls_error(t), "wrong version number");
    mx_tls_free(t);
    close(sv[0]);
    close(sv[1]);

    /* the peer hangs up during the handshake */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    nonblock(sv[0]);
    t = mx_tls_new(ctx, sv[0], "mx.test");
    assert_int_equal(mx_tls_handshake(t), MX_TLS_WANT_READ);
    char hello[4096];
    assert_true(read(sv[1], hello, sizeof hello) > 0); /* unread data would turn the close into a reset */
    close(sv[1]);
    assert_int_equal(mx_tls_handshake(t), MX_TLS_ERROR);
    assert_string_equal(mx_tls_error(t), "unexpected eof while reading");
    mx_tls_free(t);
    close(sv[0]);

    /* the peer resets: the system error is the message */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    nonblock(sv[0]);
    t = mx_tls_new(ctx, sv[0], "mx.test");
    assert_int_equal(mx_tls_handshake(t), MX_TLS_WANT_READ);
    close(sv[1]);
    assert_int_equal(mx_tls_handshake(t), MX_TLS_ERROR);
    assert_string_equal(mx_tls_error(t), "Connection reset by peer");
    mx_tls_free(t);
    close(sv[0]);
    SSL_CTX_free(ctx);
}

static void test_ctx_errors(void **state) {
    (void)state;
    char err[256] = "";
    assert_null(mx_tls_ctx_new("/nonexistent/ca.pem", err, sizeof err));
    assert_non_null(strstr(err, "cannot load CA file /nonexistent/ca.pem"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good), cmocka_unit_test(test_many_sans),   cmocka_unit_test(test_expired), cmocka_unit_test(test_wrong_name),
        cmocka_unit_test(test_everything_wrong), cmocka_unit_test(test_tls12), cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_ctx_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
