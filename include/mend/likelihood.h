/* likelihood.h -- anomaly likelihood: judges a detector's latest surprise
 * against how surprised that detector has recently been on this series.
 *
 * The idea is the one published with Numenta's HTM detector: fit a Gaussian
 * to a short moving average of raw scores over a long history and report how
 * far in the tail the latest average lies. Here both averages are
 * exponential, so the state is three doubles instead of a window, and the
 * result is "evidence" = -log10 of the tail probability (5 means a one in
 * 100,000 event), which one global threshold can judge across series that
 * are noisy and series that are clean. */
#ifndef MEND_LIKELIHOOD_H
#define MEND_LIKELIHOOD_H

#include <stdint.h>

struct mend_likelihood {
    double avg;  /* short exponential average of the raw surprise */
    double mean; /* long exponential mean of avg */
    double var;  /* long exponential variance of avg */
    /* The scorer's tail bookkeeping, packed so that the state stays five
     * doubles per detector (memory is per series): */
    float hits;     /* exponentially decayed count of past threshold
                       crossings (the scorer's, same long memory): how often
                       this "rare" surprise has in fact been seen lately */
    float exc;      /* decayed sum of those crossings' evidence beyond the
                       threshold: how far past it this series' rare
                       surprises go. Both are decayed lazily: as of hit_n */
    uint32_t n;     /* surprises this state has judged (the scorer's count of
                       the detector's opinions, which starts late for a
                       detector that first has to find its period);
                       saturates at UINT32_MAX */
    uint32_t hit_n; /* n when hits and exc were last decayed */
};

/* -log10 of the upper Gaussian tail Q(z) for any finite z, to within 0.3% of
 * the tail probability (0.0013 in the result), with no erfc so that it
 * neither underflows nor dominates the cost of a step; about 0.301 at z = 0,
 * close to 0 for very negative z, never negative; 0 for NaN. */
double mend_tail_log10(double z);

/* Feeds raw surprise u (>= 0) as the n-th sample (n counts from 1) and
 * returns the evidence of its short average against the long history seen
 * before it, then learns it. a_short and a_long are the weights of the
 * newest sample in the short and long averages (a_short = 1 disables the
 * short average); sd_floor bounds the long deviation from below so that a
 * perfectly regular history does not make every wiggle infinitely
 * surprising. Returns 0 while n < 3. */
double mend_likelihood_step(struct mend_likelihood *l, uint64_t n, double u, double a_short,
                            double a_long, double sd_floor);

/* Learns u exactly as mend_likelihood_step() would, without judging it:
 * for a caller that will not read the evidence (the scorer during a
 * detector's warm-up), which spares the tail's log and exp. The state
 * afterwards is bit for bit the one mend_likelihood_step() leaves. */
void mend_likelihood_learn(struct mend_likelihood *l, uint64_t n, double u, double a_short,
                           double a_long);

#endif
