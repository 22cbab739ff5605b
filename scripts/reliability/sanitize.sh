#!/usr/bin/env bash
# Usage: scripts/reliability/sanitize.sh [address|thread ...] [--seconds N]
# Builds mcdropout-serve with AddressSanitizer (+LeakSanitizer) and ThreadSanitizer (default: both; debug builds in
# .build-asan and .build-tsan) and drives each build with:
#   1. N seconds (default 20) of wrk load cycling good and bad requests (WRK_MIX), with a SIGHUP reload every 2 s;
#   2. the hostile-input suite (Tests/InferenceServerTests/HostileInputTests.swift, ~150 cases) aimed at it through
#      MCDROPOUT_HOSTILE_PORT;
#   3. 200 idle and 20 slowloris connections held until the idle timeout closes them
#      (scripts/reliability/slow_clients.py);
#   4. SIGTERM in the middle of wrk load (the drain path), expecting exit 0.
# Sanitizer reports are written to .build/reliability/sanitize/<sanitizer>.<pid>; the script lists them and exits
# non-zero if there is any, or if a step failed. TSan false positives (Synchronization.Mutex's contended path) are
# suppressed by scripts/reliability/tsan-suppressions.txt, which explains each entry; matched suppressions are counted.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/server.sh
sanitizers=()
seconds=20
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        address | thread) sanitizers+=("$1"); shift ;;
        *) sed -n '2,/^[^#]/{/^#/p}' "$0" >&2; exit 2 ;;
    esac
done
[ ${#sanitizers[@]} -gt 0 ] || sanitizers=(address thread)
logs=.build/reliability/sanitize
rm -rf "$logs"
mkdir -p "$logs"
ulimit -n 4096
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp models/mnist.safetensors "$work/m.safetensors"
# The hostile suite runs from the ordinary debug test build; only the server under attack is sanitized.
swift build --build-tests >&2
failures=0
step() { # step DESCRIPTION COMMAND...: runs COMMAND, counting a failure
    echo "-- $1"
    if ! "${@:2}"; then echo "   FAILED: $1"; failures=$((failures + 1)); fi
}

for sanitizer in "${sanitizers[@]}"; do
    short="${sanitizer:0:1}san"
    echo "== $sanitizer sanitizer (.build-$short); load average $(load_average)"
    swift build -c debug --sanitize="$sanitizer" --build-path ".build-$short" --product mcdropout-serve >&2
    export SERVE=".build-$short/debug/mcdropout-serve"
    export ASAN_OPTIONS="log_path=$PWD/$logs/address:detect_leaks=1:abort_on_error=0"
    export TSAN_OPTIONS="log_path=$PWD/$logs/thread:halt_on_error=0:second_deadlock_stack=1:print_suppressions=1"
    TSAN_OPTIONS+=":suppressions=$PWD/scripts/reliability/tsan-suppressions.txt"
    serve_start "$logs/server-$sanitizer.log" --model "$work/m.safetensors" --connection-timeout 3 \
        --default-samples 5 --max-connections 2048

    WRK_MIX=1 WRK_MODEL=m wrk -t2 -c16 -d"${seconds}s" --timeout 20s -s scripts/lib/wrk.lua "$BASE" \
        >"$logs/wrk-$sanitizer.out" &
    wrk_pid=$!
    for _ in $(seq 1 $((seconds / 2 - 1))); do sleep 2; kill -HUP "$SERVER_PID"; done
    wait "$wrk_pid"
    result="$(grep '^RESULT' "$logs/wrk-$sanitizer.out")"
    echo "-- wrk mix with reloads: $result"
    errors=$(socket_errors "$result")
    [ "$errors" -eq 0 ] || { echo "   FAILED: $errors socket errors"; failures=$((failures + 1)); }
    grep -q 'status_5' <<<"$result" && { echo "   FAILED: 5xx answers"; failures=$((failures + 1)); }

    step "hostile-input suite" env MCDROPOUT_HOSTILE_PORT="$PORT" timeout 600 swift test --skip-build \
        --filter HostileInputTests >"$logs/hostile-$sanitizer.out" 2>&1
    grep -E "test cases (passed|failed)|^. Test run with" "$logs/hostile-$sanitizer.out" | sed "s/^/   /"

    # Sanitized code is several times slower: the latency budget here is 1 s, scripts/reliability/slow-clients.sh checks
    # 50 ms.
    step "idle and slowloris connections" python3 scripts/reliability/slow_clients.py "$PORT" \
        --idle 200 --slowloris 20 --probes 50 --timeout 3 --budget-ms 1000

    wrk -t2 -c16 -d10s --timeout 20s -s scripts/lib/wrk.lua "$BASE/predict" >"$logs/wrk-term-$sanitizer.out" &
    wrk_pid=$!
    sleep 4
    kill -TERM "$SERVER_PID"
    serve_wait 120
    status="$SERVER_STATUS"
    wait "$wrk_pid"
    echo "-- SIGTERM under load: exit status $status; $(grep '^RESULT' "$logs/wrk-term-$sanitizer.out")"
    [ "$status" -eq 0 ] || failures=$((failures + 1))
    unset SERVE ASAN_OPTIONS TSAN_OPTIONS
done

reports=0
for file in $(find "$logs" -name 'address.*' -o -name 'thread.*' | sort); do
    if grep -qE '^(==[0-9]+==ERROR|WARNING: ThreadSanitizer)' "$file"; then
        reports=$((reports + 1))
        echo "== $file:"
        grep -E 'SUMMARY|^WARNING: ThreadSanitizer|==ERROR' "$file" | sort | uniq -c | head -20
    else
        suppressed="$(grep -A3 'Matched' "$file" | grep -Eo '^ *[0-9]+ race:.*' | tr -s ' ' | paste -sd ';')"
        echo "== $file: no report; $suppressed (suppressed false positives, count and pattern)"
    fi
done
if [ "$reports" -gt 0 ]; then
    echo "== $reports sanitizer report files"
    failures=$((failures + 1))
else
    echo "== 0 sanitizer reports (${sanitizers[*]})"
fi
echo "$failures failed"
[ "$failures" -eq 0 ]
