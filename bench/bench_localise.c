/* bench_localise.c -- time of one mend_localise_run() as the number of
 * series and the window length grow, on synthetic data (Gaussian noise, one
 * symptom, a fault in one series), one core, the workspace made beforehand
 * as the engine would. Prints one line per size, then
 *   bench localise series=1000 window=512 ms=T
 * (the median of several runs at that size, in CPU milliseconds). Windows
 * up to 64 slots are the KSG regime (see localise.c), longer ones binned. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "mend/localise.h"

/* CPU time of this thread: the machine is shared, so wall time measures the
 * neighbours as much as the localiser; "on one core" is the CPU time. */
static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median ms of `reps` runs over n series with windows (and references) of w. */
static double run(gsl_rng *r, uint32_t n, uint32_t w, int reps)
{
    double *ref = malloc((size_t)n * w * sizeof *ref), *win = malloc((size_t)n * w * sizeof *win);
    struct mend_localise_series *s = calloc(n, sizeof *s);
    if (!ref || !win || !s) {
        fprintf(stderr, "bench_localise: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < (size_t)n * w; i++) {
        ref[i] = gsl_ran_gaussian(r, 1.0);
        win[i] = gsl_ran_gaussian(r, 1.0);
    }
    for (uint32_t k = w / 2; k < w; k++) { /* series 1 breaks, series 0 follows */
        win[(size_t)1 * w + k] += 5;
        win[k] += 3;
    }
    for (uint32_t i = 0; i < n; i++)
        s[i] = (struct mend_localise_series){.ref = ref + (size_t)i * w, .ref_n = w,
                                             .win = win + (size_t)i * w, .win_n = w,
                                             .node = -1, .onset = MEND_LOCALISE_NO_ONSET};
    struct mend_localise_conf c;
    mend_localise_conf_defaults(&c);
    c.max_series = n;
    c.max_window = w;
    c.max_ref = w;
    c.max_nodes = 0;
    struct mend_localise *l = mend_localise_new(&c);
    if (!l) {
        fprintf(stderr, "bench_localise: cannot make the workspace\n");
        exit(1);
    }
    uint32_t sym = 0;
    struct mend_localise_input in = {.series = s, .n_series = n, .symptoms = &sym,
                                     .n_symptoms = 1, .slots = w};
    struct mend_localise_result res;
    double t[16];
    for (int k = 0; k < reps; k++) {
        double t0 = now_ms();
        if (mend_localise_run(l, &in, &res)) {
            fprintf(stderr, "bench_localise: run failed\n");
            exit(1);
        }
        t[k] = now_ms() - t0;
    }
    qsort(t, (size_t)reps, sizeof t[0], dbl_cmp);
    mend_localise_free(l);
    free(s);
    free(ref);
    free(win);
    return t[reps / 2];
}

int main(void)
{
    gsl_set_error_handler_off();
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 1);
    const uint32_t ns[] = {250, 500, 1000, 2000, 4000};
    /* windows of 16 to 64 take KSG (spans up to 128 slots, the annotator's
     * default window of 64 at the top), longer ones the binned MI */
    const uint32_t ws[] = {16, 32, 64, 128, 256, 512, 1024, 2048};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        printf("localise: series=%-5u window=512  ms=%.2f\n", ns[i], run(r, ns[i], 512, 5));
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
        printf("localise: series=1000  window=%-5u ms=%.2f\n", ws[i], run(r, 1000, ws[i], 5));
    printf("bench localise series=1000 window=512 ms=%.2f\n", run(r, 1000, 512, 9));
    gsl_rng_free(r);
    return 0;
}
