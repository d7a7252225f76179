/* The `report` object a rule's run(target, report) receives: findings
 * (report:finding), facts for other rules (report:publish), and whether a
 * fact may still come (report:pending). */
#include "rt_private.h"
#include <string.h>

/* The check and rule a report method acts on: the running task's, when the
 * method is its rule's (upvalue 1: the rule index) and self is that rule
 * run's report object. A report kept past its run, or handed to another
 * rule's code, is refused: a rule reaches only its own running report. */
static mx_check *report_check(lua_State *L, int *rule) {
    mx_rt *rt = mx_rt_from_L(L);
    *rule = (int)lua_tointeger(L, lua_upvalueindex(1));
    mx_task *t = rt->current;
    mx_check *c = t && t->rule == *rule ? t->check : NULL;
    if (!c || c->finished || c->runs[*rule].state != RULE_RUNNING)
        luaL_error(L, "report used after its rule finished");
    if (lua_topointer(L, 1) != c->runs[*rule].report) {
        if (lua_type(L, 1) != LUA_TTABLE) luaL_error(L, "report methods are called with ':' (report:finding{...})");
        luaL_error(L, "report used after its rule finished");
    }
    return c;
}

/* report:finding's fields, as read in its one pass over the table */
enum { F_CODE, F_SEVERITY, F_SUMMARY, F_EXPLANATION, F_ADVICE, F_EVIDENCE, F_CONCLUSION, F_NEXT_STEP, F_N };

/* which field k names (strcmp's equality: the name up to a NUL), -1 none */
static int finding_field(const char *k) {
    switch (strlen(k)) {
    case 4: return memcmp(k, "code", 4) == 0 ? F_CODE : -1;
    case 6: return memcmp(k, "advice", 6) == 0 ? F_ADVICE : -1;
    case 7: return memcmp(k, "summary", 7) == 0 ? F_SUMMARY : -1;
    case 8: return memcmp(k, "severity", 8) == 0 ? F_SEVERITY : memcmp(k, "evidence", 8) == 0 ? F_EVIDENCE : -1;
    case 9: return memcmp(k, "next_step", 9) == 0 ? F_NEXT_STEP : -1;
    case 10: return memcmp(k, "conclusion", 10) == 0 ? F_CONCLUSION : -1;
    case 11: return memcmp(k, "explanation", 11) == 0 ? F_EXPLANATION : -1;
    default: return -1;
    }
}

static const char *const field_names[F_N] = {"code", "severity", "summary", "explanation", "advice", "evidence", "conclusion", "next_step"};

/* a string field's value read in the pass (NULL: absent), with the same
 * errors, in the same order, as reading the fields one by one */
static const char *field_string(lua_State *L, const int *type, const char *const *str, int f, int required) {
    if (type[f] == LUA_TNIL) {
        if (required) luaL_error(L, "report:finding: field '%s' is required", field_names[f]);
        return NULL;
    }
    if (type[f] != LUA_TSTRING) luaL_error(L, "report:finding: field '%s' must be a string", field_names[f]);
    return str[f];
}

/* The C findings of sealed finding tables (issue 21): shared.memo keeps the
 * findings of an address sealed (util.seal), and in a batch every check whose
 * MX has the address reports the same table. Converting it (reading the Lua
 * tables, sorting the evidence's keys) is done once per table and rule; with
 * site overrides each check gets a copy of the tree in its own arena (an
 * override changes its copy only), without them the checks borrow the tree
 * (check_keep below). A sealed copy's contents never change and the rule's codes are
 * the engine's own copy (rt_loader.c), so (table, rule) is the whole key; a
 * finding whose evidence reads a proxy or a view (contents that may change)
 * is not kept. The cache is weak-keyed (an ephemeron): an entry goes with its
 * table (shared.memo drops an epoch's values) once no check borrows it, its
 * trees freed by __gc. */
#define FCACHE_RULES 4
typedef struct fcache {
    int n;
    struct { int rule; mx_severity sev; mx_json *tree; size_t size; } e[FCACHE_RULES]; /* size: mx_json_flat_size */
    int borrows; /* checks whose findings borrow the trees (check_keep) */
} fcache;
static char fcache_key, fcache_mt_key;
static int fcache_gc(lua_State *L) {
    fcache *fc = lua_touserdata(L, 1);
    for (int i = 0; i < fc->n; i++) mx_json_free(fc->e[i].tree);
    fc->n = 0;
    return 0;
}
/* the cache entry of the table at idx, made (empty) when it has none [-0, +1, m] */
static fcache *fcache_of(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &fcache_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "k");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &fcache_key);
    }
    lua_pushvalue(L, idx);
    if (lua_rawget(L, -2) == LUA_TUSERDATA) { lua_remove(L, -2); return lua_touserdata(L, -1); }
    lua_pop(L, 1);
    fcache *fc = lua_newuserdatauv(L, sizeof *fc, 0);
    fc->n = 0;
    fc->borrows = 0;
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &fcache_mt_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_createtable(L, 0, 1);
        lua_pushcfunction(L, fcache_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &fcache_mt_key);
    }
    lua_setmetatable(L, -2);
    lua_pushvalue(L, idx);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
    lua_remove(L, -2);
    return fc;
}

/* Without site overrides nothing changes a finding's tree once it is the
 * check's (rt_add_finding_arena: overrides are the only writer), so a cached
 * tree is the check's finding (or evidence value) as it is, not copied into
 * its arena (~1,900 instructions a copy, ~4.5 a domain). The entry's trees
 * must outlive the check's findings even when its sealed table goes first (an
 * epoch's memo dropped, a weak-keyed verdict collected): an entry borrowed by
 * a check is anchored in the registry (fcache_anchor_key, by its address)
 * while its count of borrowing checks is above 0; mx_check_free gives the
 * check's back (rt_report_release) after its findings are freed. With
 * overrides each check gets its own copy, as before. */
static char fcache_anchor_key;
static int borrow_ok(mx_check *c) { return !c->rt->overrides; }
/* c borrows the trees of the entry at idx [-0, +0, m] */
static void check_keep(lua_State *L, mx_check *c, int idx) {
    fcache *fc = lua_touserdata(L, idx);
    if (c->nborrowed == c->borrowed_cap) {
        c->borrowed_cap = c->borrowed_cap ? 2 * c->borrowed_cap : 8;
        c->borrowed = mx_xrealloc(c->borrowed, (size_t)c->borrowed_cap * sizeof *c->borrowed);
    }
    c->borrowed[c->nborrowed++] = fc;
    if (fc->borrows++ > 0) return;
    idx = lua_absindex(L, idx);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &fcache_anchor_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &fcache_anchor_key);
    }
    lua_pushvalue(L, idx);
    lua_rawsetp(L, -2, fc);
    lua_pop(L, 1);
}
void rt_report_release(mx_check *c) {
    lua_State *L = c->rt->L;
    int anchors = 0;
    for (int i = 0; i < c->nborrowed; i++) {
        fcache *fc = c->borrowed[i];
        if (--fc->borrows > 0) continue;
        if (!anchors) {
            lua_rawgetp(L, LUA_REGISTRYINDEX, &fcache_anchor_key);
            anchors = lua_gettop(L);
        }
        lua_pushnil(L);
        lua_rawsetp(L, anchors, fc);
    }
    if (anchors) lua_settop(L, anchors - 1);
    free(c->borrowed);
    c->borrowed = NULL;
    c->nborrowed = c->borrowed_cap = 0;
}

/* An evidence value that is a sealed copy (mx.ok's hosts: the same sealed
 * list for every domain whose MX is that host) is converted once and kept
 * with the table as a sealed finding is (its fcache entry under EV_RULE),
 * and each check gets an arena copy. EV_DEPTH: a tree nested deeper is not
 * kept (the conversion marks depth 32 "(nested too deep)" counting from the
 * evidence, one level above where the value's own conversion starts). */
#define EV_RULE (-1)
#define EV_DEPTH 24
static int json_depth(const mx_json *v) {
    int d = 0;
    if (v->type == MX_JOBJ || v->type == MX_JARR)
        for (size_t i = 0; i < v->u.c.len; i++) {
            int c = json_depth(v->u.c.items[i]);
            if (c > d) d = c;
        }
    return d + 1;
}
/* the JSON of the sealed copy at idx in a, from its cache entry (made at the
 * first use); NULL when it cannot be kept (it reads a proxy or a view, or
 * nests deeper than EV_DEPTH) [-0, +0, m] */
static mx_json *sealed_value_json(lua_State *L, int idx, mx_jarena *a, mx_check *c) {
    idx = lua_absindex(L, idx);
    fcache *fc = fcache_of(L, idx);
    for (int i = 0; i < fc->n; i++)
        if (fc->e[i].rule == EV_RULE) {
            if (fc->e[i].tree && c && borrow_ok(c)) {
                check_keep(L, c, -1);
                lua_pop(L, 1);
                return fc->e[i].tree;
            }
            lua_pop(L, 1);
            return fc->e[i].tree ? mx_json_clone_flat_in(a, fc->e[i].tree, fc->e[i].size) : NULL;
        }
    lua_pop(L, 1); /* the entry stays alive: the weak table holds it while its table lives */
    if (fc->n == FCACHE_RULES) return NULL;
    int views = 0;
    mx_json *j = rt_lua_to_json_views(L, idx, NULL, &views);
    if (views || json_depth(j) > EV_DEPTH) { mx_json_free(j); j = NULL; }
    fc->e[fc->n].rule = EV_RULE;
    fc->e[fc->n].sev = MX_SEV_OK;
    fc->e[fc->n].tree = j;
    fc->e[fc->n].size = j ? mx_json_flat_size(j) : 0;
    fc->n++;
    return j ? mx_json_clone_flat_in(a, j, fc->e[fc->n - 1].size) : NULL;
}
/* The evidence table at ev as its conversion gives it (an object of its
 * string keys, sorted), when its values are strings, numbers, booleans and
 * sealed copies, at least one of them a sealed copy: those from their cached
 * trees. NULL (nothing made) otherwise: the caller converts it whole. [-0, +0, m] */
#define EV_KEYS 12
static mx_json *evidence_with_sealed(lua_State *L, int ev, mx_jarena *a, mx_check *c) {
    if (lua_getmetatable(L, ev)) { lua_pop(L, 1); return NULL; }
    /* first pass: the shape (no conversion yet) */
    int n = 0, sealed = 0;
    lua_pushnil(L);
    while (lua_next(L, ev)) {
        int vt = lua_type(L, -1);
        int ok = lua_type(L, -2) == LUA_TSTRING && n < EV_KEYS;
        if (ok && vt == LUA_TTABLE) {
            ok = rt_sealed_copy(L, -1);
            if (ok) { lua_pop(L, 1); sealed = 1; }
        } else if (ok) ok = vt == LUA_TSTRING || vt == LUA_TNUMBER || vt == LUA_TBOOLEAN;
        if (!ok) { lua_pop(L, 2); return NULL; }
        n++;
        lua_pop(L, 1);
    }
    if (!sealed) return NULL;
    struct { const char *k; mx_json *v; } p[EV_KEYS];
    int k = 0;
    lua_pushnil(L);
    while (lua_next(L, ev)) {
        mx_json *v = lua_type(L, -1) == LUA_TTABLE ? sealed_value_json(L, -1, a, c) : mx_lua_to_json_in(L, -1, a);
        if (!v) { lua_pop(L, 2); return NULL; } /* not kept: the whole conversion (arena pieces freed with the check) */
        /* in strcmp's order as it comes (insertion) */
        const char *key = lua_tostring(L, -2);
        int at = k;
        while (at > 0 && strcmp(p[at - 1].k, key) > 0) { p[at] = p[at - 1]; at--; }
        p[at].k = key;
        p[at].v = v;
        k++;
        lua_pop(L, 1);
    }
    /* the keys copied into the arena in one piece, as the conversion does */
    size_t tot = 0;
    for (int i = 0; i < k; i++) tot += strlen(p[i].k) + 1;
    char *kb = mx_jarena_alloc(a, tot);
    mx_json *o = mx_json_obj_sized_in(a, (size_t)k);
    for (int i = 0; i < k; i++) {
        size_t l = strlen(p[i].k) + 1;
        memcpy(kb, p[i].k, l);
        mx_json_append_lit_in(a, o, kb, p[i].v);
        kb += l;
    }
    return o;
}

/* The C finding of the finding table at t, for rule: its fields checked (the
 * errors named as report:finding raises them), its severity the rule's for
 * its code or its own; built in a (NULL: the heap). *views as
 * rt_lua_to_json_views sets it (NULL: not asked). [-0, +0, e]
 * conclusion = true marks a finding drawn from the others (delivery.none from
 * the per-address refusals): the verdict line names its cause instead.
 * next_step = true marks a finding that settles what to do about the cause
 * (outbound.remote_filtered: a control host accepts, so the block is theirs):
 * the verdict line's "->" is its advice instead of the cause's. */
static mx_json *finding_tree(lua_State *L, mx_rt *rt, int rule, int t, mx_jarena *a, mx_check *c, mx_severity *sevp,
                            int *views) {
    static const char *const known[] = {"code", "severity", "summary", "explanation", "advice", "evidence", "conclusion", "next_step", NULL};
    /* one pass: unknown fields are errors, known ones are noted (their
     * strings stay alive: the table references them); type errors are
     * raised after it, in the order of the fields below */
    int type[F_N] = {0}, truth[F_N] = {0};
    const char *str[F_N] = {0};
    lua_pushnil(L);
    while (lua_next(L, t)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        int f = k ? finding_field(k) : -1;
        if (f < 0) {
            const char *dym = k ? rt_did_you_mean(k, known) : NULL;
            if (dym) luaL_error(L, "report:finding: unknown field '%s' (did you mean '%s'?)", k, dym);
            luaL_error(L, "report:finding: unknown field '%s' (fields: code, severity, summary, explanation, advice, evidence, conclusion, next_step)", k ? k : "?");
        }
        type[f] = lua_type(L, -1);
        if (type[f] == LUA_TSTRING) str[f] = lua_tostring(L, -1);
        truth[f] = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    if (lua_getmetatable(L, t)) {
        /* fields an __index may give: read them as lua_getfield does (the
         * values stay on the stack, alive, until the call returns) */
        lua_pop(L, 1);
        for (int f = 0; f < F_N; f++) {
            type[f] = lua_getfield(L, t, field_names[f]);
            str[f] = type[f] == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
            truth[f] = lua_toboolean(L, -1);
        }
    }
    const char *code = field_string(L, type, str, F_CODE, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->rules[rule].ref);
    lua_getfield(L, -1, "codes");
    lua_getfield(L, -1, code);
    if (lua_isnil(L, -1)) luaL_error(L, "report:finding: code '%s' is not declared in rule '%s' codes", code, rt->rules[rule].id);
    mx_severity sev;
    mx_severity_parse(lua_tostring(L, -1), &sev);
    lua_pop(L, 3);
    const char *sevs = field_string(L, type, str, F_SEVERITY, 0);
    if (sevs && mx_severity_parse(sevs, &sev) != 0)
        luaL_error(L, "report:finding: severity '%s' is not one of ok, info, warn, crit, unknown", sevs);
    const char *summary = field_string(L, type, str, F_SUMMARY, 1);
    const char *expl = field_string(L, type, str, F_EXPLANATION, 0);
    const char *adv = field_string(L, type, str, F_ADVICE, 0);
    lua_getfield(L, t, "evidence");
    if (!lua_isnil(L, -1) && !lua_istable(L, -1)) luaL_error(L, "report:finding: field 'evidence' must be a table");
    mx_json *evd = lua_isnil(L, -1) ? mx_json_obj_in(a) : views ? rt_lua_to_json_views(L, -1, a, views) : NULL;
    if (!evd && a) evd = evidence_with_sealed(L, lua_gettop(L), a, c);
    if (!evd) evd = mx_lua_to_json_in(L, -1, a);
    lua_pop(L, 1);
    if (evd->type != MX_JOBJ) { mx_json *o = mx_json_obj_in(a); mx_json_append_in(a, o, "items", evd); evd = o; }
    /* the members' names are literals: borrowed, not copied (mx_json_lit_in) */
    mx_json *o = mx_json_obj_in(a);
    mx_json_append_lit_in(a, o, "rule", mx_json_str_in(a, rt->rules[rule].id));
    mx_json_append_lit_in(a, o, "code", mx_json_str_in(a, code));
    mx_json_append_lit_in(a, o, "severity", mx_json_str_in(a, mx_severity_name(sev)));
    mx_json_append_lit_in(a, o, "summary", mx_json_str_in(a, summary));
    mx_json_append_lit_in(a, o, "explanation", mx_json_str_in(a, expl ? expl : ""));
    mx_json_append_lit_in(a, o, "advice", mx_json_str_in(a, adv ? adv : ""));
    mx_json_append_lit_in(a, o, "evidence", evd);
    if (truth[F_CONCLUSION]) mx_json_append_lit_in(a, o, "conclusion", mx_json_bool_in(a, 1));
    if (truth[F_NEXT_STEP]) mx_json_append_lit_in(a, o, "next_step", mx_json_bool_in(a, 1));
    *sevp = sev;
    return o;
}

/* report:finding{code=, severity=?, summary=, explanation=?, advice=?, evidence=?, conclusion=?, next_step=?} [-0,+0,e]
 * (finding_tree: the fields) */
static int l_report_finding(lua_State *L) {
    int rule;
    mx_check *c = report_check(L, &rule);
    mx_rt *rt = c->rt;
    luaL_checktype(L, 2, LUA_TTABLE);
    /* the finding's tree in the check's arena: freed with the check at once,
     * not node by node (an error leaves its pieces there, not leaked) */
    if (!c->arena) c->arena = mx_jarena_new();
    mx_severity sev;
    if (!rt_sealed_copy(L, 2)) {
        mx_json *o = finding_tree(L, rt, rule, 2, c->arena, c, &sev, NULL);
        rt_add_finding_arena(c, rule, sev, o);
        return 0;
    }
    /* a sealed copy (its shadow pushed: its fields read as a plain table's) */
    int sh = lua_gettop(L);
    fcache *fc = fcache_of(L, 2);
    for (int i = 0; i < fc->n; i++)
        if (fc->e[i].rule == rule) {
            if (borrow_ok(c)) {
                check_keep(L, c, -1);
                rt_add_finding_arena(c, rule, fc->e[i].sev, fc->e[i].tree);
            } else
                rt_add_finding_arena(c, rule, fc->e[i].sev, mx_json_clone_flat_in(c->arena, fc->e[i].tree, fc->e[i].size));
            return 0;
        }
    int views = 0;
    mx_json *o = finding_tree(L, rt, rule, sh, NULL, NULL, &sev, &views);
    size_t size = mx_json_flat_size(o);
    rt_add_finding_arena(c, rule, sev, mx_json_clone_flat_in(c->arena, o, size));
    if (views || fc->n == FCACHE_RULES) mx_json_free(o);
    else {
        fc->e[fc->n].rule = rule;
        fc->e[fc->n].sev = sev;
        fc->e[fc->n].tree = o;
        fc->e[fc->n].size = size;
        fc->n++;
    }
    return 0;
}

/* 1 while a rule of the check other than `rule` has not finished: it may
 * read target.facts (now or when it starts) */
static int others_may_read(mx_check *c, int rule) {
    for (int k = 0; k < c->rt->nrules; k++)
        if (k != rule && (c->runs[k].state == RULE_PENDING || c->runs[k].state == RULE_RUNNING)) return 1;
    return 0;
}

/* report:publish(name, value) [-0,+0,e] */
static int l_report_publish(lua_State *L) {
    int rule;
    mx_check *c = report_check(L, &rule);
    mx_rt *rt = c->rt;
    const char *name = luaL_checkstring(L, 2);
    luaL_checkany(L, 3);
    int fact = -2;
    for (size_t i = 0; i < rt->rules[rule].nprovides; i++)
        if (strcmp(rt->rules[rule].provides[i], name) == 0) fact = rt->rules[rule].prov_fact ? rt->rules[rule].prov_fact[i] : -1;
    if (fact == -2) return luaL_error(L, "report:publish: rule '%s' does not list '%s' in its 'provides'", rt->rules[rule].id, name);
    /* sealed: what the other rules read is the value as published, through
     * tables whose reads need no C call (rt_push_sealed). With no other rule
     * left to read it (--only mx), the value is kept as it is: only the
     * publisher itself and the facts' JSON (--record) still see it. */
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->facts_ref);
    if (others_may_read(c, rule)) rt_push_sealed(L, 3);
    else lua_pushvalue(L, 3);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
    /* what rt_advance reads instead of the table (publishing nil takes a fact back) */
    if (fact >= 0 && fact < c->nhave) c->have[fact] = !lua_isnil(L, 3);
    rt_fact_changed(c, fact); /* the rules waiting on it are looked at again */
    mx_rt_trace(rt, "fact %s published by %s", name, rt->rules[rule].id);
    rt_advance(c);
    return 0;
}

/* report:pending(name) -> true while another enabled rule of this check that
 * has not finished may still publish the fact (so a rule handing something
 * over, such as an open connection, knows whether anyone will take it). [-0,+1,e] */
static int l_report_pending(lua_State *L) {
    int rule;
    mx_check *c = report_check(L, &rule);
    const char *name = luaL_checkstring(L, 2);
    int pending = 0;
    for (int k = 0; k < c->rt->nrules && !pending; k++) {
        if (k == rule || (c->runs[k].state != RULE_PENDING && c->runs[k].state != RULE_RUNNING)) continue;
        for (size_t p = 0; p < c->rt->rules[k].nprovides; p++)
            if (strcmp(c->rt->rules[k].provides[p], name) == 0) pending = 1;
    }
    lua_pushboolean(L, pending);
    return 1;
}

/* report:debug(...): a line for whoever debugs the rule, its values
 * separated by spaces, tables in full (as JSON). Shown by --trace (and
 * `rules test -v`), kept in the check's JSON under rules[].debug; never a
 * finding. At most MX_DEBUG_LINES lines of MX_DEBUG_LEN bytes per rule run. [-0,+0,e] */
#define MX_DEBUG_LINES 100
#define MX_DEBUG_LEN 4000
static int l_report_debug(lua_State *L) {
    int rule;
    mx_check *c = report_check(L, &rule);
    mx_rt *rt = c->rt;
    int n = lua_gettop(L);
    mx_buf b = MX_BUF_INIT;
    for (int i = 2; i <= n; i++) {
        if (i > 2) mx_buf_putc(&b, ' ');
        if (lua_type(L, i) == LUA_TSTRING) {
            size_t l;
            const char *s = lua_tolstring(L, i, &l);
            mx_buf_put(&b, s, l);
        } else if (lua_type(L, i) == LUA_TTABLE) {
            mx_json *j = mx_lua_to_json(L, i);
            mx_json_write(&b, j, -1);
            mx_json_free(j);
        } else {
            size_t l;
            const char *s = luaL_tolstring(L, i, &l);
            mx_buf_put(&b, s, l);
            lua_pop(L, 1);
        }
        if (b.len > MX_DEBUG_LEN) break;
    }
    if (b.len > MX_DEBUG_LEN) { b.len = MX_DEBUG_LEN; mx_buf_puts(&b, " ..."); }
    rule_run *run = &c->runs[rule];
    if (!run->debug) run->debug = mx_json_arr();
    if (run->debug->u.c.len < MX_DEBUG_LINES) mx_json_push(run->debug, mx_json_strn(b.data ? b.data : "", b.len));
    else if (run->debug->u.c.len == MX_DEBUG_LINES) mx_json_push(run->debug, mx_json_str("(more debug lines dropped)"));
    mx_rt_trace(rt, "debug %s: %s", rt->rules[rule].id, mx_buf_cstr(&b));
    mx_buf_free(&b);
    return 0;
}

/* A rule run's report object: a table holding only `options`, whose
 * metatable (one per rule, made at its first run, protected) gives the
 * methods: closures bound to the rule, not to the check; the check is the
 * running task's (report_check). Per run: one small table, no closure. */
void rt_push_report(mx_rt *rt, mx_check *c, int rule) {
    lua_State *L = rt->L;
    if (!rt->rules[rule].report_mt_ref) {
        static const luaL_Reg methods[] = {
            {"debug", l_report_debug}, {"finding", l_report_finding},
            {"publish", l_report_publish}, {"pending", l_report_pending}, {NULL, NULL}};
        lua_createtable(L, 0, 2);
        lua_createtable(L, 0, 4);
        for (const luaL_Reg *m = methods; m->name; m++) {
            lua_pushinteger(L, rule);
            lua_pushcclosure(L, m->func, 1);
            lua_setfield(L, -2, m->name);
        }
        lua_setfield(L, -2, "__index");
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable"); /* getmetatable(report) is false; setmetatable refused */
        rt->rules[rule].report_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    lua_createtable(L, 0, 1); /* options */
    rt_push_rule_options(rt, c, rule); /* this rule's options only, read-only */
    lua_setfield(L, -2, "options");
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->rules[rule].report_mt_ref);
    lua_setmetatable(L, -2);
    c->runs[rule].report = lua_topointer(L, -1);
}
