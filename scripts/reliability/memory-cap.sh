#!/usr/bin/env bash
# Usage: scripts/reliability/memory-cap.sh [--limit-mib 1536] [--connections 960] [--rounds 3] [--skip-build]
#                                          [-- serve options...]
# The server under a memory limit, loaded with the largest bodies and batches it accepts. Needs root and a writable
# memory cgroup (v1: /sys/fs/cgroup/memory; v2: the unified hierarchy with the memory controller). It creates a
# child of its own cgroup with the limit (swap included where the kernel accounts it), starts a release
# mcdropout-serve inside it (default flags unless options follow "--"), and meanwhile
#  - wrk, 32 connections, sends the largest batch (256 instances, the default --max-batch) nonstop;
#  - memory_load.py opens CONNECTIONS connections that each send all but the last byte of a body of exactly
#    --max-body-bytes (a valid batch), so that that many bodies are buffered at once, plus 32 that declare 10 MB
#    (413), then completes them together (200 for workers + queue, 503 for the rest); ROUNDS times.
# Reports the cgroup's peak usage, the server's peak RSS and the OOM kills; exits 1 on an OOM kill, a dead server,
# a /health that does not answer 200, or socket errors. Traffic to 127.0.0.1 only.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
limit_mib=1536 connections=960 rounds=3 build=1 serve_options=()
while [ $# -gt 0 ]; do
    case "$1" in
        --limit-mib) limit_mib="$2"; shift 2 ;;
        --connections) connections="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --skip-build) build=0; shift ;;
        --) shift; serve_options=("$@"); break ;;
        *) sed -n '2,14p' "$0" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "memory-cap.sh needs root (it creates a cgroup)" >&2; exit 2; }
# shellcheck source=../lib/server.sh
source scripts/lib/server.sh
[ "$build" = 0 ] || swift build -c release --product mcdropout-serve >&2
mkdir -p .build/reliability
ulimit -n 65536 2>/dev/null || true
limit=$((limit_mib * 1024 * 1024))

# A child of this shell's own memory cgroup, so that the limit nests under whatever limit we already run under.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    version=2
    parent="/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)"
    grep -qw memory "$parent/cgroup.subtree_control" 2>/dev/null || echo +memory >"$parent/cgroup.subtree_control" ||
        { echo "cannot enable the memory controller under $parent" >&2; exit 2; }
else
    version=1
    parent="/sys/fs/cgroup/memory$(sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup)"
    [ -f "$parent/memory.limit_in_bytes" ] || { echo "no cgroup v1 memory controller at $parent" >&2; exit 2; }
fi
cgroup="$parent/mcdropout-memory-cap-$$"
mkdir "$cgroup"
cleanup() {
    serve_stop
    [ -z "${wrk_pid:-}" ] || kill "$wrk_pid" 2>/dev/null || true
    [ -z "${sampler_pid:-}" ] || kill "$sampler_pid" 2>/dev/null || true
    rmdir "$cgroup" 2>/dev/null || true
}
trap cleanup EXIT
if [ "$version" = 1 ]; then
    echo "$limit" >"$cgroup/memory.limit_in_bytes"
    [ ! -f "$cgroup/memory.memsw.limit_in_bytes" ] || echo "$limit" >"$cgroup/memory.memsw.limit_in_bytes"
    peak_file="$cgroup/memory.max_usage_in_bytes"
    oom_kills() { awk '$1 == "oom_kill" { print $2 }' "$cgroup/memory.oom_control"; }
    limit_hits() { cat "$cgroup/memory.failcnt"; }
else
    echo "$limit" >"$cgroup/memory.max"
    [ ! -f "$cgroup/memory.swap.max" ] || echo 0 >"$cgroup/memory.swap.max"
    peak_file="$cgroup/memory.peak"
    oom_kills() { awk '$1 == "oom_kill" { print $2 }' "$cgroup/memory.events"; }
    limit_hits() { awk '$1 == "max" { print $2 }' "$cgroup/memory.events"; }
fi

# The server joins the cgroup before exec, so everything it allocates is charged there from the start.
wrapper=.build/reliability/in-memory-cgroup.sh
printf '#!/bin/sh\necho $$ >"%s/cgroup.procs" && exec "%s" "$@"\n' "$cgroup" \
    "${SERVE:-$root/.build/release/mcdropout-serve}" >"$wrapper"
chmod +x "$wrapper"
SERVE="$wrapper" serve_start .build/reliability/memory-cap-server.log --model models/mnist.safetensors \
    "${serve_options[@]}"
grep -qx "$SERVER_PID" "$cgroup/cgroup.procs" || { echo "the server is not in $cgroup" >&2; exit 1; }
echo "cgroup v$version $cgroup, limit $limit_mib MiB; server $SERVER_PID; $(rss_kb "$SERVER_PID") KiB RSS at start"

# The largest batch: 256 instances (the default --max-batch), default samples. More samples cost time, not memory
# (the Monte-Carlo workspace is computed in blocks of at most 1 024 passes).
big=.build/reliability/largest-batch.json
python3 - "$big" <<'PY'
import json, sys
instances = json.load(open("examples/mnist-batch-test-0000-0007.json"))["instances"] * 32
json.dump({"instances": instances}, open(sys.argv[1], "w"))
PY
WRK_BODY="$big" wrk -t 2 -c 32 -d 1h --timeout 60s -s scripts/lib/wrk-overload.lua "$BASE" \
    >.build/reliability/memory-cap-wrk.out 2>&1 &
wrk_pid=$!

# Peak RSS of the server, sampled every 0.2 s.
rss_log=.build/reliability/memory-cap-rss.txt
: >"$rss_log"
(while kill -0 "$SERVER_PID" 2>/dev/null; do rss_kb "$SERVER_PID" >>"$rss_log" 2>/dev/null || true; sleep 0.2; done) &
sampler_pid=$!

# serve_option NAME DEFAULT: the value of --NAME among the options after "--", else DEFAULT.
serve_option() {
    local index
    for ((index = 0; index + 1 < ${#serve_options[@]}; index++)); do
        [ "${serve_options[index]}" != "--$1" ] || { echo "${serve_options[index + 1]}"; return; }
    done
    echo "$2"
}
load_status=0
python3 scripts/reliability/memory_load.py "$PORT" --connections "$connections" --rounds "$rounds" \
    --body-bytes "$(serve_option max-body-bytes 1048576)" || load_status=$?
kill -INT "$wrk_pid" 2>/dev/null || true # wrk prints its summary on SIGINT
wait "$wrk_pid" 2>/dev/null || true
wrk_pid=""
big_result="$(grep '^RESULT' .build/reliability/memory-cap-wrk.out || true)"

failed=0
health="$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$BASE/health" || true)"
alive=yes
kill -0 "$SERVER_PID" 2>/dev/null || alive=no
peak=$(($(cat "$peak_file") / 1024 / 1024))
peak_rss=$(($(sort -n "$rss_log" | tail -1) / 1024))
kills="$(oom_kills)"
echo "largest batches (wrk, 32 connections): ${big_result:-no RESULT line}"
echo "cgroup peak usage $peak MiB of $limit_mib MiB; server peak RSS $peak_rss MiB;" \
    "limit reached $(limit_hits) times;" \
    "OOM kills $kills; server alive: $alive; /health $health; load average $(load_average)"
[ "$kills" = 0 ] || { echo "FAIL: $kills OOM kill(s)" >&2; failed=1; }
[ "$alive" = yes ] && [ "$health" = 200 ] || { echo "FAIL: the server did not survive" >&2; failed=1; }
[ "$load_status" = 0 ] || { echo "FAIL: the load saw socket errors or unexpected statuses" >&2; failed=1; }
exit "$failed"
