/* model_mvg.c -- the multivariate Gaussian (mvgauss.h) as an entity model:
 * online only (no batch train), scored through a per-entity scratch so the
 * model itself stays const on the hot path. The score is the one calibrated
 * against the entity's own tail (mend_mvg_score_cal_ro), gated by the
 * changes by default (conf.changes = 2): the engine's threshold is a
 * false-alarm rate per row, and on metrics that wander the plain
 * chi-square tail of the levels overstates how rare a distance is by orders
 * of magnitude. */
#include "mend/model.h"
#include "mend/mvgauss.h"

static int mvg_create(const void *conf, size_t dim, void **out)
{
    struct mend_mvg *m;
    int rc = mend_mvg_new(dim, conf, &m);
    if (rc == MEND_OK)
        *out = m;
    return rc;
}

static int mvg_scratch_new(const void *conf, size_t dim, void **out)
{
    (void)conf;
    struct mend_mvg_scratch *w;
    int rc = mend_mvg_scratch_new(dim, &w);
    if (rc == MEND_OK)
        *out = w;
    return rc;
}

static void mvg_scratch_free(void *w) { mend_mvg_scratch_free(w); }

static int mvg_score(const void *m, const double *row, void *scratch, double *score, double *contrib)
{
    return mend_mvg_score_cal_ro(m, row, scratch, score, NULL, contrib);
}

static int mvg_learn(void *m, const double *row, void *scratch)
{
    return mend_mvg_learn_ro(m, row, scratch);
}

static int mvg_prefetch(const void *m, const void *scratch, unsigned step)
{
    return mend_mvg_prefetch(m, scratch, step);
}

static int mvg_save(const void *m, struct mend_wbuf *w) { return mend_mvg_save(m, w); }

static int mvg_load(const void *conf, size_t dim, struct mend_rbuf *r, void **out)
{
    struct mend_mvg *m;
    int rc = mend_mvg_load(r, conf, &m);
    if (rc != MEND_OK)
        return rc;
    if (mend_mvg_dim(m) != dim) {
        mend_mvg_free(m);
        return MEND_ECORRUPT;
    }
    *out = m;
    return MEND_OK;
}

static void mvg_destroy(void *m) { mend_mvg_free(m); }
static size_t mvg_dim(const void *m) { return mend_mvg_dim(m); }

const struct mend_model_ops mend_model_mvgauss = {
    .name = "mvgauss",
    .create = mvg_create,
    .scratch_new = mvg_scratch_new,
    .scratch_free = mvg_scratch_free,
    .score = mvg_score,
    .learn = mvg_learn,
    .train = NULL,
    .save = mvg_save,
    .load = mvg_load,
    .destroy = mvg_destroy,
    .dim = mvg_dim,
    .prefetch = mvg_prefetch,
};
