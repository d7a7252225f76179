/* Facts about this host for the local checks: listening TCP sockets (as
 * `ss -ltnp` finds them), reads of allow-listed configuration files, and a
 * fixed set of allow-listed commands run with a timeout and an output cap.
 * No Lua here: the results are plain mx_json values. */
#ifndef MX_SYSINFO_H
#define MX_SYSINFO_H
#include <stddef.h>
#include "addr.h"
#include "json.h"

#define MX_SYS_FILE_MAX (1u << 20)    /* bytes read from one config file */
#define MX_SYS_OUT_MAX (4u << 20)     /* bytes kept of a command's stdout */
#define MX_SYS_ERR_MAX (64u << 10)    /* bytes kept of a command's stderr */

/* One socket line of /proc/net/tcp or /proc/net/tcp6. */
typedef struct mx_proc_sock {
    mx_addr local;
    int port;
    int state;                 /* 0x0A = LISTEN */
    unsigned long long inode;
    unsigned uid;
} mx_proc_sock;

/* Parses one data line of /proc/net/tcp (v6 = 0) or tcp6 (v6 = 1). The
 * addresses are the kernel's hex dump of the in-memory (network order) words
 * printed as host-order integers. Returns 0, or -1 for the header line and
 * anything malformed. */
int mx_proc_tcp_parse_line(const char *line, int v6, mx_proc_sock *out);

/* Listening TCP sockets on the given ports (all ports when nports == 0),
 * read from ROOT/proc/net/tcp{,6} and ROOT/proc/[pid]/fd (root "" = /).
 * Returns {"listeners":[{address,port,family,inode,pid?,process?}],
 * "notes":[...], "unreadable_pids":n, "scanned_pids":n}. */
mx_json *mx_sys_listeners(const char *root, const int *ports, size_t nports);

/* Is path one of the configuration files the local checks may read? The
 * exact files of a fixed list, plus files under extra_dirs (--config-dir),
 * never a credential or private key (passwd.client, *.key, *.pem, sasl...,
 * .../private/...). path must be absolute, without "..", "//" or "/./".
 * Returns 1 or 0 with *why set. */
int mx_sys_path_allowed(const char *path, const char *const *extra_dirs, size_t nextra, const char **why);
/* The extra_dirs entry an allowed path lies under, NULL for the fixed list. */
const char *mx_sys_path_base(const char *path, const char *const *extra_dirs, size_t nextra);

/* Reads ROOT/path (after the allow-list check, done by the caller; base: its
 * mx_sys_path_base). Result: {"path","content","size","truncated"} or
 * {"error":"missing|denied|error","detail"}. Follows no symbolic link: the
 * file is opened with O_NOFOLLOW and the opened file's real path must be
 * ROOT/path (ROOT and base may be reached through links, nothing below
 * them); a regular file only. */
mx_json *mx_sys_read_file(const char *root, const char *path, const char *base);

/* The allow-listed commands, by name. argv is NULL-terminated. */
typedef struct mx_sys_cmd {
    const char *name;
    const char *const *argv;  /* argv[0] is the program's base name */
    const char *needs;        /* what it usually needs, for the "denied" note */
} mx_sys_cmd;
const mx_sys_cmd *mx_sys_cmd_find(const char *name);
/* Comma-separated names, for error messages and --help. */
const char *mx_sys_cmd_names(void);

/* Runs the command (searching /usr/sbin:/usr/bin:/sbin:/bin only, clean
 * environment, LC_ALL=C, stdin /dev/null) for at most timeout_ms. Blocks.
 * Result: {"status":n,"stdout","stderr","truncated"?} or
 * {"error":"missing|denied|timeout|error","detail", "stderr"?}.
 * With root non-empty no process runs: ROOT/run/NAME is the fixture for
 * stdout (status 0), ROOT/run/NAME.denied means denied, absence = missing. */
mx_json *mx_sys_run(const char *root, const mx_sys_cmd *cmd, int timeout_ms);

/* The same without blocking: the command runs while the loop goes on, and
 * cb(result, ud) is called later from the loop (never inline), owning the
 * result. Fixtures (root non-empty) and a missing program also complete
 * through the loop. */
struct mx_loop;
typedef void (*mx_sys_run_cb)(mx_json *result, void *ud);
void mx_sys_run_async(struct mx_loop *loop, const char *root, const mx_sys_cmd *cmd, int timeout_ms, mx_sys_run_cb cb,
                      void *ud);

/* Classifies a finished command's failure from its exit status and stderr:
 * "denied" when it says permission denied / not permitted / must be root,
 * else NULL (the status is then an ordinary result). Pure: unit-tested. */
const char *mx_sys_classify_failure(int status, const char *err);

/* This host's interface addresses: [{"address","interface","family"}]. */
mx_json *mx_sys_addresses(void);

#endif
