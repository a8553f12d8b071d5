#!/usr/bin/env bash
# The cluster scale run (docs/benchmarks.md, "Cluster scale"): N node processes of one cluster
# on this machine (cluster/run-local.sh), the `cluster-scale` load scenario with every node as a
# --target (150,000 idle widget sessions and a steady chat load, every message checked for
# loss), then the cluster stopped. One process holds at most ~19,500 sockets here (open files
# are capped at 20,000), so 150,000 sessions need 10 or more nodes. The clients go straight to
# the nodes: HAProxy is one process too and would hit the same cap.
#
#   cluster/scale-run.sh [N] [OUT]     N nodes (default 10), the report in OUT
#                                      (default ./data/scale-report)
#
# Release binaries: $SWITCHBOARD_BIN / $SWITCHBOARD_LOADTEST_BIN, else target/release/...
# Scenario: $SCALE_SCENARIO (default: the built-in `cluster-scale`).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N="${1:-10}"
OUT="${2:-$ROOT/data/scale-report}"
BASE="${SCALE_BASE_PORT:-9300}"
SCENARIO="${SCALE_SCENARIO:-cluster-scale}"
export SWITCHBOARD_BIN="${SWITCHBOARD_BIN:-$ROOT/target/release/switchboard}"
LOADTEST="${SWITCHBOARD_LOADTEST_BIN:-$ROOT/target/release/switchboard-loadtest}"
export SWITCHBOARD_CLUSTER_DIR="${SWITCHBOARD_CLUSTER_DIR:-$ROOT/data/scale-cluster}"

[ -x "$SWITCHBOARD_BIN" ] && [ -x "$LOADTEST" ] ||
  (cd "$ROOT" && cargo build --release -p switchboard -p switchboard-loadtest)

rm -rf "$SWITCHBOARD_CLUSTER_DIR"
"$ROOT/cluster/run-local.sh" "$N" --base-port "$BASE"
trap '"$ROOT/cluster/run-local.sh" --stop' EXIT

# Start the load only once the shard placement has settled: every node owns shards and the
# counts have not moved for 5 s. A load started while nodes are still joining sees its clients
# moved with `goodbye unavailable` at every hand-off (they resume, but the figures are noise).
owned() {
  for i in $(seq 1 "$N"); do
    curl -s -m 2 "http://127.0.0.1:$((BASE + i))/metrics" |
      awk '/^switchboard_cluster_shards_owned /{print $2; found=1} END{if (!found) print 0}'
  done | paste -sd' '
}
last="" steady=0
for _ in $(seq 1 240); do
  now="$(owned)"
  if [ "$now" = "$last" ] && ! grep -qw 0 <<<"$now"; then
    steady=$((steady + 1))
    [ "$steady" -ge 10 ] && break
  else
    steady=0
  fi
  last="$now"
  sleep 0.5
done
[ "$steady" -ge 10 ] || { echo "the cluster did not settle: shards owned $last" >&2; exit 1; }
echo "shards owned per node: $last"

targets=()
pids=()
for i in $(seq 1 "$N"); do
  targets+=(--target "http://127.0.0.1:$((BASE + i))")
  pids+=(--server-pid "$(cat "$SWITCHBOARD_CLUSTER_DIR/n$i.pid")")
done

"$LOADTEST" run -s "$SCENARIO" "${targets[@]}" "${pids[@]}" -o "$OUT"
echo "report: $OUT"
