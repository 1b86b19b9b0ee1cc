#!/usr/bin/python3
"""ocsvm_sklearn.py DIR -- the scikit-learn side of the one-class SVM bench.

bench_ocsvm wrote, as little-endian float64 arrays, a trained model
(DIR/sv: n_sv x dim standardised support vectors, DIR/coef, DIR/scalars =
[gamma, rho, n_sv, dim]), the standardised test vectors (DIR/z) and mend's
decision values for them (DIR/mend). This loads the same model into
scikit-learn's OneClassSVM (setting the fitted attributes a fit would set),
times decision_function over the same vectors (best of 5 runs, as mend) and prints
  sklearn vectors_per_s=N max_rel_diff=D
where max_rel_diff is the largest |mend - sklearn| / max(|sklearn|, 1e-12).
"""
import os
import sys
import time

import numpy as np
from sklearn.svm import OneClassSVM


def load(d, name):
    return np.fromfile(os.path.join(d, name), dtype="<f8")


def main():
    d = sys.argv[1]
    gamma, rho, n_sv, dim = load(d, "scalars")
    n_sv, dim = int(n_sv), int(dim)
    sv = load(d, "sv").reshape(n_sv, dim)
    coef = load(d, "coef")
    z = load(d, "z").reshape(-1, dim)
    ours = load(d, "mend")

    # A tiny fit gives a model object with every attribute in place; then the
    # fitted state is replaced by mend's model.
    m = OneClassSVM(kernel="rbf", gamma=gamma, nu=0.5).fit(sv[: min(n_sv, 10)])
    m.support_vectors_ = np.ascontiguousarray(sv)
    m.support_ = np.arange(n_sv, dtype=np.int32)
    m._n_support = np.array([n_sv, n_sv], dtype=np.int32)
    m.dual_coef_ = np.ascontiguousarray(coef.reshape(1, n_sv))
    m._dual_coef_ = m.dual_coef_
    m.intercept_ = np.array([-rho])
    m._intercept_ = m.intercept_.copy()
    m.offset_ = np.array([rho])
    m._gamma = gamma
    m.shape_fit_ = (n_sv, dim)

    # Check the transplant against the formula before timing anything.
    k = np.exp(-gamma * ((z[:50, None, :] - sv[None]) ** 2).sum(-1))
    direct = k @ coef - rho
    got = m.decision_function(z[:50])
    if not np.allclose(direct, got, rtol=1e-9, atol=1e-12):
        sys.exit("ocsvm_sklearn: the transplanted model does not reproduce the formula")

    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        theirs = m.decision_function(z)
        best = min(best, time.perf_counter() - t0)
    rel = np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-12)
    print("sklearn vectors_per_s=%.0f max_rel_diff=%.3g" % (len(z) / best, rel.max()))


if __name__ == "__main__":
    main()
