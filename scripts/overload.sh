#!/usr/bin/env bash
# Usage: scripts/overload.sh [--connections 8,128,512,2000] [--duration 10] [--skip-build] [-- serve options...]
# Goodput under overload: mcdropout-serve (release build, default flags, models/mnist.safetensors, N = 100) under wrk
# clients that send their next request the moment an answer arrives, a 503 included (scripts/lib/wrk-overload.lua).
# For each connection count it prints successful requests per second (goodput), 503s per second, the p50/p99 latency
# of the successful requests, socket errors and the load average, and checks the targets of issue 17: goodput at
# every count >= 90 % of the 8-connection goodput of the same run, p99 <= 50 ms at 128 connections. Exits 1 when a
# target is missed. Options after "--" go to mcdropout-serve. Traffic goes to 127.0.0.1 only.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
connections=8,128,512,2000 duration=10 build=1 serve_options=()
while [ $# -gt 0 ]; do
    case "$1" in
        --connections) connections="$2"; shift 2 ;;
        --duration) duration="$2"; shift 2 ;;
        --skip-build) build=0; shift ;;
        --) shift; serve_options=("$@"); break ;;
        *) sed -n '2,8p' "$0" >&2; exit 2 ;;
    esac
done
# shellcheck source=lib/server.sh
source scripts/lib/server.sh
[ "$build" = 0 ] || swift build -c release --product mcdropout-serve >&2
mkdir -p .build/reliability
log=.build/reliability/overload-server.log
trap serve_stop EXIT
serve_start "$log" --model models/mnist.safetensors "${serve_options[@]}"
ulimit -n 65536 2>/dev/null || true

# Warm-up: first requests page the model in and size the allocator.
wrk -t 2 -c 8 -d 2s -s scripts/lib/wrk-overload.lua "$BASE" >/dev/null

printf '%-12s %10s %10s %9s %9s %14s %s\n' connections "goodput/s" "503/s" "p50 ms" "p99 ms" "socket errors" \
    "load average"
failed=0 baseline=""
for count in ${connections//,/ }; do
    threads=2
    [ "$count" -ge 2 ] || threads=1
    line="$(wrk -t "$threads" -c "$count" -d "${duration}s" --timeout 10s -s scripts/lib/wrk-overload.lua "$BASE" |
        grep '^RESULT')"
    seconds="$(result_field "$line" seconds)"
    ok="$(result_field "$line" status_200)"
    busy="$(result_field "$line" status_503)"
    goodput="$(awk -v n="$ok" -v s="$seconds" 'BEGIN { printf "%.0f", n / s }')"
    rejected="$(awk -v n="$busy" -v s="$seconds" 'BEGIN { printf "%.0f", n / s }')"
    p50="$(result_field "$line" p50_ms)"
    p99="$(result_field "$line" p99_ms)"
    printf '%-12s %10s %10s %9s %9s %14s %s\n' "$count" "$goodput" "$rejected" "$p50" "$p99" \
        "$(socket_errors "$line")" "$(load_average)"
    echo "  $line" >&2
    [ -n "$baseline" ] || baseline="$goodput"
    if [ "$count" -ge 128 ] && awk -v g="$goodput" -v b="$baseline" 'BEGIN { exit !(g < 0.9 * b) }'; then
        echo "  goodput $goodput/s is below 90 % of the $baseline/s at ${connections%%,*} connections" >&2
        failed=1
    fi
    if [ "$count" -eq 128 ] && awk -v p="$p99" 'BEGIN { exit !(p > 50) }'; then
        echo "  p99 $p99 ms at 128 connections is above 50 ms" >&2
        failed=1
    fi
    sleep 2 # let closed connections leave TIME_WAIT handling and the queue drain between rounds
done
exit "$failed"
