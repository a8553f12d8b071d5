#!/usr/bin/env bash
# Browser tests: real Chromium (Debian's package) driven by playwright-core against the real
# switchboard binary. Installs what a fresh machine lacks, then runs every *.test.mjs here.
# Env: SWITCHBOARD_BIN (default target/debug/switchboard, built if missing), CHROMIUM,
#      UPDATE_DOCS_IMG=1 to refresh the README screenshots in docs/img/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

# Debian's Chromium, and an emoji font so screenshots show the emoji agents send.
if { [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM:-}" ]; } || [ ! -d /usr/share/fonts/truetype/noto ]; then
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-noto-color-emoji
fi

if [ -z "${SWITCHBOARD_BIN:-}" ]; then
  (cd "$repo" && cargo build --quiet --bin switchboard)
fi

cd "$here"
# npm keeps its own copy of the lock file in node_modules: reinstall when ours is newer
# (a package was added, e.g. axe-core).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi
# Two cores: one test file at a time keeps timings calm; each file starts its own node.
exec node --test --test-concurrency=1 "$@" ./*.test.mjs
