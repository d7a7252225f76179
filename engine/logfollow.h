/* Following a log file as it grows, like `tail -F`: the bytes appended
 * since the last poll, cut into lines, across rotations.
 *
 * One explicit state machine per file (mx_follow_state):
 *   WAITING  the path does not exist (yet): each poll tries to open it,
 *            from its start (a file that appears later is new)
 *   READING  an open descriptor: appended bytes are read to EOF
 * and on each poll, after reading to EOF:
 *   - the size at the descriptor shrank below what was read, or the last
 *     bytes read are no longer where they were (truncated, then written
 *     past the old offset before this poll): truncated in place
 *     (copytruncate): read again from byte 0
 *   - the path names another file (inode or device changed) or none:
 *     rotated by rename; the old descriptor was just drained to EOF (what the
 *     MTA wrote before the rename is not lost, even if the old file is then
 *     gzipped and removed), then the new file is opened from its start.
 * A partial last line is kept until its newline comes (bounded: a line over
 * MX_FOLLOW_LINE_MAX bytes is cut there and flagged too long); at a rotation
 * the old file's unfinished line is handed out as it is.
 * Reads are bounded per poll (MX_FOLLOW_POLL_MAX bytes), so a huge backlog
 * is handed out over several polls.  Knows nothing of Lua. */
#ifndef MX_LOGFOLLOW_H
#define MX_LOGFOLLOW_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MX_FOLLOW_LINE_MAX 65536
#define MX_FOLLOW_POLL_MAX (4u << 20)

typedef enum { MX_FOLLOW_WAITING = 0, MX_FOLLOW_READING } mx_follow_state;

/* What a poll saw, for the caller's log and the tests. */
enum {
    MX_FOLLOW_EV_OPENED = 1,    /* the file was opened (first time or after WAITING) */
    MX_FOLLOW_EV_ROTATED = 2,   /* rename: switched to the new file at the path */
    MX_FOLLOW_EV_TRUNCATED = 4, /* copytruncate: restarted at byte 0 */
    MX_FOLLOW_EV_GONE = 8       /* the path vanished; the old descriptor is kept until a file appears */
};

typedef struct mx_follow {
    char *path;
    mx_follow_state state;
    int fd;
    dev_t dev;
    ino_t ino;
    uint64_t offset;     /* bytes of the open file consumed */
    char *part;          /* the unfinished last line */
    size_t part_len, part_cap;
    int part_too_long;   /* the current line was cut at MX_FOLLOW_LINE_MAX */
    int gone;            /* the path is missing while the old fd is still read */
    /* The last bytes consumed: when they are no longer there, the file was
     * truncated and written again, even if it has grown past the offset
     * since (copytruncate under a busy MTA) */
    unsigned char tail[64];
    size_t tail_len;
    uint64_t lines, rotations, truncations;
} mx_follow;

/* flags of a line handed out: MX_FOLLOW_LINE_CUT when cut at the limit */
#define MX_FOLLOW_LINE_CUT 1
typedef void (*mx_follow_line_fn)(void *ud, const char *line, size_t len, int flags);

/* from_end: an existing file is followed from its current end (new lines
 * only); else from its start.  Never fails: a missing file is WAITING. */
void mx_follow_init(mx_follow *f, const char *path, int from_end);
/* Reads what is new, hands out complete lines, handles rotation and
 * truncation; returns the MX_FOLLOW_EV_* bits of what happened. */
int mx_follow_poll(mx_follow *f, mx_follow_line_fn fn, void *ud);
/* SIGHUP: close and open the path again; the same file is kept at its
 * offset, another one is read from its start. */
void mx_follow_reopen(mx_follow *f);
void mx_follow_free(mx_follow *f);
const char *mx_follow_state_name(mx_follow_state s);

#endif
