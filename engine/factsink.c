/* See factsink.h: the sink that builds an mx_json tree. */
#include "factsink.h"

#include <stdlib.h>

static void add(mx_fact_json *j, mx_json *v) {
    if (j->depth == 0) {
        mx_json_free(j->result);
        j->result = v;
        return;
    }
    mx_json *top = j->stack[j->depth - 1];
    if (top->type == MX_JOBJ) {
        mx_json_append(top, j->key ? j->key : "", v);
        j->key = NULL;
    } else {
        mx_json_push(top, v);
    }
}

static void open_c(mx_fact_json *j, mx_json *c) {
    if (j->depth == MX_FACT_SINK_DEPTH) abort(); /* a builder's bug: facts are a few levels deep */
    add(j, c);
    j->stack[j->depth++] = c;
}

static void s_obj(void *ud) { open_c(ud, mx_json_obj()); }
static void s_arr(void *ud) { open_c(ud, mx_json_arr()); }
static void s_end(void *ud) {
    mx_fact_json *j = ud;
    if (j->depth > 0) j->depth--;
}
static void s_key(void *ud, const char *k) { ((mx_fact_json *)ud)->key = k; }
static void s_str(void *ud, const char *s, size_t n) { add(ud, mx_json_strn(s, n)); }
static void s_int(void *ud, int64_t v) { add(ud, mx_json_int((long long)v)); }
static void s_num(void *ud, double v) { add(ud, mx_json_num(v)); }
static void s_bool(void *ud, int v) { add(ud, mx_json_bool(v)); }

void mx_fact_json_sink(mx_fact_json *j, mx_fact_sink *s) {
    j->depth = 0;
    j->key = NULL;
    j->result = NULL;
    s->obj = s_obj;
    s->arr = s_arr;
    s->end = s_end;
    s->key = s_key;
    s->str = s_str;
    s->integer = s_int;
    s->number = s_num;
    s->boolean = s_bool;
    s->ud = j;
}

mx_json *mx_fact_json_take(mx_fact_json *j) {
    mx_json *r = j->result;
    j->result = NULL;
    return r;
}
