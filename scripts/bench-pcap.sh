#!/bin/sh
# bench-pcap.sh BENCH_PCAP -- the packet part of `make bench`: generate a
# capture (PCAP_PACKETS packets, default 1,000,000: HTTP, TLS, SSH, Postgres
# and DNS conversations with handshakes, resets, retransmissions and 5xx),
# time `tcpdump -r FILE -w /dev/null` on it (the reference, same file, same
# run), then the capture-file path of `mend replay` (libpcap read, decode,
# flows, rows, samples). Ends with
#   bench pcap packets_per_s=N tcpdump_ratio=R
# tcpdump_ratio = mend's packets/s / tcpdump's (1.0 = as fast as tcpdump
# copying the packets to /dev/null). Each side is timed twice; the faster
# run counts (the machine is shared).
set -eu
BP=$1
PACKETS=${PCAP_PACKETS:-1000000}
FILE=${TMPDIR:-/tmp}/mend-bench-$$.pcap
trap 'rm -f "$FILE"' EXIT INT TERM
TCPDUMP=${TCPDUMP:-$(command -v tcpdump || echo /usr/bin/tcpdump)}

echo "bench: generating $PACKETS packets -> $FILE" >&2
"$BP" gen "$PACKETS" "$FILE"
sync
cat "$FILE" > /dev/null

now() { date +%s.%N; }
best=""
for i in 1 2; do
    t0=$(now); "$TCPDUMP" -r "$FILE" -w /dev/null 2>/dev/null; t1=$(now)
    s=$(awk "BEGIN{print $t1 - $t0}")
    best=$(awk "BEGIN{b=\"$best\"; print (b == \"\" || $s < b) ? $s : b}")
done
td_pps=$(awk "BEGIN{print $PACKETS / $best}")
printf 'reference tcpdump -r -w /dev/null: packets=%s seconds=%.3f packets_per_s=%.0f\n' "$PACKETS" "$best" "$td_pps"

get() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
res=""; pps=0
for i in 1 2; do
    r=$("$BP" run "$FILE")
    p=$(get "$r" packets_per_s)
    if awk "BEGIN{exit !($p > $pps)}"; then pps=$p; res=$r; fi
done
echo "capture path: $res"
printf 'bench pcap packets_per_s=%s tcpdump_ratio=%.3f\n' "$pps" "$(awk "BEGIN{print $pps / $td_pps}")"
