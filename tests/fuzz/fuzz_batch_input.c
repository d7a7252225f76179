/* Batch domain lists (engine/batch_input.c): YAML through libyaml, or plain
 * one-per-line, read from a memory file. Bit 0 of the first byte picks plain.
 * Reading must end (END or FATAL) within as many steps as the file has bytes,
 * every message must name the place, every entry must have a target. The
 * bytes are also read as a configuration file (mx_config_read). */
#include <sys/mman.h>
#include <unistd.h>
#include "fuzz_common.h"
#include "batch_input.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int plain = data[0] & 1;
    data++, size--;
    int fd = memfd_create("fuzz_batch", 0);
    if (fd < 0) abort();
    if (size && write(fd, data, size) != (ssize_t)size) abort();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

    char err[512];
    err[0] = 0;
    mx_batch_input *in = mx_batch_open(path, plain, err, sizeof err);
    if (!in) {
        FUZZ_CHECK(err[0]);
        close(fd);
        return 0;
    }
    mx_json *defaults = NULL;
    int rc = mx_batch_begin(in, &defaults, err, sizeof err);
    if (rc == MX_BATCH_FATAL) FUZZ_CHECK(defaults == NULL); /* nothing for the caller to free */
    if (defaults) {
        FUZZ_CHECK(defaults->type == MX_JOBJ);
        mx_buf b = MX_BUF_INIT;
        mx_json_write(&b, defaults, -1);
        mx_buf_free(&b);
        mx_json_free(defaults);
    }
    if (rc == MX_BATCH_FATAL) {
        FUZZ_CHECK(err[0]);
    } else {
        FUZZ_CHECK(rc == MX_BATCH_ENTRY);
        size_t steps = 0;
        for (;;) {
            mx_batch_entry e;
            memset(&e, 0, sizeof e);
            err[0] = 0;
            rc = mx_batch_next(in, &e, err, sizeof err);
            FUZZ_CHECK(++steps <= size + 2);
            if (rc == MX_BATCH_ENTRY) {
                FUZZ_CHECK(e.target[0] && memchr(e.target, 0, sizeof e.target));
                FUZZ_CHECK(!e.options || e.options->type == MX_JOBJ);
                mx_batch_entry_clear(&e);
                continue;
            }
            mx_batch_entry_clear(&e);
            if (rc == MX_BATCH_BAD) { FUZZ_CHECK(err[0]); continue; }
            FUZZ_CHECK(rc == MX_BATCH_END || (rc == MX_BATCH_FATAL && err[0]));
            break;
        }
    }
    mx_batch_close(in);
    mx_batch_count(path, plain);
    /* the same bytes as a configuration file (one map of settings) */
    mx_json *settings = NULL;
    err[0] = 0;
    if (mx_config_read(path, &settings, err, sizeof err) == 0) {
        FUZZ_CHECK(settings && settings->type == MX_JOBJ);
        mx_json_free(settings);
    } else {
        FUZZ_CHECK(settings == NULL && err[0]);
    }
    close(fd);
    return 0;
}
