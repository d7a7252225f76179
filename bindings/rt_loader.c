/* The rule loader: rule and library files read through the trust checks,
 * require, a rule table's validation, --only/--skip selection, and what
 * `rules list` and batch's volume warning read from the rules. */
#include "rt_private.h"
#include "trust.h"
#include "causematch.h"
#include "logparse.h"
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Loads a rule file's text (read by the trust checks) as luaL_loadfilex
 * would: chunk name "@path", a UTF-8 BOM and a first line starting with '#'
 * skipped (its newline kept, so line numbers stay right), text mode only.
 * [-0, +1, -] */
int rt_load_code(lua_State *L, const mx_buf *code, const char *path) {
    const char *p = code->data ? code->data : "";
    size_t n = code->len;
    if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3, n -= 3;
    if (n && *p == '#') {
        const char *nl = memchr(p, '\n', n);
        n = nl ? n - (size_t)(nl - p) : 0;
        p = nl ? nl : p + n;
    }
    char chunk[4200];
    snprintf(chunk, sizeof chunk, "@%s", path);
    return luaL_loadbufferx(L, p, n, chunk, "t");
}

/* require(name): rules/lib/<name>.lua from the site then shipped directories,
 * loaded in text mode into its own sandbox environment, once per rule file:
 * upvalue 1 is that file's table of loaded libraries, so no rule shares a
 * library instance (its tables, its upvalues) with another. */
static char lib_loading;
int rt_sandbox_require(lua_State *L) {
    mx_rt *rt = mx_rt_from_L(L);
    const char *name = luaL_checkstring(L, 1);
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.'))
            return luaL_error(L, "require: invalid library name '%s'", name);
    if (lua_type(L, lua_upvalueindex(1)) != LUA_TTABLE) return luaL_error(L, "require: not available here");
    lua_settop(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    int libs = lua_gettop(L);
    lua_getfield(L, libs, name);
    if (lua_touserdata(L, -1) == &lib_loading) return luaL_error(L, "require: library '%s' requires itself", name);
    if (!lua_isnil(L, -1)) return 1;
    lua_pop(L, 1);
    char path[4096];
    const char *found = NULL;
    char rel[512];
    snprintf(rel, sizeof rel, "%s", name);
    for (char *c = rel; *c; c++) if (*c == '.') *c = '/';
    /* read through the same checks as rule files (a root run takes code only
     * from root-owned files); a library that is there but refused is an
     * error, not a reason to fall back to the next directory */
    mx_buf code = MX_BUF_INIT;
    char terr[1024];
    for (size_t i = rt->opts.nsite_dirs + 1; i > 0 && !found; i--) {
        snprintf(path, sizeof path, "%s/lib/%s.lua", i > 1 ? rt->opts.site_dirs[i - 2] : rt->opts.shipped_dir, rel);
        mx_buf_reset(&code);
        if (mx_trust_read_file(path, MX_TRUST_CODE_MAX, &code, terr, sizeof terr) == 0) found = path;
        else if (errno != ENOENT && errno != ENOTDIR) {
            mx_buf_free(&code);
            return luaL_error(L, "require '%s': %s", name, terr);
        }
    }
    if (!found) { mx_buf_free(&code); return luaL_error(L, "require: no library '%s' in the rule directories' lib/", name); }
    int lst = rt_load_code(L, &code, found);
    mx_buf_free(&code);
    if (lst != LUA_OK) return lua_error(L);
    rt_push_env(rt, libs);
    lua_setupvalue(L, -2, 1);
    lua_pushlightuserdata(L, &lib_loading);
    lua_setfield(L, libs, name);
    if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
        lua_pushnil(L);
        lua_setfield(L, libs, name);
        return lua_error(L);
    }
    if (lua_isnil(L, -1)) { lua_pop(L, 1); lua_pushboolean(L, 1); }
    lua_pushvalue(L, -1);
    lua_setfield(L, libs, name);
    return 1;
}

/* ------------------------------------------------------------ rule loader */

static int id_valid(const char *s) {
    if (!*s || !(*s >= 'a' && *s <= 'z')) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' || *s == '-')) return 0;
    return 1;
}
int mx_code_valid(const char *s);
int mx_code_valid(const char *s) {
    /* lower case, dotted: "tcp.refused", "logs.cause_timeout" */
    const char *dot = strchr(s, '.');
    if (!dot || dot == s || !dot[1]) return 0;
    if (!(*s >= 'a' && *s <= 'z')) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '.')) return 0;
    return s[-1] != '.';
}

/* [-0, +1, -] t[k] without metamethods (a rule's table is data) */
static int rawfield(lua_State *L, int idx, const char *k) {
    idx = lua_absindex(L, idx);
    lua_pushstring(L, k);
    return lua_rawget(L, idx);
}

static char **string_list(lua_State *L, int idx, const char *field, size_t *n, const char *file, char *err, size_t errlen) {
    *n = 0;
    rawfield(L, idx, field);
    if (lua_isnil(L, -1)) { lua_pop(L, 1); return NULL; }
    if (!lua_istable(L, -1)) {
        snprintf(err, errlen, "%s: field '%s' must be a list of strings, not a %s", file, field, luaL_typename(L, -1));
        lua_pop(L, 1);
        return (char **)-1;
    }
    size_t len = lua_rawlen(L, -1);
    char **list = mx_xcalloc(len + 1, sizeof *list);
    for (size_t i = 1; i <= len; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i);
        if (lua_type(L, -1) != LUA_TSTRING) {
            snprintf(err, errlen, "%s: field '%s' item %zu must be a string, not a %s", file, field, i, luaL_typename(L, -1));
            lua_pop(L, 2);
            for (size_t k = 0; k < i - 1; k++) free(list[k]);
            free(list);
            return (char **)-1;
        }
        list[i - 1] = mx_xstrdup(lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    *n = len;
    return list;
}

static void providers_free(rt_providers *p, size_t n) {
    for (size_t i = 0; p && i < n; i++) free(p[i].rule);
    free(p);
}

void rt_rule_clear(lua_State *L, mx_rule *r) {
    providers_free(r->req_prov, r->nrequires);
    providers_free(r->want_prov, r->nwants);
    free(r->prov_fact);
    free(r->id); free(r->file); free(r->description);
    free(r->json_head);
    free(r->json_entry);
    for (size_t i = 0; i < r->nrequires; i++) free(r->requires[i]);
    for (size_t i = 0; i < r->nprovides; i++) free(r->provides[i]);
    for (size_t i = 0; i < r->nwants; i++) free(r->wants[i]);
    free(r->wants);
    for (size_t i = 0; i < r->ncategories; i++) free(r->categories[i]);
    free(r->requires); free(r->provides); free(r->categories);
    mx_json_free(r->opt_schema);
    luaL_unref(L, LUA_REGISTRYINDEX, r->ref);
    luaL_unref(L, LUA_REGISTRYINDEX, r->run_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, r->applies_ref);
    if (r->report_mt_ref) luaL_unref(L, LUA_REGISTRYINDEX, r->report_mt_ref);
    memset(r, 0, sizeof *r);
}

static const char *const rule_fields[] = {"id", "description", "categories", "requires", "provides", "codes", "run",
                                           "applies", "timeout", "wants", "options", "scope", "kind", NULL};

/* file:line when the line is known */
static void file_line(char *buf, size_t n, const char *file, const mx_buf *code, const char *field) {
    int line = code && code->data ? rt_field_line(code->data, code->len, field) : 0;
    if (line) snprintf(buf, n, "%s:%d", file, line);
    else snprintf(buf, n, "%s", file);
}

/* Validates the rule table on top of the stack; fills r. 0 or -1 with err.
 * code: the file's text, for the line of a misspelled field (may be NULL). */
static int validate_rule(lua_State *L, const char *file, const mx_buf *code, mx_rule *r, char *err, size_t errlen) {
    int t = lua_gettop(L);
    if (!lua_istable(L, t)) {
        snprintf(err, errlen, "%s: a rule file must return a table, not a %s%s", file, luaL_typename(L, t),
                 lua_isnil(L, t) || lua_isboolean(L, t) ? " (a file of helper functions belongs in lib/ next to the rules, "
                                                          "loaded with require)" : "");
        return -1;
    }
    /* a library of helpers put next to the rules instead of in lib/: a
     * table with neither id nor run */
    int no_id = rawfield(L, t, "id") == LUA_TNIL;
    int no_run = rawfield(L, t, "run") == LUA_TNIL;
    lua_pop(L, 2);
    if (no_id && no_run) {
        const char *slash = strrchr(file, '/');
        size_t dl = slash ? (size_t)(slash - file) : 1;
        const char *base = slash ? slash + 1 : file;
        snprintf(err, errlen, "%s: returns a table without 'id' and 'run', so it is not a rule; if it is a library of "
                 "helpers, move it to %.*s/lib/%s and load it with require(\"%.*s\")", file, (int)dl, slash ? file : ".",
                 base, (int)(strlen(base) > 4 ? strlen(base) - 4 : strlen(base)), base);
        return -1;
    }
    rawfield(L, t, "id");
    const char *rid = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) { snprintf(err, errlen, "%s: rule '%s': rule table has a non-string key", file, rid); lua_pop(L, 2); return -1; }
        const char *k = lua_tostring(L, -1);
        int ok = 0;
        for (const char *const *p = rule_fields; *p; p++) if (strcmp(*p, k) == 0) ok = 1;
        if (!ok) {
            char where[4200];
            file_line(where, sizeof where, file, code, k);
            const char *dym = rt_did_you_mean(k, rule_fields);
            if (dym) snprintf(err, errlen, "%s: rule '%s': unknown field '%s' in rule table (did you mean '%s'?)", where, rid, k, dym);
            else snprintf(err, errlen, "%s: rule '%s': unknown field '%s' in rule table (the fields are id, description, "
                          "categories, requires, provides, wants, codes, applies, run, timeout)", where, rid, k);
            lua_pop(L, 2);
            return -1;
        }
    }
    lua_pop(L, 1);
    memset(r, 0, sizeof *r);
    r->ref = r->run_ref = r->applies_ref = LUA_NOREF;
    rawfield(L, t, "id");
    if (lua_type(L, -1) != LUA_TSTRING || !id_valid(lua_tostring(L, -1))) {
        snprintf(err, errlen, "%s: field 'id' must be a string of lower-case letters, digits, '.', '_' or '-'", file);
        lua_pop(L, 1);
        return -1;
    }
    r->id = mx_xstrdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    rawfield(L, t, "description");
    if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) == 0) {
        snprintf(err, errlen, "%s: rule '%s': field 'description' must be a non-empty string", file, r->id);
        lua_pop(L, 1);
        goto fail;
    }
    r->description = mx_xstrdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    rawfield(L, t, "run");
    if (!lua_isfunction(L, -1)) {
        snprintf(err, errlen, "%s: rule '%s': field 'run' must be a function, not a %s", file, r->id, luaL_typename(L, -1));
        lua_pop(L, 1);
        goto fail;
    }
    lua_pop(L, 1);
    rawfield(L, t, "applies");
    if (!lua_isnil(L, -1) && !lua_isfunction(L, -1)) {
        snprintf(err, errlen, "%s: rule '%s': field 'applies' must be a function", file, r->id);
        lua_pop(L, 1);
        goto fail;
    }
    lua_pop(L, 1);
    rawfield(L, t, "timeout");
    if (!lua_isnil(L, -1)) {
        if (!lua_isnumber(L, -1) || lua_tonumber(L, -1) <= 0 || lua_tonumber(L, -1) > 3600) {
            snprintf(err, errlen, "%s: rule '%s': field 'timeout' must be a number of seconds from 0 to 3600", file, r->id);
            lua_pop(L, 1);
            goto fail;
        }
        r->timeout_ms = (int)(lua_tonumber(L, -1) * 1000);
    }
    lua_pop(L, 1);
    rawfield(L, t, "kind");
    if (!lua_isnil(L, -1)) {
        const char *kind = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
        if (strcmp(kind, "check") != 0 && strcmp(kind, "logs") != 0) {
            snprintf(err, errlen, "%s: rule '%s': field 'kind' must be \"check\" or \"logs\"", file, r->id);
            lua_pop(L, 1);
            goto fail;
        }
        r->logs = strcmp(kind, "logs") == 0;
    }
    lua_pop(L, 1);
    char ebuf[512] = "";
    r->requires = string_list(L, t, "requires", &r->nrequires, file, ebuf, sizeof ebuf);
    if (r->requires == (char **)-1) { r->requires = NULL; snprintf(err, errlen, "%s", ebuf); goto fail; }
    r->provides = string_list(L, t, "provides", &r->nprovides, file, ebuf, sizeof ebuf);
    if (r->provides == (char **)-1) { r->provides = NULL; snprintf(err, errlen, "%s", ebuf); goto fail; }
    r->wants = string_list(L, t, "wants", &r->nwants, file, ebuf, sizeof ebuf);
    if (r->wants == (char **)-1) { r->wants = NULL; snprintf(err, errlen, "%s", ebuf); goto fail; }
    r->categories = string_list(L, t, "categories", &r->ncategories, file, ebuf, sizeof ebuf);
    if (r->categories == (char **)-1) { r->categories = NULL; snprintf(err, errlen, "%s", ebuf); goto fail; }
    rawfield(L, t, "codes");
    if (!lua_istable(L, -1)) {
        snprintf(err, errlen, "%s: rule '%s': field 'codes' must be a table of code = default severity", file, r->id);
        lua_pop(L, 1);
        goto fail;
    }
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        mx_severity sv;
        if (lua_type(L, -2) != LUA_TSTRING || !mx_code_valid(lua_tostring(L, -2))) {
            snprintf(err, errlen, "%s: rule '%s': codes: '%s' is not a dotted lower-case code like 'tcp.refused'", file, r->id,
                     lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?");
            lua_pop(L, 3);
            goto fail;
        }
        if (lua_type(L, -1) != LUA_TSTRING || mx_severity_parse(lua_tostring(L, -1), &sv) != 0) {
            snprintf(err, errlen, "%s: rule '%s': codes: '%s' must map to ok, info, warn, crit or unknown", file, r->id,
                     lua_tostring(L, -2));
            lua_pop(L, 3);
            goto fail;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (rt_site_validate_rule(L, t, file, r, err, errlen) != 0) goto fail;
    r->file = mx_xstrdup(file);
    /* the engine keeps a plain copy of what it reads later (run, applies,
     * codes): no metamethod of the rule's table runs outside the rule's
     * limits, and changing the returned table later changes nothing */
    lua_createtable(L, 0, 3);
    rawfield(L, t, "run");
    lua_setfield(L, -2, "run");
    rawfield(L, t, "applies");
    lua_setfield(L, -2, "applies");
    lua_newtable(L);
    rawfield(L, t, "codes");
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -5);
    }
    lua_pop(L, 1);
    lua_setfield(L, -2, "codes");
    /* the two functions also by themselves (they never change: the copy is
     * the engine's): a rule's start reads them without a field lookup */
    lua_getfield(L, -1, "run");
    r->run_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (lua_getfield(L, -1, "applies") == LUA_TNIL) lua_pop(L, 1);
    else r->applies_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    r->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
fail:
    rt_rule_clear(L, r);
    return -1;
}

int rt_name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Loads every *.lua of dir (not lib/) in sorted order. A rule with an id
 * already loaded replaces it in place (site rules override shipped ones). */
static int load_dir(mx_rt *rt, const char *dir, int required, int shipped, char *err, size_t errlen) {
    /* as root the directory and each file pass the trust checks (trust.h),
     * and each file is read from the descriptor that was checked */
    char terr[1024];
    int dfd = mx_trust_open_dir(dir, 1, terr, sizeof terr);
    if (dfd < 0) {
        if (!required && errno == ENOENT) return 0;
        if (errno == EPERM) snprintf(err, errlen, "not loading rules from %s: %s", dir, terr);
        else snprintf(err, errlen, "cannot read rules directory %s: %s", dir, strerror(errno));
        return -1;
    }
    int lfd = dup(dfd);
    DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
    if (!d) {
        snprintf(err, errlen, "cannot read rules directory %s: %s", dir, strerror(errno));
        if (lfd >= 0) close(lfd);
        close(dfd);
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".lua") != 0 || e->d_name[0] == '.') continue;
        if (n == cap) { cap = cap ? cap * 2 : 16; names = mx_xrealloc(names, cap * sizeof *names); }
        names[n++] = mx_xstrdup(e->d_name);
    }
    closedir(d);
    if (n > 1) qsort(names, n, sizeof *names, rt_name_cmp); /* names is NULL for an empty directory or one with only lib/ */
    int rc = 0;
    lua_State *L = rt->L;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        /* the shipped logs rules are the files named *-logs-*.lua (checked
         * below when the check rules load): `mxdiag logs` compiles only them */
        int logs_name = strstr(names[i], "-logs-") != NULL;
        if (shipped && rt->opts.logs_rules && !logs_name) continue;
        mx_buf code = MX_BUF_INIT;
        if (mx_trust_read_at(dfd, dir, names[i], MX_TRUST_CODE_MAX, &code, err, errlen) != 0) {
            mx_buf_free(&code);
            rc = -1;
            break;
        }
        int lds = rt_load_code(L, &code, path);
        if (lds != LUA_OK) {
            mx_buf_free(&code);
            const char *m = lua_tostring(L, -1);
            /* syntax errors name the file already; mode errors do not */
            if (strncmp(m, path, strlen(path)) == 0) snprintf(err, errlen, "%s", m);
            else snprintf(err, errlen, "%s: %s", path, m);
            lua_pop(L, 1);
            rc = -1;
            break;
        }
        /* the libraries this file requires: the shipped rules share one set
         * (they are one program: the tcp rule's held connection reaches the
         * smtp rule through `conn`, `shared.once` is once per run), a site
         * rule file gets its own, so it can neither read nor change what the
         * shipped rules or another site rule keep in a library */
        if (shipped) {
            if (rt->shipped_libs_ref == LUA_NOREF) {
                lua_newtable(L);
                rt->shipped_libs_ref = luaL_ref(L, LUA_REGISTRYINDEX);
            }
            lua_rawgeti(L, LUA_REGISTRYINDEX, rt->shipped_libs_ref);
        } else {
            lua_newtable(L);
        }
        rt_push_env(rt, -1);
        lua_remove(L, -2);
        lua_setupvalue(L, -2, 1);
        rt->loading = 1;
        rt->load_instructions = 0;
        rt->load_aborted = NULL;
        rt->mem_limit = rt->mem_used + MX_RULE_MEM_LIMIT < MX_LUA_MEM_LIMIT ? rt->mem_used + MX_RULE_MEM_LIMIT : MX_LUA_MEM_LIMIT;
        int lst = lua_pcall(L, 0, 1, 0);
        rt->mem_limit = MX_LUA_MEM_LIMIT;
        rt->loading = 0;
        if (lst != LUA_OK) {
            mx_buf_free(&code);
            snprintf(err, errlen, "%s: error while loading: %s", path, lua_tostring(L, -1));
            lua_pop(L, 1);
            rc = -1;
            break;
        }
        mx_rule r;
        int vr = validate_rule(L, path, &code, &r, err, errlen);
        mx_buf_free(&code);
        if (vr != 0) { lua_pop(L, 1); rc = -1; break; }
        lua_pop(L, 1);
        if (shipped && r.logs != logs_name) {
            snprintf(err, errlen, "%s: a shipped %s rule in a file %s '-logs-' in its name (mxdiag logs loads only those files)",
                     path, r.logs ? "logs" : "check", r.logs ? "without" : "with");
            rt_rule_clear(L, &r);
            rc = -1;
            break;
        }
        /* a run has one kind of rules: check rules, or (mxdiag logs) logs rules */
        if (r.logs != (rt->opts.logs_rules != 0)) { rt_rule_clear(L, &r); continue; }
        r.site = !shipped;
        int slot = -1;
        for (int k = 0; k < rt->nrules; k++) if (strcmp(rt->rules[k].id, r.id) == 0) slot = k;
        if (slot >= 0 && rt->rules[slot].site) {
            /* two site rules with one id: the later would silently replace the earlier */
            snprintf(err, errlen, "rule id '%s' is declared twice, in %s and in %s: give one of them another id",
                     r.id, rt->rules[slot].file, path);
            rt_rule_clear(L, &r);
            rc = -1;
            break;
        }
        if (slot >= 0) {
            mx_rt_trace(rt, "site rule %s (%s) replaces the shipped rule with the same id (%s)", r.id, path, rt->rules[slot].file);
            r.order = rt->rules[slot].order;
            rt_rule_clear(L, &rt->rules[slot]);
            rt->rules[slot] = r;
            rt->deps_nrules = -1; /* its requires/provides may differ: the providers' index is built again */
        } else {
            if (rt->nrules == MAX_RULES) { snprintf(err, errlen, "too many rules (limit %d)", MAX_RULES); rt_rule_clear(L, &r); rc = -1; break; }
            r.order = rt->nrules;
            rt->rules[rt->nrules++] = r;
            rt->deps_nrules = -1; /* the providers' index is built again */
        }
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    close(dfd);
    return rc;
}

static int in_list(const char *list, const char *word) {
    if (!list) return 0;
    size_t wl = strlen(word);
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == wl && strncmp(p, word, l) == 0) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}
static int rule_selected(const mx_rule *r, const char *list) {
    if (in_list(list, r->id)) return 1;
    for (size_t i = 0; i < r->ncategories; i++) if (in_list(list, r->categories[i])) return 1;
    return 0;
}

/* Which rules run for `only`/`skip` (comma lists of ids or categories, NULL:
 * all / none): on[i] set; returns how many. `only` pulls in the rules that
 * provide what the chosen ones require, unless skipped. */
int rt_select_rules(mx_rt *rt, const char *only, const char *skip, char *on) {
    for (int i = 0; i < rt->nrules; i++) {
        on[i] = only ? (char)rule_selected(&rt->rules[i], only) : 1;
        if (skip && rule_selected(&rt->rules[i], skip)) on[i] = 0;
    }
    if (only) {
        int changed = 1;
        while (changed) {
            changed = 0;
            for (int i = 0; i < rt->nrules; i++) {
                if (!on[i]) continue;
                for (size_t q = 0; q < rt->rules[i].nrequires; q++)
                    for (int k = 0; k < rt->nrules; k++)
                        for (size_t p = 0; p < rt->rules[k].nprovides; p++)
                            if (!on[k] && strcmp(rt->rules[k].provides[p], rt->rules[i].requires[q]) == 0 &&
                                !(skip && rule_selected(&rt->rules[k], skip))) {
                                on[k] = 1;
                                changed = 1;
                            }
            }
        }
    }
    int n = 0;
    for (int i = 0; i < rt->nrules; i++) n += on[i];
    return n;
}

int mx_rt_load_rules(mx_rt *rt, char *err, size_t errlen) {
    if (load_dir(rt, rt->opts.shipped_dir, 1, 1, err, errlen) != 0) return -1;
    for (size_t i = 0; i < rt->opts.nsite_dirs; i++) {
        /* one directory named twice (--rules-dir and a test's own) is loaded once */
        char a[PATH_MAX], b[PATH_MAX];
        int seen = 0;
        for (size_t k = 0; k < i && !seen; k++)
            seen = realpath(rt->opts.site_dirs[i], a) && realpath(rt->opts.site_dirs[k], b) && strcmp(a, b) == 0;
        if (!seen && load_dir(rt, rt->opts.site_dirs[i], 1, 0, err, errlen) != 0) return -1;
    }
    /* a fact required by a rule and provided by nobody is a loader error: it
     * would silently skip the rule forever */
    for (int i = 0; i < rt->nrules; i++) {
        mx_rule *r = &rt->rules[i];
        for (size_t q = 0; q < r->nrequires; q++) {
            int found = mx_json_get(rt->opts.facts, r->requires[q]) != NULL; /* given by the run */
            for (int k = 0; k < rt->nrules && !found; k++)
                for (size_t p = 0; p < rt->rules[k].nprovides; p++)
                    if (strcmp(rt->rules[k].provides[p], r->requires[q]) == 0) found = 1;
            if (!found) {
                snprintf(err, errlen, "%s: rule '%s' requires fact '%s' that no rule provides", r->file, r->id, r->requires[q]);
                return -1;
            }
        }
    }
    if (rt_site_after_load(rt, err, errlen) != 0) return -1;
    char on[MAX_RULES];
    if (rt_select_rules(rt, rt->opts.only, rt->opts.skip, on) == 0 && rt->opts.only) {
        snprintf(err, errlen, "--only %s matches no rule id or category", rt->opts.only);
        return -1;
    }
    for (int i = 0; i < rt->nrules; i++) rt->rules[i].enabled = on[i];
    return 0;
}


mx_json *mx_rt_rules_json(mx_rt *rt) {
    mx_json *arr = mx_json_arr();
    lua_State *L = rt->L;
    for (int i = 0; i < rt->nrules; i++) {
        mx_rule *r = &rt->rules[i];
        mx_json *o = mx_json_obj();
        mx_json_set(o, "id", mx_json_str(r->id));
        mx_json_set(o, "description", mx_json_str(r->description));
        mx_json_set(o, "file", mx_json_str(r->file));
        mx_json_set(o, "enabled", mx_json_bool(r->enabled));
        mx_json *a = mx_json_arr();
        for (size_t k = 0; k < r->ncategories; k++) mx_json_push(a, mx_json_str(r->categories[k]));
        mx_json_set(o, "categories", a);
        a = mx_json_arr();
        for (size_t k = 0; k < r->nrequires; k++) mx_json_push(a, mx_json_str(r->requires[k]));
        mx_json_set(o, "requires", a);
        a = mx_json_arr();
        for (size_t k = 0; k < r->nprovides; k++) mx_json_push(a, mx_json_str(r->provides[k]));
        mx_json_set(o, "provides", a);
        a = mx_json_arr();
        for (size_t k = 0; k < r->nwants; k++) mx_json_push(a, mx_json_str(r->wants[k]));
        mx_json_set(o, "wants", a);
        mx_json_set(o, "scope", mx_json_str(r->scope_run ? "run" : "target"));
        mx_json_set(o, "kind", mx_json_str(r->logs ? "logs" : "check"));
        if (r->opt_schema && r->opt_schema->u.c.len) mx_json_set(o, "options", mx_json_clone(r->opt_schema));
        lua_rawgeti(L, LUA_REGISTRYINDEX, r->ref);
        lua_getfield(L, -1, "codes");
        mx_json_set(o, "codes", mx_lua_to_json(L, -1));
        lua_pop(L, 2);
        mx_json_push(arr, o);
    }
    return arr;
}

int mx_rt_rule_enabled(mx_rt *rt, const char *id) {
    for (int i = 0; i < rt->nrules; i++)
        if (!strcmp(rt->rules[i].id, id)) return rt->rules[i].enabled;
    return 0;
}

/* The blocklists' documented free-use limits, from the catalog library the
 * rules use (a site's lib/dnsbl_catalog.lua wins, as for the rules):
 * [{name, zone, queries_per_day, connections_per_day?, terms?}] for the
 * lists that document one. NULL with err when the catalog cannot be loaded. */
mx_json *mx_rt_dnsbl_usage(mx_rt *rt, char *err, size_t errlen) {
    lua_State *L = rt->L;
    int top = lua_gettop(L);
    lua_newtable(L); /* its own library table: a require of its own */
    lua_pushcclosure(L, rt_sandbox_require, 1);
    lua_pushliteral(L, "dnsbl_catalog");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        snprintf(err, errlen, "dnsbl_catalog: %s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
        lua_settop(L, top);
        return NULL;
    }
    mx_json *out = mx_json_arr();
    if (lua_istable(L, -1) && lua_getfield(L, -1, "lists") == LUA_TTABLE) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        for (lua_Integer i = 1; i <= n; i++) {
            if (lua_rawgeti(L, -1, i) == LUA_TTABLE && lua_getfield(L, -1, "usage") == LUA_TTABLE) {
                lua_getfield(L, -1, "queries_per_day");
                lua_getfield(L, -2, "connections_per_day");
                lua_getfield(L, -3, "terms");
                lua_getfield(L, -5, "name");
                lua_getfield(L, -6, "zone");
                if (lua_isinteger(L, -5) && lua_tointeger(L, -5) > 0 && lua_type(L, -1) == LUA_TSTRING) {
                    mx_json *u = mx_json_obj();
                    mx_json_set(u, "name", mx_json_str(lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : lua_tostring(L, -1)));
                    mx_json_set(u, "zone", mx_json_str(lua_tostring(L, -1)));
                    mx_json_set(u, "queries_per_day", mx_json_int(lua_tointeger(L, -5)));
                    if (lua_isinteger(L, -4)) mx_json_set(u, "connections_per_day", mx_json_int(lua_tointeger(L, -4)));
                    if (lua_type(L, -3) == LUA_TSTRING) mx_json_set(u, "terms", mx_json_str(lua_tostring(L, -3)));
                    mx_json_push(out, u);
                }
                lua_pop(L, 5);
            }
            lua_settop(L, top + 2);
        }
    }
    lua_settop(L, top);
    return out;
}

/* ------------------------------------------------- cause catalog (logs) */

/* The file require("log_patterns") reads: the last site directory's
 * lib/log_patterns.lua that exists, else the shipped one (for messages). */
static void log_patterns_path(mx_rt *rt, char *path, size_t n) {
    for (size_t i = rt->opts.nsite_dirs + 1; i > 0; i--) {
        snprintf(path, n, "%s/lib/log_patterns.lua", i > 1 ? rt->opts.site_dirs[i - 2] : rt->opts.shipped_dir);
        if (access(path, F_OK) == 0) return;
    }
    snprintf(path, n, "%s/lib/log_patterns.lua", rt->opts.shipped_dir);
}

/* [-0, +0, m] the array of strings at idx into out (at most max), or an error */
static int pattern_list(lua_State *L, int idx, const char *field, const char **out, size_t max, size_t *n, char *err,
                        size_t errlen) {
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE)
        return snprintf(err, errlen, "%s: a list of strings expected, got %s", field, luaL_typename(L, idx)), -1;
    size_t len = (size_t)lua_rawlen(L, idx), keys = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) keys++, lua_pop(L, 1);
    if (keys != len) return snprintf(err, errlen, "%s: a list of strings expected (keys other than 1..n)", field), -1;
    if (len == 0) return snprintf(err, errlen, "%s: empty list", field), -1;
    if (len > max) return snprintf(err, errlen, "%s: %zu patterns (at most %zu)", field, len, max), -1;
    for (size_t i = 0; i < len; i++) {
        if (lua_rawgeti(L, idx, (lua_Integer)i + 1) != LUA_TSTRING) {
            snprintf(err, errlen, "%s[%zu]: a string expected, got %s", field, i + 1, luaL_typename(L, -1));
            lua_pop(L, 1);
            return -1;
        }
        size_t sl;
        out[i] = lua_tolstring(L, -1, &sl); /* stays alive: the list holds it */
        lua_pop(L, 1);
        if (sl == 0) return snprintf(err, errlen, "%s[%zu]: empty pattern", field, i + 1), -1;
        if (strlen(out[i]) != sl) return snprintf(err, errlen, "%s[%zu]: a NUL byte in the pattern", field, i + 1), -1;
    }
    *n = len;
    return 0;
}

static int cause_name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 32 || !(*s >= 'a' && *s <= 'z') || strcmp(s, "none") == 0) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_')) return 0;
    return 1;
}

mx_cause_matcher *mx_rt_log_patterns(mx_rt *rt, char *err, size_t errlen) {
    lua_State *L = rt->L;
    int top = lua_gettop(L);
    char path[4096], why[512];
    log_patterns_path(rt, path, sizeof path);
    lua_newtable(L); /* its own library table: a require of its own */
    lua_pushcclosure(L, rt_sandbox_require, 1);
    lua_pushliteral(L, "log_patterns");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        snprintf(err, errlen, "cause catalog log_patterns: %s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
        lua_settop(L, top);
        return NULL;
    }
    mx_cause_matcher *m = NULL;
    if (!lua_istable(L, -1)) {
        snprintf(err, errlen, "%s: the catalog must return a table {patterns = {...}}, not %s", path,
                 luaL_typename(L, -1));
        goto out;
    }
    if (lua_getfield(L, -1, "patterns") != LUA_TTABLE) {
        snprintf(err, errlen, "%s: patterns: a list of entries expected, got %s", path, luaL_typename(L, -1));
        goto out;
    }
    int pats = lua_gettop(L);
    size_t n = (size_t)lua_rawlen(L, pats), keys = 0;
    lua_pushnil(L);
    while (lua_next(L, pats)) keys++, lua_pop(L, 1);
    if (keys != n) {
        snprintf(err, errlen, "%s: patterns: a list of entries expected (keys other than 1..n)", path);
        goto out;
    }
    if (n > MX_CAUSEMATCH_MAX_ENTRIES) {
        snprintf(err, errlen, "%s: patterns: %zu entries (at most %d)", path, n, MX_CAUSEMATCH_MAX_ENTRIES);
        goto out;
    }
    m = mx_cause_matcher_new();
    if (!m) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    static const char *any[MX_CAUSEMATCH_MAX_PATTERNS], *also[MX_CAUSEMATCH_MAX_PATTERNS];
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, pats, (lua_Integer)i + 1);
        int ent = lua_gettop(L);
        const char *cname = NULL;
        size_t nany = 0, nalso = 0;
        int bad = 0;
        if (!lua_istable(L, ent)) {
            snprintf(why, sizeof why, "a table {cause=, match=, also=?} expected, got %s", luaL_typename(L, ent));
            bad = 1;
        }
        lua_pushnil(L);
        while (!bad && lua_next(L, ent)) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
            if (!k || (strcmp(k, "cause") && strcmp(k, "match") && strcmp(k, "also"))) {
                snprintf(why, sizeof why, "unknown field %s (fields: cause, match, also)", k ? k : "(not a name)");
                bad = 1;
                lua_pop(L, 2);
                break;
            }
            lua_pop(L, 1);
        }
        if (!bad && lua_getfield(L, ent, "cause") != LUA_TSTRING) {
            snprintf(why, sizeof why, "cause: a name expected, got %s", luaL_typename(L, -1));
            bad = 1;
        } else if (!bad) {
            cname = lua_tostring(L, -1);
        }
        if (!bad && lua_getfield(L, ent, "match") == LUA_TNIL) {
            snprintf(why, sizeof why, "match: missing");
            bad = 1;
        } else if (!bad) {
            bad = pattern_list(L, -1, "match", any, MX_CAUSEMATCH_MAX_PATTERNS, &nany, why, sizeof why) < 0;
        }
        if (!bad && lua_getfield(L, ent, "also") != LUA_TNIL)
            bad = pattern_list(L, -1, "also", also, MX_CAUSEMATCH_MAX_PATTERNS, &nalso, why, sizeof why) < 0;
        int cause = -1;
        if (!bad) {
            cause = mx_log_cause_register(cname);
            if (cause < 0) {
                if (mx_log_cause_count() >= MX_LOG_CAUSE_MAX && cause_name_ok(cname))
                    snprintf(why, sizeof why, "cause '%.40s': too many cause names (at most %d new ones)", cname,
                             MX_LOG_CAUSE_MAX - MX_LOG_CAUSE__COUNT);
                else
                    snprintf(why, sizeof why,
                             "cause '%.40s': not a cause name ([a-z][a-z0-9_]*, at most 32 bytes, not none)", cname);
                bad = 1;
            }
        }
        if (!bad && mx_cause_matcher_add(m, cause, any, nany, also, nalso, why, sizeof why) < 0) bad = 1;
        if (bad) {
            snprintf(err, errlen, "%s: patterns[%zu]%s%s%s: %s", path, i + 1, cname ? " (" : "", cname ? cname : "",
                     cname ? ")" : "", why);
            mx_cause_matcher_free(m);
            m = NULL;
            goto out;
        }
        lua_settop(L, pats);
    }
out:
    lua_settop(L, top);
    return m;
}

/* which rules provide each fact a rule requires or wants, by index: built once
 * the rules are loaded (again if more are loaded) */
int rt_fact_index(mx_rt *rt, const char *name) {
    for (int i = 0; i < rt->nfacts; i++)
        if (strcmp(rt->fact_names[i], name) == 0) return i;
    return -1;
}

static int fact_intern(mx_rt *rt, const char *name) {
    int i = rt_fact_index(rt, name);
    if (i >= 0) return i;
    rt->fact_names = mx_xrealloc(rt->fact_names, (size_t)(rt->nfacts + 1) * sizeof *rt->fact_names);
    rt->fact_names[rt->nfacts] = name;
    return rt->nfacts++;
}

static rt_providers *providers_of(mx_rt *rt, char **facts, size_t n) {
    if (!n) return NULL;
    rt_providers *p = mx_xcalloc(n, sizeof *p);
    for (size_t q = 0; q < n; q++) {
        p[q].fact = fact_intern(rt, facts[q]);
        for (int k = 0; k < rt->nrules; k++)
            for (size_t i = 0; i < rt->rules[k].nprovides; i++)
                if (strcmp(rt->rules[k].provides[i], facts[q]) == 0) {
                    p[q].rule = mx_xrealloc(p[q].rule, (size_t)(p[q].n + 1) * sizeof *p[q].rule);
                    p[q].rule[p[q].n++] = k;
                    break;
                }
    }
    return p;
}

void rt_deps_index(mx_rt *rt) {
    if (rt->deps_nrules == rt->nrules) return;
    free(rt->fact_names);
    rt->fact_names = NULL;
    rt->nfacts = 0;
    for (int i = 0; i < rt->nrules; i++) {
        mx_rule *r = &rt->rules[i];
        providers_free(r->req_prov, r->nrequires);
        providers_free(r->want_prov, r->nwants);
        free(r->prov_fact);
        r->req_prov = providers_of(rt, r->requires, r->nrequires);
        r->want_prov = providers_of(rt, r->wants, r->nwants);
        r->prov_fact = r->nprovides ? mx_xcalloc(r->nprovides, sizeof *r->prov_fact) : NULL;
        for (size_t p = 0; p < r->nprovides; p++) r->prov_fact[p] = fact_intern(rt, r->provides[p]);
    }
    rt->deps_nrules = rt->nrules;
    rt->deps_gen++; /* rt_checks.c's index of the rules waiting on each fact follows */
}
