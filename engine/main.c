/* mxdiag command line: parse, build the runtime, hand over, print, exit. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <ares.h>
#include <lua.h>
#include <openssl/crypto.h>
#include <yaml.h>
#include "addr.h"
#include "net.h"
#include "runtime.h"
#include "letter.h"
#include "ruletest.h"
#include "check_cli.h"
#include "batch_input.h"
#include "formats.h"
#include "escape.h"

#ifdef MXDIAG_HAVE_LOGS
int mx_logs_command(int argc, char **argv); /* logs_probe.c */
#endif

#define EXIT_USAGE 3
#define MXDIAG_DEFAULT_CONFIG "/etc/mxdiag/mxdiag.yaml"

static const char *usage_text =
    "Usage: mxdiag COMMAND [OPTIONS] ...\n"
    "\n"
    "Commands:\n"
    "  check TARGET        diagnose delivery to TARGET: a domain, user@domain, a host\n"
    "                      name or IP address with optional :port (no MX lookup then)\n"
#ifdef MXDIAG_HAVE_LOGS
    "  logs [FILE...]      summarise delivery failures in mail logs (see mxdiag logs --help)\n"
#endif
    "  local [TARGET]      diagnose this host as a mail server: MTA listeners, Postfix/\n"
    "                      Exim settings, local firewall (nft, iptables, UFW, CSF);\n"
    "                      with TARGET also its MX checks (same as check --local\n"
    "                      --only local TARGET)\n"
    "  batch FILE          check every domain of a YAML or plain list, concurrently\n"
    "                      (see mxdiag batch --help)\n"
    "  rules list          list the loaded rules (shipped and site)\n"
    "  rules show ID       show one rule: description, facts, finding codes\n"
    "  rules test PATH...  replay rule tests (recording.json + expect.json) offline and\n"
    "                      compare the findings (--update rewrites expect.json; -v)\n"
    "  version             print the version\n"
    "\n"
    "Options for check:\n"
    "  --format text|json|nagios\n"
    "                      output format (default text); nagios: one plugin status\n"
    "                      line with perfdata, for Nagios/Icinga/Zabbix\n"
    "  --json              same as --format json\n"
    "  --letter            write a plain-text letter to the domain's postmaster with\n"
    "                      the facts found (to edit and send yourself)\n"
    "  --resolver ADDR[:PORT]\n"
    "                      DNS resolver to use (repeatable; default: /etc/resolv.conf)\n"
    "  --source-ip ADDR    bind outgoing probes to ADDR (repeatable: probes go out\n"
    "                      from each address, to isolate blocks tied to one source)\n"
    "  --sender-ip ADDR    an address your mail leaves from (repeatable): checked\n"
    "                      on DNSBLs (after each list's test points pass) and for\n"
    "                      PTR / forward-confirmed reverse DNS\n"
    "  --sender-domain NAME\n"
    "                      your HELO name or sender domain (repeatable): checked\n"
    "                      on domain blocklists (Spamhaus DBL)\n"
    "  --control HOST      a control mail host (name or address, repeatable) probed\n"
    "                      on port 25 when every MX of the target fails, to tell a\n"
    "                      block on your side from one on theirs; none by default\n"
    "  --dnsbl-zone ZONE   ask only this blocklist (repeatable; default: the whole\n"
    "                      catalog); a zone the catalog lacks is a generic RFC 5782 list\n"
    "  --dnsbl-key KEY     Spamhaus DQS key (free under the public mirrors' terms): ask\n"
    "                      KEY.zen.dq.spamhaus.net etc. instead of the public mirrors;\n"
    "                      never printed (better: dnsbl_key in the configuration file)\n"
    "  --config FILE       read default options from FILE (default:\n"
    "                      /etc/mxdiag/mxdiag.yaml when it exists, or $MXDIAG_CONFIG);\n"
    "                      --no-config reads none. Command-line options win. A\n"
    "                      relative rules_dir in FILE is relative to FILE's directory\n"
    "  --timeout SECONDS   bound for each network operation (default 10)\n"
    "  --per-host N        connections open at once to one address (default 2);\n"
    "                      more wait their turn (politeness, also in batch)\n"
    "  --max-connections N connections open at once in total (default: the open-files\n"
    "                      limit minus 64, at most 4096; never more than that); more\n"
    "                      wait their turn, and a connect's timeout starts when it\n"
    "                      is made (batch reports the peak in its summary)\n"
    "  --qps N             start at most N DNS queries per second (default: no cap;\n"
    "                      queued queries' timeouts start when they are sent)\n"
    "  --port N            SMTP port to probe (default 25)\n"
    "  --rules-dir DIR     load site rules from DIR after the shipped ones (repeatable;\n"
    "                      also /etc/mxdiag/rules.d, the configuration file's rules_dir\n"
    "                      and MXDIAG_RULES_PATH=DIR:DIR; never a batch list); a site\n"
    "                      rule with the id of a shipped rule replaces it. As root,\n"
    "                      rule files and directories (and the configuration file)\n"
    "                      must be owned by root, writable only by root and not\n"
    "                      symbolic links, or they are refused\n"
    "  --only ID,...       run only these rules or categories (and what they need)\n"
    "  --skip ID,...       do not run these rules or categories\n"
    "  --trace             print every engine call and its result on stderr\n"
    "  --record FILE       write every engine call and result to FILE (JSON; a\n"
    "                      symbolic link at FILE is refused)\n"
    "  --replay FILE       answer engine calls from a recording: no network; the\n"
    "                      recording's target and options, no configuration file\n"
    "  --allow-reserved    report MX addresses in special-purpose blocks (private,\n"
    "                      documentation, loopback) as info, not warn: for labs and\n"
    "                      internal mail networks\n"
    "  --local             also run the local checks (listeners, MTA settings, local\n"
    "                      firewall) and compare them with the target's MX\n"
    "  --sysroot DIR       local checks read files and /proc under DIR and take\n"
    "                      command output from DIR/run/NAME (fixtures, no commands run)\n"
    "  --config-dir DIR    also let the local checks read files under DIR (repeatable)\n"
    "  --helo NAME         name to announce in EHLO/HELO (default: this host's name if\n"
    "                      fully qualified, else the address literal [ADDR])\n"
    "  --rcpt ADDRESS      also ask each MX whether it accepts ADDRESS (MAIL FROM,\n"
    "                      RCPT TO, then RSET and QUIT; never DATA, no mail is sent)\n"
    "  --mail-from ADDRESS sender for --rcpt (default: the empty sender <>)\n"
    "  --ca-file FILE      also trust the CA certificates in FILE (PEM) when checking\n"
    "                      STARTTLS certificates (SSL_CERT_FILE/SSL_CERT_DIR work too)\n"
    "  --no-color          no colour in text output (also NO_COLOR=1)\n"
    "  -h, --help          this help\n"
    "  --version           print the version\n"
    "\n"
    "Exit status (monitoring-plugin convention): 0 OK, 1 WARNING, 2 CRITICAL,\n"
    "3 UNKNOWN (nothing could be verified, or a usage error). The status is the\n"
    "worst finding: crit > warn > unknown > ok/info.\n"
    "\n"
    "Limits (RULES.md, section Limits, says what happens when each is hit):\n"
    "SMTP reply line 4096 bytes, 100 lines and 64 KiB per reply, 1 MiB per session;\n"
    "DNS: 256 records per answer, 4096 bytes per TXT, 16 CNAMEs; log lines 64 KiB;\n"
    "rules: 200 million Lua instructions, 64 MiB of heap growth per step, a deadline\n"
    "of 6 network timeouts + 2 s (time queued for a connection slot not counted),\n"
    "512 rules; 2 connections per address (--per-host) and in total the open-files\n"
    "limit - 64, at most 4096 (--max-connections); more wait their turn. Open files:\n"
    "the soft limit is raised to the hard one at start. Batch lists: 1 MiB per YAML\n"
    "token, 10,000 nodes and 1 MiB of text per entry, nesting 32 (1024 ends the\n"
    "file), 4096 bytes per plain-list line.\n"
    "\n"
    "Privilege: check, batch and logs (on readable files) need no root. `local`\n"
    "reads other users' sockets' owners and the firewall (nft, iptables) only as\n"
    "root; without it, it says exactly what it could not read.\n"
    "Global option (check, local, batch, logs, rules):\n"
    "  --allow-env         as root, use MXDIAG_CONFIG, MXDIAG_RULES_PATH and\n"
    "                      MXDIAG_SHIPPED_RULES from the environment: without it a\n"
    "                      root run ignores them (and says so on stderr), so that\n"
    "                      a preserved environment (sudo) cannot choose the code\n"
    "RULES.md, \"Threat model: what runs as root\", says what a root run trusts.\n"
    "\n"
    "Finding codes and the Lua API for rules are documented in RULES.md.\n";

static void usage_error(const char *fmt, const char *arg) {
    mx_buf m = MX_BUF_INIT;
    mx_buf_printf(&m, fmt, arg);
    mx_errf("mxdiag: %s", mx_buf_cstr(&m)); /* arg is what the user typed: escaped */
    mx_buf_free(&m);
    fputs("Try 'mxdiag --help'.\n", stderr);
    exit(EXIT_USAGE);
}

/* mxdiag version: what a bug report needs. The libraries' versions are the
 * ones loaded at run time (c-ares, OpenSSL, libyaml report them); Lua has no
 * run-time release query, so its line is the headers' release it was built with. */
static void print_version(void) {
    printf("mxdiag %s", MXDIAG_VERSION);
    if (MXDIAG_GIT_REV[0]) printf(" (git %s)", MXDIAG_GIT_REV);
    printf("\n");
    printf("c-ares %s (built with %s)\n", ares_version(NULL), ARES_VERSION_STR);
    printf("%s (built with %s)\n", OpenSSL_version(OPENSSL_VERSION), OPENSSL_VERSION_TEXT);
    printf("%s\n", LUA_RELEASE);
    printf("libyaml %s\n", yaml_get_version_string());
}

/* Shipped rules: $MXDIAG_SHIPPED_RULES (never from the environment of a root
 * run without --allow-env, see env_policy), else the source tree's when this
 * is the binary in its own build directory, else the configured install
 * location. An installed binary never falls back to a source tree: that path
 * is whatever the build machine had, possibly writable by someone else. */
static const char *shipped_rules_dir(void) {
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
        fprintf(stderr, "mxdiag: the shipped rules are missing: %s: %s (reinstall mxdiag)\n", MXDIAG_INSTALL_RULES,
                strerror(bad));
        exit(EXIT_USAGE);
    }
    return MXDIAG_INSTALL_RULES;
}

typedef struct strlist {
    const char **v;
    size_t n;
} strlist;
static void sl_push(strlist *l, const char *s) {
    l->v = mx_xrealloc(l->v, (l->n + 1) * sizeof *l->v);
    l->v[l->n++] = s;
}

enum {
    OPT_FORMAT = 256, OPT_JSON, OPT_RESOLVER, OPT_SOURCE, OPT_TIMEOUT, OPT_PORT, OPT_RULESDIR, OPT_ONLY, OPT_SKIP,
    OPT_TRACE, OPT_RECORD, OPT_REPLAY, OPT_NOCOLOR, OPT_VERSION, OPT_ALLOW_RESERVED,
    OPT_HELO, OPT_RCPT, OPT_MAIL_FROM, OPT_CA_FILE,
    OPT_SENDER_IP, OPT_SENDER_DOMAIN, OPT_CONTROL, OPT_DNSBL_ZONE, OPT_DNSBL_KEY,
    OPT_LOCAL, OPT_SYSROOT, OPT_CONFIG_DIR, OPT_PER_HOST, OPT_QPS, OPT_MAX_CONN,
};

static const struct option check_opts[] = {
    {"format", required_argument, 0, OPT_FORMAT},
    {"letter", no_argument, 0, 'L'},
    {"update", no_argument, 0, 'U'},
    {"verbose", no_argument, 0, 'v'},
    {"json", no_argument, 0, OPT_JSON},
    {"resolver", required_argument, 0, OPT_RESOLVER},
    {"source-ip", required_argument, 0, OPT_SOURCE},
    {"timeout", required_argument, 0, OPT_TIMEOUT},
    {"port", required_argument, 0, OPT_PORT},
    {"rules-dir", required_argument, 0, OPT_RULESDIR},
    {"only", required_argument, 0, OPT_ONLY},
    {"skip", required_argument, 0, OPT_SKIP},
    {"trace", no_argument, 0, OPT_TRACE},
    {"record", required_argument, 0, OPT_RECORD},
    {"replay", required_argument, 0, OPT_REPLAY},
    {"no-color", no_argument, 0, OPT_NOCOLOR},
    {"allow-reserved", no_argument, 0, OPT_ALLOW_RESERVED},
    {"helo", required_argument, 0, OPT_HELO},
    {"rcpt", required_argument, 0, OPT_RCPT},
    {"mail-from", required_argument, 0, OPT_MAIL_FROM},
    {"ca-file", required_argument, 0, OPT_CA_FILE},
    {"sender-ip", required_argument, 0, OPT_SENDER_IP},
    {"sender-domain", required_argument, 0, OPT_SENDER_DOMAIN},
    {"control", required_argument, 0, OPT_CONTROL},
    {"dnsbl-zone", required_argument, 0, OPT_DNSBL_ZONE},
    {"dnsbl-key", required_argument, 0, OPT_DNSBL_KEY},
    {"local", no_argument, 0, OPT_LOCAL},
    {"sysroot", required_argument, 0, OPT_SYSROOT},
    {"config-dir", required_argument, 0, OPT_CONFIG_DIR},
    {"per-host", required_argument, 0, OPT_PER_HOST},
    {"qps", required_argument, 0, OPT_QPS},
    {"max-connections", required_argument, 0, OPT_MAX_CONN},
    {"version", no_argument, 0, OPT_VERSION},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0},
};

int mx_check_opt_takes_value(const char *opt) {
    if (strncmp(opt, "--", 2) != 0) return 0;
    for (const struct option *o = check_opts; o->name; o++)
        if (!strcmp(o->name, opt + 2)) return o->has_arg == required_argument;
    return 0;
}


/* A domain name, not an address literal (blocklist zones, sender domains). */
static int is_domain_name(const char *s) {
    const char *why;
    mx_addr a;
    return mx_addr_parse(s, &a) != 0 && mx_domain_valid(s, &why) == 0;
}

typedef struct cli {
    const char *format;
    strlist resolvers, sources, rules_dirs;
    strlist sender_ips, sender_domains, controls; /* reputation and outbound rules */
    strlist dnsbl_zones;  /* --dnsbl-zone: ask only these blocklists */
    char *dnsbl_key;      /* --dnsbl-key: Spamhaus DQS key, lowercased copy (a secret: never printed) */
    double timeout;
    int port;
    const char *only, *skip, *record, *replay;
    int trace, nocolor, allow_reserved;
    int update, verbose;       /* rules test */
    const char *helo, *rcpt, *mail_from, *ca_file; /* SMTP dialogue */
    int local;                 /* --local or the local command */
    int per_host, qps;         /* politeness: connections per address, DNS queries/s */
    int max_connections;       /* --max-connections: in total (0: from the open-files limit) */
    const char *sysroot;       /* --sysroot */
    strlist config_dirs;       /* --config-dir */
    strlist given;             /* the options on the command line, by long name */
    char **rest;
    int nrest;
    int logs_rules;       /* mxdiag logs' judgement: load the logs rules, with facts */
    const mx_json *facts;
} cli;

/* An SMTP command argument: printable ASCII without space, '<' or '>';
 * need_at: a mailbox (local@domain) with a non-empty domain. */
static int smtp_word_ok(const char *s, int need_at) {
    if (!*s) return 0;
    for (const char *p = s; *p; p++)
        if (*p <= ' ' || *p >= 0x7f || *p == '<' || *p == '>') return 0;
    const char *at = strrchr(s, '@');
    return !need_at || (at && at != s && at[1]);
}

static void parse_common(int argc, char **argv, cli *c) {
    memset(c, 0, sizeof *c);
    c->format = "text";
    c->timeout = 10;
    c->port = 25;
    optind = 1;
    int ch, idx = -1;
    while ((ch = getopt_long(argc, argv, "hv", check_opts, &idx)) != -1) {
        char *end;
        if (ch != '?') sl_push(&c->given, ch == 'h' ? "help" : ch == 'v' ? "verbose" : idx >= 0 ? check_opts[idx].name : "?");
        idx = -1;
        switch (ch) {
        case OPT_FORMAT:
            if (strcmp(optarg, "text") && strcmp(optarg, "json") && strcmp(optarg, "nagios"))
                usage_error("--format must be text, json or nagios, not '%s'", optarg);
            c->format = optarg;
            break;
        case OPT_JSON: c->format = "json"; break;
        case 'L': c->format = "letter"; break;
        case 'U': c->update = 1; break;
        case 'v': c->verbose = 1; break;
        case OPT_RESOLVER: sl_push(&c->resolvers, optarg); break;
        case OPT_SOURCE: {
            mx_addr a;
            if (mx_addr_parse(optarg, &a) != 0) usage_error("--source-ip: '%s' is not an IP address", optarg);
            sl_push(&c->sources, optarg);
            break;
        }
        case OPT_TIMEOUT:
            c->timeout = strtod(optarg, &end);
            if (*end || !(c->timeout > 0 && c->timeout <= 600)) usage_error("--timeout must be a number of seconds from 0 to 600, not '%s'", optarg);
            break;
        case OPT_PORT: {
            long p = strtol(optarg, &end, 10);
            if (*end || p < 1 || p > 65535) usage_error("--port must be from 1 to 65535, not '%s'", optarg);
            c->port = (int)p;
            break;
        }
        case OPT_RULESDIR: {
            struct stat st;
            if (stat(optarg, &st) != 0 || !S_ISDIR(st.st_mode) || access(optarg, R_OK | X_OK) != 0)
                usage_error("--rules-dir: cannot read directory '%s'", optarg);
            sl_push(&c->rules_dirs, optarg);
            break;
        }
        case OPT_ONLY: c->only = optarg; break;
        case OPT_SKIP: c->skip = optarg; break;
        case OPT_TRACE: c->trace = 1; break;
        case OPT_RECORD: c->record = optarg; break;
        case OPT_REPLAY: c->replay = optarg; break;
        case OPT_NOCOLOR: c->nocolor = 1; break;
        case OPT_ALLOW_RESERVED: c->allow_reserved = 1; break;
        case OPT_HELO:
            if (!smtp_word_ok(optarg, 0) || strlen(optarg) > 255) usage_error("--helo: '%s' is not a host name or address literal", optarg);
            c->helo = optarg;
            break;
        case OPT_RCPT: case OPT_MAIL_FROM:
            /* goes verbatim into RCPT TO:<...>: no spaces, controls or brackets */
            if (!smtp_word_ok(optarg, ch == OPT_RCPT) || strlen(optarg) > 254)
                usage_error(ch == OPT_RCPT ? "--rcpt: '%s' is not a mail address (local@domain)"
                                           : "--mail-from: '%s' is not a mail address (local@domain)", optarg);
            if (ch == OPT_RCPT) c->rcpt = optarg;
            else c->mail_from = optarg;
            break;
        case OPT_CA_FILE:
            if (access(optarg, R_OK) != 0) usage_error("--ca-file: cannot read '%s'", optarg);
            c->ca_file = optarg;
            break;
        case OPT_SENDER_IP: {
            mx_addr a;
            if (mx_addr_parse(optarg, &a) != 0) usage_error("--sender-ip: '%s' is not an IP address", optarg);
            sl_push(&c->sender_ips, optarg);
            break;
        }
        case OPT_SENDER_DOMAIN:
            if (!is_domain_name(optarg)) usage_error("--sender-domain: '%s' is not a domain name", optarg);
            sl_push(&c->sender_domains, optarg);
            break;
        case OPT_DNSBL_KEY: {
            /* A DQS key is one DNS label of letters and digits (Spamhaus issues
             * 26 lowercase alphanumerics). The key is not echoed in the error. */
            size_t n = strlen(optarg), ok = n >= 1 && n <= 63;
            for (size_t i = 0; ok && i < n; i++)
                if (!isalnum((unsigned char)optarg[i])) ok = 0;
            if (!ok) usage_error("--dnsbl-key: %s", "the key must be 1 to 63 letters and digits (a Spamhaus DQS key)");
            free(c->dnsbl_key);
            c->dnsbl_key = mx_xstrdup(optarg);
            for (char *p = c->dnsbl_key; *p; p++) *p = (char)tolower((unsigned char)*p);
            break;
        }
        case OPT_DNSBL_ZONE:
            if (!is_domain_name(optarg)) usage_error("--dnsbl-zone: '%s' is not a DNS zone name", optarg);
            sl_push(&c->dnsbl_zones, optarg);
            break;
        case OPT_CONTROL: {
            const char *why;
            mx_addr a;
            if (mx_addr_parse(optarg, &a) != 0 && mx_domain_valid(optarg, &why) != 0)
                usage_error("--control: '%s' is neither an IP address nor a host name", optarg);
            sl_push(&c->controls, optarg);
            break;
        }
        case OPT_LOCAL: c->local = 1; break;
        case OPT_PER_HOST: case OPT_QPS: case OPT_MAX_CONN: {
            long v = strtol(optarg, &end, 10);
            long max = ch == OPT_PER_HOST ? 64 : ch == OPT_MAX_CONN ? MX_NET_MAX_CONNECTIONS : 1000000;
            if (*end || v < 1 || v > max)
                usage_error(ch == OPT_PER_HOST ? "--per-host must be a number from 1 to 64, not '%s'"
                            : ch == OPT_MAX_CONN ? "--max-connections must be a number from 1 to 4096, not '%s'"
                                                 : "--qps must be a number from 1 to 1000000, not '%s'", optarg);
            if (ch == OPT_PER_HOST) c->per_host = (int)v;
            else if (ch == OPT_MAX_CONN) c->max_connections = (int)v;
            else c->qps = (int)v;
            break;
        }
        case OPT_SYSROOT: case OPT_CONFIG_DIR: {
            struct stat st;
            if (optarg[0] != '/' || stat(optarg, &st) != 0 || !S_ISDIR(st.st_mode))
                usage_error("--sysroot/--config-dir need an absolute path to a directory, not '%s'", optarg);
            if (ch == OPT_SYSROOT) c->sysroot = optarg;
            else sl_push(&c->config_dirs, optarg);
            break;
        }
        case OPT_VERSION: print_version(); exit(0);
        case 'h': fputs(usage_text, stdout); exit(0);
        default: fprintf(stderr, "Try 'mxdiag --help'.\n"); exit(EXIT_USAGE);
        }
    }
    c->rest = argv + optind;
    c->nrest = argc - optind;
}

/* "ADDR", "ADDR:PORT", "[V6]:PORT", "V6" -> the c-ares CSV form. */
static char *resolver_csv(const strlist *l) {
    mx_buf b = MX_BUF_INIT;
    for (size_t i = 0; i < l->n; i++) {
        char one[96];
        if (mx_resolver_norm(l->v[i], one, sizeof one) != 0)
            usage_error("--resolver must be an IP address with an optional :port, not '%s'", l->v[i]);
        if (i) mx_buf_putc(&b, ',');
        mx_buf_puts(&b, one);
    }
    return l->n ? mx_buf_steal(&b) : NULL;
}

/* Frees every list parse_common filled (the strings are argv's). */
static void cli_free(cli *c) {
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
}

/* Site rules: /etc/mxdiag/rules.d, $MXDIAG_RULES_PATH (see env_policy), then
 * --rules-dir (the configuration file's rules_dir arrives as --rules-dir).
 * A batch list never adds one: batch_input.c refuses the key. */
static void collect_site_dirs(cli *c, strlist *dirs) {
    struct stat st;
    if (stat("/etc/mxdiag/rules.d", &st) == 0 && S_ISDIR(st.st_mode)) sl_push(dirs, "/etc/mxdiag/rules.d");
    /* split once and kept for the whole run: runtimes point into it */
    static strlist env_dirs;
    static int env_done;
    const char *env = getenv("MXDIAG_RULES_PATH");
    if (!env_done && env && *env) {
        char *copy = mx_xstrdup(env), *save = NULL;
        for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save)) sl_push(&env_dirs, p);
        if (!env_dirs.n) free(copy);
    }
    env_done = 1;
    for (size_t i = 0; i < env_dirs.n; i++) sl_push(dirs, env_dirs.v[i]);
    for (size_t i = 0; i < c->rules_dirs.n; i++) sl_push(dirs, c->rules_dirs.v[i]);
}

static mx_json *rule_options(const cli *c) {
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

static mx_rt *build_runtime(cli *c, strlist *dirs, mx_json *options, char *resolvers) {
    mx_rt_opts o;
    memset(&o, 0, sizeof o);
    o.resolvers = resolvers;
    o.timeout_ms = (int)(c->timeout * 1000);
    o.shipped_dir = shipped_rules_dir();
    o.site_dirs = dirs->v;
    o.nsite_dirs = dirs->n;
    o.only = c->only;
    o.skip = c->skip;
    o.trace = c->trace;
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
    if (!rt) { mx_errf("mxdiag: %s", err); exit(EXIT_USAGE); }
    if (mx_rt_load_rules(rt, err, sizeof err) != 0) {
        mx_errf("mxdiag: %s", err);
        mx_rt_free(rt);
        exit(EXIT_USAGE);
    }
    return rt;
}

static int local_command; /* `mxdiag local`: check with --local --only local */
static void local_target(mx_target *t);

/* ------------------------------------------------------------ replay */

/* A replay runs with the recording's options. On the command line only
 * options that shape the output (or name the files) may stand beside
 * --replay; an option that would change the engine's calls is refused
 * unless it restates the recorded value. --rules-dir is allowed: it is how
 * a rule under development is tried on a recording. */
static const char *const replay_output_opts[] = {"format", "json", "letter", "trace", "no-color", "replay",
                                                 "record", "rules-dir", "help", "version", NULL};
/* command-line option -> the key of the recording's "options" it sets */
static const struct { const char *opt, *key; } recorded_opts[] = {
    {"timeout", "timeout"},       {"port", "port"},                 {"source-ip", "source_ips"},
    {"allow-reserved", "allow_reserved"}, {"helo", "helo"},         {"rcpt", "rcpt"},
    {"mail-from", "mail_from"},   {"sender-ip", "sender_ips"},      {"sender-domain", "sender_domains"},
    {"control", "control_hosts"}, {"dnsbl-zone", "dnsbl_zones"},    {"local", "local"},
    {"sysroot", "sysroot"},       {"config-dir", "config_dirs"},
};

static char *json_text(const mx_json *v) {
    if (!v) return mx_xstrdup("(not set)");
    mx_buf b = MX_BUF_INIT;
    mx_json_write(&b, v, 0);
    return mx_buf_steal(&b);
}

static mx_json *read_recording(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "mxdiag: cannot open recording %s: %s\n", path, strerror(errno));
        exit(EXIT_USAGE);
    }
    mx_buf b = MX_BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len <= (256u << 20)) mx_buf_put(&b, chunk, n);
    fclose(f);
    char perr[128];
    mx_json *doc = mx_json_parse(b.data ? b.data : "", b.len, perr, sizeof perr);
    mx_buf_free(&b);
    const char *schema = doc ? mx_json_get_str(doc, "schema") : NULL;
    mx_json *opts = doc ? mx_json_get(doc, "options") : NULL, *checks = doc ? mx_json_get(doc, "checks") : NULL;
    if (!schema || strcmp(schema, "mxdiag.recording/1") != 0 || !opts || opts->type != MX_JOBJ || !checks ||
        checks->type != MX_JARR || !checks->u.c.len || !mx_json_get_str(checks->u.c.items[0], "target")) {
        fprintf(stderr, "mxdiag: %s is not an mxdiag recording of a check (schema mxdiag.recording/1 with options and "
                        "checks[0].target)%s%s\n", path, doc ? "" : ": ", doc ? "" : perr);
        mx_json_free(doc);
        exit(EXIT_USAGE);
    }
    return doc;
}

/* Refuses the command-line options of c that differ from the recording rec
 * (cmd: "check" or "rules test"); exits with a message naming them. */
static void replay_refuse_conflicts(const cli *c, const mx_json *rec, const char *cmd, const char *path) {
    mx_json *mine = rule_options(c);
    const mx_json *theirs = mx_json_get(rec, "options");
    mx_buf bad = MX_BUF_INIT;
    for (size_t i = 0; i < c->given.n; i++) {
        const char *name = c->given.v[i];
        int dup = 0, ok = 0;
        for (size_t j = 0; j < i; j++) dup |= !strcmp(c->given.v[j], name);
        for (const char *const *o = replay_output_opts; *o; o++) ok |= !strcmp(*o, name);
        if (dup || ok) continue;
        char *have = NULL, *want = NULL;
        if (!strcmp(name, "only") || !strcmp(name, "skip")) {
            const char *r = mx_json_get_str(rec, name), *l = !strcmp(name, "only") ? c->only : c->skip;
            if (r && l && !strcmp(r, l)) continue;
            have = mx_xstrdup(l ? l : "");
            want = mx_xstrdup(r ? r : "(not set)");
        } else {
            const char *key = NULL;
            for (size_t m = 0; m < sizeof recorded_opts / sizeof recorded_opts[0]; m++)
                if (!strcmp(recorded_opts[m].opt, name)) key = recorded_opts[m].key;
            if (key) {
                have = json_text(mx_json_get(mine, key));
                want = json_text(theirs ? mx_json_get(theirs, key) : NULL);
                if (!strcmp(have, want)) { free(have); free(want); continue; }
            }
        }
        mx_buf_printf(&bad, "%s--%s", bad.len ? ", " : "", name);
        if (want) mx_buf_printf(&bad, " %s (recorded: %s)", have, want);
        else mx_buf_puts(&bad, " (not part of a recording)");
        free(have);
        free(want);
    }
    mx_json_free(mine);
    if (bad.len) {
        fprintf(stderr, "mxdiag: %s --replay runs with the options recorded in %s; these would change its engine calls: %s.\n"
                        "Leave them out (output options such as --json, --format, --letter, --trace and --no-color are fine).\n",
                cmd, path, mx_buf_cstr(&bad));
        mx_buf_free(&bad);
        exit(EXIT_USAGE);
    }
    mx_buf_free(&bad);
}

/* check/local --replay: the target, options, selection and timeout come
 * from the recording. Returns the recording (c's strings point into it). */
static mx_json *replay_setup(cli *c, mx_target *t) {
    mx_json *rec = read_recording(c->replay);
    replay_refuse_conflicts(c, rec, local_command ? "local" : "check", c->replay);
    const char *input = mx_json_get_str(mx_json_get(rec, "checks")->u.c.items[0], "target");
    if (c->nrest > 1) usage_error("%s", "a replay takes at most one TARGET (the recorded one)");
    if (c->nrest == 1 && strcasecmp(c->rest[0], input) != 0) {
        fprintf(stderr, "mxdiag: %s is a recording of '%s', not '%s'\n", c->replay, input, c->rest[0]);
        exit(EXIT_USAGE);
    }
    const char *why;
    if (local_command && c->nrest == 0) {
        /* `mxdiag local` without TARGET checked the recording host, no MX lookup */
        local_target(t);
        snprintf(t->input, sizeof t->input, "%s", input);
        mx_domain_normalize(input, t->domain, sizeof t->domain);
    } else if (mx_target_parse(input, t, &why) != 0) {
        fprintf(stderr, "mxdiag: the recorded target '%s' is invalid: %s\n", input, why);
        exit(EXIT_USAGE);
    }
    const mx_json *o = mx_json_get(rec, "options");
    const mx_json *tmo = mx_json_get(o, "timeout");
    c->timeout = tmo && tmo->type == MX_JNUM ? tmo->u.n : tmo && tmo->type == MX_JINT ? (double)tmo->u.i : 10;
    c->only = mx_json_get_str(rec, "only");
    c->skip = mx_json_get_str(rec, "skip");
    return rec;
}

/* The target of `mxdiag local` without TARGET: this host, no MX lookup. */
static void local_target(mx_target *t) {
    memset(t, 0, sizeof *t);
    t->kind = MX_TARGET_HOST;
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0]) snprintf(host, sizeof host, "localhost");
    snprintf(t->input, sizeof t->input, "%s", host);
    mx_domain_normalize(host, t->domain, sizeof t->domain);
}

static int cmd_check(int argc, char **argv) {
    cli c;
    parse_common(argc, argv, &c);
    mx_target t;
    const char *why;
    mx_json *rec = NULL, *options = NULL;
    if (c.replay) {
        rec = replay_setup(&c, &t);
        options = mx_json_clone(mx_json_get(rec, "options"));
        /* JSON reads "timeout": 3 back as an integer: the rules saw a number */
        mx_json_set(options, "timeout", mx_json_num(c.timeout));
    } else if (local_command) {
        c.local = 1;
        if (!c.only) c.only = "local";
        if (c.nrest > 1) usage_error("%s", "local takes at most one TARGET");
        /* without a target, nothing needs the MX rules */
        if (c.nrest == 0) { c.skip = c.skip ? c.skip : "mx"; local_target(&t); }
    } else if (c.nrest != 1) usage_error("check needs exactly one TARGET%s", c.nrest ? " (got more)" : "");
    if (!rec && c.nrest == 1 && mx_target_parse(c.rest[0], &t, &why) != 0) {
        mx_errf("mxdiag: invalid target '%s': %s", c.rest[0], why);
        return EXIT_USAGE;
    }
    strlist dirs = {0};
    collect_site_dirs(&c, &dirs);
    if (!options) options = rule_options(&c);
    char *resolvers = resolver_csv(&c.resolvers);
    mx_rt *rt = build_runtime(&c, &dirs, options, resolvers);
    mx_check *chk = mx_check_start(rt, &t, NULL, NULL);
    mx_rt_run(rt);
    int code = mx_check_exit_code(chk);
    mx_buf out = MX_BUF_INIT;
    if (strcmp(c.format, "json") == 0) {
        mx_json *doc = mx_check_json(chk);
        mx_json_write(&out, doc, 2);
        mx_buf_putc(&out, '\n');
        mx_json_free(doc);
    } else if (strcmp(c.format, "letter") == 0) {
        mx_json *doc = mx_check_json(chk);
        char when[64];
        mx_letter_write(&out, doc, mx_check_started_utc(chk, when, sizeof when), MXDIAG_VERSION);
        mx_json_free(doc);
    } else if (strcmp(c.format, "nagios") == 0) {
        mx_json *doc = mx_check_json(chk);
        mx_fmt_nagios(&out, doc);
        mx_json_free(doc);
    } else {
        const char *nc = getenv("NO_COLOR");
        int colour = !c.nocolor && isatty(1) && !(nc && *nc);
        mx_check_text(chk, &out, colour);
    }
    fwrite(out.data, 1, out.len, stdout);
    fflush(stdout);
    mx_buf_free(&out);
    char err[512];
    if (mx_rt_finish(rt, err, sizeof err) != 0) { mx_errf("mxdiag: %s", err); code = EXIT_USAGE; }
    mx_check_free(chk);
    mx_rt_free(rt);
    mx_json_free(options);
    mx_json_free(rec);
    free(resolvers);
    cli_free(&c);
    free(dirs.v);
    return code;
}

static int cmd_rules(int argc, char **argv) {
    if (argc < 2) usage_error("%s", "rules needs a subcommand: list or show ID");
    const char *sub = argv[1];
    cli c;
    parse_common(argc - 1, argv + 1, &c);
    if (strcmp(sub, "test") == 0) {
        /* only --rules-dir (and each PATH holding rules): not /etc or the
         * environment, so a test means the same everywhere */
        if (c.nrest < 1) usage_error("%s", "rules test needs a PATH (a test directory or a directory of them)");
        /* each test runs with its recording's options: refuse the ones that would change the calls */
        mx_buf bad = MX_BUF_INIT;
        for (size_t i = 0; i < c.given.n; i++) {
            int ok = !strcmp(c.given.v[i], "verbose") || !strcmp(c.given.v[i], "update");
            for (const char *const *o = replay_output_opts; *o; o++) ok |= !strcmp(*o, c.given.v[i]);
            for (size_t j = 0; j < i; j++) ok |= !strcmp(c.given.v[j], c.given.v[i]);
            if (!ok) mx_buf_printf(&bad, "%s--%s", bad.len ? ", " : "", c.given.v[i]);
        }
        if (bad.len) {
            fprintf(stderr, "mxdiag: rules test runs each test with the options in its recording; these would change "
                            "its engine calls: %s.\nLeave them out (a test's expect.json may set only, skip and rules_dirs).\n",
                    mx_buf_cstr(&bad));
            exit(EXIT_USAGE);
        }
        mx_rules_test_opts to = {c.rest, (size_t)c.nrest, shipped_rules_dir(), c.rules_dirs.v, c.rules_dirs.n,
                                 c.verbose, c.update};
        int rc = mx_rules_test(&to, stdout);
        cli_free(&c);
        return rc;
    }
    strlist dirs = {0};
    collect_site_dirs(&c, &dirs);
    mx_rt *rt = build_runtime(&c, &dirs, NULL, NULL);
    mx_json *rules = mx_rt_rules_json(rt);
    mx_buf out = MX_BUF_INIT;
    int code = 0;
    if (strcmp(sub, "list") == 0) {
        if (strcmp(c.format, "json") == 0) mx_json_write(&out, rules, 2), mx_buf_putc(&out, '\n');
        else
            for (size_t i = 0; i < rules->u.c.len; i++) {
                mx_json *r = rules->u.c.items[i];
                /* site rules' own text: shown as terminal text like any other */
                mx_buf line = MX_BUF_INIT;
                mx_buf_printf(&line, "%-22s %s", mx_json_get_str(r, "id"), mx_json_get_str(r, "description"));
                mx_esc_text_n(&out, line.data, line.len, 0);
                mx_buf_putc(&out, '\n');
                mx_buf_free(&line);
            }
    } else if (strcmp(sub, "show") == 0) {
        if (c.nrest != 1) usage_error("%s", "rules show needs one rule ID");
        mx_json *found = NULL;
        for (size_t i = 0; i < rules->u.c.len; i++)
            if (strcmp(mx_json_get_str(rules->u.c.items[i], "id"), c.rest[0]) == 0) found = rules->u.c.items[i];
        if (!found) { mx_errf("mxdiag: no rule with id '%s'", c.rest[0]); code = EXIT_USAGE; }
        else { mx_json_write(&out, found, 2); mx_buf_putc(&out, '\n'); }
    } else if (strcmp(sub, "api") == 0) {
        /* hidden: the sandbox's API, for RULES.md's drift test */
        mx_json *api = mx_rt_api_json(rt);
        mx_json_write(&out, api, 2);
        mx_buf_putc(&out, '\n');
        mx_json_free(api);
    } else {
        usage_error("unknown rules subcommand '%s' (list, show, test)", sub);
    }
    fwrite(out.data ? out.data : "", 1, out.len, stdout);
    mx_buf_free(&out);
    mx_json_free(rules);
    mx_rt_free(rt);
    free(dirs.v);
    cli_free(&c);
    return code;
}

/* mxdiag batch builds on check's options: see check_cli.h. */
void mx_check_setup_new(int argc, char **argv, mx_check_setup *s) { mx_check_setup_logs(argc, argv, NULL, s); }

void mx_check_setup_logs(int argc, char **argv, const mx_json *facts, mx_check_setup *s) {
    cli *c = mx_xcalloc(1, sizeof *c);
    strlist *dirs = mx_xcalloc(1, sizeof *dirs);
    parse_common(argc, argv, c);
    c->logs_rules = facts != NULL;
    c->facts = facts;
    collect_site_dirs(c, dirs);
    memset(s, 0, sizeof *s);
    s->options = rule_options(c);
    char *resolvers = resolver_csv(&c->resolvers);
    s->rt = build_runtime(c, dirs, s->options, resolvers);
    s->rest = c->rest;
    s->nrest = c->nrest;
    void **priv = mx_xcalloc(3, sizeof *priv);
    priv[0] = c;
    priv[1] = dirs;
    priv[2] = resolvers; /* the runtime keeps pointers into c, dirs and resolvers */
    s->priv = priv;
}

void mx_check_setup_free(mx_check_setup *s) {
    void **priv = s->priv;
    cli *c = priv[0];
    strlist *dirs = priv[1];
    mx_rt_free(s->rt);
    mx_json_free(s->options);
    cli_free(c);
    free(c);
    free(dirs->v);
    free(dirs);
    free(priv[2]);
    free(priv);
    memset(s, 0, sizeof *s);
}

/* Many concurrent probes (batch -j) need descriptors: use what the hard
 * limit allows rather than fail half-way with EMFILE. */
static void raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* ------------------------------------------------------------ settings */

void mx_argv_push(mx_argv *a, const char *s) {
    a->v = mx_xrealloc(a->v, (size_t)(a->n + 2) * sizeof *a->v);
    a->v[a->n++] = mx_xstrdup(s);
    a->v[a->n] = NULL;
}

int mx_cli_has(int argc, char **argv, const char *opt) {
    size_t l = strlen(opt);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strncmp(argv[i], opt, l) && (argv[i][l] == 0 || argv[i][l] == '=')) return 1;
    }
    return 0;
}

/* Settings (a batch list's defaults:, the configuration file) as check
 * options, so that check's parser validates them exactly as it validates the
 * command line; an option given in argv wins. Keys without an option go to
 * *base (NULL: dropped). */
void mx_settings_to_args(const mx_json *d, int argc, char **argv, mx_argv *out, mx_json **base) {
    static const struct { const char *key, *opt; } map[] = {
        {"timeout", "--timeout"},       {"port", "--port"},             {"resolver", "--resolver"},
        {"source_ips", "--source-ip"},  {"sender_ips", "--sender-ip"},  {"sender_domains", "--sender-domain"},
        {"only", "--only"},             {"skip", "--skip"},             {"rules_dir", "--rules-dir"},
        {"allow_reserved", "--allow-reserved"}, {"helo", "--helo"},     {"dnsbl_zones", "--dnsbl-zone"},
        {"dnsbl_key", "--dnsbl-key"},
        {"control_hosts", "--control"},
    };
    for (size_t i = 0; d && d->type == MX_JOBJ && i < d->u.c.len; i++) {
        const char *k = d->u.c.keys[i];
        const mx_json *v = d->u.c.items[i];
        const char *opt = NULL;
        for (size_t m = 0; m < sizeof map / sizeof map[0]; m++) if (!strcmp(map[m].key, k)) opt = map[m].opt;
        if (!opt) {
            if (base) {
                if (!*base) *base = mx_json_obj();
                mx_json_set(*base, k, mx_json_clone(v));
            }
            continue;
        }
        if (mx_cli_has(argc, argv, opt)) continue;
        char num[64];
        if (v->type == MX_JBOOL) { if (v->u.b) mx_argv_push(out, opt); continue; }
        if (v->type == MX_JINT || v->type == MX_JNUM) {
            if (v->type == MX_JINT) snprintf(num, sizeof num, "%lld", v->u.i);
            else snprintf(num, sizeof num, "%g", v->u.n);
            mx_argv_push(out, opt);
            mx_argv_push(out, num);
            continue;
        }
        if (v->type == MX_JSTR) { mx_argv_push(out, opt); mx_argv_push(out, v->u.str.s); continue; }
        if (v->type == MX_JARR) {
            if (!strcmp(k, "only") || !strcmp(k, "skip")) {
                mx_buf csv = MX_BUF_INIT;
                for (size_t j = 0; j < v->u.c.len; j++) {
                    if (j) mx_buf_putc(&csv, ',');
                    mx_buf_puts(&csv, v->u.c.items[j]->u.str.s);
                }
                mx_argv_push(out, opt);
                mx_argv_push(out, mx_buf_cstr(&csv));
                mx_buf_free(&csv);
            } else {
                for (size_t j = 0; j < v->u.c.len; j++) { mx_argv_push(out, opt); mx_argv_push(out, v->u.c.items[j]->u.str.s); }
            }
        }
    }
}

mx_json *mx_config_settings;

/* --config FILE / --no-config are taken out of argv; the file (or
 * $MXDIAG_CONFIG, or /etc/mxdiag/mxdiag.yaml when it exists) is read into
 * mx_config_settings. A named file that cannot be read, or a wrong setting,
 * is a usage error: it would silently change every check. */
static void load_config(int *argc, char **argv) {
    const char *path = NULL;
    int none = 0, j = 1;
    for (int i = 1; i < *argc; i++) {
        if (!strcmp(argv[i], "--")) { while (i < *argc) argv[j++] = argv[i++]; break; }
        if (!strcmp(argv[i], "--no-config")) { none = 1; continue; }
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= *argc) usage_error("option %s needs a value", "--config");
            path = argv[++i];
            continue;
        }
        if (!strncmp(argv[i], "--config=", 9)) { path = argv[i] + 9; continue; }
        argv[j++] = argv[i];
    }
    *argc = j;
    argv[j] = NULL;
    if (none) return;
    if (!path) {
        const char *env = getenv("MXDIAG_CONFIG");
        if (env && *env) path = env;
        else if (access(MXDIAG_DEFAULT_CONFIG, F_OK) == 0) path = MXDIAG_DEFAULT_CONFIG;
        else return;
    }
    char err[1024];
    if (mx_config_read(path, &mx_config_settings, err, sizeof err) != 0)
        usage_error("configuration file: %s", err);
}

/* Environment variables that only tune how fast work is done, never what is
 * read or run: honoured as root too. */
static const char *const env_tuning[] = {"MXDIAG_LOG_THREADS", NULL};

/* --allow-env is taken out of argv (anywhere before "--"). Running as root
 * without it, every MXDIAG_* variable but env_tuning is removed from the
 * environment, with one line on stderr when any was set: `sudo -E` or a
 * cron environment must not choose the configuration file or the code a
 * root run loads. */
static void env_policy(int *argc, char **argv) {
    int allow = 0, j = 1;
    for (int i = 1; i < *argc; i++) {
        if (!strcmp(argv[i], "--")) { while (i < *argc) argv[j++] = argv[i++]; break; }
        if (!strcmp(argv[i], "--allow-env")) { allow = 1; continue; }
        argv[j++] = argv[i];
    }
    *argc = j;
    argv[j] = NULL;
    if (allow || geteuid() != 0) return;
    extern char **environ;
    strlist drop = {0};
    mx_buf named = MX_BUF_INIT;
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "MXDIAG_", 7) != 0) continue;
        const char *eq = strchr(*e, '=');
        if (!eq) continue;
        char *name = mx_xstrndup(*e, (size_t)(eq - *e));
        int tuning = 0;
        for (const char *const *t = env_tuning; *t; t++) tuning |= !strcmp(*t, name);
        if (tuning) { free(name); continue; }
        if (eq[1]) mx_buf_printf(&named, "%s%s", named.len ? ", " : "", name);
        sl_push(&drop, name);
    }
    for (size_t i = 0; i < drop.n; i++) { unsetenv(drop.v[i]); free((char *)drop.v[i]); }
    free(drop.v);
    if (named.len)
        fprintf(stderr, "mxdiag: running as root: ignoring %s from the environment (--allow-env uses %s)\n",
                mx_buf_cstr(&named), strchr(mx_buf_cstr(&named), ',') ? "them" : "it");
    mx_buf_free(&named);
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    env_policy(&argc, argv);
    if (argc < 2) { fputs(usage_text, stderr); return EXIT_USAGE; }
    const char *cmd = argv[1];
    int replay = (!strcmp(cmd, "check") || !strcmp(cmd, "local")) && mx_cli_has(argc - 1, argv + 1, "--replay");
    if (replay) {
        /* a replay runs with the recording's options: no configuration file */
        int j = 1;
        for (int i = 1; i < argc; i++) {
            if (!strcmp(argv[i], "--")) { while (i < argc) argv[j++] = argv[i++]; break; }
            if (!strcmp(argv[i], "--config") || !strncmp(argv[i], "--config=", 9))
                usage_error("%s: a replay runs with the recording's options and reads no configuration file", "--config");
            if (strcmp(argv[i], "--no-config") != 0) argv[j++] = argv[i];
        }
        argc = j;
        argv[j] = NULL;
    } else if (!strcmp(cmd, "check") || !strcmp(cmd, "local") || !strcmp(cmd, "batch") || !strcmp(cmd, "logs")) {
        load_config(&argc, argv);
        /* batch and logs --probe merge them into their own check options */
        if (mx_config_settings && (!strcmp(cmd, "check") || !strcmp(cmd, "local"))) {
            /* [command, settings as options the command line lacks, the command line] */
            mx_argv full = {0};
            mx_argv_push(&full, cmd);
            mx_settings_to_args(mx_config_settings, argc - 1, argv + 1, &full, NULL);
            for (int i = 2; i < argc; i++) mx_argv_push(&full, argv[i]);
            if (!strcmp(cmd, "local")) local_command = 1;
            int rc = cmd_check(full.n, full.v);
            for (int i = 0; i < full.n; i++) free(full.v[i]);
            free(full.v);
            mx_json_free(mx_config_settings);
            mx_config_settings = NULL;
            return rc;
        }
    }
    if (strcmp(cmd, "check") == 0) return cmd_check(argc - 1, argv + 1);
#ifdef MXDIAG_HAVE_LOGS
    if (strcmp(cmd, "logs") == 0) return mx_logs_command(argc - 1, argv + 1);
#endif
    if (strcmp(cmd, "local") == 0) { local_command = 1; return cmd_check(argc - 1, argv + 1); }
    if (strcmp(cmd, "rules") == 0) return cmd_rules(argc - 1, argv + 1);
    if (strcmp(cmd, "batch") == 0) return mx_batch_main(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        print_version();
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) { fputs(usage_text, stdout); return 0; }
    usage_error("unknown command '%s'", cmd);
    return EXIT_USAGE;
}
