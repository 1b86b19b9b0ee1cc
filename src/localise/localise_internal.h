/* localise_internal.h -- pieces shared by the files of src/localise: the
 * allocation-free cores of the MI estimators, used by both the public
 * one-shot functions (mi.c) and the ranking workspace (localise.c). */
#ifndef MEND_LOCALISE_INTERNAL_H
#define MEND_LOCALISE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <gsl/gsl_histogram2d.h>

#define MI_MAX_BINS 64u

struct mi_rank_pair {
    double v;
    uint32_t i;
};

/* Writes to r[i] the rank of x[i] among the non-NaN x's, scaled to [0, 1)
 * (ties share their mean rank), NaN stays NaN. p has room for n pairs.
 * Returns the number of non-NaN values. */
size_t mi_ranks(const double *x, size_t n, double *r, struct mi_rank_pair *p);

/* Default bin count for n pairs: floor(sqrt(n / 5)) clamped to [2, 64], so
 * each cell of a uniform joint table would hold about five pairs. */
unsigned mi_auto_bins(size_t n);

/* Binned MI of rank vectors rx, ry (values in [0,1) or NaN) over pairs
 * (rx[i + ox], ry[i + oy]) for i < n, Miller-Madow corrected, clamped at 0.
 * h must be a bins x bins histogram (any ranges: they are reset here).
 * Returns the MI, or 0 when fewer than 4 pairs are usable. */
double mi_binned_ranks(gsl_histogram2d *h, unsigned bins, const double *rx, size_t ox,
                       const double *ry, size_t oy, size_t n);

/* The same over precomputed cell offsets (see mi_bin_index), counting
 * integers and then filling h's cells: the ranking's inner loop. Returns 0 when fewer than min_pairs pairs are complete (too
 * few to estimate anything). */
#define MI_NO_BIN 0x7FFFu
/* b[i] = floor(r[i] * bins) * stride (stride bins for the row variable, 1
 * for the column one), MI_NO_BIN for NaN. */
void mi_bin_index(const double *r, size_t n, unsigned bins, unsigned stride, uint16_t *b);
double mi_binned_index(gsl_histogram2d *h, unsigned bins, const uint16_t *bx, size_t ox,
                       const uint16_t *by, size_t oy, size_t n, const double *clnc,
                       size_t min_pairs);

/* clnc[c] = c ln c for c in [0, n]: n + 1 entries. */
void mi_clnc_table(double *t, size_t n);

/* mi_ranks() in O(n): a radix sort of the values rounded to float (so
 * values equal as floats tie). a and b are scratch of n entries each. */
size_t mi_ranks_radix(const double *x, size_t n, double *r, uint64_t *a, uint64_t *b);

/* KSG (max-norm, k neighbours) over pairs (x[i + ox], y[i + oy]), i < n,
 * for short spans (at most MI_KSG_SMALL complete pairs are used), no
 * allocation; clamped at 0, and 0 with fewer than min_pairs pairs. Inputs
 * should be free of ties (jittered ranks). ord (NULL = none) holds the
 * orders of whole arrays x and y (mi_ksg_order), so that the many calls on
 * one pair of spans (the lags) need not sort again; the result is the same
 * with or without. Orders are used when the pairs read lie within the first
 * MI_KSG_ORDER_SPAN of i. */
#define MI_KSG_SMALL 128u
#define MI_KSG_ORDER_SPAN 512u
struct mi_ksg_orders {
    const uint32_t *x, *y; /* indices of the finite values, by value */
    size_t nx, ny;
    const double *psi;     /* mi_psi_table of npsi entries, or NULL */
    size_t npsi;
};
/* t[i] = gsl_sf_psi_int(i) for 0 < i < n (t[0] = 0): the digammas KSG sums,
 * looked up instead of computed (the same doubles). */
void mi_psi_table(double *t, size_t n);
double mi_ksg_small(const double *x, size_t ox, const double *y, size_t oy, size_t n,
                    unsigned k, size_t min_pairs, const struct mi_ksg_orders *ord);
/* o[0, returned) = indices of the finite values of x[0, n), by value (ties
 * by index). t: scratch of n entries. */
size_t mi_ksg_order(const double *x, size_t n, uint32_t *o, uint32_t *t);

#endif
