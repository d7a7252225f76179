/* check's options parsed into an mx_cli, and the runtime they build: used
 * by check and local (cmd_check.c), rules (cmd_rules.c), batch (cmd_batch.c)
 * and logs --probe (logs_probe.c). */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "addr.h"
#include "cli.h"
#include "termtext.h"
#include "escape.h"
#include "net.h"

/* Shipped rules: $MXDIAG_SHIPPED_RULES (never from the environment of a root
 * run without --allow-env, see env_policy), else the source tree's when this
 * is the binary in its own build directory, else the configured install
 * location. An installed binary never falls back to a source tree: that path
 * is whatever the build machine had, possibly writable by someone else. */
const char *mx_cli_shipped_rules(void) {
    const char *env = getenv("MXDIAG_SHIPPED_RULES");
    if (env && *env) return env;
    char *exe = realpath("/proc/self/exe", NULL), *build = realpath(MXDIAG_BUILD_DIR, NULL);
    int in_build = 0;
    if (exe && build) {
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        in_build = strcmp(exe, build) == 0;
    }
    free(exe);
    free(build);
    if (in_build) return MXDIAG_SOURCE_RULES;
    struct stat st;
    int bad = stat(MXDIAG_INSTALL_RULES, &st) != 0 ? errno : !S_ISDIR(st.st_mode) ? ENOTDIR : 0;
    if (bad) {
        mx_cli_failf("mxdiag", "the shipped rules are missing: %s: %s (reinstall mxdiag)", MXDIAG_INSTALL_RULES,
                     strerror(bad));
        exit(EXIT_USAGE);
    }
    return MXDIAG_INSTALL_RULES;
}

void mx_sl_push(mx_strlist *l, const char *s) {
    l->v = mx_xrealloc(l->v, (l->n + 1) * sizeof *l->v);
    l->v[l->n++] = s;
}

/* getopt_long's view of mx_check_opts (built once, kept for the run). */
static const struct option *getopt_table(void) {
    static struct option *t;
    if (t) return t;
    size_t n = 0;
    while (mx_check_opts[n].name) n++;
    t = mx_xcalloc(n + 1, sizeof *t);
    n = 0;
    for (const mx_check_opt *o = mx_check_opts; o->name; o++) {
        if (o->id == MX_OPT_CONFIG) continue; /* main.c took it out of argv */
        t[n].name = o->name;
        t[n].has_arg = o->takes_value ? required_argument : no_argument;
        t[n].val = o->id;
        n++;
    }
    return t;
}

/* A domain name, not an address literal (blocklist zones, sender domains). */
static int is_domain_name(const char *s) {
    const char *why;
    mx_addr a;
    return mx_addr_parse(s, &a) != 0 && mx_domain_valid(s, &why) == 0;
}

/* An SMTP command argument: printable ASCII without space, '<' or '>';
 * need_at: a mailbox (local@domain) with a non-empty domain. */
static int smtp_word_ok(const char *s, int need_at) {
    if (!*s) return 0;
    for (const char *p = s; *p; p++)
        if (*p <= ' ' || *p >= 0x7f || *p == '<' || *p == '>') return 0;
    const char *at = strrchr(s, '@');
    return !need_at || (at && at != s && at[1]);
}

/* The command whose --help a usage error points to: argv[0] of the parse
 * (rules passes its subcommand). */
static const char *help_cmd(const char *argv0) {
    static const char *const own[] = {"check", "local", "batch", "logs", NULL};
    for (const char *const *o = own; *o; o++)
        if (argv0 && !strcmp(argv0, *o)) return *o;
    if (argv0 && (!strcmp(argv0, "list") || !strcmp(argv0, "show") || !strcmp(argv0, "test") || !strcmp(argv0, "api")))
        return "rules";
    return NULL;
}

/* An option getopt did not take: unknown (with the nearest known name), or
 * missing its value. Exits 3. */
static void bad_option(int ch, int argc, char **argv) {
    const char *cmd = help_cmd(argv[0]);
    /* getopt has moved past the option (or stays on a cluster of short ones) */
    const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
    char shortopt[3] = {'-', (char)optopt, 0};
    if (optopt > 0 && optopt < 256 && strncmp(arg, "--", 2) != 0) arg = shortopt; /* one of a cluster (-xv) */
    if (ch == ':') mx_cli_cmd_usage_error(cmd, "option %s needs a value", arg);
    /* batch's and logs' own options: they reach this parser only when misspelt */
    static const char *const batch_opts[] = {"concurrency", "workers", "output", "resume", "shard", "plain", "progress",
                                             "no-progress", "quiet", NULL};
    static const char *const logs_opts[] = {"since", "until", "domain", "now", "utc", "probe", NULL};
    const char *near = mx_cli_suggest_option(arg, cmd && !strcmp(cmd, "batch") ? batch_opts
                                                  : cmd && !strcmp(cmd, "logs") ? logs_opts : NULL);
    if (arg[0] == '-' && arg[1] == '-' && near) {
        char m[160];
        snprintf(m, sizeof m, "unknown option '%%s' (did you mean --%s?)", near);
        mx_cli_cmd_usage_error(cmd, m, arg);
    }
    mx_cli_cmd_usage_error(cmd, "unknown option '%s'", arg);
}

void mx_cli_parse(int argc, char **argv, mx_cli *c) {
    memset(c, 0, sizeof *c);
    mx_cli_set_usage_cmd(help_cmd(argv[0]));
    c->format = "text";
    c->timeout = 10;
    c->port = 25;
    optind = 1;
    opterr = 0; /* bad_option says it, with a suggestion */
    int ch, idx = -1;
    while ((ch = getopt_long(argc, argv, ":hvq46", getopt_table(), &idx)) != -1) {
        char *end;
        if (ch != '?' && ch != ':') mx_sl_push(&c->given, ch == 'h' ? "help" : ch == 'v' ? "verbose" : ch == 'q' ? "quiet" : ch == '4' ? "ipv4" : ch == '6' ? "ipv6" : idx >= 0 ? getopt_table()[idx].name : "?");
        idx = -1;
        switch (ch) {
        case MX_OPT_FORMAT:
            if (strcmp(optarg, "text") && strcmp(optarg, "json") && strcmp(optarg, "nagios"))
                mx_cli_usage_error("--format must be text, json or nagios, not '%s'", optarg);
            c->format = optarg;
            break;
        case MX_OPT_JSON: c->format = "json"; break;
        case MX_OPT_LETTER: c->format = "letter"; break;
        case MX_OPT_UPDATE: c->update = 1; break;
        case 'v': c->verbose++; break;
        case 'q': c->quiet = 1; break;
        case MX_OPT_RESOLVER: mx_sl_push(&c->resolvers, optarg); break;
        case MX_OPT_SOURCE: {
            mx_addr a;
            if (mx_addr_parse(optarg, &a) != 0) mx_cli_usage_error("--source-ip: '%s' is not an IP address", optarg);
            mx_sl_push(&c->sources, optarg);
            break;
        }
        case MX_OPT_TIMEOUT:
            c->timeout = strtod(optarg, &end);
            if (end == optarg || *end || !(c->timeout > 0 && c->timeout <= 600))
                mx_cli_usage_error("--timeout must be a number of seconds above 0, at most 600 (e.g. 10 or 2.5), not '%s'", optarg);
            break;
        case MX_OPT_PORT: {
            long p = strtol(optarg, &end, 10);
            if (*end || p < 1 || p > 65535) mx_cli_usage_error("--port must be from 1 to 65535, not '%s'", optarg);
            c->port = (int)p;
            break;
        }
        case MX_OPT_RULESDIR: {
            struct stat st;
            if (stat(optarg, &st) != 0 || !S_ISDIR(st.st_mode) || access(optarg, R_OK | X_OK) != 0)
                mx_cli_usage_error("--rules-dir: cannot read directory '%s'", optarg);
            mx_sl_push(&c->rules_dirs, optarg);
            break;
        }
        case MX_OPT_ONLY: c->only = optarg; break;
        case MX_OPT_SKIP: c->skip = optarg; break;
        case MX_OPT_TRACE: c->trace = 1; break;
        case MX_OPT_STRICT_RULES: c->strict_rules = 1; break;
        case MX_OPT_TRANSCRIPT: c->transcript = 1; break;
        case '4':
        case '6':
            if (c->family && c->family != ch - '0') mx_cli_usage_error("%s", "-4 and -6 exclude each other");
            c->family = ch - '0';
            break;
        case MX_OPT_RECORD: c->record = optarg; break;
        case MX_OPT_REPLAY: c->replay = optarg; break;
        case MX_OPT_NOCOLOR: c->nocolor = 1; break;
        case MX_OPT_WIDTH:
            if (mx_text_cli_width(optarg) != 0) mx_cli_usage_error("--width must be a number of columns from 20 to 1000, not '%s'", optarg);
            break;
        case MX_OPT_ALLOW_RESERVED: c->allow_reserved = 1; break;
        case MX_OPT_HELO:
            if (!smtp_word_ok(optarg, 0) || strlen(optarg) > 255) mx_cli_usage_error("--helo: '%s' is not a host name or address literal", optarg);
            c->helo = optarg;
            break;
        case MX_OPT_RCPT: case MX_OPT_MAIL_FROM:
            /* goes verbatim into RCPT TO:<...>: no spaces, controls or brackets */
            if (!smtp_word_ok(optarg, ch == MX_OPT_RCPT) || strlen(optarg) > 254)
                mx_cli_usage_error(ch == MX_OPT_RCPT ? "--rcpt: '%s' is not a mail address (local@domain)"
                                           : "--mail-from: '%s' is not a mail address (local@domain)", optarg);
            if (ch == MX_OPT_RCPT) c->rcpt = optarg;
            else c->mail_from = optarg;
            break;
        case MX_OPT_CA_FILE:
            if (access(optarg, R_OK) != 0) mx_cli_usage_error("--ca-file: cannot read '%s'", optarg);
            c->ca_file = optarg;
            break;
        case MX_OPT_SENDER_IP: {
            mx_addr a;
            if (mx_addr_parse(optarg, &a) != 0) mx_cli_usage_error("--sender-ip: '%s' is not an IP address", optarg);
            mx_sl_push(&c->sender_ips, optarg);
            break;
        }
        case MX_OPT_SENDER_DOMAIN:
            if (!is_domain_name(optarg)) mx_cli_usage_error("--sender-domain: '%s' is not a domain name", optarg);
            mx_sl_push(&c->sender_domains, optarg);
            break;
        case MX_OPT_DNSBL_KEY: {
            /* A DQS key is one DNS label of letters and digits (Spamhaus issues
             * 26 lowercase alphanumerics). The key is not echoed in the error. */
            size_t n = strlen(optarg), ok = n >= 1 && n <= 63;
            for (size_t i = 0; ok && i < n; i++)
                if (!isalnum((unsigned char)optarg[i])) ok = 0;
            if (!ok) mx_cli_usage_error("--dnsbl-key: %s", "the key must be 1 to 63 letters and digits (a Spamhaus DQS key)");
            free(c->dnsbl_key);
            c->dnsbl_key = mx_xstrdup(optarg);
            for (char *p = c->dnsbl_key; *p; p++) *p = (char)tolower((unsigned char)*p);
            break;
        }
        case MX_OPT_DNSBL_ZONE:
            if (!is_domain_name(optarg)) mx_cli_usage_error("--dnsbl-zone: '%s' is not a DNS zone name", optarg);
            mx_sl_push(&c->dnsbl_zones, optarg);
            break;
        case MX_OPT_CONTROL: {
            const char *why;
            mx_addr a;
            if (mx_addr_parse(optarg, &a) != 0 && mx_domain_valid(optarg, &why) != 0)
                mx_cli_usage_error("--control: '%s' is neither an IP address nor a host name", optarg);
            mx_sl_push(&c->controls, optarg);
            break;
        }
        case MX_OPT_LOCAL: c->local = 1; break;
        case MX_OPT_RULE_ARG: case MX_OPT_RULE_ARG_JSON: {
            /* checked against the rules' schemas once they are loaded (mx_cli_runtime) */
            size_t n = strlen(optarg) + 3;
            char *a = mx_xmalloc(n);
            snprintf(a, n, "%c:%s", ch == MX_OPT_RULE_ARG ? 's' : 'j', optarg);
            mx_sl_push(&c->rule_args, a);
            break;
        }
        case MX_OPT_OVERRIDE_JSON: mx_sl_push(&c->overrides, optarg); break;
        case MX_OPT_PER_HOST: case MX_OPT_QPS: case MX_OPT_MAX_CONN: {
            long v = strtol(optarg, &end, 10);
            long max = ch == MX_OPT_PER_HOST ? 64 : ch == MX_OPT_MAX_CONN ? MX_NET_MAX_CONNECTIONS : 1000000;
            if (*end || v < 1 || v > max)
                mx_cli_usage_error(ch == MX_OPT_PER_HOST ? "--per-host must be a number from 1 to 64, not '%s'"
                            : ch == MX_OPT_MAX_CONN ? "--max-connections must be a number from 1 to 4096, not '%s'"
                                                 : "--qps must be a number from 1 to 1000000, not '%s'", optarg);
            if (ch == MX_OPT_PER_HOST) c->per_host = (int)v;
            else if (ch == MX_OPT_MAX_CONN) c->max_connections = (int)v;
            else c->qps = (int)v;
            break;
        }
        case MX_OPT_SYSROOT: case MX_OPT_CONFIG_DIR: {
            struct stat st;
            if (optarg[0] != '/' || stat(optarg, &st) != 0 || !S_ISDIR(st.st_mode))
                mx_cli_usage_error("--sysroot/--config-dir need an absolute path to a directory, not '%s'", optarg);
            if (ch == MX_OPT_SYSROOT) c->sysroot = optarg;
            else mx_sl_push(&c->config_dirs, optarg);
            break;
        }
        case MX_OPT_VERSION: mx_print_version(); exit(0);
        case 'h':
            if (mx_cli_cmd_help(argv[0], stdout) != 0) mx_cli_usage(stdout);
            exit(0);
        default: bad_option(ch, argc, argv); /* in nagios mode, the plugin line too */
        }
    }
    c->rest = argv + optind;
    c->nrest = argc - optind;
}

/* "ADDR", "ADDR:PORT", "[V6]:PORT", "V6" -> the c-ares CSV form. */
char *mx_cli_resolvers(const mx_strlist *l) {
    mx_buf b = MX_BUF_INIT;
    for (size_t i = 0; i < l->n; i++) {
        char one[96];
        if (mx_resolver_norm(l->v[i], one, sizeof one) != 0)
            mx_cli_usage_error("--resolver must be an IP address with an optional :port, not '%s'", l->v[i]);
        if (i) mx_buf_putc(&b, ',');
        mx_buf_puts(&b, one);
    }
    return l->n ? mx_buf_steal(&b) : NULL;
}

/* Frees every list mx_cli_parse filled (the strings are argv's). */
void mx_cli_free(mx_cli *c) {
    free(c->resolvers.v);
    free(c->sources.v);
    free(c->config_dirs.v);
    free(c->rules_dirs.v);
    free(c->sender_ips.v);
    free(c->sender_domains.v);
    free(c->dnsbl_zones.v);
    free(c->dnsbl_key);
    free(c->controls.v);
    free(c->given.v);
    for (size_t i = 0; i < c->rule_args.n; i++) free((char *)c->rule_args.v[i]);
    free(c->rule_args.v);
    free(c->overrides.v);
}

/* Site rules: /etc/mxdiag/rules.d, $MXDIAG_RULES_PATH (see env_policy), then
 * --rules-dir (the configuration file's rules_dir arrives as --rules-dir).
 * A batch list never adds one: batch_input.c refuses the key. */
void mx_cli_site_dirs(mx_cli *c, mx_strlist *dirs) {
    struct stat st;
    if (stat("/etc/mxdiag/rules.d", &st) == 0 && S_ISDIR(st.st_mode)) mx_sl_push(dirs, "/etc/mxdiag/rules.d");
    /* split once and kept for the whole run: runtimes point into it */
    static mx_strlist env_dirs;
    static int env_done;
    const char *env = getenv("MXDIAG_RULES_PATH");
    if (!env_done && env && *env) {
        char *copy = mx_xstrdup(env), *save = NULL;
        for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save)) mx_sl_push(&env_dirs, p);
        if (!env_dirs.n) free(copy);
    }
    env_done = 1;
    for (size_t i = 0; i < env_dirs.n; i++) mx_sl_push(dirs, env_dirs.v[i]);
    for (size_t i = 0; i < c->rules_dirs.n; i++) mx_sl_push(dirs, c->rules_dirs.v[i]);
}

mx_json *mx_cli_rule_options(const mx_cli *c) {
    mx_json *o = mx_json_obj();
    mx_json_set(o, "timeout", mx_json_num(c->timeout));
    mx_json_set(o, "port", mx_json_int(c->port));
    mx_json *src = mx_json_arr();
    for (size_t i = 0; i < c->sources.n; i++) {
        mx_addr a;
        char canon[64];
        mx_addr_parse(c->sources.v[i], &a);
        mx_addr_format(&a, canon, sizeof canon);
        mx_json_push(src, mx_json_str(canon));
    }
    mx_json_set(o, "source_ips", src);
    mx_json_set(o, "allow_reserved", mx_json_bool(c->allow_reserved));
    if (c->family) mx_json_set(o, "family", mx_json_int(c->family));
    if (c->helo) mx_json_set(o, "helo", mx_json_str(c->helo));
    if (c->rcpt) mx_json_set(o, "rcpt", mx_json_str(c->rcpt));
    if (c->mail_from) mx_json_set(o, "mail_from", mx_json_str(c->mail_from));
    mx_json *sips = mx_json_arr(), *sdoms = mx_json_arr(), *ctl = mx_json_arr();
    for (size_t i = 0; i < c->sender_ips.n; i++) {
        mx_addr a;
        char canon[64];
        mx_addr_parse(c->sender_ips.v[i], &a);
        mx_addr_format(&a, canon, sizeof canon);
        mx_json_push(sips, mx_json_str(canon));
    }
    for (size_t i = 0; i < c->sender_domains.n; i++) mx_json_push(sdoms, mx_json_str(c->sender_domains.v[i]));
    for (size_t i = 0; i < c->controls.n; i++) mx_json_push(ctl, mx_json_str(c->controls.v[i]));
    mx_json_set(o, "sender_ips", sips);
    mx_json_set(o, "sender_domains", sdoms);
    mx_json_set(o, "control_hosts", ctl);
    if (c->dnsbl_zones.n) {
        mx_json *z = mx_json_set(o, "dnsbl_zones", mx_json_arr());
        for (size_t i = 0; i < c->dnsbl_zones.n; i++) {
            char norm[MX_DOMAIN_MAX + 2];
            mx_domain_normalize(c->dnsbl_zones.v[i], norm, sizeof norm);
            mx_json_push(z, mx_json_str(norm));
        }
    }
    /* only whether a key is set: the key itself never enters the options
     * (they are shown, recorded and handed to rules) */
    if (c->dnsbl_key) mx_json_set(o, "dnsbl_key", mx_json_bool(1));
    mx_json_set(o, "local", mx_json_bool(c->local));
    if (c->sysroot) mx_json_set(o, "sysroot", mx_json_str(c->sysroot));
    mx_json *cdirs = mx_json_set(o, "config_dirs", mx_json_arr());
    for (size_t i = 0; i < c->config_dirs.n; i++) mx_json_push(cdirs, mx_json_str(c->config_dirs.v[i]));
    return o;
}

/* --rule-arg, the settings' rule_options: and overrides:, checked against
 * the loaded rules. */
int mx_cli_site_settings(const mx_cli *c, mx_rt *rt, char *err, size_t errlen) {
    for (size_t i = 0; i < c->rule_args.n; i++) {
        const char *a = c->rule_args.v[i];
        if (mx_rt_rule_arg(rt, a + 2, a[0] == 'j', err, errlen) != 0) return -1;
    }
    for (size_t i = 0; i < c->overrides.n; i++) {
        char perr[256];
        mx_json *ov = mx_json_parse(c->overrides.v[i], strlen(c->overrides.v[i]), perr, sizeof perr);
        if (!ov) { snprintf(err, errlen, "override: %s", perr); return -1; }
        int rc = mx_rt_add_override(rt, ov, err, errlen);
        mx_json_free(ov);
        if (rc != 0) return -1;
    }
    return 0;
}

mx_rt *mx_cli_runtime(mx_cli *c, mx_strlist *dirs, mx_json *options, char *resolvers) {
    mx_rt_opts o;
    memset(&o, 0, sizeof o);
    o.resolvers = resolvers;
    o.timeout_ms = (int)(c->timeout * 1000);
    o.shipped_dir = mx_cli_shipped_rules();
    o.site_dirs = dirs->v;
    o.nsite_dirs = dirs->n;
    o.only = c->only;
    o.skip = c->skip;
    o.trace = c->trace;
    o.transcript = c->transcript;
    o.progress = c->progress;
    o.record_path = c->record;
    o.replay_path = c->replay;
    o.options = options;
    o.per_host = c->per_host;
    o.max_connections = c->max_connections;
    o.qps = c->qps;
    o.ca_file = c->ca_file;
    o.dnsbl_key = c->dnsbl_key;
    o.logs_rules = c->logs_rules;
    o.facts = c->facts;
    char err[1024];
    mx_rt *rt = mx_rt_new(&o, err, sizeof err);
    if (!rt) { mx_cli_failf("mxdiag", "%s", err); exit(EXIT_USAGE); }
    if (mx_rt_load_rules(rt, err, sizeof err) != 0) {
        mx_cli_failf("mxdiag", "%s", err);
        mx_rt_free(rt);
        exit(EXIT_USAGE);
    }
    if (mx_cli_site_settings(c, rt, err, sizeof err) != 0) {
        mx_cli_failf("mxdiag", "%s", err);
        mx_rt_free(rt);
        exit(EXIT_USAGE);
    }
    return rt;
}

/* batch and logs --probe build on check's options: see cli.h. */
void mx_check_setup_new(int argc, char **argv, mx_check_setup *s) { mx_check_setup_logs(argc, argv, NULL, s); }

void mx_check_setup_logs(int argc, char **argv, const mx_json *facts, mx_check_setup *s) {
    mx_cli *c = mx_xcalloc(1, sizeof *c);
    mx_strlist *dirs = mx_xcalloc(1, sizeof *dirs);
    mx_cli_parse(argc, argv, c);
    c->logs_rules = facts != NULL;
    c->facts = facts;
    mx_cli_site_dirs(c, dirs);
    memset(s, 0, sizeof *s);
    s->options = mx_cli_rule_options(c);
    char *resolvers = mx_cli_resolvers(&c->resolvers);
    s->rt = mx_cli_runtime(c, dirs, s->options, resolvers);
    s->rest = c->rest;
    s->nrest = c->nrest;
    s->cli = c; /* the runtime keeps pointers into c, dirs and resolvers */
    s->dirs = dirs;
    s->resolvers = resolvers;
}

void mx_check_setup_free(mx_check_setup *s) {
    mx_cli *c = s->cli;
    mx_strlist *dirs = s->dirs;
    mx_rt_free(s->rt);
    mx_json_free(s->options);
    mx_cli_free(c);
    free(c);
    free(dirs->v);
    free(dirs);
    free(s->resolvers);
    memset(s, 0, sizeof *s);
}

