/* The systemd journal as a mail log: a Debian 12 without rsyslog keeps
 * Postfix's lines only there. Entries of an MTA (SYSLOG_IDENTIFIER, else
 * _COMM: postfix and postfix-NAME instances "…/smtp", exim, exim4,
 * sendmail, sm-mta, sm-msp-queue) become syslog lines,
 *   2024-03-01T10:00:01.000000Z HOST IDENTIFIER[PID]: MESSAGE
 * (the entry's realtime in UTC; line breaks in MESSAGE become spaces), read
 * through the same reader, limits and parser as a log file (logread.h).
 * Knows nothing of Lua. */
#ifndef MX_LOGJOURNAL_H
#define MX_LOGJOURNAL_H
#include <stddef.h>
#include <stdint.h>
#include "logread.h"

typedef struct mx_log_journal mx_log_journal;

/* Opens journal files (files, n > 0), a journal directory (dir), or this
 * machine's journal (neither: the system journal and, for a member of group
 * systemd-journal or adm or root, every user's). Entries before since (epoch
 * seconds; INT64_MIN: all) are skipped. NULL with a sentence in err on
 * failure. */
mx_log_journal *mx_log_journal_open(const char *const *files, size_t n, const char *dir, int64_t since, char *err,
                                    size_t errlen);
/* Whether the journal holds at least one entry of a mail transfer agent
 * (from since on). */
int mx_log_journal_has_mta(mx_log_journal *j);
/* What was opened, for reports: "systemd journal", "systemd journal: DIR",
 * "systemd journal: FILE, FILE". */
const char *mx_log_journal_name(const mx_log_journal *j);
/* The journal as a source of lines for mx_log_stream_new_source, which then
 * owns it (freed with the stream). */
void mx_log_journal_source(mx_log_journal *j, mx_log_source *src);
void mx_log_journal_close(mx_log_journal *j);

/* 1 when an identifier (SYSLOG_IDENTIFIER or _COMM) names a mail transfer
 * agent whose lines the parser reads. */
int mx_log_journal_is_mta(const char *ident, size_t len);

#endif
