/* `check --letter`: a plain-text message to the recipient domain's
 * postmaster (RFC 2142), written from a check's findings (mxdiag.check/1). */
#ifndef MX_LETTER_H
#define MX_LETTER_H
#include "buf.h"
#include "json.h"

/* started: when the check ran, UTC ("YYYY-MM-DDTHH:MM:SSZ" or "unknown"). */
void mx_letter_write(mx_buf *out, const mx_json *doc, const char *started, const char *version);

#endif
