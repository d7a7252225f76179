/* Inputs found by the fuzz harnesses in tests/fuzz/ (each test names the
 * harness and what went wrong), and tests that hit the resource limits listed
 * in RULES.md "## Limits" that no other unit test reaches. Meant to run under
 * the ASan/UBSan build too (.ci/run), where the original faults show. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include "batch_input.h"
#include "dnsmsg.h"
#include "json.h"
#include "logparse.h"
#include "logread.h"
#include "loop.h"
#include "runtime.h"
#include "stream.h"

/* A memory file holding data; returns its fd (at offset 0). */
static int memfile(const void *data, size_t n) {
    int fd = memfd_create("mxdiag-test", 0);
    assert_true(fd >= 0);
    if (n) assert_int_equal(write(fd, data, n), (ssize_t)n);
    lseek(fd, 0, SEEK_SET);
    return fd;
}

/* ---- found by fuzzing ------------------------------------------------------- */

static void on_done(mx_stream *s, mx_stream_status st, void *ud) {
    (void)s;
    *(int *)ud = (int)st + 1;
}

/* fuzz_smtp_stream: the first read_reply on a new stream scanned for a line
 * end at NULL + 0 (the receive buffer is allocated on the first read), which
 * is undefined behaviour that UBSan reports (engine/stream.c take_line). */
static void stream_first_read_on_empty_buffer(void **state) {
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    mx_loop *loop = mx_loop_new();
    mx_stream *s = mx_stream_new(loop, sv[0], NULL);
    static const char greeting[] = "220 hi\0there\x1b[31m\r\n";
    assert_int_equal(write(sv[1], greeting, sizeof greeting - 1), (ssize_t)(sizeof greeting - 1));
    int done = 0;
    mx_stream_read_reply(s, 2000, on_done, &done);
    int64_t until = mx_now_ms() + 2000;
    while (!done && mx_now_ms() < until) mx_loop_run_once(loop, 20);
    assert_int_equal(done, MX_STREAM_OK + 1);
    const mx_smtp_reply *r = mx_stream_reply(s);
    assert_int_equal(r->code, 220);
    assert_int_equal(r->binary, 1);
    assert_int_equal(r->lines[0].len, 13);
    mx_stream_free(s);
    close(sv[1]);
    while (mx_loop_busy(loop)) mx_loop_run_once(loop, 0);
    mx_loop_free(loop);
}

/* fuzz_logread: an over-long last line without '\n' was skipped but its tail
 * (what arrived after the skip started) was not counted in
 * mx_log_reader_bytes, so progress and statistics came out short. */
static void logread_counts_long_last_line(void **state) {
    (void)state;
    size_t n = 3 * MX_LOG_MAX_LINE + 123;
    char *data = malloc(n);
    memset(data, 'x', n);
    memcpy(data, "short\n", 6);
    mx_log_reader *r = mx_log_reader_fdopen(memfile(data, n), 1, "long-tail");
    const char *line;
    size_t len;
    assert_int_equal(mx_log_reader_next(r, &line, &len), 1);
    assert_int_equal(len, 5);
    assert_int_equal(mx_log_reader_next(r, &line, &len), 0);
    assert_int_equal(mx_log_reader_long_lines(r), 1);
    assert_int_equal(mx_log_reader_bytes(r), n);
    mx_log_reader_close(r);
    free(data);
}

/* fuzz_batch_input: a YAML file whose defaults: map was read before a syntax
 * error leaked the map: mx_batch_begin returned FATAL with *defaults set,
 * and neither mxdiag batch nor mx_batch_count frees it on that path. */
static void batch_fatal_after_defaults_frees_them(void **state) {
    (void)state;
    static const char yaml[] = "defaults:\n  timeout: 5\n  only: [mx]\ndomains: [a.test,\n  - b\n";
    int fd = memfile(yaml, sizeof yaml - 1);
    char path[64], err[512] = "";
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    mx_batch_input *in = mx_batch_open(path, 0, err, sizeof err);
    assert_non_null(in);
    mx_json *defaults = (mx_json *)1;
    int rc = mx_batch_begin(in, &defaults, err, sizeof err);
    if (rc == MX_BATCH_ENTRY) {
        /* libyaml may report the error only on the next event */
        mx_json_free(defaults);
        mx_batch_entry e;
        memset(&e, 0, sizeof e);
        while ((rc = mx_batch_next(in, &e, err, sizeof err)) == MX_BATCH_ENTRY || rc == MX_BATCH_BAD)
            mx_batch_entry_clear(&e);
        assert_int_equal(rc, MX_BATCH_FATAL);
    } else {
        assert_int_equal(rc, MX_BATCH_FATAL);
        assert_null(defaults);
    }
    assert_true(err[0]);
    mx_batch_close(in);
    mx_batch_count(path, 0); /* must not leak either (LeakSanitizer) */
    close(fd);
}

/* Same, with the error in the top-level map right after defaults:. */
static void batch_duplicate_defaults_frees_first(void **state) {
    (void)state;
    static const char yaml[] = "defaults:\n  timeout: 5\ndefaults:\n  timeout: 6\ndomains: [a.test]\n";
    int fd = memfile(yaml, sizeof yaml - 1);
    char path[64], err[512] = "";
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    mx_batch_input *in = mx_batch_open(path, 0, err, sizeof err);
    assert_non_null(in);
    mx_json *defaults = NULL;
    assert_int_equal(mx_batch_begin(in, &defaults, err, sizeof err), MX_BATCH_FATAL);
    assert_null(defaults);
    assert_non_null(strstr(err, "duplicate"));
    mx_batch_close(in);
    close(fd);
}

/* fuzz_logparse: "[addr]:PORT" took up to six digits, so a garbled Exim or
 * Postfix line reported port 171250 as the remote port. Out-of-range digits
 * are no port (0, "not logged"). */
static void logparse_port_out_of_range(void **state) {
    (void)state;
    mx_log_parser p;
    mx_log_parser_init(&p, 1710072000, 1);
    mx_log_event ev;
    const char *exim = "2024-03-01 10:42:00 1rfXyz-000123-AB => x@example.net R=dnslookup T=remote_smtp "
                       "H=mx.example.net [198.51.100.1]:171250 C=\"250 ok\"";
    assert_int_equal(mx_log_parse_line(&p, exim, strlen(exim), &ev), MX_LOG_EVENT);
    assert_int_equal(ev.port, 0);
    const char *ok = "2024-03-01 10:42:00 1rfXyz-000123-AB => x@example.net R=dnslookup T=remote_smtp "
                     "H=mx.example.net [198.51.100.1]:2525 C=\"250 ok\"";
    assert_int_equal(mx_log_parse_line(&p, ok, strlen(ok), &ev), MX_LOG_EVENT);
    assert_int_equal(ev.port, 2525);
    const char *pf = "Mar  5 15:51:11 mail postfix/smtp[1234]: 3F2A81C0A2: to=<u@example.com>, "
                     "relay=mx1.example.com[192.0.2.10]:99999, delay=1, dsn=2.0.0, status=sent (250 ok)";
    assert_int_equal(mx_log_parse_line(&p, pf, strlen(pf), &ev), MX_LOG_EVENT);
    assert_int_equal(ev.port, 0);
}

/* fuzz_logparse: an Exim delivery line that ends right after its arrow has an
 * empty recipient pointing one past the line; exim_parent_address read its
 * first byte (heap-buffer-overflow under ASan). The line is copied into a heap
 * block of its exact length so the sanitizer build sees any read past it. */
static void logparse_exim_empty_recipient(void **state) {
    (void)state;
    const char *lines[] = {"2024-03-01 10:42:00 1rfXyz-000123-AB => ",
                           "2024-03-01 10:42:00 1rfXyz-000123-AB ** ",
                           "2024-03-01 10:42:00 1rfXyz-000123-AB -> :",
                           "2024-03-01 10:42:00 1rfXyz-000123-AB == ,"};
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        mx_log_parser p;
        mx_log_parser_init(&p, 1710072000, 1);
        size_t n = strlen(lines[i]);
        char *line = malloc(n);
        assert_non_null(line);
        memcpy(line, lines[i], n);
        mx_log_event ev;
        mx_log_result r = mx_log_parse_line(&p, line, n, &ev);
        /* a delivery ("=>", "->") must name its router: not an event; a bounce or
         * deferral with no address is at most an event with an empty recipient */
        if (lines[i][37] == '=' && lines[i][38] == '>') assert_int_not_equal(r, MX_LOG_EVENT);
        if (lines[i][37] == '-') assert_int_not_equal(r, MX_LOG_EVENT);
        if (r == MX_LOG_EVENT) assert_int_equal(ev.recipient.n, 0);
        free(line);
    }
}

/* ---- limits without another test -------------------------------------------- */

/* DNS message builder: header + question for qname/qtype, then records. */
typedef struct { unsigned char b[70000]; size_t n; } pkt;

static void put16(pkt *p, unsigned v) { p->b[p->n++] = (unsigned char)(v >> 8); p->b[p->n++] = (unsigned char)v; }
static void put32(pkt *p, unsigned long v) { put16(p, (unsigned)(v >> 16)); put16(p, (unsigned)(v & 0xffff)); }
static void put_name(pkt *p, const char *name) {
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t l = dot ? (size_t)(dot - name) : strlen(name);
        p->b[p->n++] = (unsigned char)l;
        memcpy(p->b + p->n, name, l);
        p->n += l;
        name += l + (dot ? 1 : 0);
    }
    p->b[p->n++] = 0;
}
static void pkt_start(pkt *p, const char *qname, int qtype, unsigned ancount) {
    p->n = 0;
    put16(p, 0x1234); put16(p, 0x8180); put16(p, 1); put16(p, ancount); put16(p, 0); put16(p, 0);
    put_name(p, qname);
    put16(p, (unsigned)qtype); put16(p, 1);
}
static void rr_start(pkt *p, const char *owner, int type, unsigned rdlen) {
    put_name(p, owner);
    put16(p, (unsigned)type); put16(p, 1); put32(p, 300); put16(p, rdlen);
}

/* MX_DNS_MAX_TXT: a TXT record of many character-strings is cut, not grown. */
static void dns_txt_capped(void **state) {
    (void)state;
    pkt *p = calloc(1, sizeof *p);
    unsigned strings = 40; /* 40 * 255 = 10200 bytes > MX_DNS_MAX_TXT */
    pkt_start(p, "big.example.test", 16, 1);
    rr_start(p, "big.example.test", 16, strings * 256);
    for (unsigned i = 0; i < strings; i++) {
        p->b[p->n++] = 255;
        memset(p->b + p->n, 'a' + (int)(i % 26), 255);
        p->n += 255;
    }
    mx_json *o = mx_json_obj();
    const char *why = NULL;
    assert_int_equal(mx_dns_decode(p->b, p->n, "big.example.test", 16, o, &why), 0);
    mx_json *ans = mx_json_get(o, "answers");
    assert_int_equal(ans->u.c.len, 1);
    const mx_json *d = mx_json_get(ans->u.c.items[0], "data");
    assert_int_equal(d->u.str.len, MX_DNS_MAX_TXT);
    mx_json_free(o);
    free(p);
}

/* MX_DNS_MAX_ANSWERS: records past the cap are counted in answers_dropped. */
static void dns_answers_capped(void **state) {
    (void)state;
    pkt *p = calloc(1, sizeof *p);
    unsigned n = MX_DNS_MAX_ANSWERS + 44;
    pkt_start(p, "many.example.test", 1, n);
    for (unsigned i = 0; i < n; i++) {
        p->b[p->n++] = 0xc0; p->b[p->n++] = 12; /* owner: the question name */
        put16(p, 1); put16(p, 1); put32(p, 60); put16(p, 4);
        put32(p, 0xc0000200ul + (i & 0xff));
    }
    mx_json *o = mx_json_obj();
    assert_int_equal(mx_dns_decode(p->b, p->n, "many.example.test", 1, o, NULL), 0);
    assert_int_equal(mx_json_get(o, "answers")->u.c.len, MX_DNS_MAX_ANSWERS);
    assert_int_equal(mx_json_get(o, "answers_dropped")->u.i, 44);
    mx_json_free(o);
    free(p);
}

/* MX_DNS_MAX_CNAME_CHAIN: a longer chain (or a loop) is followed no further. */
static void dns_cname_chain_capped(void **state) {
    (void)state;
    pkt *p = calloc(1, sizeof *p);
    unsigned hops = MX_DNS_MAX_CNAME_CHAIN + 5;
    pkt_start(p, "c0.example.test", 1, hops + 1);
    char owner[64], target[64];
    for (unsigned i = 0; i < hops; i++) {
        snprintf(owner, sizeof owner, "c%u.example.test", i);
        snprintf(target, sizeof target, "c%u.example.test", i + 1);
        rr_start(p, owner, 5, (unsigned)strlen(target) + 2);
        put_name(p, target);
    }
    rr_start(p, target, 1, 4);
    put32(p, 0xc0000201ul);
    mx_json *o = mx_json_obj();
    mx_dns_decode(p->b, p->n, "c0.example.test", 1, o, NULL);
    assert_int_equal(mx_json_get(o, "cname")->u.c.len, MX_DNS_MAX_CNAME_CHAIN);
    mx_json *ans = mx_json_get(o, "answers");
    assert_true(!ans || ans->u.c.len == 0); /* the address at the far end is not reached */
    mx_json_free(o);

    /* a CNAME loop ends at the same cap */
    pkt_start(p, "loop.example.test", 1, 1);
    rr_start(p, "loop.example.test", 5, 19);
    put_name(p, "loop.example.test");
    o = mx_json_obj();
    mx_dns_decode(p->b, p->n, "loop.example.test", 1, o, NULL);
    assert_int_equal(mx_json_get(o, "cname")->u.c.len, MX_DNS_MAX_CNAME_CHAIN);
    mx_json_free(o);
    free(p);
}

/* Rule files: the instruction budget and the Lua heap cap also hold while a
 * rule file's top level runs (load time), not only inside run(). */
static char rdir[64];

static int load_rule_text(const char *text, char *err, size_t errlen) {
    char path[128];
    snprintf(path, sizeof path, "%s/10-limit.lua", rdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    mx_rt_opts o;
    memset(&o, 0, sizeof o);
    o.shipped_dir = rdir;
    o.timeout_ms = 1000;
    o.resolvers = "127.0.0.1:53";
    mx_rt *rt = mx_rt_new(&o, err, errlen);
    assert_non_null(rt);
    int rc = mx_rt_load_rules(rt, err, errlen);
    mx_rt_free(rt);
    unlink(path);
    return rc;
}

static void rule_load_instruction_budget(void **state) {
    (void)state;
    char err[1024] = "";
    int64_t t0 = mx_now_ms();
    assert_int_equal(load_rule_text("while true do end\n", err, sizeof err), -1);
    assert_non_null(strstr(err, "instruction budget"));
    assert_non_null(strstr(err, "10-limit.lua"));
    assert_true(mx_now_ms() - t0 < 30000);
}

static void rule_load_memory_cap(void **state) {
    (void)state;
    char err[1024] = "";
    /* asks for more than MX_LUA_MEM_LIMIT in one go: refused by the allocator, never malloc'd */
    assert_int_equal(load_rule_text("local s = string.rep('x', (1 << 31) - 2)\nreturn {}\n", err, sizeof err), -1);
    if (!strstr(err, "not enough memory")) fail_msg("%s", err);
    assert_non_null(strstr(err, "10-limit.lua"));
}

static int rdir_setup(void **state) {
    (void)state;
    snprintf(rdir, sizeof rdir, "/tmp/mxdiag-limits.XXXXXX");
    return mkdtemp(rdir) ? 0 : -1;
}
static int rdir_teardown(void **state) {
    (void)state;
    return rmdir(rdir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stream_first_read_on_empty_buffer),
        cmocka_unit_test(logread_counts_long_last_line),
        cmocka_unit_test(batch_fatal_after_defaults_frees_them),
        cmocka_unit_test(batch_duplicate_defaults_frees_first),
        cmocka_unit_test(logparse_port_out_of_range),
        cmocka_unit_test(logparse_exim_empty_recipient),
        cmocka_unit_test(dns_txt_capped),
        cmocka_unit_test(dns_answers_capped),
        cmocka_unit_test(dns_cname_chain_capped),
        cmocka_unit_test(rule_load_instruction_budget),
        cmocka_unit_test(rule_load_memory_cap),
    };
    return cmocka_run_group_tests(tests, rdir_setup, rdir_teardown);
}
