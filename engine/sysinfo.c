/* Facts about this host: listeners from /proc, allow-listed config reads,
 * allow-listed commands. See sysinfo.h. */
#include "sysinfo.h"
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include "loop.h"

/* ------------------------------------------------------------ /proc/net/tcp */

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Reads exactly n hex digits into *v. */
static int hex_word(const char *s, int n, uint32_t *v) {
    uint32_t x = 0;
    for (int i = 0; i < n; i++) {
        int h = hexval((unsigned char)s[i]);
        if (h < 0) return -1;
        x = (x << 4) | (uint32_t)h;
    }
    *v = x;
    return 0;
}

int mx_proc_tcp_parse_line(const char *line, int v6, mx_proc_sock *out) {
    memset(out, 0, sizeof *out);
    const char *p = line;
    while (*p == ' ') p++;
    /* "sl:" */
    if (!isdigit((unsigned char)*p)) return -1;
    while (isdigit((unsigned char)*p)) p++;
    if (*p++ != ':') return -1;
    while (*p == ' ') p++;
    int words = v6 ? 4 : 1;
    uint8_t bytes[16];
    for (int w = 0; w < words; w++) {
        uint32_t v;
        if (hex_word(p, 8, &v) != 0) return -1;
        /* the kernel printed the network-order word as a host-order integer:
         * storing it back as a host integer restores the address bytes */
        memcpy(bytes + 4 * w, &v, 4);
        p += 8;
    }
    if (*p++ != ':') return -1;
    uint32_t port;
    if (hex_word(p, 4, &port) != 0) return -1;
    p += 4;
    if (*p != ' ') return -1;
    while (*p == ' ') p++;
    /* remote address:port */
    size_t rl = strspn(p, "0123456789abcdefABCDEF:");
    if (rl != (size_t)(words * 8 + 5)) return -1;
    p += rl;
    while (*p == ' ') p++;
    uint32_t st;
    if (hex_word(p, 2, &st) != 0) return -1;
    p += 2;
    /* tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode */
    char txrx[32], trtm[32], retr[32];
    unsigned uid;
    long tmo;
    unsigned long long inode;
    if (sscanf(p, " %31s %31s %31s %u %ld %llu", txrx, trtm, retr, &uid, &tmo, &inode) != 6) return -1;
    out->local.family = v6 ? AF_INET6 : AF_INET;
    memcpy(out->local.bytes, bytes, v6 ? 16 : 4);
    out->port = (int)port;
    out->state = (int)st;
    out->uid = uid;
    out->inode = inode;
    return 0;
}

/* ------------------------------------------------------------ listeners */

typedef struct owner {
    unsigned long long inode;
    int pid;
    char comm[64];
} owner;

static void path_join(char *out, size_t n, const char *root, const char *path) {
    snprintf(out, n, "%s%s", root ? root : "", path);
}

static int port_wanted(int port, const int *ports, size_t n) {
    if (n == 0) return 1;
    for (size_t i = 0; i < n; i++) if (ports[i] == port) return 1;
    return 0;
}

/* Socket inodes of every process whose fd directory we can read. */
static owner *scan_owners(const char *root, size_t *nown, int *scanned, int *unreadable) {
    char path[4200];
    path_join(path, sizeof path, root, "/proc");
    owner *own = NULL;
    size_t n = 0, cap = 0;
    *scanned = *unreadable = 0;
    DIR *d = opendir(path);
    if (!d) { *nown = 0; return NULL; }
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0) continue;
        (*scanned)++;
        char fdpath[4400];
        snprintf(fdpath, sizeof fdpath, "%s/%ld/fd", path, pid);
        DIR *fd = opendir(fdpath);
        if (!fd) {
            if (errno == EACCES || errno == EPERM) (*unreadable)++;
            continue;
        }
        char comm[64] = "";
        char cpath[4400];
        snprintf(cpath, sizeof cpath, "%s/%ld/comm", path, pid);
        FILE *cf = fopen(cpath, "r");
        if (cf) {
            if (fgets(comm, sizeof comm, cf)) comm[strcspn(comm, "\n")] = 0;
            fclose(cf);
        }
        struct dirent *f;
        while ((f = readdir(fd))) {
            if (f->d_name[0] == '.') continue;
            char lpath[4700], target[128];
            snprintf(lpath, sizeof lpath, "%s/%s", fdpath, f->d_name);
            ssize_t l = readlink(lpath, target, sizeof target - 1);
            if (l <= 0) continue;
            target[l] = 0;
            unsigned long long ino;
            /* a fixture tree may hold regular files with the link text */
            if (sscanf(target, "socket:[%llu]", &ino) != 1) continue;
            if (n == cap) { cap = cap ? cap * 2 : 64; own = mx_xrealloc(own, cap * sizeof *own); }
            own[n].inode = ino;
            own[n].pid = (int)pid;
            snprintf(own[n].comm, sizeof own[n].comm, "%s", comm);
            n++;
        }
        closedir(fd);
    }
    closedir(d);
    *nown = n;
    return own;
}

static int read_tcp_table(const char *root, int v6, const int *ports, size_t nports, mx_json *list,
                          owner *own, size_t nown, int *unowned) {
    char path[4200];
    path_join(path, sizeof path, root, v6 ? "/proc/net/tcp6" : "/proc/net/tcp");
    FILE *f = fopen(path, "r");
    if (!f) return -errno;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        mx_proc_sock s;
        if (mx_proc_tcp_parse_line(line, v6, &s) != 0 || s.state != 0x0A || !port_wanted(s.port, ports, nports)) continue;
        mx_json *o = mx_json_obj();
        char a[64];
        mx_addr_format(&s.local, a, sizeof a);
        mx_json_set(o, "address", mx_json_str(a));
        mx_json_set(o, "port", mx_json_int(s.port));
        mx_json_set(o, "family", mx_json_int(v6 ? 6 : 4));
        mx_json_set(o, "inode", mx_json_int((long long)s.inode));
        mx_json_set(o, "uid", mx_json_int(s.uid));
        int found = 0;
        for (size_t i = 0; i < nown && !found; i++) {
            if (own[i].inode != s.inode) continue;
            mx_json_set(o, "pid", mx_json_int(own[i].pid));
            mx_json_set(o, "process", mx_json_str(own[i].comm));
            found = 1;
        }
        if (!found) (*unowned)++;
        mx_json_push(list, o);
    }
    fclose(f);
    return 0;
}

mx_json *mx_sys_listeners(const char *root, const int *ports, size_t nports) {
    mx_json *r = mx_json_obj();
    mx_json *list = mx_json_set(r, "listeners", mx_json_arr());
    mx_json *notes = mx_json_set(r, "notes", mx_json_arr());
    size_t nown;
    int scanned, unreadable, unowned = 0;
    owner *own = scan_owners(root, &nown, &scanned, &unreadable);
    int ok = 0;
    for (int v6 = 0; v6 <= 1; v6++) {
        int rc = read_tcp_table(root, v6, ports, nports, list, own, nown, &unowned);
        if (rc == 0) { ok++; continue; }
        char msg[256];
        snprintf(msg, sizeof msg, "cannot read %s/proc/net/tcp%s: %s", root ? root : "", v6 ? "6" : "", strerror(-rc));
        /* no tcp6 table just means IPv6 is off in this kernel */
        if (!(v6 && rc == -ENOENT)) mx_json_push(notes, mx_json_str(msg));
    }
    if (!ok) mx_json_set(r, "error", mx_json_str("cannot read /proc/net/tcp"));
    if (unreadable) {
        char msg[300];
        snprintf(msg, sizeof msg, "the file descriptors of %d of %d processes could not be read (run as root to "
                 "see them): %d listener%s without an owning process", unreadable, scanned, unowned,
                 unowned == 1 ? "" : "s");
        mx_json_push(notes, mx_json_str(msg));
    }
    mx_json_set(r, "scanned_pids", mx_json_int(scanned));
    mx_json_set(r, "unreadable_pids", mx_json_int(unreadable));
    free(own);
    return r;
}

/* ------------------------------------------------------------ config files */

/* The exact files the shipped local rules (and fwparse) read: no directory
 * prefixes, so nothing else in /etc/exim4 (passwd.client, exim.key) or
 * /etc/ufw can be named. */
static const char *const allowed_files[] = {
    "/etc/postfix/main.cf", "/etc/postfix/master.cf",
    "/etc/exim4/update-exim4.conf.conf", "/etc/exim4/exim4.conf.template", "/etc/exim4/exim4.conf",
    "/etc/mailname",
    "/etc/nftables.conf", "/etc/iptables/rules.v4", "/etc/iptables/rules.v6",
    "/etc/csf/csf.conf", "/etc/csf/csf.allow", "/etc/csf/csf.deny",
    "/etc/default/ufw", "/etc/ufw/ufw.conf", "/etc/ufw/user.rules", "/etc/ufw/user6.rules",
    NULL,
};

/* Never read, not even under a --config-dir: credentials and private keys.
 * Matched on each path component, case-insensitively. */
static const char *const secret_names[] = {"passwd.client", "passwd", "shadow", "gshadow", "master.passwd",
                                           ".htpasswd", "private", NULL};
static const char *const secret_parts[] = {"sasl", "secret", "password", NULL};   /* anywhere in a component */
static const char *const secret_suffixes[] = {".key", ".pem", ".p12", ".pfx", ".jks", ".keytab", ".private", NULL};

static int secret_component(const char *c, size_t l) {
    char low[256];
    if (l >= sizeof low) l = sizeof low - 1;
    for (size_t i = 0; i < l; i++) low[i] = (char)tolower((unsigned char)c[i]);
    low[l] = 0;
    for (const char *const *s = secret_names; *s; s++) if (!strcmp(low, *s)) return 1;
    for (const char *const *s = secret_parts; *s; s++) if (strstr(low, *s)) return 1;
    for (const char *const *s = secret_suffixes; *s; s++) {
        size_t sl = strlen(*s);
        if (l > sl && !strcmp(low + l - sl, *s)) return 1;
    }
    return 0;
}

static int secret_path(const char *path) {
    for (const char *p = path; *p;) {
        while (*p == '/') p++;
        const char *e = strchr(p, '/');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l && secret_component(p, l)) return 1;
        p += l;
    }
    return 0;
}

static int under(const char *path, const char *dir) {
    size_t l = strlen(dir);
    if (l && dir[l - 1] == '/') l--;
    return strncmp(path, dir, l) == 0 && path[l] == '/' && path[l + 1];
}

int mx_sys_path_allowed(const char *path, const char *const *extra_dirs, size_t nextra, const char **why) {
    if (path[0] != '/') { *why = "the path must be absolute"; return 0; }
    if (strstr(path, "/../") || strstr(path, "//") || strstr(path, "/./") ||
        (strlen(path) >= 3 && strcmp(path + strlen(path) - 3, "/..") == 0) ||
        (strlen(path) >= 2 && strcmp(path + strlen(path) - 2, "/.") == 0)) {
        *why = "the path must not contain '..', '.' or '//' components";
        return 0;
    }
    if (secret_path(path)) { *why = "credentials and private keys are never read (see RULES.md, sys.read_file)"; return 0; }
    for (const char *const *f = allowed_files; *f; f++) if (strcmp(path, *f) == 0) return 1;
    if (mx_sys_path_base(path, extra_dirs, nextra)) return 1;
    *why = "not a mail or firewall configuration file mxdiag reads (see RULES.md, sys.read_file)";
    return 0;
}

const char *mx_sys_path_base(const char *path, const char *const *extra_dirs, size_t nextra) {
    for (const char *const *f = allowed_files; *f; f++) if (strcmp(path, *f) == 0) return NULL;
    for (size_t i = 0; i < nextra; i++)
        if (extra_dirs[i] && extra_dirs[i][0] == '/' && under(path, extra_dirs[i])) return extra_dirs[i];
    return NULL;
}

static const char *errno_class(int e) {
    if (e == ENOENT || e == ENOTDIR) return "missing";
    if (e == EACCES || e == EPERM) return "denied";
    return "error";
}

/* Is the open fd the file ROOT/path itself, reached through no symbolic
 * link? base (a --config-dir, or NULL) may itself be reached through links,
 * as may ROOT: the part of the path below them may not. */
static int opened_as_named(int fd, const char *root, const char *path, const char *base) {
    char link[64], actual[4200], prefix[4200];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, actual, sizeof actual - 1);
    if (n <= 0) return 0;
    actual[n] = 0;
    size_t bl = base ? strlen(base) : 0;
    while (bl && base[bl - 1] == '/') bl--;
    char trusted[4200];
    snprintf(trusted, sizeof trusted, "%s%.*s", root, (int)bl, base ? base : "");
    if (!trusted[0]) snprintf(trusted, sizeof trusted, "/");
    char *real = realpath(trusted, NULL);
    if (!real) return 0;
    snprintf(prefix, sizeof prefix, "%s%s", strcmp(real, "/") ? real : "", path + bl);
    free(real);
    return strcmp(prefix, actual) == 0;
}

static mx_json *read_refused(mx_json *r, const char *detail) {
    mx_json_set(r, "error", mx_json_str("denied"));
    mx_json_set(r, "detail", mx_json_str(detail));
    return r;
}

mx_json *mx_sys_read_file(const char *root, const char *path, const char *base) {
    char full[4200];
    path_join(full, sizeof full, root, path);
    mx_json *r = mx_json_obj();
    mx_json_set(r, "path", mx_json_str(path));
    /* no symbolic link as the file, none on the way below the root or the
     * --config-dir: a planted link cannot turn an allowed name into
     * /proc/self/environ or a root-only file */
    int fd = open(full, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        if (e == ELOOP) return read_refused(r, "a symbolic link: not followed");
        mx_json_set(r, "error", mx_json_str(errno_class(e)));
        mx_json_set(r, "detail", mx_json_str(strerror(e)));
        return r;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        mx_json_set(r, "error", mx_json_str("error"));
        mx_json_set(r, "detail", mx_json_str("not a regular file"));
        return r;
    }
    if (!opened_as_named(fd, root ? root : "", path, base)) {
        close(fd);
        return read_refused(r, "reached through a symbolic link: not followed");
    }
    mx_buf b = MX_BUF_INIT;
    char chunk[16384];
    ssize_t n;
    int truncated = 0;
    while ((n = read(fd, chunk, sizeof chunk)) > 0) {
        size_t room = MX_SYS_FILE_MAX - b.len;
        if ((size_t)n > room) { mx_buf_put(&b, chunk, room); truncated = 1; break; }
        mx_buf_put(&b, chunk, (size_t)n);
    }
    int e = n < 0 ? errno : 0;
    close(fd);
    if (e) {
        mx_buf_free(&b);
        mx_json_set(r, "error", mx_json_str(errno_class(e)));
        mx_json_set(r, "detail", mx_json_str(strerror(e)));
        return r;
    }
    mx_json_set(r, "content", mx_json_strn(b.data ? b.data : "", b.len));
    mx_json_set(r, "size", mx_json_int((long long)st.st_size));
    mx_json_set(r, "truncated", mx_json_bool(truncated));
    mx_buf_free(&b);
    return r;
}

/* ------------------------------------------------------------ commands */

static const char *const argv_postconf_n[] = {"postconf", "-n", NULL};
static const char *const argv_postconf_settings[] = {"postconf", "inet_interfaces", "inet_protocols", "smtp_bind_address",
                                                     "smtp_bind_address6", "mynetworks", "myhostname", NULL};
static const char *const argv_postconf_m[] = {"postconf", "-M", NULL};
static const char *const argv_exim[] = {"exim4|exim", "-bP", "local_interfaces", "daemon_smtp_ports", NULL};
static const char *const argv_nft[] = {"nft", "-j", "list", "ruleset", NULL};
static const char *const argv_ipt[] = {"iptables-save", NULL};
static const char *const argv_ip6t[] = {"ip6tables-save", NULL};

static const mx_sys_cmd commands[] = {
    {"postconf_n", argv_postconf_n, NULL},
    {"postconf_settings", argv_postconf_settings, NULL},
    {"postconf_M", argv_postconf_m, NULL},
    {"exim_settings", argv_exim, "the Exim admin group or root"},
    {"nft_ruleset", argv_nft, "root (CAP_NET_ADMIN)"},
    {"iptables_save", argv_ipt, "root (CAP_NET_ADMIN)"},
    {"ip6tables_save", argv_ip6t, "root (CAP_NET_ADMIN)"},
    {NULL, NULL, NULL},
};

const mx_sys_cmd *mx_sys_cmd_find(const char *name) {
    for (const mx_sys_cmd *c = commands; c->name; c++) if (strcmp(c->name, name) == 0) return c;
    return NULL;
}

const char *mx_sys_cmd_names(void) {
    return "postconf_n, postconf_settings, postconf_M, exim_settings, nft_ruleset, iptables_save, ip6tables_save";
}

const char *mx_sys_classify_failure(int status, const char *err) {
    if (status == 0 || !err) return NULL;
    static const char *const pats[] = {"permission denied", "operation not permitted", "must be root",
                                       "you must be root", "are not allowed", NULL};
    char low[1024];
    size_t i;
    for (i = 0; err[i] && i < sizeof low - 1; i++) low[i] = (char)tolower((unsigned char)err[i]);
    low[i] = 0;
    for (const char *const *p = pats; *p; p++) if (strstr(low, *p)) return "denied";
    return NULL;
}

/* Finds prog (alternatives separated by '|') in the fixed directories. */
static int find_program(const char *progs, char *out, size_t outlen) {
    static const char *const dirs[] = {"/usr/sbin", "/usr/bin", "/sbin", "/bin", NULL};
    char alt[128];
    snprintf(alt, sizeof alt, "%s", progs);
    char *save = NULL;
    for (char *p = strtok_r(alt, "|", &save); p; p = strtok_r(NULL, "|", &save))
        for (const char *const *d = dirs; *d; d++) {
            snprintf(out, outlen, "%s/%s", *d, p);
            if (access(out, X_OK) == 0) return 0;
        }
    return -1;
}

static void set_error(mx_json *r, const char *cls, const char *detail) {
    mx_json_set(r, "error", mx_json_str(cls));
    mx_json_set(r, "detail", mx_json_str(detail));
}

static mx_json *run_fixture(const char *root, const mx_sys_cmd *cmd) {
    mx_json *r = mx_json_obj();
    char path[4200];
    snprintf(path, sizeof path, "%s/run/%s.denied", root, cmd->name);
    if (access(path, F_OK) == 0) {
        char d[200];
        snprintf(d, sizeof d, "permission denied (fixture); %s needs %s", cmd->argv[0], cmd->needs ? cmd->needs : "more privileges");
        set_error(r, "denied", d);
        return r;
    }
    snprintf(path, sizeof path, "%s/run/%s", root, cmd->name);
    FILE *f = fopen(path, "rb");
    if (!f) { set_error(r, "missing", "no fixture output for this command under the --sysroot run/ directory"); return r; }
    mx_buf b = MX_BUF_INIT;
    char chunk[16384];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < MX_SYS_OUT_MAX) mx_buf_put(&b, chunk, n);
    fclose(f);
    mx_json_set(r, "status", mx_json_int(0));
    mx_json_set(r, "stdout", mx_json_strn(b.data ? b.data : "", b.len));
    mx_json_set(r, "stderr", mx_json_str(""));
    mx_buf_free(&b);
    return r;
}

/* Starts cmd with stdout/stderr on pipes (read ends returned). 0, or -1 with
 * r's error set (missing program, pipe or fork failure). */
static int spawn(const mx_sys_cmd *cmd, mx_json *r, pid_t *pid, int *out_fd, int *err_fd) {
    char prog[256];
    if (find_program(cmd->argv[0], prog, sizeof prog) != 0) {
        char d[200];
        snprintf(d, sizeof d, "%s is not installed (looked in /usr/sbin, /usr/bin, /sbin, /bin)", cmd->argv[0]);
        set_error(r, "missing", d);
        return -1;
    }
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0) { set_error(r, "error", strerror(errno)); return -1; }
    if (pipe2(err, O_CLOEXEC) != 0) { close(out[0]); close(out[1]); set_error(r, "error", strerror(errno)); return -1; }
    pid_t p = fork();
    if (p < 0) {
        close(out[0]); close(out[1]); close(err[0]); close(err[1]);
        set_error(r, "error", strerror(errno));
        return -1;
    }
    if (p == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        char *argv[16];
        size_t i = 0;
        argv[i++] = prog;
        for (size_t k = 1; cmd->argv[k] && i < 15; k++) argv[i++] = (char *)cmd->argv[k];
        argv[i] = NULL;
        char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL};
        execve(prog, argv, envp);
        _exit(errno == EACCES ? 126 : 127);
    }
    close(out[1]);
    close(err[1]);
    *pid = p;
    *out_fd = out[0];
    *err_fd = err[0];
    return 0;
}

/* Appends what fd has (one read) to b, bounded by cap. 1 data, 0 EOF or
 * error, -1 nothing yet (EAGAIN). */
static int drain_fd(int fd, mx_buf *b, size_t cap, int *truncated) {
    char chunk[16384];
    ssize_t k = read(fd, chunk, sizeof chunk);
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return -1;
    if (k <= 0) return 0;
    size_t room = cap - b->len;
    if ((size_t)k > room) { *truncated = 1; k = (ssize_t)room; }
    mx_buf_put(b, chunk, (size_t)k);
    return 1;
}

/* The result of a finished (or killed) command into r. */
static void run_result(mx_json *r, const mx_sys_cmd *cmd, int st, int timed_out, int timeout_ms, mx_buf *ob,
                       mx_buf *eb, int truncated) {
    if (timed_out) {
        char d[200];
        snprintf(d, sizeof d, "%s did not finish within %d ms and was killed", cmd->argv[0], timeout_ms);
        set_error(r, "timeout", d);
    } else {
        int status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        const char *cls = mx_sys_classify_failure(status, mx_buf_cstr(eb));
        if (cls) {
            char d[300];
            snprintf(d, sizeof d, "%s: permission denied (it needs %s)", cmd->argv[0], cmd->needs ? cmd->needs : "more privileges");
            set_error(r, cls, d);
            mx_json_set(r, "status", mx_json_int(status));
        } else {
            mx_json_set(r, "status", mx_json_int(status));
            mx_json_set(r, "stdout", mx_json_strn(ob->data ? ob->data : "", ob->len));
        }
    }
    mx_json_set(r, "stderr", mx_json_strn(eb->data ? eb->data : "", eb->len));
    if (truncated) mx_json_set(r, "truncated", mx_json_bool(1));
}

mx_json *mx_sys_run(const char *root, const mx_sys_cmd *cmd, int timeout_ms) {
    if (root && *root) return run_fixture(root, cmd);
    mx_json *r = mx_json_obj();
    pid_t pid;
    int ofd, efd;
    if (spawn(cmd, r, &pid, &ofd, &efd) != 0) return r;
    mx_buf ob = MX_BUF_INIT, eb = MX_BUF_INIT;
    int truncated = 0, timed_out = 0;
    int64_t deadline = mx_now_ms() + timeout_ms;
    struct pollfd pf[2] = {{ofd, POLLIN, 0}, {efd, POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        int64_t left = deadline - mx_now_ms();
        if (left <= 0) { timed_out = 1; break; }
        int n = poll(pf, 2, (int)left);
        if (n < 0) { if (errno == EINTR) continue; break; }
        for (int i = 0; i < 2; i++) {
            if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            if (drain_fd(pf[i].fd, i == 0 ? &ob : &eb, i == 0 ? MX_SYS_OUT_MAX : MX_SYS_ERR_MAX, &truncated) == 0) {
                close(pf[i].fd);
                pf[i].fd = -1;
                open_fds--;
            }
        }
    }
    for (int i = 0; i < 2; i++) if (pf[i].fd >= 0) close(pf[i].fd);
    if (timed_out) kill(pid, SIGKILL);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    run_result(r, cmd, st, timed_out, timeout_ms, &ob, &eb, truncated);
    mx_buf_free(&ob);
    mx_buf_free(&eb);
    return r;
}

/* ---- the same from the event loop: the run goes on while the command does */

typedef struct sys_job {
    mx_loop *loop;
    const mx_sys_cmd *cmd;
    int timeout_ms;
    pid_t pid;
    int fd[2];               /* stdout, stderr; -1 once closed */
    mx_buf buf[2];
    int truncated, timed_out;
    mx_timer *timer;
    mx_json *result;         /* set when the result is known before any I/O */
    mx_sys_run_cb cb;
    void *ud;
} sys_job;

static void job_deliver(mx_loop *loop, void *ud) {
    (void)loop;
    sys_job *j = ud;
    j->cb(j->result, j->ud);
    free(j);
}

static void job_finish(sys_job *j) {
    for (int i = 0; i < 2; i++) {
        if (j->fd[i] >= 0) { mx_loop_unwatch(j->loop, j->fd[i]); close(j->fd[i]); j->fd[i] = -1; }
    }
    if (j->timed_out) kill(j->pid, SIGKILL);
    int st = 0;
    /* both pipes are closed: the command has exited or is exiting (or was killed) */
    while (waitpid(j->pid, &st, 0) < 0 && errno == EINTR) {}
    j->result = mx_json_obj();
    run_result(j->result, j->cmd, st, j->timed_out, j->timeout_ms, &j->buf[0], &j->buf[1], j->truncated);
    mx_buf_free(&j->buf[0]);
    mx_buf_free(&j->buf[1]);
    mx_loop_defer(j->loop, job_deliver, j);
}

static void job_io(mx_loop *loop, int fd, int events, void *ud) {
    (void)loop;
    (void)events;
    sys_job *j = ud;
    int i = fd == j->fd[0] ? 0 : 1;
    int rc;
    while ((rc = drain_fd(fd, &j->buf[i], i == 0 ? MX_SYS_OUT_MAX : MX_SYS_ERR_MAX, &j->truncated)) == 1) {}
    if (rc == 0) {
        mx_loop_unwatch(j->loop, fd);
        close(fd);
        j->fd[i] = -1;
    }
    if (j->fd[0] < 0 && j->fd[1] < 0) {
        if (j->timer) { mx_timer_cancel(j->loop, j->timer); j->timer = NULL; }
        job_finish(j);
    }
}

static void job_timeout(mx_loop *loop, void *ud) {
    (void)loop;
    sys_job *j = ud;
    j->timer = NULL;
    j->timed_out = 1;
    job_finish(j);
}

void mx_sys_run_async(mx_loop *loop, const char *root, const mx_sys_cmd *cmd, int timeout_ms, mx_sys_run_cb cb,
                      void *ud) {
    sys_job *j = mx_xcalloc(1, sizeof *j);
    j->loop = loop;
    j->cmd = cmd;
    j->timeout_ms = timeout_ms;
    j->cb = cb;
    j->ud = ud;
    j->fd[0] = j->fd[1] = -1;
    if (root && *root) {
        j->result = run_fixture(root, cmd);
        mx_loop_defer(loop, job_deliver, j);
        return;
    }
    j->result = mx_json_obj();
    if (spawn(cmd, j->result, &j->pid, &j->fd[0], &j->fd[1]) != 0) {
        mx_loop_defer(loop, job_deliver, j);
        return;
    }
    mx_json_free(j->result);
    j->result = NULL;
    for (int i = 0; i < 2; i++) {
        fcntl(j->fd[i], F_SETFL, fcntl(j->fd[i], F_GETFL) | O_NONBLOCK);
        mx_loop_watch(loop, j->fd[i], MX_EV_READ, job_io, j);
    }
    j->timer = mx_loop_timer(loop, timeout_ms, job_timeout, j);
}

/* ------------------------------------------------------------ addresses */

mx_json *mx_sys_addresses(void) {
    mx_json *arr = mx_json_arr();
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa) != 0) return arr;
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
        if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6)) continue;
        mx_addr a;
        if (mx_addr_from_sockaddr(i->ifa_addr, &a, NULL) != 0) continue;
        char s[64];
        mx_addr_format(&a, s, sizeof s);
        mx_json *o = mx_json_obj();
        mx_json_set(o, "address", mx_json_str(s));
        mx_json_set(o, "interface", mx_json_str(i->ifa_name ? i->ifa_name : ""));
        mx_json_set(o, "family", mx_json_int(a.family == AF_INET ? 4 : 6));
        mx_json_push(arr, o);
    }
    freeifaddrs(ifa);
    return arr;
}
