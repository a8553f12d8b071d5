#!/usr/bin/env bash
# Where a node's CPU goes per persisted message, by thread group (actix/HTTP workers, the SQLite
# writer, tokio's blocking pool), user and system time, with context switches and read/write
# calls per message, from /proc/<pid>/task/*/stat, status and /proc/<pid>/io. Runs a fixed load
# (SCENARIO, default the built-in `steady`; docs/benchmarks.md uses a fixed-rate file) against a
# fresh release node, measures 30 s after a 25 s warm-up, and prints the split.
#
#   loadtest/profile/threads.sh [SCENARIO] [-- NODE ARGS...]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SCENARIO="${1:-steady}"; shift || true
[ "${1:-}" = "--" ] && shift
BIN="${SWITCHBOARD_BIN:-$ROOT/target/release/switchboard}"
LOADTEST="${SWITCHBOARD_LOADTEST_BIN:-$ROOT/target/release/switchboard-loadtest}"
PORT="${PORT:-18201}"
OUT="$(mktemp -d)"
"$BIN" --listen "127.0.0.1:$PORT" --data-dir "$OUT/data" --log-level warn "$@" >"$OUT/node.log" 2>&1 &
NODE=$!
trap 'kill $NODE 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.5; done

# Per thread group (thread name without its number): user and system clock ticks.
snap() {
  for t in /proc/$NODE/task/*; do
    c=$(cat "$t/comm"); s=($(sed 's/.*) //' "$t/stat"))
    echo "$c ${s[11]} ${s[12]}"
  done | awk '{sub(/:.*/,"",$1); sub(/[0-9]+$/,"",$1); u[$1]+=$2; s[$1]+=$3}
              END{for (k in u) print k"\t"u[k]"\t"s[k]}' | sort
}
persisted() { curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^switchboard_messages_persisted_total /{print $2}'; }
switches() { cat /proc/$NODE/task/*/status 2>/dev/null | awk '/ctxt_switches/{s+=$2} END{print s}'; }

"$LOADTEST" run -s "$SCENARIO" -t "http://127.0.0.1:$PORT" -o "$OUT/report" --quiet >"$OUT/loadtest.log" 2>&1 &
LT=$!
sleep 25
m0=$(persisted); snap >"$OUT/s0"; cp /proc/$NODE/io "$OUT/io0"; c0=$(switches)
sleep 30
m1=$(persisted); snap >"$OUT/s1"; cp /proc/$NODE/io "$OUT/io1"; c1=$(switches)
wait "$LT" || true
python3 - "$OUT" "$m0" "$m1" "$c0" "$c1" "$(getconf CLK_TCK)" <<'PY'
import sys
out, m0, m1, c0, c1, tick = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
def load(f):
    return {k: (int(u), int(s)) for k, u, s in (l.split('\t') for l in open(f))}
a, b = load(f"{out}/s0"), load(f"{out}/s1")
n = m1 - m0
print(f"{n:.0f} messages persisted in 30 s ({n / 30:.0f}/s); node CPU per message:")
tu = ts = 0.0
for k in sorted(b):
    u = (b[k][0] - a.get(k, (0, 0))[0]) / tick * 1e6 / n
    s = (b[k][1] - a.get(k, (0, 0))[1]) / tick * 1e6 / n
    tu += u; ts += s
    if u + s > 0.5:
        print(f"  {k:20s} user {u:6.1f} us  sys {s:6.1f} us")
print(f"  {'total':20s} user {tu:6.1f} us  sys {ts:6.1f} us  = {tu + ts:.1f} us")
io = lambda f: {l.split(':')[0]: int(l.split(':')[1]) for l in open(f)}
i0, i1 = io(f"{out}/io0"), io(f"{out}/io1")
d = {k: (i1[k] - i0[k]) / n for k in i1}
print(f"  per message: {(c1 - c0) / n:.2f} context switches, {d['syscr']:.2f} read calls "
      f"({d['rchar'] / 1024:.2f} KiB), {d['syscw']:.2f} write calls ({d['wchar'] / 1024:.2f} KiB)")
PY
