/* mi.c -- mutual-information estimators for the localiser.
 *
 * Binned: both variables are replaced by their ranks (the empirical copula),
 * so equal-width bins over [0,1) are equal-frequency bins of the data and the
 * estimate ignores scale and skew (latencies, counters, percentages all look
 * alike). The joint counts go into a GSL 2-D histogram; the plug-in MI
 * Hx + Hy - Hxy underestimates entropies by about (occupied cells - 1)/2n
 * each (Miller-Madow), which for MI leaves a positive bias of
 * (Kxy - Kx - Ky + 1)/2n that is subtracted here.
 *
 * KSG: for each point the max-norm distance eps to its k-th neighbour in the
 * joint space, then the counts nx, ny of points strictly closer than eps in
 * each marginal; MI = psi(k) + psi(n) - <psi(nx+1) + psi(ny+1)>. The
 * neighbours are searched in x order and the counts are binary searches
 * (ksg_core), which gives the brute force's result bit for bit at a
 * fraction of its O(n^2) work (about n * sqrt(k n) for uncoupled data, less
 * for coupled); the ranking uses it on short spans and the binned one
 * beyond. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_sf_psi.h>

#include "localise_internal.h"
#include "mend/localise.h"

static int pair_cmp(const void *a, const void *b)
{
    const struct mi_rank_pair *x = a, *y = b;
    if (x->v < y->v)
        return -1;
    if (x->v > y->v)
        return 1;
    return (x->i > y->i) - (x->i < y->i); /* stable: deterministic ties */
}

size_t mi_ranks(const double *x, size_t n, double *r, struct mi_rank_pair *p)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        r[i] = NAN;
        if (!isnan(x[i])) {
            p[m].v = x[i];
            p[m].i = (uint32_t)i;
            m++;
        }
    }
    if (m == 0)
        return 0;
    qsort(p, m, sizeof *p, pair_cmp);
    for (size_t a = 0; a < m;) {
        size_t b = a + 1;
        while (b < m && p[b].v == p[a].v)
            b++;
        double rank = 0.5 * (double)(a + b - 1) / (double)m; /* mean rank of the tie */
        for (size_t j = a; j < b; j++)
            r[p[j].i] = rank;
        a = b;
    }
    return m;
}

/* Order-preserving map of a float's bits to an unsigned key. */
static uint32_t float_key(double v)
{
    float f = (float)v;
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* r[index] = mean rank / m of each run of equal keys in sorted words a. */
static size_t ranks_from_sorted(const uint64_t *a, size_t m, double *r)
{
    for (size_t i = 0; i < m;) {
        size_t j = i + 1;
        while (j < m && (a[j] >> 32) == (a[i] >> 32))
            j++;
        double rank = 0.5 * (double)(i + j - 1) / (double)m;
        for (size_t k = i; k < j; k++)
            r[(uint32_t)a[k]] = rank;
        i = j;
    }
    return m;
}

#define RANKS_SMALL 256u

/* Sorts a[0, m) ascending; t: scratch of m. Insertion sort on runs of 8,
 * then bottom-up merges. */
static void u64_sort(uint64_t *a, size_t m, uint64_t *t)
{
    for (size_t s = 0; s < m; s += 8) {
        size_t e = s + 8 < m ? s + 8 : m;
        for (size_t i = s + 1; i < e; i++) {
            uint64_t x = a[i];
            size_t j = i;
            while (j > s && a[j - 1] > x)
                a[j] = a[j - 1], j--;
            a[j] = x;
        }
    }
    for (size_t w = 8; w < m; w *= 2) {
        for (size_t s = 0; s < m; s += 2 * w) {
            size_t mid = s + w < m ? s + w : m, e = s + 2 * w < m ? s + 2 * w : m;
            size_t i = s, j = mid, k = s;
            while (i < mid && j < e)
                t[k++] = a[j] < a[i] ? a[j++] : a[i++];
            while (i < mid)
                t[k++] = a[i++];
            while (j < e)
                t[k++] = a[j++];
        }
        memcpy(a, t, m * sizeof *a);
    }
}

size_t mi_ranks_radix(const double *x, size_t n, double *r, uint64_t *a, uint64_t *b)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        r[i] = NAN;
        if (!isnan(x[i]))
            a[m++] = (uint64_t)float_key(x[i]) << 32 | (uint64_t)i;
    }
    if (m == 0)
        return 0;
    if (m <= RANKS_SMALL) {
        /* short spans (the KSG regime): four radix passes would spend more
         * on their 256-entry tables than on the values; a merge sort of the
         * whole words (key, then index) gives the same order */
        u64_sort(a, m, b);
        return ranks_from_sorted(a, m, r);
    }
    /* LSD radix sort on the key (bits 32..63), a byte per pass; stable, so
     * equal keys keep index order. All four byte histograms are counted in
     * one read; a byte all keys share needs no pass. */
    uint32_t count[4][256], odd[4][256];
    memset(count, 0, sizeof count);
    memset(odd, 0, sizeof odd);
    /* even and odd keys into separate tables, summed after: the few values
     * the exponent byte takes would otherwise chain every increment on the
     * one before */
    size_t i2 = 0;
    for (; i2 + 1 < m; i2 += 2) {
        uint32_t key = (uint32_t)(a[i2] >> 32), k2 = (uint32_t)(a[i2 + 1] >> 32);
        count[0][key & 255u]++;
        count[1][(key >> 8) & 255u]++;
        count[2][(key >> 16) & 255u]++;
        count[3][key >> 24]++;
        odd[0][k2 & 255u]++;
        odd[1][(k2 >> 8) & 255u]++;
        odd[2][(k2 >> 16) & 255u]++;
        odd[3][k2 >> 24]++;
    }
    if (i2 < m) {
        uint32_t key = (uint32_t)(a[i2] >> 32);
        count[0][key & 255u]++;
        count[1][(key >> 8) & 255u]++;
        count[2][(key >> 16) & 255u]++;
        count[3][key >> 24]++;
    }
    for (unsigned p = 0; p < 4; p++)
        for (unsigned d = 0; d < 256; d++)
            count[p][d] += odd[p][d];
    for (unsigned p = 0; p < 4; p++) {
        unsigned sh = 32 + 8 * p;
        uint32_t *c = count[p];
        if (c[(a[0] >> sh) & 255u] == m)
            continue;
        uint32_t sum = 0;
        for (uint32_t d = 0; d < 256; d++) {
            uint32_t v = c[d];
            c[d] = sum;
            sum += v;
        }
        for (size_t i = 0; i < m; i++)
            b[c[(a[i] >> sh) & 255u]++] = a[i];
        uint64_t *t = a;
        a = b;
        b = t;
    }
    return ranks_from_sorted(a, m, r);
}

unsigned mi_auto_bins(size_t n)
{
    double b = floor(sqrt((double)n / 5.0));
    if (b < 2)
        b = 2;
    if (b > MI_MAX_BINS)
        b = MI_MAX_BINS;
    return (unsigned)b;
}

/* Entropy (nats) of counts c[0..k) summing to n: ln n - sum(c ln c)/n, with
 * c ln c read from clnc[c] when a table is given (counts are whole numbers
 * up to n), so the inner loop of the ranking takes no logarithms. */
static double plogp_sum(const double *c, size_t k, double n, double ln_n, const double *clnc,
                        size_t *occupied)
{
    double s = 0;
    size_t occ = 0;
    for (size_t i = 0; i < k; i++)
        if (c[i] > 0) {
            s += clnc ? clnc[(size_t)c[i]] : c[i] * log(c[i]);
            occ++;
        }
    *occupied = occ;
    return ln_n - s / n;
}

void mi_clnc_table(double *t, size_t n)
{
    t[0] = 0;
    for (size_t c = 1; c <= n; c++)
        t[c] = (double)c * log((double)c);
}

/* MI from the counts already in h (used pairs), Miller-Madow corrected. */
static double mi_from_hist(const gsl_histogram2d *h, unsigned bins, size_t used,
                           const double *clnc)
{
    if (used < 4)
        return 0.0;
    double mx[MI_MAX_BINS], my[MI_MAX_BINS];
    memset(mx, 0, sizeof mx);
    memset(my, 0, sizeof my);
    for (unsigned i = 0; i < bins; i++)
        for (unsigned j = 0; j < bins; j++) {
            double c = h->bin[i * bins + j];
            mx[i] += c;
            my[j] += c;
        }
    double nn = (double)used, ln_n = log(nn);
    size_t kx, ky, kxy;
    double hx = plogp_sum(mx, bins, nn, ln_n, clnc, &kx);
    double hy = plogp_sum(my, bins, nn, ln_n, clnc, &ky);
    double hxy = plogp_sum(h->bin, (size_t)bins * bins, nn, ln_n, clnc, &kxy);
    double mi = hx + hy - hxy - ((double)kxy - (double)kx - (double)ky + 1.0) / (2.0 * nn);
    return mi > 0 ? mi : 0.0;
}

void mi_bin_index(const double *r, size_t n, unsigned bins, unsigned stride, uint16_t *b)
{
    for (size_t i = 0; i < n; i++)
        b[i] = isnan(r[i]) ? MI_NO_BIN : (uint16_t)((unsigned)(r[i] * bins) * stride);
}

double mi_binned_index(gsl_histogram2d *h, unsigned bins, const uint16_t *bx, size_t ox,
                       const uint16_t *by, size_t oy, size_t n, const double *clnc,
                       size_t min_pairs)
{
    /* Integer counts first, then the cells go into the GSL histogram the
     * entropies read. bx holds row offsets (bin * bins), by columns, so a
     * pair's cell is their sum; a NaN on either side sums past the table
     * and lands, without a branch, in the junk cell J. */
    const unsigned J = bins * bins;
    /* two tables, even and odd pairs, so that runs of pairs in one cell
     * (a flat stretch) do not serialise on one counter */
    uint32_t cnt[2][MI_MAX_BINS * MI_MAX_BINS + 1];
    memset(cnt[0], 0, (J + 1) * sizeof cnt[0][0]);
    memset(cnt[1], 0, (J + 1) * sizeof cnt[1][0]);
    const uint16_t *px = bx + ox, *py = by + oy;
    size_t i = 0;
    for (; i + 1 < n; i += 2) {
        unsigned c = (unsigned)px[i] + py[i], d = (unsigned)px[i + 1] + py[i + 1];
        cnt[0][c < J ? c : J]++;
        cnt[1][d < J ? d : J]++;
    }
    if (i < n) {
        unsigned c = (unsigned)px[i] + py[i];
        cnt[0][c < J ? c : J]++;
    }
    size_t used = n - cnt[0][J] - cnt[1][J];
    if (used < min_pairs)
        return 0.0;
    for (size_t c = 0; c < J; c++)
        h->bin[c] = cnt[0][c] + cnt[1][c];
    return mi_from_hist(h, bins, used, clnc);
}

double mi_binned_ranks(gsl_histogram2d *h, unsigned bins, const double *rx, size_t ox,
                       const double *ry, size_t oy, size_t n)
{
    gsl_histogram2d_set_ranges_uniform(h, 0.0, 1.0, 0.0, 1.0); /* also zeroes */
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        double a = rx[i + ox], b = ry[i + oy];
        if (isnan(a) || isnan(b))
            continue;
        if (gsl_histogram2d_increment(h, a, b) == 0)
            used++;
    }
    return mi_from_hist(h, bins, used, NULL);
}

int mend_mi_binned(const double *x, const double *y, size_t n, unsigned bins, double *mi)
{
    if (!x || !y || !mi || bins > MI_MAX_BINS || n > UINT32_MAX)
        return MEND_EINVAL;
    size_t usable = 0;
    for (size_t i = 0; i < n; i++)
        usable += !isnan(x[i]) && !isnan(y[i]);
    if (usable < 4)
        return MEND_EINVAL;
    if (bins == 0)
        bins = mi_auto_bins(usable);
    if (bins < 2)
        return MEND_EINVAL;
    int rc = MEND_ENOMEM;
    double *rx = malloc(n * sizeof *rx), *ry = malloc(n * sizeof *ry);
    struct mi_rank_pair *p = malloc(n * sizeof *p);
    gsl_histogram2d *h = gsl_histogram2d_alloc(bins, bins);
    if (!rx || !ry || !p || !h)
        goto out;
    /* Rank only the complete pairs, so both marginals are uniform over them. */
    double *cx = malloc(usable * sizeof *cx), *cy = malloc(usable * sizeof *cy);
    if (!cx || !cy) {
        free(cx);
        free(cy);
        goto out;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(x[i]) && !isnan(y[i])) {
            cx[m] = x[i];
            cy[m] = y[i];
            m++;
        }
    mi_ranks(cx, m, rx, p);
    mi_ranks(cy, m, ry, p);
    *mi = mi_binned_ranks(h, bins, rx, 0, ry, 0, m);
    free(cx);
    free(cy);
    rc = 0;
out:
    gsl_histogram2d_free(h);
    free(p);
    free(rx);
    free(ry);
    return rc;
}

/* Sorts the indices o[0, m) by v[o[.]] (equal values keep their order in
 * o, so the result is a function of the values and o alone); t is scratch
 * of m entries. Insertion sort on runs of 8, then bottom-up merges:
 * O(m log m), no allocation. */
static void ksg_sort(const double *v, uint32_t *o, size_t m, uint32_t *t)
{
    for (size_t a = 0; a < m; a += 8) {
        size_t b = a + 8 < m ? a + 8 : m;
        for (size_t i = a + 1; i < b; i++) {
            uint32_t x = o[i];
            size_t j = i;
            while (j > a && v[o[j - 1]] > v[x])
                o[j] = o[j - 1], j--;
            o[j] = x;
        }
    }
    for (size_t w = 8; w < m; w *= 2) {
        for (size_t a = 0; a < m; a += 2 * w) {
            size_t mid = a + w < m ? a + w : m, b = a + 2 * w < m ? a + 2 * w : m;
            size_t i = a, j = mid, k = a;
            while (i < mid && j < b)
                t[k++] = v[o[j]] < v[o[i]] ? o[j++] : o[i++];
            while (i < mid)
                t[k++] = o[i++];
            while (j < b)
                t[k++] = o[j++];
        }
        memcpy(o, t, m * sizeof *o);
    }
}

/* o = 0..m-1 ordered by v; t: scratch of m. */
static void ksg_order(const double *v, size_t m, uint32_t *o, uint32_t *t)
{
    for (size_t i = 0; i < m; i++)
        o[i] = (uint32_t)i;
    ksg_sort(v, o, m, t);
}

/* How many of sorted s[0, m) other than the one at position p (which holds
 * c) lie strictly closer to c than eps, by the same test as the brute
 * force: fabs(c - s[q]) < eps. That test is monotone in q on either side of
 * p (rounding is monotone), so its true set is one run around p, found by
 * two binary searches. */
static unsigned ksg_count(const double *s, size_t m, size_t p, double c, double eps)
{
    if (!(eps > 0))
        return 0; /* nothing is closer than 0, not even the point itself */
    /* branch-free halvings (the outcome of each test is a coin toss, which
     * a branch would mispredict half the time): the answer stays in
     * [lo, lo + n) */
    size_t lo = 0, n = p + 1; /* the first q in [0, p] with the test true (p has it) */
    while (n > 1) {
        size_t half = n / 2;
        lo = fabs(c - s[lo + half - 1]) < eps ? lo : lo + half;
        n -= half;
    }
    size_t a = lo;
    lo = p + 1;
    n = m - p; /* the first q in [p + 1, m] with the test false (m: none) */
    while (n > 1) {
        size_t half = n / 2;
        lo = fabs(c - s[lo + half - 1]) < eps ? lo + half : lo;
        n -= half;
    }
    return (unsigned)(lo - 1 - a);
}

/* The KSG estimate (first algorithm, max norm) over m complete pairs:
 * psi(k) + psi(m) - <psi(nx+1) + psi(ny+1)>. knn: k doubles of scratch;
 * ws: the points' orders by x and by y in ox, oy (any order of equal
 * values), and room for the rest.
 *
 * Exactly the brute force's arithmetic, found faster. The k nearest in the
 * joint max-norm are searched outwards from each point in x order, on each
 * side until the x distance alone reaches the current k-th distance: every
 * point further out on that side is at least as far in x (rounding is
 * monotone), so at least as far in the max-norm, and the brute force would
 * not have kept it either (the k-th smallest distance is the same value
 * whatever order the points are met in). The walk has then met every point
 * closer in x than the final k-th distance eps, so nx is counted inside the
 * walked stretch from its ends; ny is two binary searches in y order. The
 * sum over the points runs in their original order, so the result is the
 * same double, bit for bit (test_ksg_exact holds it to a brute force). */
struct ksg_ws {
    uint32_t *ox, *oy, *pos_x, *pos_y; /* m each: orders, and each point's place in them */
    double *sx, *sy;                   /* m each: the sorted coordinates */
    double *yx;                        /* m: y of the points in x order (the walk reads it) */
    const double *psi;                 /* psi[n] = gsl_sf_psi_int(n), n < npsi; NULL = none */
    size_t npsi;
};

static inline double ksg_psi(const struct ksg_ws *ws, unsigned n)
{
    return n < ws->npsi ? ws->psi[n] : gsl_sf_psi_int((int)n);
}

/* The walk of ksg_core for k = 3 (the ranking's KSG_K): the three smallest
 * distances in registers, kept by a min/max network, no stores or loops.
 * The same values as the general walk: the k smallest of the distances met,
 * as a multiset, do not depend on how they are kept. */
static inline double ksg_walk3(const double *sx, const double *yx, size_t m,
                               size_t p, double xi, double yi, size_t *plo, size_t *phi)
{
    double d0 = HUGE_VAL, d1 = HUGE_VAL, d2 = HUGE_VAL;
    unsigned have = 0;
    size_t lo = p, hi = p + 1;
    int lo_on = lo > 0, hi_on = hi < m;
    while (lo_on | hi_on) {
        if (lo_on) {
            double dx = fabs(xi - sx[lo - 1]);
            if (have >= 3 && dx >= d2) {
                lo_on = 0;
            } else {
                lo--;
                double dy = fabs(yi - yx[lo]), d = dx > dy ? dx : dy;
                double t = d < d2 ? d : d2;
                d2 = d1 > t ? d1 : t;
                t = d < d1 ? d : d1;
                d1 = d0 > t ? d0 : t;
                d0 = d < d0 ? d : d0;
                have++;
                lo_on = lo > 0;
            }
        }
        if (hi_on) {
            double dx = fabs(xi - sx[hi]);
            if (have >= 3 && dx >= d2) {
                hi_on = 0;
            } else {
                double dy = fabs(yi - yx[hi]), d = dx > dy ? dx : dy;
                double t = d < d2 ? d : d2;
                d2 = d1 > t ? d1 : t;
                t = d < d1 ? d : d1;
                d1 = d0 > t ? d0 : t;
                d0 = d < d0 ? d : d0;
                have++;
                hi++;
                hi_on = hi < m;
            }
        }
    }
    *plo = lo;
    *phi = hi;
    return d2;
}

/* Keeps the k smallest distances met so far, sorted, in knn[0, *have). */
static inline void ksg_keep(double *knn, size_t *have, unsigned k, double d)
{
    if (*have < k || d < knn[k - 1]) {
        size_t r = *have < k ? (*have)++ : k - 1;
        while (r > 0 && knn[r - 1] > d) {
            knn[r] = knn[r - 1];
            r--;
        }
        knn[r] = d;
    }
}

static double ksg_core(const double *px, const double *py, size_t m, unsigned k, double *knn,
                       const struct ksg_ws *ws)
{
    for (size_t q = 0; q < m; q++) {
        ws->sx[q] = px[ws->ox[q]];
        ws->yx[q] = py[ws->ox[q]];
        ws->pos_x[ws->ox[q]] = (uint32_t)q;
        ws->sy[q] = py[ws->oy[q]];
        ws->pos_y[ws->oy[q]] = (uint32_t)q;
    }
    const double *sx = ws->sx, *sy = ws->sy, *yx = ws->yx;
    double acc = 0;
    for (size_t i = 0; i < m; i++) {
        const double xi = px[i], yi = py[i];
        const size_t p = ws->pos_x[i];
        /* [lo, hi) is the walked stretch (p included); each side stops for
         * good once its next point is no nearer in x than the k-th */
        size_t have = 0, lo = p, hi = p + 1;
        int lo_on = lo > 0, hi_on = hi < m;
        double eps;
        if (k == 3) {
            eps = ksg_walk3(sx, yx, m, p, xi, yi, &lo, &hi);
            lo_on = hi_on = 0;
        }
        while (lo_on | hi_on) {
            if (lo_on) {
                double dx = fabs(xi - sx[lo - 1]);
                if (have == k && dx >= knn[k - 1]) {
                    lo_on = 0;
                } else {
                    lo--;
                    double dy = fabs(yi - yx[lo]);
                    ksg_keep(knn, &have, k, dx > dy ? dx : dy);
                    lo_on = lo > 0;
                }
            }
            if (hi_on) {
                double dx = fabs(xi - sx[hi]);
                if (have == k && dx >= knn[k - 1]) {
                    hi_on = 0;
                } else {
                    double dy = fabs(yi - yx[hi]);
                    ksg_keep(knn, &have, k, dx > dy ? dx : dy);
                    hi++;
                    hi_on = hi < m;
                }
            }
        }
        if (k != 3)
            eps = knn[k - 1];
        unsigned nx = 0;
        if (eps > 0) { /* else nothing is closer than 0, not even the point itself */
            size_t a = lo, b = hi;
            while (a < p && !(fabs(xi - sx[a]) < eps))
                a++;
            while (b > p + 1 && !(fabs(xi - sx[b - 1]) < eps))
                b--;
            nx = (unsigned)(b - a - 1);
        }
        unsigned ny = ksg_count(sy, m, ws->pos_y[i], yi, eps);
        acc += ksg_psi(ws, nx + 1) + ksg_psi(ws, ny + 1);
    }
    return ksg_psi(ws, k) + ksg_psi(ws, (unsigned)m) - acc / (double)m;
}

void mi_psi_table(double *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        t[i] = i ? gsl_sf_psi_int((int)i) : 0.0; /* psi(0) is a pole, never asked for */
}

size_t mi_ksg_order(const double *x, size_t n, uint32_t *o, uint32_t *t)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]))
            t[m++] = (uint32_t)i;
    ksg_sort(x, t, m, o);
    return m;
}

int mend_mi_ksg(const double *x, const double *y, size_t n, unsigned k, double *mi)
{
    if (!x || !y || !mi || k == 0 || n > MEND_MI_KSG_MAX)
        return MEND_EINVAL;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += isfinite(x[i]) && isfinite(y[i]);
    if (m < (size_t)k + 2)
        return MEND_EINVAL;
    double *px = malloc(5 * m * sizeof *px), *knn = malloc((size_t)k * sizeof *knn);
    uint32_t *u = malloc(4 * m * sizeof *u);
    if (!px || !knn || !u) {
        free(px);
        free(knn);
        free(u);
        return MEND_ENOMEM;
    }
    double *py = px + m;
    struct ksg_ws ws = {u, u + m, u + 2 * m, u + 3 * m, px + 2 * m, px + 3 * m, px + 4 * m, NULL, 0};
    m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i])) {
            px[m] = x[i];
            py[m] = y[i];
            m++;
        }
    ksg_order(px, m, ws.ox, ws.pos_x); /* pos_* serve as the sort's scratch first */
    ksg_order(py, m, ws.oy, ws.pos_y);
    *mi = ksg_core(px, py, m, k, knn, &ws);
    free(px);
    free(knn);
    free(u);
    return 0;
}

double mi_ksg_small(const double *x, size_t ox, const double *y, size_t oy, size_t n,
                    unsigned k, size_t min_pairs, const struct mi_ksg_orders *ord)
{
    double px[MI_KSG_SMALL], py[MI_KSG_SMALL], knn[8], sx[MI_KSG_SMALL], sy[MI_KSG_SMALL],
        yx[MI_KSG_SMALL];
    uint32_t o[4][MI_KSG_SMALL];
    int16_t cid[MI_KSG_ORDER_SPAN]; /* pair i -> its place among the complete pairs, -1 none */
    const struct ksg_ws ws = {o[0], o[1], o[2], o[3], sx, sy, yx, ord ? ord->psi : NULL,
                              ord ? ord->npsi : 0};
    size_t m = 0, i = 0;
    if (k == 0 || k > 8)
        return 0.0;
    for (; i < n && m < MI_KSG_SMALL; i++) {
        double a = x[i + ox], b = y[i + oy];
        int ok = isfinite(a) && isfinite(b);
        if (i < MI_KSG_ORDER_SPAN)
            cid[i] = ok ? (int16_t)m : -1;
        if (!ok)
            continue;
        px[m] = a;
        py[m] = b;
        m++;
    }
    if (m < min_pairs || m < (size_t)k + 2)
        return 0.0;
    /* the orders of the pairs, read off the whole spans' orders when the
     * caller has them (one sort per series instead of one per lag) */
    size_t qx = 0, qy = 0;
    if (ord && i <= MI_KSG_ORDER_SPAN) {
        for (size_t j = 0; j < ord->nx; j++) {
            size_t t = ord->x[j];
            if (t >= ox && t - ox < i && cid[t - ox] >= 0)
                ws.ox[qx++] = (uint32_t)cid[t - ox];
        }
        for (size_t j = 0; j < ord->ny; j++) {
            size_t t = ord->y[j];
            if (t >= oy && t - oy < i && cid[t - oy] >= 0)
                ws.oy[qy++] = (uint32_t)cid[t - oy];
        }
    }
    if (qx != m || qy != m) { /* no orders (or not covering these pairs): sort */
        ksg_order(px, m, ws.ox, ws.pos_x);
        ksg_order(py, m, ws.oy, ws.pos_y);
    }
    double mi = ksg_core(px, py, m, k, knn, &ws);
    return mi > 0 ? mi : 0.0;
}
