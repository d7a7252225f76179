/* Domain lists for `mxdiag batch`: a YAML file (libyaml, event by event) or a
 * plain list, one domain per line. Streaming: entries are read one at a time,
 * so memory does not grow with the length of the list. Knows nothing of Lua.
 *
 * YAML:
 *   defaults:              # optional, before domains:
 *     only: [mx, tcp]      # or "mx,tcp"; also skip, timeout, port, resolver,
 *     source_ips: [...]    # sender_ips, sender_domains, helo, dnsbl_zones,
 *                          # allow_reserved (rule directories: never in a list)
 *   domains:
 *     - example.test
 *     - domain: other.test
 *       timeout: 3
 *       expect: {mx: [mx1.other.test], starttls: true, accepts_from: [198.51.100.1]}
 * A top-level sequence is taken as the domain list. */
#ifndef MX_BATCH_INPUT_H
#define MX_BATCH_INPUT_H
#include <stddef.h>
#include "json.h"
#include "addr.h"

typedef struct mx_batch_input mx_batch_input;

typedef struct mx_batch_entry {
    size_t index;          /* ordinal in the list, 0-based, bad entries included;
                            * (size_t)-1 for a problem that is not an entry */
    long line, column;     /* 1-based position of the entry in the file */
    char target[512];      /* the domain (or other check target) as written */
    mx_json *options;      /* per-domain overrides (object, incl. "expect"), or NULL */
} mx_batch_entry;

/* Bounds on what a list author can make the reader hold (RULES.md, Limits). */
#define MX_BATCH_MAX_TOKEN (1u << 20)   /* YAML bytes read between two events: one scalar,
                                         * key or comment; past it the file is abandoned */
#define MX_BATCH_MAX_NESTING 1024      /* YAML nesting at which the file is abandoned
                                         * (libyaml's own stacks grow with it) */
#define MX_BATCH_MAX_ENTRY_NODES 10000  /* YAML nodes in one entry (or defaults:) */
#define MX_BATCH_MAX_ENTRY_BYTES (1u << 20) /* scalar bytes kept for one entry */
#define MX_BATCH_MAX_LINE 4096          /* plain list: bytes per line, newline excluded */

enum { MX_BATCH_FATAL = -1, MX_BATCH_END = 0, MX_BATCH_ENTRY = 1, MX_BATCH_BAD = 2 };

/* Opens path ("-": standard input). plain: one domain per line; otherwise a
 * name ending in .txt or .list is plain too, anything else YAML. */
mx_batch_input *mx_batch_open(const char *path, int plain, char *err, size_t errlen);
/* The list's name as errors give it ("(stdin)" for -). */
const char *mx_batch_path(const mx_batch_input *in);
/* Reads up to the start of the domain list. *defaults: the validated
 * `defaults:` map, or NULL (caller frees). MX_BATCH_ENTRY on success,
 * MX_BATCH_FATAL with err ("FILE:LINE:COL: ...") if the file is unusable. */
int mx_batch_begin(mx_batch_input *in, mx_json **defaults, char *err, size_t errlen);
/* Next entry. MX_BATCH_ENTRY: e filled (free e->options with
 * mx_batch_entry_clear). MX_BATCH_BAD: a broken entry, err names file, line
 * and column and e->index/line are set; reading goes on. MX_BATCH_END: done.
 * MX_BATCH_FATAL: the rest of the file cannot be read (YAML syntax error). */
int mx_batch_next(mx_batch_input *in, mx_batch_entry *e, char *err, size_t errlen);
void mx_batch_entry_clear(mx_batch_entry *e);
/* The target of the entry mx_batch_next last returned MX_BATCH_ENTRY for,
 * parsed (mx_target_parse of e->target) while it was validated; valid until
 * the next mx_batch_next. */
const mx_target *mx_batch_target(const mx_batch_input *in);
void mx_batch_close(mx_batch_input *in);
/* Entries in the file (a separate pass, for progress): -1 if unknown. */
long mx_batch_count(const char *path, int plain);

/* Reads a settings file: one YAML map with the keys of a batch list's
 * defaults: (README, "Configuration file"). 0 and *settings (caller frees),
 * or -1 with err naming FILE:LINE:COL. */
int mx_config_read(const char *path, mx_json **settings, char *err, size_t errlen);

#endif
