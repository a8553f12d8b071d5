#!/bin/sh
# Run the Tsung visitor scenario against a node: loadtest/tsung/run.sh HOST PORT [LOGDIR]
# Installs Tsung from Debian when missing (without starting any service).
set -eu
HOST=${1:-127.0.0.1}
PORT=${2:-8080}
LOGDIR=${3:-/tmp/tsung-logs}
HERE=$(cd "$(dirname "$0")" && pwd)
if ! command -v tsung >/dev/null 2>&1; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tsung
fi
mkdir -p "$LOGDIR"
sed -e "s/host=\"127.0.0.1\" port=\"8080\"/host=\"$HOST\" port=\"$PORT\"/" "$HERE/visitor.xml" > "$LOGDIR/visitor.xml"
tsung -f "$LOGDIR/visitor.xml" -l "$LOGDIR" start
# Summary tables (requires the tsung_stats.pl dependencies; the raw data is in tsung.log either way).
LAST=$(ls -td "$LOGDIR"/*/ | head -1)
(cd "$LAST" && /usr/lib/x86_64-linux-gnu/tsung/bin/tsung_stats.pl >/dev/null 2>&1 || true)
echo "tsung logs: $LAST (report.html when tsung_stats.pl ran)"
