#!/bin/sh
# make bench: generate 10 M line-protocol samples over 100,000 series, then
# time `wc -l` (the reference, same file, same run), parse only, and parse +
# scoring through the engine's default configuration. Prints each figure and
# ends with one summary line:
#   bench core samples_per_s=N wc_ratio=R bytes_per_series=N
# wc_ratio = mend's parse+score byte rate / wc -l's byte rate (1.0 = as fast
# as counting newlines). Override SAMPLES / SERIES / BENCH_FILE if you like.
set -eu
GEN=$1
CORE=$2
SAMPLES=${SAMPLES:-10000000}
SERIES=${SERIES:-100000}
FILE=${BENCH_FILE:-${TMPDIR:-/tmp}/mend-bench-$$.lp}
cleanup() { [ -n "${BENCH_FILE:-}" ] || rm -f "$FILE"; }
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
[ -z "${3:-}" ] || "$3" # bench_localise: localiser run time by series count and window
