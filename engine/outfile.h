/* Files mxdiag writes (--record, batch -o, the Prometheus textfile, rules
 * test --update). mxdiag may run as root in a directory others can write: a
 * planted symbolic link at the output path must not make it truncate or
 * replace the file the link points to. So no output is opened through a
 * link: whole files are written to a fresh temporary next to the target
 * (O_EXCL) and renamed over it; streamed output is opened with O_NOFOLLOW.
 * A symbolic link at the path is refused with a message saying so.
 * Errors: -1 with a sentence in err (the caller exits 3, usage/unknown). */
#ifndef MX_OUTFILE_H
#define MX_OUTFILE_H
#include <stddef.h>
#include "buf.h"

/* The whole of data into path, atomically (readers see the old file or the
 * new one). A new file gets 0666 less the umask; a replaced one keeps its
 * permission bits. */
int mx_file_write_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen);

/* Streaming output: path opened for writing, created if missing, appended to
 * when append, else truncated; a regular file or a device/FIFO
 * (/dev/null, a pipe), never through a symbolic link. Returns the fd. */
int mx_file_open_out(const char *path, int append, char *err, size_t errlen);

/* Streaming output that appears at path only when complete: a temporary in
 * the same directory (its malloc'd name in *tmp_path), then
 * mx_file_commit renames it over path (refusing a link planted meanwhile)
 * and mx_file_discard removes it. Returns the fd. */
int mx_file_open_tmp(const char *path, char **tmp_path, char *err, size_t errlen);
int mx_file_commit(const char *tmp_path, const char *path, char *err, size_t errlen);
void mx_file_discard(const char *tmp_path);

/* The reading side of the same files (recordings, expect.json): the whole of
 * path into out, refusing more than max bytes with a sentence saying so, so
 * that /dev/zero or a huge file is an error, not unbounded memory. */
#define MX_FILE_MAX_JSON (256u << 20)
int mx_file_read_all(const char *path, size_t max, mx_buf *out, char *err, size_t errlen);

#endif
