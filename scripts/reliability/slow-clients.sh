#!/usr/bin/env bash
# Usage: scripts/reliability/slow-clients.sh [IDLE [SLOWLORIS]]
# Starts a release server (--connection-timeout 5, --max-connections 2048) and holds IDLE (default 1000) idle and
# SLOWLORIS (default 100) slowly trickling connections against it while timing GET /health on fresh connections:
# passes when the p99 stays under 50 ms, every probe answers 200, the server closes every held connection within
# its idle timeout (+5 s slack) and its descriptor count returns to where it started. See
# scripts/reliability/slow_clients.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/server.sh
idle="${1:-1000}"
slow="${2:-100}"
mkdir -p .build/reliability
swift build -c release --product mcdropout-serve >&2
ulimit -n 8192
serve_start .build/reliability/slow-clients.log --connection-timeout 5 --max-connections 2048
trap 'kill -TERM "$SERVER_PID" 2>/dev/null || true' EXIT
echo "load average before: $(load_average)"
fds_before="$(fd_count "$SERVER_PID")"
status=0
python3 scripts/reliability/slow_clients.py "$PORT" --idle "$idle" --slowloris "$slow" --timeout 5 || status=$?
sleep 1
fds_after="$(fd_count "$SERVER_PID")"
echo "server descriptors: $fds_before before, $fds_after after"
[ "$fds_after" -le "$fds_before" ] || status=1
echo "load average after: $(load_average)"
kill -TERM "$SERVER_PID"
serve_wait 60
echo "server exit status: $SERVER_STATUS"
trap - EXIT
exit "$status"
