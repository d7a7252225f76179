/* Rule-table validation: the input is the text of a rule file, loaded by
 * mx_rt_load_rules from a private directory (with the shipped rules/lib for
 * require). Loading must end in success or an error that names the file,
 * whatever the text does: syntax errors, wrong field types, runaway loops
 * (instruction budget while loading), huge allocations (Lua memory cap). */
#include <stdlib.h>
#include <unistd.h>
#include "fuzz_common.h"
#include "json.h"
#include "runtime.h"

static char dir[64];
static char file[128];

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/mxdiag-fuzz-rules.XXXXXX");
    if (!mkdtemp(dir)) abort();
    char lib[128];
    snprintf(lib, sizeof lib, "%s/lib", dir);
    if (symlink(MXDIAG_SOURCE_RULES "/lib", lib) != 0) abort();
    snprintf(file, sizeof file, "%s/10-fuzz.lua", dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) setup();
    FILE *f = fopen(file, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);

    mx_rt_opts o;
    memset(&o, 0, sizeof o);
    o.shipped_dir = dir;
    o.resolvers = "127.0.0.1";
    o.timeout_ms = 1000;
    char err[1024];
    err[0] = 0;
    mx_rt *rt = mx_rt_new(&o, err, sizeof err);
    if (!rt) { fprintf(stderr, "mx_rt_new: %s\n", err); abort(); }
    if (mx_rt_load_rules(rt, err, sizeof err) == 0) {
        mx_json *j = mx_rt_rules_json(rt);
        FUZZ_CHECK(j && j->type == MX_JARR && j->u.c.len == 1);
        mx_buf b = MX_BUF_INIT;
        mx_json_write(&b, j, -1);
        mx_buf_free(&b);
        mx_json_free(j);
    } else {
        FUZZ_CHECK(strstr(err, "10-fuzz.lua") != NULL || strstr(err, "rule") != NULL);
    }
    mx_rt_free(rt);
    return 0;
}
