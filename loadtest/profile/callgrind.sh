#!/usr/bin/env bash
# Instructions per message under callgrind: stable on a noisy machine, unlike time.
# Starts a release node under `valgrind --tool=callgrind` with instrumentation off, runs the
# fixed `profile` scenario (100 conversations x 10 messages each way), switches counting on when
# the first visitor connects (agent logins and start-up are not counted), dumps at the end and
# prints acked messages, loss and errors. Read the profile with
#   callgrind_annotate --inclusive=yes OUT/node.callgrind.1 | head -60
# and divide by the acked count (`switchboard::metrics::render` is the harness's 1 Hz scrape:
# subtract it for the per-message figure).
#
#   loadtest/profile/callgrind.sh [OUT]      (default /tmp/sb-callgrind; needs valgrind)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="${1:-/tmp/sb-callgrind}"
BIN="${SWITCHBOARD_BIN:-$ROOT/target/release/switchboard}"
LOADTEST="${SWITCHBOARD_LOADTEST_BIN:-$ROOT/target/release/switchboard-loadtest}"
PORT="${PORT:-18310}"
rm -rf "$OUT"; mkdir -p "$OUT/data"
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/node.callgrind" \
  "$BIN" --listen "127.0.0.1:$PORT" --data-dir "$OUT/data" --log-level warn --workers 1 \
  >"$OUT/node.log" 2>&1 &
NODE=$!
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 1; done
"$LOADTEST" run -s profile -t "http://127.0.0.1:$PORT" -o "$OUT/report" --quiet --server-pid "$NODE" \
  >"$OUT/loadtest.log" 2>&1 &
LT=$!
# Agents log in first (argon2); count from the first visitor on.
for _ in $(seq 1 600); do
  n=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^switchboard_connections\{role="visitor"\}/{print $2}')
  [ "${n:-0}" != "0" ] && break
  sleep 0.2
done
callgrind_control -i on "$NODE" >/dev/null
wait "$LT" || true
callgrind_control -d "$NODE" >/dev/null
sleep 1
kill "$NODE"; wait "$NODE" 2>/dev/null || true
python3 - "$OUT" <<'PY'
import json, sys
r = json.load(open(f"{sys.argv[1]}/report/profile.json"))
print(f"acked {r['counters'].get('acked', 0)}  loss {r['loss_total']}  errors {r['errors_total']}")
PY
ls "$OUT"/node.callgrind*
