/* Text for a terminal: the output width, colour, and a word wrapper that
 * never breaks inside a word. Shared by the check report (report.c) and the
 * log report (logs_cli.c). Knows nothing of Lua. */
#ifndef MX_TERMTEXT_H
#define MX_TERMTEXT_H
#include <stddef.h>
#include "buf.h"

#define MX_TEXT_WIDTH_MIN 20
#define MX_TEXT_WIDTH_MAX 1000

/* The width text output wraps at: the one set with mx_text_set_width
 * (--width), else the terminal's on stdout (TIOCGWINSZ), else $COLUMNS, else
 * 80. Always within [MX_TEXT_WIDTH_MIN, MX_TEXT_WIDTH_MAX]. */
int mx_text_width(void);
/* 0: back to detection. Returns -1 (nothing set) outside the range. */
int mx_text_set_width(int width);
/* "N" for --width: 0 and the width, or -1 when not a number in range. */
int mx_text_parse_width(const char *s, int *width);
/* --width N: parses and sets it; -1 (nothing set) when not valid. */
int mx_text_cli_width(const char *s);

/* Colour on stdout: not turned off (--no-color), NO_COLOR unset or empty,
 * and stdout is a terminal. */
int mx_text_colour(int no_color_option);

/* Columns taken by n bytes of UTF-8 text on a terminal: a code point is one
 * column, East Asian wide and emoji two, combining marks none; an invalid
 * byte one (the escaper shows it as \xNN anyway). */
int mx_text_columns(const char *s, size_t n);

/* Appends s, escaped as terminal text (escape.h; '\n' kept), word-wrapped:
 * the cursor is at column col, continuation lines are indented by ind
 * spaces, no line goes past width unless one word alone is longer (it then
 * stands on a line of its own, unbroken: a URL, an address, an escape
 * sequence is never split). A '\n' in s starts an indented line; runs of
 * spaces become one; a no-break space (U+00A0) joins two words and is
 * written as a plain space; a leading space separates s from what is already on
 * the line (none when s starts a new line). Returns the column after the
 * last character. */
int mx_text_wrap(mx_buf *out, const char *s, int col, int ind, int width);

#endif
