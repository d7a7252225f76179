/* What a site adds to the rules without copying them: rule options (a
 * schema each rule declares, values from the configuration file, a batch
 * list or --rule-arg, handed read-only to that rule alone as
 * report.options), overrides (a shipped finding's severity or wording
 * changed for some domains, after the rule emitted it, said in its
 * evidence), and run-level rules (scope = "run": once per invocation).
 *
 * Option values are data only: strings, numbers, booleans, lists and maps of
 * those (JSON values); nothing here ever names or loads code. */
#include "rt_private.h"
#include "escape.h"
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "suggest.h"

/* ------------------------------------------------------------ helpers */

/* " (did you mean 'x'?)" for the closest of names, or "" (engine/suggest.c). */
static void did_you_mean(char *out, size_t n, const char *word, const char *const *names, size_t count) {
    const char *best = mx_suggest(word, names, count);
    if (best) snprintf(out, n, " (did you mean '%s'?)", best);
    else out[0] = 0;
}

static int rule_index(mx_rt *rt, const char *id) {
    for (int i = 0; i < rt->nrules; i++) if (!strcmp(rt->rules[i].id, id)) return i;
    return -1;
}

static const char *const opt_types[] = {"string", "number", "integer", "boolean", "list", "map", "table", NULL};

static const char *json_type_name(const mx_json *v) {
    switch (v->type) {
    case MX_JSTR: return "string";
    case MX_JINT: return "integer";
    case MX_JNUM: return "number";
    case MX_JBOOL: return "boolean";
    case MX_JARR: return "list";
    case MX_JOBJ: return "map";
    default: return "null";
    }
}

static int type_ok(const char *type, const mx_json *v) {
    if (!strcmp(type, "string")) return v->type == MX_JSTR;
    if (!strcmp(type, "number")) return v->type == MX_JINT || v->type == MX_JNUM;
    if (!strcmp(type, "integer")) return v->type == MX_JINT || (v->type == MX_JNUM && v->u.n == (double)(long long)v->u.n);
    if (!strcmp(type, "boolean")) return v->type == MX_JBOOL;
    if (!strcmp(type, "list")) return v->type == MX_JARR;
    if (!strcmp(type, "map")) return v->type == MX_JOBJ;
    if (!strcmp(type, "table")) return v->type == MX_JARR || v->type == MX_JOBJ;
    return 0;
}

/* ------------------------------------------------------------ loading */

int rt_site_validate_rule(lua_State *L, int t, const char *file, mx_rule *r, char *err, size_t errlen) {
    lua_pushstring(L, "scope");
    lua_rawget(L, t);
    if (!lua_isnil(L, -1)) {
        const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
        if (strcmp(s, "run") && strcmp(s, "target")) {
            snprintf(err, errlen, "%s: rule '%s': field 'scope' must be \"target\" (the default: once per checked target) "
                     "or \"run\" (once per invocation)", file, r->id);
            lua_pop(L, 1);
            return -1;
        }
        r->scope_run = !strcmp(s, "run");
    }
    lua_pop(L, 1);
    lua_pushstring(L, "options");
    lua_rawget(L, t);
    if (lua_isnil(L, -1)) { lua_pop(L, 1); return 0; }
    if (!lua_istable(L, -1)) {
        snprintf(err, errlen, "%s: rule '%s': field 'options' must be a table of option name = type, not a %s", file,
                 r->id, luaL_typename(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    r->opt_schema = mx_json_obj();
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        int kok = k && *k && (islower((unsigned char)*k) || *k == '_');
        for (const char *p = k; kok && *p; p++)
            if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_')) kok = 0;
        if (!kok) {
            snprintf(err, errlen, "%s: rule '%s': options: '%s' is not an option name (lower-case letters, digits, '_')",
                     file, r->id, k ? k : "?");
            lua_pop(L, 3);
            return -1;
        }
        const char *ty = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        int tok = 0;
        for (const char *const *p = opt_types; ty && *p; p++) tok |= !strcmp(*p, ty);
        if (!tok) {
            snprintf(err, errlen, "%s: rule '%s': options: '%s' must map to a type: string, number, integer, boolean, "
                     "list, map or table", file, r->id, k);
            lua_pop(L, 3);
            return -1;
        }
        mx_json_set(r->opt_schema, k, mx_json_str(ty));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    /* sorted, so that messages listing the options read the same every run */
    mx_json *s = r->opt_schema;
    for (size_t i = 1; i < s->u.c.len; i++)
        for (size_t j = i; j > 0 && strcmp(s->u.c.keys[j - 1], s->u.c.keys[j]) > 0; j--) {
            char *tk = s->u.c.keys[j]; s->u.c.keys[j] = s->u.c.keys[j - 1]; s->u.c.keys[j - 1] = tk;
            mx_json *tv = s->u.c.items[j]; s->u.c.items[j] = s->u.c.items[j - 1]; s->u.c.items[j - 1] = tv;
        }
    return 0;
}

int rt_site_after_load(mx_rt *rt, char *err, size_t errlen) {
    lua_State *L = rt->L;
    /* a run-level rule runs without a target: it cannot wait for a target's
     * facts, and a target's rules cannot wait for its facts */
    for (int i = 0; i < rt->nrules; i++) {
        mx_rule *r = &rt->rules[i];
        for (size_t q = 0; q < r->nrequires + r->nwants; q++) {
            const char *f = q < r->nrequires ? r->requires[q] : r->wants[q - r->nrequires];
            for (int k = 0; k < rt->nrules; k++)
                for (size_t p = 0; p < rt->rules[k].nprovides; p++)
                    if (!strcmp(rt->rules[k].provides[p], f) && rt->rules[k].scope_run != r->scope_run) {
                        snprintf(err, errlen, "%s: rule '%s' (scope %s) needs fact '%s' of rule '%s' (scope %s): a run-level "
                                 "rule and a target's rules cannot share facts", r->file, r->id,
                                 r->scope_run ? "run" : "target", f, rt->rules[k].id, rt->rules[k].scope_run ? "run" : "target");
                        return -1;
                    }
        }
    }
    /* a site rule declaring a code another rule declares: their findings are
     * separate (a second rule does not replace the first's finding), and an
     * override applies to both; say so once at load. The shipped rules share
     * some codes on purpose (expect.*, local.postfix_setting). */
    for (int i = 0; i < rt->nrules; i++) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, rt->rules[i].ref);
        lua_getfield(L, -1, "codes");
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            lua_pop(L, 1);
            const char *code = lua_tostring(L, -1);
            for (int k = 0; k < i; k++) {
                if (!rt->rules[i].site && !rt->rules[k].site) continue;
                lua_rawgeti(L, LUA_REGISTRYINDEX, rt->rules[k].ref);
                lua_getfield(L, -1, "codes");
                lua_getfield(L, -1, code);
                int dup = !lua_isnil(L, -1);
                lua_pop(L, 3);
                if (dup)
                    mx_errf("mxdiag: warning: code '%s' is declared by rule '%s' (%s) and rule '%s' (%s): each reports its "
                            "own findings; to change a shipped finding's severity or wording, use `overrides:` in the "
                            "configuration file instead of a second rule", code, rt->rules[k].id, rt->rules[k].file,
                            rt->rules[i].id, rt->rules[i].file);
            }
        }
        lua_pop(L, 2);
    }
    return 0;
}

/* ------------------------------------------------------------ rule options */

/* Checks one rule's options (an object) against its schema. */
static int check_rule_opts(mx_rt *rt, const char *id, const mx_json *opts, char *err, size_t errlen) {
    int ri = rule_index(rt, id);
    if (ri < 0) {
        const char **ids = mx_xcalloc((size_t)rt->nrules + 1, sizeof *ids);
        for (int i = 0; i < rt->nrules; i++) ids[i] = rt->rules[i].id;
        char dym[128];
        did_you_mean(dym, sizeof dym, id, ids, (size_t)rt->nrules);
        free(ids);
        snprintf(err, errlen, "rule options: no rule '%s' is loaded%s", id, dym);
        return -1;
    }
    if (!opts || opts->type != MX_JOBJ) {
        snprintf(err, errlen, "rule options: '%s' must be a map of option = value, not a %s", id,
                 opts ? json_type_name(opts) : "null");
        return -1;
    }
    const mx_json *schema = rt->rules[ri].opt_schema;
    for (size_t i = 0; i < opts->u.c.len; i++) {
        const char *k = opts->u.c.keys[i];
        const mx_json *ty = mx_json_get(schema, k);
        if (!ty) {
            if (!schema || !schema->u.c.len) {
                snprintf(err, errlen, "rule options: rule '%s' declares no options (its rule table has no 'options'), "
                         "so '%s.%s' is unknown", id, id, k);
                return -1;
            }
            char dym[128];
            did_you_mean(dym, sizeof dym, k, (const char *const *)schema->u.c.keys, schema->u.c.len);
            mx_buf names = MX_BUF_INIT;
            for (size_t j = 0; j < schema->u.c.len; j++) mx_buf_printf(&names, "%s%s", j ? ", " : "", schema->u.c.keys[j]);
            snprintf(err, errlen, "rule options: rule '%s' has no option '%s'%s; its options: %s", id, k, dym,
                     mx_buf_cstr(&names));
            mx_buf_free(&names);
            return -1;
        }
        if (!type_ok(ty->u.str.s, opts->u.c.items[i])) {
            snprintf(err, errlen, "rule options: '%s.%s' must be a %s, not a %s", id, k, ty->u.str.s,
                     json_type_name(opts->u.c.items[i]));
            return -1;
        }
    }
    return 0;
}

int mx_rt_rule_options_check(mx_rt *rt, const mx_json *map, char *err, size_t errlen) {
    if (!map) return 0;
    if (map->type != MX_JOBJ) {
        snprintf(err, errlen, "rule options: must be a map of rule id to a map of options, not a %s", json_type_name(map));
        return -1;
    }
    for (size_t i = 0; i < map->u.c.len; i++)
        if (check_rule_opts(rt, map->u.c.keys[i], map->u.c.items[i], err, errlen) != 0) return -1;
    return 0;
}

/* dst[id][key] = src[id][key] for every key of src (both {id: {key: v}}). */
static void merge_opts(mx_json *dst, const mx_json *src) {
    for (size_t i = 0; src && i < src->u.c.len; i++) {
        mx_json *mine = mx_json_get(dst, src->u.c.keys[i]);
        if (!mine) mine = mx_json_set(dst, src->u.c.keys[i], mx_json_obj());
        const mx_json *theirs = src->u.c.items[i];
        for (size_t k = 0; k < theirs->u.c.len; k++)
            mx_json_set(mine, theirs->u.c.keys[k], mx_json_clone(theirs->u.c.items[k]));
    }
}

int mx_rt_set_rule_options(mx_rt *rt, const mx_json *map, char *err, size_t errlen) {
    if (mx_rt_rule_options_check(rt, map, err, errlen) != 0) return -1;
    if (!map || !map->u.c.len) return 0;
    if (!rt->rule_opts) rt->rule_opts = mx_json_obj();
    merge_opts(rt->rule_opts, map);
    return 0;
}

int mx_rt_rule_arg(mx_rt *rt, const char *arg, int is_json, char *err, size_t errlen) {
    const char *eq = strchr(arg, '=');
    const char *dot = NULL;
    for (const char *p = arg; eq && p < eq; p++) if (*p == '.') dot = p;
    if (!eq || !dot || dot == arg || dot + 1 == eq) {
        snprintf(err, errlen, "--rule-arg: '%s' is not RULE_ID.OPTION=VALUE", arg);
        return -1;
    }
    char id[256], key[256];
    snprintf(id, sizeof id, "%.*s", (int)(dot - arg), arg);
    snprintf(key, sizeof key, "%.*s", (int)(eq - dot - 1), dot + 1);
    const char *text = eq + 1;
    int ri = rule_index(rt, id);
    const mx_json *ty = ri >= 0 ? mx_json_get(rt->rules[ri].opt_schema, key) : NULL;
    mx_json *v = NULL;
    char perr[256] = "";
    if (is_json || !ty) {
        /* from a settings file (typed already), or unknown: the check below names the problem */
        v = is_json ? mx_json_parse(text, strlen(text), perr, sizeof perr) : mx_json_str(text);
        if (!v) { snprintf(err, errlen, "--rule-arg %s.%s: %s", id, key, perr); return -1; }
    } else {
        const char *t = ty->u.str.s;
        char *end = NULL;
        if (!strcmp(t, "string")) v = mx_json_str(text);
        else if (!strcmp(t, "number") || !strcmp(t, "integer")) {
            errno = 0;
            double d = strtod(text, &end);
            if (!*text || *end || errno || (!strcmp(t, "integer") && d != (double)(long long)d)) {
                snprintf(err, errlen, "--rule-arg %s.%s: '%s' is not %s", id, key, text,
                         !strcmp(t, "integer") ? "an integer" : "a number");
                return -1;
            }
            v = d == (double)(long long)d && !strchr(text, '.') && !strchr(text, 'e') ? mx_json_int((long long)d) : mx_json_num(d);
        } else if (!strcmp(t, "boolean")) {
            if (!strcmp(text, "true") || !strcmp(text, "yes") || !strcmp(text, "1")) v = mx_json_bool(1);
            else if (!strcmp(text, "false") || !strcmp(text, "no") || !strcmp(text, "0")) v = mx_json_bool(0);
            else { snprintf(err, errlen, "--rule-arg %s.%s: '%s' is not true or false", id, key, text); return -1; }
        } else {
            /* list, map, table: JSON text (data only) */
            v = mx_json_parse(text, strlen(text), perr, sizeof perr);
            if (!v) {
                snprintf(err, errlen, "--rule-arg %s.%s: a %s is given as JSON text (e.g. '{\"a\": 1}' or '[1, 2]'): %s",
                         id, key, t, perr);
                return -1;
            }
        }
    }
    mx_json *one = mx_json_obj();
    mx_json_set(mx_json_set(one, id, mx_json_obj()), key, v);
    int rc = mx_rt_set_rule_options(rt, one, err, errlen);
    mx_json_free(one);
    if (rc != 0 && !strncmp(err, "rule options: ", 14)) {
        char tmp[1024];
        snprintf(tmp, sizeof tmp, "--rule-arg: %s", err + 14);
        snprintf(err, errlen, "%s", tmp);
    }
    return rc;
}

const mx_json *mx_rt_rule_options(mx_rt *rt) { return rt->rule_opts; }

void rt_check_rule_options(mx_check *c, const mx_json *options) {
    const mx_json *own = mx_json_get(options, "rule_options");
    if (!own || own->type != MX_JOBJ || !own->u.c.len) return;
    c->rule_opts = c->rt->rule_opts ? mx_json_clone(c->rt->rule_opts) : mx_json_obj();
    merge_opts(c->rule_opts, own);
}

void rt_push_rule_options(mx_rt *rt, mx_check *c, int rule) {
    lua_State *L = rt->L;
    const mx_json *all = c->rule_opts ? c->rule_opts : rt->rule_opts;
    const mx_json *mine = mx_json_get(all, rt->rules[rule].id);
    if (mine && mine->u.c.len) {
        mx_lua_push_json(L, mine);
        rt_push_adopted(L, -1);
        lua_remove(L, -2);
        return;
    }
    if (!rt->empty_ro_ref) {
        lua_newtable(L);
        rt_push_adopted(L, -1);
        rt->empty_ro_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        lua_pop(L, 1);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->empty_ro_ref);
}

/* ------------------------------------------------------------ overrides */

static int code_declared(mx_rt *rt, const char *code) {
    lua_State *L = rt->L;
    int found = 0;
    for (int i = 0; i < rt->nrules && !found; i++) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, rt->rules[i].ref);
        lua_getfield(L, -1, "codes");
        lua_getfield(L, -1, code);
        found = !lua_isnil(L, -1);
        lua_pop(L, 3);
    }
    return found;
}

int mx_code_valid(const char *s); /* rt_loader.c */

int mx_rt_add_override(mx_rt *rt, const mx_json *ov, char *err, size_t errlen) {
    static const char *const keys[] = {"code", "severity", "domains", "summary", "explanation", "advice"};
    if (!ov || ov->type != MX_JOBJ) {
        snprintf(err, errlen, "override: must be a map with code and severity, domains, summary, explanation or advice");
        return -1;
    }
    for (size_t i = 0; i < ov->u.c.len; i++) {
        const char *k = ov->u.c.keys[i];
        int ok = 0;
        for (size_t j = 0; j < sizeof keys / sizeof keys[0]; j++) ok |= !strcmp(keys[j], k);
        if (!ok) {
            char dym[128];
            did_you_mean(dym, sizeof dym, k, keys, sizeof keys / sizeof keys[0]);
            snprintf(err, errlen, "override: unknown key '%s'%s (keys: code, severity, domains, summary, explanation, advice)", k, dym);
            return -1;
        }
        if (strcmp(k, "domains") && ov->u.c.items[i]->type != MX_JSTR) {
            snprintf(err, errlen, "override: '%s' must be a string", k);
            return -1;
        }
    }
    const char *code = mx_json_get_str(ov, "code");
    if (!code || !mx_code_valid(code)) {
        snprintf(err, errlen, "override: 'code' must be a finding code like 'tls.cert_name_mismatch'");
        return -1;
    }
    if (!strcmp(code, "rule.error")) {
        snprintf(err, errlen, "override: rule.error cannot be overridden: a broken rule must stay visible");
        return -1;
    }
    const char *sev = mx_json_get_str(ov, "severity");
    mx_severity sv;
    if (sev && mx_severity_parse(sev, &sv) != 0) {
        snprintf(err, errlen, "override for %s: severity '%s' is not one of ok, info, warn, crit, unknown", code, sev);
        return -1;
    }
    if (!sev && !mx_json_get(ov, "summary") && !mx_json_get(ov, "explanation") && !mx_json_get(ov, "advice")) {
        snprintf(err, errlen, "override for %s: nothing to change (give severity, summary, explanation or advice)", code);
        return -1;
    }
    const mx_json *doms = mx_json_get(ov, "domains");
    if (doms) {
        int ok = doms->type == MX_JARR && doms->u.c.len > 0;
        for (size_t i = 0; ok && i < doms->u.c.len; i++) {
            const mx_json *d = doms->u.c.items[i];
            const char *why;
            ok = d->type == MX_JSTR &&
                 mx_domain_valid(!strncmp(d->u.str.s, "*.", 2) ? d->u.str.s + 2 : d->u.str.s, &why) == 0;
        }
        if (!ok) {
            snprintf(err, errlen, "override for %s: 'domains' must be a non-empty list of domain names (or *.domain for "
                     "its subdomains)", code);
            return -1;
        }
    }
    if (rt->nrules && !code_declared(rt, code))
        mx_errf("mxdiag: warning: override for code '%s': no loaded rule declares it, so it never applies", code);
    if (!rt->overrides) rt->overrides = mx_json_arr();
    mx_json *copy = mx_json_clone(ov);
    if (doms) {
        /* compare normalised names */
        mx_json *nd = mx_json_arr();
        for (size_t i = 0; i < doms->u.c.len; i++) {
            const char *s = doms->u.c.items[i]->u.str.s;
            int wild = !strncmp(s, "*.", 2);
            char norm[MX_DOMAIN_MAX + 4];
            mx_domain_normalize(wild ? s + 2 : s, norm + (wild ? 2 : 0), sizeof norm - 2);
            if (wild) memcpy(norm, "*.", 2);
            mx_json_push(nd, mx_json_str(norm));
        }
        mx_json_set(copy, "domains", nd);
    }
    mx_json_push(rt->overrides, copy);
    return 0;
}

int mx_rt_set_overrides(mx_rt *rt, const mx_json *list, char *err, size_t errlen) {
    if (!list) return 0;
    if (list->type != MX_JARR) { snprintf(err, errlen, "overrides: must be a list of overrides"); return -1; }
    for (size_t i = 0; i < list->u.c.len; i++)
        if (mx_rt_add_override(rt, list->u.c.items[i], err, errlen) != 0) return -1;
    return 0;
}

const mx_json *mx_rt_overrides(mx_rt *rt) { return rt->overrides; }

static int domain_matches(const mx_json *doms, const char *name) {
    if (!doms) return 1;
    if (!name || !*name) return 0;
    size_t nl = strlen(name);
    for (size_t i = 0; i < doms->u.c.len; i++) {
        const char *d = doms->u.c.items[i]->u.str.s;
        if (!strncmp(d, "*.", 2)) {
            size_t dl = strlen(d + 1); /* ".example.org" */
            if (nl > dl && !strcmp(name + nl - dl, d + 1)) return 1;
        } else if (!strcmp(d, name)) return 1;
    }
    return 0;
}

void rt_apply_overrides(mx_check *c, mx_severity *sev, mx_json *obj) {
    mx_rt *rt = c->rt;
    if (!rt->overrides) return;
    const char *code = mx_json_get_str(obj, "code");
    char name[MX_DOMAIN_MAX + 2] = "";
    if (c->target.kind == MX_TARGET_DOMAIN || c->target.kind == MX_TARGET_HOST)
        mx_domain_normalize(c->target.domain, name, sizeof name);
    else if (c->target.kind == MX_TARGET_ADDRESS) mx_addr_format(&c->target.addr, name, sizeof name);
    for (size_t i = 0; code && i < rt->overrides->u.c.len; i++) {
        const mx_json *ov = rt->overrides->u.c.items[i];
        if (strcmp(mx_json_get_str(ov, "code"), code) != 0) continue;
        if (c->run_level ? mx_json_get(ov, "domains") != NULL : !domain_matches(mx_json_get(ov, "domains"), name)) continue;
        mx_buf note = MX_BUF_INIT;
        const char *s = mx_json_get_str(ov, "severity");
        mx_severity nv;
        if (s && mx_severity_parse(s, &nv) == 0 && nv != *sev) {
            int up = nv > *sev; /* the enum is in rank order */
            mx_buf_printf(&note, "severity %s by site override (%s -> %s)", up ? "raised" : "lowered",
                          mx_severity_name(*sev), mx_severity_name(nv));
            *sev = nv;
            mx_json_set(obj, "severity", mx_json_str(mx_severity_name(nv)));
        }
        static const char *const words[] = {"summary", "explanation", "advice"};
        for (size_t w = 0; w < 3; w++) {
            const char *t = mx_json_get_str(ov, words[w]);
            if (!t) continue;
            mx_json_set(obj, words[w], mx_json_str(t));
            mx_buf_printf(&note, "%s%s replaced by site override", note.len ? "; " : "", words[w]);
        }
        if (note.len) {
            mx_json *ev = mx_json_get(obj, "evidence");
            if (!ev) ev = mx_json_set(obj, "evidence", mx_json_obj());
            mx_json_set(ev, "site_override", mx_json_str(mx_buf_cstr(&note)));
        }
        mx_buf_free(&note);
    }
}

void rt_site_free(mx_rt *rt) {
    mx_json_free(rt->rule_opts);
    mx_json_free(rt->overrides);
    rt->rule_opts = rt->overrides = NULL;
}

/* ------------------------------------------------------------ facts */

mx_json *mx_check_facts_json(mx_check *c) {
    lua_State *L = c->rt->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->facts_ref);
    mx_json *facts = mx_lua_to_json(L, -1);
    lua_pop(L, 1);
    if (!facts || facts->type != MX_JOBJ) { mx_json_free(facts); facts = mx_json_obj(); }
    return facts;
}
