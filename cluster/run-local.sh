#!/usr/bin/env bash
# A Switchboard cluster on one machine: N node processes sharing one SQLite file, behind HAProxy
# (Debian's package), for trying the cluster, demos and fault drills by hand. Production runs
# the same shape on several hosts (cluster/docker-compose.yml, cluster/k8s/); docs/operations.md
# explains the procedures this script automates.
#
#   cluster/run-local.sh N [--base-port P]   start N nodes and HAProxy; prints the front URL
#   cluster/run-local.sh status              HAProxy's view of every node (state, open sessions)
#   cluster/run-local.sh drain NODE          take NODE out of HAProxy (drain), SIGTERM it, wait
#   cluster/run-local.sh start NODE          start a stopped NODE again and put it back in
#   cluster/run-local.sh rolling-restart     drain and start every node, one at a time
#   cluster/run-local.sh api 'COMMAND'       any HAProxy runtime API command (`help` lists them)
#   cluster/run-local.sh --stop              SIGTERM every node (they drain), stop HAProxy
#
# Ports from P (default 8080): HAProxy's front P, node i's HTTP P+i, HAProxy's stats page and
# /metrics P+100, node i's cluster link P+100+i. Nodes are n1..nN. State (the SQLite file, logs,
# pids, the cluster secret, haproxy.cfg and its runtime socket) lives in $SWITCHBOARD_CLUSTER_DIR
# (default ./data/cluster). The binary is $SWITCHBOARD_BIN, else target/release/switchboard
# (built if missing). Needs haproxy, socat and curl (apt-get install haproxy socat curl).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${SWITCHBOARD_CLUSTER_DIR:-$ROOT/data/cluster}"
BIN="${SWITCHBOARD_BIN:-$ROOT/target/release/switchboard}"
# How long a draining node may take to hand off its shards and exit before it is killed.
DRAIN_PATIENCE_S="${SWITCHBOARD_DRAIN_PATIENCE_S:-60}"
READY_PATIENCE_S=60

say() { printf '%s\n' "$*" >&2; }
die() { say "run-local.sh: $*"; exit 1; }
need() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (apt-get install haproxy socat curl)"
  done
}

# The runtime API over HAProxy's stats socket.
api() { printf '%s\n' "$*" | socat -t 5 stdio "unix-connect:$DIR/haproxy.sock"; }

load_state() {
  [ -f "$DIR/cluster.env" ] || die "no cluster in $DIR (start one: cluster/run-local.sh 3)"
  # shellcheck source=/dev/null
  . "$DIR/cluster.env"
}

alive() { [ -f "$DIR/$1.pid" ] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

http_port() { echo $((BASE + ${1#n})); }
cluster_port() { echo $((BASE + 100 + ${1#n})); }

# Wait (bounded) for a condition given as a command.
wait_for() {
  local what="$1" limit="$2"; shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

ready() { curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$(http_port "$1")/readyz" 2>/dev/null; }

# The node's state in HAProxy (UP, DOWN, DRAIN, MAINT, ...), from `show stat` by column name.
server_status() {
  api "show stat" | awk -F, -v node="$1" '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    $1 == "switchboard" && $2 == node { print $col["status"] }'
}
server_up() { [ "$(server_status "$1")" = "UP" ]; }

start_node() {
  local node="$1"
  alive "$node" && die "$node is already running (pid $(cat "$DIR/$node.pid"))"
  # The secret goes through the environment: flags are visible in ps. HAProxy on loopback is
  # the trusted proxy: rate limits and login throttling see the clients' own addresses.
  SWITCHBOARD_CLUSTER_SECRET="$(cat "$DIR/secret")" "$BIN" \
    --listen "127.0.0.1:$(http_port "$node")" \
    --data-dir "$DIR/data" \
    --node-id "$node" \
    --cluster-listen "127.0.0.1:$(cluster_port "$node")" \
    --trusted-proxies 127.0.0.1 \
    >>"$DIR/$node.log" 2>&1 </dev/null &
  echo $! >"$DIR/$node.pid"
  wait_for "$node ready" "$READY_PATIENCE_S" ready "$node" \
    || die "$node did not answer /readyz within ${READY_PATIENCE_S}s; see $DIR/$node.log"
  say "$node ready on http://127.0.0.1:$(http_port "$node") (pid $(cat "$DIR/$node.pid"))"
}

cmd_start_cluster() {
  local n="$1" base=8080
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --base-port) base="$2"; shift 2 ;;
      *) die "unknown option $1" ;;
    esac
  done
  [[ "$n" =~ ^[1-9][0-9]?$ ]] || die "N must be 1..99"
  need haproxy socat curl
  if [ -f "$DIR/cluster.env" ]; then
    load_state
    for node in $NODES; do alive "$node" && die "a cluster is running in $DIR: --stop it first"; done
  fi
  if [ ! -x "$BIN" ]; then
    say "building $BIN"
    (cd "$ROOT" && cargo build --release --bin switchboard)
  fi
  mkdir -p "$DIR/data"
  [ -f "$DIR/secret" ] || { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/secret"; chmod 600 "$DIR/secret"; }
  BASE="$base" NODES=""
  local servers=()
  for i in $(seq 1 "$n"); do
    NODES="$NODES n$i"
    servers+=("n$i=127.0.0.1:$((base + i))")
  done
  NODES="${NODES# }"
  printf 'BASE=%s\nNODES="%s"\n' "$BASE" "$NODES" >"$DIR/cluster.env"

  # The first node creates the schema and the demo site alone; the rest join it.
  local first="${NODES%% *}"
  start_node "$first"
  for node in $NODES; do
    [ "$node" = "$first" ] || start_node "$node"
  done

  "$ROOT/cluster/gen-haproxy-cfg.sh" --front "127.0.0.1:$base" --stats-socket "$DIR/haproxy.sock" \
    --stats-page "127.0.0.1:$((base + 100))" "${servers[@]}" >"$DIR/haproxy.cfg"
  haproxy -c -q -f "$DIR/haproxy.cfg" || die "generated $DIR/haproxy.cfg does not parse"
  haproxy -f "$DIR/haproxy.cfg" -D -p "$DIR/haproxy.pid" 2>>"$DIR/haproxy.log" \
    || die "haproxy did not start; see $DIR/haproxy.log"
  for node in $NODES; do
    wait_for "$node up in HAProxy" 30 server_up "$node" || die "HAProxy never saw $node up"
  done
  cat <<EOF
Switchboard cluster of $n on http://127.0.0.1:$base  (demo: /demo, console: /console)
  nodes:        $NODES (logs in $DIR/<node>.log)
  HAProxy:      stats http://127.0.0.1:$((base + 100))/  metrics /metrics  runtime API $DIR/haproxy.sock
  drain a node: cluster/run-local.sh drain n1      stop: cluster/run-local.sh --stop
EOF
}

cmd_status() {
  load_state
  api "show stat" | awk -F, '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; printf "%-6s %-8s %-9s %s\n", "node", "state", "sessions", "last check"; next }
    $1 == "switchboard" && $2 != "BACKEND" {
      printf "%-6s %-8s %-9s %s\n", $2, $col["status"], $col["scur"], $col["check_status"] }'
}

# Take NODE out of rotation, then let it drain itself. HAProxy's drain state sends it no new
# connections and keeps the open ones; on SIGTERM the node answers /readyz with 503, hands its
# shards off, tells its sockets to reconnect (they land on the other nodes) and exits.
cmd_drain() {
  local node="$1"
  load_state
  need socat
  alive "$node" || die "$node is not running"
  api "set server switchboard/$node state drain" >/dev/null
  say "$node: drain in HAProxy (no new connections); SIGTERM"
  local pid; pid="$(cat "$DIR/$node.pid")"
  kill -TERM "$pid"
  if ! wait_for "$node exit" "$DRAIN_PATIENCE_S" bash -c "! kill -0 $pid 2>/dev/null"; then
    say "$node did not exit within ${DRAIN_PATIENCE_S}s: SIGKILL (its leases expire instead)"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$DIR/$node.pid"
  # Maintenance: no health checks against a node that is gone on purpose.
  api "set server switchboard/$node state maint" >/dev/null
  say "$node: stopped (maint in HAProxy)"
}

cmd_start() {
  local node="$1"
  load_state
  need socat curl
  start_node "$node"
  api "set server switchboard/$node state ready" >/dev/null
  wait_for "$node up in HAProxy" 30 server_up "$node" || die "HAProxy never saw $node up"
  say "$node: back in rotation"
}

# One node at a time, each back and healthy before the next goes: the others always hold every
# shard between them, and leastconn (with slowstart) refills each restarted node.
cmd_rolling_restart() {
  load_state
  for node in $NODES; do
    cmd_drain "$node"
    cmd_start "$node"
  done
}

cmd_stop() {
  [ -f "$DIR/cluster.env" ] || { say "nothing to stop in $DIR"; return 0; }
  load_state
  local pids=()
  for node in $NODES; do
    if alive "$node"; then pids+=("$(cat "$DIR/$node.pid")"); fi
  done
  [ ${#pids[@]} -gt 0 ] && kill -TERM "${pids[@]}" 2>/dev/null || true
  for pid in "${pids[@]}"; do
    wait_for "exit" "$DRAIN_PATIENCE_S" bash -c "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null || true
  done
  if [ -f "$DIR/haproxy.pid" ]; then
    local hpid; hpid="$(cat "$DIR/haproxy.pid")"
    kill -TERM "$hpid" 2>/dev/null || true
    wait_for "haproxy exit" 10 bash -c "! kill -0 $hpid 2>/dev/null" || kill -KILL "$hpid" 2>/dev/null || true
    rm -f "$DIR/haproxy.pid"
  fi
  for node in $NODES; do rm -f "$DIR/$node.pid"; done
  say "stopped (data kept in $DIR/data)"
}

case "${1:-}" in
  --stop|stop) cmd_stop ;;
  status) cmd_status ;;
  drain) [ $# -eq 2 ] || die "usage: drain NODE"; cmd_drain "$2" ;;
  start) [ $# -eq 2 ] || die "usage: start NODE"; cmd_start "$2" ;;
  rolling-restart) cmd_rolling_restart ;;
  api) shift; load_state; need socat; api "$*" ;;
  ''|-h|--help) sed -n '2,20p' "$0" ;;
  *) cmd_start_cluster "$@" ;;
esac
