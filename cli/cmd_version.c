/* mxdiag version (also check --version). */
#include <stdio.h>
#include <ares.h>
#include <lua.h>
#include <openssl/crypto.h>
#include <yaml.h>
#include "cli.h"

/* mxdiag version: what a bug report needs. The libraries' versions are the
 * ones loaded at run time (c-ares, OpenSSL, libyaml report them); Lua has no
 * run-time release query, so its line is the headers' release it was built with. */
void mx_print_version(void) {
    printf("mxdiag %s", MXDIAG_VERSION);
    if (MXDIAG_GIT_REV[0]) printf(" (git %s)", MXDIAG_GIT_REV);
    printf("\n");
    printf("c-ares %s (built with %s)\n", ares_version(NULL), ARES_VERSION_STR);
    printf("%s (built with %s)\n", OpenSSL_version(OPENSSL_VERSION), OPENSSL_VERSION_TEXT);
    printf("%s\n", LUA_RELEASE);
    printf("libyaml %s\n", yaml_get_version_string());
}

