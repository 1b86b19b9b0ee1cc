#!/bin/sh
# make demo: replay the bundled recording (data/demo.lp) through detection,
# the rules and mend-exec. A private redis-server (unix socket in a temp
# dir), a fresh Ed25519 key pair, a stand-in "web-2" service process and
# mend-exec are started here and stopped at the end. Actions are harmless
# (scripts/demo-action.sh): the restart really restarts the stand-in.
# Incident JSON lines -> $OUT (default build/demo-incidents.jsonl); the
# audit log -> build/demo-audit.jsonl.
set -eu
MEND=$1
EXEC=$(dirname "$MEND")/mend-exec
OUT=${OUT:-build/demo-incidents.jsonl}
AUDIT=build/demo-audit.jsonl
mkdir -p "$(dirname "$OUT")" build
rm -f "$OUT" "$AUDIT" # outputs append: start this demo on clean files
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mend-demo.XXXXXX")
REDIS_PID=; EXEC_PID=
cleanup() {
    [ -z "$EXEC_PID" ] || { kill "$EXEC_PID" 2>/dev/null; wait "$EXEC_PID" 2>/dev/null || true; }
    [ -z "$REDIS_PID" ] || { kill "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null || true; }
    for f in "$TMP"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

echo "== mend demo: replaying data/demo.lp (3 hosts, 1-minute samples, 2 days, 3 injected faults)"
echo "   faults: web-2 CPU saturation + latency (day 2 09:00), db-1 disk collector stops (14:00),"
echo "           web-1 memory level shift (20:00). Incident JSON lines -> $OUT"
redis-server --port 0 --unixsocket "$TMP/redis.sock" --dir "$TMP" --save "" --appendonly no \
    >"$TMP/redis.log" 2>&1 &
REDIS_PID=$!
i=0
until redis-cli -s "$TMP/redis.sock" ping >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 200 ] || { echo "redis-server did not start" >&2; exit 1; }; sleep 0.05
done
openssl genpkey -algorithm ED25519 -out "$TMP/engine.key" 2>/dev/null
openssl pkey -in "$TMP/engine.key" -pubout -out "$TMP/engine.pub" 2>/dev/null
setsid sleep 600 </dev/null >/dev/null 2>&1 &
echo $! > "$TMP/web-2.pid"
ACT=$(cd "$(dirname "$0")" && pwd)/demo-action.sh
cat > "$TMP/allowlist.yaml" <<YAML
redis: unix:$TMP/redis.sock
consumer: demo-exec
keys: { k1: $TMP/engine.pub }
actions:
  restart:
    argv: [/bin/sh, $ACT, $TMP, restart, "{service}"]
    timeout: 5s
    params: { service: { type: pattern, pattern: "[a-z][a-z0-9-]*" } }
  scale:
    argv: [/bin/sh, $ACT, $TMP, scale, "{service}", "--replicas={replicas}"]
    timeout: 5s
    params: { service: { type: pattern, pattern: "[a-z][a-z0-9-]*" }, replicas: { type: int, min: 1, max: 20 } }
  throttle:
    argv: [/bin/sh, $ACT, $TMP, throttle, "{service}", "{rate}"]
    timeout: 5s
    params: { service: { type: pattern, pattern: "[a-z][a-z0-9-]*" }, rate: { type: int, min: 1, max: 100000 } }
  notify:
    argv: [/bin/sh, $ACT, $TMP, notify, "{summary}"]
    timeout: 5s
    params: { summary: { type: string, max_len: 200 } }
YAML
cat > "$TMP/remediation.yaml" <<YAML
remediation:
  enabled: true
  rules: [rules/demo.yaml]
  redis: unix:$TMP/redis.sock
  key: $TMP/engine.key
  key_id: k1
  spool: $TMP/spool
  audit: $AUDIT
YAML
"$EXEC" --config "$TMP/allowlist.yaml" 2>"$TMP/exec.log" &
EXEC_PID=$!
echo "   redis-server pid $REDIS_PID, mend-exec pid $EXEC_PID, stand-in web-2 service pid $(cat "$TMP/web-2.pid")"
"$MEND" replay --config data/demo.yaml --remediation "$TMP/remediation.yaml" --incidents "$OUT" --table data/demo.lp
echo
echo "== remediation (audit log $AUDIT; event time, decision, rule, target, action, why)"
python3 - "$AUDIT" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d["event"] in ("matched", "incident_resolve", "in_flight", "cooldown"):
        continue
    p = " ".join(f"{k}={v}" for k, v in d.get("params", {}).items())
    print(f'  {d["t"] or "":<20}  {d["event"]:<16} {d.get("rule", ""):<20} {d.get("target", d.get("entity", "")):<7} '
          f'{d.get("action", ""):<8} {p[:50]:<50} {d.get("why", "")[:60]}')
PY
echo
echo "== what mend-exec ran (results stream)"
redis-cli -s "$TMP/redis.sock" --raw XRANGE mend:results - + | awk '
    /^(action|target|status|duration_ms|output)$/ { k = $0; getline; v[k] = $0; if (k == "output") {
        printf "  %-8s %-7s %-7s %4s ms  %s\n", v["action"], v["target"], v["status"], v["duration_ms"], v["output"] } }'
echo
echo "== reliability (mend report)"
"$MEND" report --audit "$AUDIT"
