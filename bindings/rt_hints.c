/* Hints for people writing rules: "did you mean" for a misspelled name, and
 * the line of a rule file where a table field is written (the rule table
 * itself carries no line numbers). */
#include "rt_private.h"
#include <string.h>

/* Levenshtein distance of a and b, capped at 9 (names are short). */
static int distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40) return 9;
    int row[41];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            /* a swap of two neighbours counts as one edit */
            row[j] = best;
            diag = up;
        }
    }
    return row[lb] > 9 ? 9 : row[lb];
}

const char *rt_did_you_mean(const char *word, const char *const *known) {
    const char *best = NULL;
    int bd = 9;
    size_t wl = strlen(word);
    for (const char *const *k = known; *k; k++) {
        int d = distance(word, *k);
        /* close enough: at most 2 edits, fewer for short names */
        int limit = wl <= 3 ? 1 : 2;
        if (d <= limit && d < bd) { bd = d; best = *k; }
    }
    return best;
}

int rt_field_line(const char *src, size_t len, const char *field) {
    size_t fl = strlen(field);
    int line = 1;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\n') { line++; continue; }
        if (i + fl > len || memcmp(src + i, field, fl) != 0) continue;
        int word_start = i == 0 || !(src[i - 1] == '_' || (src[i - 1] >= 'a' && src[i - 1] <= 'z') ||
                                     (src[i - 1] >= 'A' && src[i - 1] <= 'Z') || (src[i - 1] >= '0' && src[i - 1] <= '9') || src[i - 1] == '.');
        if (!word_start) continue;
        size_t j = i + fl;
        while (j < len && (src[j] == ' ' || src[j] == '\t')) j++;
        if (j < len && src[j] == '=' && !(j + 1 < len && src[j + 1] == '=')) return line;
    }
    return 0;
}
