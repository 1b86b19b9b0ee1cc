/* ocsvm_internal.h -- the one-class SVM model's layout, shared by ocsvm.c
 * (training, scoring) and ocsvm_io.c (records and model directories). Not a
 * public header. */
#ifndef MEND_OCSVM_INTERNAL_H
#define MEND_OCSVM_INTERNAL_H

#include "mend/ocsvm.h"

struct mend_ocsvm {
    struct mend_ocsvm_spec spec;
    size_t dim, n_sv;
    double gamma, rho, nu;
    double *mem;     /* one allocation: mean, inv_sd, sv, coef, svt */
    double *mean;    /* dim: scaler mean */
    double *inv_sd;  /* dim: 1 / scaler spread */
    double *sv;      /* n_sv x dim, standardised, row-major */
    double *coef;    /* n_sv */
    double *svt;     /* the same vectors feature-major (dim x n_sv), for scoring */
    struct mend_calib calib;
    int64_t t_first, t_last;
    uint64_t n_train;
    char version[MEND_OCSVM_MAX_VERSION];
};

/* Allocates a model with room for dim features and n_sv support vectors
 * (arrays uninitialised, spec empty). MEND_EINVAL, MEND_ENOMEM. */
int mend_ocsvm_alloc(struct mend_ocsvm **out, size_t dim, size_t n_sv);

/* Fills svt from sv (after sv changed). */
void mend_ocsvm_transpose(struct mend_ocsvm *m);

/* Builds a spec from n names (lens may be NULL: NUL-terminated). */
int mend_ocsvm_spec_build(struct mend_ocsvm_spec *s, const char *const *names, const size_t *lens,
                          size_t n, uint32_t diffs, uint32_t lags, int missing);
int mend_ocsvm_spec_copy(struct mend_ocsvm_spec *dst, const struct mend_ocsvm_spec *src);

#endif
