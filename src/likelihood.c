/* likelihood.c -- the anomaly-likelihood layer (see likelihood.h): an O(1)
 * per-series calibration of raw detector surprises into tail evidence. */
#include "mend/likelihood.h"

#include <math.h>

double mend_tail_log10(double z)
{
    if (!(z == z))
        return 0.0;
    if (z < 30.0) {
        double q = 0.5 * erfc(z / M_SQRT2);
        double e = -log10(q);
        return e > 0.0 ? e : 0.0;
    }
    /* Mills ratio: Q(z) ~ phi(z)/z * (1 - 1/z^2); erfc has underflowed by
     * z = 38, while this is exact to double precision from z = 30 on. */
    double lnq = -0.5 * z * z - log(z) - 0.5 * log(2.0 * M_PI) + log1p(-1.0 / (z * z));
    return -lnq / M_LN10;
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
    l->avg += a_short * (u - l->avg);
    if (n >= 3) {
        double sd = sqrt(l->var);
        if (sd < sd_floor)
            sd = sd_floor;
        ev = mend_tail_log10((l->avg - l->mean) / sd);
    }
    /* Learn after judging, so a sample never explains itself away; early on
     * the weight is 1/n so the estimate is a plain average, not the first
     * sample's echo. */
    double a = 1.0 / (double)n > a_long ? 1.0 / (double)n : a_long;
    double d = l->avg - l->mean;
    double inc = a * d;
    l->mean += inc;
    l->var = (1.0 - a) * (l->var + d * inc);
    return ev;
}
