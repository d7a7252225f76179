#include "logjournal.h"
#include "buf.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

/* A field bigger than this comes truncated from sd-journal: still longer
 * than a log line may be, so the reader skips it as over-long, as it would
 * in a file. */
#define FIELD_MAX (MX_LOG_MAX_LINE + 256)

struct mx_log_journal {
    sd_journal *j;
    char name[1024];
    int64_t since;
    int nmatch;          /* MTA identifiers matched; 0: nothing to read */
    char *line;          /* the entry being handed out, as a syslog line */
    size_t cap, len, off;
    int done, failed;
    char err[256];
};

int mx_log_journal_is_mta(const char *s, size_t n) {
    if (n >= 7 && memcmp(s, "postfix", 7) == 0) return memchr(s, '/', n) != NULL; /* postfix/smtp, postfix-out/smtp */
    if (n >= 4 && memcmp(s, "exim", 4) == 0) return 1;                            /* exim, exim4 */
    if (n == 8 && memcmp(s, "sendmail", 8) == 0) return 1;
    return n > 3 && memcmp(s, "sm-", 3) == 0; /* sm-mta, sm-msp-queue */
}

/* The value of FIELD in the current entry (without "FIELD="), or NULL. */
static const char *field(sd_journal *j, const char *name, size_t *len) {
    const void *d;
    size_t l, nl = strlen(name);
    if (sd_journal_get_data(j, name, &d, &l) < 0 || l <= nl) return NULL;
    *len = l - nl - 1;
    return (const char *)d + nl + 1;
}

/* Adds a match for every value of field that names an MTA. */
static int match_mta_values(sd_journal *j, const char *name, int *added) {
    int r = sd_journal_query_unique(j, name);
    if (r < 0) return r;
    size_t nl = strlen(name), n = 0, cap = 0;
    char **vals = NULL;
    const void *d;
    size_t l;
    SD_JOURNAL_FOREACH_UNIQUE(j, d, l) {
        const char *v = (const char *)d + nl + 1;
        if (l <= nl + 1 || !mx_log_journal_is_mta(v, l - nl - 1)) continue;
        if (n == cap) vals = mx_xrealloc(vals, (cap = cap ? cap * 2 : 8) * sizeof *vals);
        vals[n] = mx_xmalloc(l + 1);
        memcpy(vals[n], d, l);
        vals[n++][l] = 0;
    }
    sd_journal_restart_unique(j);
    if (n && *added) sd_journal_add_disjunction(j); /* SYSLOG_IDENTIFIER=... OR _COMM=... */
    for (size_t i = 0; i < n; i++) {
        if (r >= 0) r = sd_journal_add_match(j, vals[i], 0);
        free(vals[i]);
    }
    free(vals);
    if (r >= 0) *added += (int)n;
    return r < 0 ? r : 0;
}

static int seek_start(mx_log_journal *lj) {
    if (lj->since != INT64_MIN && lj->since > 0)
        return sd_journal_seek_realtime_usec(lj->j, (uint64_t)lj->since * 1000000u);
    return sd_journal_seek_head(lj->j);
}

mx_log_journal *mx_log_journal_open(const char *const *files, size_t n, const char *dir, int64_t since, char *err,
                                    size_t errlen) {
    sd_journal *j = NULL;
    int r;
    char name[1024];
    if (n) {
        size_t off = (size_t)snprintf(name, sizeof name, "systemd journal: ");
        for (size_t i = 0; i < n; i++) {
            if (access(files[i], R_OK) != 0) {
                snprintf(err, errlen, "journal file %.300s: %s", files[i], strerror(errno));
                return NULL;
            }
            if (off < sizeof name) off += (size_t)snprintf(name + off, sizeof name - off, "%s%s", i ? ", " : "", files[i]);
        }
        const char **v = mx_xcalloc(n + 1, sizeof *v);
        memcpy(v, files, n * sizeof *v);
        r = sd_journal_open_files(&j, v, 0);
        free(v);
    } else if (dir) {
        snprintf(name, sizeof name, "systemd journal: %s", dir);
        if (access(dir, R_OK | X_OK) != 0) {
            snprintf(err, errlen, "journal directory %.300s: %s", dir, strerror(errno));
            return NULL;
        }
        r = sd_journal_open_directory(&j, dir, 0);
    } else {
        snprintf(name, sizeof name, "systemd journal");
        r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
    }
    if (r < 0) {
        snprintf(err, errlen, "cannot open the %s: %s", name, strerror(-r));
        return NULL;
    }
    mx_log_journal *lj = mx_xcalloc(1, sizeof *lj);
    lj->j = j;
    lj->since = since;
    snprintf(lj->name, sizeof lj->name, "%s", name);
    sd_journal_set_data_threshold(j, FIELD_MAX);
    r = match_mta_values(j, "SYSLOG_IDENTIFIER", &lj->nmatch);
    if (r >= 0) r = match_mta_values(j, "_COMM", &lj->nmatch);
    if (r >= 0) r = seek_start(lj);
    if (r < 0) {
        snprintf(err, errlen, "cannot read the %s: %s", name, strerror(-r));
        mx_log_journal_close(lj);
        return NULL;
    }
    if (!lj->nmatch) lj->done = 1;
    return lj;
}

int mx_log_journal_has_mta(mx_log_journal *lj) {
    if (!lj->nmatch) return 0;
    int r = sd_journal_next(lj->j);
    seek_start(lj);
    return r > 0;
}

const char *mx_log_journal_name(const mx_log_journal *lj) { return lj->name; }

void mx_log_journal_close(mx_log_journal *lj) {
    if (!lj) return;
    sd_journal_close(lj->j);
    free(lj->line);
    free(lj);
}

static void put(mx_log_journal *lj, const char *s, size_t n) {
    if (lj->len + n + 1 > lj->cap) {
        while (lj->len + n + 1 > lj->cap) lj->cap = lj->cap ? lj->cap * 2 : 4096;
        lj->line = mx_xrealloc(lj->line, lj->cap);
    }
    memcpy(lj->line + lj->len, s, n);
    lj->len += n;
}

/* One token of the header: no spaces, controls, or a ':' that would end it early. */
static void put_token(mx_log_journal *lj, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = (unsigned char)s[i] <= ' ' || s[i] == 0x7f || s[i] == ':' ? '_' : s[i];
        put(lj, &c, 1);
    }
}

/* The current entry as a syslog line in lj->line; len 0 when it is no MTA's. */
static void format_entry(mx_log_journal *lj) {
    lj->len = lj->off = 0;
    size_t il, pl = 0, hl = 0, ml = 0;
    const char *ident = field(lj->j, "SYSLOG_IDENTIFIER", &il);
    if (!ident) ident = field(lj->j, "_COMM", &il);
    if (!ident || !mx_log_journal_is_mta(ident, il)) return;
    uint64_t us;
    if (sd_journal_get_realtime_usec(lj->j, &us) < 0) return;
    char ts[64];
    time_t t = (time_t)(us / 1000000u);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t tl = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    tl += (size_t)snprintf(ts + tl, sizeof ts - tl, ".%06uZ ", (unsigned)(us % 1000000u));
    put(lj, ts, tl);
    const char *host = field(lj->j, "_HOSTNAME", &hl);
    if (host && hl) put_token(lj, host, hl);
    else put(lj, "localhost", 9);
    put(lj, " ", 1);
    put_token(lj, ident, il);
    const char *pid = field(lj->j, "SYSLOG_PID", &pl);
    if (!pid) pid = field(lj->j, "_PID", &pl);
    if (pid && pl) {
        put(lj, "[", 1);
        put_token(lj, pid, pl);
        put(lj, "]", 1);
    }
    put(lj, ": ", 2);
    const char *msg = field(lj->j, "MESSAGE", &ml);
    for (size_t i = 0; msg && i < ml; i++) {
        /* a multi-line message stays one line, as rsyslog writes it */
        char c = msg[i] == '\n' || msg[i] == '\r' ? ' ' : msg[i];
        put(lj, &c, 1);
    }
    put(lj, "\n", 1);
}

static ssize_t journal_read(void *ud, char *dst, size_t cap, char *err, size_t errlen) {
    mx_log_journal *lj = ud;
    size_t got = 0;
    while (got < cap) {
        if (lj->off < lj->len) {
            size_t n = lj->len - lj->off < cap - got ? lj->len - lj->off : cap - got;
            memcpy(dst + got, lj->line + lj->off, n);
            lj->off += n;
            got += n;
            continue;
        }
        if (lj->done || lj->failed) break;
        int r = sd_journal_next(lj->j);
        if (r < 0) {
            lj->failed = 1;
            snprintf(lj->err, sizeof lj->err, "%s", strerror(-r));
            break;
        }
        if (r == 0) {
            lj->done = 1;
            break;
        }
        format_entry(lj);
    }
    if (got == 0 && lj->failed) {
        snprintf(err, errlen, "%s", lj->err);
        return -1;
    }
    return (ssize_t)got;
}

static void journal_close(void *ud) { mx_log_journal_close(ud); }

void mx_log_journal_source(mx_log_journal *lj, mx_log_source *src) {
    src->name = lj->name;
    src->read = journal_read;
    src->close = journal_close;
    src->ud = lj;
}
