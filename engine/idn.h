/* Targets as people type them: surrounding whitespace trimmed, URLs and
 * mailto: refused with what to type instead, internationalised host names
 * (bücher.test) converted to their IDNA form (xn--bcher-kva.test) with
 * libidn2, and the Unicode form kept for display. Knows nothing of Lua. */
#ifndef MX_IDN_H
#define MX_IDN_H
#include <stddef.h>

/* Prepares target text s for mx_target_parse: out (outlen bytes) gets s
 * without surrounding whitespace and with its host name (after the last '@',
 * before ":port", or inside "[...]") in ASCII (IDNA 2008, UTS #46
 * non-transitional, as dig and browsers do). uni (unilen bytes) gets the
 * host's Unicode form when the name is internationalised (typed in Unicode,
 * or typed with xn-- labels), "" otherwise.
 * Returns 0, or -1 with a complete sentence in why (whylen bytes). */
int mx_idn_target(const char *s, char *out, size_t outlen, char *uni, size_t unilen, char *why, size_t whylen);

/* One domain name (no port, no local part) to ASCII: 0, or -1 with why set.
 * uni as above. An ASCII name without xn-- labels is copied unchanged. */
int mx_idn_to_ascii(const char *name, char *out, size_t outlen, char *uni, size_t unilen, char *why, size_t whylen);

#endif
