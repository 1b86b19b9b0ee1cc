/* state.c -- sectioned checkpoint files (layout and contracts in state.h).
 *
 * This folder holds everything about durable state: this file (the section
 * stream, its atomic write, the verifying reader, the forked background
 * writer and the clean-up of stale temporary files) and checkpoint.c (the
 * older one-blob API, now a single section of this format).
 *
 * Writer: a section's struct mend_wbuf has a flush hook that cuts what it
 * buffered into chunks and passes them through out_put(), which feeds the
 * running SHA-256 and a 64 KiB output buffer in front of write(2). Reader:
 * open makes one pass over the file with the same framing code, hashing as
 * it goes and noting where each section starts and how long it is; the
 * sections are then served by a refill hook that reads chunk payloads into
 * a 64 KiB window. Nothing depends on the size of the state. */
#include "mend/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#define TEMP_SUFFIX ".tmp.XXXXXX"
#define TEMP_RAND 6 /* the X's mkstemp replaces */
#define HEADER_LEN 16u
#define IO_BUF ((size_t)1 << 16)
#define BG_ERR_MAX 512


static void put_u32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *b)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)b[i] << (8 * i);
    return v;
}

/* A tag as text: four printable characters, else hex. */
static void tag_text(uint32_t tag, char out[16])
{
    unsigned char c[4];
    put_u32(c, tag);
    int printable = 1;
    for (int i = 0; i < 4; i++)
        if (c[i] < 0x20 || c[i] > 0x7e)
            printable = 0;
    if (printable)
        snprintf(out, 16, "'%c%c%c%c'", c[0], c[1], c[2], c[3]);
    else
        snprintf(out, 16, "0x%08x", tag);
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

/* ---- writer ------------------------------------------------------------- */

struct mend_state_writer {
    char *path, *tmp;
    int fd;
    EVP_MD_CTX *md;
    int rc;              /* first error, sticky */
    char err[384];       /* its message */
    int in_section;
    uint32_t sec_tag;
    size_t flush_at;
    struct mend_wbuf sec;
    size_t outlen;
    unsigned char out[IO_BUF];
};

static void w_fail(struct mend_state_writer *w, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void w_fail(struct mend_state_writer *w, int rc, const char *fmt, ...)
{
    if (w->rc)
        return;
    w->rc = rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof w->err, fmt, ap);
    va_end(ap);
}

static void out_drain(struct mend_state_writer *w)
{
    if (w->rc || w->outlen == 0)
        return;
    if (write_all(w->fd, w->out, w->outlen) < 0)
        w_fail(w, MEND_EIO, "%s: write to %s failed: %s", w->path, w->tmp, strerror(errno));
    w->outlen = 0;
}

/* Every byte of the file passes here once: hashed, then buffered. */
static void out_put(struct mend_state_writer *w, const void *p, size_t n)
{
    if (w->rc || n == 0)
        return;
    if (EVP_DigestUpdate(w->md, p, n) != 1) {
        w_fail(w, MEND_ENOMEM, "%s: SHA-256 update failed", w->path);
        return;
    }
    if (w->outlen + n > sizeof w->out) {
        out_drain(w);
        if (n >= sizeof w->out) {
            if (!w->rc && write_all(w->fd, p, n) < 0)
                w_fail(w, MEND_EIO, "%s: write to %s failed: %s", w->path, w->tmp,
                       strerror(errno));
            return;
        }
    }
    memcpy(w->out + w->outlen, p, n);
    w->outlen += n;
}

static void out_u32(struct mend_state_writer *w, uint32_t v)
{
    unsigned char b[4];
    put_u32(b, v);
    out_put(w, b, 4);
}

/* The section buffer's flush hook: bytes become chunks. */
static int section_flush(void *ctx, const unsigned char *p, size_t n)
{
    struct mend_state_writer *w = ctx;
    while (n > 0 && !w->rc) {
        size_t piece = n < MEND_STATE_CHUNK_MAX ? n : MEND_STATE_CHUNK_MAX;
        out_u32(w, (uint32_t)piece);
        out_put(w, p, piece);
        p += piece;
        n -= piece;
    }
    return w->rc ? w->rc : MEND_OK;
}

int mend_state_write_begin(const char *path, uint32_t kind, struct mend_state_writer **out,
                           char *err, size_t errlen)
{
    if (out)
        *out = NULL;
    if (!path || !*path || !out) {
        mend_set_err(err, errlen, "checkpoint: invalid arguments");
        return MEND_EINVAL;
    }
    struct mend_state_writer *w = calloc(1, sizeof *w);
    size_t plen = strlen(path);
    if (w) {
        w->fd = -1;
        w->flush_at = MEND_STATE_FLUSH_DEFAULT;
        w->path = strdup(path);
        w->tmp = malloc(plen + sizeof TEMP_SUFFIX);
        w->md = EVP_MD_CTX_new();
    }
    if (!w || !w->path || !w->tmp || !w->md ||
        EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1) {
        mend_set_err(err, errlen, "%s: out of memory starting a checkpoint", path);
        mend_state_write_abort(w);
        return MEND_ENOMEM;
    }
    memcpy(w->tmp, path, plen);
    memcpy(w->tmp + plen, TEMP_SUFFIX, sizeof TEMP_SUFFIX);
    w->fd = mkstemp(w->tmp); /* mode 0600 */
    if (w->fd < 0) {
        mend_set_err(err, errlen, "%s: cannot create temporary file: %s", path, strerror(errno));
        w->tmp[0] = '\0'; /* nothing to unlink */
        mend_state_write_abort(w);
        return MEND_EIO;
    }
    unsigned char hdr[HEADER_LEN];
    memcpy(hdr, MEND_CKPT_MAGIC, 8);
    put_u32(hdr + 8, MEND_CKPT_FORMAT);
    put_u32(hdr + 12, kind);
    out_put(w, hdr, sizeof hdr);
    *out = w;
    return MEND_OK;
}

void mend_state_write_set_flush(struct mend_state_writer *w, size_t threshold)
{
    if (w)
        w->flush_at = threshold ? threshold : 1;
}

const char *mend_state_write_temp_path(const struct mend_state_writer *w)
{
    return w ? w->tmp : NULL;
}

struct mend_wbuf *mend_state_section_begin(struct mend_state_writer *w, uint32_t tag,
                                           uint32_t version)
{
    if (!w)
        return NULL;
    if (tag == 0 || w->in_section) {
        w_fail(w, MEND_EINVAL, "%s: %s", w->path,
               tag == 0 ? "section tag 0 is reserved" : "section opened inside a section");
        return NULL;
    }
    if (w->rc)
        return NULL;
    out_u32(w, tag);
    out_u32(w, version);
    /* Reuse the buffer's memory from section to section. */
    unsigned char *data = w->sec.data;
    size_t cap = w->sec.cap;
    mend_wbuf_init_flush(&w->sec, w->flush_at, section_flush, w);
    w->sec.data = data;
    w->sec.cap = cap;
    w->in_section = 1;
    w->sec_tag = tag;
    return w->rc ? NULL : &w->sec;
}

int mend_state_section_end(struct mend_state_writer *w)
{
    if (!w)
        return MEND_EINVAL;
    if (!w->in_section) {
        w_fail(w, MEND_EINVAL, "%s: section_end without an open section", w->path);
        return w->rc;
    }
    w->in_section = 0;
    if (mend_wbuf_flush(&w->sec) != MEND_OK && !w->rc) {
        char t[16];
        tag_text(w->sec_tag, t);
        w_fail(w, MEND_ENOMEM, "%s: out of memory serialising section %s", w->path, t);
    }
    out_u32(w, 0);
    return w->rc;
}

static void writer_free(struct mend_state_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    if (w->tmp && w->tmp[0])
        unlink(w->tmp);
    free(w->sec.data);
    EVP_MD_CTX_free(w->md);
    free(w->tmp);
    free(w->path);
    free(w);
}

void mend_state_write_abort(struct mend_state_writer *w)
{
    if (w)
        writer_free(w);
}

int mend_state_write_commit(struct mend_state_writer *w, char *err, size_t errlen)
{
    if (!w) {
        mend_set_err(err, errlen, "checkpoint: invalid arguments");
        return MEND_EINVAL;
    }
    if (w->in_section)
        w_fail(w, MEND_EINVAL, "%s: commit with section still open", w->path);
    out_u32(w, 0);
    unsigned char dig[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (!w->rc && (EVP_DigestFinal_ex(w->md, dig, &dlen) != 1 || dlen != MEND_CKPT_DIGEST_LEN))
        w_fail(w, MEND_ENOMEM, "%s: cannot compute SHA-256", w->path);
    if (!w->rc) {
        /* The digest is not part of what it covers: bypass the hash. */
        out_drain(w);
        if (!w->rc && write_all(w->fd, dig, MEND_CKPT_DIGEST_LEN) < 0)
            w_fail(w, MEND_EIO, "%s: write to %s failed: %s", w->path, w->tmp, strerror(errno));
    }
    if (!w->rc && fsync(w->fd) < 0)
        w_fail(w, MEND_EIO, "%s: fsync of %s failed: %s", w->path, w->tmp, strerror(errno));
    if (!w->rc) {
        int rc = close(w->fd);
        w->fd = -1;
        if (rc < 0)
            w_fail(w, MEND_EIO, "%s: close of %s failed: %s", w->path, w->tmp, strerror(errno));
    }
    if (!w->rc && rename(w->tmp, w->path) < 0)
        w_fail(w, MEND_EIO, "%s: rename from %s failed: %s", w->path, w->tmp, strerror(errno));
    if (w->rc) {
        mend_set_err(err, errlen, "%s", w->err);
        int rc = w->rc;
        writer_free(w); /* removes the temporary file */
        return rc;
    }
    w->tmp[0] = '\0'; /* renamed: nothing to unlink any more */
    /* The rename is only durable once the directory entry is on disk. */
    int rc = MEND_OK;
    char *dir = dir_of(w->path);
    int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY) : -1;
    if (dfd < 0 || fsync(dfd) < 0) {
        mend_set_err(err, errlen, "%s: renamed into place, but fsync of directory %s failed: %s",
                w->path, dir ? dir : "?", dir ? strerror(errno) : "out of memory");
        rc = MEND_EIO;
    }
    if (dfd >= 0)
        close(dfd);
    free(dir);
    writer_free(w);
    return rc;
}

int mend_state_save(const char *path, uint32_t kind, mend_state_save_fn save, const void *ctx,
                    char *err, size_t errlen)
{
    if (!save) {
        mend_set_err(err, errlen, "checkpoint: invalid arguments");
        return MEND_EINVAL;
    }
    struct mend_state_writer *w;
    int rc = mend_state_write_begin(path, kind, &w, err, errlen);
    if (rc != MEND_OK)
        return rc;
    rc = save(ctx, w);
    if (rc != MEND_OK) {
        /* The writer's own error (a failed write under a module's buffer
         * shows to the module as a failed buffer) is the real one. */
        if (w->rc) {
            rc = w->rc;
            mend_set_err(err, errlen, "%s", w->err);
        } else {
            mend_set_err(err, errlen, "%s: cannot serialise state: %s", path, mend_strerror(rc));
        }
        mend_state_write_abort(w);
        return rc;
    }
    return mend_state_write_commit(w, err, errlen);
}

/* ---- reader ------------------------------------------------------------- */

struct section_ix {
    uint32_t tag, version;
    uint64_t pos;   /* file offset of its first chunk length */
    uint64_t len;   /* payload bytes */
};

struct mend_state_reader {
    char *path;
    int fd;
    struct section_ix *ix;
    uint32_t n, cap_ix;
    uint32_t cur;        /* sections handed out so far */
    /* serving the current section */
    uint64_t pos;        /* file offset of the next byte to read */
    uint64_t sec_left;   /* payload bytes not yet in a window */
    uint32_t chunk_left; /* payload bytes left in the current chunk */
    int io_error;
    int io_errno;        /* errno of a failed read, for the message */
    struct mend_rbuf rb;
    /* buffered sequential input, used by the verifying pass */
    size_t blen, boff;
    uint64_t consumed;
    unsigned char buf[IO_BUF];
};

/* Verifying pass input: the next n bytes (hashed unless md is NULL).
 * Returns 0, 1 at a clean EOF before any byte, -1 on a short read (the
 * file ends inside), MEND_EIO on a read error. */
static int vread(struct mend_state_reader *r, EVP_MD_CTX *md, void *out, size_t n)
{
    unsigned char *o = out;
    size_t done = 0;
    while (done < n) {
        if (r->boff == r->blen) {
            ssize_t got = read(r->fd, r->buf, sizeof r->buf);
            if (got < 0) {
                if (errno == EINTR)
                    continue;
                return MEND_EIO;
            }
            if (got == 0)
                return done == 0 ? 1 : -1;
            r->blen = (size_t)got;
            r->boff = 0;
        }
        size_t take = r->blen - r->boff < n - done ? r->blen - r->boff : n - done;
        if (o)
            memcpy(o + done, r->buf + r->boff, take);
        if (md && EVP_DigestUpdate(md, r->buf + r->boff, take) != 1)
            return MEND_ENOMEM;
        r->boff += take;
        done += take;
        r->consumed += take;
    }
    return 0;
}

static int verify(struct mend_state_reader *r, uint32_t kind, char *err, size_t errlen)
{
    const char *path = r->path;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        mend_set_err(err, errlen, "%s: cannot compute SHA-256", path);
        return MEND_ENOMEM;
    }
    int rc = MEND_ECORRUPT;
    unsigned char hdr[HEADER_LEN], b[8];
    int v = vread(r, md, hdr, 8);
    if (v == 1) {
        mend_set_err(err, errlen, "%s: empty file, not a mend checkpoint", path);
        goto out;
    }
    if (v < 0 && v != -1) {
        rc = v;
        goto io;
    }
    if (v == -1 || memcmp(hdr, MEND_CKPT_MAGIC, 8) != 0) {
        mend_set_err(err, errlen, "%s: not a mend checkpoint (bad magic)", path);
        goto out;
    }
    v = vread(r, md, hdr + 8, HEADER_LEN - 8);
    if (v != 0)
        goto short_read;
    uint32_t format = get_u32(hdr + 8);
    if (format != MEND_CKPT_FORMAT) {
        mend_set_err(err, errlen,
                "%s: checkpoint format version %u not supported (expected %u)%s", path, format,
                MEND_CKPT_FORMAT, format == 1 ? "; files of mend before sections cannot be read" : "");
        rc = MEND_EVERSION;
        goto out;
    }
    for (;;) {
        uint64_t pos;
        if ((v = vread(r, md, b, 4)) != 0)
            goto short_read;
        uint32_t tag = get_u32(b);
        if (tag == 0)
            break;
        if ((v = vread(r, md, b, 4)) != 0)
            goto short_read;
        if (r->n == MEND_STATE_MAX_SECTIONS) {
            mend_set_err(err, errlen, "%s: more than %u sections", path, MEND_STATE_MAX_SECTIONS);
            rc = MEND_ECAP;
            goto out;
        }
        if (r->n == r->cap_ix) {
            uint32_t nc = r->cap_ix ? r->cap_ix * 2 : 16;
            struct section_ix *ix = realloc(r->ix, nc * sizeof *ix);
            if (!ix) {
                mend_set_err(err, errlen, "%s: out of memory reading checkpoint", path);
                rc = MEND_ENOMEM;
                goto out;
            }
            r->ix = ix;
            r->cap_ix = nc;
        }
        pos = r->consumed;
        uint64_t len = 0;
        for (;;) {
            unsigned char c[4];
            if ((v = vread(r, md, c, 4)) != 0)
                goto short_read;
            uint32_t n = get_u32(c);
            if (n == 0)
                break;
            if (n > MEND_STATE_CHUNK_MAX) {
                char t[16];
                tag_text(tag, t);
                mend_set_err(err, errlen, "%s: section %s has a chunk of %u bytes (cap %zu): corrupt",
                        path, t, n, MEND_STATE_CHUNK_MAX);
                goto out;
            }
            if ((v = vread(r, md, NULL, n)) != 0)
                goto short_read;
            len += n;
        }
        r->ix[r->n++] = (struct section_ix){tag, get_u32(b), pos, len};
    }
    unsigned char want[MEND_CKPT_DIGEST_LEN], got[EVP_MAX_MD_SIZE];
    unsigned int glen = 0;
    if ((v = vread(r, NULL, want, sizeof want)) != 0)
        goto short_read;
    if (EVP_DigestFinal_ex(md, got, &glen) != 1 || glen != MEND_CKPT_DIGEST_LEN) {
        mend_set_err(err, errlen, "%s: cannot compute SHA-256", path);
        rc = MEND_ENOMEM;
        goto out;
    }
    v = vread(r, NULL, b, 1);
    if (v == 0) {
        mend_set_err(err, errlen, "%s: trailing bytes after checkpoint", path);
        goto out;
    }
    if (v != 1)
        goto short_read;
    if (memcmp(want, got, MEND_CKPT_DIGEST_LEN) != 0) {
        mend_set_err(err, errlen, "%s: checkpoint checksum mismatch (file is corrupt)", path);
        goto out;
    }
    uint32_t fkind = get_u32(hdr + 12);
    if (fkind != kind) {
        char a[16], k[16];
        tag_text(fkind, a);
        tag_text(kind, k);
        mend_set_err(err, errlen, "%s: foreign checkpoint kind %s (expected %s)", path, a, k);
        rc = MEND_EVERSION;
        goto out;
    }
    rc = MEND_OK;
    goto out;

short_read:
    if (v == -1 || v == 1) {
        mend_set_err(err, errlen, "%s: truncated checkpoint (ends after %llu bytes)", path,
                (unsigned long long)r->consumed);
        rc = MEND_ECORRUPT;
        goto out;
    }
    rc = v;
io:
    if (rc == MEND_EIO)
        mend_set_err(err, errlen, "%s: read failed: %s", path, strerror(errno));
    else
        mend_set_err(err, errlen, "%s: cannot compute SHA-256", path);
out:
    EVP_MD_CTX_free(md);
    return rc;
}

int mend_state_read_open(const char *path, uint32_t kind, struct mend_state_reader **out,
                         char *err, size_t errlen)
{
    if (out)
        *out = NULL;
    if (!path || !out) {
        mend_set_err(err, errlen, "checkpoint: invalid arguments");
        return MEND_EINVAL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        mend_set_err(err, errlen, "%s: cannot open checkpoint: %s", path, strerror(e));
        return e == ENOENT ? MEND_ENOTFOUND : MEND_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        mend_set_err(err, errlen, "%s: not a regular file", path);
        close(fd);
        return MEND_EIO;
    }
    struct mend_state_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        close(fd);
        mend_set_err(err, errlen, "%s: out of memory reading checkpoint", path);
        return MEND_ENOMEM;
    }
    r->fd = fd;
    int rc = verify(r, kind, err, errlen);
    if (rc != MEND_OK) {
        mend_state_read_close(r);
        return rc;
    }
    *out = r;
    return MEND_OK;
}

uint32_t mend_state_read_count(const struct mend_state_reader *r)
{
    return r ? r->n : 0;
}

static int pread_all(struct mend_state_reader *r, void *out, size_t n, uint64_t pos)
{
    unsigned char *o = out;
    while (n > 0) {
        ssize_t got = pread(r->fd, o, n, (off_t)pos);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            r->io_errno = errno;
            return MEND_EIO;
        }
        if (got == 0)
            return MEND_ECORRUPT; /* the file shrank since it was verified */
        o += got;
        n -= (size_t)got;
        pos += (uint64_t)got;
    }
    return MEND_OK;
}

/* The section's refill hook: the next piece of chunk payload. */
static int section_refill(void *ctx, struct mend_rbuf *rb)
{
    struct mend_state_reader *r = ctx;
    if (r->sec_left == 0)
        return MEND_ENOTFOUND;
    int rc;
    if (r->chunk_left == 0) {
        unsigned char c[4];
        if ((rc = pread_all(r, c, 4, r->pos)) != MEND_OK)
            goto fail;
        r->pos += 4;
        uint32_t n = get_u32(c);
        /* Verified already; a mismatch means the file changed under us. */
        if (n == 0 || n > r->sec_left || n > MEND_STATE_CHUNK_MAX) {
            rc = MEND_ECORRUPT;
            goto fail;
        }
        r->chunk_left = n;
    }
    size_t take = r->chunk_left < sizeof r->buf ? r->chunk_left : sizeof r->buf;
    if ((rc = pread_all(r, r->buf, take, r->pos)) != MEND_OK)
        goto fail;
    r->pos += take;
    r->chunk_left -= (uint32_t)take;
    r->sec_left -= take;
    rb->p = r->buf;
    rb->len = take;
    rb->off = 0;
    rb->rest = r->sec_left;
    return MEND_OK;
fail:
    r->io_error = rc;
    return rc;
}

int mend_state_read_section(struct mend_state_reader *r, uint32_t *tag, uint32_t *version,
                            struct mend_rbuf **rb)
{
    if (!r || !rb)
        return MEND_EINVAL;
    *rb = NULL;
    if (r->cur >= r->n)
        return MEND_ENOTFOUND;
    const struct section_ix *s = &r->ix[r->cur++];
    if (tag)
        *tag = s->tag;
    if (version)
        *version = s->version;
    r->pos = s->pos;
    r->sec_left = s->len;
    r->chunk_left = 0;
    r->io_error = 0;
    mend_rbuf_init_refill(&r->rb, s->len, section_refill, r);
    *rb = &r->rb;
    return MEND_OK;
}

int mend_state_read_done(struct mend_state_reader *r, char *err, size_t errlen)
{
    if (!r || r->cur == 0) {
        mend_set_err(err, errlen, "checkpoint: no section was read");
        return MEND_EINVAL;
    }
    char t[16];
    tag_text(r->ix[r->cur - 1].tag, t);
    if (r->io_error == MEND_EIO) {
        mend_set_err(err, errlen, "%s: read of section %s failed: %s", r->path, t,
                strerror(r->io_errno));
        return MEND_EIO;
    }
    if (r->rb.failed || r->io_error) {
        mend_set_err(err, errlen, "%s: section %s is shorter than its contents claim", r->path, t);
        return MEND_ECORRUPT;
    }
    uint64_t left = mend_rbuf_remaining(&r->rb);
    if (left) {
        mend_set_err(err, errlen, "%s: section %s has %llu bytes left over", r->path, t,
                (unsigned long long)left);
        return MEND_ECORRUPT;
    }
    return MEND_OK;
}

void mend_state_read_close(struct mend_state_reader *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    free(r->ix);
    free(r->path);
    free(r);
}

/* ---- background writer -------------------------------------------------- */

struct mend_state_bg {
    pid_t pid;
    int fd;          /* read end of the child's error pipe */
    int done, result;
    char *path;
    char err[BG_ERR_MAX];
};

int mend_state_save_bg(const char *path, uint32_t kind, mend_state_save_fn save, const void *ctx,
                       struct mend_state_bg **out, char *err, size_t errlen)
{
    if (out)
        *out = NULL;
    if (!path || !*path || !save || !out) {
        mend_set_err(err, errlen, "checkpoint: invalid arguments");
        return MEND_EINVAL;
    }
    struct mend_state_bg *bg = calloc(1, sizeof *bg);
    if (!bg || !(bg->path = strdup(path))) {
        free(bg);
        mend_set_err(err, errlen, "%s: out of memory starting a background checkpoint", path);
        return MEND_ENOMEM;
    }
    int p[2];
    if (pipe(p) < 0) {
        mend_set_err(err, errlen, "%s: pipe for background checkpoint: %s", path, strerror(errno));
        free(bg->path);
        free(bg);
        return MEND_EIO;
    }
    /* Other children the parent starts must not hold the pipe open. */
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    pid_t pid = fork();
    if (pid < 0) {
        mend_set_err(err, errlen, "%s: fork for background checkpoint: %s", path, strerror(errno));
        close(p[0]);
        close(p[1]);
        free(bg->path);
        free(bg);
        return MEND_EIO;
    }
    if (pid == 0) {
        close(p[0]);
        char msg[BG_ERR_MAX] = "";
        int rc = mend_state_save(path, kind, save, ctx, msg, sizeof msg);
        if (rc != MEND_OK) {
            size_t n = strnlen(msg, sizeof msg - 1);
            /* Shorter than PIPE_BUF: one write, never partial. */
            if (write(p[1], msg, n) < 0) {
                /* the parent learns the code from the exit status anyway */
            }
        }
        if (rc == MEND_EAGAIN)
            rc = MEND_EIO; /* EAGAIN means "still running" to the reaper */
        _exit(rc < 0 ? -rc : 0);
    }
    close(p[1]);
    bg->pid = pid;
    bg->fd = p[0];
    *out = bg;
    return MEND_OK;
}

int mend_state_bg_fd(const struct mend_state_bg *bg)
{
    return bg ? bg->fd : -1;
}

int mend_state_bg_reap(struct mend_state_bg *bg, int wait, char *err, size_t errlen)
{
    if (!bg) {
        mend_set_err(err, errlen, "checkpoint: invalid arguments");
        return MEND_EINVAL;
    }
    if (!bg->done) {
        int st = 0;
        pid_t got;
        do
            got = waitpid(bg->pid, &st, wait ? 0 : WNOHANG);
        while (got < 0 && errno == EINTR);
        if (got == 0)
            return MEND_EAGAIN;
        bg->done = 1;
        size_t n = 0;
        if (got < 0) {
            snprintf(bg->err, sizeof bg->err,
                     "%s: cannot collect the background checkpoint writer: %s", bg->path,
                     strerror(errno));
            bg->result = MEND_EIO;
        } else if (WIFEXITED(st)) {
            /* The child has exited: the pipe holds all it will ever say. */
            while (n < sizeof bg->err - 1) {
                ssize_t r = read(bg->fd, bg->err + n, sizeof bg->err - 1 - n);
                if (r < 0 && errno == EINTR)
                    continue;
                if (r <= 0)
                    break;
                n += (size_t)r;
            }
            bg->err[n] = '\0';
            int code = WEXITSTATUS(st);
            bg->result = code ? -code : MEND_OK;
            if (code && n == 0)
                snprintf(bg->err, sizeof bg->err, "%s: background checkpoint failed: %s",
                         bg->path, mend_strerror(bg->result));
        } else {
            int sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
            snprintf(bg->err, sizeof bg->err,
                     "%s: background checkpoint writer killed by signal %d", bg->path, sig);
            bg->result = MEND_EIO;
            mend_state_clean_temps(bg->path, NULL, NULL, 0);
        }
        close(bg->fd);
        bg->fd = -1;
    }
    if (bg->result != MEND_OK)
        mend_set_err(err, errlen, "%s", bg->err);
    return bg->result;
}

void mend_state_bg_free(struct mend_state_bg *bg)
{
    if (!bg)
        return;
    if (!bg->done)
        mend_state_bg_reap(bg, 1, NULL, 0);
    if (bg->fd >= 0)
        close(bg->fd);
    free(bg->path);
    free(bg);
}

/* ---- maintenance -------------------------------------------------------- */

/* name is base + ".tmp." + six characters of mkstemp's alphabet. */
static int is_temp_of(const char *name, const char *base, size_t blen)
{
    static const char suffix[] = ".tmp.";
    size_t slen = sizeof suffix - 1;
    if (strncmp(name, base, blen) != 0 || strncmp(name + blen, suffix, slen) != 0)
        return 0;
    const char *x = name + blen + slen;
    size_t i = 0;
    for (; x[i]; i++) {
        char c = x[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return 0;
    }
    return i == TEMP_RAND;
}

int mend_state_clean_temps(const char *path, unsigned *removed, char *err, size_t errlen)
{
    if (removed)
        *removed = 0;
    if (!path || !*path || path[strlen(path) - 1] == '/') {
        mend_set_err(err, errlen, "checkpoint: invalid path");
        return MEND_EINVAL;
    }
    char *dir = dir_of(path);
    if (!dir) {
        mend_set_err(err, errlen, "%s: out of memory", path);
        return MEND_ENOMEM;
    }
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t blen = strlen(base);
    int rc = MEND_OK;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno != ENOENT) {
            mend_set_err(err, errlen, "%s: cannot read directory %s: %s", path, dir, strerror(errno));
            rc = MEND_EIO;
        }
        free(dir);
        return rc;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!is_temp_of(e->d_name, base, blen))
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) < 0) {
            if (errno == ENOENT)
                continue;
            mend_set_err(err, errlen, "%s: cannot remove stale temporary file %s/%s: %s", path, dir,
                    e->d_name, strerror(errno));
            rc = MEND_EIO;
            continue;
        }
        if (removed)
            (*removed)++;
    }
    closedir(d);
    free(dir);
    return rc;
}
