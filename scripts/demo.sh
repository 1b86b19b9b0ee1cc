#!/bin/sh
# make demo: replay the bundled recording (data/demo.lp) through the whole
# detection pipeline and print the incidents as a table. The JSON lines go to
# $OUT (default build/demo-incidents.jsonl). The private redis-server that
# the remediation stage will use joins this script with that stage.
set -eu
MEND=$1
OUT=${OUT:-build/demo-incidents.jsonl}
mkdir -p "$(dirname "$OUT")"
rm -f "$OUT" # incident outputs append: start this demo on a clean file
echo "== mend demo: replaying data/demo.lp (3 hosts, 1-minute samples, 2 days, 3 injected faults)"
echo "   faults: web-2 CPU saturation + latency (day 2 09:00), db-1 disk collector stops (14:00),"
echo "           web-1 memory level shift (20:00). Incident JSON lines -> $OUT"
"$MEND" replay --config data/demo.yaml --incidents "$OUT" --table data/demo.lp
