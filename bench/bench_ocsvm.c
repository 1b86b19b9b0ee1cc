/* bench_ocsvm.c -- the one-class SVM figures of `make bench`.
 *
 *   bench_ocsvm DIR
 *
 * Trains a model of about 200 support vectors over 19 features (2,000
 * synthetic vectors of a few correlated latent signals plus noise, nu = 0.1),
 * then times mend_ocsvm_score (standardise, kernel loop, calibration) over
 * 100,000 vectors, best of 5 passes (the machine is shared: the best pass is
 * the least disturbed one). Writes the model, the standardised
 * vectors and mend's decision values into DIR for bench/ocsvm_sklearn.py,
 * which runs scikit-learn's OneClassSVM.decision_function on the same model
 * and vectors. Then times training on 10,000 x 19 vectors (the default nu and
 * gamma heuristic, no subsampling). Prints
 *   mend vectors_per_s=N n_sv=K dim=19 train_10k_s=T
 * Data are deterministic (a fixed-seed generator). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libsvm/svm.h>

#include "mend/ocsvm.h"

#define DIM 19
#define N_FIT 2000
#define N_SCORE 100000
#define N_TRAIN 10000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rs = 88172645463325252ULL;
static double unif(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return ((double)(rs >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(void)
{
    return sqrt(-2.0 * log(unif())) * cos(6.283185307179586 * unif());
}

/* Three latent signals mixed into 19 metrics, like a server's CPU, memory
 * and network families; every 500th vector is pushed off the manifold. */
static void make(double *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double l[3] = {gauss(), gauss(), gauss()};
        for (size_t j = 0; j < DIM; j++)
            x[i * DIM + j] = 0.5 + 0.1 * l[j % 3] + 0.03 * l[(j + 1) % 3] + 0.02 * gauss() +
                             (i % 500 == 499 ? 0.3 * gauss() : 0.0);
    }
}

static int dump(const char *dir, const char *name, const double *v, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(v, sizeof *v, n, f) != n || fclose(f)) {
        fprintf(stderr, "bench_ocsvm: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

static void quiet(const char *s)
{
    (void)s;
}

static struct mend_ocsvm *train(const double *x, size_t n, double nu, uint32_t cap, double *secs)
{
    const char *names[DIM];
    char buf[DIM][8];
    struct mend_ocsvm_conf c;
    struct mend_ocsvm_spec spec;
    struct mend_ocsvm *m = NULL;
    char err[256];
    mend_ocsvm_conf_defaults(&c);
    c.diffs = 0; /* the vectors are the features */
    c.nu = nu;
    c.max_train = cap;
    for (int j = 0; j < DIM; j++) {
        snprintf(buf[j], sizeof buf[j], "m%d", j + 1);
        names[j] = buf[j];
    }
    if (mend_ocsvm_spec_init(&spec, names, DIM, &c))
        return NULL;
    double t0 = now_s();
    int rc = mend_ocsvm_train(&c, &spec, x, n, 0, 0, "bench", NULL, NULL, &m, NULL, err,
                              sizeof err);
    *secs = now_s() - t0;
    mend_ocsvm_spec_fini(&spec);
    if (rc)
        fprintf(stderr, "bench_ocsvm: training failed: %s\n", err);
    return m;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bench_ocsvm DIR\n");
        return 2;
    }
    svm_set_print_string_function(quiet);
    const char *dir = argv[1];
    double *fit = malloc(N_FIT * DIM * sizeof *fit);
    double *x = malloc((size_t)N_SCORE * DIM * sizeof *x);
    double *z = malloc((size_t)N_SCORE * DIM * sizeof *z);
    double *dec = malloc(N_SCORE * sizeof *dec);
    double *big = malloc((size_t)N_TRAIN * DIM * sizeof *big);
    if (!fit || !x || !z || !dec || !big)
        return 1;
    make(fit, N_FIT);
    make(x, N_SCORE);
    make(big, N_TRAIN);

    double secs;
    struct mend_ocsvm *m = train(fit, N_FIT, 0.1, N_FIT, &secs);
    if (!m)
        return 1;
    size_t nsv = mend_ocsvm_n_sv(m);
    double *scratch = malloc(mend_ocsvm_scratch_len(m) * sizeof *scratch);
    double best = INFINITY, sink = 0.0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_s();
        for (size_t i = 0; i < N_SCORE; i++) {
            double s;
            mend_ocsvm_score(m, x + i * DIM, scratch, &dec[i], &s);
            sink += s;
        }
        double t = now_s() - t0;
        best = t < best ? t : best;
    }
    for (size_t i = 0; i < N_SCORE; i++)
        mend_ocsvm_standardise(m, x + i * DIM, z + i * DIM);
    double scal[4] = {mend_ocsvm_gamma(m), mend_ocsvm_rho(m), (double)nsv, DIM};
    if (dump(dir, "sv", mend_ocsvm_sv(m), nsv * DIM) || dump(dir, "coef", mend_ocsvm_coef(m), nsv) ||
        dump(dir, "scalars", scal, 4) || dump(dir, "z", z, (size_t)N_SCORE * DIM) ||
        dump(dir, "mend", dec, N_SCORE))
        return 1;

    struct mend_ocsvm *m10 = train(big, N_TRAIN, 0.01, N_TRAIN, &secs);
    if (!m10)
        return 1;
    printf("mend vectors_per_s=%.0f n_sv=%zu dim=%d train_10k_s=%.3f train_10k_n_sv=%zu "
           "(checksum %.3f)\n",
           N_SCORE / best, nsv, DIM, secs, mend_ocsvm_n_sv(m10), sink);
    mend_ocsvm_free(m);
    mend_ocsvm_free(m10);
    free(scratch);
    free(fit);
    free(x);
    free(z);
    free(dec);
    free(big);
    return 0;
}
