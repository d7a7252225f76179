/* Streaming log reader (plain and gzip) through a memory file. The first
 * byte picks how the payload becomes a file: as is (the fuzzer may write a
 * gzip header itself), gzip-compressed and possibly truncated or with a
 * flipped byte, as two concatenated gzip members with trailing bytes, or
 * repeated to make lines longer than MX_LOG_MAX_LINE. Bit 0x10 reads the file
 * through mx_log_stream (reader + parser + filter) instead.
 * Invariants: no line holds '\n' or exceeds the limit; plain input comes back
 * byte for byte; an intact gzip file reads without error; the stream's counts
 * account for every line. */
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>
#include "fuzz_common.h"
#include "buf.h"
#include "logread.h"

static void gz_append(mx_buf *out, const uint8_t *p, size_t n) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    size_t bound = deflateBound(&zs, (uLong)n);
    mx_buf_reserve(out, bound + 1);
    zs.next_in = (Bytef *)p;
    zs.avail_in = (uInt)n;
    zs.next_out = (Bytef *)out->data + out->len;
    zs.avail_out = (uInt)bound;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) abort();
    out->len += bound - zs.avail_out;
    deflateEnd(&zs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    int mode = data[0] & 3, via_stream = data[0] & 0x10;
    uint8_t arg = data[1];
    const uint8_t *pl = data + 2;
    size_t pn = size - 2;

    mx_buf file = MX_BUF_INIT;
    int intact_gzip = 0, plain = 0;
    switch (mode) {
    case 0:
        mx_buf_put(&file, pl, pn);
        plain = !(pn >= 2 && pl[0] == 0x1f && pl[1] == 0x8b);
        break;
    case 1:
        gz_append(&file, pl, pn);
        if (arg & 0x80) file.len = file.len * (arg & 0x7f) / 128;       /* truncated */
        else if (arg && file.len) file.data[arg % file.len] ^= (char)arg; /* damaged */
        else intact_gzip = 1;
        break;
    case 2:
        gz_append(&file, pl, pn / 2);
        gz_append(&file, pl + pn / 2, pn - pn / 2);
        intact_gzip = !(arg & 1);
        if (arg & 1) mx_buf_put(&file, "\x1f\x8bjunk", 6);
        break;
    case 3: {
        size_t times = 1 + arg;
        for (size_t i = 0; i < times && pn; i++) mx_buf_put(&file, pl, pn);
        plain = !(pn >= 2 && pl[0] == 0x1f && pl[1] == 0x8b);
        break;
    }
    }

    int fd = memfd_create("fuzz_logread", 0);
    if (fd < 0) abort();
    if (file.len && write(fd, file.data, file.len) != (ssize_t)file.len) abort();
    lseek(fd, 0, SEEK_SET);

    if (via_stream) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        const char *paths[] = {path};
        mx_log_filter f;
        mx_log_filter_init(&f);
        if (arg & 2) f.domain = "example.com";
        f.failures_only = arg & 4;
        mx_log_stream *s = mx_log_stream_new(paths, 1, 1710072000, 1, &f);
        mx_log_event ev;
        uint64_t events = 0;
        while (mx_log_stream_next(s, &ev) == 1) events++;
        const mx_log_stats *st = mx_log_stream_stats(s);
        FUZZ_CHECK(st->events >= events);
        /* every line is counted once as an event, filtered, ignored or
         * unparsed; a line naming several recipients (Sendmail "to=a,b")
         * adds an event or a filtered count per further recipient */
        FUZZ_CHECK(st->ignored + st->unparsed <= st->lines);
        FUZZ_CHECK(st->events + st->filtered + st->ignored + st->unparsed >= st->lines);
        uint64_t reasons = 0;
        for (int i = 0; i < MX_LOG_R__COUNT; i++) reasons += st->by_reason[i];
        FUZZ_CHECK(reasons == st->ignored + st->unparsed);
        const mx_log_file_stat *fs;
        FUZZ_CHECK(mx_log_stream_files(s, &fs) == 1);
        if (intact_gzip) FUZZ_CHECK(fs[0].ok && !fs[0].error[0]);
        mx_log_stream_free(s);
        close(fd);
        mx_buf_free(&file);
        return 0;
    }

    mx_log_reader *r = mx_log_reader_fdopen(fd, 1, "fuzz");
    mx_buf back = MX_BUF_INIT;
    const char *line;
    size_t len;
    int rc, nlines = 0;
    while ((rc = mx_log_reader_next(r, &line, &len)) == 1) {
        FUZZ_CHECK(len <= MX_LOG_MAX_LINE);
        FUZZ_CHECK(!memchr(line, '\n', len));
        if (nlines++) mx_buf_putc(&back, '\n');
        mx_buf_put(&back, line, len);
    }
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc == -1) FUZZ_CHECK(mx_log_reader_error(r) != NULL);
    if (intact_gzip) FUZZ_CHECK(rc == 0 && mx_log_reader_is_gzip(r) && mx_log_reader_bytes(r) == pn);
    if (plain) {
        FUZZ_CHECK(rc == 0 && !mx_log_reader_is_gzip(r));
        FUZZ_CHECK(mx_log_reader_bytes(r) == file.len);
        if (mx_log_reader_long_lines(r) == 0) {
            /* the lines, rejoined, are the file (a final '\n' is not a line) */
            size_t fl = file.len;
            if (fl && file.data[fl - 1] == '\n') fl--;
            FUZZ_CHECK(back.len == fl && (fl == 0 || memcmp(back.data, file.data, fl) == 0));
        }
    }
    mx_log_reader_close(r);
    mx_buf_free(&back);
    mx_buf_free(&file);
    return 0;
}
