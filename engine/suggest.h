/* "Did you mean": the nearest of a set of known words to a mistyped one. */
#ifndef MX_SUGGEST_H
#define MX_SUGGEST_H
#include <stddef.h>

/* The candidate closest to word by edit distance (insertions, deletions,
 * substitutions and swaps of neighbours, case-insensitive), when it is near
 * enough to be a typo: at most 1 edit for words up to 4 characters, 2 up to
 * 8, 3 beyond. cands ends with NULL when n is (size_t)-1. NULL: none near. */
const char *mx_suggest(const char *word, const char *const *cands, size_t n);

#endif
