#!/bin/sh
# make demo: replay the bundled recording (data/demo.lp) through the whole
# pipeline, with a private redis-server on a unix socket in a temp dir (the
# action stream will live there; today it only proves the server runs here),
# and print the incidents as a table. The JSON lines go to
# $OUT (default build/demo-incidents.jsonl).
set -eu
MEND=$1
OUT=${OUT:-build/demo-incidents.jsonl}
mkdir -p "$(dirname "$OUT")"
dir=$(mktemp -d "${TMPDIR:-/tmp}/mend-demo.XXXXXX")
redis_pid=""
cleanup() {
    [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM
if command -v redis-server >/dev/null 2>&1; then
    redis-server --port 0 --unixsocket "$dir/redis.sock" --dir "$dir" --save '' --appendonly no \
        --daemonize no >"$dir/redis.log" 2>&1 &
    redis_pid=$!
fi
echo "== mend demo: replaying data/demo.lp (3 hosts, 1-minute samples, 2 days, 3 injected faults)"
echo "   faults: web-2 CPU saturation + latency (day 2 09:00), db-1 disk collector stops (14:00),"
echo "           web-1 memory level shift (20:00). Incident JSON lines -> $OUT"
"$MEND" replay --config data/demo.yaml --incidents "$OUT" --table data/demo.lp
