#!/bin/sh
# bench-logs.sh BENCH_LOGS -- the log part of `make bench`: generate a log
# corpus (LOG_LINES lines, default 1,000,000, a Zipf mix of 48 events) as
# RFC 5424 syslog lines, time `wc -l` on it (the reference, same file, same
# run), then the whole log path of `mend replay` over it: RFC 6587 framing +
# syslog parsing + template mining + per-interval counts (default
# configuration). The miner alone over the bare messages is printed too.
# Ends with
#   bench logs lines_per_s=N wc_ratio=R
# (the whole path) where wc_ratio = mend's byte rate / wc -l's byte rate
# (1.0 = as fast as counting newlines).
set -eu
BL=$1
LINES=${LOG_LINES:-1000000}
FILE=${TMPDIR:-/tmp}/mend-bench-logs-$$.log
MSGS=${TMPDIR:-/tmp}/mend-bench-msgs-$$.log
trap 'rm -f "$FILE" "$MSGS"' EXIT INT TERM

echo "bench: generating $LINES syslog lines -> $FILE" >&2
"$BL" gen-syslog "$LINES" > "$FILE"
"$BL" gen "$LINES" > "$MSGS"
bytes=$(wc -c < "$FILE")
sync
cat "$FILE" > /dev/null

now() { date +%s.%N; }
t0=$(now); n=$(wc -l < "$FILE"); t1=$(now)
wc_s=$(awk "BEGIN{print $t1 - $t0}")
wc_bps=$(awk "BEGIN{print $bytes / $wc_s}")
printf 'reference wc -l: lines=%s seconds=%.3f bytes_per_s=%.0f\n' "$n" "$wc_s" "$wc_bps"

echo "mine only:   $("$BL" run "$MSGS")"
res=$("$BL" syslog "$FILE")
echo "frame+parse+mine+count: $res"
get() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
lps=$(get "$res" lines_per_s)
bps=$(get "$res" bytes_per_s)
printf 'bench logs lines_per_s=%s wc_ratio=%.3f\n' "$lps" "$(awk "BEGIN{print $bps / $wc_bps}")"
