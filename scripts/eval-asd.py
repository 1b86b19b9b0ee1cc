#!/usr/bin/python3
"""eval-asd.py RESULTS_DIR ASD_DIR -- rates `mend score --train` output on the
ASD servers (what `make eval-asd` runs after scoring).

For every server omi-N with RESULTS_DIR/omi-N.csv (timestamp,anomaly_score,
gauss,ocsvm) and ASD_DIR/omi-N/test_label.csv it prints the best-threshold F1
of each score without and with point adjustment (a detection anywhere in a
labelled segment counts the whole segment), beside a reference detector
computed here in the same run: the largest |z| of the test row against the
training mean and standard deviation of each column. "Overall" is the mean
over servers of each server's best F1 (each server gets its own best
threshold, as in the literature on this data). The last line is
  asd fused_f1=F gauss_f1=F ocsvm_f1=F ref_f1=F fused_pa_f1=F
"""
import os
import sys

import numpy as np


def best_f1(score, label, adjust):
    """Largest F1 over every threshold (predict anomaly when score >= t)."""
    score = np.asarray(score, dtype=float)
    label = np.asarray(label, dtype=bool)
    pos = int(label.sum())
    if pos == 0:
        return 0.0
    thr = np.unique(score)[::-1]                  # every distinct value, descending
    neg_sorted = np.sort(score[~label])
    fp = len(neg_sorted) - np.searchsorted(neg_sorted, thr, side="left")
    if adjust:
        # A segment is all detected as soon as its largest score passes t.
        edges = np.diff(np.concatenate(([0], label.astype(int), [0])))
        starts, ends = np.where(edges == 1)[0], np.where(edges == -1)[0]
        seg_max = np.array([score[a:b].max() for a, b in zip(starts, ends)])
        seg_len = (ends - starts).astype(float)
        order = np.argsort(seg_max)
        seg_max, seg_len = seg_max[order], seg_len[order]
        cum = np.concatenate(([0.0], np.cumsum(seg_len[::-1])))  # lengths from the top
        tp = cum[len(seg_max) - np.searchsorted(seg_max, thr, side="left")]
    else:
        pos_sorted = np.sort(score[label])
        tp = (len(pos_sorted) - np.searchsorted(pos_sorted, thr, side="left")).astype(float)
    f1 = 2 * tp / np.maximum(2 * tp + fp + (pos - tp), 1)
    return float(f1.max())


def load_csv(path):
    return np.genfromtxt(path, delimiter=",", skip_header=1, dtype=float)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: eval-asd.py RESULTS_DIR ASD_DIR")
    res_dir, asd = sys.argv[1], sys.argv[2]
    servers = sorted((d for d in os.listdir(asd) if d.startswith("omi-")),
                     key=lambda d: int(d.split("-")[1]))
    names = ["fused", "gauss", "ocsvm", "ref"]
    rows = []
    print("%-7s %s" % ("server", "  ".join("%-5s f1 / pa" % n for n in names)))
    for srv in servers:
        out = os.path.join(res_dir, srv + ".csv")
        if not os.path.exists(out):
            sys.exit("eval-asd: no scores for %s" % srv)
        got = load_csv(out)
        y = np.loadtxt(os.path.join(asd, srv, "test_label.csv"), skiprows=1)
        tr = load_csv(os.path.join(asd, srv, "train.csv"))
        te = load_csv(os.path.join(asd, srv, "test.csv"))
        if got.ndim != 2 or got.shape[0] != len(y) or te.shape[0] != len(y):
            sys.exit("eval-asd: %s: %d scored rows for %d labels" % (srv, got.shape[0], len(y)))
        sd = tr.std(axis=0)
        sd[sd < 1e-12] = 1e-12
        ref = np.abs((te - tr.mean(axis=0)) / sd).max(axis=1)
        scores = [got[:, 1], got[:, 2], got[:, 3], ref]
        r = [(best_f1(s, y, False), best_f1(s, y, True)) for s in scores]
        rows.append(r)
        print("%-7s %s" % (srv, "  ".join("%.3f / %.3f" % x for x in r)))
    mean = np.mean(np.array(rows), axis=0)
    print("%-7s %s" % ("overall", "  ".join("%.3f / %.3f" % tuple(x) for x in mean)))
    print("asd fused_f1=%.3f gauss_f1=%.3f ocsvm_f1=%.3f ref_f1=%.3f fused_pa_f1=%.3f"
          % (mean[0][0], mean[1][0], mean[2][0], mean[3][0], mean[0][1]))


if __name__ == "__main__":
    main()
