/* "Did you mean": see suggest.h. */
#include "suggest.h"
#include <ctype.h>
#include <string.h>

#define SUGGEST_MAX 64 /* longer words are no typos of our names */

/* Optimal string alignment distance (Damerau-Levenshtein without repeated
 * edits of one substring), case-insensitive; SUGGEST_MAX + 1 when too long. */
static size_t distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    if (n > SUGGEST_MAX || m > SUGGEST_MAX) return SUGGEST_MAX + 1;
    size_t d[SUGGEST_MAX + 1][SUGGEST_MAX + 1];
    for (size_t i = 0; i <= n; i++) d[i][0] = i;
    for (size_t j = 0; j <= m; j++) d[0][j] = j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            size_t best = d[i - 1][j - 1] + (ca != cb);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) && tolower((unsigned char)a[i - 2]) == cb &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[n][m];
}

const char *mx_suggest(const char *word, const char *const *cands, size_t n) {
    if (!word || !*word) return NULL;
    size_t len = strlen(word), limit = len <= 4 ? 1 : len <= 8 ? 2 : 3;
    const char *best = NULL;
    size_t best_d = limit + 1;
    for (size_t i = 0; n == (size_t)-1 ? cands[i] != NULL : i < n; i++) {
        if (!cands[i]) continue;
        size_t dd = distance(word, cands[i]);
        if (dd < best_d) { best_d = dd; best = cands[i]; }
    }
    return best;
}
