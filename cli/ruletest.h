/* `mxdiag rules test`: replays recorded checks and compares their findings
 * with the expected ones. */
#ifndef MX_RULETEST_H
#define MX_RULETEST_H
#include <stddef.h>
#include <stdio.h>

typedef struct mx_rules_test_opts {
    char **paths;            /* test dirs, or dirs searched for them */
    size_t npaths;
    const char *shipped_dir;
    const char **site_dirs;  /* --rules-dir */
    size_t nsite_dirs;
    int verbose;
    int update;              /* rewrite expect.json from the actual findings */
} mx_rules_test_opts;

/* Prints PASS/FAIL per test (with a diff) and a total; 0 when all pass. */
int mx_rules_test(const mx_rules_test_opts *o, FILE *out);
/* `rules test --record DIR -- check ARGS...`: records the check into a new
 * test DIR and writes its expect.json (see ruletest.c); 0 when it passes. */
/* `rules check DIR...` (rules_lint.c): problems as FILE:LINE: message; 0 none, 1 some. */
int mx_rules_check(int ndirs, char **dirs, const char *shipped_dir);
int mx_rules_test_record(const char *dir, char **args, int nargs, const char *shipped_dir, FILE *out);

#endif
