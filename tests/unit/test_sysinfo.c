/* engine/sysinfo.c: the /proc/net/tcp parser, the config-file allow-list,
 * the "denied" classifier, and listeners/commands read from a fixture root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "sysinfo.h"
#include "loop.h"

static void addr_is(const mx_addr *a, const char *want) {
    char s[64];
    mx_addr_format(a, s, sizeof s);
    assert_string_equal(s, want);
}

static void test_parse_v4(void **st) {
    (void)st;
    mx_proc_sock s;
    assert_int_equal(mx_proc_tcp_parse_line("   0: 0100007F:0019 00000000:0000 0A 00000000:00000000 00:00000000 "
                                            "00000000     0        0 41001 1 0000000000000000 100 0 0 10 0\n", 0, &s), 0);
    addr_is(&s.local, "127.0.0.1");
    assert_int_equal(s.port, 25);
    assert_int_equal(s.state, 0x0A);
    assert_int_equal(s.inode, 41001);
    assert_int_equal(s.uid, 0);
    /* 192.0.2.10:587, established, uid 108 */
    assert_int_equal(mx_proc_tcp_parse_line("  12: 0A0200C0:024B 0A0200C6:D431 01 00000000:00000000 02:000A3E2B "
                                            "00000000   108        0 987654 2 0000000000000000 20 4 30 10 -1", 0, &s), 0);
    addr_is(&s.local, "192.0.2.10");
    assert_int_equal(s.port, 587);
    assert_int_equal(s.state, 1);
    assert_int_equal(s.uid, 108);
    assert_int_equal(s.inode, 987654);
}

static void test_parse_v6(void **st) {
    (void)st;
    mx_proc_sock s;
    assert_int_equal(mx_proc_tcp_parse_line("   0: 00000000000000000000000001000000:0019 00000000000000000000000000000000:0000 "
                                            "0A 00000000:00000000 00:00000000 00000000     0        0 41003 1 0 100 0 0 10 0", 1, &s), 0);
    addr_is(&s.local, "::1");
    assert_int_equal(s.port, 25);
    /* 2001:db8::25 */
    assert_int_equal(mx_proc_tcp_parse_line("   1: B80D0120000000000000000025000000:01D1 00000000000000000000000000000000:0000 "
                                            "0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0 100 0 0 10 0", 1, &s), 0);
    addr_is(&s.local, "2001:db8::25");
    assert_int_equal(s.port, 465);
    /* a v4 line is not a v6 line */
    assert_int_equal(mx_proc_tcp_parse_line("   0: 0100007F:0019 00000000:0000 0A 00000000:00000000 00:00000000 "
                                            "00000000     0        0 41001 1", 1, &s), -1);
}

static void test_parse_bad(void **st) {
    (void)st;
    mx_proc_sock s;
    assert_int_equal(mx_proc_tcp_parse_line("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode", 0, &s), -1);
    assert_int_equal(mx_proc_tcp_parse_line("", 0, &s), -1);
    assert_int_equal(mx_proc_tcp_parse_line("   0: 0100007G:0019 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1", 0, &s), -1);
    assert_int_equal(mx_proc_tcp_parse_line("   0: 0100007F:0019 00000000:0000 0A", 0, &s), -1);
    assert_int_equal(mx_proc_tcp_parse_line("   0: 0100007F:19 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1", 0, &s), -1);
    assert_int_equal(mx_proc_tcp_parse_line("   0 0100007F:0019 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1", 0, &s), -1);
}

static void test_paths(void **st) {
    (void)st;
    const char *why;
    const char *extra[] = {"/srv/mail-conf"};
    assert_true(mx_sys_path_allowed("/etc/postfix/main.cf", NULL, 0, &why));
    assert_true(mx_sys_path_allowed("/etc/postfix/master.cf", NULL, 0, &why));
    assert_true(mx_sys_path_allowed("/etc/csf/csf.conf", NULL, 0, &why));
    assert_true(mx_sys_path_allowed("/etc/ufw/user.rules", NULL, 0, &why));
    assert_true(mx_sys_path_allowed("/etc/default/ufw", NULL, 0, &why));
    assert_true(mx_sys_path_allowed("/etc/exim4/update-exim4.conf.conf", NULL, 0, &why));
    assert_true(mx_sys_path_allowed("/etc/exim4/exim4.conf.template", NULL, 0, &why));
    assert_true(mx_sys_path_allowed("/etc/ufw/user6.rules", NULL, 0, &why));
    assert_true(mx_sys_path_allowed("/srv/mail-conf/x.cf", extra, 1, &why));
    assert_true(mx_sys_path_allowed("/srv/mail-conf/sub/main.cf", extra, 1, &why));
    assert_string_equal(mx_sys_path_base("/srv/mail-conf/x.cf", extra, 1), "/srv/mail-conf");
    assert_null(mx_sys_path_base("/etc/postfix/main.cf", extra, 1));
    /* exact names, not directories: Exim's credentials and key sit beside its configuration */
    assert_false(mx_sys_path_allowed("/etc/exim4/passwd.client", NULL, 0, &why));
    assert_false(mx_sys_path_allowed("/etc/exim4/exim.key", NULL, 0, &why));
    assert_false(mx_sys_path_allowed("/etc/exim4/conf.d/main/02_exim4-config_options", NULL, 0, &why));
    assert_false(mx_sys_path_allowed("/etc/ufw/before.rules", NULL, 0, &why));
    /* secrets are never read, not even under a --config-dir */
    assert_false(mx_sys_path_allowed("/srv/mail-conf/passwd.client", extra, 1, &why));
    assert_non_null(strstr(why, "credentials"));
    assert_false(mx_sys_path_allowed("/srv/mail-conf/exim.key", extra, 1, &why));
    assert_false(mx_sys_path_allowed("/srv/mail-conf/tls/cert+key.PEM", extra, 1, &why));
    assert_false(mx_sys_path_allowed("/srv/mail-conf/sasl_passwd.db", extra, 1, &why));
    assert_false(mx_sys_path_allowed("/srv/mail-conf/private/dkim.txt", extra, 1, &why));
    assert_false(mx_sys_path_allowed("/srv/mail-conf/shadow", extra, 1, &why));
    assert_false(mx_sys_path_allowed("/etc/shadow", NULL, 0, &why));
    assert_false(mx_sys_path_allowed("/etc/postfix/sasl_passwd", NULL, 0, &why));
    assert_false(mx_sys_path_allowed("/etc/ufw/../shadow", NULL, 0, &why));
    assert_false(mx_sys_path_allowed("/etc/ufw/..", NULL, 0, &why));
    assert_false(mx_sys_path_allowed("/etc/ufw", NULL, 0, &why));
    assert_false(mx_sys_path_allowed("/etc/ufwx/user.rules", NULL, 0, &why));
    assert_false(mx_sys_path_allowed("etc/csf/csf.conf", NULL, 0, &why));
    assert_false(mx_sys_path_allowed("/etc//csf/csf.conf", NULL, 0, &why));
    assert_false(mx_sys_path_allowed("/srv/mail-conf/x.cf", NULL, 0, &why));
    assert_false(mx_sys_path_allowed("/srv/mail-conf-other/x.cf", extra, 1, &why));
}

static void put(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A planted symbolic link never redirects a read: not as the file, not as a
 * directory on the way; the root and a --config-dir may be links. */
static void test_read_no_links(void **st) {
    (void)st;
    char root[] = "/tmp/mxsysXXXXXX", p[1024], q[1024];
    assert_non_null(mkdtemp(root));
    snprintf(p, sizeof p, "%s/etc", root); mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/etc/postfix", root); mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/secret", root); put(p, "SECRET=1\n");
    snprintf(p, sizeof p, "%s/etc/postfix/main.cf", root); put(p, "inet_interfaces = all\n");
    mx_json *r = mx_sys_read_file(root, "/etc/postfix/main.cf", NULL);
    assert_string_equal(mx_json_get_str(r, "content"), "inet_interfaces = all\n");
    mx_json_free(r);
    /* the file a link to a secret */
    snprintf(p, sizeof p, "%s/etc/postfix/master.cf", root);
    snprintf(q, sizeof q, "%s/secret", root);
    assert_int_equal(symlink(q, p), 0);
    r = mx_sys_read_file(root, "/etc/postfix/master.cf", NULL);
    assert_string_equal(mx_json_get_str(r, "error"), "denied");
    assert_null(mx_json_get(r, "content"));
    mx_json_free(r);
    /* a directory on the way a link: /etc/csf -> a directory holding the secret as csf.conf */
    snprintf(p, sizeof p, "%s/elsewhere", root); mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/elsewhere/csf.conf", root); put(p, "SECRET=2\n");
    snprintf(p, sizeof p, "%s/etc/csf", root);
    snprintf(q, sizeof q, "%s/elsewhere", root);
    assert_int_equal(symlink(q, p), 0);
    r = mx_sys_read_file(root, "/etc/csf/csf.conf", NULL);
    assert_string_equal(mx_json_get_str(r, "error"), "denied");
    assert_non_null(strstr(mx_json_get_str(r, "detail"), "symbolic link"));
    mx_json_free(r);
    /* /proc/self/environ through a link in the root */
    snprintf(p, sizeof p, "%s/etc/nftables.conf", root);
    assert_int_equal(symlink("/proc/self/environ", p), 0);
    r = mx_sys_read_file(root, "/etc/nftables.conf", NULL);
    assert_string_equal(mx_json_get_str(r, "error"), "denied");
    mx_json_free(r);
    /* a --config-dir that is itself a link is fine; a link below it is not */
    char cfg[600];
    snprintf(cfg, sizeof cfg, "%s/cfglink", root);
    snprintf(q, sizeof q, "%s/elsewhere", root);
    assert_int_equal(symlink(q, cfg), 0);
    snprintf(p, sizeof p, "%s/elsewhere/env", root);
    assert_int_equal(symlink("/proc/self/environ", p), 0);
    const char *extra[] = {cfg};
    const char *why;
    snprintf(p, sizeof p, "%s/csf.conf", cfg);
    assert_true(mx_sys_path_allowed(p, extra, 1, &why));
    r = mx_sys_read_file("", p, mx_sys_path_base(p, extra, 1));
    assert_string_equal(mx_json_get_str(r, "content"), "SECRET=2\n");
    mx_json_free(r);
    snprintf(p, sizeof p, "%s/env", cfg);
    r = mx_sys_read_file("", p, mx_sys_path_base(p, extra, 1));
    assert_string_equal(mx_json_get_str(r, "error"), "denied");
    mx_json_free(r);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

static void test_classify(void **st) {
    (void)st;
    assert_null(mx_sys_classify_failure(0, "Permission denied"));
    assert_string_equal(mx_sys_classify_failure(1, "Operation not permitted (you must be root)\n"), "denied");
    assert_string_equal(mx_sys_classify_failure(4, "iptables-save v1.8.9 (nf_tables): Could not fetch rule set generation id: "
                                                   "Permission denied (you must be root)"), "denied");
    assert_null(mx_sys_classify_failure(1, "postconf: fatal: open /etc/postfix/main.cf: No such file or directory"));
}

static void test_fixture_root(void **st) {
    (void)st;
    const char *root = MXDIAG_TEST_DATA "/local/csf-smtpblock";
    int ports[] = {25};
    mx_json *r = mx_sys_listeners(root, ports, 1);
    mx_json *l = mx_json_get(r, "listeners");
    assert_non_null(l);
    assert_int_equal(l->u.c.len, 2);
    assert_string_equal(mx_json_get_str(l->u.c.items[0], "address"), "127.0.0.1");
    assert_string_equal(mx_json_get_str(l->u.c.items[1], "address"), "::1");
    assert_null(mx_json_get(r, "error"));
    mx_json_free(r);
    r = mx_sys_listeners(MXDIAG_TEST_DATA "/local/nodata", ports, 1);
    assert_non_null(mx_json_get(r, "error"));
    mx_json_free(r);

    r = mx_sys_read_file(root, "/etc/csf/csf.conf", NULL);
    assert_non_null(mx_json_get_str(r, "content"));
    assert_non_null(strstr(mx_json_get_str(r, "content"), "SMTP_BLOCK = \"1\""));
    mx_json_free(r);
    r = mx_sys_read_file(root, "/etc/postfix/main.cf", NULL);
    assert_string_equal(mx_json_get_str(r, "error"), "missing");
    mx_json_free(r);

    const char *ipt = MXDIAG_TEST_DATA "/local/ipt-reject";
    r = mx_sys_run(ipt, mx_sys_cmd_find("iptables_save"), 1000);
    assert_non_null(strstr(mx_json_get_str(r, "stdout"), "-A OUT-SMTP -j REJECT"));
    mx_json_free(r);
    r = mx_sys_run(ipt, mx_sys_cmd_find("nft_ruleset"), 1000);
    assert_string_equal(mx_json_get_str(r, "error"), "denied");
    mx_json_free(r);
    r = mx_sys_run(ipt, mx_sys_cmd_find("postconf_n"), 1000);
    assert_string_equal(mx_json_get_str(r, "error"), "missing");
    mx_json_free(r);
    assert_null(mx_sys_cmd_find("sh"));
}

static void got_result(mx_json *r, void *ud) { *(mx_json **)ud = r; }

/* sys.run without blocking: the result comes from the loop, never inline,
 * for a fixture, a missing program and a real command (nft: its output as
 * root, "denied" otherwise, "missing" where it is not installed). */
static void test_run_async(void **st) {
    (void)st;
    mx_loop *loop = mx_loop_new();
    mx_json *r = NULL;
    mx_sys_run_async(loop, MXDIAG_TEST_DATA "/local/ipt-reject", mx_sys_cmd_find("iptables_save"), 1000, got_result, &r);
    assert_null(r);
    for (int i = 0; i < 100 && !r; i++) mx_loop_run_once(loop, 100);
    assert_non_null(r);
    assert_non_null(strstr(mx_json_get_str(r, "stdout"), "-A OUT-SMTP -j REJECT"));
    mx_json_free(r);

    r = NULL;
    mx_sys_run_async(loop, "", mx_sys_cmd_find("nft_ruleset"), 5000, got_result, &r);
    assert_null(r);
    for (int i = 0; i < 100 && !r; i++) mx_loop_run_once(loop, 100);
    assert_non_null(r);
    const char *err = mx_json_get_str(r, "error");
    if (!err) {
        assert_int_equal(mx_json_get(r, "status")->u.i, 0);
        assert_non_null(strstr(mx_json_get_str(r, "stdout"), "\"nftables\""));
    } else {
        assert_true(!strcmp(err, "denied") || !strcmp(err, "missing"));
    }
    mx_json_free(r);
    assert_int_equal(mx_loop_busy(loop), 0);
    mx_loop_free(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_v4), cmocka_unit_test(test_parse_v6), cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_paths), cmocka_unit_test(test_read_no_links),    cmocka_unit_test(test_classify), cmocka_unit_test(test_fixture_root), cmocka_unit_test(test_run_async),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
