/* likelihood.c -- the anomaly-likelihood layer (see likelihood.h): an O(1)
 * per-series calibration of raw detector surprises into tail evidence. */
#include "mend/likelihood.h"

#include <math.h>

double mend_tail_log10(double z)
{
    if (!(z == z))
        return 0.0;
    double x = fabs(z);
    /* Borjesson & Sundberg's approximation of the Mills ratio:
     * Q(x) ~ phi(x) / ((1-a)x + a sqrt(x^2 + b)), relative error < 0.3% for
     * every x >= 0, so log Q needs one sqrt and one log -- no erfc (which
     * underflows past x = 38 and costs more than the rest of a step). */
    double den = (1.0 - 0.339) * x + 0.339 * sqrt(x * x + 5.510);
    double lnq = -0.5 * x * x - 0.9189385332046727 - log(den); /* ln sqrt(2 pi) */
    if (z >= 0.0)
        return -lnq / M_LN10;
    /* Below the mean the tail is 1 - Q(|z|), evidence between 0 and log10 2:
     * -ln(1-q) = q + q^2/2 + ... + q^8/8 is within 2e-4 for q <= 0.5 and
     * spares a second log on half of all steps. */
    double q = exp(lnq);
    double s = q * (1.0 + q * (1.0 / 2 + q * (1.0 / 3 + q * (1.0 / 4 + q * (1.0 / 5 +
                    q * (1.0 / 6 + q * (1.0 / 7 + q * (1.0 / 8))))))));
    return s / M_LN10;
}

/* The part of a step that learns (the short average first, then the long
 * mean and variance of it), shared by both entry points so that a step
 * that skips the judgement learns bit for bit what a full step learns. */
static inline void learn_short(struct mend_likelihood *l, double u, double a_short)
{
    l->avg += a_short * (u - l->avg);
}

static inline void learn_long(struct mend_likelihood *l, uint64_t n, double a_long)
{
    /* Early on the weight is 1/n so the estimate is a plain average, not
     * the first sample's echo. */
    double a = (double)n * a_long < 1.0 ? 1.0 / (double)n : a_long; /* no division once settled */
    double d = l->avg - l->mean;
    double inc = a * d;
    l->mean += inc;
    l->var = (1.0 - a) * (l->var + d * inc);
}

double mend_likelihood_step(struct mend_likelihood *l, uint64_t n, double u, double a_short,
                            double a_long, double sd_floor)
{
    double ev = 0.0;
    if (n <= 1) {
        l->avg = u;
        l->mean = u;
        l->var = 0.0;
        return 0.0;
    }
    learn_short(l, u, a_short);
    if (n >= 3) {
        double sd = sqrt(l->var);
        if (sd < sd_floor)
            sd = sd_floor;
        ev = mend_tail_log10((l->avg - l->mean) / sd);
    }
    /* Learn after judging, so a sample never explains itself away. */
    learn_long(l, n, a_long);
    return ev;
}

void mend_likelihood_learn(struct mend_likelihood *l, uint64_t n, double u, double a_short,
                           double a_long)
{
    if (n <= 1) {
        l->avg = u;
        l->mean = u;
        l->var = 0.0;
        return;
    }
    learn_short(l, u, a_short);
    learn_long(l, n, a_long);
}
