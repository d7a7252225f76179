/* Domain lists for `mxdiag batch`: YAML through libyaml's event parser (so
 * that a list of millions of entries is never held in memory) or plain text. */
#include "batch_input.h"
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "addr.h"
#include "buf.h"
#include "suggest.h"
#include "trust.h"

#define MAX_DEPTH 32

enum { ST_START, ST_TOP, ST_DOMAINS, ST_AFTER, ST_DONE };

struct mx_batch_input {
    char *path;
    FILE *f;
    int plain;
    int config;             /* the configuration file (mx_config_read), not a batch list */
    int state;
    int top_is_seq;         /* the document is the domain list itself */
    int seen_domains;
    size_t next_index;
    long lineno;            /* plain */
    char line[MX_BATCH_MAX_LINE + 2]; /* plain: the current line (and a CR), never longer */
    yaml_parser_t parser;
    int parser_ok;
    size_t since_event;     /* YAML bytes handed to libyaml since it last returned an event */
    int token_too_big;      /* the read handler refused: since_event passed MX_BATCH_MAX_TOKEN */
    int read_errno;         /* the read handler failed on a read error */
    mx_target target;       /* the last entry's target as validated (mx_batch_target) */
};

/* ------------------------------------------------------------------ errors */

static void errf(const mx_batch_input *in, long line, long col, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void errf(const mx_batch_input *in, long line, long col, char *err, size_t errlen, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (col > 0) snprintf(err, errlen, "%s:%ld:%ld: %s", in->path, line, col, msg);
    else snprintf(err, errlen, "%s:%ld: %s", in->path, line, msg);
}

/* A non-fatal problem found while reading one node: the first one wins, the
 * node is still read to its end so that the stream stays in step. nodes and
 * bytes count what the entry has made us keep (MX_BATCH_MAX_ENTRY_*); past
 * either, the rest of the entry is read and dropped. */
typedef struct problem {
    int set;
    long line, col;
    char msg[400];
    size_t nodes, bytes;
    int over;               /* a budget was passed: keep nothing more */
} problem;

static void problem_set(problem *p, const yaml_mark_t *m, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void problem_set(problem *p, const yaml_mark_t *m, const char *fmt, ...) {
    if (p->set) return;
    p->set = 1;
    p->line = (long)m->line + 1;
    p->col = (long)m->column + 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg, sizeof p->msg, fmt, ap);
    va_end(ap);
}

/* Counts one node of n scalar bytes against the entry's budget; 0 once the
 * budget is passed (the node is then dropped, the entry is bad). */
static int budget_take(problem *p, const yaml_mark_t *m, size_t n) {
    if (p->over) return 0;
    p->nodes++;
    p->bytes += n;
    if (p->nodes > MX_BATCH_MAX_ENTRY_NODES)
        problem_set(p, m, "more than %d YAML nodes in one entry (the rest of it is skipped)", MX_BATCH_MAX_ENTRY_NODES);
    else if (p->bytes > MX_BATCH_MAX_ENTRY_BYTES)
        problem_set(p, m, "more than %u KiB of text in one entry (the rest of it is skipped)", MX_BATCH_MAX_ENTRY_BYTES >> 10);
    else return 1;
    p->over = 1;
    return 0;
}

/* ------------------------------------------------------------------ open */

/* libyaml buffers a whole token (a scalar, or a comment it skips) before it
 * returns an event: feed it at most MX_BATCH_MAX_TOKEN bytes between two
 * events, so a hostile 1 GiB scalar costs 1 MiB, not 1 GiB. */
static int yaml_read(void *data, unsigned char *buf, size_t size, size_t *size_read) {
    mx_batch_input *in = data;
    *size_read = 0;
    if (in->since_event >= MX_BATCH_MAX_TOKEN) { in->token_too_big = 1; return 0; }
    if (size > MX_BATCH_MAX_TOKEN - in->since_event) size = MX_BATCH_MAX_TOKEN - in->since_event;
    size_t n = fread(buf, 1, size, in->f);
    if (n == 0 && ferror(in->f)) { in->read_errno = errno ? errno : EIO; return 0; }
    in->since_event += n;
    *size_read = n;
    return 1;
}

const char *mx_batch_path(const mx_batch_input *in) { return in->path; }

/* Takes f (closed by mx_batch_close unless it is stdin). */
static mx_batch_input *batch_open_file(FILE *f, const char *path, int plain) {
    mx_batch_input *in = mx_xcalloc(1, sizeof *in);
    in->path = mx_xstrdup(strcmp(path, "-") == 0 ? "(stdin)" : path);
    size_t l = strlen(path);
    in->plain = plain || (l > 4 && strcmp(path + l - 4, ".txt") == 0) || (l > 5 && strcmp(path + l - 5, ".list") == 0);
    in->f = f;
    if (!in->plain) {
        yaml_parser_initialize(&in->parser);
        yaml_parser_set_input(&in->parser, yaml_read, in);
        in->parser_ok = 1;
    }
    return in;
}

mx_batch_input *mx_batch_open(const char *path, int plain, char *err, size_t errlen) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    return batch_open_file(f, path, plain);
}

void mx_batch_close(mx_batch_input *in) {
    if (!in) return;
    if (in->parser_ok) yaml_parser_delete(&in->parser);
    if (in->f && in->f != stdin) fclose(in->f);
    free(in->path);
    free(in);
}

void mx_batch_entry_clear(mx_batch_entry *e) {
    mx_json_free(e->options);
    e->options = NULL;
}

/* ------------------------------------------------------------------ events */

/* Next event; -1 (fatal, err set) on a YAML syntax error. */
static int next_event(mx_batch_input *in, yaml_event_t *ev, char *err, size_t errlen) {
    if (!yaml_parser_parse(&in->parser, ev)) {
        const yaml_parser_t *p = &in->parser;
        in->state = ST_DONE;
        if (in->token_too_big) {
            errf(in, (long)p->mark.line + 1, 0, err, errlen,
                 "a single YAML token (scalar, key or comment) is larger than %u KiB (limit MX_BATCH_MAX_TOKEN); "
                 "the rest of the file is not read", MX_BATCH_MAX_TOKEN >> 10);
            return -1;
        }
        if (in->read_errno) {
            errf(in, (long)p->mark.line + 1, 0, err, errlen, "read error: %s", strerror(in->read_errno));
            return -1;
        }
        const char *ctx = p->context ? p->context : "";
        char where[96] = "";
        if (*ctx) snprintf(where, sizeof where, " (started at line %ld, column %ld)", (long)p->context_mark.line + 1,
                           (long)p->context_mark.column + 1);
        errf(in, (long)p->problem_mark.line + 1, (long)p->problem_mark.column + 1, err, errlen, "YAML syntax error: %s%s%s%s",
             p->problem ? p->problem : "unknown problem", *ctx ? " " : "", ctx, where);
        return -1;
    }
    in->since_event = 0;
    return 0;
}

static int is_null_word(const char *s) { return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"); }

/* YAML 1.1 core types for plain scalars; quoted scalars are strings. */
static mx_json *scalar_json(const yaml_event_t *ev) {
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return mx_json_strn(s, n);
    if (is_null_word(s)) return mx_json_null();
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", NULL};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", NULL};
    for (const char *const *w = yes; *w; w++) if (!strcmp(s, *w)) return mx_json_bool(1);
    for (const char *const *w = no; *w; w++) if (!strcmp(s, *w)) return mx_json_bool(0);
    char *end;
    errno = 0;
    long long iv = strtoll(s, &end, 10);
    if (n && !*end && errno == 0 && (s[0] == '-' || s[0] == '+' || (s[0] >= '0' && s[0] <= '9'))) return mx_json_int(iv);
    double dv = strtod(s, &end);
    if (n && !*end && (s[0] == '-' || s[0] == '+' || s[0] == '.' || (s[0] >= '0' && s[0] <= '9'))) return mx_json_num(dv);
    return mx_json_strn(s, n);
}

/* The rest of a collection nested past MAX_DEPTH, read without recursion and
 * without keeping anything; past MX_BATCH_MAX_NESTING the file is abandoned
 * (libyaml's stacks grow with the nesting, and it cannot skip). */
static int skip_deep(mx_batch_input *in, int depth, char *err, size_t errlen) {
    int open = 1;
    yaml_event_t ev;
    while (open > 0) {
        if (next_event(in, &ev, err, errlen) != 0) return -1;
        yaml_event_type_t t = ev.type;
        yaml_mark_t m = ev.start_mark;
        yaml_event_delete(&ev);
        if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) open++;
        else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) open--;
        else if (t != YAML_SCALAR_EVENT && t != YAML_ALIAS_EVENT) open = 0; /* cannot happen inside a node */
        if (depth + open > MX_BATCH_MAX_NESTING) {
            errf(in, (long)m.line + 1, (long)m.column + 1, err, errlen,
                 "nested deeper than %d levels (limit MX_BATCH_MAX_NESTING); the rest of the file is not read",
                 MX_BATCH_MAX_NESTING);
            in->state = ST_DONE;
            return -1;
        }
    }
    return 0;
}

/* Reads one whole node whose first event is *first (taken) into *out.
 * Returns -1 only on a fatal syntax error; other problems go to *pb and the
 * node is still consumed. */
static int read_node(mx_batch_input *in, yaml_event_t *first, mx_json **out, problem *pb, int depth, char *err, size_t errlen) {
    *out = NULL;
    yaml_event_t ev;
    if ((first->type == YAML_SEQUENCE_START_EVENT || first->type == YAML_MAPPING_START_EVENT) && depth >= MAX_DEPTH) {
        problem_set(pb, &first->start_mark, "nested deeper than %d levels", MAX_DEPTH);
        yaml_event_delete(first);
        if (skip_deep(in, depth, err, errlen) != 0) return -1; /* *out stays NULL */
        *out = mx_json_null();
        return 0;
    }
    switch (first->type) {
    case YAML_SCALAR_EVENT:
        *out = budget_take(pb, &first->start_mark, first->data.scalar.length) ? scalar_json(first) : mx_json_null();
        yaml_event_delete(first);
        return 0;
    case YAML_ALIAS_EVENT:
        problem_set(pb, &first->start_mark, "anchors and aliases (*%s) are not supported", (const char *)first->data.alias.anchor);
        yaml_event_delete(first);
        *out = mx_json_null();
        return 0;
    case YAML_SEQUENCE_START_EVENT: {
        budget_take(pb, &first->start_mark, 0);
        yaml_event_delete(first);
        mx_json *a = mx_json_arr();
        for (;;) {
            if (next_event(in, &ev, err, errlen) != 0) { mx_json_free(a); return -1; }
            if (ev.type == YAML_SEQUENCE_END_EVENT) { yaml_event_delete(&ev); break; }
            mx_json *item;
            if (read_node(in, &ev, &item, pb, depth + 1, err, errlen) != 0) { mx_json_free(a); return -1; }
            if (pb->over) mx_json_free(item);
            else mx_json_push(a, item);
        }
        *out = a;
        return 0;
    }
    case YAML_MAPPING_START_EVENT: {
        budget_take(pb, &first->start_mark, 0);
        yaml_event_delete(first);
        mx_json *o = mx_json_obj();
        for (;;) {
            if (next_event(in, &ev, err, errlen) != 0) { mx_json_free(o); return -1; }
            if (ev.type == YAML_MAPPING_END_EVENT) { yaml_event_delete(&ev); break; }
            char *key = NULL;
            yaml_mark_t km = ev.start_mark;
            if (ev.type == YAML_SCALAR_EVENT) key = mx_xstrdup((const char *)ev.data.scalar.value);
            else problem_set(pb, &km, "a mapping key must be a plain string");
            mx_json *k;
            if (read_node(in, &ev, &k, pb, depth + 1, err, errlen) != 0) { free(key); mx_json_free(o); return -1; }
            mx_json_free(k);
            if (next_event(in, &ev, err, errlen) != 0) { free(key); mx_json_free(o); return -1; }
            mx_json *v;
            if (read_node(in, &ev, &v, pb, depth + 1, err, errlen) != 0) { free(key); mx_json_free(o); return -1; }
            if (key && mx_json_get(o, key)) problem_set(pb, &km, "duplicate key '%s'", key);
            if (key && !pb->over) mx_json_set(o, key, v);
            else mx_json_free(v);
            free(key);
        }
        *out = o;
        return 0;
    }
    default:
        problem_set(pb, &first->start_mark, "unexpected YAML event");
        yaml_event_delete(first);
        *out = mx_json_null();
        return 0;
    }
}

/* ------------------------------------------------------------ validation */

/* Field checks: one function per kind of value. Each returns 0 or -1 with
 * *why set, and may normalise the value it is given (returns the new one). */
static mx_json *v_number(mx_json *v, double lo, double hi, const char **why) {
    double d = v->type == MX_JINT ? (double)v->u.i : v->type == MX_JNUM ? v->u.n : -1e300;
    if (!(d > lo && d <= hi)) { *why = "must be a number in range"; mx_json_free(v); return NULL; }
    return v;
}
static mx_json *v_bool(mx_json *v, const char **why) {
    if (v->type != MX_JBOOL) { *why = "must be true or false"; mx_json_free(v); return NULL; }
    return v;
}
static mx_json *v_string(mx_json *v, const char **why) {
    if (v->type != MX_JSTR || !v->u.str.len) { *why = "must be a non-empty string"; mx_json_free(v); return NULL; }
    return v;
}
/* a string or a list of strings -> list of strings; kind: 0 any, 1 IP address, 2 host name */
static mx_json *v_list(mx_json *v, int kind, const char **why) {
    if (v->type == MX_JSTR) {
        mx_json *a = mx_json_arr();
        mx_json_push(a, v);
        v = a;
    }
    if (v->type != MX_JARR) { *why = "must be a string or a list of strings"; mx_json_free(v); return NULL; }
    for (size_t i = 0; i < v->u.c.len; i++) {
        mx_json *it = v->u.c.items[i];
        if (it->type != MX_JSTR || !it->u.str.len) { *why = "must be a list of non-empty strings"; mx_json_free(v); return NULL; }
        if (kind == 1) {
            mx_addr a;
            if (mx_addr_parse(it->u.str.s, &a) != 0) { *why = "must list IP addresses"; mx_json_free(v); return NULL; }
            char canon[64];
            mx_addr_format(&a, canon, sizeof canon);
            mx_json_free(it);
            v->u.c.items[i] = mx_json_str(canon);
        } else if (kind == 3) {
            char norm[96];
            if (mx_resolver_norm(it->u.str.s, norm, sizeof norm) != 0) {
                *why = "must list IP addresses with an optional :port";
                mx_json_free(v);
                return NULL;
            }
            mx_json_free(it);
            v->u.c.items[i] = mx_json_str(norm);
        } else if (kind == 2) {
            const char *w;
            if (mx_domain_valid(it->u.str.s, &w) != 0) { *why = "must list valid host names"; mx_json_free(v); return NULL; }
            char norm[MX_DOMAIN_MAX + 2];
            mx_domain_normalize(it->u.str.s, norm, sizeof norm);
            mx_json_free(it);
            v->u.c.items[i] = mx_json_str(norm);
        }
    }
    return v;
}

enum { F_TIMEOUT, F_PORT, F_IPS, F_HOSTS, F_STRINGS, F_BOOL, F_HELO, F_RESOLVER, F_RULES, F_EXPECT, F_DIR, F_KEY, F_RULEOPTS, F_OVERRIDES,
       F_MODULES };
/* in_defaults: a batch list's defaults: and the configuration file (but see
 * code_keys: rules_dir is the configuration file's alone). */
typedef struct field { const char *name; int kind; int in_defaults, in_entry; } field;
static const field fields[] = {
    {"timeout", F_TIMEOUT, 1, 1},        {"port", F_PORT, 1, 1},
    {"source_ips", F_IPS, 1, 1},         {"sender_ips", F_IPS, 1, 1},
    {"sender_domains", F_HOSTS, 1, 1},   {"helo", F_HELO, 1, 1},
    {"dnsbl_zones", F_HOSTS, 1, 1},      {"allow_reserved", F_BOOL, 1, 1},
    {"resolver", F_RESOLVER, 1, 1},      {"only", F_RULES, 1, 1},
    {"skip", F_RULES, 1, 1},             {"rules_dir", F_DIR, 1, 0},
    {"control_hosts", F_STRINGS, 1, 1},  {"expect", F_EXPECT, 0, 1},
    /* a run-wide secret (Spamhaus DQS key): defaults:/configuration file only */
    {"dnsbl_key", F_KEY, 1, 0},
    /* site rules' options (data: checked against each rule's schema once the
     * rules are loaded) and overrides of findings (run-wide) */
    {"rule_options", F_RULEOPTS, 1, 1}, {"overrides", F_OVERRIDES, 1, 0},
    /* `mxdiag serve`'s: the configuration file's alone (see config_only) */
    {"modules", F_MODULES, 1, 0},        {"serve_targets", F_HOSTS, 1, 0},
};
/* Settings of the configuration file only, never of a batch list's defaults:. */
static int config_only(const char *k) { return !strcmp(k, "modules") || !strcmp(k, "serve_targets"); }

static const field *find_field(const char *name);
static mx_json *check_field(const field *f, mx_json *v, const char **why, const char **sub);

/* modules: {NAME: {per-domain settings (only, skip, timeout, helo, ...)}}
 * for `mxdiag serve`'s /probe?module=NAME. */
static mx_json *check_modules(mx_json *v, const char **why, const char **sub) {
    static char subname[160];
    if (v->type != MX_JOBJ) { *why = "must be a map of module names to settings"; mx_json_free(v); return NULL; }
    for (size_t i = 0; i < v->u.c.len; i++) {
        const char *name = v->u.c.keys[i];
        mx_json *m = v->u.c.items[i];
        size_t nl = strlen(name), ok = nl >= 1 && nl <= 63;
        for (size_t j = 0; ok && j < nl; j++)
            if (!isalnum((unsigned char)name[j]) && name[j] != '_' && name[j] != '-' && name[j] != '.') ok = 0;
        snprintf(subname, sizeof subname, "%.63s", name);
        *sub = subname;
        if (!ok) { *why = "module names are 1 to 63 letters, digits, '_', '-' or '.'"; mx_json_free(v); return NULL; }
        if (m->type == MX_JNULL) { mx_json_free(m); v->u.c.items[i] = mx_json_obj(); continue; }
        if (m->type != MX_JOBJ) { *why = "must be a map of settings (only, skip, timeout, helo, ...)"; mx_json_free(v); return NULL; }
        for (size_t j = 0; j < m->u.c.len; j++) {
            const field *f = find_field(m->u.c.keys[j]);
            snprintf(subname, sizeof subname, "%.63s.%.63s", name, m->u.c.keys[j]);
            if (!f || !f->in_entry || f->kind == F_EXPECT) {
                *why = "is not a per-domain setting (only, skip, timeout, port, helo, resolver, sender_ips, ...)";
                mx_json_free(v);
                return NULL;
            }
            const char *w2 = NULL, *s2 = NULL;
            mx_json *nv = check_field(f, m->u.c.items[j], &w2, &s2);
            m->u.c.items[j] = nv ? nv : mx_json_null();
            if (!nv) { *why = w2; mx_json_free(v); return NULL; }
        }
    }
    *sub = NULL;
    return v;
}

/* Keys that would name code or where code and read files come from: never in
 * a batch list, which is data a customer may hand over (rules_dir is the
 * configuration file's; the others exist nowhere, but a list trying them
 * gets the same answer, not "unknown key"). */
static const char *const code_keys[] = {
    "rules_dir", "rules_dirs", "rules-dir", "rules_path", "shipped_rules", "rules", "lib", "require", "lua",
    "config", "config_dir", "config_dirs", "sysroot", NULL,
};
static int is_code_key(const char *k) {
    for (const char *const *c = code_keys; *c; c++) if (!strcmp(*c, k)) return 1;
    return 0;
}

static mx_json *check_expect(mx_json *v, const char **why, const char **sub) {
    if (v->type != MX_JOBJ) { *why = "must be a map of expectations (mx, starttls, accepts_from)"; mx_json_free(v); return NULL; }
    for (size_t i = 0; i < v->u.c.len; i++) {
        const char *k = v->u.c.keys[i];
        mx_json **it = &v->u.c.items[i];
        static char subname[64];
        snprintf(subname, sizeof subname, "%s", k); /* k dies with v on error */
        *sub = subname;
        if (!strcmp(k, "mx")) *it = v_list(*it, 2, why);
        else if (!strcmp(k, "starttls")) *it = v_bool(*it, why);
        else if (!strcmp(k, "accepts_from")) *it = v_list(*it, 1, why);
        else { *why = "is not a known expectation (mx, starttls, accepts_from)"; mx_json_free(*it); *it = NULL; }
        if (!*it) {
            v->u.c.items[i] = mx_json_null();
            mx_json_free(v);
            return NULL;
        }
    }
    *sub = NULL;
    return v;
}

/* Validates one field; returns the normalised value (taken) or NULL with *why. */
static mx_json *check_field(const field *f, mx_json *v, const char **why, const char **sub) {
    *sub = NULL;
    switch (f->kind) {
    case F_TIMEOUT:
        return v_number(v, 0, 600, why) ? v : (*why = "must be a number of seconds above 0, at most 600", NULL);
    case F_PORT:
        if (v->type != MX_JINT || v->u.i < 1 || v->u.i > 65535) { *why = "must be a port number from 1 to 65535"; mx_json_free(v); return NULL; }
        return v;
    case F_IPS: return v_list(v, 1, why);
    case F_HOSTS: return v_list(v, 2, why);
    case F_STRINGS: case F_RULES: case F_DIR: return v_list(v, 0, why);
    case F_RESOLVER: return v_list(v, 3, why);
    case F_BOOL: return v_bool(v, why);
    case F_HELO: {
        const char *w;
        if (!(v = v_string(v, why))) return NULL;
        if (mx_domain_valid(v->u.str.s, &w) != 0) { *why = "must be a host name"; mx_json_free(v); return NULL; }
        return v;
    }
    case F_EXPECT: return check_expect(v, why, sub);
    case F_RULEOPTS: {
        int ok = v->type == MX_JOBJ;
        for (size_t i = 0; ok && i < v->u.c.len; i++) ok = v->u.c.items[i]->type == MX_JOBJ;
        if (!ok) { *why = "must be a map of rule id to a map of options (RULE_ID: {option: value})"; mx_json_free(v); return NULL; }
        return v;
    }
    case F_OVERRIDES: {
        int ok = v->type == MX_JARR;
        for (size_t i = 0; ok && i < v->u.c.len; i++) ok = v->u.c.items[i]->type == MX_JOBJ && mx_json_get_str(v->u.c.items[i], "code");
        if (!ok) { *why = "must be a list of maps, each with a code (and severity, domains, summary, explanation or advice)"; mx_json_free(v); return NULL; }
        return v;
    }
    case F_MODULES: return check_modules(v, why, sub);
    case F_KEY: {
        /* the value is never echoed: it is a secret */
        if (!(v = v_string(v, why))) return NULL;
        size_t n = v->u.str.len, ok = n >= 1 && n <= 63;
        for (size_t i = 0; ok && i < n; i++)
            if (!isalnum((unsigned char)v->u.str.s[i])) ok = 0;
        if (!ok) { *why = "must be a key of 1 to 63 letters and digits (a Spamhaus DQS key)"; mx_json_free(v); return NULL; }
        return v;
    }
    }
    return v;
}

/* The known key nearest to a mistyped one, among those allowed where it
 * stands (entry: a domain's own settings, which also take "domain"). */
static const char *suggest_key(const char *key, int entry, int config) {
    const char *cands[sizeof fields / sizeof fields[0] + 2];
    size_t n = 0;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if ((entry ? fields[i].in_entry : fields[i].in_defaults) && (config || !is_code_key(fields[i].name)))
            cands[n++] = fields[i].name;
    if (entry) cands[n++] = "domain";
    return mx_suggest(key, cands, n);
}

static const field *find_field(const char *name) {
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (!strcmp(fields[i].name, name)) return &fields[i];
    return NULL;
}

/* Reads a map of settings (defaults: or one domain entry) field by field, so
 * that an error points at the offending key. Returns -1 on fatal error. */
static int read_settings(mx_batch_input *in, int entry, mx_json **out, problem *pb, char *err, size_t errlen) {
    mx_json *o = mx_json_obj();
    yaml_event_t ev;
    for (;;) {
        if (next_event(in, &ev, err, errlen) != 0) { mx_json_free(o); return -1; }
        if (ev.type == YAML_MAPPING_END_EVENT) { yaml_event_delete(&ev); break; }
        yaml_mark_t km = ev.start_mark;
        char *key = ev.type == YAML_SCALAR_EVENT ? mx_xstrdup((const char *)ev.data.scalar.value) : NULL;
        mx_json *k, *v;
        if (read_node(in, &ev, &k, pb, 1, err, errlen) != 0) { free(key); mx_json_free(o); return -1; }
        mx_json_free(k);
        if (next_event(in, &ev, err, errlen) != 0) { free(key); mx_json_free(o); return -1; }
        yaml_mark_t vm = ev.start_mark;
        if (read_node(in, &ev, &v, pb, 1, err, errlen) != 0) { free(key); mx_json_free(o); return -1; }
        if (!key) { problem_set(pb, &km, "keys must be plain strings"); mx_json_free(v); continue; }
        if (entry && !strcmp(key, "domain")) {
            if (v->type != MX_JSTR || !v->u.str.len) problem_set(pb, &vm, "'domain' must be a non-empty string");
            mx_json_set(o, key, v);
            free(key);
            continue;
        }
        const field *f = find_field(key);
        if (!in->config && is_code_key(key)) {
            problem_set(pb, &km, "'%s' cannot be set in a batch list: a list is data, and rule directories come only "
                        "from the command line (--rules-dir), /etc/mxdiag/rules.d or the configuration file", key);
            mx_json_free(v);
            free(key);
            continue;
        }
        if (f && !in->config && config_only(key)) {
            problem_set(pb, &km, "'%s' belongs in the configuration file (it configures mxdiag serve)", key);
            mx_json_free(v);
            free(key);
            continue;
        }
        if (!f || (entry ? !f->in_entry : !f->in_defaults)) {
            if (f && entry) problem_set(pb, &km, "'%s' can only be set in defaults: (it applies to the whole run)", key);
            else if (f) problem_set(pb, &km, "'%s' is a per-domain setting, not a default", key);
            else {
                const char *near = suggest_key(key, entry, in->config);
                if (near) problem_set(pb, &km, "unknown key '%s' (did you mean '%s'?)", key, near);
                else problem_set(pb, &km, "unknown key '%s'", key);
            }
            mx_json_free(v);
            free(key);
            continue;
        }
        if (mx_json_get(o, key)) problem_set(pb, &km, "duplicate key '%s'", key);
        const char *why = NULL, *sub = NULL;
        mx_json *nv = check_field(f, v, &why, &sub);
        if (!nv) {
            if (sub) problem_set(pb, &vm, "'%s.%s' %s", key, sub, why);
            else problem_set(pb, &vm, "'%s' %s", key, why);
        } else {
            mx_json_set(o, key, nv);
        }
        free(key);
    }
    *out = o;
    return 0;
}

/* Skips one node (after an error in its key). -1 on fatal error. */
static int skip_node(mx_batch_input *in, char *err, size_t errlen) {
    yaml_event_t ev;
    problem pb = {0};
    mx_json *v;
    if (next_event(in, &ev, err, errlen) != 0) return -1;
    if (read_node(in, &ev, &v, &pb, 0, err, errlen) != 0) return -1;
    mx_json_free(v);
    return 0;
}

/* ------------------------------------------------------------------ YAML */

/* Top level up to the start of the domains list. */
static int yaml_begin(mx_batch_input *in, mx_json **defaults, char *err, size_t errlen) {
    yaml_event_t ev;
    *defaults = NULL;
    for (;;) {
        if (next_event(in, &ev, err, errlen) != 0) return MX_BATCH_FATAL;
        yaml_event_type_t t = ev.type;
        yaml_mark_t m = ev.start_mark;
        if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT) { yaml_event_delete(&ev); continue; }
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            errf(in, 1, 0, err, errlen, "empty file: expected a 'domains:' list");
            return MX_BATCH_FATAL;
        }
        yaml_event_delete(&ev);
        if (t == YAML_SEQUENCE_START_EVENT) { in->top_is_seq = 1; in->state = ST_DOMAINS; return MX_BATCH_ENTRY; }
        if (t != YAML_MAPPING_START_EVENT) {
            errf(in, (long)m.line + 1, (long)m.column + 1, err, errlen, "expected a map with 'defaults:' and 'domains:', or a list of domains");
            return MX_BATCH_FATAL;
        }
        break;
    }
    for (;;) {
        if (next_event(in, &ev, err, errlen) != 0) return MX_BATCH_FATAL;
        yaml_mark_t m = ev.start_mark;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            errf(in, (long)m.line + 1, (long)m.column + 1, err, errlen, "no 'domains:' list in the file");
            return MX_BATCH_FATAL;
        }
        if (ev.type != YAML_SCALAR_EVENT) {
            yaml_event_delete(&ev);
            errf(in, (long)m.line + 1, (long)m.column + 1, err, errlen, "top-level keys must be 'defaults' or 'domains'");
            return MX_BATCH_FATAL;
        }
        char key[32];
        snprintf(key, sizeof key, "%s", (const char *)ev.data.scalar.value);
        yaml_event_delete(&ev);
        if (!strcmp(key, "domains")) {
            if (next_event(in, &ev, err, errlen) != 0) return MX_BATCH_FATAL;
            yaml_event_type_t t = ev.type;
            yaml_mark_t vm = ev.start_mark;
            yaml_event_delete(&ev);
            if (t == YAML_SCALAR_EVENT) { in->state = ST_AFTER; in->seen_domains = 1; return MX_BATCH_ENTRY; } /* empty list */
            if (t != YAML_SEQUENCE_START_EVENT) {
                errf(in, (long)vm.line + 1, (long)vm.column + 1, err, errlen, "'domains' must be a list");
                return MX_BATCH_FATAL;
            }
            in->state = ST_DOMAINS;
            in->seen_domains = 1;
            return MX_BATCH_ENTRY;
        }
        if (!strcmp(key, "defaults")) {
            if (*defaults) {
                errf(in, (long)m.line + 1, (long)m.column + 1, err, errlen, "duplicate 'defaults:'");
                return MX_BATCH_FATAL;
            }
            if (next_event(in, &ev, err, errlen) != 0) return MX_BATCH_FATAL;
            yaml_mark_t vm = ev.start_mark;
            problem pb = {0};
            if (ev.type == YAML_SCALAR_EVENT && is_null_word((const char *)ev.data.scalar.value)) {
                yaml_event_delete(&ev);
                *defaults = mx_json_obj();
                continue;
            }
            if (ev.type != YAML_MAPPING_START_EVENT) {
                yaml_event_delete(&ev);
                errf(in, (long)vm.line + 1, (long)vm.column + 1, err, errlen, "'defaults' must be a map");
                return MX_BATCH_FATAL;
            }
            yaml_event_delete(&ev);
            if (read_settings(in, 0, defaults, &pb, err, errlen) != 0) return MX_BATCH_FATAL;
            if (pb.set) {
                /* a wrong default would silently change every check: stop */
                errf(in, pb.line, pb.col, err, errlen, "defaults: %s", pb.msg);
                mx_json_free(*defaults);
                *defaults = NULL;
                return MX_BATCH_FATAL;
            }
            continue;
        }
        static const char *const top[] = {"defaults", "domains"};
        const char *near = mx_suggest(key, top, 2);
        errf(in, (long)m.line + 1, (long)m.column + 1, err, errlen, "unknown top-level key '%s' (%s%s%s)", key,
             near ? "did you mean '" : "expected 'defaults' or 'domains'", near ? near : "", near ? "'?" : "");
        mx_json_free(*defaults);
        *defaults = NULL;
        return MX_BATCH_FATAL;
    }
}

/* parsed into in->target, kept for the caller (mx_batch_target): validating
 * a target is parsing it, so the check starts from this parse */
/* s into dst[n] as snprintf("%s") would put it (cut at n - 1 bytes), without
 * formatting: once or twice per entry */
static void copy_cut(char *dst, size_t n, const char *s, size_t len) {
    if (len >= n) len = n - 1;
    memcpy(dst, s, len);
    dst[len] = 0;
}

static int check_target(mx_batch_input *in, mx_batch_entry *e, const char *s, char *err, size_t errlen) {
    mx_target *t = &in->target;
    const char *why;
    size_t len = strlen(s);
    if (len >= sizeof e->target || mx_target_parse(s, t, &why) != 0) {
        copy_cut(e->target, sizeof e->target, s, len);
        if (len >= sizeof e->target) why = "too long";
        errf(in, e->line, e->column, err, errlen, "invalid domain '%.200s': %s", s, why);
        return MX_BATCH_BAD;
    }
    copy_cut(e->target, sizeof e->target, t->input, strlen(t->input)); /* trimmed of surrounding whitespace */
    return MX_BATCH_ENTRY;
}

const mx_target *mx_batch_target(const mx_batch_input *in) { return &in->target; }

static int yaml_next(mx_batch_input *in, mx_batch_entry *e, char *err, size_t errlen) {
    yaml_event_t ev;
    while (in->state == ST_AFTER) {
        /* after the list: the rest of the top-level map (or the end) */
        if (next_event(in, &ev, err, errlen) != 0) return MX_BATCH_FATAL;
        yaml_mark_t m = ev.start_mark;
        yaml_event_type_t t = ev.type;
        char key[32] = "";
        memset(e, 0, sizeof *e);
        e->index = (size_t)-1; /* not an entry */
        e->line = (long)m.line + 1;
        e->column = (long)m.column + 1;
        if (t == YAML_SCALAR_EVENT) snprintf(key, sizeof key, "%s", (const char *)ev.data.scalar.value);
        yaml_event_delete(&ev);
        if (t == YAML_MAPPING_END_EVENT || t == YAML_DOCUMENT_END_EVENT || t == YAML_STREAM_END_EVENT) {
            if (t == YAML_STREAM_END_EVENT) in->state = ST_DONE;
            continue;
        }
        if (t == YAML_DOCUMENT_START_EVENT) {
            errf(in, (long)m.line + 1, (long)m.column + 1, err, errlen, "only one YAML document is read; the rest is ignored");
            in->state = ST_DONE;
            return MX_BATCH_FATAL;
        }
        errf(in, (long)m.line + 1, (long)m.column + 1, err, errlen, "%s%s%s after 'domains:' is ignored (put defaults first: the list is read as it runs)",
             key[0] ? "'" : "", key[0] ? key : "content", key[0] ? "'" : "");
        if (t == YAML_SCALAR_EVENT && skip_node(in, err, errlen) != 0) return MX_BATCH_FATAL;
        return MX_BATCH_BAD;
    }
    if (in->state != ST_DOMAINS) return MX_BATCH_END;
    if (next_event(in, &ev, err, errlen) != 0) return MX_BATCH_FATAL;
    if (ev.type == YAML_SEQUENCE_END_EVENT) {
        yaml_event_delete(&ev);
        in->state = ST_AFTER;
        return yaml_next(in, e, err, errlen);
    }
    memset(e, 0, sizeof *e);
    e->index = in->next_index++;
    e->line = (long)ev.start_mark.line + 1;
    e->column = (long)ev.start_mark.column + 1;
    if (ev.type == YAML_SCALAR_EVENT) {
        int plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        char *s = mx_xstrdup((const char *)ev.data.scalar.value);
        yaml_event_delete(&ev);
        if (plain && is_null_word(s)) {
            free(s);
            errf(in, e->line, e->column, err, errlen, "empty entry");
            return MX_BATCH_BAD;
        }
        int rc = check_target(in, e, s, err, errlen);
        free(s);
        return rc;
    }
    problem pb = {0};
    if (ev.type == YAML_MAPPING_START_EVENT) {
        yaml_event_delete(&ev);
        mx_json *o;
        if (read_settings(in, 1, &o, &pb, err, errlen) != 0) return MX_BATCH_FATAL;
        const char *dom = mx_json_get_str(o, "domain");
        if (!pb.set && !mx_json_get(o, "domain")) {
            errf(in, e->line, e->column, err, errlen, "entry has no 'domain:'");
            mx_json_free(o);
            return MX_BATCH_BAD;
        }
        if (pb.set) {
            errf(in, pb.line, pb.col, err, errlen, "%s%s%s", pb.msg, dom ? " (entry for " : "", dom ? dom : "");
            if (dom) snprintf(err + strlen(err), errlen - strlen(err), ")");
            snprintf(e->target, sizeof e->target, "%s", dom ? dom : "");
            mx_json_free(o);
            return MX_BATCH_BAD;
        }
        int rc = check_target(in, e, dom, err, errlen);
        if (rc != MX_BATCH_ENTRY) { mx_json_free(o); return rc; }
        /* the domain itself is not an option */
        mx_json *opts = mx_json_obj();
        for (size_t i = 0; i < o->u.c.len; i++)
            if (strcmp(o->u.c.keys[i], "domain") != 0) mx_json_set(opts, o->u.c.keys[i], mx_json_clone(o->u.c.items[i]));
        mx_json_free(o);
        if (opts->u.c.len) e->options = opts;
        else mx_json_free(opts);
        return MX_BATCH_ENTRY;
    }
    /* a list or an alias where an entry should be */
    yaml_mark_t m = ev.start_mark;
    mx_json *junk;
    if (read_node(in, &ev, &junk, &pb, 0, err, errlen) != 0) return MX_BATCH_FATAL;
    mx_json_free(junk);
    errf(in, (long)m.line + 1, (long)m.column + 1, err, errlen, "an entry must be a domain or a map with 'domain:'");
    return MX_BATCH_BAD;
}

/* ------------------------------------------------------------------ plain */

/* One line into in->line, newline dropped; its length, or -1 at the end of
 * the file. A line longer than MX_BATCH_MAX_LINE (CR LF or LF excluded) is
 * read to its newline without being kept (*over set): it costs nothing. */
static long plain_line(mx_batch_input *in, int *over) {
    size_t n = 0;
    int c;
    *over = 0;
    while ((c = getc_unlocked(in->f)) != EOF && c != '\n') {
        if (n <= MX_BATCH_MAX_LINE) in->line[n++] = (char)c;
        else *over = 1;
    }
    if (n > MX_BATCH_MAX_LINE && in->line[MX_BATCH_MAX_LINE] != '\r') *over = 1;
    if (c == EOF && n == 0 && !*over) return -1;
    in->line[n] = 0;
    return (long)n;
}

static int plain_next(mx_batch_input *in, mx_batch_entry *e, char *err, size_t errlen) {
    for (;;) {
        int over;
        long n = plain_line(in, &over);
        if (n < 0) {
            if (ferror(in->f)) {
                snprintf(err, errlen, "%s: read error: %s", in->path, strerror(errno));
                return MX_BATCH_FATAL;
            }
            return MX_BATCH_END;
        }
        in->lineno++;
        char *s = in->line;
        if (over) {
            memset(e, 0, sizeof *e);
            e->index = in->next_index++;
            e->line = in->lineno;
            errf(in, e->line, 0, err, errlen, "line longer than %d bytes (limit MX_BATCH_MAX_LINE)", MX_BATCH_MAX_LINE);
            return MX_BATCH_BAD;
        }
        if (memchr(s, 0, (size_t)n)) {
            memset(e, 0, sizeof *e);
            e->index = in->next_index++;
            e->line = in->lineno;
            errf(in, e->line, 0, err, errlen, "NUL byte in line");
            return MX_BATCH_BAD;
        }
        char *hash = strchr(s, '#');
        if (hash) *hash = 0;
        while (*s == ' ' || *s == '\t') s++;
        char *end = s + strlen(s);
        while (end > s && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t')) *--end = 0;
        if (!*s) continue;
        memset(e, 0, sizeof *e);
        e->index = in->next_index++;
        e->line = in->lineno;
        e->column = (long)(s - in->line) + 1;
        if (strpbrk(s, " \t")) {
            errf(in, e->line, e->column, err, errlen, "one domain per line, got '%.200s'", s);
            return MX_BATCH_BAD;
        }
        return check_target(in, e, s, err, errlen);
    }
}

/* ------------------------------------------------------------------ API */

int mx_batch_begin(mx_batch_input *in, mx_json **defaults, char *err, size_t errlen) {
    *defaults = NULL;
    if (in->state != ST_START) return MX_BATCH_ENTRY;
    if (in->plain) { in->state = ST_DOMAINS; return MX_BATCH_ENTRY; }
    in->state = ST_TOP;
    int rc = yaml_begin(in, defaults, err, errlen);
    if (rc == MX_BATCH_FATAL && *defaults) {
        /* a defaults: map read before the error is not the caller's to free */
        mx_json_free(*defaults);
        *defaults = NULL;
    }
    return rc;
}

int mx_batch_next(mx_batch_input *in, mx_batch_entry *e, char *err, size_t errlen) {
    if (in->state == ST_START) {
        mx_json *d;
        int rc = mx_batch_begin(in, &d, err, errlen);
        mx_json_free(d);
        if (rc != MX_BATCH_ENTRY) return rc;
    }
    if (in->state == ST_DONE) return MX_BATCH_END;
    if (in->plain) return plain_next(in, e, err, errlen);
    return yaml_next(in, e, err, errlen);
}

long mx_batch_count(const char *path, int plain) {
    if (strcmp(path, "-") == 0) return -1;
    char err[512];
    mx_batch_input *in = mx_batch_open(path, plain, err, sizeof err);
    if (!in) return -1;
    long n = 0;
    if (in->plain) {
        /* cheap: count candidate lines without validating them */
        int over;
        while (plain_line(in, &over) >= 0) {
            char *s = in->line;
            if (over) { n++; continue; }
            while (*s == ' ' || *s == '\t') s++;
            if (*s && *s != '#' && *s != '\n' && *s != '\r') n++;
        }
        mx_batch_close(in);
        return n;
    }
    mx_json *d;
    if (mx_batch_begin(in, &d, err, sizeof err) != MX_BATCH_ENTRY) { mx_batch_close(in); return -1; }
    mx_json_free(d);
    mx_batch_entry e;
    for (;;) {
        int rc = mx_batch_next(in, &e, err, sizeof err);
        if (rc == MX_BATCH_ENTRY || rc == MX_BATCH_BAD) {
            if (rc == MX_BATCH_ENTRY) mx_batch_entry_clear(&e);
            if (e.index != (size_t)-1) n++;
            continue;
        }
        break;
    }
    mx_batch_close(in);
    return n;
}

/* A settings file (/etc/mxdiag/mxdiag.yaml): one YAML map of the keys a
 * batch list's defaults: takes. Any problem is an error naming FILE:LINE:COL
 * (a wrong setting would silently change every check). An empty file is an
 * empty map. */
#define CONFIG_MAX (1u << 20) /* bytes of a configuration file */

/* A relative rules_dir of the configuration file is relative to the file's
 * own directory, never to wherever mxdiag was started from. */
static int config_paths_absolute(mx_json *settings, const char *path, char *err, size_t errlen) {
    mx_json *dirs = mx_json_get(settings, "rules_dir");
    if (!dirs) return 0;
    char *base = NULL;
    for (size_t i = 0; i < dirs->u.c.len; i++) {
        mx_json *d = dirs->u.c.items[i];
        if (d->u.str.s[0] == '/') continue;
        if (!base) {
            const char *slash = strrchr(path, '/');
            char *dir = slash ? mx_xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : mx_xstrdup(".");
            base = realpath(dir, NULL);
            if (!base) {
                snprintf(err, errlen, "%s: cannot resolve the directory of the file for rules_dir '%s': %s", path,
                         d->u.str.s, strerror(errno));
                free(dir);
                return -1;
            }
            free(dir);
        }
        mx_buf b = MX_BUF_INIT;
        mx_buf_printf(&b, "%s%s%s", base, strcmp(base, "/") ? "/" : "", d->u.str.s);
        mx_json_free(d);
        dirs->u.c.items[i] = mx_json_strn(b.data, b.len);
        mx_buf_free(&b);
    }
    free(base);
    return 0;
}

int mx_config_read(const char *path, mx_json **settings, char *err, size_t errlen) {
    *settings = NULL;
    /* settings of a root run: read through the trust checks (trust.h), from
     * the descriptor that was checked */
    mx_buf text = MX_BUF_INIT;
    char terr[1024];
    if (mx_trust_read_file(path, CONFIG_MAX, &text, terr, sizeof terr) != 0) {
        if (errno == EPERM || errno == EFBIG) snprintf(err, errlen, "%s", terr);
        else snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        mx_buf_free(&text);
        return -1;
    }
    FILE *f = fmemopen(text.data ? text.data : (char *)"", text.len, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        mx_buf_free(&text);
        return -1;
    }
    mx_batch_input *in = batch_open_file(f, path, 0);
    in->config = 1;
    yaml_event_t ev;
    int rc = -1;
    for (;;) {
        if (next_event(in, &ev, err, errlen) != 0) goto out;
        yaml_event_type_t t = ev.type;
        yaml_mark_t m = ev.start_mark;
        const char *val = t == YAML_SCALAR_EVENT ? (const char *)ev.data.scalar.value : NULL;
        int null_doc = val && is_null_word(val);
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT) continue;
        if (t == YAML_STREAM_END_EVENT || null_doc) { *settings = mx_json_obj(); rc = 0; goto out; }
        if (t != YAML_MAPPING_START_EVENT) {
            errf(in, (long)m.line + 1, (long)m.column + 1, err, errlen, "expected a map of settings (timeout, resolver, "
                 "sender_ips, control_hosts, ...)");
            goto out;
        }
        break;
    }
    problem pb = {0};
    if (read_settings(in, 0, settings, &pb, err, errlen) != 0) goto out;
    if (pb.set) {
        errf(in, pb.line, pb.col, err, errlen, "%s", pb.msg);
        mx_json_free(*settings);
        *settings = NULL;
        goto out;
    }
    if (config_paths_absolute(*settings, path, err, errlen) != 0) {
        mx_json_free(*settings);
        *settings = NULL;
        goto out;
    }
    rc = 0;
out:
    mx_batch_close(in);
    mx_buf_free(&text);
    return rc;
}
