#!/usr/bin/env bash
# The test command (README). On a fresh machine it installs what is missing, then runs
# formatting, lints, every Rust test (unit, integration, store contract, crash, load smoke,
# cluster membership and links, bots, mail against a real SMTP server), the real-Prometheus
# scrape and dashboard tests, HAProxy in front of real nodes, the alert rules' unit tests
# (promtool), the offline checks of cluster/ (compose, k8s, HAProxy and Prometheus configs) and
# the schema-driven fuzzing of the REST API (schemathesis) and the browser tests in real Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  step "installing ${missing[*]}"
  # Keep apt from starting services (prometheus) on install: tests start what they need.
  if [ ! -f /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

step "installing system packages"
# prometheus brings promtool; haproxy, socat and curl are what cluster/run-local.sh uses;
# python3-yaml reads the compose and k8s files in tests/cluster_files.rs; nftables cuts a node
# off from its peers in tests/cluster_faults.rs.
apt_install prometheus chromium haproxy socat curl python3-yaml nftables

# A real SMTP server for the mail tests (tests/mail_smtp.rs starts it on 127.0.0.1).
if ! python3 -c "import aiosmtpd" >/dev/null 2>&1; then
  step "installing aiosmtpd (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check aiosmtpd
fi

# Schema-driven fuzzing of the REST API against a real node (tests/schemathesis/run.sh).
if ! command -v schemathesis >/dev/null 2>&1; then
  step "installing schemathesis (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check schemathesis
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo build"
cargo build --workspace --bins

step "alert rules (promtool)"
(cd prometheus && promtool check rules alerts.yml && promtool test rules alerts_test.yml)

step "cargo test"
# The tools installed above must be used, never skipped.
SWITCHBOARD_REQUIRE_PROMETHEUS=1 SWITCHBOARD_REQUIRE_HAPROXY=1 SWITCHBOARD_REQUIRE_CLUSTER_TOOLS=1 \
  SWITCHBOARD_REQUIRE_PARTITION=1 \
  cargo test --workspace -- --test-threads=2

step "API fuzzing (schemathesis against /api/openapi.json)"
tests/schemathesis/run.sh 25

if [ -x tests/browser/run.sh ]; then
  step "browser tests (Chromium)"
  tests/browser/run.sh
fi
