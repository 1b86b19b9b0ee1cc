#!/bin/sh
# eval-localise.sh BIN ASD_DIR PETSHOP_DIR -- what `make eval-localise` runs.
#
# ASD: for every segment `START-END:dims` of each server's
# interpretation_label.txt, rank the 19 metrics of test.csv with the segment
# as the window and train.csv as the baseline; HitRate@P% = share of the
# labelled metrics G found in the top floor(P% * |G|), averaged over the
# segments, for P = 100 and 150, per server and overall, for mend's ranking
# and for the N-sigma reference (`--method nsigma`) in the same run.
# PetShop: for every PETSHOP_DIR/*/{train,test}/issue_*, rank the graph's
# components with the target.json symptom column as --symptom, graph.csv as
# --topology, the scenario's noissue/metrics.csv as baseline when present
# (else the rows before the target time of all the scenario's issues,
# pooled), the window running from the row that holds the target timestamp
# to the end; top-1 / top-3 recall of the
# root-cause node per scenario and overall, beside the N-sigma reference.
# Last line:
#   localise asd_hit100=F asd_hit150=F ref_hit150=F petshop_top1=F petshop_top3=F issues=N
set -u
BIN=${1:-}
ASD=${2:-}
PET=${3:-}
if [ -z "$BIN" ] || [ -z "$ASD" ] || [ -z "$PET" ]; then
    echo "usage: $0 BIN ASD_DIR PETSHOP_DIR" >&2
    exit 2
fi
[ -x "$BIN" ] || { echo "$0: $BIN is not an executable; build it first (make)" >&2; exit 1; }
ls "$ASD"/*/interpretation_label.txt >/dev/null 2>&1 ||
    { echo "ASD data not found at $ASD; pass ASD_DIR=..." >&2; exit 1; }
ls "$PET"/*/graph.csv >/dev/null 2>&1 ||
    { echo "PetShop data not found at $PET; pass PETSHOP_DIR=..." >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mend-localise.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM
fails=0

# hit P RANKFILE DIMS -> share of DIMS (comma list of 1-based metric numbers)
# among the first floor(P * |DIMS|) columns of RANKFILE.
hit() {
    awk -F'\t' -v p="$1" -v dims="$3" '
        BEGIN { n = split(dims, d, ","); for (i = 1; i <= n; i++) g["m" d[i]] = 1
                k = int(p * n + 1e-9) }
        NR <= k && ($2 in g) { h++ }
        END { printf "%.6f\n", (n ? h / n : 0) }' "$2"
}

echo "ASD (HitRate@100% / @150%; reference = N-sigma)"
: > "$TMP/asd_all"
for dir in $(ls -d "$ASD"/*/ | sort -V); do
    srv=$(basename "$dir")
    : > "$TMP/asd_srv"
    while IFS= read -r line || [ -n "$line" ]; do
        line=$(echo "$line" | tr -d '\r ')
        [ -n "$line" ] || continue
        range=${line%%:*}; dims=${line#*:}
        a=${range%-*}; b=${range#*-}
        if ! "$BIN" localise --baseline "$dir/train.csv" --input "$dir/test.csv" \
                --window "$a:$b" > "$TMP/r" 2> "$TMP/err" ||
           ! "$BIN" localise --method nsigma --baseline "$dir/train.csv" \
                --input "$dir/test.csv" --window "$a:$b" > "$TMP/n" 2>> "$TMP/err"; then
            echo "  $srv $range: failed: $(head -c 300 "$TMP/err")" >&2
            fails=$((fails + 1))
            continue
        fi
        echo "$(hit 1.0 "$TMP/r" "$dims") $(hit 1.5 "$TMP/r" "$dims") $(hit 1.0 "$TMP/n" "$dims") $(hit 1.5 "$TMP/n" "$dims")" >> "$TMP/asd_srv"
    done < "$dir/interpretation_label.txt"
    cat "$TMP/asd_srv" >> "$TMP/asd_all"
    awk -v s="$srv" '{ a += $1; b += $2; c += $3; d += $4; n++ }
        END { if (n) printf "  %-7s segments=%-3d hit100=%.3f hit150=%.3f  ref_hit100=%.3f ref_hit150=%.3f\n", s, n, a/n, b/n, c/n, d/n }' "$TMP/asd_srv"
done
awk '{ a += $1; b += $2; c += $3; d += $4; n++ }
    END { printf "  overall segments=%-3d hit100=%.3f hit150=%.3f  ref_hit100=%.3f ref_hit150=%.3f\n", n, a/n, b/n, c/n, d/n
          printf "%.3f %.3f %.3f %.3f %d\n", a/n, b/n, c/n, d/n, n > "/dev/stderr" }' "$TMP/asd_all" 2> "$TMP/asd_sum"

echo "PetShop (top-1 / top-3 recall of the root-cause component; reference = N-sigma)"
: > "$TMP/pet_all"
for sdir in $(ls -d "$PET"/*/ | sort); do
    scen=$(basename "$sdir")
    [ -f "$sdir/graph.csv" ] || continue
    : > "$TMP/pet_scen"
    # Without noissue data the reference is the normal stretch every issue
    # of the scenario recorded before its fault began (the rows before the
    # target time), pooled: the issue files share one header per scenario.
    pool="$TMP/pool.csv"
    rm -f "$pool"
    if [ ! -f "$sdir/noissue/metrics.csv" ]; then
        for idir in $(ls -d "$sdir"/train/issue_* "$sdir"/test/issue_* 2>/dev/null | sort -V); do
            tj="$idir/target.json"; mc="$idir/metrics.csv"
            [ -f "$tj" ] && [ -f "$mc" ] || continue
            ts=$(sed -n 's/.*"target": *{[^}]*"timestamp": *\([0-9.]*\).*/\1/p' "$tj")
            [ -f "$pool" ] || awk -F, '$1 ~ /^[0-9.]+$/ { exit } { print }' "$mc" > "$pool"
            awk -F, -v ts="$ts" '$1 ~ /^[0-9.]+$/ && $1 + 0 < ts + 0' "$mc" >> "$pool"
        done
    fi
    for idir in $(ls -d "$sdir"/train/issue_* "$sdir"/test/issue_* 2>/dev/null | sort -V); do
        tj="$idir/target.json"; mc="$idir/metrics.csv"
        [ -f "$tj" ] && [ -f "$mc" ] || continue
        node=$(sed -n 's/.*"target": *{[^}]*"node": *"\([^"]*\)".*/\1/p' "$tj")
        metric=$(sed -n 's/.*"target": *{[^}]*"metric": *"\([^"]*\)".*/\1/p' "$tj")
        agg=$(sed -n 's/.*"target": *{[^}]*"agg": *"\([^"]*\)".*/\1/p' "$tj")
        ts=$(sed -n 's/.*"target": *{[^}]*"timestamp": *\([0-9.]*\).*/\1/p' "$tj")
        rc=$(sed -n 's/.*"root_cause": *{[^}]*"node": *"\([^"]*\)".*/\1/p' "$tj")
        # data rows: those whose first cell is a number; the window starts at
        # the last one at or before the target time
        rows=$(awk -F, '$1 ~ /^[0-9.]+$/ { n++ } END { print n + 0 }' "$mc")
        start=$(awk -F, -v ts="$ts" '$1 ~ /^[0-9.]+$/ { if ($1 + 0 <= ts + 0) s = n; n++ } END { print s + 0 }' "$mc")
        base=""
        if [ -f "$sdir/noissue/metrics.csv" ]; then
            base="--baseline $sdir/noissue/metrics.csv"
        elif [ -f "$pool" ]; then
            base="--baseline $pool"
        fi
        # shellcheck disable=SC2086
        if ! "$BIN" localise $base --input "$mc" --window "$start:$((rows - 1))" \
                --symptom "$node|$metric|$agg" --topology "$sdir/graph.csv" --components \
                > "$TMP/r" 2> "$TMP/err" ||
           ! "$BIN" localise $base --method nsigma --input "$mc" --window "$start:$((rows - 1))" \
                --symptom "$node|$metric|$agg" --topology "$sdir/graph.csv" --components \
                > "$TMP/n" 2>> "$TMP/err"; then
            echo "  $scen $(basename "$idir"): failed: $(head -c 300 "$TMP/err")" >&2
            fails=$((fails + 1))
            continue
        fi
        t1=$(awk -F'\t' -v rc="$rc" 'NR == 1 && $2 == rc { h = 1 } END { print h + 0 }' "$TMP/r")
        t3=$(awk -F'\t' -v rc="$rc" 'NR <= 3 && $2 == rc { h = 1 } END { print h + 0 }' "$TMP/r")
        n1=$(awk -F'\t' -v rc="$rc" 'NR == 1 && $2 == rc { h = 1 } END { print h + 0 }' "$TMP/n")
        n3=$(awk -F'\t' -v rc="$rc" 'NR <= 3 && $2 == rc { h = 1 } END { print h + 0 }' "$TMP/n")
        echo "$t1 $t3 $n1 $n3" >> "$TMP/pet_scen"
        [ -n "${VERBOSE:-}" ] && echo "    $scen $(basename "$idir") rc=$rc top: $(cut -f2 "$TMP/r" | head -3 | tr '\n' ' ')" >&2
    done
    cat "$TMP/pet_scen" >> "$TMP/pet_all"
    awk -v s="$scen" '{ a += $1; b += $2; c += $3; d += $4; n++ }
        END { if (n) printf "  %-18s issues=%-3d top1=%.3f top3=%.3f  ref_top1=%.3f ref_top3=%.3f\n", s, n, a/n, b/n, c/n, d/n }' "$TMP/pet_scen"
done
awk '{ a += $1; b += $2; c += $3; d += $4; n++ }
    END { if (!n) n = 1
          printf "  overall            issues=%-3d top1=%.3f top3=%.3f  ref_top1=%.3f ref_top3=%.3f\n", NR, a/n, b/n, c/n, d/n
          printf "%.3f %.3f %d\n", a/n, b/n, NR > "/dev/stderr" }' "$TMP/pet_all" 2> "$TMP/pet_sum"

read -r h100 h150 r100 r150 nseg < "$TMP/asd_sum"
read -r p1 p3 npet < "$TMP/pet_sum"
[ "$fails" -eq 0 ] || echo "eval-localise: $fails run(s) failed" >&2
echo "localise asd_hit100=$h100 asd_hit150=$h150 ref_hit150=$r150 petshop_top1=$p1 petshop_top3=$p3 issues=$((nseg + npet))"
[ "$fails" -eq 0 ]
