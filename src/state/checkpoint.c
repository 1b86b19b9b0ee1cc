/* checkpoint.c -- atomic, checksummed checkpoint files (layout in
 * checkpoint.h). The write side goes temp file -> fsync -> rename -> fsync
 * of the directory so a crash at any point leaves the previous checkpoint
 * readable; the read side loads the whole file and verifies magic, format,
 * length and SHA-256 before it interprets kind and version, so a flipped
 * bit is reported as corruption rather than as a confusing foreign kind. */
#include "mend/checkpoint.h"
#include "mend/common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#define TEMP_SUFFIX ".tmp.XXXXXX"

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void put_u32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *b)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)b[i] << (8 * i);
    return v;
}

static uint64_t get_u64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

/* SHA-256 over two pieces (header and payload) without concatenating them. */
static int sha256_2(const void *a, size_t alen, const void *b, size_t blen,
                    unsigned char out[MEND_CKPT_DIGEST_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int outlen = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, a, alen) == 1 &&
             (blen == 0 || EVP_DigestUpdate(ctx, b, blen) == 1) &&
             EVP_DigestFinal_ex(ctx, out, &outlen) == 1 &&
             outlen == MEND_CKPT_DIGEST_LEN;
    EVP_MD_CTX_free(ctx);
    return ok ? MEND_OK : MEND_ENOMEM;
}

static int write_all(int fd, const void *p, size_t n)
{
    const unsigned char *s = p;
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        s += (size_t)w;
        n -= (size_t)w;
    }
    return 0;
}

/* Directory part of path ("." when there is no slash); heap string. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    size_t n = (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

int mend_ckpt_write(const char *path, uint32_t kind, uint32_t version,
                    const void *payload, size_t len, char *err, size_t errlen)
{
    if (!path || !*path || (!payload && len > 0)) {
        set_err(err, errlen, "checkpoint: invalid arguments");
        return MEND_EINVAL;
    }
    if (len > MEND_CKPT_MAX_DEFAULT) {
        set_err(err, errlen, "%s: checkpoint payload of %zu bytes is too large (cap %zu)",
                path, len, MEND_CKPT_MAX_DEFAULT);
        return MEND_ECAP;
    }

    unsigned char hdr[MEND_CKPT_HEADER_LEN];
    memcpy(hdr, MEND_CKPT_MAGIC, 8);
    put_u32(hdr + 8, MEND_CKPT_FORMAT);
    put_u32(hdr + 12, kind);
    put_u32(hdr + 16, version);
    put_u64(hdr + 20, (uint64_t)len);
    unsigned char dig[MEND_CKPT_DIGEST_LEN];
    if (sha256_2(hdr, sizeof hdr, payload, len, dig) != MEND_OK) {
        set_err(err, errlen, "%s: cannot compute SHA-256", path);
        return MEND_ENOMEM;
    }

    size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof TEMP_SUFFIX);
    char *dir = dir_of(path);
    if (!tmp || !dir) {
        free(tmp);
        free(dir);
        set_err(err, errlen, "%s: out of memory", path);
        return MEND_ENOMEM;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, TEMP_SUFFIX, sizeof TEMP_SUFFIX);

    int rc = MEND_EIO;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        set_err(err, errlen, "%s: cannot create temporary file: %s", path, strerror(errno));
        goto out;
    }
    if (write_all(fd, hdr, sizeof hdr) < 0 || write_all(fd, payload, len) < 0 ||
        write_all(fd, dig, sizeof dig) < 0) {
        set_err(err, errlen, "%s: write to %s failed: %s", path, tmp, strerror(errno));
        goto fail_unlink;
    }
    if (fsync(fd) < 0) {
        set_err(err, errlen, "%s: fsync of %s failed: %s", path, tmp, strerror(errno));
        goto fail_unlink;
    }
    if (close(fd) < 0) {
        fd = -1;
        set_err(err, errlen, "%s: close of %s failed: %s", path, tmp, strerror(errno));
        goto fail_unlink;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        set_err(err, errlen, "%s: rename from %s failed: %s", path, tmp, strerror(errno));
        goto fail_unlink;
    }
    /* The rename is only durable once the directory entry is on disk. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0 || fsync(dfd) < 0) {
        set_err(err, errlen, "%s: renamed into place, but fsync of directory %s failed: %s",
                path, dir, strerror(errno));
        if (dfd >= 0)
            close(dfd);
        goto out;
    }
    close(dfd);
    rc = MEND_OK;
    goto out;

fail_unlink:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
out:
    free(tmp);
    free(dir);
    return rc;
}

int mend_ckpt_read(const char *path, uint32_t kind, uint32_t version,
                   unsigned char **payload, size_t *len, char *err, size_t errlen)
{
    return mend_ckpt_read_max(path, kind, version, MEND_CKPT_MAX_DEFAULT, payload, len,
                              err, errlen);
}

/* Reads exactly size bytes; the file must not grow or shrink under us. */
static int read_whole(int fd, unsigned char *buf, size_t size, size_t *got)
{
    size_t off = 0;
    while (off < size) {
        ssize_t r = read(fd, buf + off, size - off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            break;
        off += (size_t)r;
    }
    *got = off;
    return 0;
}

int mend_ckpt_read_max(const char *path, uint32_t kind, uint32_t version,
                       size_t max_len, unsigned char **payload, size_t *len,
                       char *err, size_t errlen)
{
    if (payload)
        *payload = NULL;
    if (len)
        *len = 0;
    if (!path || !payload || !len) {
        set_err(err, errlen, "checkpoint: invalid arguments");
        return MEND_EINVAL;
    }
    if (max_len > MEND_CKPT_MAX_DEFAULT)
        max_len = MEND_CKPT_MAX_DEFAULT;

    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        int e = errno;
        set_err(err, errlen, "%s: cannot open checkpoint: %s", path, strerror(e));
        return e == ENOENT ? MEND_ENOTFOUND : MEND_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        set_err(err, errlen, "%s: not a regular file", path);
        close(fd);
        return MEND_EIO;
    }
    const size_t overhead = MEND_CKPT_HEADER_LEN + MEND_CKPT_DIGEST_LEN;
    size_t fsize = (size_t)st.st_size;
    if (st.st_size < 0 || (uint64_t)st.st_size > (uint64_t)max_len + overhead) {
        set_err(err, errlen, "%s: checkpoint too large (%lld bytes, cap %zu)", path,
                (long long)st.st_size, max_len + overhead);
        close(fd);
        return MEND_ECAP;
    }

    unsigned char *buf = malloc(fsize ? fsize : 1);
    if (!buf) {
        set_err(err, errlen, "%s: out of memory reading checkpoint", path);
        close(fd);
        return MEND_ENOMEM;
    }
    size_t got = 0;
    int rrc = read_whole(fd, buf, fsize, &got);
    int rerrno = errno;
    close(fd);
    int rc = MEND_ECORRUPT;
    if (rrc < 0) {
        set_err(err, errlen, "%s: read failed: %s", path, strerror(rerrno));
        rc = MEND_EIO;
        goto fail;
    }
    fsize = got;

    if (fsize == 0) {
        set_err(err, errlen, "%s: empty file, not a mend checkpoint", path);
        goto fail;
    }
    if (fsize < 8 || memcmp(buf, MEND_CKPT_MAGIC, 8) != 0) {
        set_err(err, errlen, "%s: not a mend checkpoint (bad magic)", path);
        goto fail;
    }
    if (fsize < MEND_CKPT_HEADER_LEN) {
        set_err(err, errlen, "%s: truncated checkpoint (%zu bytes, header needs %u)",
                path, fsize, MEND_CKPT_HEADER_LEN);
        goto fail;
    }
    uint32_t format = get_u32(buf + 8);
    if (format != MEND_CKPT_FORMAT) {
        set_err(err, errlen, "%s: checkpoint format version %u not supported (expected %u)",
                path, format, MEND_CKPT_FORMAT);
        rc = MEND_EVERSION;
        goto fail;
    }
    if (fsize < overhead) {
        set_err(err, errlen, "%s: truncated checkpoint (%zu bytes, at least %zu needed)",
                path, fsize, overhead);
        goto fail;
    }
    /* fsize is already capped, so a length within it is within the cap too. */
    uint64_t plen = get_u64(buf + 20);
    if (plen > fsize - overhead) {
        set_err(err, errlen, "%s: truncated checkpoint (%zu bytes, header declares %llu)",
                path, fsize, (unsigned long long)plen + overhead);
        goto fail;
    }
    if (plen < fsize - overhead) {
        set_err(err, errlen, "%s: %llu trailing bytes after checkpoint", path,
                (unsigned long long)(fsize - overhead - plen));
        goto fail;
    }
    unsigned char dig[MEND_CKPT_DIGEST_LEN];
    if (sha256_2(buf, MEND_CKPT_HEADER_LEN, buf + MEND_CKPT_HEADER_LEN, (size_t)plen,
                 dig) != MEND_OK) {
        set_err(err, errlen, "%s: cannot compute SHA-256", path);
        rc = MEND_ENOMEM;
        goto fail;
    }
    if (memcmp(dig, buf + MEND_CKPT_HEADER_LEN + plen, MEND_CKPT_DIGEST_LEN) != 0) {
        set_err(err, errlen, "%s: checkpoint checksum mismatch (file is corrupt)", path);
        goto fail;
    }
    uint32_t fkind = get_u32(buf + 12);
    if (fkind != kind) {
        set_err(err, errlen, "%s: foreign checkpoint kind 0x%08x (expected 0x%08x)", path,
                fkind, kind);
        rc = MEND_EVERSION;
        goto fail;
    }
    uint32_t fver = get_u32(buf + 16);
    if (fver != version) {
        set_err(err, errlen, "%s: checkpoint version %u not supported (expected %u)", path,
                fver, version);
        rc = MEND_EVERSION;
        goto fail;
    }

    /* Hand over the payload alone; moving it down avoids a second buffer. */
    memmove(buf, buf + MEND_CKPT_HEADER_LEN, (size_t)plen);
    *payload = buf;
    *len = (size_t)plen;
    return MEND_OK;

fail:
    free(buf);
    return rc;
}
