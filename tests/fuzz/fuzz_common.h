/* Shared helpers for the libFuzzer harnesses in tests/fuzz/.
 * Each harness is one fuzz_<name>.c defining LLVMFuzzerTestOneInput. */
#ifndef MX_FUZZ_COMMON_H
#define MX_FUZZ_COMMON_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An invariant the code under test broke: abort so libFuzzer keeps the input. */
#define FUZZ_CHECK(cond)                                                                    \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);    \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

/* A malloc'd NUL-terminated copy of data[0..n) (embedded NULs cut it short,
 * as a C string API would see it). */
static inline char *fuzz_cstr(const uint8_t *data, size_t n) {
    char *s = malloc(n + 1);
    if (!s) abort();
    memcpy(s, data, n);
    s[n] = 0;
    return s;
}

/* A malloc'd copy of exactly n bytes, so that ASan sees any read past the end. */
static inline char *fuzz_dup(const uint8_t *data, size_t n) {
    char *s = malloc(n ? n : 1);
    if (!s) abort();
    if (n) memcpy(s, data, n);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
