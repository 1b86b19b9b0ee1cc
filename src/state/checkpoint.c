/* checkpoint.c -- the one-blob checkpoint API (checkpoint.h) on top of the
 * section stream of state.c: the payload is one section, so old callers get
 * the new format's atomic write and verified read unchanged. */
#include "mend/checkpoint.h"
#include "mend/common.h"
#include "mend/state.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


int mend_ckpt_write(const char *path, uint32_t kind, uint32_t version,
                    const void *payload, size_t len, char *err, size_t errlen)
{
    if (!path || !*path || (!payload && len > 0)) {
        mend_set_err(err, errlen, "checkpoint: invalid arguments");
        return MEND_EINVAL;
    }
    if (len > MEND_CKPT_MAX_DEFAULT) {
        mend_set_err(err, errlen, "%s: checkpoint payload of %zu bytes is too large (cap %zu)",
                path, len, MEND_CKPT_MAX_DEFAULT);
        return MEND_ECAP;
    }
    struct mend_state_writer *w;
    int rc = mend_state_write_begin(path, kind, &w, err, errlen);
    if (rc != MEND_OK)
        return rc;
    struct mend_wbuf *b = mend_state_section_begin(w, MEND_CKPT_BLOB_TAG, version);
    if (b)
        mend_wbuf_bytes(b, payload, len);
    mend_state_section_end(w);
    return mend_state_write_commit(w, err, errlen);
}

int mend_ckpt_read(const char *path, uint32_t kind, uint32_t version,
                   unsigned char **payload, size_t *len, char *err, size_t errlen)
{
    return mend_ckpt_read_max(path, kind, version, MEND_CKPT_MAX_DEFAULT, payload, len,
                              err, errlen);
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
        mend_set_err(err, errlen, "checkpoint: invalid arguments");
        return MEND_EINVAL;
    }
    if (max_len > MEND_CKPT_MAX_DEFAULT)
        max_len = MEND_CKPT_MAX_DEFAULT;
    struct mend_state_reader *r;
    int rc = mend_state_read_open(path, kind, &r, err, errlen);
    if (rc != MEND_OK)
        return rc;
    uint32_t tag = 0, ver = 0;
    struct mend_rbuf *rb = NULL;
    unsigned char *buf = NULL;
    if (mend_state_read_count(r) != 1 || mend_state_read_section(r, &tag, &ver, &rb) != MEND_OK ||
        tag != MEND_CKPT_BLOB_TAG) {
        mend_set_err(err, errlen, "%s: checkpoint does not hold exactly one blob section", path);
        rc = MEND_ECORRUPT;
        goto out;
    }
    if (ver != version) {
        mend_set_err(err, errlen, "%s: checkpoint version %u not supported (expected %u)", path, ver,
                version);
        rc = MEND_EVERSION;
        goto out;
    }
    uint64_t n = mend_rbuf_remaining(rb);
    if (n > max_len) {
        mend_set_err(err, errlen, "%s: checkpoint too large (%llu bytes, cap %zu)", path,
                (unsigned long long)n, max_len);
        rc = MEND_ECAP;
        goto out;
    }
    buf = malloc(n ? (size_t)n : 1);
    if (!buf) {
        mend_set_err(err, errlen, "%s: out of memory reading checkpoint", path);
        rc = MEND_ENOMEM;
        goto out;
    }
    mend_rbuf_bytes(rb, buf, (size_t)n);
    rc = mend_state_read_done(r, err, errlen);
    if (rc != MEND_OK)
        goto out;
    *payload = buf;
    *len = (size_t)n;
    buf = NULL;
out:
    free(buf);
    mend_state_read_close(r);
    return rc;
}
