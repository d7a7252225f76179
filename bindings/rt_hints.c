/* Hints for people writing rules: "did you mean" for a misspelled name, and
 * the line of a rule file where a table field is written (the rule table
 * itself carries no line numbers). */
#include "rt_private.h"
#include <string.h>
#include "suggest.h"

/* the nearest known name within a typo's reach (engine/suggest.c) */
const char *rt_did_you_mean(const char *word, const char *const *known) {
    return mx_suggest(word, known, (size_t)-1);
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
