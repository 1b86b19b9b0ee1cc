#!/bin/sh
# make bench: generate 10 M line-protocol samples over 100,000 series, then
# time `wc -l` (the reference, same file, same run), parse only, and parse +
# scoring through the engine's default configuration. Prints each figure and
# ends with one summary line:
#   bench core samples_per_s=N wc_ratio=R bytes_per_series=N
# then `bench core_steady samples_per_s=N incident_lines=N` (1,000 samples per
# series: past the warm-up), `bench checkpoint series=N ... max_stall_ms=T`
# (1,000,000 series),
# and, given bench_ocsvm, `bench ocsvm vectors_per_s=N sklearn_ratio=R
# max_rel_diff=D train_10k_s=T`.
# wc_ratio = mend's parse+score byte rate / wc -l's byte rate (1.0 = as fast
# as counting newlines). Override SAMPLES / SERIES / BENCH_FILE if you like;
# BENCH_CORE_BASE=path/to/other/bench_core adds same-run A/B lines:
#   bench core_ab base_samples_per_s=N samples_per_s=N ratio=R runs=N
#   bench core_steady_ab base_samples_per_s=N samples_per_s=N ratio=R runs=N
set -eu
GEN=$1
CORE=$2
# Optional parts, named in the environment by `make bench`:
LOGS=${BENCH_LOGS:-}          # the log lines/s figure
OCSVM=${BENCH_OCSVM:-}        # the one-class SVM line, beside scikit-learn
LOCALISE=${BENCH_LOCALISE:-}  # the localiser run time
PCAP=${BENCH_PCAP:-}          # the packets/s figure, beside tcpdump
ACTIONS=${BENCH_ACTIONS:-}    # the remediation path (with BENCH_EXEC = mend-exec)
OCSVM_DIR=""
SAMPLES=${SAMPLES:-10000000}
SERIES=${SERIES:-100000}
FILE=${BENCH_FILE:-${TMPDIR:-/tmp}/mend-bench-$$.lp}
STEADY=${TMPDIR:-/tmp}/mend-bench-steady-$$.lp
cleanup() {
    [ -n "${BENCH_FILE:-}" ] || rm -f "$FILE"
    rm -f "$STEADY"
    [ -z "$OCSVM_DIR" ] || rm -rf "$OCSVM_DIR"
}
trap cleanup EXIT INT TERM

echo "bench: generating $SAMPLES samples over $SERIES series -> $FILE" >&2
"$GEN" --samples "$SAMPLES" --series "$SERIES" > "$FILE"
bytes=$(wc -c < "$FILE")
sync # let writeback of the new file finish before anything is timed
cat "$FILE" > /dev/null # warm the page cache for every contender alike

now() { date +%s.%N; }
t0=$(now); lines=$(wc -l < "$FILE"); t1=$(now)
wc_s=$(awk "BEGIN{print $t1 - $t0}")
wc_bps=$(awk "BEGIN{print $bytes / $wc_s}")
printf 'reference wc -l: lines=%s seconds=%.3f bytes_per_s=%.0f\n' "$lines" "$wc_s" "$wc_bps"

parse=$("$CORE" parse "$FILE")
echo "parse-only:  $parse"
score=$("$CORE" score "$FILE")
echo "parse+score: $score"

get() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
sps=$(get "$score" samples_per_s)
bps=$(get "$score" bytes_per_s)
mem=$(get "$score" rss_bytes_per_series)
ratio=$(awk "BEGIN{print $bps / $wc_bps}")
printf 'bench core samples_per_s=%s wc_ratio=%.3f bytes_per_series=%s\n' "$sps" "$ratio" "$mem"

# A same-run A/B, when BENCH_CORE_BASE names another build's bench_core (for
# example one built at the commit before a change): both score the same
# file, alternately, BENCH_AB_RUNS times each (default 3), and the best run
# of each is compared -- on a shared machine the best is the least disturbed.
# ab FILE NAME prints `bench NAME base_samples_per_s=N samples_per_s=N ratio=R runs=N`.
ab() {
    best_base=0 best_new=0
    i=0
    while [ "$i" -lt "${BENCH_AB_RUNS:-3}" ]; do
        b=$(get "$("$BENCH_CORE_BASE" score "$1")" samples_per_s)
        n=$(get "$("$CORE" score "$1")" samples_per_s)
        best_base=$(awk "BEGIN{print ($b > $best_base) ? $b : $best_base}")
        best_new=$(awk "BEGIN{print ($n > $best_new) ? $n : $best_new}")
        i=$((i + 1))
    done
    printf 'bench %s base_samples_per_s=%s samples_per_s=%s ratio=%.3f runs=%s\n' "$2" \
        "$best_base" "$best_new" "$(awk "BEGIN{print $best_new / $best_base}")" "${BENCH_AB_RUNS:-3}"
}
[ -z "${BENCH_CORE_BASE:-}" ] || ab "$FILE" core_ab

# Past the warm-up: the file above gives each series 100 samples, fewer than
# the scorer's 150-sample warm-up; this one gives 1,200 series 1,000 each, so
# scoring, the entity models and the incidents' localisation all run.
"$GEN" --samples "${STEADY_SAMPLES:-1200000}" --series "${STEADY_SERIES:-1200}" > "$STEADY"
steady=$("$CORE" score "$STEADY")
echo "steady:      $steady"
printf 'bench core_steady samples_per_s=%s incident_lines=%s\n' "$(get "$steady" samples_per_s)" \
    "$(get "$steady" incident_lines)"
[ -z "${BENCH_CORE_BASE:-}" ] || ab "$STEADY" core_steady_ab

# A checkpoint of 1,000,000 series: written in-thread (what ingest would
# wait without a fork) and by a forked child while ingest goes on; the
# longest batch of 10,000 samples during the latter is the stall.
CKDIR=$(mktemp -d "${TMPDIR:-/tmp}/mend-bench-ckpt.XXXXXX")
"$CORE" ckpt "${CKPT_SERIES:-1000000}" "$CKDIR" || echo "bench checkpoint: failed"
rm -rf "$CKDIR"

# The log figures (line splitting + template mining), when bench_logs is given.
[ -z "$LOGS" ] || sh "$(dirname "$0")/bench-logs.sh" "$LOGS"

# One-class SVM: mend's scoring of a ~200-SV model over 19 features, and
# scikit-learn's decision_function on the same model and vectors, same run.
if [ -n "$OCSVM" ]; then
    OCSVM_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mend-bench-ocsvm.XXXXXX")
    ours=$("$OCSVM" "$OCSVM_DIR")
    echo "ocsvm: $ours"
    theirs=$(${PYTHON:-/usr/bin/python3} "$(dirname "$0")/../bench/ocsvm_sklearn.py" "$OCSVM_DIR")
    echo "ocsvm: $theirs"
    ovps=$(get "$ours" vectors_per_s)
    svps=$(get "$theirs" vectors_per_s)
    printf 'bench ocsvm vectors_per_s=%s sklearn_ratio=%.2f max_rel_diff=%s train_10k_s=%s\n' \
        "$ovps" "$(awk "BEGIN{print $ovps / $svps}")" "$(get "$theirs" max_rel_diff)" \
        "$(get "$ours" train_10k_s)"
fi

# The localiser's run time by series count and window, when bench_localise is given.
[ -z "$LOCALISE" ] || "$LOCALISE"

# The packet figure (capture-file path), when bench_pcap is given.
[ -z "$PCAP" ] || sh "$(dirname "$0")/bench-pcap.sh" "$PCAP"

# JetStream into one and three `mend cluster` engines beside replay, and the
# takeover time, when bench_cluster is given (it starts its own nats-server).
[ -z "${BENCH_CLUSTER:-}" ] || "$BENCH_CLUSTER" "${MEND_BIN:-bin/mend}" "${CLUSTER_SAMPLES:-1000000}" ||
    echo "bench cluster: failed"

# The remediation path with a private redis-server and mend-exec, when bench_actions is given.
[ -z "$ACTIONS" ] || "$ACTIONS" "${BENCH_EXEC:-bin/mend-exec}"
