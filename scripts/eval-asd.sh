#!/bin/sh
# eval-asd.sh BIN ASD_DIR -- what `make eval-asd` runs: for every ASD server
# (ASD_DIR/omi-N/{train,test,test_label}.csv), `BIN score --train train.csv
# test.csv` with the default configuration (SCORE_ARGS=... adds options, e.g.
# "--set ocsvm.lags=2", to try others) (two servers at a time, for the two
# cores we share), then scripts/eval-asd.py rates the scores: best-threshold F1
# per server and overall, without and with point adjustment, for the fused
# score, the Gaussian family, the one-class SVM and a reference (largest |z|
# against the training mean and spread). The last line is
#   asd fused_f1=F gauss_f1=F ocsvm_f1=F ref_f1=F fused_pa_f1=F
set -u
BIN=${1:-}
ASD_DIR=${2:-}
PY=${PYTHON:-/usr/bin/python3}
if [ -z "$BIN" ] || [ -z "$ASD_DIR" ]; then
    echo "usage: $0 BIN ASD_DIR" >&2
    exit 2
fi
if ! ls "$ASD_DIR"/omi-*/train.csv >/dev/null 2>&1; then
    echo "ASD data not found at $ASD_DIR; pass ASD_DIR=... (a directory with omi-N/train.csv)" >&2
    exit 1
fi
if [ ! -x "$BIN" ]; then
    echo "$0: $BIN is not an executable; build it first (make)" >&2
    exit 1
fi
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
ASD_DIR=$(cd "$ASD_DIR" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mend-asd.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM
SCORE_ARGS=${SCORE_ARGS:-}
export BIN ASD_DIR TMP SCORE_ARGS

start=$(date +%s)
(cd "$ASD_DIR" && ls -d omi-*) | tr '\n' '\0' | xargs -0 -n1 -P2 sh -c '
    s=$1
    if "$BIN" score $SCORE_ARGS --train "$ASD_DIR/$s/train.csv" "$ASD_DIR/$s/test.csv" \
            > "$TMP/$s.csv" 2> "$TMP/$s.err"; then
        echo "  scored $s" >&2
    else
        echo "  FAILED $s:" >&2
        sed "s/^/    /" "$TMP/$s.err" | head -5 >&2
        : > "$TMP/$s.failed"
    fi
' sh
if ls "$TMP"/*.failed >/dev/null 2>&1; then
    echo "eval-asd: some servers failed to score" >&2
    exit 1
fi
echo "eval-asd: scored in $(( $(date +%s) - start )) s" >&2
"$PY" "$HERE/eval-asd.py" "$TMP" "$ASD_DIR"
