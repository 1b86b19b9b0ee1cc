#!/bin/sh
# eval-nab.sh BIN NAB_DIR -- what `make eval-nab` runs: score every NAB data
# file with `BIN score` (two at a time, for the two cores we share), then
# rate the results with `BIN eval` against NAB_DIR/windows.csv. Progress goes
# to stderr; stdout ends with `nab loco standard=S low_fp=S low_fn=S
# categories=N` (leave one category out: each category scored at the
# threshold chosen on the others) and `nab standard=S low_fp=S low_fn=S files=N`.
# Exits non-zero when any file fails to score or the evaluation fails.
set -u

BIN=${1:-}
NAB_DIR=${2:-}
if [ -z "$BIN" ] || [ -z "$NAB_DIR" ]; then
    echo "usage: $0 BIN NAB_DIR" >&2
    exit 2
fi
if [ ! -f "$NAB_DIR/windows.csv" ] || [ ! -d "$NAB_DIR/data" ]; then
    echo "NAB data not found at $NAB_DIR; pass NAB_DIR=... (a directory with windows.csv and data/)" >&2
    exit 1
fi
if [ ! -x "$BIN" ]; then
    echo "$0: $BIN is not an executable; build it first (make)" >&2
    exit 1
fi
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
NAB_DIR=$(cd "$NAB_DIR" && pwd)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mend-nab.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

(cd "$NAB_DIR/data" && find . -name '*.csv' -type f | sed 's|^\./||' | sort) > "$TMP/.files"
total=$(wc -l < "$TMP/.files" | tr -d ' ')
if [ "$total" -eq 0 ]; then
    echo "NAB data not found at $NAB_DIR (no data/*/*.csv); pass NAB_DIR=..." >&2
    exit 1
fi
echo "eval-nab: scoring $total files from $NAB_DIR with $BIN score" >&2
mkdir -p "$TMP/res" "$TMP/fail"
TMP_RES=$TMP/res TMP_FAIL=$TMP/fail
export BIN NAB_DIR TMP_RES TMP_FAIL

# Each job writes its own file; a failed job leaves a marker so the count of
# failures survives xargs (which only says "some failed").
start=$(date +%s)
tr '\n' '\0' < "$TMP/.files" | xargs -0 -n1 -P2 sh -c '
    f=$1; out="$TMP_RES/$f"
    mkdir -p "$(dirname "$out")"
    if "$BIN" score < "$NAB_DIR/data/$f" > "$out" 2> "$out.err"; then
        rm -f "$out.err"
        echo "  scored $f" >&2
    else
        echo "  FAILED $f:" >&2
        sed "s/^/    /" "$out.err" | head -5 >&2
        rm -f "$out" "$out.err"
        : > "$TMP_FAIL/$(echo "$f" | tr / _)"
    fi
' sh
failed=$(ls "$TMP/fail" 2>/dev/null | wc -l | tr -d ' ')
echo "eval-nab: scored $total files in $(( $(date +%s) - start )) s" >&2
if [ "$failed" -ne 0 ]; then
    echo "eval-nab: $failed of $total files failed to score" >&2
    exit 1
fi
"$BIN" eval --windows "$NAB_DIR/windows.csv" "$TMP/res"
