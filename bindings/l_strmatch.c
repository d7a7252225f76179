/* string.find, string.match, string.gmatch and string.gsub for rules: Lua 5.4
 * patterns (reference manual §6.4.1), with a bound on their work.
 *
 * Lua's own matcher backtracks: ("a"):rep(5000) against ("a-"):rep(40).."b"
 * tries on the order of 5000^40 ways inside one C call, which the count hook
 * never sees (it counts VM instructions) and the rule's deadline timer never
 * interrupts (the event loop does not run). This matcher is written for the
 * sandbox: every step of the backtracking (an attempt at a pattern position,
 * one character of a repetition or a balance, one candidate of a plain search)
 * counts, and every STEP_CHARGE steps the count goes to mx_rt_charge, which
 * adds it to the running rule's instruction budget and checks its deadline.
 * So a pathological pattern ends like a busy loop does: a rule.error naming
 * the budget or the deadline, with no match attempted past it. Semantics and
 * error messages follow the manual: captures, position captures, %b, %f, back
 * references, anchors, gmatch's init, gsub's string/table/function
 * replacement and its count. */
#include "runtime.h"
#include <ctype.h>
#include <stddef.h>
#include <string.h>

#define SM_MAXCAPTURES 32
#define SM_MAXDEPTH 200          /* recursion depth, as Lua's MAXCCALLS */
#define STEP_CHARGE 4096
#define CAP_UNFINISHED (-1)
#define CAP_POSITION (-2)
#define SPECIALS "^$*+?.([%-"

typedef struct sm_state {
    const char *src_init, *src_end, *pat_end;
    lua_State *L;
    int depth;                   /* recursion left */
    int level;                   /* captures open or closed */
    struct {
        const char *init;
        ptrdiff_t len;           /* or CAP_UNFINISHED / CAP_POSITION */
    } cap[SM_MAXCAPTURES];
} sm_state;

/* Steps not yet charged: what a rule leaves here (under STEP_CHARGE) goes to
 * the next one that matches. One per thread: `batch -P` runs a Lua state in
 * each worker thread (ThreadSanitizer found the shared counter). */
static _Thread_local uint64_t pending_steps;

static void step(sm_state *ms, uint64_t n) {
    pending_steps += n;
    if (pending_steps >= STEP_CHARGE) {
        uint64_t k = pending_steps;
        pending_steps = 0;
        mx_rt_charge(ms->L, k);
    }
}

static int uc(char c) { return (unsigned char)c; }

/* %a, %d, ...: does c belong to class cl (upper case: the complement)? */
static int class_match(int c, int cl) {
    int r;
    switch (tolower(cl)) {
    case 'a': r = isalpha(c); break;
    case 'c': r = iscntrl(c); break;
    case 'd': r = isdigit(c); break;
    case 'g': r = isgraph(c); break;
    case 'l': r = islower(c); break;
    case 'p': r = ispunct(c); break;
    case 's': r = isspace(c); break;
    case 'u': r = isupper(c); break;
    case 'w': r = isalnum(c); break;
    case 'x': r = isxdigit(c); break;
    case 'z': r = c == 0; break; /* deprecated in the manual, still in Lua 5.4 */
    default: return cl == c;
    }
    if (isupper(cl)) r = !r;
    return r != 0;
}

/* the end of the single-character class at p ('.', 'x', '%x', '[set]') */
static const char *class_end(sm_state *ms, const char *p) {
    switch (*p++) {
    case '%':
        if (p >= ms->pat_end) luaL_error(ms->L, "malformed pattern (ends with '%%')");
        return p + 1;
    case '[':
        if (*p == '^') p++;
        /* the first character of a set is itself, even ']' */
        do {
            if (p >= ms->pat_end) luaL_error(ms->L, "malformed pattern (missing ']')");
            if (*(p++) == '%' && p < ms->pat_end) p++;
        } while (*p != ']');
        return p + 1;
    default:
        return p;
    }
}

/* c in the set [p .. ec] (p at '[', ec at the closing ']') */
static int set_match(sm_state *ms, int c, const char *p, const char *ec) {
    int yes = 1;
    p++;
    if (*p == '^') { yes = 0; p++; }
    step(ms, (uint64_t)(ec - p) / 8);
    for (; p < ec; p++) {
        if (*p == '%') {
            p++;
            if (class_match(c, uc(*p))) return yes;
        } else if (p[1] == '-' && p + 2 < ec) {
            if (uc(p[0]) <= c && c <= uc(p[2])) return yes;
            p += 2;
        } else if (uc(*p) == c) {
            return yes;
        }
    }
    return !yes;
}

static int single_match(sm_state *ms, const char *s, const char *p, const char *ep) {
    if (s >= ms->src_end) return 0;
    int c = uc(*s);
    switch (*p) {
    case '.': return 1;
    case '%': return class_match(c, uc(p[1]));
    case '[': return set_match(ms, c, p, ep - 1);
    default: return uc(*p) == c;
    }
}

static const char *do_match(sm_state *ms, const char *s, const char *p);

static const char *match_balance(sm_state *ms, const char *s, const char *p) {
    if (p + 1 >= ms->pat_end) luaL_error(ms->L, "malformed pattern (missing arguments to '%%b')");
    if (s >= ms->src_end || *s != *p) return NULL;
    char open = p[0], close = p[1];
    int depth = 1;
    while (++s < ms->src_end) {
        step(ms, 1);
        if (*s == close) {
            if (--depth == 0) return s + 1;
        } else if (*s == open) {
            depth++;
        }
    }
    return NULL;
}

/* x* and x+: the longest run first, then shorter ones */
static const char *max_expand(sm_state *ms, const char *s, const char *p, const char *ep) {
    ptrdiff_t i = 0;
    while (single_match(ms, s + i, p, ep)) {
        i++;
        step(ms, 1);
    }
    for (; i >= 0; i--) {
        const char *r = do_match(ms, s + i, ep + 1);
        if (r) return r;
    }
    return NULL;
}

/* x-: the shortest run first */
static const char *min_expand(sm_state *ms, const char *s, const char *p, const char *ep) {
    for (;;) {
        const char *r = do_match(ms, s, ep + 1);
        if (r) return r;
        if (!single_match(ms, s, p, ep)) return NULL;
        s++;
    }
}

static const char *start_capture(sm_state *ms, const char *s, const char *p, ptrdiff_t what) {
    if (ms->level >= SM_MAXCAPTURES) luaL_error(ms->L, "too many captures");
    ms->cap[ms->level].init = s;
    ms->cap[ms->level].len = what;
    ms->level++;
    const char *r = do_match(ms, s, p);
    if (!r) ms->level--;
    return r;
}

static const char *end_capture(sm_state *ms, const char *s, const char *p) {
    int l = -1;
    for (int i = ms->level - 1; i >= 0; i--)
        if (ms->cap[i].len == CAP_UNFINISHED) { l = i; break; }
    if (l < 0) luaL_error(ms->L, "invalid pattern capture");
    ms->cap[l].len = s - ms->cap[l].init;
    const char *r = do_match(ms, s, p);
    if (!r) ms->cap[l].len = CAP_UNFINISHED;
    return r;
}

/* %1 .. %9: the text of a closed capture again */
static const char *match_backref(sm_state *ms, const char *s, int digit) {
    int l = digit - '1';
    if (l < 0 || l >= ms->level || ms->cap[l].len == CAP_UNFINISHED)
        luaL_error(ms->L, "invalid capture index %%%d", l + 1);
    ptrdiff_t len = ms->cap[l].len;
    if (len < 0) return NULL; /* a position capture matches no text */
    step(ms, (uint64_t)len / 8);
    if (ms->src_end - s >= len && memcmp(ms->cap[l].init, s, (size_t)len) == 0) return s + len;
    return NULL;
}

/* The end of the match of pattern p at s, or NULL. Iterates where the
 * pattern goes on with the same s or one character further; recurses where
 * it has to try alternatives. */
static const char *do_match(sm_state *ms, const char *s, const char *p) {
    if (ms->depth-- == 0) luaL_error(ms->L, "pattern too complex");
    for (;;) {
        step(ms, 1);
        if (p >= ms->pat_end) break;
        if (*p == '(') {
            s = p[1] == ')' ? start_capture(ms, s, p + 2, CAP_POSITION) : start_capture(ms, s, p + 1, CAP_UNFINISHED);
            break;
        }
        if (*p == ')') {
            s = end_capture(ms, s, p + 1);
            break;
        }
        if (*p == '$' && p + 1 == ms->pat_end) {
            if (s != ms->src_end) s = NULL;
            break;
        }
        if (*p == '%' && p[1] == 'b') {
            s = match_balance(ms, s, p + 2);
            if (!s) break;
            p += 4;
            continue;
        }
        if (*p == '%' && p[1] == 'f') {
            p += 2;
            if (*p != '[') luaL_error(ms->L, "missing '[' after '%%f' in pattern");
            const char *ep = class_end(ms, p);
            int prev = s == ms->src_init ? 0 : uc(s[-1]);
            int cur = s < ms->src_end ? uc(*s) : 0;
            if (!set_match(ms, prev, p, ep - 1) && set_match(ms, cur, p, ep - 1)) {
                p = ep;
                continue;
            }
            s = NULL;
            break;
        }
        if (*p == '%' && isdigit(uc(p[1]))) {
            s = match_backref(ms, s, uc(p[1]));
            if (!s) break;
            p += 2;
            continue;
        }
        /* a single-character class, perhaps with a repetition */
        const char *ep = class_end(ms, p);
        if (!single_match(ms, s, p, ep)) {
            if (*ep == '*' || *ep == '?' || *ep == '-') {
                p = ep + 1; /* zero repetitions are fine */
                continue;
            }
            s = NULL;
            break;
        }
        if (*ep == '?') {
            const char *r = do_match(ms, s + 1, ep + 1);
            if (r) { s = r; break; }
            p = ep + 1;
            continue;
        }
        if (*ep == '+') { s = max_expand(ms, s + 1, p, ep); break; }
        if (*ep == '*') { s = max_expand(ms, s, p, ep); break; }
        if (*ep == '-') { s = min_expand(ms, s, p, ep); break; }
        s++;
        p = ep;
    }
    ms->depth++;
    return s;
}

static void state_init(sm_state *ms, lua_State *L, const char *s, size_t ls, const char *p, size_t lp) {
    ms->L = L;
    ms->src_init = s;
    ms->src_end = s + ls;
    ms->pat_end = p + lp;
}
static void state_reset(sm_state *ms) {
    ms->level = 0;
    ms->depth = SM_MAXDEPTH;
}

/* capture i of the match s..e (i = 0 with no captures: the whole match);
 * a position capture is pushed and CAP_POSITION returned */
static ptrdiff_t get_capture(sm_state *ms, int i, const char *s, const char *e, const char **cap) {
    if (i >= ms->level) {
        if (i != 0) luaL_error(ms->L, "invalid capture index %%%d", i + 1);
        *cap = s;
        return e - s;
    }
    ptrdiff_t len = ms->cap[i].len;
    *cap = ms->cap[i].init;
    if (len == CAP_UNFINISHED) luaL_error(ms->L, "unfinished capture");
    if (len == CAP_POSITION) lua_pushinteger(ms->L, (ms->cap[i].init - ms->src_init) + 1);
    return len;
}
/* [-0, +1, e] */
static void push_capture(sm_state *ms, int i, const char *s, const char *e) {
    const char *cap;
    ptrdiff_t len = get_capture(ms, i, s, e, &cap);
    if (len != CAP_POSITION) lua_pushlstring(ms->L, cap, (size_t)len);
}
/* [-0, +n, e] the captures, or the whole match (when s is given) if none */
static int push_captures(sm_state *ms, const char *s, const char *e) {
    int n = (ms->level == 0 && s) ? 1 : ms->level;
    luaL_checkstack(ms->L, n, "too many captures");
    for (int i = 0; i < n; i++) push_capture(ms, i, s, e);
    return n;
}

/* a 1-based, possibly negative, start position as an offset (may exceed len) */
static size_t start_offset(lua_Integer pos, size_t len) {
    if (pos > 0) return (size_t)pos - 1;
    if (pos == 0 || pos < -(lua_Integer)len) return 0;
    return len + (size_t)pos;
}

static int has_specials(const char *p, size_t lp) {
    for (size_t i = 0; i < lp; i++)
        if (p[i] && strchr(SPECIALS, p[i])) return 1;
    return 0;
}

/* plain search, charged by candidates and by the bytes compared */
static const char *plain_find(sm_state *ms, const char *s, size_t ls, const char *p, size_t lp) {
    if (lp == 0) return s;
    if (lp > ls) return NULL;
    const char *end = s + (ls - lp) + 1; /* candidates start before end */
    while (s < end) {
        const char *c = memchr(s, *p, (size_t)(end - s));
        if (!c) return NULL;
        step(ms, 1 + (uint64_t)(c - s) / 64 + lp / 8);
        if (memcmp(c + 1, p + 1, lp - 1) == 0) return c;
        s = c + 1;
    }
    return NULL;
}

/* [-?, +?, e] */
static int find_aux(lua_State *L, int find) {
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_offset(luaL_optinteger(L, 3, 1), ls);
    if (init > ls) {
        luaL_pushfail(L);
        return 1;
    }
    sm_state ms;
    state_init(&ms, L, s, ls, p, lp);
    if (find && (lua_toboolean(L, 4) || !has_specials(p, lp))) {
        const char *at = plain_find(&ms, s + init, ls - init, p, lp);
        if (at) {
            lua_pushinteger(L, (at - s) + 1);
            lua_pushinteger(L, (lua_Integer)((at - s) + (ptrdiff_t)lp));
            return 2;
        }
        luaL_pushfail(L);
        return 1;
    }
    const char *s1 = s + init;
    int anchor = *p == '^';
    if (anchor) { p++; lp--; }
    state_init(&ms, L, s, ls, p, lp);
    do {
        state_reset(&ms);
        const char *e = do_match(&ms, s1, p);
        if (e) {
            if (!find) return push_captures(&ms, s1, e);
            lua_pushinteger(L, (s1 - s) + 1);
            lua_pushinteger(L, e - s);
            return push_captures(&ms, NULL, NULL) + 2;
        }
    } while (s1++ < ms.src_end && !anchor);
    luaL_pushfail(L);
    return 1;
}

/* string.find(s, pattern [, init [, plain]]) */
static int sm_find(lua_State *L) { return find_aux(L, 1); }
/* string.match(s, pattern [, init]) */
static int sm_match(lua_State *L) { return find_aux(L, 0); }

typedef struct gmatch_state {
    const char *src;             /* where the next search starts */
    const char *p;
    const char *lastmatch;       /* end of the last match: no empty match there again */
    sm_state ms;
} gmatch_state;

/* the iterator: upvalues subject, pattern, state [-0, +n, e] */
static int gmatch_next(lua_State *L) {
    gmatch_state *gm = lua_touserdata(L, lua_upvalueindex(3));
    gm->ms.L = L;
    for (const char *src = gm->src; src <= gm->ms.src_end; src++) {
        state_reset(&gm->ms);
        const char *e = do_match(&gm->ms, src, gm->p);
        if (e && e != gm->lastmatch) {
            gm->src = gm->lastmatch = e;
            return push_captures(&gm->ms, src, e);
        }
    }
    gm->src = gm->ms.src_end + 1; /* done: later calls return nothing at once */
    return 0;
}

/* string.gmatch(s, pattern [, init]) [-?, +1, e] */
static int sm_gmatch(lua_State *L) {
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_offset(luaL_optinteger(L, 3, 1), ls);
    lua_settop(L, 2); /* the closure keeps both strings alive */
    gmatch_state *gm = lua_newuserdatauv(L, sizeof *gm, 0);
    if (init > ls) init = ls + 1;
    state_init(&gm->ms, L, s, ls, p, lp);
    gm->src = s + init;
    gm->p = p;
    gm->lastmatch = NULL;
    lua_pushcclosure(L, gmatch_next, 3);
    return 1;
}

/* a replacement string's %0-%9 and %% [-0, +0, e] */
static void add_template(sm_state *ms, luaL_Buffer *b, const char *s, const char *e) {
    lua_State *L = ms->L;
    size_t l;
    const char *t = lua_tolstring(L, 3, &l);
    step(ms, l / 16);
    const char *q;
    while ((q = memchr(t, '%', l)) != NULL) {
        luaL_addlstring(b, t, (size_t)(q - t));
        q++;
        if (*q == '%') {
            luaL_addchar(b, '%');
        } else if (*q == '0') {
            luaL_addlstring(b, s, (size_t)(e - s));
        } else if (isdigit(uc(*q))) {
            const char *cap;
            ptrdiff_t len = get_capture(ms, *q - '1', s, e, &cap);
            if (len == CAP_POSITION) luaL_addvalue(b);
            else luaL_addlstring(b, cap, (size_t)len);
        } else {
            luaL_error(L, "invalid use of '%%' in replacement string");
        }
        l -= (size_t)(q + 1 - t);
        t = q + 1;
    }
    luaL_addlstring(b, t, l);
}

/* adds the replacement of match s..e; 1 if it changed the text */
static int add_value(sm_state *ms, luaL_Buffer *b, const char *s, const char *e, int tr) {
    lua_State *L = ms->L;
    if (tr == LUA_TFUNCTION) {
        lua_pushvalue(L, 3);
        int n = push_captures(ms, s, e);
        lua_call(L, n, 1);
    } else if (tr == LUA_TTABLE) {
        push_capture(ms, 0, s, e);
        lua_gettable(L, 3);
    } else {
        add_template(ms, b, s, e);
        return 1;
    }
    if (!lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s)); /* false or nil: keep the match */
        return 0;
    }
    if (!lua_isstring(L, -1)) return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    luaL_addvalue(b);
    return 1;
}

/* string.gsub(s, pattern, repl [, n]) -> string, count [-?, +2, e] */
static int sm_gsub(lua_State *L) {
    size_t ls, lp;
    const char *src = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    int tr = lua_type(L, 3);
    lua_Integer max_n = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
    luaL_argexpected(L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE, 3,
                     "string/function/table");
    int anchor = *p == '^';
    if (anchor) { p++; lp--; }
    sm_state ms;
    state_init(&ms, L, src, ls, p, lp);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    const char *lastmatch = NULL;
    lua_Integer n = 0;
    int changed = 0;
    while (n < max_n) {
        state_reset(&ms);
        const char *e = do_match(&ms, src, p);
        if (e && e != lastmatch) {
            n++;
            changed |= add_value(&ms, &b, src, e, tr);
            src = lastmatch = e;
        } else if (src < ms.src_end) {
            luaL_addchar(&b, *src++);
        } else {
            break;
        }
        if (anchor) break;
    }
    if (!changed) {
        lua_pushvalue(L, 1);
    } else {
        luaL_addlstring(&b, src, (size_t)(ms.src_end - src));
        luaL_pushresult(&b);
    }
    lua_pushinteger(L, n);
    return 2;
}

/* string.rep(s, n [, sep]): Lua's, after charging the size of its result
 * (one step per 64 bytes): making a 48 MiB string is one VM instruction, and
 * a loop of them would pass between the hook's deadline checks for minutes.
 * Upvalue 1: Lua's string.rep. [-?, +1, e] */
static int sm_rep(lua_State *L) {
    size_t l, lsep = 0;
    luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    if (n > 0) {
        double size = (double)n * (double)l + (double)(n - 1) * (double)lsep;
        sm_state ms = {.L = L};
        /* more than the memory cap fails to allocate at once */
        if (size <= (double)MX_LUA_MEM_LIMIT) step(&ms, (uint64_t)(size / 64));
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

void mx_strmatch_register(lua_State *L, int idx) {
    static const luaL_Reg fns[] = {
        {"find", sm_find}, {"match", sm_match}, {"gmatch", sm_gmatch}, {"gsub", sm_gsub}, {NULL, NULL},
    };
    idx = lua_absindex(L, idx);
    for (const luaL_Reg *f = fns; f->name; f++) {
        lua_pushcfunction(L, f->func);
        lua_setfield(L, idx, f->name);
    }
    lua_getglobal(L, "string");
    lua_getfield(L, -1, "rep");
    lua_pushcclosure(L, sm_rep, 1);
    lua_setfield(L, idx, "rep");
    lua_pop(L, 1);
}
