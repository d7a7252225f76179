/* A fact built once, into whatever holds it: an mx_json tree (this file's
 * sink) or Lua tables (bindings/rt_factsink.c), so `mxdiag logs` hands the
 * rules its aggregates without building, pushing and freeing a JSON tree.
 *
 * A builder calls the sink like a stack machine: obj()/arr() open a
 * container, a scalar call adds one value, end() closes the innermost
 * container. Inside an object every value is preceded by key(k); k must stay
 * valid and unchanged for the whole build, as string literals and the static
 * status/cause names are (the Lua sink knows a name by its address once it
 * has seen it), and keys of one object must all differ.  The
 * value built last (one outermost value) is the result.  Knows nothing of
 * Lua. */
#ifndef MX_FACTSINK_H
#define MX_FACTSINK_H
#include <stddef.h>
#include <stdint.h>
#include "json.h"

typedef struct mx_fact_sink {
    void (*obj)(void *ud);
    void (*arr)(void *ud);
    void (*end)(void *ud);
    void (*key)(void *ud, const char *k);
    void (*str)(void *ud, const char *s, size_t n);
    void (*integer)(void *ud, int64_t v);
    void (*number)(void *ud, double v);
    void (*boolean)(void *ud, int v);
    void *ud;
} mx_fact_sink;

/* A builder: calls s to build one value. */
typedef void (*mx_fact_build_fn)(const mx_fact_sink *s, void *ud);

#define MX_FACT_SINK_DEPTH 16 /* containers open at once, at most */

/* The JSON sink's state (on the caller's stack). */
typedef struct mx_fact_json {
    mx_json *stack[MX_FACT_SINK_DEPTH];
    int depth;
    const char *key;
    mx_json *result;
} mx_fact_json;

/* A sink that builds an mx_json tree into j; mx_fact_json_take returns it
 * (caller frees). */
void mx_fact_json_sink(mx_fact_json *j, mx_fact_sink *s);
mx_json *mx_fact_json_take(mx_fact_json *j);

/* Shorthands for builders. */
static inline void mx_fact_kv_int(const mx_fact_sink *s, const char *k, int64_t v) {
    s->key(s->ud, k);
    s->integer(s->ud, v);
}
static inline void mx_fact_kv_str(const mx_fact_sink *s, const char *k, const char *v, size_t n) {
    s->key(s->ud, k);
    s->str(s->ud, v, n);
}

#endif
