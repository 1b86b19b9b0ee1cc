/* detector_robust.c -- median/MAD detector over a bounded window of recent
 * samples.
 *
 * Mean and variance are dragged by the very outliers they should expose; the
 * median and the median absolute deviation are not, so a burst of spikes
 * does not hide the next one. The price is a window (robust_window doubles
 * in the blob, at most 1024) and an O(window) selection per sample, which is
 * why the detector is opt-in. */
#include "mend/detector.h"

#include <gsl/gsl_statistics_double.h>

#include <math.h>
#include <string.h>

#define ROBUST_MAX MEND_SCORER_MAX_ROBUST_WINDOW
/* MAD of a Gaussian is 0.6745 sigma; scaling by 1/0.6745 makes the surprise
 * comparable with the Gaussian detectors'. */
#define MAD_TO_SIGMA 1.482602218505602
/* Fewer samples than this give no median worth trusting. */
#define ROBUST_MIN_FILL 5u

struct robust_state {
    uint32_t fill, pos;
    double v[]; /* robust_window samples, a ring */
};

/* Median of v[0..n-1] (reordered): GSL's quickselect, the mean of the two
 * middle values when n is even. */
static double median_of(double *v, size_t n)
{
    return gsl_stats_median(v, 1, n);
}

int mend_median_mad(double *v, size_t n, double *median, double *mad)
{
    if (n == 0 || n > ROBUST_MAX)
        return MEND_EINVAL;
    double m = median_of(v, n);
    for (size_t i = 0; i < n; i++)
        v[i] = fabs(v[i] - m);
    *median = m;
    *mad = median_of(v, n);
    return MEND_OK;
}

static size_t robust_size(const struct mend_scorer_conf *c)
{
    return sizeof(struct robust_state) + sizeof(double) * c->robust_window;
}

static int robust_init(void *st, const struct mend_scorer_conf *c)
{
    memset(st, 0, robust_size(c));
    return MEND_OK;
}

static double robust_step(void *st, const struct mend_scorer_conf *c, int64_t t_ns, double x,
                          double *expected)
{
    struct robust_state *s = st;
    double scratch[ROBUST_MAX];
    double z = 0.0;
    (void)t_ns;
    *expected = x;
    if (s->fill >= ROBUST_MIN_FILL) {
        double med, mad;
        memcpy(scratch, s->v, sizeof(double) * s->fill);
        if (!mend_median_mad(scratch, s->fill, &med, &mad)) {
            double sd = MAD_TO_SIGMA * mad;
            z = mend_det_z(x, med, sd * sd, med);
            *expected = med;
        }
    }
    s->v[s->pos] = x;
    s->pos = s->pos + 1 >= c->robust_window ? 0 : s->pos + 1;
    if (s->fill < c->robust_window)
        s->fill++;
    return z;
}

static int robust_save(const void *st, const struct mend_scorer_conf *c, struct mend_wbuf *w)
{
    const struct robust_state *s = st;
    (void)c;
    mend_wbuf_u32(w, s->fill);
    mend_wbuf_u32(w, s->pos);
    for (uint32_t i = 0; i < s->fill; i++)
        mend_wbuf_f64(w, s->v[i]);
    return w->failed ? MEND_ENOMEM : MEND_OK;
}

static int robust_load(void *st, const struct mend_scorer_conf *c, struct mend_rbuf *r)
{
    struct robust_state *s = st;
    uint32_t fill = mend_rbuf_u32(r), pos = mend_rbuf_u32(r);
    if (r->failed || fill > c->robust_window || pos >= c->robust_window ||
        (fill < c->robust_window && pos != fill))
        return MEND_ECORRUPT;
    for (uint32_t i = 0; i < fill; i++) {
        s->v[i] = mend_rbuf_f64(r);
        if (r->failed || !isfinite(s->v[i]))
            return MEND_ECORRUPT;
    }
    s->fill = fill;
    s->pos = pos;
    return MEND_OK;
}

const struct mend_detector_ops mend_detector_robust = {
    "robust", MEND_DET_ROBUST, robust_size, robust_init, NULL, robust_step, robust_save,
    robust_load, NULL, NULL, NULL,
};
