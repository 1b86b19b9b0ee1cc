#!/bin/sh
# bench-logs.sh BENCH_LOGS -- the log part of `make bench`: generate a log
# corpus (LOG_LINES lines, default 1,000,000, a Zipf mix of 48 events), time
# `wc -l` on it (the reference, same file, same run), then line splitting +
# template mining through the miner's default configuration. Ends with
#   bench logs lines_per_s=N wc_ratio=R
# wc_ratio = mend's byte rate / wc -l's byte rate (1.0 = as fast as counting
# newlines).
set -eu
BL=$1
LINES=${LOG_LINES:-1000000}
FILE=${TMPDIR:-/tmp}/mend-bench-logs-$$.log
trap 'rm -f "$FILE"' EXIT INT TERM

echo "bench: generating $LINES log lines -> $FILE" >&2
"$BL" gen "$LINES" > "$FILE"
bytes=$(wc -c < "$FILE")
sync
cat "$FILE" > /dev/null

now() { date +%s.%N; }
t0=$(now); n=$(wc -l < "$FILE"); t1=$(now)
wc_s=$(awk "BEGIN{print $t1 - $t0}")
wc_bps=$(awk "BEGIN{print $bytes / $wc_s}")
printf 'reference wc -l: lines=%s seconds=%.3f bytes_per_s=%.0f\n' "$n" "$wc_s" "$wc_bps"

res=$("$BL" run "$FILE")
echo "split+mine:  $res"
get() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
lps=$(get "$res" lines_per_s)
bps=$(get "$res" bytes_per_s)
printf 'bench logs lines_per_s=%s wc_ratio=%.3f\n' "$lps" "$(awk "BEGIN{print $bps / $wc_bps}")"
