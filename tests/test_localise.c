/* test_localise.c -- the localiser: both MI estimators against the closed
 * form for correlated Gaussians and against independence; the ranking puts
 * the injected fault first (series and component), reads lead and onset,
 * aligns by event time, calibrates each series against its own windows
 * (a routine spike loses to a drift none of them made), and refuses what
 * is over its caps; the CSV and
 * topology readers (multi-row header, time column, missing cells, errors
 * with file:line:col, the longest-prefix rule); and `mend localise` end to
 * end on a small fixture. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sf_psi.h>

#include "mend/localise.h"
#include "../src/localise/localise_internal.h"

#define FIX "tests/fixtures/localise/"

/* n pairs of standard Gaussians with correlation rho. */
static void gaussians(gsl_rng *r, double rho, size_t n, double *x, double *y)
{
    for (size_t i = 0; i < n; i++) {
        double a = gsl_ran_gaussian(r, 1.0), b = gsl_ran_gaussian(r, 1.0);
        x[i] = a;
        y[i] = rho * a + sqrt(1 - rho * rho) * b;
    }
}

static void test_mi_gaussian_closed_form(void **state)
{
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 42);
    enum { N = 4000, NK = 1500 };
    double *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    const double rhos[] = {0.3, 0.6, 0.9};
    for (size_t k = 0; k < 3; k++) {
        double truth = -0.5 * log(1 - rhos[k] * rhos[k]);
        double mb, mk;
        gaussians(r, rhos[k], N, x, y);
        assert_int_equal(mend_mi_binned(x, y, N, 0, &mb), 0);
        assert_int_equal(mend_mi_ksg(x, y, NK, 3, &mk), 0);
        /* KSG is close to unbiased for Gaussians; binning loses the detail
         * finer than a cell, so it reads low, by less for weaker coupling. */
        assert_true(fabs(mk - truth) < 0.03 + 0.05 * truth);
        assert_true(mb > 0.75 * truth - 0.02 && mb < truth + 0.03);
    }
    /* independence */
    double mb, mk;
    gaussians(r, 0.0, N, x, y);
    assert_int_equal(mend_mi_binned(x, y, N, 0, &mb), 0);
    assert_int_equal(mend_mi_ksg(x, y, NK, 3, &mk), 0);
    assert_true(mb < 0.02);
    assert_true(fabs(mk) < 0.03);
    /* invariant under monotone transforms (rank binning) */
    double mb2;
    gaussians(r, 0.6, N, x, y);
    assert_int_equal(mend_mi_binned(x, y, N, 16, &mb), 0);
    for (size_t i = 0; i < N; i++)
        x[i] = exp(3 * x[i]);
    assert_int_equal(mend_mi_binned(x, y, N, 16, &mb2), 0);
    assert_true(fabs(mb - mb2) < 1e-12);
    /* NaN pairs are skipped, too few pairs refused */
    x[0] = NAN;
    assert_int_equal(mend_mi_binned(x, y, N, 0, &mb), 0);
    assert_int_equal(mend_mi_binned(x, y, 3, 0, &mb), MEND_EINVAL);
    assert_int_equal(mend_mi_ksg(x, y, 4, 3, &mk), MEND_EINVAL);
    assert_int_equal(mend_mi_ksg(x, y, N, 0, &mk), MEND_EINVAL);
    assert_int_equal(mend_mi_binned(x, y, N, 65, &mb), MEND_EINVAL);
    free(x);
    free(y);
    gsl_rng_free(r);
}

/* 12 noise series; series 3 (node 2) breaks at slot 20 of 40 and series 0
 * (node 0, the symptom) follows its pattern one slot later; series 5 (node
 * 1) spikes once without relation to the symptom. Node 0 calls 1 and 2. */
enum { NS = 12, REF = 300, S = 40 };
struct scene {
    double ref[NS][REF], win[NS][S];
    int64_t t[NS][S];
    struct mend_localise_series s[NS];
    uint8_t adj[9];
    struct mend_localise_topo topo;
};

/* The localiser's caps for a scene: room for all of it. */
static void scene_conf(struct mend_localise_conf *c)
{
    mend_localise_conf_defaults(c);
    c->max_series = 64;
    c->max_window = 64;
    c->max_ref = 512;
    c->max_nodes = 8;
}

static void scene_build(struct scene *sc, gsl_rng *r)
{
    memset(sc, 0, sizeof *sc);
    for (int i = 0; i < NS; i++) {
        for (int k = 0; k < REF; k++)
            sc->ref[i][k] = 5 + gsl_ran_gaussian(r, 1.0);
        for (int k = 0; k < S; k++) {
            sc->win[i][k] = 5 + gsl_ran_gaussian(r, 1.0);
            sc->t[i][k] = 1000 + 10 * (int64_t)k + i % 3; /* jittered by up to 2 */
        }
        sc->s[i] = (struct mend_localise_series){
            .ref = sc->ref[i], .ref_n = REF, .win = sc->win[i], .win_n = S,
            .node = i == 0 ? 0 : i == 3 ? 2 : i == 5 ? 1 : -1,
            .onset = MEND_LOCALISE_NO_ONSET};
    }
    /* the fault: a jump with its own wandering pattern, which the symptom
     * copies one slot later (propagation), with noise of its own */
    double u[S];
    for (int k = 0; k < S; k++)
        u[k] = 3 * gsl_ran_gaussian(r, 1.0);
    for (int k = 20; k < S; k++)
        sc->win[3][k] += 10 + u[k];
    for (int k = 21; k < S; k++)
        sc->win[0][k] = 11 + 0.8 * u[k - 1] + 0.3 * gsl_ran_gaussian(r, 1.0);
    sc->win[5][7] += 9;
    sc->adj[0 * 3 + 1] = 1;
    sc->adj[0 * 3 + 2] = 1;
    sc->topo = (struct mend_localise_topo){3, sc->adj};
}

static void test_rank_finds_fault(void **state)
{
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 7);
    struct scene *sc = malloc(sizeof *sc);
    assert_non_null(sc);
    scene_build(sc, r);
    struct mend_localise_conf c;
    scene_conf(&c);
    struct mend_localise *l = mend_localise_new(&c);
    assert_non_null(l);
    uint32_t sym = 0;
    struct mend_localise_input in = {.series = sc->s, .n_series = NS, .symptoms = &sym,
                                     .n_symptoms = 1, .topo = &sc->topo, .slots = S};
    struct mend_localise_result res;
    assert_int_equal(mend_localise_run(l, &in, &res), 0);
    assert_int_equal(res.n_items, NS);
    assert_int_equal(res.items[0].series, 3);
    assert_true(res.items[0].mi > 0.2);
    assert_int_equal(res.items[0].lag, 1); /* the fault leads the symptom by one slot */
    assert_int_equal(res.items[0].onset, 20);
    for (uint32_t k = 1; k < res.n_items; k++)
        assert_true(res.items[k - 1].score >= res.items[k].score);
    /* the unrelated spike shifted as much, but shares little with the symptom */
    for (uint32_t k = 0; k < res.n_items; k++)
        if (res.items[k].series == 5)
            assert_true(res.items[k].score < 0.5 * res.items[0].score);
    assert_int_equal(res.n_comps, 3);
    assert_int_equal(res.comps[0].node, 2);  /* the callee at fault */
    assert_int_equal(res.comps[0].explains, 1);
    /* nodes as plain groups (entities), no edges: ranked from their series */
    struct mend_localise_topo groups = {3, NULL};
    in.topo = &groups;
    assert_int_equal(mend_localise_run(l, &in, &res), 0);
    assert_int_equal(res.n_comps, 3);
    assert_int_equal(res.comps[0].node, 2);
    assert_int_equal(res.comps[0].explains, 0);
    in.topo = &sc->topo;

    /* without symptoms and graph: the shift alone; the largest break leads */
    in.n_symptoms = 0;
    in.topo = NULL;
    for (int i = 0; i < NS; i++)
        sc->s[i].node = -1;
    assert_int_equal(mend_localise_run(l, &in, &res), 0);
    assert_int_equal(res.n_comps, 0);
    assert_int_equal(res.items[0].series, 3);
    assert_true(fabs(res.items[0].score - res.items[0].shift) < 1e-12);

    /* by event time: the same answer when each series carries its times */
    for (int i = 0; i < NS; i++)
        sc->s[i].win_t = sc->t[i];
    in.t0 = 1000;
    in.step = 10;
    in.n_symptoms = 1;
    struct mend_localise_result res2;
    assert_int_equal(mend_localise_run(l, &in, &res2), 0);
    assert_int_equal(res2.items[0].series, 3);
    assert_int_equal(res2.items[0].onset, 20);
    free(sc);
    mend_localise_free(l);
    gsl_rng_free(r);
}

/* A reference that never moved: leaving it counts once (the cap ln(n+1)),
 * not as a level change plus a step. A component is the average of its
 * series' evidence: one node with a single strong break outranks a node
 * with many mild ones, however many (they would win if summed). */
/* The reference statistics are remembered between runs (a line of the
 * same incident brings the same reference back); a remembered one is used
 * only for the very same values. A localiser that first saw decoy
 * references sharing the probe values (same length, first, middle and
 * last values) and then the scene, twice, must rank exactly as a fresh one;
 * and a reference changed by one ulp must not be served from memory. */
static void run_items(struct mend_localise *l, const struct mend_localise_input *in,
                      struct mend_localise_item *out)
{
    struct mend_localise_result res;
    assert_int_equal(mend_localise_run(l, in, &res), 0);
    assert_int_equal(res.n_items, NS);
    memcpy(out, res.items, NS * sizeof *out);
}

static void test_ref_memo_exact(void **state)
{
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 11);
    struct scene *sc = malloc(sizeof *sc), *decoy = malloc(sizeof *decoy);
    assert_non_null(sc);
    assert_non_null(decoy);
    scene_build(sc, r);
    *decoy = *sc;
    for (int i = 0; i < NS; i++) {
        for (int k = 1; k < REF - 1; k++)
            if (k != REF / 2)
                decoy->ref[i][k] = 5 + gsl_ran_gaussian(r, 3.0);
        decoy->s[i].ref = decoy->ref[i];
        decoy->s[i].win = decoy->win[i];
    }
    struct mend_localise_conf c;
    scene_conf(&c);
    uint32_t sym = 0;
    struct mend_localise_input in = {.series = sc->s, .n_series = NS, .symptoms = &sym,
                                     .n_symptoms = 1, .topo = &sc->topo, .slots = S};
    struct mend_localise_input din = in;
    din.series = decoy->s;
    din.topo = &decoy->topo;
    struct mend_localise_item fresh[NS], got[NS], dec[NS];
    struct mend_localise *l0 = mend_localise_new(&c), *l1 = mend_localise_new(&c);
    assert_non_null(l0);
    assert_non_null(l1);
    run_items(l0, &in, fresh);
    run_items(l1, &din, dec);
    assert_true(memcmp(dec, fresh, sizeof dec) != 0); /* the decoy ranks otherwise */
    run_items(l1, &in, got);                          /* same slots, other values */
    assert_memory_equal(got, fresh, sizeof got);
    run_items(l1, &in, got);                          /* remembered */
    assert_memory_equal(got, fresh, sizeof got);
    /* one ulp in one reference value of the fault series */
    sc->ref[3][REF / 3] = nextafter(sc->ref[3][REF / 3], 100);
    struct mend_localise *l2 = mend_localise_new(&c);
    assert_non_null(l2);
    run_items(l2, &in, fresh);
    run_items(l1, &in, got);
    assert_memory_equal(got, fresh, sizeof got);
    mend_localise_free(l0);
    mend_localise_free(l1);
    mend_localise_free(l2);
    free(sc);
    free(decoy);
    gsl_rng_free(r);
}

static void test_constant_reference_and_components(void **state)
{
    (void)state;
    enum { N = 9, R = 200, W = 8 };
    static double ref[N][R], win[N][W];
    struct mend_localise_series s[N];
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 11);
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < R; k++)
            ref[i][k] = i == 0 ? 0.0 : gsl_ran_gaussian(r, 1.0);
        for (int k = 0; k < W; k++)
            win[i][k] = gsl_ran_gaussian(r, 1.0);
        s[i] = (struct mend_localise_series){.ref = ref[i], .ref_n = R, .win = win[i], .win_n = W,
                                             .node = i == 1 ? 0 : 1,
                                             .onset = MEND_LOCALISE_NO_ONSET};
    }
    for (int k = 0; k < W; k++)
        win[0][k] = 5.0;      /* series 0: constant 0, then 5 */
    for (int k = 4; k < W; k++)
        win[1][k] += 40.0;    /* node 0's only series: a strong break */
    for (int i = 2; i < N; i++)
        for (int k = 4; k < W; k++)
            win[i][k] += 6.0; /* node 1's other seven: milder breaks */
    struct mend_localise_conf c;
    mend_localise_conf_defaults(&c);
    c.max_series = N;
    c.max_window = W;
    c.max_ref = R;
    c.max_nodes = 2;
    struct mend_localise *l = mend_localise_new(&c);
    assert_non_null(l);
    struct mend_localise_topo groups = {2, NULL};
    struct mend_localise_input in = {.series = s, .n_series = N, .topo = &groups, .slots = W};
    struct mend_localise_result res;
    assert_int_equal(mend_localise_run(l, &in, &res), 0);
    int seen0 = 0;
    for (uint32_t k = 0; k < res.n_items; k++)
        if (res.items[k].series == 0) {
            assert_true(fabs(res.items[k].shift - log1p((double)R)) < 1e-9);
            seen0 = 1;
        }
    assert_true(seen0);
    assert_int_equal(res.n_comps, 2);
    assert_int_equal(res.comps[0].node, 0);
    assert_int_equal(res.comps[0].best_series, 1);
    /* and the sum really would have preferred node 1 */
    double sum1 = 0, best0 = 0;
    for (uint32_t k = 0; k < res.n_items; k++) {
        if (res.items[k].node == 1)
            sum1 += res.items[k].score;
        else
            best0 = res.items[k].score;
    }
    assert_true(sum1 > best0);
    mend_localise_free(l);
    gsl_rng_free(r);
}

static void test_nsigma_and_errors(void **state)
{
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 11);
    struct scene *sc = malloc(sizeof *sc);
    assert_non_null(sc);
    scene_build(sc, r);
    struct mend_localise_conf c;
    mend_localise_conf_defaults(&c);
    c.max_series = NS;
    c.max_window = S;
    c.max_ref = REF;
    c.max_nodes = 3;
    c.method = MEND_LOCALISE_NSIGMA;
    struct mend_localise *l = mend_localise_new(&c);
    assert_non_null(l);
    struct mend_localise_input in = {.series = sc->s, .n_series = NS, .slots = S,
                                     .topo = &sc->topo};
    struct mend_localise_result res;
    assert_int_equal(mend_localise_run(l, &in, &res), 0);
    assert_int_equal(res.items[0].series, 3);
    assert_true(fabs(res.items[0].score - res.items[0].z) < 1e-12);
    uint32_t bad = NS;
    in.symptoms = &bad;
    in.n_symptoms = 1;
    assert_int_equal(mend_localise_run(l, &in, &res), MEND_EINVAL);
    in.n_symptoms = 0;
    in.slots = S + 1;
    assert_int_equal(mend_localise_run(l, &in, &res), MEND_ECAP);
    in.slots = S - 1; /* index-aligned windows must fill the slots exactly */
    assert_int_equal(mend_localise_run(l, &in, &res), MEND_EINVAL);
    in.slots = S;
    sc->s[2].ref_n = REF + 1;
    assert_int_equal(mend_localise_run(l, &in, &res), MEND_ECAP);
    sc->s[2].ref_n = REF;
    sc->s[2].node = 3;
    assert_int_equal(mend_localise_run(l, &in, &res), MEND_EINVAL);
    in.n_series = 0;
    assert_int_equal(mend_localise_run(l, &in, &res), MEND_EINVAL);
    c.max_lag = 65;
    assert_null(mend_localise_new(&c));
    c.max_lag = 3;
    c.max_window = 0;
    assert_null(mend_localise_new(&c));
    c.max_window = 1; /* lags are clamped to the window at run time */
    struct mend_localise *l1 = mend_localise_new(&c);
    assert_non_null(l1);
    struct mend_localise_series one = {.ref = sc->ref[0], .ref_n = REF, .win = sc->win[0],
                                       .win_n = 1, .node = -1,
                                       .onset = MEND_LOCALISE_NO_ONSET};
    struct mend_localise_input in1 = {.series = &one, .n_series = 1, .slots = 1};
    assert_int_equal(mend_localise_run(l1, &in1, &res), 0);
    assert_int_equal(res.n_items, 1);
    mend_localise_free(l1);
    free(sc);
    mend_localise_free(l);
    mend_localise_free(NULL);
    gsl_rng_free(r);
}

/* The ranking's fast paths agree with the reference implementations. */
static void test_fast_paths(void **state)
{
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 3);
    enum { N = 600 };
    double *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    double *r1 = malloc(N * sizeof *r1), *r2 = malloc(N * sizeof *r2), *ry = malloc(N * sizeof *ry);
    struct mi_rank_pair *p = malloc(N * sizeof *p);
    uint64_t *ka = malloc(N * sizeof *ka), *kb = malloc(N * sizeof *kb);
    uint16_t *bx = malloc(N * sizeof *bx), *by = malloc(N * sizeof *by);
    double *clnc = malloc((N + 1) * sizeof *clnc);
    assert_true(x && y && r1 && r2 && ry && p && ka && kb && bx && by && clnc);
    gaussians(r, 0.7, N, x, y);
    for (size_t i = 0; i < N; i += 7)
        x[i] = -x[i] * 1e3; /* negative and large magnitudes */
    for (size_t i = 0; i < N; i += 11)
        x[i] = 0.25; /* ties */
    x[5] = NAN;
    assert_int_equal(mi_ranks(x, N, r1, p), N - 1);
    assert_int_equal(mi_ranks_radix(x, N, r2, ka, kb), N - 1);
    for (size_t i = 0; i < N; i++)
        assert_true((isnan(r1[i]) && isnan(r2[i])) || fabs(r1[i] - r2[i]) < 1e-12);
    /* short spans take a merge sort instead of the radix passes: the same
     * ranks (ties, NaN and the boundary sizes included) */
    const size_t shorts[] = {1, 2, 21, 100, 255, 256, 257};
    for (size_t k = 0; k < sizeof shorts / sizeof shorts[0]; k++) {
        size_t n = shorts[k], want = n - (n > 5);
        assert_int_equal(mi_ranks(x, n, r1, p), want);
        assert_int_equal(mi_ranks_radix(x, n, r2, ka, kb), want);
        for (size_t i = 0; i < n; i++)
            assert_true((isnan(r1[i]) && isnan(r2[i])) || r1[i] == r2[i]);
    }
    /* integer-cell MI equals the GSL-histogram one */
    x[5] = 0.5;
    mi_ranks(x, N, r1, p);
    mi_ranks(y, N, ry, p);
    gsl_histogram2d *h = gsl_histogram2d_alloc(8, 8);
    assert_non_null(h);
    double a = mi_binned_ranks(h, 8, r1, 0, ry, 0, N);
    mi_clnc_table(clnc, N);
    mi_bin_index(r1, N, 8, 8, bx);
    mi_bin_index(ry, N, 8, 1, by);
    double b = mi_binned_index(h, 8, bx, 0, by, 0, N, clnc, 20);
    assert_true(fabs(a - b) < 1e-9);
    double pub;
    assert_int_equal(mend_mi_binned(x, y, N, 8, &pub), 0);
    assert_true(fabs(a - pub) < 1e-9);
    assert_true(mi_binned_index(h, 8, bx, 0, by, 0, 19, clnc, 20) == 0.0); /* too few pairs */
    /* short-span KSG equals the public KSG on the same pairs */
    double k1, k2 = mi_ksg_small(x, 0, y, 0, 100, 3, 20, NULL);
    assert_int_equal(mend_mi_ksg(x, y, 100, 3, &k1), 0);
    assert_true(fabs(fmax(k1, 0) - k2) < 1e-12);
    gsl_histogram2d_free(h);
    free(x); free(y); free(r1); free(r2); free(ry); free(p); free(ka); free(kb);
    free(bx); free(by); free(clnc);
    gsl_rng_free(r);
}

/* The KSG estimate as Kraskov et al. write it, by brute force: the
 * reference the sorted search in mi.c must reproduce bit for bit. */
static double ksg_brute(const double *x, const double *y, size_t m, unsigned k)
{
    double acc = 0, knn[16];
    for (size_t i = 0; i < m; i++) {
        size_t have = 0;
        for (size_t j = 0; j < m; j++) {
            if (j == i)
                continue;
            double dx = fabs(x[i] - x[j]), dy = fabs(y[i] - y[j]), d = dx > dy ? dx : dy;
            if (have < k || d < knn[k - 1]) {
                size_t q = have < k ? have++ : k - 1;
                while (q > 0 && knn[q - 1] > d) {
                    knn[q] = knn[q - 1];
                    q--;
                }
                knn[q] = d;
            }
        }
        double eps = knn[k - 1];
        unsigned nx = 0, ny = 0;
        for (size_t j = 0; j < m; j++)
            if (j != i) {
                nx += fabs(x[i] - x[j]) < eps;
                ny += fabs(y[i] - y[j]) < eps;
            }
        acc += gsl_sf_psi_int((int)nx + 1) + gsl_sf_psi_int((int)ny + 1);
    }
    return gsl_sf_psi_int((int)k) + gsl_sf_psi_int((int)m) - acc / (double)m;
}

/* The sorted neighbour search returns the brute force's double exactly:
 * continuous data, heavy ties (small integers: zero distances, eps = 0),
 * a constant column, coupled and independent pairs, every k the ranking
 * could use, sizes past the short-span cap; and the short-span entry point
 * with offsets (the lags) agrees with it on the same pairs. */
static void test_ksg_exact(void **state)
{
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 7);
    enum { N = 300 };
    double x[N], y[N];
    const size_t sizes[] = {5, 6, 21, 64, 127, 128, 300};
    unsigned checked = 0;
    for (int kind = 0; kind < 5; kind++)
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
            for (unsigned k = 1; k <= 4; k++) {
                size_t n = sizes[si];
                for (size_t i = 0; i < n; i++) {
                    double a = gsl_ran_gaussian(r, 1.0), b = gsl_ran_gaussian(r, 1.0);
                    switch (kind) {
                    case 0: x[i] = a; y[i] = b; break;                          /* independent */
                    case 1: x[i] = a; y[i] = 0.9 * a + 0.1 * b; break;          /* coupled */
                    case 2: x[i] = floor(3 * a); y[i] = floor(2 * b + a); break; /* ties */
                    case 3: x[i] = 1.5; y[i] = b; break;                        /* constant */
                    default: x[i] = (double)(i % 7) / 7.0; y[i] = ldexp(a, 40); break;
                    }
                }
                if (n < k + 2)
                    continue;
                double fast, ref = ksg_brute(x, y, n, k);
                assert_int_equal(mend_mi_ksg(x, y, n, k, &fast), 0);
                assert_memory_equal(&fast, &ref, sizeof fast); /* bit for bit */
                checked++;
            }
    assert_true(checked > 100);
    /* NaN and infinite pairs are left out, as the public contract says */
    for (size_t i = 0; i < 100; i++)
        gaussians(r, 0.7, 1, x + i, y + i);
    double clean = ksg_brute(x + 2, y + 2, 98, 3), got;
    x[0] = NAN;
    y[1] = HUGE_VAL;
    assert_int_equal(mend_mi_ksg(x, y, 100, 3, &got), 0);
    assert_memory_equal(&got, &clean, sizeof got);
    /* short spans with a lag: pairs (x[i + 2], y[i]) */
    for (size_t i = 0; i < 130; i++)
        gaussians(r, 0.5, 1, x + i, y + i);
    double px[128], py[128];
    for (size_t i = 0; i < 128; i++) {
        px[i] = x[i + 2];
        py[i] = y[i];
    }
    double want = fmax(ksg_brute(px, py, 128, 3), 0), small = mi_ksg_small(x, 2, y, 0, 128, 3, 20, NULL);
    assert_memory_equal(&small, &want, sizeof small);
    /* with the spans' orders and a digamma table (the ranking's way, one
     * sort per span for all lags), every lag gives the same double; gaps
     * (NaN) in both spans */
    for (size_t i = 0; i < 128; i++)
        gaussians(r, 0.6, 1, x + i, y + i);
    x[5] = NAN;
    y[40] = NAN;
    y[41] = NAN;
    uint32_t ox[128], oy[128], tmp[128];
    double psi[130];
    mi_psi_table(psi, 130);
    for (int i = 1; i < 130; i++)
        assert_true(psi[i] == gsl_sf_psi_int(i));
    size_t nx = mi_ksg_order(x, 128, ox, tmp), ny = mi_ksg_order(y, 128, oy, tmp);
    assert_int_equal(nx, 127);
    assert_int_equal(ny, 126);
    for (size_t i = 1; i < nx; i++)
        assert_true(x[ox[i - 1]] <= x[ox[i]]);
    const struct mi_ksg_orders ord = {ox, oy, nx, ny, psi, 130};
    for (size_t lag = 0; lag <= 3; lag++) {
        double a0 = mi_ksg_small(x, 0, y, lag, 128 - lag, 3, 20, NULL);
        double a1 = mi_ksg_small(x, 0, y, lag, 128 - lag, 3, 20, &ord);
        double b0 = mi_ksg_small(x, lag, y, 0, 128 - lag, 3, 20, NULL);
        double b1 = mi_ksg_small(x, lag, y, 0, 128 - lag, 3, 20, &ord);
        assert_memory_equal(&a0, &a1, sizeof a0);
        assert_memory_equal(&b0, &b1, sizeof b0);
        if (lag == 0)
            assert_true(a0 > 0.1); /* the pairs are coupled at lag 0 */
    }
    gsl_rng_free(r);
}

/* A long window takes the binned path; the fault still leads the list. */
static void test_rank_long_window(void **state)
{
    (void)state;
    enum { N = 30, W = 300, R = 1000 };
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 5);
    double *ref = malloc((size_t)N * R * sizeof *ref), *win = malloc((size_t)N * W * sizeof *win);
    struct mend_localise_series *s = calloc(N, sizeof *s);
    assert_true(ref && win && s);
    for (size_t i = 0; i < (size_t)N * R; i++)
        ref[i] = 50 + 5 * gsl_ran_gaussian(r, 1.0);
    for (size_t i = 0; i < (size_t)N * W; i++)
        win[i] = 50 + 5 * gsl_ran_gaussian(r, 1.0);
    for (int k = 150; k < W; k++) { /* series 7 breaks; series 0 follows 2 slots later */
        double u = 10 * gsl_ran_gaussian(r, 1.0);
        win[7 * W + k] += 40 + u;
        if (k + 2 < W)
            win[0 * W + k + 2] = 80 + 0.8 * u + gsl_ran_gaussian(r, 1.0);
    }
    for (int i = 0; i < N; i++)
        s[i] = (struct mend_localise_series){.ref = ref + (size_t)i * R, .ref_n = R,
                                             .win = win + (size_t)i * W, .win_n = W,
                                             .node = -1, .onset = MEND_LOCALISE_NO_ONSET};
    struct mend_localise *l = mend_localise_new(NULL);
    assert_non_null(l);
    uint32_t sym = 0;
    struct mend_localise_input in = {.series = s, .n_series = N, .symptoms = &sym,
                                     .n_symptoms = 1, .slots = W};
    struct mend_localise_result res;
    assert_int_equal(mend_localise_run(l, &in, &res), 0);
    assert_int_equal(res.items[0].series, 7);
    assert_int_equal(res.items[0].lag, 2);
    assert_int_equal(res.items[0].onset, 150);
    assert_true(res.items[0].mi > 0.3);
    mend_localise_free(l);
    free(s);
    free(ref);
    free(win);
    gsl_rng_free(r);
}

/* The tail terms: a spiky series (quiet at 0.5, a spike to 1 every 25
 * samples, one in the window as in every stretch of its reference) against
 * a bounded smooth one (a wave in [0.3, 0.7]) that drifts to 0.85 in
 * the window, higher than any stretch of its reference went, in small
 * steps. N-sigma and the z terms prefer the spike (z 4.9 against 2.5);
 * judged against their own stretches of the same length, the spike is
 * routine and the drift is not. A window shorter than TAIL_MIN_SLOTS has
 * no tail terms: there the z terms rank alone and the spike wins. */
static void test_tails_calibrate_spikiness(void **state)
{
    (void)state;
    enum { R = 1000, W = 40 };
    static double ref[2][R], win[2][W];
    for (int t = 0; t < R; t++) {
        ref[0][t] = t % 25 == 7 ? 1.0 : 0.5;
        ref[1][t] = 0.5 + 0.2 * sin(2 * M_PI * t / 200.0);
    }
    for (int t = 0; t < W; t++) {
        win[0][t] = t % 25 == 7 ? 1.0 : 0.5;
        win[1][t] = 0.5 + 0.35 * t / (W - 1.0);
    }
    struct mend_localise_conf c;
    mend_localise_conf_defaults(&c);
    c.max_series = 2;
    c.max_window = W;
    c.max_ref = R;
    struct mend_localise_series s[2];
    for (int i = 0; i < 2; i++)
        s[i] = (struct mend_localise_series){.ref = ref[i], .ref_n = R, .win = win[i],
                                             .win_n = W, .node = -1,
                                             .onset = MEND_LOCALISE_NO_ONSET};
    struct mend_localise_input in = {.series = s, .n_series = 2, .slots = W};
    struct mend_localise_result res;
    struct mend_localise *l = mend_localise_new(&c);
    assert_non_null(l);
    assert_int_equal(mend_localise_run(l, &in, &res), 0);
    assert_int_equal(res.items[0].series, 1); /* the drift */
    assert_true(res.items[1].z > res.items[0].z + 2);
    /* the drift left every stretch of its reference: both tails are at
     * their bound ln(1 + B), B = R / W blocks */
    double bound = log1p((double)(R / W));
    assert_true(res.items[0].shift > 2 * bound);
    mend_localise_free(l);

    c.method = MEND_LOCALISE_NSIGMA; /* the reference method: the spike */
    l = mend_localise_new(&c);
    assert_non_null(l);
    assert_int_equal(mend_localise_run(l, &in, &res), 0);
    assert_int_equal(res.items[0].series, 0);
    mend_localise_free(l);

    c.method = MEND_LOCALISE_RANK; /* too short a window for the tails */
    l = mend_localise_new(&c);
    assert_non_null(l);
    in.slots = 10;
    for (int i = 0; i < 2; i++) { /* the window's last 10, led in by the rest */
        s[i].ctx = win[i];
        s[i].ctx_n = W - 10;
        s[i].win = win[i] + W - 10;
        s[i].win_n = 10;
    }
    assert_int_equal(mend_localise_run(l, &in, &res), 0);
    assert_int_equal(res.items[0].series, 0);
    mend_localise_free(l);
}

static void test_table_and_topology(void **state)
{
    (void)state;
    struct mend_table t;
    char err[256];
    assert_int_equal(mend_table_load(FIX "petshop_style.csv", &t, err, sizeof err), 0);
    assert_int_equal(t.n_cols, 4);
    assert_int_equal(t.n_rows, 3);
    assert_true(t.has_time);
    assert_string_equal(t.names[0], "front|latency|Average");
    assert_string_equal(t.names[3], "back_db|latency|p99");
    assert_int_equal(mend_table_col(&t, "back|latency|Average"), 2);
    assert_int_equal(mend_table_col(&t, "nope"), -1);
    assert_true(isnan(t.v[0 * 4 + 3]));
    assert_true(fabs(t.v[2 * 4 + 2] - 0.20) < 1e-12);
    assert_true(t.t[1] == 1681855620LL * 1000000000LL);

    struct mend_topo_file g;
    assert_int_equal(mend_topo_load(FIX "graph.csv", &g, err, sizeof err), 0);
    assert_int_equal(g.n, 3);
    assert_true(g.adj[0 * 3 + 1] && g.adj[1 * 3 + 2] && !g.adj[1 * 3 + 0]);
    /* longest prefix followed by a separator */
    assert_int_equal(mend_topo_node_of(&g, "back_db|latency|p99"), 2);
    assert_int_equal(mend_topo_node_of(&g, "back|latency|Average"), 1);
    assert_int_equal(mend_topo_node_of(&g, "back_db"), 2);
    assert_int_equal(mend_topo_node_of(&g, "backend.cpu"), -1);
    assert_int_equal(mend_topo_node_of(&g, "front cpu"), 0);
    mend_topo_fini(&g);
    mend_table_fini(&t);

    assert_int_equal(mend_table_load(FIX "bad.csv", &t, err, sizeof err), MEND_EPARSE);
    assert_non_null(strstr(err, "bad.csv:3:24"));
    assert_non_null(strstr(err, "'b'"));
    assert_int_equal(mend_table_load(FIX "missing.csv", &t, err, sizeof err), MEND_EIO);
    assert_int_equal(mend_topo_load(FIX "bad.csv", &g, err, sizeof err), MEND_EPARSE);
    assert_non_null(strstr(err, "bad.csv:2:1"));
    mend_table_fini(&t);
}

static int sh(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli(void **state)
{
    (void)state;
    const char *bin = getenv("MEND_BIN");
    if (!bin)
        bin = "./bin/mend";
    char cmd[1024], line[512];
    snprintf(cmd, sizeof cmd,
             "%s localise --baseline " FIX "normal.csv --input " FIX "incident.csv "
             "--window 40:59 --symptom api_latency --topology " FIX "graph_svc.csv --top 2",
             bin);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(line, sizeof line, p));
    assert_int_equal(strncmp(line, "1\tdb_latency\t", 13), 0);
    assert_non_null(strstr(line, "node=db"));
    assert_non_null(fgets(line, sizeof line, p));
    assert_int_equal(strncmp(line, "2\t", 2), 0);
    assert_null(fgets(line, sizeof line, p)); /* --top 2 */
    assert_int_equal(pclose(p), 0);

    snprintf(cmd, sizeof cmd,
             "%s localise --baseline " FIX "normal.csv --input " FIX "incident.csv "
             "--window 40:59 --symptom api_latency --topology " FIX "graph_svc.csv --components",
             bin);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(line, sizeof line, p));
    assert_int_equal(strncmp(line, "1\tdb\t", 5), 0);
    assert_int_equal(pclose(p), 0);

    snprintf(cmd, sizeof cmd, "%s localise --input " FIX "incident.csv --window 5:2 2>/dev/null", bin);
    assert_int_equal(sh(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s localise --input " FIX "incident.csv --window 0:80 2>/dev/null", bin);
    assert_int_equal(sh(cmd), 2);
    snprintf(cmd, sizeof cmd,
             "%s localise --input " FIX "incident.csv --window 0:9 --symptom nope 2>/dev/null", bin);
    assert_int_equal(sh(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s localise --input " FIX "bad.csv --window 0:0 2>/dev/null", bin);
    assert_int_equal(sh(cmd), 1);
}

int main(void)
{
    gsl_set_error_handler_off();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mi_gaussian_closed_form),
        cmocka_unit_test(test_rank_finds_fault),
        cmocka_unit_test(test_ref_memo_exact),
        cmocka_unit_test(test_constant_reference_and_components),
        cmocka_unit_test(test_nsigma_and_errors),
        cmocka_unit_test(test_fast_paths),
        cmocka_unit_test(test_ksg_exact),
        cmocka_unit_test(test_rank_long_window),
        cmocka_unit_test(test_tails_calibrate_spikiness),
        cmocka_unit_test(test_table_and_topology),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
