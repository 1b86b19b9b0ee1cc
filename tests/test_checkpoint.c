/* test_checkpoint.c -- checkpoint files (state.h, checkpoint.h): sections
 * round trip and stream through many flushes and refills, a golden file pins
 * the on-disk layout, every flipped byte and every truncation is refused
 * before anything is handed out, foreign kinds and unknown section versions
 * are told apart, the forked background writer reports success and failure,
 * a failed write leaves the previous checkpoint and no temp file, and stale
 * temp files of a killed writer are cleaned. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mend/checkpoint.h"
#include "mend/common.h"
#include "mend/mvgauss.h"
#include "mend/scorer.h"
#include "mend/state.h"

#define KIND MEND_CKPT_KIND('T', 'E', 'S', 'T')
#define GOLDEN "tests/fixtures/checkpoint/v2_hello.ckpt"
#define FORMAT1 "tests/fixtures/checkpoint/v1_hello.ckpt"

struct tdir {
    char dir[64];
    char path[128];
};

static int setup(void **state)
{
    struct tdir *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    snprintf(t->dir, sizeof t->dir, "/tmp/mend-ckpt-XXXXXX");
    if (!mkdtemp(t->dir)) {
        free(t);
        return -1;
    }
    snprintf(t->path, sizeof t->path, "%s/state.ckpt", t->dir);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct tdir *t = *state;
    DIR *d = opendir(t->dir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(p, sizeof p, "%s/%s", t->dir, e->d_name);
                unlink(p);
            }
        }
        closedir(d);
    }
    rmdir(t->dir);
    free(t);
    return 0;
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *e;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *buf = malloc(1 << 22);
    assert_non_null(buf);
    *len = fread(buf, 1, 1 << 22, f);
    fclose(f);
    return buf;
}

static void spit(const char *path, const unsigned char *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len)
        assert_int_equal(fwrite(p, 1, len, f), len);
    fclose(f);
}

static int read_code(const char *path, uint32_t kind, uint32_t ver, char *err, size_t errlen)
{
    unsigned char *p = (unsigned char *)1;
    size_t n = 99;
    int rc = mend_ckpt_read(path, kind, ver, &p, &n, err, errlen);
    if (rc != MEND_OK) {
        assert_null(p);
        assert_int_equal(n, 0);
    }
    free(p);
    return rc;
}

static void test_round_trip(void **state)
{
    struct tdir *t = *state;
    char err[256] = "";
    unsigned char data[1000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 7 + 3);
    assert_int_equal(mend_ckpt_write(t->path, KIND, 5, data, sizeof data, err, sizeof err),
                     MEND_OK);
    unsigned char *p = NULL;
    size_t n = 0;
    assert_int_equal(mend_ckpt_read(t->path, KIND, 5, &p, &n, err, sizeof err), MEND_OK);
    assert_int_equal(n, sizeof data);
    assert_memory_equal(p, data, sizeof data);
    free(p);

    /* overwrite with an empty payload: still a valid, distinct checkpoint */
    assert_int_equal(mend_ckpt_write(t->path, KIND, 5, NULL, 0, err, sizeof err), MEND_OK);
    assert_int_equal(mend_ckpt_read(t->path, KIND, 5, &p, &n, err, sizeof err), MEND_OK);
    assert_non_null(p);
    assert_int_equal(n, 0);
    free(p);
    assert_int_equal(count_entries(t->dir), 1); /* no temp files left behind */
}

/* The golden file pins the layout: if this breaks, old checkpoints break. */
static void test_golden_layout(void **state)
{
    struct tdir *t = *state;
    char err[256] = "";
    unsigned char *p = NULL;
    size_t n = 0;
    assert_int_equal(mend_ckpt_read(GOLDEN, KIND, 3, &p, &n, err, sizeof err), MEND_OK);
    assert_int_equal(n, 10);
    assert_memory_equal(p, "hello mend", 10);
    free(p);

    size_t flen;
    unsigned char *g = slurp(GOLDEN, &flen);
    assert_int_equal(flen, 16 + 8 + 4 + 10 + 4 + 4 + 32);
    assert_memory_equal(g, "MENDCKPT", 8);
    assert_int_equal(g[8], 2);            /* format 2, little-endian */
    assert_memory_equal(g + 12, "TEST", 4);
    assert_memory_equal(g + 16, "BLOB", 4); /* the one section */
    assert_int_equal(g[20], 3);           /* its version = payload version */
    assert_int_equal(g[24], 10);          /* one chunk of 10 bytes */
    assert_memory_equal(g + 28, "hello mend", 10);
    assert_int_equal(g[38] | g[39] | g[40] | g[41], 0); /* end of section */
    assert_int_equal(g[42] | g[43] | g[44] | g[45], 0); /* end of sections */

    /* writing the same content reproduces the golden bytes exactly */
    assert_int_equal(mend_ckpt_write(t->path, KIND, 3, "hello mend", 10, err, sizeof err),
                     MEND_OK);
    size_t wlen;
    unsigned char *w = slurp(t->path, &wlen);
    assert_int_equal(wlen, flen);
    assert_memory_equal(w, g, flen);
    free(w);
    free(g);
}

static void test_absent_and_empty(void **state)
{
    struct tdir *t = *state;
    char err[256] = "";
    assert_int_equal(read_code(t->path, KIND, 1, err, sizeof err), MEND_ENOTFOUND);
    assert_non_null(strstr(err, t->path));

    spit(t->path, NULL, 0);
    assert_int_equal(read_code(t->path, KIND, 1, err, sizeof err), MEND_ECORRUPT);
    assert_non_null(strstr(err, "empty"));
    assert_non_null(strstr(err, t->path));
}

static void test_wrong_magic(void **state)
{
    struct tdir *t = *state;
    char err[256];
    const char junk[] = "timestamp,value\n1,2\n3,4\n5,6\n7,8\n9,10\n11,12\n13,14\n";
    spit(t->path, (const unsigned char *)junk, sizeof junk - 1);
    assert_int_equal(read_code(t->path, KIND, 2, err, sizeof err), MEND_ECORRUPT);
    assert_non_null(strstr(err, "not a mend checkpoint"));
}

static void test_kind_and_version(void **state)
{
    struct tdir *t = *state;
    char err[256];
    assert_int_equal(mend_ckpt_write(t->path, KIND, 7, "x", 1, err, sizeof err), MEND_OK);
    assert_int_equal(read_code(t->path, MEND_CKPT_KIND('E', 'N', 'G', '1'), 7, err,
                               sizeof err),
                     MEND_EVERSION);
    assert_non_null(strstr(err, "foreign"));
    /* file from a newer writer */
    assert_int_equal(read_code(t->path, KIND, 6, err, sizeof err), MEND_EVERSION);
    assert_non_null(strstr(err, "version 7 not supported (expected 6)"));
    assert_non_null(strstr(err, t->path));
    assert_int_equal(read_code(t->path, KIND, 7, err, sizeof err), MEND_OK);
}

static void test_too_large(void **state)
{
    struct tdir *t = *state;
    char err[256];
    unsigned char big[4096] = {0};
    assert_int_equal(mend_ckpt_write(t->path, KIND, 1, big, sizeof big, err, sizeof err),
                     MEND_OK);
    unsigned char *p = NULL;
    size_t n = 0;
    assert_int_equal(mend_ckpt_read_max(t->path, KIND, 1, 1024, &p, &n, err, sizeof err),
                     MEND_ECAP);
    assert_null(p);
    assert_non_null(strstr(err, "too large"));
    assert_int_equal(mend_ckpt_read_max(t->path, KIND, 1, 4096, &p, &n, err, sizeof err),
                     MEND_OK);
    assert_int_equal(n, 4096);
    free(p);
}

static void test_failed_write_keeps_old(void **state)
{
    struct tdir *t = *state;
    char err[256] = "";
    assert_int_equal(mend_ckpt_write(t->path, KIND, 1, "old", 3, err, sizeof err), MEND_OK);

    char bad[192];
    snprintf(bad, sizeof bad, "%s/missing/state.ckpt", t->dir);
    assert_int_equal(mend_ckpt_write(bad, KIND, 1, "new", 3, err, sizeof err), MEND_EIO);
    assert_non_null(strstr(err, bad));

    /* a target that cannot be renamed over (a non-empty directory) */
    char dirtarget[192], inner[256];
    snprintf(dirtarget, sizeof dirtarget, "%s/adir", t->dir);
    assert_int_equal(mkdir(dirtarget, 0700), 0);
    snprintf(inner, sizeof inner, "%s/f", dirtarget);
    spit(inner, (const unsigned char *)"z", 1);
    assert_int_equal(mend_ckpt_write(dirtarget, KIND, 1, "new", 3, err, sizeof err), MEND_EIO);
    assert_non_null(strstr(err, "rename"));
    unlink(inner);
    rmdir(dirtarget);

    unsigned char *p = NULL;
    size_t n = 0;
    assert_int_equal(mend_ckpt_read(t->path, KIND, 1, &p, &n, err, sizeof err), MEND_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "old", 3);
    free(p);
    assert_int_equal(count_entries(t->dir), 1); /* only state.ckpt, no temp */
}

static void test_bad_args(void **state)
{
    (void)state;
    unsigned char *p = NULL;
    size_t n = 0;
    assert_int_equal(mend_ckpt_write(NULL, KIND, 1, "x", 1, NULL, 0), MEND_EINVAL);
    assert_int_equal(mend_ckpt_write("", KIND, 1, "x", 1, NULL, 0), MEND_EINVAL);
    assert_int_equal(mend_ckpt_write("/tmp/x", KIND, 1, NULL, 5, NULL, 0), MEND_EINVAL);
    assert_int_equal(mend_ckpt_read(NULL, KIND, 1, &p, &n, NULL, 0), MEND_EINVAL);
    assert_int_equal(mend_ckpt_read("/tmp", KIND, 1, &p, &n, NULL, 0), MEND_EIO);
}

/* ---- sections ----------------------------------------------------------- */

#define SKIND MEND_CKPT_KIND('S', 'E', 'C', 'T')

/* Section i holds i*37 bytes of a pattern seeded by i (some sections empty). */
static uint32_t sec_tag(uint32_t i)
{
    return MEND_CKPT_KIND('s', (char)('a' + i % 26), (char)('a' + (i / 26) % 26), '0' + (char)(i % 10));
}

static unsigned char pat(uint32_t i, size_t k)
{
    return (unsigned char)(i * 131u + k * 7u + (k >> 8));
}

struct many {
    uint32_t n;
};

static int save_many(const void *ctx, struct mend_state_writer *w)
{
    const struct many *m = ctx;
    for (uint32_t i = 0; i < m->n; i++) {
        struct mend_wbuf *b = mend_state_section_begin(w, sec_tag(i), i % 5);
        if (!b)
            return MEND_EINVAL;
        mend_wbuf_u32(b, i);
        for (size_t k = 0; k < (size_t)i * 37u; k++)
            mend_wbuf_u8(b, pat(i, k));
        int rc = mend_state_section_end(w);
        if (rc)
            return rc;
    }
    return MEND_OK;
}

static void check_many(const char *path, uint32_t n)
{
    char err[256] = "";
    struct mend_state_reader *r = NULL;
    int rc = mend_state_read_open(path, SKIND, &r, err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    assert_int_equal(mend_state_read_count(r), n);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t tag, ver;
        struct mend_rbuf *rb;
        assert_int_equal(mend_state_read_section(r, &tag, &ver, &rb), MEND_OK);
        assert_int_equal(tag, sec_tag(i));
        assert_int_equal(ver, i % 5);
        assert_int_equal(mend_rbuf_remaining(rb), 4 + (uint64_t)i * 37u);
        assert_int_equal(mend_rbuf_u32(rb), i);
        for (size_t k = 0; k < (size_t)i * 37u; k++)
            if (mend_rbuf_u8(rb) != pat(i, k))
                fail_msg("section %u byte %zu differs", i, k);
        assert_int_equal(mend_state_read_done(r, err, sizeof err), MEND_OK);
    }
    struct mend_rbuf *rb;
    assert_int_equal(mend_state_read_section(r, NULL, NULL, &rb), MEND_ENOTFOUND);
    mend_state_read_close(r);
}

static void test_sections_round_trip(void **state)
{
    struct tdir *t = *state;
    char err[256] = "";
    struct many m = {300};
    assert_int_equal(mend_state_save(t->path, SKIND, save_many, &m, err, sizeof err), MEND_OK);
    check_many(t->path, m.n);
    struct stat st;
    assert_int_equal(stat(t->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(count_entries(t->dir), 1);
    /* no sections at all is a valid checkpoint too */
    m.n = 0;
    assert_int_equal(mend_state_save(t->path, SKIND, save_many, &m, err, sizeof err), MEND_OK);
    check_many(t->path, 0);
}

/* A tiny flush threshold and many values: the section buffer never grows
 * past the threshold, the file holds one chunk per flush, and the reader
 * serves it through a bounded window, one refill after another. */
#define STREAM_N 200000u
#define STREAM_FLUSH 16u
#define BIG_LEN (3 * MEND_STATE_CHUNK_MAX + 123)

static void test_streaming(void **state)
{
    struct tdir *t = *state;
    char err[256] = "";
    struct mend_state_writer *w;
    assert_int_equal(mend_state_write_begin(t->path, SKIND, &w, err, sizeof err), MEND_OK);
    mend_state_write_set_flush(w, STREAM_FLUSH);
    struct mend_wbuf *b = mend_state_section_begin(w, MEND_CKPT_KIND('V', 'A', 'L', 'S'), 1);
    assert_non_null(b);
    size_t max_cap = 0;
    for (uint64_t i = 0; i < STREAM_N; i++) {
        mend_wbuf_u64(b, i * 0x9e3779b97f4a7c15ULL);
        if (b->cap > max_cap)
            max_cap = b->cap;
    }
    assert_true(max_cap <= 256); /* the first allocation, never grown */
    assert_int_equal(mend_state_section_end(w), MEND_OK);
    /* one write bigger than a chunk goes straight through, in pieces */
    unsigned char *big = malloc(BIG_LEN);
    assert_non_null(big);
    for (size_t k = 0; k < BIG_LEN; k++)
        big[k] = (unsigned char)(k % 251);
    b = mend_state_section_begin(w, MEND_CKPT_KIND('B', 'I', 'G', '0'), 1);
    assert_non_null(b);
    mend_wbuf_bytes(b, big, BIG_LEN);
    assert_true(b->cap <= 256);
    assert_int_equal(mend_state_section_end(w), MEND_OK);
    assert_int_equal(mend_state_write_commit(w, err, sizeof err), MEND_OK);

    struct stat st;
    assert_int_equal(stat(t->path, &st), 0);
    const uint64_t chunks = STREAM_N * 8 / STREAM_FLUSH;
    const uint64_t want = 16 + (8 + chunks * (4 + STREAM_FLUSH) + 4) +
                          (8 + 4 * 4 + BIG_LEN + 4) + 4 + 32;
    assert_int_equal((uint64_t)st.st_size, want);

    struct mend_state_reader *r;
    assert_int_equal(mend_state_read_open(t->path, SKIND, &r, err, sizeof err), MEND_OK);
    struct mend_rbuf *rb;
    uint32_t tag, ver;
    assert_int_equal(mend_state_read_section(r, &tag, &ver, &rb), MEND_OK);
    assert_int_equal(mend_rbuf_remaining(rb), (uint64_t)STREAM_N * 8);
    size_t windows = 0, max_window = 0;
    const unsigned char *last = NULL;
    size_t last_len = 0;
    for (uint64_t i = 0; i < STREAM_N; i++) {
        uint64_t v = mend_rbuf_u64(rb);
        if (v != i * 0x9e3779b97f4a7c15ULL)
            fail_msg("value %llu differs", (unsigned long long)i);
        if (rb->p != last || rb->len != last_len || rb->off <= 8) {
            windows++;
            last = rb->p;
            last_len = rb->len;
        }
        if (rb->len > max_window)
            max_window = rb->len;
    }
    assert_true(max_window <= STREAM_FLUSH); /* chunk-sized windows */
    assert_true(windows >= chunks / 2);
    assert_int_equal(mend_state_read_done(r, err, sizeof err), MEND_OK);
    assert_int_equal(mend_state_read_section(r, &tag, &ver, &rb), MEND_OK);
    assert_int_equal(tag, MEND_CKPT_KIND('B', 'I', 'G', '0'));
    unsigned char *back = malloc(BIG_LEN);
    assert_non_null(back);
    assert_int_equal(mend_rbuf_bytes(rb, back, BIG_LEN), MEND_OK);
    assert_memory_equal(back, big, BIG_LEN);
    assert_int_equal(mend_state_read_done(r, err, sizeof err), MEND_OK);
    mend_state_read_close(r);
    free(back);
    free(big);
}

/* Two small sections, for the damage tests. */
static int save_two(const void *ctx, struct mend_state_writer *w)
{
    (void)ctx;
    struct mend_wbuf *b = mend_state_section_begin(w, MEND_CKPT_KIND('O', 'N', 'E', '1'), 1);
    if (!b)
        return MEND_EINVAL;
    for (uint32_t i = 0; i < 10; i++)
        mend_wbuf_u32(b, i);
    mend_state_section_end(w);
    b = mend_state_section_begin(w, MEND_CKPT_KIND('T', 'W', 'O', '2'), 2);
    if (!b)
        return MEND_EINVAL;
    mend_wbuf_f64(b, 2.5);
    return mend_state_section_end(w);
}

static void test_every_flip_refused(void **state)
{
    struct tdir *t = *state;
    char err[256] = "";
    assert_int_equal(mend_state_save(t->path, SKIND, save_two, NULL, err, sizeof err), MEND_OK);
    size_t flen;
    unsigned char *f = slurp(t->path, &flen);
    assert_int_equal(flen, 16 + (8 + 4 + 40 + 4) + (8 + 4 + 8 + 4) + 4 + 32);
    for (size_t i = 0; i < flen; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            f[i] ^= (unsigned char)(1u << bit);
            spit(t->path, f, flen);
            struct mend_state_reader *r = (struct mend_state_reader *)1;
            err[0] = '\0';
            int rc = mend_state_read_open(t->path, SKIND, &r, err, sizeof err);
            if (rc != MEND_ECORRUPT && !(rc == MEND_EVERSION && i >= 8 && i < 12))
                fail_msg("flip of bit %d at %zu: got %d (%s)", bit, i, rc, err);
            assert_null(r); /* nothing handed out */
            assert_non_null(strstr(err, t->path));
            f[i] ^= (unsigned char)(1u << bit);
        }
    }
    /* a flip in the payload is caught by the checksum, by name */
    f[30] ^= 0x10;
    spit(t->path, f, flen);
    struct mend_state_reader *r;
    assert_int_equal(mend_state_read_open(t->path, SKIND, &r, err, sizeof err), MEND_ECORRUPT);
    assert_non_null(strstr(err, "checksum"));
    f[30] ^= 0x10;
    spit(t->path, f, flen);
    assert_int_equal(mend_state_read_open(t->path, SKIND, &r, err, sizeof err), MEND_OK);
    mend_state_read_close(r);
    free(f);
}

static void test_every_truncation_refused(void **state)
{
    struct tdir *t = *state;
    char err[256];
    assert_int_equal(mend_state_save(t->path, SKIND, save_two, NULL, err, sizeof err), MEND_OK);
    size_t flen;
    unsigned char *f = slurp(t->path, &flen);
    for (size_t cut = 0; cut < flen; cut++) {
        spit(t->path, f, cut);
        struct mend_state_reader *r = (struct mend_state_reader *)1;
        err[0] = '\0';
        assert_int_equal(mend_state_read_open(t->path, SKIND, &r, err, sizeof err),
                         MEND_ECORRUPT);
        assert_null(r);
        if (cut >= 16 && !strstr(err, "truncated"))
            fail_msg("cut at %zu: '%s'", cut, err);
    }
    /* and a byte too many */
    unsigned char *g = malloc(flen + 1);
    assert_non_null(g);
    memcpy(g, f, flen);
    g[flen] = 0;
    spit(t->path, g, flen + 1);
    struct mend_state_reader *r;
    assert_int_equal(mend_state_read_open(t->path, SKIND, &r, err, sizeof err), MEND_ECORRUPT);
    assert_non_null(strstr(err, "trailing"));
    free(g);
    free(f);
}

static void test_foreign_kind_and_format1(void **state)
{
    struct tdir *t = *state;
    char err[256];
    assert_int_equal(mend_state_save(t->path, SKIND, save_two, NULL, err, sizeof err), MEND_OK);
    struct mend_state_reader *r;
    assert_int_equal(mend_state_read_open(t->path, MEND_CKPT_KIND('E', 'N', 'G', '1'), &r, err,
                                          sizeof err),
                     MEND_EVERSION);
    assert_non_null(strstr(err, "foreign checkpoint kind 'SECT' (expected 'ENG1')"));
    /* a file of the one-payload format 1 is refused by version, not as damage */
    assert_int_equal(mend_state_read_open(FORMAT1, KIND, &r, err, sizeof err), MEND_EVERSION);
    assert_non_null(strstr(err, "format version 1 not supported"));
    assert_int_equal(read_code(FORMAT1, KIND, 3, err, sizeof err), MEND_EVERSION);
}

/* A loader of the kind modules write: knows version 1 and 2 of 'TWO2'. */
static int load_two(struct mend_rbuf *rb, uint32_t ver, double *out)
{
    if (ver != 1 && ver != 2)
        return MEND_EVERSION;
    *out = ver == 2 ? mend_rbuf_f64(rb) : (double)mend_rbuf_u32(rb);
    return rb->failed ? MEND_ECORRUPT : MEND_OK;
}

static int save_v9(const void *ctx, struct mend_state_writer *w)
{
    (void)ctx;
    struct mend_wbuf *b = mend_state_section_begin(w, MEND_CKPT_KIND('T', 'W', 'O', '2'), 9);
    if (!b)
        return MEND_EINVAL;
    mend_wbuf_f64(b, 1.0);
    return mend_state_section_end(w);
}

static void test_section_versions_and_exact_reads(void **state)
{
    struct tdir *t = *state;
    char err[256];
    struct mend_state_reader *r;
    struct mend_rbuf *rb;
    uint32_t tag, ver;
    double d = 0;
    /* unknown section version: the reader hands it out, the loader refuses */
    assert_int_equal(mend_state_save(t->path, SKIND, save_v9, NULL, err, sizeof err), MEND_OK);
    assert_int_equal(mend_state_read_open(t->path, SKIND, &r, err, sizeof err), MEND_OK);
    assert_int_equal(mend_state_read_section(r, &tag, &ver, &rb), MEND_OK);
    assert_int_equal(ver, 9);
    assert_int_equal(load_two(rb, ver, &d), MEND_EVERSION);
    mend_state_read_close(r);

    assert_int_equal(mend_state_save(t->path, SKIND, save_two, NULL, err, sizeof err), MEND_OK);
    assert_int_equal(mend_state_read_open(t->path, SKIND, &r, err, sizeof err), MEND_OK);
    /* an unknown section is skipped by asking for the next */
    assert_int_equal(mend_state_read_section(r, &tag, &ver, &rb), MEND_OK);
    assert_int_equal(tag, MEND_CKPT_KIND('O', 'N', 'E', '1'));
    mend_rbuf_u32(rb); /* read 4 of its 40 bytes */
    assert_int_equal(mend_state_read_done(r, err, sizeof err), MEND_ECORRUPT);
    assert_non_null(strstr(err, "'ONE1' has 36 bytes left over"));
    assert_int_equal(mend_state_read_section(r, &tag, &ver, &rb), MEND_OK);
    assert_int_equal(tag, MEND_CKPT_KIND('T', 'W', 'O', '2'));
    assert_int_equal(load_two(rb, ver, &d), MEND_OK);
    assert_float_equal(d, 2.5, 0);
    assert_int_equal(mend_state_read_done(r, err, sizeof err), MEND_OK);
    /* reading past a section's end fails, however the window falls */
    mend_rbuf_u8(rb);
    assert_true(rb->failed);
    assert_int_equal(mend_state_read_done(r, err, sizeof err), MEND_ECORRUPT);
    assert_int_equal(mend_state_read_section(r, &tag, &ver, &rb), MEND_ENOTFOUND);
    mend_state_read_close(r);
}

static void test_writer_misuse(void **state)
{
    struct tdir *t = *state;
    char err[256] = "";
    struct mend_state_writer *w;
    assert_int_equal(mend_state_write_begin(t->path, SKIND, &w, err, sizeof err), MEND_OK);
    assert_null(mend_state_section_begin(w, 0, 1)); /* tag 0 ends the file */
    assert_int_equal(mend_state_write_commit(w, err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "reserved"));
    assert_int_equal(count_entries(t->dir), 0);

    assert_int_equal(mend_state_write_begin(t->path, SKIND, &w, err, sizeof err), MEND_OK);
    assert_non_null(mend_state_section_begin(w, 1, 1));
    assert_int_equal(mend_state_write_commit(w, err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "open"));
    assert_int_equal(count_entries(t->dir), 0);

    assert_int_equal(mend_state_write_begin(t->path, SKIND, &w, err, sizeof err), MEND_OK);
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", mend_state_write_temp_path(w));
    assert_int_equal(access(tmp, F_OK), 0);
    mend_state_write_abort(w);
    assert_int_not_equal(access(tmp, F_OK), 0);
    assert_int_equal(count_entries(t->dir), 0);

    char bad[192];
    snprintf(bad, sizeof bad, "%s/missing/state.ckpt", t->dir);
    assert_int_equal(mend_state_write_begin(bad, SKIND, &w, err, sizeof err), MEND_EIO);
    assert_null(w);
    assert_non_null(strstr(err, bad));
}

/* An existing module's save/load, unchanged, streams through a section:
 * the scorer's state goes out in 7-byte flushes (its larger writes as
 * chunks of their own) and comes back window by window, and the restored
 * scorer continues exactly as the original. */
static int save_scorer(const void *ctx, struct mend_state_writer *w)
{
    const void *const *a = ctx;
    const struct mend_scorer_conf *c = a[1];
    struct mend_wbuf *b = mend_state_section_begin(w, MEND_CKPT_KIND('S', 'C', 'O', 'R'), 1);
    if (!b)
        return MEND_EINVAL;
    int rc = mend_scorer_save(a[0], c, b);
    int rc2 = mend_state_section_end(w);
    return rc ? rc : rc2;
}

static void test_module_state_streams_unchanged(void **state)
{
    struct tdir *t = *state;
    char err[256] = "";
    struct mend_scorer_conf c;
    mend_scorer_conf_defaults(&c);
    size_t sz = mend_scorer_state_size(&c);
    void *a = aligned_alloc(16, (sz + 15) & ~(size_t)15);
    void *b = aligned_alloc(16, (sz + 15) & ~(size_t)15);
    assert_non_null(a);
    assert_non_null(b);
    memset(a, 0, sz);
    memset(b, 0, sz);
    assert_int_equal(mend_scorer_init(a, &c), MEND_OK);
    assert_int_equal(mend_scorer_init(b, &c), MEND_OK);
    int64_t tns = 1700000000LL * 1000000000LL;
    for (int i = 0; i < 2000; i++, tns += 60000000000LL)
        mend_scorer_step(a, &c, tns, 10 + 3 * sin(i / 30.0) + (i % 7) * 0.1, NULL);

    struct mend_state_writer *w;
    assert_int_equal(mend_state_write_begin(t->path, SKIND, &w, err, sizeof err), MEND_OK);
    mend_state_write_set_flush(w, 7);
    const void *ctx[2] = {a, &c};
    assert_int_equal(save_scorer(ctx, w), MEND_OK);
    assert_int_equal(mend_state_write_commit(w, err, sizeof err), MEND_OK);

    struct mend_state_reader *r;
    struct mend_rbuf *rb;
    assert_int_equal(mend_state_read_open(t->path, SKIND, &r, err, sizeof err), MEND_OK);
    assert_int_equal(mend_state_read_section(r, NULL, NULL, &rb), MEND_OK);
    uint64_t total = mend_rbuf_remaining(rb);
    assert_true(total > 100);
    assert_int_equal(mend_scorer_load(b, &c, rb), MEND_OK);
    assert_true(rb->len < total); /* the load went across windows */
    assert_int_equal(mend_state_read_done(r, err, sizeof err), MEND_OK);
    mend_state_read_close(r);
    for (int i = 0; i < 500; i++, tns += 60000000000LL) {
        double x = 10 + 3 * sin(i / 30.0) + (i == 250 ? 40 : 0);
        int ea, eb;
        double sa = mend_scorer_step(a, &c, tns, x, &ea);
        double sb = mend_scorer_step(b, &c, tns, x, &eb);
        assert_true(sa == sb);
        assert_int_equal(ea, eb);
    }
    mend_scorer_fini(a, &c);
    mend_scorer_fini(b, &c);
    free(a);
    free(b);
}

/* The multivariate model's load checks its size against what is left
 * (mend_rbuf_remaining, not the window) so it streams through tiny chunks. */
static void test_mvg_streams(void **state)
{
    struct tdir *t = *state;
    char err[256] = "";
    struct mend_mvg *m = NULL, *m2 = NULL;
    assert_int_equal(mend_mvg_new(8, NULL, &m), MEND_OK);
    double x[8];
    for (int i = 0; i < 300; i++) {
        for (int k = 0; k < 8; k++)
            x[k] = (double)((i * (k + 1)) % 7) + 0.01 * k;
        assert_int_equal(mend_mvg_learn(m, x), MEND_OK);
    }
    struct mend_state_writer *w;
    assert_int_equal(mend_state_write_begin(t->path, SKIND, &w, err, sizeof err), MEND_OK);
    mend_state_write_set_flush(w, 16);
    struct mend_wbuf *b = mend_state_section_begin(w, MEND_CKPT_KIND('M', 'V', 'G', '1'), 1);
    assert_non_null(b);
    assert_int_equal(mend_mvg_save(m, b), MEND_OK);
    assert_int_equal(mend_state_section_end(w), MEND_OK);
    assert_int_equal(mend_state_write_commit(w, err, sizeof err), MEND_OK);

    struct mend_state_reader *r;
    struct mend_rbuf *rb;
    assert_int_equal(mend_state_read_open(t->path, SKIND, &r, err, sizeof err), MEND_OK);
    assert_int_equal(mend_state_read_section(r, NULL, NULL, &rb), MEND_OK);
    assert_int_equal(mend_mvg_load(rb, NULL, &m2), MEND_OK);
    assert_int_equal(mend_state_read_done(r, err, sizeof err), MEND_OK);
    mend_state_read_close(r);
    assert_int_equal(mend_mvg_dim(m2), 8);
    for (int k = 0; k < 8; k++)
        x[k] = 3.0 + k;
    double s1, s2, d1, d2;
    assert_int_equal(mend_mvg_score(m, x, &s1, &d1, NULL), MEND_OK);
    assert_int_equal(mend_mvg_score(m2, x, &s2, &d2, NULL), MEND_OK);
    assert_true(s1 == s2 && d1 == d2);
    mend_mvg_free(m);
    mend_mvg_free(m2);
}

/* ---- background writer ---------------------------------------------------- */

static int save_fail(const void *ctx, struct mend_state_writer *w)
{
    (void)ctx;
    (void)w;
    return MEND_ECAP;
}

/* Runs in the child: the file may not grow past 4 KiB, so the write fails
 * part-way as on a full disk. */
static int save_too_big(const void *ctx, struct mend_state_writer *w)
{
    (void)ctx;
    struct rlimit rl = {4096, 4096};
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
        return MEND_EINVAL;
    struct mend_wbuf *b = mend_state_section_begin(w, 1, 1);
    for (int i = 0; i < 200000 && b; i++)
        mend_wbuf_u64(b, (uint64_t)i);
    return mend_state_section_end(w);
}

/* Writes half a checkpoint, then dies as a SIGKILL would leave it. */
static int save_then_die(const void *ctx, struct mend_state_writer *w)
{
    (void)ctx;
    struct mend_wbuf *b = mend_state_section_begin(w, 1, 1);
    for (int i = 0; i < 100000 && b; i++)
        mend_wbuf_u64(b, (uint64_t)i);
    raise(SIGKILL);
    return MEND_OK;
}

static void test_background_writer(void **state)
{
    struct tdir *t = *state;
    char err[256] = "";
    struct many m = {40};
    struct mend_state_bg *bg;
    assert_int_equal(mend_state_save_bg(t->path, SKIND, save_many, &m, &bg, err, sizeof err),
                     MEND_OK);
    /* the parent's copy changes at once; the child saves the state at the fork */
    m.n = 3;
    struct pollfd pfd = {.fd = mend_state_bg_fd(bg), .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 10000), 1);
    int rc;
    while ((rc = mend_state_bg_reap(bg, 0, err, sizeof err)) == MEND_EAGAIN)
        usleep(1000);
    if (rc)
        fail_msg("%s", err);
    assert_int_equal(mend_state_bg_reap(bg, 1, err, sizeof err), MEND_OK); /* sticky */
    mend_state_bg_free(bg);
    check_many(t->path, 40);

    /* a failing save: its code and message come back; the old file stays */
    assert_int_equal(mend_state_save_bg(t->path, SKIND, save_fail, NULL, &bg, err, sizeof err),
                     MEND_OK);
    assert_int_equal(mend_state_bg_reap(bg, 1, err, sizeof err), MEND_ECAP);
    assert_non_null(strstr(err, t->path));
    assert_non_null(strstr(err, "limit reached"));
    mend_state_bg_free(bg);
    check_many(t->path, 40);

    /* a write that cannot happen (no such directory) */
    char bad[192];
    snprintf(bad, sizeof bad, "%s/missing/state.ckpt", t->dir);
    assert_int_equal(mend_state_save_bg(bad, SKIND, save_many, &m, &bg, err, sizeof err), MEND_OK);
    assert_int_equal(mend_state_bg_reap(bg, 1, err, sizeof err), MEND_EIO);
    assert_non_null(strstr(err, "cannot create temporary file"));
    mend_state_bg_free(bg);

    /* a write that fails part-way (file size limit): EIO with the reason,
     * temp file gone, old checkpoint intact */
    assert_int_equal(mend_state_save_bg(t->path, SKIND, save_too_big, NULL, &bg, err, sizeof err),
                     MEND_OK);
    assert_int_equal(mend_state_bg_reap(bg, 1, err, sizeof err), MEND_EIO);
    assert_non_null(strstr(err, "File too large"));
    mend_state_bg_free(bg);
    assert_int_equal(count_entries(t->dir), 1);
    check_many(t->path, 40);

    /* a writer killed mid-way: reported, and its temp file removed */
    assert_int_equal(mend_state_save_bg(t->path, SKIND, save_then_die, NULL, &bg, err, sizeof err),
                     MEND_OK);
    assert_int_equal(mend_state_bg_reap(bg, 1, err, sizeof err), MEND_EIO);
    assert_non_null(strstr(err, "killed by signal 9"));
    mend_state_bg_free(bg);
    assert_int_equal(count_entries(t->dir), 1);
    check_many(t->path, 40);

    /* freeing a running writer waits for it */
    assert_int_equal(mend_state_save_bg(t->path, SKIND, save_many, &m, &bg, err, sizeof err),
                     MEND_OK);
    mend_state_bg_free(bg);
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1); /* no child left */
    check_many(t->path, 3);
}

/* ---- defect 4: temporary files of a killed writer ------------------------- */

static void touch(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    spit(p, (const unsigned char *)"x", 1);
}

static void test_clean_stale_temps(void **state)
{
    struct tdir *t = *state;
    char err[256] = "";
    /* a real one: a writer SIGKILLed during a checkpoint */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct mend_state_writer *w;
        if (mend_state_write_begin(t->path, SKIND, &w, NULL, 0) == MEND_OK)
            save_then_die(NULL, w);
        _exit(1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(count_entries(t->dir), 1); /* state.ckpt.tmp.XXXXXX */
    touch(t->dir, "state.ckpt");
    touch(t->dir, "state.ckpt.tmp.Ab9xYz");     /* another stale one */
    touch(t->dir, "state.ckpt.tmp.short");      /* not mkstemp's shape: kept */
    touch(t->dir, "state.ckpt.tmp.Ab9xYz.bak"); /* kept */
    touch(t->dir, "other.ckpt.tmp.Ab9xYz");     /* another path's: kept */
    touch(t->dir, "xstate.ckpt.tmp.Ab9xYz");    /* kept */
    unsigned removed = 0;
    assert_int_equal(mend_state_clean_temps(t->path, &removed, err, sizeof err), MEND_OK);
    assert_int_equal(removed, 2);
    assert_int_equal(count_entries(t->dir), 5);
    assert_int_equal(access(t->path, F_OK), 0);
    /* nothing left to clean; a missing directory is nothing to clean */
    assert_int_equal(mend_state_clean_temps(t->path, &removed, err, sizeof err), MEND_OK);
    assert_int_equal(removed, 0);
    char bad[192];
    snprintf(bad, sizeof bad, "%s/missing/state.ckpt", t->dir);
    assert_int_equal(mend_state_clean_temps(bad, &removed, err, sizeof err), MEND_OK);
    /* relative paths work on the current directory's entries */
    assert_int_equal(mend_state_clean_temps("no-such-mend-state.ckpt", &removed, err, sizeof err),
                     MEND_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(mend_state_clean_temps("", &removed, err, sizeof err), MEND_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_golden_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_absent_and_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_magic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kind_and_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_keeps_old, setup, teardown),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test_setup_teardown(test_sections_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_streaming, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_flip_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_truncation_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_kind_and_format1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_section_versions_and_exact_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_misuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_module_state_streams_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mvg_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_background_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clean_stale_temps, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
