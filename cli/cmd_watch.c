/* `mxdiag watch [FILE...]`: follows the mail logs as they grow and says when
 * the delivery scope changes, as JSON lines.
 *
 * The following, the sliding window, the judgement by the logs rules, the
 * events and the live checks are cli/watch_core.c (shared with `mxdiag serve
 * --watch`); this file is the command line and the loop.  Events go to stdout or
 * --output FILE, to --exec CMD (the event on its standard input, killed after
 * --exec-timeout) and to syslog (--syslog).  SIGHUP reopens the files and the
 * output and rereads the configuration file; SIGTERM/SIGINT end with exit 0
 * after the pending events are written. */
#include "batch_input.h" /* mx_config_read */
#include "cli.h"
#include "escape.h" /* mx_errf */
#include "logs_report.h"
#include "watch_core.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WATCH_TICK_MS 200

static volatile sig_atomic_t watch_stop, watch_hup;
static void on_stop(int sig) { watch_stop = sig; }
static void on_hup(int sig) { (void)sig; watch_hup = 1; }

static void usage(FILE *f) {
    fputs("Usage: mxdiag watch [OPTIONS] [FILE...] [CHECK-OPTIONS]\n"
          "\n"
          "Follows mail logs as they grow (across rotation by rename, with or without\n"
          "gzip of the old file, and by copytruncate), keeps the delivery events of a\n"
          "sliding window, judges them with the logs rules and writes one JSON line\n"
          "(schema mxdiag.watch/1) each time the scope changes: a destination starts\n"
          "failing or recovers, intermittent failures start, every remote delivery\n"
          "stops (cutover: your side) or resumes. A destination that starts failing is\n"
          "checked live (`mxdiag check`) and the verdict is put beside the log evidence.\n"
          "Default file: the first of /var/log/mail.log, /var/log/maillog,\n"
          "/var/log/exim4/mainlog, /var/log/exim/main.log that exists.\n"
          "\n"
          "Options:\n"
          "  --from WHEN         read the files from their start and keep lines from WHEN\n"
          "                      on (2h, 30m, ISO time, epoch); default: start at the end\n"
          "  --window DUR        the sliding window judged (default 30m; 10s..7d)\n"
          "  --interval DUR      judge at least this often (default 10s; 1s..1h); new\n"
          "                      events are judged within a second\n"
          "  --max-lines N       delivery lines kept in the window (default 100000)\n"
          "  --output FILE       append the events to FILE instead of stdout\n"
          "  --exec CMD          run CMD (a shell command) for each event, the event on\n"
          "                      its standard input\n"
          "  --exec-timeout DUR  kill CMD after this long (default 10s)\n"
          "  --syslog            also log each event to syslog (facility mail; journald)\n"
          "  --no-check          no live checks\n"
          "  --max-checks N      live checks started per minute at most (default 6)\n"
          "  --check-interval DUR  a destination is checked at most once per DUR\n"
          "                      (default 10m)\n"
          "  --check-timeout DUR a live check is killed after DUR (default 60s)\n"
          "  --utc               zone-less timestamps are UTC (default: local time)\n"
          "  --rules-dir DIR, --trace   as for mxdiag logs\n"
          "  CHECK-OPTIONS       options of `mxdiag check` (--timeout, --resolver,\n"
          "                      --source-ip, --only, ...) go to the live checks\n"
          "  -h, --help          this help\n"
          "\n"
          "Signals: SIGHUP reopens the log files and the output file and rereads the\n"
          "configuration file; SIGTERM and SIGINT end after pending events are written.\n"
          "\n"
          "Exit status: 0 ended by a signal, 3 usage error or no file to follow.\n"
          "\n"
          "See also: mxdiag(1), RULES.md \"Watch events\".\n",
          f);
}

static int check_flag(const char *a) {
    const mx_check_opt *o = mx_check_opt_find(a);
    return strchr(a, '=') != NULL || (o && !o->takes_value);
}

static void reread_config(void) {
    if (!mx_config_path) return;
    mx_json *s = NULL;
    char err[1024];
    if (mx_config_read(mx_config_path, &s, err, sizeof err) != 0) {
        mx_errf("mxdiag watch: SIGHUP: configuration file: %s (the previous settings stay)", err);
        return;
    }
    mx_json_free(mx_config_settings);
    mx_config_settings = s;
}

int mx_cmd_watch(int argc, char **argv) {
    mx_watch *w = mx_watch_new("mxdiag watch", 1);
    const char **paths = mx_xcalloc((size_t)argc + 1, sizeof *paths);
    size_t np = 0;
    int rc = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            rc = 0;
            goto out;
        }
        int took = mx_watch_option(w, argc, argv, &i, "--output");
        if (took < 0) goto out;
        if (took) continue;
        if (a[0] == '-' && a[1] == '-' && a[2]) {
            int rule_opt = mx_logs_judge_option(a);
            if (!rule_opt && !mx_check_opt_find(a)) {
                static const char *const own[] = {"from", "window", "interval", "output", "exec", "exec-timeout",
                                                  "syslog", "no-check", "max-checks", "check-interval",
                                                  "check-timeout", "max-lines", "utc", NULL};
                const char *near = mx_cli_suggest_option(a, own);
                if (near) mx_errf("mxdiag watch: unknown option %s (did you mean --%s?)", a, near);
                else mx_errf("mxdiag watch: unknown option %s", a);
                fprintf(stderr, "Try 'mxdiag watch --help'.\n");
                goto out;
            }
            char *val = NULL;
            if (!check_flag(a)) {
                if (!v) {
                    mx_errf("mxdiag watch: %s needs a value", a);
                    goto out;
                }
                val = argv[++i];
            }
            if (rule_opt) mx_watch_rule_option(w, argv[i - (val != NULL)], val);
            else {
                mx_watch_check_option(w, argv[i - (val != NULL)]);
                if (val) mx_watch_check_option(w, val);
            }
        } else if (a[0] == '-' && a[1]) {
            mx_errf("mxdiag watch: unknown option %s", a);
            fprintf(stderr, "Try 'mxdiag watch --help'.\n");
            goto out;
        } else paths[np++] = a;
    }
    if (mx_watch_start(w, paths, np) != 0) goto out;

    struct sigaction sa, old_int, old_term, old_hup;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, &old_hup);
    watch_stop = watch_hup = 0;

    while (!watch_stop) {
        if (watch_hup) {
            watch_hup = 0;
            mx_watch_reopen(w);
            reread_config();
            fprintf(stderr, "mxdiag watch: SIGHUP: files reopened, configuration reread\n");
        }
        mx_watch_step(w);
        if (mx_watch_output_closed(w)) {
            watch_stop = SIGPIPE;
            break;
        }
        struct timespec ts = {0, WATCH_TICK_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    /* SIGTERM: what is already read is judged, running checks end, the
     * events go out */
    mx_watch_finish(w);
    const mx_watch_counts *c = mx_watch_get_counts(w);
    fprintf(stderr, "mxdiag watch: %s: %llu lines read, %llu unparsed; ending\n",
            watch_stop == SIGINT ? "SIGINT" : watch_stop == SIGPIPE ? "output closed" : "SIGTERM",
            (unsigned long long)c->lines_read, (unsigned long long)c->unparsed);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    rc = 0;
out:
    mx_watch_free(w);
    free(paths);
    return rc;
}
