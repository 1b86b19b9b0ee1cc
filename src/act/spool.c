/* spool.c -- the engine's durable spool for actions while Redis is away
 * (see act.h). Append-only records, each fdatasync'd before append returns
 * (an action the planner counted as sent must survive our crash); the
 * delivered count lives in PATH.pos, replaced atomically, so after a crash
 * between a delivery and its .pos update the record is offered again --
 * and the queue's mend:sent:<id> marker collapses that second send. Open
 * reads the whole file once to find record offsets (capped), cuts a torn
 * tail (a crash mid-append) and refuses damage elsewhere. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "mend/act.h"

#define HDR 12
static const char MAGIC[4] = {'M', 'S', 'P', '1'};

struct mend_spool {
    int fd;
    char path[1024], pos_path[1040];
    uint64_t *offs;       /* start of each record */
    uint64_t n, cap, delivered, end;
    uint64_t torn;
    unsigned char *buf;   /* the record being peeked */
};

static void le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int push_off(struct mend_spool *s, uint64_t off)
{
    if (s->n == s->cap) {
        if (s->cap >= MEND_SPOOL_MAX_RECORDS)
            return MEND_ECAP;
        uint64_t nc = s->cap ? s->cap * 2 : 64;
        uint64_t *o = realloc(s->offs, nc * sizeof *o);
        if (!o)
            return MEND_ENOMEM;
        s->offs = o;
        s->cap = nc;
    }
    s->offs[s->n++] = off;
    return MEND_OK;
}

static int write_pos(struct mend_spool *s)
{
    char tmp[1060], txt[32];
    snprintf(tmp, sizeof tmp, "%s.tmp", s->pos_path);
    int n = snprintf(txt, sizeof txt, "%llu\n", (unsigned long long)s->delivered);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return MEND_EIO;
    int ok = write(fd, txt, (size_t)n) == n && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, s->pos_path) != 0)
        return MEND_EIO;
    return MEND_OK;
}

int mend_spool_open(const char *path, struct mend_spool **res, char *err, size_t errlen)
{
    struct mend_spool *s = calloc(1, sizeof *s);
    if (!s)
        return MEND_ENOMEM;
    if (strlen(path) >= sizeof s->path) {
        free(s);
        snprintf(err, errlen, "%s: path too long", path);
        return MEND_EINVAL;
    }
    snprintf(s->path, sizeof s->path, "%s", path);
    snprintf(s->pos_path, sizeof s->pos_path, "%s.pos", path);
    s->buf = malloc(MEND_SPOOL_MAX_RECORD);
    s->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->fd < 0 || !s->buf) {
        snprintf(err, errlen, "%s: %s", path, s->fd < 0 ? strerror(errno) : "out of memory");
        mend_spool_close(s);
        return MEND_EIO;
    }
    /* walk the records */
    uint64_t off = 0;
    unsigned char h[HDR];
    for (;;) {
        ssize_t r = pread(s->fd, h, HDR, (off_t)off);
        if (r == 0)
            break;
        uint32_t len = r == HDR ? rd32(h + 4) : 0;
        int hdr_ok = r == HDR && !memcmp(h, MAGIC, 4) && len <= MEND_SPOOL_MAX_RECORD;
        ssize_t got = hdr_ok ? pread(s->fd, s->buf, len, (off_t)(off + HDR)) : -1;
        int ok = hdr_ok && got == (ssize_t)len && XXH32(s->buf, len, 0) == rd32(h + 8);
        if (!ok) {
            struct stat st;
            fstat(s->fd, &st);
            /* a torn tail is the last thing in the file; damage before the
             * end means a bad disk or a foreign file: refuse */
            if (hdr_ok && got >= 0 && off + HDR + len >= (uint64_t)st.st_size) {
                s->torn++;
            } else if (r < HDR && off + (uint64_t)r == (uint64_t)st.st_size) {
                s->torn++;
            } else {
                snprintf(err, errlen, "%s: damaged record at byte %llu", path, (unsigned long long)off);
                mend_spool_close(s);
                return MEND_ECORRUPT;
            }
            if (ftruncate(s->fd, (off_t)off) != 0 || fsync(s->fd) != 0) {
                snprintf(err, errlen, "%s: cannot cut torn record: %s", path, strerror(errno));
                mend_spool_close(s);
                return MEND_EIO;
            }
            break;
        }
        int rc = push_off(s, off);
        if (rc) {
            snprintf(err, errlen, "%s: more than %u records", path, MEND_SPOOL_MAX_RECORDS);
            mend_spool_close(s);
            return rc;
        }
        off += HDR + len;
    }
    s->end = off;
    FILE *pf = fopen(s->pos_path, "r");
    if (pf) {
        unsigned long long d = 0;
        if (fscanf(pf, "%llu", &d) == 1 && d <= s->n)
            s->delivered = d;
        else
            s->delivered = 0; /* unreadable position: resend; mend:sent:<id> collapses repeats */
        fclose(pf);
    }
    *res = s;
    return MEND_OK;
}

void mend_spool_close(struct mend_spool *s)
{
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s->offs);
    free(s->buf);
    free(s);
}

int mend_spool_append(struct mend_spool *s, const void *rec, size_t len)
{
    if (len > MEND_SPOOL_MAX_RECORD || s->n >= MEND_SPOOL_MAX_RECORDS)
        return MEND_ECAP;
    unsigned char h[HDR];
    memcpy(h, MAGIC, 4);
    le32(h + 4, (uint32_t)len);
    le32(h + 8, XXH32(rec, len, 0));
    if (pwrite(s->fd, h, HDR, (off_t)s->end) != HDR || pwrite(s->fd, rec, len, (off_t)(s->end + HDR)) != (ssize_t)len ||
        fdatasync(s->fd) != 0) {
        /* leave nothing half-written behind */
        if (ftruncate(s->fd, (off_t)s->end) != 0)
            return MEND_EIO;
        return MEND_EIO;
    }
    int rc = push_off(s, s->end);
    if (rc)
        return rc;
    s->end += HDR + len;
    return MEND_OK;
}

uint64_t mend_spool_pending(const struct mend_spool *s)
{
    return s->n - s->delivered;
}

uint64_t mend_spool_torn(const struct mend_spool *s)
{
    return s->torn;
}

int mend_spool_peek(struct mend_spool *s, const void **rec, size_t *len)
{
    if (s->delivered == s->n)
        return MEND_ENOTFOUND;
    uint64_t off = s->offs[s->delivered];
    unsigned char h[HDR];
    if (pread(s->fd, h, HDR, (off_t)off) != HDR)
        return MEND_EIO;
    uint32_t l = rd32(h + 4);
    if (l > MEND_SPOOL_MAX_RECORD || pread(s->fd, s->buf, l, (off_t)(off + HDR)) != (ssize_t)l)
        return MEND_EIO;
    if (XXH32(s->buf, l, 0) != rd32(h + 8))
        return MEND_ECORRUPT;
    *rec = s->buf;
    *len = l;
    return MEND_OK;
}

int mend_spool_pop(struct mend_spool *s)
{
    if (s->delivered == s->n)
        return MEND_OK;
    s->delivered++;
    if (s->delivered == s->n) {
        /* all out: empty the file first, then the position (a crash between
         * leaves position > records, read as 0 of an empty file) */
        if (ftruncate(s->fd, 0) != 0 || fsync(s->fd) != 0)
            return write_pos(s);
        s->n = s->delivered = s->end = 0;
    }
    return write_pos(s);
}
