#!/usr/bin/env bash
# Usage: scripts/reliability/soak.sh [SECONDS [WARMUP_SECONDS]]
# Soak test: a release server under SECONDS (default 600) of wrk load (2 threads, 16 keep-alive connections) after
# WARMUP_SECONDS (default 60) of the same load, cycling through good and bad requests (WRK_MIX in
# scripts/lib/wrk.lua: /predict, a batch, KServe V2, malformed JSON, a wrong pixel count, an unknown route,
# /health). Samples the server's RSS and open descriptors every 10 s into .build/reliability/soak-samples.tsv.
# Passes when RSS at the last sample under load is < 5 % above RSS at the end of warm-up, the descriptor count under
# load never exceeds its warm-up value, no socket error occurred and every status was the expected 200, 400 or 404
# (never 5xx).
# Run it niced on a shared machine: `nice -n 10 scripts/reliability/soak.sh`.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/server.sh
seconds="${1:-600}"
warmup="${2:-60}"
logs=.build/reliability
mkdir -p "$logs"
swift build -c release --product mcdropout-serve >&2
serve_start "$logs/soak.log" --threads 2 --default-samples 20
trap 'kill -TERM "$SERVER_PID" 2>/dev/null || true' EXIT
echo "started $(date -u +%FT%TZ); load average $(load_average); server pid $SERVER_PID on port $PORT"
WRK_MIX=1 wrk -t2 -c16 -d"$((seconds + warmup))s" --timeout 10s -s scripts/lib/wrk.lua "$BASE" \
    >"$logs/wrk-soak.out" &
wrk_pid=$!
samples="$logs/soak-samples.tsv"
echo -e "seconds\trss_kb\tfds\tload1" >"$samples"
start=$SECONDS
sample() { # seconds since the load began, RSS in KiB, open descriptors, 1-minute load average
    echo -e "$((SECONDS - start))\t$(rss_kb "$SERVER_PID")\t$(fd_count "$SERVER_PID")\t$(cut -d' ' -f1 /proc/loadavg)"
}
while kill -0 "$wrk_pid" 2>/dev/null; do
    sample >>"$samples"
    sleep 10
done
wait "$wrk_pid"
after="$(sample)"  # idle again: the load's connections are closed
result="$(grep '^RESULT' "$logs/wrk-soak.out")"
kill -TERM "$SERVER_PID"
serve_wait 60
exit_status="$SERVER_STATUS"
trap - EXIT

# RSS and descriptors at the end of warm-up (the last sample at or before it), at the last sample under load, and
# their extremes in between.
read -r warm_rss warm_fds < <(awk -v w="$warmup" 'NR > 1 && $1 <= w { r = $2; f = $3 } END { print r, f }' "$samples")
read -r end_rss end_fds < <(tail -1 "$samples" | awk '{ print $2, $3 }')
read -r after_rss after_fds < <(echo "$after" | awk '{ print $2, $3 }')
read -r max_rss max_fds min_fds < <(awk -v w="$warmup" 'NR > 1 && $1 >= w { if ($2 > r) r = $2; if ($3 > f) f = $3;
    if (m == "" || $3 < m) m = $3 } END { print r, f, m }' "$samples")
growth="$(awk -v a="$warm_rss" -v b="$end_rss" 'BEGIN { printf "%.2f", (b - a) * 100 / a }')"
requests="$(result_field "$result" requests)"
echo "finished $(date -u +%FT%TZ); load average $(load_average)"
echo "$result"
echo "requests: $requests in $((seconds + warmup)) s ($((requests / (seconds + warmup))) per second)"
echo "RSS: ${warm_rss} KiB after ${warmup} s warm-up, ${end_rss} KiB at the last sample under load" \
    "(growth ${growth} %), max ${max_rss} KiB; ${after_rss} KiB once the load stopped"
echo "descriptors: ${warm_fds} after warm-up, ${min_fds}..${max_fds} under load afterwards;" \
    "${after_fds} once the load stopped"
echo "server exit status: $exit_status"
failures=0
fail() { echo "FAILED: $1"; failures=$((failures + 1)); }
awk -v g="$growth" 'BEGIN { exit !(g < 5) }' || fail "RSS grew ${growth} % (limit 5 %)"
[ "$max_fds" -le "$warm_fds" ] || fail "descriptors grew from $warm_fds to $max_fds"
errors=$(socket_errors "$result")
[ "$errors" -eq 0 ] || fail "$errors socket errors"
expected=0
for status in 200 400 404; do expected=$((expected + $(result_field "$result" "status_$status"))); done
[ "$expected" -eq "$requests" ] || fail "$((requests - expected)) responses not 200/400/404"
[ "$exit_status" -eq 0 ] || fail "exit status $exit_status"
echo "$failures failed"
[ "$failures" -eq 0 ]
