/* test_checkpoint.c -- checkpoint files: round trip, a golden file that pins
 * the on-disk layout, every kind of damage refused with the right code, and
 * a failed write that leaves the previous checkpoint and no temp file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mend/checkpoint.h"
#include "mend/common.h"

#define KIND MEND_CKPT_KIND('T', 'E', 'S', 'T')
#define GOLDEN "tests/fixtures/checkpoint/v1_hello.ckpt"

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
    unsigned char *buf = malloc(1 << 16);
    assert_non_null(buf);
    *len = fread(buf, 1, 1 << 16, f);
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
    assert_int_equal(flen, 28 + 10 + 32);
    assert_memory_equal(g, "MENDCKPT", 8);
    assert_int_equal(g[8], 1);            /* format 1, little-endian */
    assert_memory_equal(g + 12, "TEST", 4);
    assert_int_equal(g[16], 3);           /* payload version */
    assert_int_equal(g[20], 10);          /* payload length */
    assert_int_equal(g[27], 0);

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

static void write_sample(struct tdir *t, unsigned char **file, size_t *flen)
{
    char err[256] = "";
    const char msg[] = "the quick brown fox jumps over the lazy dog";
    assert_int_equal(mend_ckpt_write(t->path, KIND, 2, msg, sizeof msg, err, sizeof err),
                     MEND_OK);
    *file = slurp(t->path, flen);
    assert_int_equal(*flen, 28 + sizeof msg + 32);
}

static void test_flipped_bytes(void **state)
{
    struct tdir *t = *state;
    char err[256];
    unsigned char *f;
    size_t flen;
    write_sample(t, &f, &flen);
    /* magic, format, kind, version, length, payload start/end, checksum */
    const size_t where[] = {0, 7, 8, 12, 16, 20, 27, 28, 50, flen - 33, flen - 32, flen - 1};
    const int want[] = {MEND_ECORRUPT, MEND_ECORRUPT, MEND_EVERSION, MEND_ECORRUPT,
                        MEND_ECORRUPT, MEND_ECORRUPT, MEND_ECORRUPT, MEND_ECORRUPT,
                        MEND_ECORRUPT, MEND_ECORRUPT, MEND_ECORRUPT, MEND_ECORRUPT};
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
        f[where[i]] ^= 0x01;
        spit(t->path, f, flen);
        err[0] = '\0';
        int rc = read_code(t->path, KIND, 2, err, sizeof err);
        if (rc != want[i])
            print_error("flip at %zu: got %d (%s)\n", where[i], rc, err);
        assert_int_equal(rc, want[i]);
        assert_non_null(strstr(err, t->path));
        f[where[i]] ^= 0x01;
    }
    /* a flip inside kind or payload is caught by the checksum */
    f[13] ^= 0x40;
    spit(t->path, f, flen);
    assert_int_equal(read_code(t->path, KIND, 2, err, sizeof err), MEND_ECORRUPT);
    assert_non_null(strstr(err, "checksum"));
    f[13] ^= 0x40;
    f[flen - 1] ^= 0x80;
    spit(t->path, f, flen);
    assert_int_equal(read_code(t->path, KIND, 2, err, sizeof err), MEND_ECORRUPT);
    assert_non_null(strstr(err, "checksum"));
    f[flen - 1] ^= 0x80;
    /* restored file reads again */
    spit(t->path, f, flen);
    assert_int_equal(read_code(t->path, KIND, 2, err, sizeof err), MEND_OK);
    free(f);
}

static void test_truncated(void **state)
{
    struct tdir *t = *state;
    char err[256];
    unsigned char *f;
    size_t flen;
    write_sample(t, &f, &flen);
    const size_t cut[] = {1, 8, 12, 27, 28, 40, flen - 32, flen - 1};
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
        spit(t->path, f, cut[i]);
        err[0] = '\0';
        assert_int_equal(read_code(t->path, KIND, 2, err, sizeof err), MEND_ECORRUPT);
        assert_non_null(strstr(err, t->path));
        if (cut[i] >= 8)
            assert_non_null(strstr(err, "truncated"));
    }
    /* trailing garbage is refused too */
    unsigned char *g = malloc(flen + 1);
    assert_non_null(g);
    memcpy(g, f, flen);
    g[flen] = 0;
    spit(t->path, g, flen + 1);
    assert_int_equal(read_code(t->path, KIND, 2, err, sizeof err), MEND_ECORRUPT);
    free(g);
    free(f);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_golden_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_absent_and_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_magic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kind_and_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_keeps_old, setup, teardown),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
