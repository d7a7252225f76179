/* Usage errors in nagios mode: a monitoring system shows "(No output)" for a
 * plugin that writes only to stderr, so `--format nagios` (or
 * --format=nagios) anywhere before "--" makes every usage error also print
 * "MXDIAG UNKNOWN - usage: MESSAGE" on stdout (exit 3, EXIT_USAGE). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "escape.h"
#include "formats.h"

static int nagios_mode;

void mx_cli_nagios_mode_scan(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strcmp(argv[i], "--format=nagios") || (!strcmp(argv[i], "--format") && i + 1 < argc && !strcmp(argv[i + 1], "nagios")))
            nagios_mode = 1;
    }
}

int mx_cli_nagios_mode(void) { return nagios_mode; }

void mx_cli_nagios_usage(const char *message) {
    if (!nagios_mode) return;
    mx_buf b = MX_BUF_INIT;
    mx_fmt_nagios_usage(&b, message);
    fwrite(b.data ? b.data : "", 1, b.len, stdout);
    fflush(stdout);
    mx_buf_free(&b);
}

void mx_cli_failf(const char *who, const char *fmt, ...) {
    mx_buf m = MX_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    mx_buf_vprintf(&m, fmt, ap);
    va_end(ap);
    mx_errf("%s: %s", who, mx_buf_cstr(&m)); /* escaped as one line of terminal text */
    mx_cli_nagios_usage(mx_buf_cstr(&m));
    mx_buf_free(&m);
}
