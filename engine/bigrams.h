/* A bigram filter for substring searches: one pass over a text sets a bit
 * per adjacent byte pair (hashed into 1024 bits); a needle whose first or
 * last pair is absent cannot occur, so its search can be skipped. The
 * filter only ever skips searches that would fail. Used by the parser's
 * built-in cause cascade (logparse.c) and the cause catalog's matcher
 * (causematch.c). */
#ifndef MX_BIGRAMS_H
#define MX_BIGRAMS_H
#include <stdint.h>
#include <string.h>

typedef struct bigrams {
    uint64_t w[16];
} bigrams;

static inline unsigned bg_idx(unsigned char a, unsigned char b) { return (((unsigned)a << 5) ^ b) & 1023u; }

static inline void bg_build(bigrams *bg, const char *s, const char *e) {
    memset(bg, 0, sizeof *bg);
    for (const char *q = s; q + 1 < e; q++) {
        unsigned i = bg_idx((unsigned char)q[0], (unsigned char)q[1]);
        bg->w[i >> 6] |= 1ULL << (i & 63);
    }
}

/* the pair whose index bg_idx gave */
static inline int bg_has_idx(const bigrams *bg, unsigned i) { return (bg->w[i >> 6] >> (i & 63)) & 1; }

#endif
