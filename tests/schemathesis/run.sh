#!/usr/bin/env bash
# Schema-driven fuzzing of the REST API (issue 13 §1): schemathesis (PyPI) reads
# /api/openapi.json from a real node and sends generated requests to every operation, as an
# owner; the run fails on any 5xx and on any answer that breaks the spec (status not declared,
# body not matching its schema, wrong content type). Examples are limited to keep CI short.
# Usage: tests/schemathesis/run.sh [max examples per operation, default 25]
set -euo pipefail
cd "$(dirname "$0")/../.."
EXAMPLES="${1:-25}"
BIN="${SWITCHBOARD_BIN:-target/debug/switchboard}"
[ -x "$BIN" ] || cargo build --bin switchboard
command -v schemathesis >/dev/null || python3 -m pip install --quiet schemathesis

DIR="$(mktemp -d)"
NODE_PID=""
cleanup() { [ -n "$NODE_PID" ] && kill "$NODE_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT

# The fuzzer creates webhooks to made-up URLs: this node records events but sends none.
"$BIN" --listen 127.0.0.1:0 --data-dir "$DIR" --no-webhook-delivery --workers 2 \
  >"$DIR/out" 2>"$DIR/err" &
NODE_PID=$!
for _ in $(seq 1 300); do
  grep -q "listening on" "$DIR/out" 2>/dev/null && break
  sleep 0.1
done
URL="$(sed -n 's/^switchboard listening on //p' "$DIR/out" | head -1)"
[ -n "$URL" ] || { echo "the node did not start"; cat "$DIR/err"; exit 1; }

# An owner may call every operation: invite one with the CLI, accept over the API.
LINK="$("$BIN" --data-dir "$DIR" agent invite --site pk_demo --email fuzz-owner@demo.local --role owner \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["invite_link"])')"
INVITE="${LINK#*#}"
TOKEN="$(curl -sf -X POST "$URL/api/v1/invites/accept" -H 'content-type: application/json' \
  -d "{\"token\":\"$INVITE\",\"name\":\"Fuzz Owner\",\"password\":\"fuzz-owner-pass\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"

schemathesis run "$URL/api/openapi.json" \
  --header "Authorization: Bearer $TOKEN" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --max-examples "$EXAMPLES" \
  --seed 13 \
  --generation-deterministic \
  --workers 2 \
  --continue-on-failure \
  --no-color
