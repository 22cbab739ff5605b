#!/usr/bin/env bash
# Usage: scripts/reliability/lifecycle.sh [SECONDS]
# Lifecycle under load against a release build (wrk, 2 threads, 16 keep-alive connections, POST /predict):
#  1. SIGTERM half-way through SECONDS (default 10) of load: the server must exit 0 within the drain timeout and
#     no request may fail: no read errors (a request that reached the server but got no answer) or timeouts, every
#     response 200. Refused connections after the listening socket closed are expected (new connections, not
#     requests in flight) and only counted; wrk counts a refused non-blocking connect as a "write" error.
#  2. SIGHUP every second during SECONDS of load while the model file is replaced in turn by new weights, a truncated,
#     a corrupt and a shape-mismatched file: every response 200, no socket errors, and the model version served
#     (the "model_version" field) grows by exactly one per good file and never for a bad one.
#  3. a burst of 300 SIGHUPs 2 ms apart: the server keeps serving and exits 0 on the SIGTERM after it.
# Exits non-zero when a check fails. Results go to stdout; server logs to .build/reliability/.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/server.sh
seconds="${1:-10}"
logs=.build/reliability
mkdir -p "$logs"
swift build -c release --product mcdropout-serve >&2
python="$(scripts/python/python-env.sh scripts/python/requirements-test.txt)"
failures=0
check() { # check DESCRIPTION CONDITION...
    local description="$1"
    shift
    if "$@"; then echo "  ok: $description"; else echo "  FAILED: $description"; failures=$((failures + 1)); fi
}
version() { # the model_version a /predict answer reports
    curl -s --max-time 10 "$BASE/predict" -d @examples/mnist-test-0000-label-7.json |
        sed -n 's/.*"model_version":\([0-9]*\).*/\1/p'
}

echo "load average before: $(load_average)"
echo "== SIGTERM during load ($seconds s of wrk, SIGTERM at $((seconds / 2)) s)"
serve_start "$logs/lifecycle-sigterm.log" --threads 2 --default-samples 20
wrk -t2 -c16 -d"${seconds}s" --timeout 10s -s scripts/lib/wrk.lua "$BASE/predict" >"$logs/wrk-sigterm.out" &
wrk_pid=$!
sleep $((seconds / 2))
in_flight="$(curl -s --max-time 5 "$BASE/metrics" | sed -n 's/^mcdropout_requests_in_flight \([0-9]*\).*/\1/p')"
kill -TERM "$SERVER_PID"
serve_wait 60
status="$SERVER_STATUS"
wait "$wrk_pid"
result="$(grep '^RESULT' "$logs/wrk-sigterm.out")"
echo "  $result (in flight just before SIGTERM: ${in_flight:-?})"
ok=$(result_field "$result" status_200)
check "exit status 0 (was $status)" [ "$status" -eq 0 ]
check "requests were answered before the stop ($ok)" [ "$ok" -gt 0 ]
check "no read errors or timeouts" [ "$(($(result_field "$result" read) + $(result_field "$result" timeout)))" -eq 0 ]
echo "  refused reconnections after the stop: $(($(result_field "$result" connect) + $(result_field "$result" write)))"
check "every response 200" [ "$ok" -eq "$(result_field "$result" requests)" ]
check "the server abandoned no request at exit" \
    eval '! grep -q "stopping with requests in flight" "$logs/lifecycle-sigterm.log"'


echo "== SIGHUP reloads during load ($seconds s of wrk, one reload a second)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$python" scripts/reliability/model-variants.py models/mnist.safetensors "$work/variants"
cp models/mnist.safetensors "$work/mnist.safetensors"
serve_start "$logs/lifecycle-sighup.log" --threads 2 --default-samples 20 --model "$work/mnist.safetensors"
wrk -t2 -c16 -d"${seconds}s" --timeout 10s -s scripts/lib/wrk.lua "$BASE/predict" >"$logs/wrk-sighup.out" &
wrk_pid=$!
expected="$(version)"
variants=(new-weights truncated corrupt shape-mismatch)
for i in $(seq 1 $((seconds - 2))); do
    sleep 1
    variant="${variants[$(((i - 1) % ${#variants[@]}))]}"
    cp "$work/variants/$variant.safetensors" "$work/mnist.safetensors"
    kill -HUP "$SERVER_PID"
    sleep 0.2
    [ "$variant" = new-weights ] && expected=$((expected + 1))
    got="$(version)"
    if [ "$got" != "$expected" ]; then
        echo "  FAILED: after $variant, model_version $got, expected $expected"
        failures=$((failures + 1))
    fi
    echo "  reload $i: $variant -> model_version $got"
done
wait "$wrk_pid"
kill -TERM "$SERVER_PID"
serve_wait 60
status="$SERVER_STATUS"
result="$(grep '^RESULT' "$logs/wrk-sighup.out")"
echo "  $result"
check "every response 200" [ "$(result_field "$result" status_200)" -eq "$(result_field "$result" requests)" ]
check "no socket errors" [ "$(socket_errors "$result")" -eq 0 ]
check "bad files were refused and logged" grep -q "reload failed; keeping the loaded model" "$logs/lifecycle-sighup.log"
check "exit status 0 (was $status)" [ "$status" -eq 0 ]

echo "== a burst of 300 SIGHUPs, 2 ms apart, then SIGTERM"
cp models/mnist.safetensors "$work/mnist.safetensors"
serve_start "$logs/lifecycle-burst.log" --model "$work/mnist.safetensors"
for _ in $(seq 1 300); do kill -HUP "$SERVER_PID" 2>/dev/null || break; sleep 0.002; done
check "still serving after the burst" curl -sf --max-time 10 -o /dev/null "$BASE/health"
echo "  reloads done: $(grep -c 'reloaded model\|reload failed' "$logs/lifecycle-burst.log")"
kill -TERM "$SERVER_PID" 2>/dev/null || true
serve_wait 60
check "exit status 0 after the burst (was $SERVER_STATUS)" [ "$SERVER_STATUS" -eq 0 ]
echo "load average after: $(load_average)"
echo "$failures failed"
[ "$failures" -eq 0 ]
