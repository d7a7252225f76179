/* Cause pattern matcher.  See causematch.h. */
#include "causematch.h"
#include "bigrams.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ANY = 0, START = 1, END = 2, WHOLE = 3 };

typedef struct pat {
    char *s;
    size_t n;
    int anchor;
    /* Bigram indexes of the pattern (n >= 2): the first and last pairs and
     * up to PAT_BGS - 2 more spread between them, distinct.  A text lacking
     * any of them cannot contain the pattern, so memmem is not called. */
    uint16_t bg[8];
    unsigned nbg;
} pat;
#define PAT_BGS 8

#define PAT_WORDS (MX_CAUSEMATCH_MAX_PATTERNS / 64)

typedef struct entry {
    int cause;
    uint16_t *any, *also; /* pattern indexes */
    size_t nany, nalso;
    /* A list whose patterns are all unanchored and 2+ bytes long is
     * "filtered": it is searched only through the text's candidates (the
     * patterns whose bigrams the text all has), as a bit set of indexes. */
    int any_filt, also_filt;
    uint64_t any_set[PAT_WORDS], also_set[PAT_WORDS];
} entry;

struct mx_cause_matcher {
    pat pats[MX_CAUSEMATCH_MAX_PATTERNS];
    size_t npats;
    uint64_t filt[PAT_WORDS]; /* the unanchored patterns of 2+ bytes */
    uint16_t bg0[MX_CAUSEMATCH_MAX_PATTERNS]; /* each one's first bigram, packed */
    entry *entries;
    size_t nentries;
};

mx_cause_matcher *mx_cause_matcher_new(void) { return calloc(1, sizeof(mx_cause_matcher)); }

void mx_cause_matcher_free(mx_cause_matcher *m) {
    if (!m) return;
    for (size_t i = 0; i < m->npats; i++) free(m->pats[i].s);
    for (size_t i = 0; i < m->nentries; i++) {
        free(m->entries[i].any);
        free(m->entries[i].also);
    }
    free(m->entries);
    free(m);
}

size_t mx_cause_matcher_entries(const mx_cause_matcher *m) { return m ? m->nentries : 0; }

const char *mx_cause_matcher_pattern(const mx_cause_matcher *m, size_t i, int *at_start, int *at_end) {
    if (!m || i >= m->npats) return NULL;
    if (at_start) *at_start = (m->pats[i].anchor & START) != 0;
    if (at_end) *at_end = (m->pats[i].anchor & END) != 0;
    return m->pats[i].s;
}

/* Parses a pattern's anchors into p (p->s not set). */
static int parse_pat(const char *src, pat *p, const char **body, char *err, size_t errlen) {
    size_t n = strlen(src);
    if (n == 0) return snprintf(err, errlen, "empty pattern"), -1;
    if (n > MX_CAUSEMATCH_MAX_LEN)
        return snprintf(err, errlen, "pattern of %zu bytes (at most %d)", n, MX_CAUSEMATCH_MAX_LEN), -1;
    const char *b = src;
    int anchor = ANY;
    if (b[0] == '^') anchor |= START, b++, n--;
    else if (n >= 2 && b[0] == '\\' && b[1] == '^') b++, n--;
    if (n >= 1 && b[n - 1] == '$') {
        if (n >= 2 && b[n - 2] == '\\') {
            /* "\$": a literal '$', the backslash is dropped below */
            anchor |= 8;
        } else {
            anchor |= END, n--;
        }
    }
    if (n == 0 || (anchor & 8 && n == 1)) return snprintf(err, errlen, "pattern '%s' is only an anchor", src), -1;
    p->n = n;
    p->anchor = anchor;
    *body = b;
    return 0;
}

static int intern(mx_cause_matcher *m, const char *src, uint16_t *out, size_t *added, char *err, size_t errlen) {
    pat p;
    const char *b;
    if (parse_pat(src, &p, &b, err, errlen) < 0) return -1;
    char *s = malloc(p.n + 1);
    if (!s) return snprintf(err, errlen, "out of memory"), -1;
    if (p.anchor & 8) {
        memcpy(s, b, p.n - 2);
        s[p.n - 2] = '$';
        p.n--;
        p.anchor &= ~8;
    } else {
        memcpy(s, b, p.n);
    }
    s[p.n] = 0;
    for (size_t i = 0; i < m->npats; i++)
        if (m->pats[i].anchor == p.anchor && m->pats[i].n == p.n && memcmp(m->pats[i].s, s, p.n) == 0) {
            free(s);
            *out = (uint16_t)i;
            return 0;
        }
    if (m->npats + *added >= MX_CAUSEMATCH_MAX_PATTERNS) {
        free(s);
        return snprintf(err, errlen, "too many patterns (at most %d distinct)", MX_CAUSEMATCH_MAX_PATTERNS), -1;
    }
    p.s = s;
    p.nbg = 0;
    if (p.n >= 2) {
        size_t pairs = p.n - 1; /* pair k is s[k], s[k + 1] */
        size_t want = pairs < PAT_BGS ? pairs : PAT_BGS;
        for (size_t i = 0; i < want; i++) {
            size_t k = want == 1 ? 0 : i * (pairs - 1) / (want - 1); /* 0 and pairs - 1 included */
            unsigned b = bg_idx((unsigned char)s[k], (unsigned char)s[k + 1]);
            unsigned j = 0;
            while (j < p.nbg && p.bg[j] != b) j++;
            if (j == p.nbg) p.bg[p.nbg++] = (uint16_t)b;
        }
    }
    size_t k = m->npats + (*added)++;
    m->pats[k] = p;
    *out = (uint16_t)k;
    return 0;
}

/* The bit set of a list's patterns; 1 when all are filtered ones. */
static int list_set(const mx_cause_matcher *m, const uint16_t *ix, size_t k, uint64_t *set) {
    int all = 1;
    memset(set, 0, PAT_WORDS * sizeof *set);
    for (size_t i = 0; i < k; i++) {
        set[ix[i] >> 6] |= 1ULL << (ix[i] & 63);
        if (!(m->filt[ix[i] >> 6] >> (ix[i] & 63) & 1)) all = 0;
    }
    return all;
}

int mx_cause_matcher_add(mx_cause_matcher *m, int cause, const char *const *any, size_t nany,
                         const char *const *also, size_t nalso, char *err, size_t errlen) {
    if (cause < 0) return snprintf(err, errlen, "invalid cause"), -1;
    if (nany == 0) return snprintf(err, errlen, "no pattern"), -1;
    if (m->nentries >= MX_CAUSEMATCH_MAX_ENTRIES)
        return snprintf(err, errlen, "too many entries (at most %d)", MX_CAUSEMATCH_MAX_ENTRIES), -1;
    if (nany + nalso > MX_CAUSEMATCH_MAX_PATTERNS)
        return snprintf(err, errlen, "too many patterns (at most %d distinct)", MX_CAUSEMATCH_MAX_PATTERNS), -1;
    entry e = {.cause = cause,
               .any = calloc(nany, sizeof(uint16_t)),
               .also = nalso ? calloc(nalso, sizeof(uint16_t)) : NULL,
               .nany = nany,
               .nalso = nalso};
    entry *grown = realloc(m->entries, (m->nentries + 1) * sizeof *grown);
    if (!e.any || (nalso && !e.also) || !grown) {
        free(e.any);
        free(e.also);
        if (grown) m->entries = grown;
        return snprintf(err, errlen, "out of memory"), -1;
    }
    m->entries = grown;
    size_t added = 0;
    int rc = 0;
    for (size_t i = 0; i < nany && rc == 0; i++) rc = intern(m, any[i], &e.any[i], &added, err, errlen);
    for (size_t i = 0; i < nalso && rc == 0; i++) rc = intern(m, also[i], &e.also[i], &added, err, errlen);
    if (rc < 0) {
        for (size_t i = 0; i < added; i++) free(m->pats[m->npats + i].s);
        free(e.any);
        free(e.also);
        return -1;
    }
    m->npats += added;
    for (size_t i = 0; i < nany + nalso; i++) {
        unsigned j = i < nany ? e.any[i] : e.also[i - nany];
        if (m->pats[j].anchor == ANY && m->pats[j].n >= 2) {
            m->filt[j >> 6] |= 1ULL << (j & 63);
            m->bg0[j] = m->pats[j].bg[0];
        }
    }
    e.any_filt = list_set(m, e.any, nany, e.any_set);
    e.also_filt = nalso && list_set(m, e.also, nalso, e.also_set);
    m->entries[m->nentries++] = e;
    return 0;
}

typedef struct memo {
    uint64_t done[MX_CAUSEMATCH_MAX_PATTERNS / 64], yes[MX_CAUSEMATCH_MAX_PATTERNS / 64];
} memo;

/* The text's bigrams, built on the first unanchored search: a text decided
 * by anchored patterns alone (the "connect to ...: <strerror>" bulk) never
 * pays for them. */
typedef struct lazy_bg {
    bigrams bg;
    int built;
} lazy_bg;

static int pat_match(const pat *p, const char *s, size_t n, lazy_bg *lb) {
    if (p->n > n) return 0;
    switch (p->anchor) {
    case START: return memcmp(s, p->s, p->n) == 0;
    case END: return memcmp(s + n - p->n, p->s, p->n) == 0;
    case WHOLE: return p->n == n && memcmp(s, p->s, n) == 0;
    default:
        if (p->n >= 2) {
            if (!lb->built) bg_build(&lb->bg, s, s + n), lb->built = 1;
            for (unsigned i = 0; i < p->nbg; i++)
                if (!bg_has_idx(&lb->bg, p->bg[i])) return 0;
        }
        return memmem(s, n, p->s, p->n) != NULL;
    }
}

static int any_of(const mx_cause_matcher *m, const uint16_t *ix, size_t k, const char *s, size_t n,
                  lazy_bg *bg, memo *mo) {
    for (size_t i = 0; i < k; i++) {
        unsigned j = ix[i];
        uint64_t bit = 1ULL << (j & 63);
        if (!(mo->done[j >> 6] & bit)) {
            mo->done[j >> 6] |= bit;
            if (pat_match(&m->pats[j], s, n, bg)) mo->yes[j >> 6] |= bit;
        }
        if (mo->yes[j >> 6] & bit) return 1;
    }
    return 0;
}

/* Which of a filtered list's patterns have their first bigram in the text:
 * tested once per pattern and text (cdone), when a list naming it is first
 * reached, in a tight loop over the list's bit set (the rest of its bigrams
 * and the search itself are any_cand's, for these candidates only). */
static void candidates(const mx_cause_matcher *m, const uint64_t *set, const char *s, size_t n, lazy_bg *lb,
                       uint64_t *cand, uint64_t *cdone, size_t words) {
    if (!lb->built) bg_build(&lb->bg, s, s + n), lb->built = 1;
    for (size_t w = 0; w < words; w++) {
        uint64_t c = 0;
        for (uint64_t bits = set[w] & ~cdone[w]; bits; bits &= bits - 1) {
            unsigned b = (unsigned)__builtin_ctzll(bits);
            c |= (uint64_t)bg_has_idx(&lb->bg, m->bg0[w * 64 + b]) << b;
        }
        cand[w] |= c;
        cdone[w] |= set[w];
    }
}

/* any_of for a filtered list: only its candidates are searched (in index
 * order: which one matches does not matter, only whether one does). */
static int any_cand(const mx_cause_matcher *m, const uint64_t *set, const uint64_t *cand, size_t words,
                    const char *s, size_t n, const lazy_bg *lb, memo *mo) {
    for (size_t w = 0; w < words; w++)
        for (uint64_t bits = set[w] & cand[w]; bits; bits &= bits - 1) {
            uint64_t bit = bits & -bits;
            if (!(mo->done[w] & bit)) {
                const pat *p = &m->pats[w * 64 + (unsigned)__builtin_ctzll(bits)];
                mo->done[w] |= bit;
                if (p->n <= n) {
                    unsigned i = 1;
                    while (i < p->nbg && bg_has_idx(&lb->bg, p->bg[i])) i++;
                    if (i == p->nbg && memmem(s, n, p->s, p->n)) mo->yes[w] |= bit;
                }
            }
            if (mo->yes[w] & bit) return 1;
        }
    return 0;
}

int mx_cause_matcher_match(const mx_cause_matcher *m, const char *text, size_t n) {
    if (!m) return -1;
    lazy_bg bg;
    bg.built = 0;
    memo mo;
    uint64_t cand[PAT_WORDS], cdone[PAT_WORDS];
    size_t words = (m->npats + 63) / 64;
    memset(mo.done, 0, words * sizeof(uint64_t));
    memset(mo.yes, 0, words * sizeof(uint64_t));
    memset(cand, 0, words * sizeof(uint64_t));
    memset(cdone, 0, words * sizeof(uint64_t));
    for (size_t i = 0; i < m->nentries; i++) {
        const entry *e = &m->entries[i];
        int ok;
        if (e->any_filt) {
            candidates(m, e->any_set, text, n, &bg, cand, cdone, words);
            ok = any_cand(m, e->any_set, cand, words, text, n, &bg, &mo);
        } else {
            ok = any_of(m, e->any, e->nany, text, n, &bg, &mo);
        }
        if (!ok) continue;
        if (!e->nalso) return e->cause;
        if (e->also_filt) {
            candidates(m, e->also_set, text, n, &bg, cand, cdone, words);
            ok = any_cand(m, e->also_set, cand, words, text, n, &bg, &mo);
        } else {
            ok = any_of(m, e->also, e->nalso, text, n, &bg, &mo);
        }
        if (ok) return e->cause;
    }
    return -1;
}
