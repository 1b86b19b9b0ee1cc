/* part_state.c -- a partition's checkpoint: the engine's whole state
 * (mend_engine_save, streamed into one section) and where in the stream it
 * stands (the last stream sequence its samples came from, and the lease
 * epoch of the engine that wrote it), in one file written atomically
 * (state.h). The sequence is what makes a takeover exact: the next owner
 * restores the state and has its consumer deliver from the sequence after
 * it, so no sample is lost and none is applied twice, whatever the
 * previous owner managed to acknowledge. */
#include <stdio.h>
#include <string.h>

#include "mend/cluster.h"
#include "mend/engine.h"
#include "mend/state.h"

#define PART_CKPT_KIND MEND_CKPT_KIND('M', 'C', 'L', 'P')
#define SEC_POS MEND_CKPT_KIND('J', 'S', 'E', 'Q')
#define SEC_ENGINE MEND_CKPT_KIND('E', 'N', 'G', 'S')
#define PART_VERSION 1u

struct part_ctx {
    const struct mend_engine *e;
    uint64_t last_seq, epoch;
};

static int save(const void *ctx, struct mend_state_writer *w)
{
    const struct part_ctx *c = ctx;
    struct mend_wbuf *b = mend_state_section_begin(w, SEC_POS, PART_VERSION);
    if (!b)
        return MEND_EIO;
    mend_wbuf_u64(b, c->last_seq);
    mend_wbuf_u64(b, c->epoch);
    int rc = mend_state_section_end(w);
    if (rc != MEND_OK)
        return rc;
    if (!(b = mend_state_section_begin(w, SEC_ENGINE, PART_VERSION)))
        return MEND_EIO;
    if ((rc = mend_engine_save(c->e, b)) != MEND_OK)
        return rc;
    return mend_state_section_end(w);
}

int mend_cluster_part_save(const struct mend_engine *e, uint64_t last_seq, uint64_t epoch, const char *path,
                           int (*still_ours)(void *ctx), void *ctx, char *err, size_t errlen)
{
    struct part_ctx c = {e, last_seq, epoch};
    struct mend_state_writer *w = NULL;
    int rc = mend_state_write_begin(path, PART_CKPT_KIND, &w, err, errlen);
    if (rc != MEND_OK)
        return rc;
    if ((rc = save(&c, w)) != MEND_OK) {
        mend_state_write_abort(w);
        mend_set_err(err, errlen, "%s: partition checkpoint not written: %s", path, mend_strerror(rc));
        return rc;
    }
    /* the fence, as late as the writer allows: serialising a large state
     * takes time, and a lease that lapsed meanwhile belongs to a successor
     * that may already have restored (and will overwrite) this file -- a
     * fenced engine must not put its older state back under it */
    if (still_ours && !still_ours(ctx)) {
        mend_state_write_abort(w);
        mend_set_err(err, errlen, "%s: partition checkpoint dropped: the lease lapsed while it was written", path);
        return MEND_EAGAIN;
    }
    return mend_state_write_commit(w, err, errlen);
}

int mend_cluster_part_restore(struct mend_engine *e, const char *path, uint64_t *last_seq, uint64_t *epoch,
                              char *err, size_t errlen)
{
    unsigned removed = 0;
    if (mend_state_clean_temps(path, &removed, err, errlen) != MEND_OK)
        return MEND_EIO;
    struct mend_state_reader *sr;
    int rc = mend_state_read_open(path, PART_CKPT_KIND, &sr, err, errlen);
    if (rc != MEND_OK)
        return rc;
    uint32_t tag, v;
    struct mend_rbuf *r;
    rc = mend_state_read_section(sr, &tag, &v, &r);
    if (rc == MEND_OK && (tag != SEC_POS || v != PART_VERSION))
        rc = tag != SEC_POS ? MEND_ECORRUPT : MEND_EVERSION;
    if (rc == MEND_OK) {
        *last_seq = mend_rbuf_u64(r);
        *epoch = mend_rbuf_u64(r);
        rc = mend_state_read_done(sr, err, errlen);
    }
    if (rc == MEND_OK) {
        rc = mend_state_read_section(sr, &tag, &v, &r);
        if (rc == MEND_OK && (tag != SEC_ENGINE || v != PART_VERSION))
            rc = tag != SEC_ENGINE ? MEND_ECORRUPT : MEND_EVERSION;
        if (rc == MEND_OK)
            rc = mend_engine_load(e, r);
        if (rc == MEND_OK)
            rc = mend_state_read_done(sr, err, errlen);
    }
    mend_state_read_close(sr);
    if (rc != MEND_OK && !(err && errlen && err[0]))
        snprintf(err, errlen, "%s: partition checkpoint not usable: %s", path, mend_strerror(rc));
    return rc;
}
