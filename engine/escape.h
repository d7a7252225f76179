/* One escaping function per output medium. Everything that came from outside
 * (SMTP replies, DNS answers, certificate names, log lines, targets, paths) is
 * escaped by the writer of the medium it goes to, at the point of writing, so
 * rules and parsers need not escape anything themselves. Knows nothing of Lua.
 *
 * Terminal text (the base of every text medium): valid UTF-8 stays as it is,
 * so IDNs and accented text remain readable. Shown visibly instead:
 *   C0 controls and DEL        \x1b, \x7f      (\n and \t only when allowed)
 *   C1 controls U+0080-U+009F  \u009b          (whether raw or UTF-8 encoded)
 *   bidi overrides/isolates,   \u202e          (they reorder what the reader
 *   line/paragraph separators                   sees: "Trojan Source")
 *   invalid UTF-8 bytes        \xff            (overlongs, surrogates, stray
 *                                               continuation bytes, truncated
 *                                               sequences, > U+10FFFF)
 * A backslash stays a backslash: the escapes are for a reader, not a parser. */
#ifndef MX_ESCAPE_H
#define MX_ESCAPE_H
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include "buf.h"

enum {
    MX_ESC_NL = 1,  /* keep '\n' (multi-line text: reports, letters) */
    MX_ESC_TAB = 2, /* keep '\t' */
};

/* The code point of the well-formed UTF-8 sequence at s when it is one that
 * text media show escaped (C1, bidi controls, line/paragraph separators), with
 * its length in *len; 0 otherwise. JSON uses it too. */
unsigned mx_esc_invisible_at(const unsigned char *s, size_t n, size_t *len);
/* Length of the well-formed multi-byte UTF-8 sequence at s (RFC 3629: no
 * overlongs, no surrogates, nothing above U+10FFFF), its code point in *cp;
 * 0 if invalid (an ASCII byte is not a multi-byte sequence: 0 too). */
size_t mx_utf8_seq(const unsigned char *s, size_t n, unsigned *cp);
/* Terminal text of n bytes (NUL bytes included, shown as \x00). */
void mx_esc_text_n(mx_buf *b, const char *s, size_t n, unsigned flags);
/* The same for a C string; NULL writes nothing. */
void mx_esc_text(mx_buf *b, const char *s, unsigned flags);
/* Nagios/Icinga plugin output: one line whose '|' would start the perfdata:
 * '|' becomes '/', CR and LF a space, the rest as terminal text. */
void mx_esc_nagios(mx_buf *b, const char *s);
/* A Nagios perfdata label, always in single quotes: as mx_esc_nagios, then
 * '=' (which ends a label) becomes '_' and a quote is doubled (''). */
void mx_esc_nagios_label(mx_buf *b, const char *s);
/* One CSV field (RFC 4180): controls shown as terminal text; quoted when it
 * holds ',', '"', CR or LF; a field starting with = + - @ TAB CR (a
 * spreadsheet formula) or with the quote mark itself gets a leading "'"
 * (OWASP "CSV injection"), so that a reader removes exactly one "'". */
void mx_esc_csv(mx_buf *b, const char *s);
/* A Prometheus exposition-format label value with its double quotes:
 * terminal text, then '\\', '"' and newline escaped as the format says. */
void mx_esc_prom_label(mx_buf *b, const char *s);

/* A diagnostic on stderr: the formatted message is escaped as one line of
 * terminal text (a target holding "\n" or ESC cannot forge or hide lines),
 * then a newline is added. The format itself is trusted. */
void mx_errf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same into a caller's FILE-less buffer: message escaped, no newline. */
void mx_esc_vprintf(mx_buf *b, const char *fmt, va_list ap);
/* One escaped line on f: prefix (ours, written as is; may be NULL), then the
 * formatted message escaped as mx_esc_vprintf does, then a newline. */
void mx_esc_vline(FILE *f, const char *prefix, const char *fmt, va_list ap);

#endif
