/* check's options, each once: name, short form, whether it takes a value,
 * its configuration-file key, the recording key it sets, whether it only
 * shapes the output, and its --help text. check, local and rules parse with
 * it (check_setup.c), batch and logs --probe pass check's options through
 * with it, the configuration file and a batch list's defaults: become
 * options through it, and --help lists it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "escape.h"

const mx_check_opt mx_check_opts[] = {
    {"format", 0, MX_OPT_FORMAT, 1, NULL, NULL, 1,
     "  --format text|json|nagios\n"
     "                      output format (default text); nagios: one plugin status\n"
     "                      line with perfdata, for Nagios/Icinga/Zabbix\n"},
    {"json", 0, MX_OPT_JSON, 0, NULL, NULL, 1,
     "  --json              same as --format json\n"},
    {"letter", 0, MX_OPT_LETTER, 0, NULL, NULL, 1,
     "  --letter            write a plain-text letter to the domain's postmaster with\n"
     "                      the facts found (to edit and send yourself)\n"},
    {"resolver", 0, MX_OPT_RESOLVER, 1, "resolver", NULL, 0,
     "  --resolver ADDR[:PORT]\n"
     "                      DNS resolver to use (repeatable; default: /etc/resolv.conf)\n"},
    {"source-ip", 0, MX_OPT_SOURCE, 1, "source_ips", "source_ips", 0,
     "  --source-ip ADDR    bind outgoing probes to ADDR (repeatable: probes go out\n"
     "                      from each address, to isolate blocks tied to one source)\n"},
    {"sender-ip", 0, MX_OPT_SENDER_IP, 1, "sender_ips", "sender_ips", 0,
     "  --sender-ip ADDR    an address your mail leaves from (repeatable): checked\n"
     "                      on DNSBLs (after each list's test points pass) and for\n"
     "                      PTR / forward-confirmed reverse DNS\n"},
    {"sender-domain", 0, MX_OPT_SENDER_DOMAIN, 1, "sender_domains", "sender_domains", 0,
     "  --sender-domain NAME\n"
     "                      your HELO name or sender domain (repeatable): checked\n"
     "                      on domain blocklists (Spamhaus DBL)\n"},
    {"control", 0, MX_OPT_CONTROL, 1, "control_hosts", "control_hosts", 0,
     "  --control HOST      a control mail host (name or address, repeatable) probed\n"
     "                      on port 25 when every MX of the target fails, to tell a\n"
     "                      block on your side from one on theirs; none by default\n"},
    {"dnsbl-zone", 0, MX_OPT_DNSBL_ZONE, 1, "dnsbl_zones", "dnsbl_zones", 0,
     "  --dnsbl-zone ZONE   ask only this blocklist (repeatable; default: the whole\n"
     "                      catalog); a zone the catalog lacks is a generic RFC 5782 list\n"},
    {"dnsbl-key", 0, MX_OPT_DNSBL_KEY, 1, "dnsbl_key", NULL, 0,
     "  --dnsbl-key KEY     Spamhaus DQS key (free under the public mirrors' terms): ask\n"
     "                      KEY.zen.dq.spamhaus.net etc. instead of the public mirrors;\n"
     "                      never printed (better: dnsbl_key in the configuration file)\n"},
    {"config", 0, MX_OPT_CONFIG, 1, NULL, NULL, 0,
     "  --config FILE       read default options from FILE (default:\n"
     "                      /etc/mxdiag/mxdiag.yaml when it exists, or $MXDIAG_CONFIG);\n"
     "                      --no-config reads none. Command-line options win. A\n"
     "                      relative rules_dir in FILE is relative to FILE's directory\n"},
    {"timeout", 0, MX_OPT_TIMEOUT, 1, "timeout", "timeout", 0,
     "  --timeout SECONDS   bound for each network operation (default 10)\n"},
    {"per-host", 0, MX_OPT_PER_HOST, 1, NULL, NULL, 0,
     "  --per-host N        connections open at once to one address (default 2);\n"
     "                      more wait their turn (politeness, also in batch)\n"},
    {"max-connections", 0, MX_OPT_MAX_CONN, 1, NULL, NULL, 0,
     "  --max-connections N connections open at once in total (default: the open-files\n"
     "                      limit minus 64, at most 4096; never more than that); more\n"
     "                      wait their turn, and a connect's timeout starts when it\n"
     "                      is made (batch reports the peak in its summary)\n"},
    {"qps", 0, MX_OPT_QPS, 1, NULL, NULL, 0,
     "  --qps N             start at most N DNS queries per second (default: no cap;\n"
     "                      queued queries' timeouts start when they are sent)\n"},
    {"port", 0, MX_OPT_PORT, 1, "port", "port", 0,
     "  --port N            SMTP port to probe (default 25)\n"},
    {"rules-dir", 0, MX_OPT_RULESDIR, 1, "rules_dir", NULL, 1,
     "  --rules-dir DIR     load site rules from DIR after the shipped ones (repeatable;\n"
     "                      also /etc/mxdiag/rules.d, the configuration file's rules_dir\n"
     "                      and MXDIAG_RULES_PATH=DIR:DIR; never a batch list); a site\n"
     "                      rule with the id of a shipped rule replaces it. As root,\n"
     "                      rule files and directories (and the configuration file)\n"
     "                      must be owned by root, writable only by root and not\n"
     "                      symbolic links, or they are refused\n"},
    {"rule-arg", 0, MX_OPT_RULE_ARG, 1, NULL, NULL, 0,
     "  --rule-arg ID.OPTION=VALUE\n"
     "                      set an option a rule declares in its `options` (repeatable;\n"
     "                      also rule_options: in the configuration file and batch lists);\n"
     "                      VALUE is converted to the declared type, lists and maps as JSON\n"},
    /* the configuration file's / a batch list's rule_options: and overrides:, typed (JSON text) */
    {"rule-arg-json", 0, MX_OPT_RULE_ARG_JSON, 1, "rule_options", NULL, 0, NULL},
    {"override-json", 0, MX_OPT_OVERRIDE_JSON, 1, "overrides", NULL, 0, NULL},
    {"only", 0, MX_OPT_ONLY, 1, "only", NULL, 0,
     "  --only ID,...       run only these rules or categories (and what they need)\n"},
    {"skip", 0, MX_OPT_SKIP, 1, "skip", NULL, 0,
     "  --skip ID,...       do not run these rules or categories\n"},
    {"trace", 0, MX_OPT_TRACE, 0, NULL, NULL, 1,
     "  --trace             print every engine call and its result on stderr\n"},
    {"strict-rules", 0, MX_OPT_STRICT_RULES, 0, "strict_rules", NULL, 1,
     "  --strict-rules      a site rule that failed or was skipped for a missing fact\n"
     "                      fails the run: exit status 3 (2 stays 2)\n"},
    {"transcript", 0, MX_OPT_TRANSCRIPT, 0, NULL, NULL, 1,
     "  --transcript        print each connection and SMTP dialogue on stderr as swaks\n"
     "                      does (=== Trying, -> EHLO, <- 250-..., == TLS started)\n"},
    {"ipv4", '4', '4', 0, NULL, "family", 0,
     "  -4, --ipv4          probe only IPv4 addresses of the mail hosts\n"},
    {"ipv6", '6', '6', 0, NULL, "family", 0,
     "  -6, --ipv6          probe only IPv6 addresses of the mail hosts\n"},
    {"record", 0, MX_OPT_RECORD, 1, NULL, NULL, 1,
     "  --record FILE       write every engine call and result to FILE (JSON; a\n"
     "                      symbolic link at FILE is refused)\n"},
    {"replay", 0, MX_OPT_REPLAY, 1, NULL, NULL, 1,
     "  --replay FILE       answer engine calls from a recording: no network; the\n"
     "                      recording's target and options, no configuration file\n"},
    {"allow-reserved", 0, MX_OPT_ALLOW_RESERVED, 0, "allow_reserved", "allow_reserved", 0,
     "  --allow-reserved    report MX addresses in special-purpose blocks (private,\n"
     "                      documentation, loopback) as info, not warn: for labs and\n"
     "                      internal mail networks\n"},
    {"local", 0, MX_OPT_LOCAL, 0, NULL, "local", 0,
     "  --local             also run the local checks (listeners, MTA settings, local\n"
     "                      firewall) and compare them with the target's MX\n"},
    {"sysroot", 0, MX_OPT_SYSROOT, 1, NULL, "sysroot", 0,
     "  --sysroot DIR       local checks read files and /proc under DIR and take\n"
     "                      command output from DIR/run/NAME (fixtures, no commands run)\n"},
    {"config-dir", 0, MX_OPT_CONFIG_DIR, 1, NULL, "config_dirs", 0,
     "  --config-dir DIR    also let the local checks read files under DIR (repeatable)\n"},
    {"helo", 0, MX_OPT_HELO, 1, "helo", "helo", 0,
     "  --helo NAME         name to announce in EHLO/HELO (default: this host's name if\n"
     "                      fully qualified, else the address literal [ADDR])\n"},
    {"rcpt", 0, MX_OPT_RCPT, 1, NULL, "rcpt", 0,
     "  --rcpt ADDRESS      also ask each MX whether it accepts ADDRESS (MAIL FROM,\n"
     "                      RCPT TO, then RSET and QUIT; never DATA, no mail is sent)\n"},
    {"mail-from", 0, MX_OPT_MAIL_FROM, 1, NULL, "mail_from", 0,
     "  --mail-from ADDRESS sender for --rcpt (default: the empty sender <>)\n"},
    {"ca-file", 0, MX_OPT_CA_FILE, 1, NULL, NULL, 0,
     "  --ca-file FILE      also trust the CA certificates in FILE (PEM) when checking\n"
     "                      STARTTLS certificates (SSL_CERT_FILE/SSL_CERT_DIR work too)\n"},
    {"no-color", 0, MX_OPT_NOCOLOR, 0, NULL, NULL, 1,
     "  --no-color          no colour in text output (also NO_COLOR=1)\n"},
    {"width", 0, MX_OPT_WIDTH, 1, NULL, NULL, 1,
     "  --width N           wrap text output at N columns (default: the terminal's\n"
     "                      width, else $COLUMNS, else 80)\n"},
    {"help", 'h', 'h', 0, NULL, NULL, 1,
     "  -h, --help          this help\n"},
    {"version", 0, MX_OPT_VERSION, 0, NULL, NULL, 1,
     "  --version           print the version\n"},
    {"update", 0, MX_OPT_UPDATE, 0, NULL, NULL, 0, NULL},
    {"verbose", 'v', 'v', 0, NULL, NULL, 1,
     "  -v, --verbose       text: explanations and advice for every finding; twice\n"
     "                      (-v -v) the evidence too (default: the verdict, its next\n"
     "                      step, one line per problem; `mxdiag explain CODE`)\n"},
    {"quiet", 'q', 'q', 0, NULL, NULL, 1,
     "  -q, --quiet         text: the verdict line only\n"},
    {0},
};

const mx_check_opt *mx_check_opt_find(const char *arg) {
    if (arg[0] != '-') return NULL;
    if (arg[1] != '-') {
        for (const mx_check_opt *o = mx_check_opts; o->name; o++)
            if (o->short_name && arg[1] == o->short_name && !arg[2]) return o;
        return NULL;
    }
    const char *name = arg + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    for (const mx_check_opt *o = mx_check_opts; o->name; o++)
        if (strlen(o->name) == len && !strncmp(o->name, name, len)) return o;
    return NULL;
}

int mx_check_opt_takes_value(const char *opt) {
    if (strncmp(opt, "--", 2) != 0) return 0;
    const mx_check_opt *o = mx_check_opt_find(opt);
    return o && o->takes_value;
}

static const mx_check_opt *by_name(const char *name) {
    for (const mx_check_opt *o = mx_check_opts; o->name; o++)
        if (!strcmp(o->name, name)) return o;
    return NULL;
}

int mx_check_opt_output_only(const char *name) {
    const mx_check_opt *o = by_name(name);
    return o && o->output_only;
}

const char *mx_check_opt_recorded(const char *name) {
    const mx_check_opt *o = by_name(name);
    return o ? o->recorded : NULL;
}

static const char *usage_head =
    "Usage: mxdiag COMMAND [OPTIONS] ...\n"
    "\n"
    "Commands:\n"
    "  check TARGET        diagnose delivery to TARGET: a domain, user@domain, a host\n"
    "                      name or IP address with optional :port (no MX lookup then)\n"
    "  logs [FILE...]      summarise delivery failures in mail logs (see mxdiag logs --help)\n"
    "  local [TARGET]      diagnose this host as a mail server: MTA listeners, Postfix/\n"
    "                      Exim settings, local firewall (nft, iptables, UFW, CSF);\n"
    "                      with TARGET also its MX checks (same as check --local\n"
    "                      --only local TARGET)\n"
    "  batch FILE          check every domain of a YAML or plain list, concurrently\n"
    "                      (see mxdiag batch --help)\n"
    "  watch [FILE...]     follow mail logs: one JSON event when a destination starts\n"
    "                      failing or recovers, or all fail (see mxdiag watch --help)\n"
    "  serve               a Prometheus exporter: /probe?target=DOMAIN&module=NAME,\n"
    "                      /metrics (see mxdiag serve --help)\n"
    "  explain CODE        what a finding code means (its rule, severity, RULES.md)\n"
    "  rules list          list the loaded rules (shipped and site)\n"
    "  rules show ID       show one rule: description, facts, finding codes\n"
    "  rules facts FILE    replay a recording (check --record FILE) and print the facts\n"
    "                      its rules published, as JSON (what site rules can require)\n"
    "  rules test PATH...  replay rule tests (recording.json + expect.json) offline and\n"
    "                      compare the findings (--update rewrites expect.json; -v)\n"
    "  version             print the version\n"
    "\n"
    "Options for check:\n";

static const char *usage_tail =
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

void mx_cli_usage(FILE *f) {
    fputs(usage_head, f);
    for (const mx_check_opt *o = mx_check_opts; o->name; o++)
        if (o->help) fputs(o->help, f);
    fputs(usage_tail, f);
}

void mx_cli_cmd_usage_error(const char *cmd, const char *fmt, const char *arg) {
    const char *sp = cmd ? " " : "";
    mx_buf m = MX_BUF_INIT;
    mx_buf_printf(&m, fmt, arg);
    mx_errf("mxdiag%s%s: %s", sp, cmd ? cmd : "", mx_buf_cstr(&m)); /* arg is what the user typed: escaped */
    mx_cli_nagios_usage(mx_buf_cstr(&m));
    mx_buf_free(&m);
    fprintf(stderr, "Try 'mxdiag%s%s --help'.\n", sp, cmd ? cmd : "");
    exit(EXIT_USAGE);
}

/* The command being parsed (mx_cli_parse sets it): its usage errors point to its own --help. */
static const char *usage_cmd;
void mx_cli_set_usage_cmd(const char *cmd) { usage_cmd = cmd; }

void mx_cli_usage_error(const char *fmt, const char *arg) { mx_cli_cmd_usage_error(usage_cmd, fmt, arg); }

void mx_argv_push(mx_argv *a, const char *s) {
    a->v = mx_xrealloc(a->v, (size_t)(a->n + 2) * sizeof *a->v);
    a->v[a->n++] = mx_xstrdup(s);
    a->v[a->n] = NULL;
}

void mx_argv_release(mx_argv *a) {
    for (int i = 0; i < a->n; i++) free(a->v[i]);
    free(a->v);
    a->v = NULL;
    a->n = 0;
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
    for (size_t i = 0; d && d->type == MX_JOBJ && i < d->u.c.len; i++) {
        const char *k = d->u.c.keys[i];
        const mx_json *v = d->u.c.items[i];
        /* the configuration file's settings of `serve` (cmd_serve.c): no check option */
        if (!strcmp(k, "modules") || !strcmp(k, "serve_targets")) continue;
        const mx_check_opt *o = mx_check_opts;
        while (o->name && !(o->config_key && !strcmp(o->config_key, k))) o++;
        if (!o->name) {
            if (base) {
                if (!*base) *base = mx_json_obj();
                mx_json_set(*base, k, mx_json_clone(v));
            }
            continue;
        }
        char opt[64];
        snprintf(opt, sizeof opt, "--%s", o->name);
        if (o->id == MX_OPT_RULE_ARG_JSON && v->type == MX_JOBJ) {
            /* one typed option each; a --rule-arg on the command line comes later and wins */
            for (size_t r = 0; r < v->u.c.len; r++) {
                const mx_json *m = v->u.c.items[r];
                for (size_t j = 0; m->type == MX_JOBJ && j < m->u.c.len; j++) {
                    mx_buf a = MX_BUF_INIT;
                    mx_buf_printf(&a, "%s.%s=", v->u.c.keys[r], m->u.c.keys[j]);
                    mx_json_write(&a, m->u.c.items[j], 0);
                    mx_argv_push(out, opt);
                    mx_argv_push(out, mx_buf_cstr(&a));
                    mx_buf_free(&a);
                }
            }
            continue;
        }
        if (o->id == MX_OPT_OVERRIDE_JSON && v->type == MX_JARR) {
            for (size_t j = 0; j < v->u.c.len; j++) {
                mx_buf a = MX_BUF_INIT;
                mx_json_write(&a, v->u.c.items[j], 0);
                mx_argv_push(out, opt);
                mx_argv_push(out, mx_buf_cstr(&a));
                mx_buf_free(&a);
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
const char *mx_config_path;
int mx_config_disabled;
