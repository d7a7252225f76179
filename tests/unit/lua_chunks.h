/* Tests of a Lua module without I/O, through chunks of Lua: a plain state
 * with the standard libraries and the module under test as a global.
 * Include after cmocka.h; define nothing else named L. */
#ifndef MX_TEST_LUA_CHUNKS_H
#define MX_TEST_LUA_CHUNKS_H
#include <lauxlib.h>
#include <lualib.h>
#include <string.h>

static lua_State *L;

/* a fresh state with module `name` opened by `open` (call from a setup) */
static void chunks_open(const char *name, lua_CFunction open) {
    L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, name, open, 1);
    lua_pop(L, 1);
}

static int teardown(void **state) {
    (void)state;
    lua_close(L);
    return 0;
}

/* Runs a chunk that returns a string; asserts it equals want. */
static void run(const char *chunk, const char *want) {
    if (luaL_dostring(L, chunk) != LUA_OK) fail_msg("%s: %s", chunk, lua_tostring(L, -1));
    const char *got = lua_tostring(L, -1);
    if (!got) fail_msg("%s: returned a %s", chunk, luaL_typename(L, -1));
    if (strcmp(got, want) != 0) fail_msg("%s:\n got  %s\n want %s", chunk, got, want);
    lua_settop(L, 0);
}

/* Runs a chunk that must raise an error whose message holds want. */
static inline void raises(const char *chunk, const char *want) {
    if (luaL_dostring(L, chunk) == LUA_OK) fail_msg("%s: did not raise", chunk);
    const char *got = lua_tostring(L, -1);
    if (!got || !strstr(got, want)) fail_msg("%s:\n got  %s\n want ...%s...", chunk, got ? got : "(no message)", want);
    lua_settop(L, 0);
}
#endif
