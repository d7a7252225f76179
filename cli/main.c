/* mxdiag: the command line. Takes the global options out of argv (--allow-env,
 * --config), then hands over to one command (cmd_*.c). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include "batch_input.h"
#include "cli.h"
#include "escape.h"
#include "suggest.h"

#define MXDIAG_DEFAULT_CONFIG "/etc/mxdiag/mxdiag.yaml"

/* Many concurrent probes (batch -j) need descriptors: use what the hard
 * limit allows rather than fail half-way with EMFILE. */
static void raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

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
            if (i + 1 >= *argc) mx_cli_usage_error("option %s needs a value", "--config");
            path = argv[++i];
            continue;
        }
        if (!strncmp(argv[i], "--config=", 9)) { path = argv[i] + 9; continue; }
        argv[j++] = argv[i];
    }
    *argc = j;
    argv[j] = NULL;
    if (none) {
        mx_config_disabled = 1;
        return;
    }
    if (!path) {
        const char *env = getenv("MXDIAG_CONFIG");
        if (env && *env) path = env;
        else if (access(MXDIAG_DEFAULT_CONFIG, F_OK) == 0) path = MXDIAG_DEFAULT_CONFIG;
        else return;
    }
    char err[1024];
    if (mx_config_read(path, &mx_config_settings, err, sizeof err) != 0)
        mx_cli_usage_error("configuration file: %s", err);
    mx_config_path = path; /* argv's or the environment's: lives as long as the process */
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
    mx_strlist drop = {0};
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
        mx_sl_push(&drop, name);
    }
    for (size_t i = 0; i < drop.n; i++) { unsetenv(drop.v[i]); free((char *)drop.v[i]); }
    free(drop.v);
    if (named.len)
        fprintf(stderr, "mxdiag: running as root: ignoring %s from the environment (--allow-env uses %s)\n",
                mx_buf_cstr(&named), strchr(mx_buf_cstr(&named), ',') ? "them" : "it");
    mx_buf_free(&named);
}

/* `mxdiag --no-color check ...`: options before the command are moved after
 * it, where the command's parser reads them like any other (a value option
 * takes its value along). --help, -h and --version stay: they are commands
 * of their own. Returns the index of the command (argc: none). */
static int options_after_command(int argc, char **argv) {
    int i = 1;
    while (i < argc && argv[i][0] == '-' && argv[i][1] && strcmp(argv[i], "--help") && strcmp(argv[i], "-h") &&
           strcmp(argv[i], "--version") && strcmp(argv[i], "--")) {
        const mx_check_opt *o = mx_check_opt_find(argv[i]);
        if (!o && argv[i][1] == '-' && strcmp(argv[i], "--no-config")) {
            const char *near = mx_cli_suggest_option(argv[i], NULL);
            if (near) {
                char m[160];
                snprintf(m, sizeof m, "unknown option '%%s' (did you mean --%s?)", near);
                mx_cli_usage_error(m, argv[i]);
            }
            mx_cli_usage_error("unknown option '%s' before the command", argv[i]);
        }
        if (!o && argv[i][1] != '-') mx_cli_usage_error("unknown option '%s' before the command", argv[i]);
        i += o && o->takes_value && !strchr(argv[i], '=') ? 2 : 1;
    }
    if (i >= argc) return argc;
    if (i > 1) {
        /* [prog, options..., cmd, rest] -> [prog, cmd, options..., rest] */
        char *cmd = argv[i];
        memmove(argv + 2, argv + 1, (size_t)(i - 1) * sizeof *argv);
        argv[1] = cmd;
    }
    return 1;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    mx_cli_orig_argc = argc;
    mx_cli_orig_argv = mx_xcalloc((size_t)argc + 1, sizeof *mx_cli_orig_argv);
    memcpy(mx_cli_orig_argv, argv, (size_t)argc * sizeof *argv);
    env_policy(&argc, argv);
    mx_cli_nagios_mode_scan(argc, argv);
    if (argc < 2) { mx_cli_short_usage(stdout); return EXIT_USAGE; }
    if (options_after_command(argc, argv) >= argc) {
        /* options but no command; `mxdiag --format nagios`: the plugin line,
         * the short usage on stderr */
        mx_cli_nagios_usage("no command (check, local, logs, batch, rules, version)");
        mx_cli_short_usage(mx_cli_nagios_mode() ? stderr : stdout);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    int replay = (!strcmp(cmd, "check") || !strcmp(cmd, "local")) && mx_cli_has(argc - 1, argv + 1, "--replay");
    if (replay) {
        /* a replay runs with the recording's options: no configuration file */
        int j = 1;
        for (int i = 1; i < argc; i++) {
            if (!strcmp(argv[i], "--")) { while (i < argc) argv[j++] = argv[i++]; break; }
            if (!strcmp(argv[i], "--config") || !strncmp(argv[i], "--config=", 9))
                mx_cli_usage_error("%s: a replay runs with the recording's options and reads no configuration file", "--config");
            if (strcmp(argv[i], "--no-config") != 0) argv[j++] = argv[i];
        }
        argc = j;
        argv[j] = NULL;
    } else if (!strcmp(cmd, "check") || !strcmp(cmd, "local") || !strcmp(cmd, "batch") || !strcmp(cmd, "logs") ||
               !strcmp(cmd, "serve") || !strcmp(cmd, "watch")) {
        load_config(&argc, argv);
        /* batch and logs --probe merge them into their own check options */
        if (mx_config_settings && (!strcmp(cmd, "check") || !strcmp(cmd, "local"))) {
            /* [command, settings as options the command line lacks, the command line] */
            mx_argv full = {0};
            mx_argv_push(&full, cmd);
            mx_settings_to_args(mx_config_settings, argc - 1, argv + 1, &full, NULL);
            for (int i = 2; i < argc; i++) mx_argv_push(&full, argv[i]);
            int rc = mx_cmd_check(full.n, full.v, !strcmp(cmd, "local"));
            mx_argv_release(&full);
            mx_json_free(mx_config_settings);
            mx_config_settings = NULL;
            return rc;
        }
    }
    if (strcmp(cmd, "check") == 0) return mx_cmd_check(argc - 1, argv + 1, 0);
    if (strcmp(cmd, "logs") == 0) return mx_logs_main(argc - 1, argv + 1);
    if (strcmp(cmd, "local") == 0) return mx_cmd_check(argc - 1, argv + 1, 1);
    if (strcmp(cmd, "rules") == 0) return mx_cmd_rules(argc - 1, argv + 1);
    if (strcmp(cmd, "explain") == 0) return mx_cmd_explain(argc - 1, argv + 1);
    if (strcmp(cmd, "batch") == 0) return mx_batch_main(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0) return mx_cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "watch") == 0) return mx_cmd_watch(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        mx_print_version();
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        /* mxdiag help COMMAND: that command's help */
        if (!strcmp(cmd, "help") && argc > 2) {
            if (mx_cli_cmd_help(argv[2], stdout) == 0) return 0;
            if (!strcmp(argv[2], "batch") || !strcmp(argv[2], "logs") || !strcmp(argv[2], "watch")) {
                char *h[] = {argv[2], "--help", NULL};
                return !strcmp(argv[2], "batch") ? mx_batch_main(2, h)
                       : !strcmp(argv[2], "watch") ? mx_cmd_watch(2, h) : mx_logs_main(2, h);
            }
        }
        mx_cli_usage(stdout);
        return 0;
    }
    const char *near = mx_suggest(cmd, mx_cli_commands, (size_t)-1);
    if (near) {
        char m[160];
        snprintf(m, sizeof m, "unknown command '%%s' (did you mean '%s'?)", near);
        mx_cli_usage_error(m, cmd);
    }
    mx_cli_usage_error("unknown command '%s' (check, local, logs, watch, batch, rules, version)", cmd);
    return EXIT_USAGE;
}
