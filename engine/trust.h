/* What a root run may take code and settings from. Rule files, rule
 * libraries and the configuration file become code or settings of a process
 * that runs as root on a mail server; as root (effective uid 0) they are
 * checked the way sshd's StrictModes and sudo check theirs:
 *   - every directory from / down to the file is owned by root (or by the
 *     owner of the running mxdiag binary, who could replace the binary
 *     anyway) and writable by nobody else; a world-writable directory with
 *     the sticky bit (/tmp) may be on the way, as others cannot rename or
 *     remove the trusted entry below it;
 *   - the file itself: same owner rule, not writable by group or others, a
 *     regular file, and not a symbolic link (opened with O_NOFOLLOW);
 *   - the content is read from the descriptor that was checked, so nothing
 *     can be swapped in between the check and the load.
 * Without root nothing is checked: a user's own rules run with the user's own
 * rights, as they always did. Knows nothing of Lua. */
#ifndef MX_TRUST_H
#define MX_TRUST_H
#include <stddef.h>
#include "buf.h"

#define MX_TRUST_CODE_MAX (16u << 20) /* bytes of one rule file or library */

/* 1 when the checks apply (effective uid 0). mx_trust_force(1|0) overrides
 * for unit tests; mx_trust_force(-1) goes back to the effective uid. */
int mx_trust_strict(void);
void mx_trust_force(int strict);

/* Opens directory path to read code from it (O_DIRECTORY, close-on-exec).
 * Strict: the path is resolved, then opened one component at a time from /
 * with O_NOFOLLOW, each checked as above. listing: every file of the
 * directory will be loaded (a rules directory), so it may not be sticky and
 * writable by others either; else only named files are read from it (a
 * sticky /tmp holding a root-owned file is fine). Returns the descriptor,
 * or -1 with err set ("PATH: problem") and errno (ENOENT/ENOTDIR: missing,
 * EPERM: refused by the checks). */
int mx_trust_open_dir(const char *path, int listing, char *err, size_t errlen);

/* Reads the regular file name (no '/') of the directory dirfd (opened by
 * mx_trust_open_dir; dirpath names it in messages) into out (appended, at
 * most max bytes: more is an error). Strict: O_NOFOLLOW and the file checks.
 * Returns 0, or -1 with err and errno as above. */
int mx_trust_read_at(int dirfd, const char *dirpath, const char *name, size_t max, mx_buf *out, char *err,
                     size_t errlen);

/* The same for a path: its directory through mx_trust_open_dir, then the
 * file. Returns 0 or -1 with err and errno. */
int mx_trust_read_file(const char *path, size_t max, mx_buf *out, char *err, size_t errlen);

#endif
