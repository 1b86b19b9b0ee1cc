/* detector_seasonal.c -- a seasonal baseline: the series' usual level and
 * spread at each phase of a period (time of day, day of week).
 *
 * The period is either configured (season_period) or detected from the first
 * samples: they are buffered (at most SEASON_DETECT_MAX), the autocorrelation
 * of the buffer picks the strongest repeating lag, and a lag close to an
 * hour, a day or a week is snapped to it so that bins line up with the
 * calendar. The buffer is then replayed into the profile and freed. Each
 * phase bin keeps an exponentially weighted mean and variance, so the
 * profile follows slow drift. Time comes from the samples (event time).
 *
 * Calendar cycles longer than the detection window (a day on 1-minute
 * data, a week almost anywhere) are found by a second, long look: from
 * the first hour on, the samples are also averaged into 2-hour buckets
 * (sum and count, so irregular sampling and gaps are simply fewer samples
 * in a bucket, and missing buckets are skipped, never filled), for at most
 * SEASON_LONG_B buckets (15 days). Once two days are in view and the short look found
 * no period, a daily autocorrelation strong enough makes the period a day;
 * once two weeks are in view, a weekly autocorrelation stronger than the
 * daily one (weekdays against weekends) makes it a week, with a profile of
 * day of week x time of day (7 x season_bins bins). The profile is then
 * rebuilt from the bucket means, and the buckets are freed.
 *
 * The profile lives on the heap (3 doubles per bin), and so do the
 * detection buffers while they are needed: init allocates, fini frees. */
#include "mend/detector.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S 1000000000LL
/* Samples buffered for period detection (and at most probation of them). */
#define SEASON_DETECT_MAX 4096u
/* Weight of the newest sample in a bin: a memory of about 50 visits, a week
 * or so of a daily profile at a few samples per bin. */
#define BIN_ALPHA 0.02
/* Visits before a bin's estimate is trusted. */
#define BIN_MIN_N 3.0
/* A repeating lag must explain at least this much autocorrelation. */
#define ACF_MIN 0.3

/* The shortest period worth looking for: the calendar periods the detector
 * snaps to start at an hour, and a period needs two cycles in the detection
 * window to be seen. Series sampled so fast that P samples span less than
 * two hours therefore skip detection, and carry no buffer at all. */
#define SEASON_MIN_SPAN_NS (2LL * 3600LL * NS_PER_S)

/* The long look: 2-hour buckets over 15 days (two weeks and a day, so
 * that a weekly lag has two full cycles of pairs); 2 hours resolve a daily
 * shape well enough to see it repeat, and keep the buffer at 1.4 KB. */
#define HOUR_NS (3600LL * NS_PER_S)
#define BUCKET_NS (2LL * HOUR_NS)
#define SEASON_LONG_B 180u
#define DAY_B 12u
#define WEEK_B 84u

struct seasonal_state {
    double *bins;      /* season_bins x {n, mean, var}; allocated once a
                          period is known */
    float *hist;       /* detection buffer, from the second sample until the
                          period is decided */
    int64_t period_ns; /* 0 while detecting, < 0 when no period was found */
    int64_t t_first, t_last;
    struct mend_ewstat resid; /* residuals x - bin mean, pooled over bins */
    double first_x;    /* the first sample, until the buffer exists */
    uint32_t nhist, cap;
    uint32_t nbins;    /* bins of the profile in use: season_bins, or 7 x
                          season_bins for a weekly period */
    uint32_t long_state; /* 0 = not started, 1 = bucketing, 2 = done */
    float *hours;      /* SEASON_LONG_B x {sum, count} while bucketing */
    int64_t t_hours;   /* start of bucket 0 (a whole even hour) */
    int64_t t_opinion; /* event time from which the profile has an opinion:
                          one period after the long look adopted it */
};

static size_t seasonal_size(const struct mend_scorer_conf *c)
{
    (void)c;
    return sizeof(struct seasonal_state);
}

static uint32_t detect_cap(const struct mend_scorer_conf *c)
{
    return c->probation < SEASON_DETECT_MAX ? c->probation : SEASON_DETECT_MAX;
}

/* Bins per period: a week gets day of week x time of day, within the cap. */
static uint32_t bins_for(const struct mend_scorer_conf *c, int64_t period_ns)
{
    uint32_t b = c->season_bins;
    if (period_ns == 604800LL * NS_PER_S && 7u * b <= MEND_SCORER_MAX_SEASON_BINS)
        b *= 7u;
    return b;
}

static int alloc_bins(struct seasonal_state *s, const struct mend_scorer_conf *c)
{
    free(s->bins);
    s->nbins = bins_for(c, s->period_ns);
    s->bins = calloc((size_t)s->nbins * 3u, sizeof(double));
    return s->bins ? MEND_OK : MEND_ENOMEM;
}

static int seasonal_init(void *st, const struct mend_scorer_conf *c)
{
    struct seasonal_state *s = st;
    memset(s, 0, sizeof *s);
    s->cap = detect_cap(c);
    s->t_opinion = INT64_MIN;
    if (c->season_period_s > 0) {
        s->period_ns = c->season_period_s * NS_PER_S;
        return alloc_bins(s, c);
    }
    return MEND_OK;
}

static void seasonal_fini(void *st, const struct mend_scorer_conf *c)
{
    struct seasonal_state *s = st;
    (void)c;
    free(s->bins);
    free(s->hist);
    free(s->hours);
    s->bins = NULL;
    s->hist = NULL;
    s->hours = NULL;
}

/* The lag (in samples) of the strongest autocorrelation peak of v[0..n-1],
 * or 0 when nothing repeats. Considers lags 2..n/2 so that at least two
 * cycles are in view; O(n^2/2) once per series. The deviations v[i] - mean
 * are taken once into a scratch array when one can be had, and four lags
 * share a pass over it; every sum is still the very same products added
 * in the same order, so the result is bit for bit the one computed from v
 * lag by lag, in a fraction of the time. */
static uint32_t acf_period(const float *v, uint32_t n)
{
    if (n < 8)
        return 0;
    double mean = 0.0, var = 0.0;
    for (uint32_t i = 0; i < n; i++)
        mean += v[i];
    mean /= n;
    double *dv = malloc(sizeof *dv * n);
    if (dv)
        for (uint32_t i = 0; i < n; i++)
            dv[i] = v[i] - mean;
    for (uint32_t i = 0; i < n; i++)
        var += (v[i] - mean) * (v[i] - mean);
    if (var <= 0.0) {
        free(dv);
        return 0;
    }
    uint32_t best = 0;
    double best_r = ACF_MIN, prev = 1.0, prev2 = 1.0;
    double sums[4] = {0.0, 0.0, 0.0, 0.0};
    for (uint32_t lag = 1; lag <= n / 2 + 1; lag++) {
        double s = 0.0;
        if (dv) {
            /* Four lags per pass over the array: four independent sums
             * instead of one long chain of dependent adds, each still
             * adding its products in increasing i. lag + 3 < n here. */
            if ((lag - 1) % 4 == 0) {
                double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
                uint32_t i = lag;
                s0 += dv[i] * dv[i - lag];
                i++;
                s0 += dv[i] * dv[i - lag];
                s1 += dv[i] * dv[i - lag - 1];
                i++;
                s0 += dv[i] * dv[i - lag];
                s1 += dv[i] * dv[i - lag - 1];
                s2 += dv[i] * dv[i - lag - 2];
                for (i++; i < n; i++) {
                    double d = dv[i];
                    s0 += d * dv[i - lag];
                    s1 += d * dv[i - lag - 1];
                    s2 += d * dv[i - lag - 2];
                    s3 += d * dv[i - lag - 3];
                }
                sums[0] = s0;
                sums[1] = s1;
                sums[2] = s2;
                sums[3] = s3;
            }
            s = sums[(lag - 1) % 4];
        } else {
            for (uint32_t i = lag; i < n; i++)
                s += (v[i] - mean) * (v[i - lag] - mean);
        }
        /* Normalised by the overlap so long lags are not penalised. */
        double r = s / var * (double)n / (double)(n - lag);
        /* prev is a local peak: higher than both neighbours. */
        if (lag >= 3 && prev > prev2 && prev >= r && prev > best_r) {
            best_r = prev;
            best = lag - 1;
        }
        prev2 = prev;
        prev = r;
    }
    free(dv);
    return best;
}

/* Snaps a detected period to an hour, a day or a week when within 10%. */
static int64_t snap_period(int64_t p)
{
    static const int64_t cal[] = {3600LL * NS_PER_S, 86400LL * NS_PER_S, 604800LL * NS_PER_S};
    for (size_t i = 0; i < sizeof cal / sizeof cal[0]; i++)
        if (p > cal[i] - cal[i] / 10 && p < cal[i] + cal[i] / 10)
            return cal[i];
    return p;
}

static double *bin_of(struct seasonal_state *s, const struct mend_scorer_conf *c, int64_t t_ns)
{
    int64_t ph = t_ns % s->period_ns;
    if (ph < 0)
        ph += s->period_ns;
    (void)c;
    uint64_t b = (uint64_t)((double)ph / (double)s->period_ns * (double)s->nbins);
    if (b >= s->nbins)
        b = s->nbins - 1;
    return s->bins + 3u * b;
}

static double learn(struct seasonal_state *s, const struct mend_scorer_conf *c, int64_t t_ns,
                    double x, double *expected, int teach_resid)
{
    double *b = bin_of(s, c, t_ns);
    double z = 0.0;
    *expected = b[0] >= 1.0 ? b[1] : x;
    if (b[0] >= BIN_MIN_N) {
        /* Judged against the spread of residuals pooled over all bins (one
         * probation long): a bin's own variance rests on a handful of
         * visits and makes every wiggle of a quiet phase a huge z. */
        double r = x - b[1];
        if (s->resid.n >= 2.0)
            z = mend_det_z(r, 0.0, s->resid.var + s->resid.mean * s->resid.mean, b[1]);
        if (teach_resid)
            mend_ewstat_add(&s->resid, 1.0 / (double)c->probation, r);
    }
    struct mend_ewstat e = {b[0], b[1], b[2]};
    mend_ewstat_add(&e, BIN_ALPHA, x);
    b[0] = e.n;
    b[1] = e.mean;
    b[2] = e.var;
    return z;
}

/* Ends detection: picks the period and replays the buffer into the profile
 * at the times the samples would have had at even spacing. */
static void finish_detection(struct seasonal_state *s, const struct mend_scorer_conf *c)
{
    uint32_t lag = acf_period(s->hist, s->nhist);
    double dt = s->nhist > 1 ? ((double)s->t_last - (double)s->t_first) / (double)(s->nhist - 1) : 0.0;
    s->period_ns = -1;
    /* a period longer than a year is no season (and would not fit) */
    if (lag && dt > 0.0 && dt * lag <= 366.0 * 86400.0 * NS_PER_S)
        s->period_ns = snap_period((int64_t)(dt * lag));
    /* Nothing repeats (or no memory for the profile): the detector stays
     * silent and a series without a period costs only its blob. */
    if (s->period_ns > 0 && alloc_bins(s, c) != MEND_OK)
        s->period_ns = -1;
    if (s->period_ns > 0) {
        double ex;
        for (uint32_t i = 0; i < s->nhist; i++) {
            double t = (double)s->t_first + dt * i; /* in [t_first, t_last]: fits */
            (void)learn(s, c, t >= 9.2e18 ? INT64_MAX : (int64_t)t, s->hist[i], &ex, 1);
        }
    }
    free(s->hist);
    s->hist = NULL;
    s->nhist = 0;
}

/* Autocorrelation of the bucket means at a lag of `lag` buckets, over the
 * pairs where both buckets hold samples (gaps are skipped, not filled);
 * 0 with fewer than lag pairs. */
static double hours_acf(const float *hb, uint32_t n, uint32_t lag)
{
    double mean = 0.0, var = 0.0;
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++)
        if (hb[2 * i + 1] > 0.0f) {
            mean += hb[2 * i] / hb[2 * i + 1];
            m++;
        }
    if (m < 2 * lag)
        return 0.0;
    mean /= m;
    for (uint32_t i = 0; i < n; i++)
        if (hb[2 * i + 1] > 0.0f) {
            double d = hb[2 * i] / hb[2 * i + 1] - mean;
            var += d * d;
        }
    if (!(var > 0.0))
        return 0.0;
    double sum = 0.0;
    uint32_t pairs = 0;
    for (uint32_t i = lag; i < n; i++)
        if (hb[2 * i + 1] > 0.0f && hb[2 * (i - lag) + 1] > 0.0f) {
            sum += (hb[2 * i] / hb[2 * i + 1] - mean) * (hb[2 * (i - lag)] / hb[2 * (i - lag) + 1] - mean);
            pairs++;
        }
    if (pairs < lag)
        return 0.0;
    return sum / pairs / (var / m);
}

/* Adopts a calendar period found by the long look: a fresh profile, learnt
 * from the bucket means, each taught to every bin its bucket covers. */
static void adopt_long(struct seasonal_state *s, const struct mend_scorer_conf *c, int64_t period,
                       uint32_t n, int64_t now)
{
    /* the short look, if still running, is overtaken */
    free(s->hist);
    s->hist = NULL;
    s->nhist = 0;
    s->period_ns = period;
    if (alloc_bins(s, c) != MEND_OK) {
        s->period_ns = -1; /* no memory: no profile, no opinion */
        return;
    }
    /* The bucket means are smoother than samples: they build the profile,
     * but the spread of residuals is left to the samples to come (earlier
     * residuals were against another profile), and the detector has no
     * opinion until they have covered one period. */
    s->resid = (struct mend_ewstat){0};
    s->t_opinion = now > INT64_MAX - period ? INT64_MAX : now + period;
    int64_t w = period / (int64_t)s->nbins; /* bin width */
    if (w < 1)
        w = 1;
    double ex;
    for (uint32_t i = 0; i < n; i++)
        if (s->hours[2 * i + 1] > 0.0f)
            for (int64_t o = 0; o < BUCKET_NS; o += w)
                (void)learn(s, c, s->t_hours + (int64_t)i * BUCKET_NS + o,
                            s->hours[2 * i] / s->hours[2 * i + 1], &ex, 0);
}

static void long_done(struct seasonal_state *s)
{
    free(s->hours);
    s->hours = NULL;
    s->long_state = 2;
}

/* Feeds the long look; decides a daily period at two days (when the short
 * look found none) and a weekly one at two weeks. */
static void long_step(struct seasonal_state *s, const struct mend_scorer_conf *c, int64_t t_ns,
                      double x)
{
    if (s->long_state == 2 || c->season_period_s > 0)
        return;
    if (s->long_state == 0) {
        /* from the first hour on: a short-lived series never pays for it */
        if ((double)t_ns - (double)s->t_first < (double)HOUR_NS)
            return;
        /* far from the ends of int64, so that bucket times cannot overflow
         * (real event times are within a few centuries of the epoch) */
        if (t_ns < INT64_MIN / 2 || t_ns > INT64_MAX / 2) {
            s->long_state = 2;
            return;
        }
        if (!(s->hours = calloc(2u * SEASON_LONG_B, sizeof *s->hours))) {
            s->long_state = 2;
            return;
        }
        s->t_hours = t_ns - (t_ns % BUCKET_NS + BUCKET_NS) % BUCKET_NS;
        s->long_state = 1;
    }
    double k = ((double)t_ns - (double)s->t_hours) / (double)BUCKET_NS;
    if (!(k >= 0.0))
        return; /* before the first bucket (only out-of-order input) */
    if (k >= (double)SEASON_LONG_B) {
        /* two weeks in view: does the week repeat better than the day? */
        double rd = hours_acf(s->hours, SEASON_LONG_B, DAY_B);
        double rw = hours_acf(s->hours, SEASON_LONG_B, WEEK_B);
        if (rw >= ACF_MIN && rw > rd && s->period_ns != 604800LL * NS_PER_S)
            adopt_long(s, c, 604800LL * NS_PER_S, SEASON_LONG_B, t_ns);
        long_done(s);
        return;
    }
    uint32_t b = (uint32_t)k;
    s->hours[2 * b] += (float)x;
    s->hours[2 * b + 1] += 1.0f;
    /* A daily cycle? Only where the short look could not have seen one:
     * asked once per new bucket from two days on when its window spanned
     * less than two days and it found nothing or a period off the calendar
     * (10 hours of 1-minute data can show a wiggle, not a day), and from
     * three days on while it is still looking (slow series: P samples span
     * weeks). A short look that saw two days and found no day is trusted. */
    const int64_t day = 86400LL * NS_PER_S, week = 604800LL * NS_PER_S;
    int blind = (double)s->t_last - (double)s->t_first < 2.0 * 86400.0 * NS_PER_S;
    int ask = s->period_ns == 0 ? b >= 3 * DAY_B
                                : (blind && b >= 2 * DAY_B && s->period_ns != day &&
                                   s->period_ns != week);
    if (ask && s->hours[2 * b + 1] == 1.0f && hours_acf(s->hours, b, DAY_B) >= ACF_MIN)
        adopt_long(s, c, day, b, t_ns);
}

static double seasonal_step(void *st, const struct mend_scorer_conf *c, int64_t t_ns, double x,
                            double *expected)
{
    struct seasonal_state *s = st;
    *expected = x;
    /* a fast series that gave up the short look waits for its first hour */
    if (s->period_ns < 0 && s->long_state == 0 &&
        (double)t_ns - (double)s->t_first < (double)HOUR_NS)
        return 0.0;
    if (s->nhist > 0 || s->period_ns != 0)
        long_step(s, c, t_ns, x);
    if (s->period_ns == 0) {
        if (s->nhist == 0) {
            s->t_first = s->t_last = t_ns;
            s->first_x = x;
            s->nhist = 1;
            return 0.0;
        }
        if (!s->hist) {
            /* the second sample tells the pace: can P samples show a period? */
            double span = ((double)t_ns - (double)s->t_first) * (double)(s->cap - 1);
            if (span < (double)SEASON_MIN_SPAN_NS || !(s->hist = malloc(sizeof *s->hist * s->cap))) {
                s->period_ns = -1; /* the long look may still find a day or a week */
                return 0.0;
            }
            s->hist[0] = (float)s->first_x;
        }
        s->t_last = t_ns;
        s->hist[s->nhist++] = (float)x;
        if (s->nhist >= s->cap)
            finish_detection(s, c);
        return 0.0;
    }
    if (s->period_ns < 0)
        return 0.0;
    return learn(s, c, t_ns, x, expected, 1);
}

static int seasonal_silent(const void *st, int64_t t_ns)
{
    const struct seasonal_state *s = st;
    return s->period_ns < 0 &&
           (s->long_state == 2 ||
            (s->long_state == 0 && (double)t_ns - (double)s->t_first < (double)HOUR_NS));
}

/* An opinion once a period is known (detected or configured) and, for one
 * the long look adopted, the residuals have covered one period. */
static int seasonal_settled(const void *st, int64_t t_ns)
{
    const struct seasonal_state *s = st;
    return s->period_ns > 0 && t_ns >= s->t_opinion;
}

/* Structure is ruled out once no period was found and the look has had
 * the chance to see a day: the short look's window spanned two days, or
 * the long look has (or is done). */
static int seasonal_structured(const void *st, int64_t t_ns)
{
    const struct seasonal_state *s = st;
    if (s->period_ns >= 0 || s->long_state == 2)
        return s->period_ns >= 0;
    const double two_days = 2.0 * 86400.0 * NS_PER_S;
    if ((double)s->t_last - (double)s->t_first >= two_days)
        return 0;
    return !(s->long_state == 1 && (double)t_ns - (double)s->t_hours >= two_days);
}

static int seasonal_save(const void *st, const struct mend_scorer_conf *c, struct mend_wbuf *w)
{
    const struct seasonal_state *s = st;
    mend_wbuf_i64(w, s->period_ns);
    mend_wbuf_i64(w, s->t_first);
    mend_wbuf_i64(w, s->t_last);
    mend_wbuf_f64(w, s->resid.n);
    mend_wbuf_f64(w, s->resid.mean);
    mend_wbuf_f64(w, s->resid.var);
    mend_wbuf_f64(w, s->first_x);
    mend_wbuf_u32(w, s->period_ns == 0 ? s->nhist : 0);
    if (s->period_ns == 0 && s->hist)
        for (uint32_t i = 0; i < s->nhist; i++)
            mend_wbuf_f32(w, s->hist[i]);
    mend_wbuf_u8(w, s->bins != NULL);
    if (s->bins) {
        mend_wbuf_u32(w, s->nbins);
        for (size_t i = 0; i < (size_t)s->nbins * 3u; i++)
            mend_wbuf_f64(w, s->bins[i]);
    }
    (void)c;
    mend_wbuf_u32(w, s->long_state);
    mend_wbuf_i64(w, s->t_hours);
    mend_wbuf_i64(w, s->t_opinion);
    if (s->long_state == 1)
        for (uint32_t i = 0; i < 2u * SEASON_LONG_B; i++)
            mend_wbuf_f32(w, s->hours[i]);
    return w->failed ? MEND_ENOMEM : MEND_OK;
}

/* Restores into a freshly initialised blob; on error the caller
 * re-initialises (fini + init), which frees whatever was allocated here. */
static int seasonal_load(void *st, const struct mend_scorer_conf *c, struct mend_rbuf *r)
{
    struct seasonal_state *s = st;
    int64_t period = mend_rbuf_i64(r);
    int64_t t_first = mend_rbuf_i64(r), t_last = mend_rbuf_i64(r);
    struct mend_ewstat resid;
    resid.n = mend_rbuf_f64(r);
    resid.mean = mend_rbuf_f64(r);
    resid.var = mend_rbuf_f64(r);
    double first_x = mend_rbuf_f64(r);
    uint32_t nhist = mend_rbuf_u32(r);
    if (r->failed || !(resid.n >= 0) || !isfinite(resid.n) || !isfinite(resid.mean) ||
        !(resid.var >= 0) || !isfinite(resid.var) || !isfinite(first_x) ||
        (c->season_period_s > 0 && period != c->season_period_s * NS_PER_S))
        return MEND_ECORRUPT;
    /* only a state still detecting carries samples, fewer than the cap */
    if (period == 0 ? nhist >= s->cap : nhist != 0)
        return MEND_ECORRUPT;
    if (nhist >= 2) {
        if (!s->hist && !(s->hist = malloc(sizeof *s->hist * s->cap)))
            return MEND_ENOMEM;
        for (uint32_t i = 0; i < nhist; i++) {
            s->hist[i] = mend_rbuf_f32(r);
            if (r->failed || !isfinite(s->hist[i]))
                return MEND_ECORRUPT;
        }
    }
    int has_bins = mend_rbuf_u8(r);
    if (r->failed || has_bins != (period > 0))
        return MEND_ECORRUPT;
    if (has_bins) {
        uint32_t nbins = mend_rbuf_u32(r);
        s->period_ns = period;
        if (r->failed || nbins != bins_for(c, period))
            return MEND_ECORRUPT;
        if ((!s->bins || s->nbins != nbins) && alloc_bins(s, c) != MEND_OK)
            return MEND_ENOMEM;
        for (size_t i = 0; i < (size_t)s->nbins * 3u; i++) {
            s->bins[i] = mend_rbuf_f64(r);
            if (r->failed || !isfinite(s->bins[i]) || (i % 3 != 1 && s->bins[i] < 0))
                return MEND_ECORRUPT;
        }
    }
    uint32_t long_state = mend_rbuf_u32(r);
    int64_t t_hours = mend_rbuf_i64(r);
    int64_t t_opinion = mend_rbuf_i64(r);
    if (r->failed || long_state > 2)
        return MEND_ECORRUPT;
    if (long_state == 1) {
        if (!s->hours && !(s->hours = calloc(2u * SEASON_LONG_B, sizeof *s->hours)))
            return MEND_ENOMEM;
        for (uint32_t i = 0; i < 2u * SEASON_LONG_B; i++) {
            s->hours[i] = mend_rbuf_f32(r);
            if (r->failed || !isfinite(s->hours[i]) || (i % 2 == 1 && s->hours[i] < 0.0f))
                return MEND_ECORRUPT;
        }
    } else {
        free(s->hours);
        s->hours = NULL;
    }
    s->long_state = long_state;
    s->t_hours = t_hours;
    s->t_opinion = t_opinion;
    s->period_ns = period;
    s->t_first = t_first;
    s->t_last = t_last;
    s->resid = resid;
    s->first_x = first_x;
    s->nhist = nhist;
    return MEND_OK;
}

const struct mend_detector_ops mend_detector_seasonal = {
    "seasonal", MEND_DET_SEASONAL, seasonal_size, seasonal_init, seasonal_fini, seasonal_step,
    seasonal_save, seasonal_load, seasonal_silent, seasonal_settled, seasonal_structured,
};
