#!/usr/bin/env bash
# Usage: scripts/overload.sh [--connections 8,128,512,2000] [--duration 10] [--skip-build]
#                            [--variant NAME='serve options']... [--cpu-weight W] [-- serve options...]
# Goodput under overload: mcdropout-serve (release build, default flags, models/mnist.safetensors, N = 100) under wrk
# clients that send their next request the moment an answer arrives, a 503 included (scripts/lib/wrk-overload.lua).
# For each connection count it prints successful requests per second (goodput), 503s per second, the p50/p99 latency
# of the successful requests, socket errors, where the CPU went (the server's CPU time per successful request, in all
# and in libmicrohttpd's I/O threads; the cores wrk itself used, those other processes used, and those left idle)
# and the load average, and checks the targets of issue 17: goodput at every count >= 90 % of the 8-connection
# goodput of the same server, p99 <= 50 ms at 128 connections. Each
# --variant runs a fresh server with those options (compare strategies in one run, e.g.
# --variant hold0='--overload-hold-ms 0'); without one, a single server with the options after "--". Exits 1 when a
# variant misses a target. --cpu-weight (root, cgroup v1 cpu.shares or v2 cpu.weight) runs the server and wrk in a
# cpu cgroup of that weight, so that other processes on a shared machine disturb the measurement less (the default
# weight of a process is 1024 under v1, 100 under v2); report it with the results. Traffic goes to 127.0.0.1 only.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
connections=8,128,512,2000 duration=10 build=1 serve_options=() variants=() cpu_weight=""
while [ $# -gt 0 ]; do
    case "$1" in
        --connections) connections="$2"; shift 2 ;;
        --duration) duration="$2"; shift 2 ;;
        --skip-build) build=0; shift ;;
        --variant) variants+=("$2"); shift 2 ;;
        --cpu-weight) cpu_weight="$2"; shift 2 ;;
        --) shift; serve_options=("$@"); break ;;
        *) sed -n '2,15p' "$0" >&2; exit 2 ;;
    esac
done
[ "${#variants[@]}" -gt 0 ] || variants=("default=${serve_options[*]}")
# shellcheck source=lib/server.sh
source scripts/lib/server.sh
[ "$build" = 0 ] || swift build -c release --product mcdropout-serve >&2
mkdir -p .build/reliability
cpu_cgroup=""
cleanup() {
    serve_stop
    rm -f "${times_file:-}"
    if [ -n "$cpu_cgroup" ]; then
        echo $$ >"$(dirname "$cpu_cgroup")/cgroup.procs"
        rmdir "$cpu_cgroup"
    fi
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || true
if [ -n "$cpu_weight" ]; then
    # This shell moves into the cgroup; the server and wrk, started later, inherit it.
    if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
        cpu_cgroup="/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)/mcdropout-overload-$$" weight_file=cpu.weight
    else
        cpu_cgroup="/sys/fs/cgroup/cpu$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ { print $3 }' /proc/self/cgroup)"
        cpu_cgroup="${cpu_cgroup%/}/mcdropout-overload-$$" weight_file=cpu.shares
    fi
    mkdir "$cpu_cgroup"
    echo "$cpu_weight" >"$cpu_cgroup/$weight_file"
    echo $$ >"$cpu_cgroup/cgroup.procs"
    echo "server and wrk in $cpu_cgroup, $weight_file $cpu_weight" >&2
fi

failed=0
# CPU seconds (user + system) of the server process, of its libmicrohttpd I/O threads, and of this shell's reaped
# children (wrk runs as one; `times` prints the shell's, then the children's totals).
server_cpu() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$SERVER_PID/stat"; }
io_cpu() {
    local total=0 task
    for task in /proc/"$SERVER_PID"/task/*; do
        [ "$(cat "$task/comm" 2>/dev/null)" = MHD-worker ] || continue
        total=$((total + $(awk '{ print $14 + $15 }' "$task/stat")))
    done
    awk -v t="$total" 'BEGIN { printf "%.2f", t / 100 }'
}
# Idle and busy CPU seconds of the whole machine (/proc/stat: idle + iowait, and the rest).
machine_cpu() { awk '/^cpu / { printf "%.2f %.2f", ($5 + $6) / 100, ($2 + $3 + $4 + $7 + $8 + $9) / 100 }' /proc/stat; }
# Sets children_seconds; not to be called in $(...): a subshell's `times` does not see this shell's children.
times_file="$(mktemp)"
children_cpu() {
    times >"$times_file"
    children_seconds="$(awk 'NR == 2 { gsub(/[ms]/, " "); print $1 * 60 + $2 + $3 * 60 + $4 }' "$times_file")"
}
printf '%-10s %-12s %10s %10s %9s %9s %14s %10s %9s %9s %11s %10s %s\n' variant connections "goodput/s" "503/s" \
    "p50 ms" "p99 ms" "socket errors" "srv µs/200" "I/O µs" "wrk cores" "other cores" "idle cores" "load average"
for variant in "${variants[@]}"; do
    name="${variant%%=*}"
    read -r -a options <<<"${variant#*=}"
    serve_start ".build/reliability/overload-server-$name.log" --model models/mnist.safetensors "${options[@]}"
    # Warm-up: first requests page the model in and size the allocator.
    wrk -t 2 -c 8 -d 2s -s scripts/lib/wrk-overload.lua "$BASE" >/dev/null
    baseline=""
    for count in ${connections//,/ }; do
        threads=2
        [ "$count" -ge 2 ] || threads=1
        server_before="$(server_cpu)" io_before="$(io_cpu)"
        read -r idle_before busy_before <<<"$(machine_cpu)"
        children_cpu
        wrk_before="$children_seconds"
        line="$(wrk -t "$threads" -c "$count" -d "${duration}s" --timeout 10s -s scripts/lib/wrk-overload.lua \
            "$BASE" | grep '^RESULT')"
        children_cpu
        seconds="$(result_field "$line" seconds)"
        goodput="$(awk -v n="$(result_field "$line" status_200)" -v s="$seconds" 'BEGIN { printf "%.0f", n / s }')"
        rejected="$(awk -v n="$(result_field "$line" status_503)" -v s="$seconds" 'BEGIN { printf "%.0f", n / s }')"
        p99="$(result_field "$line" p99_ms)"
        read -r idle_after busy_after <<<"$(machine_cpu)"
        served="$(result_field "$line" status_200)"
        cpu="$(awk -v s="$(server_cpu)" -v s0="$server_before" -v i="$(io_cpu)" -v i0="$io_before" \
            -v w="$children_seconds" -v w0="$wrk_before" -v n="$served" -v t="$seconds" \
            -v idle="$idle_after" -v idle0="$idle_before" -v busy="$busy_after" -v busy0="$busy_before" \
            'BEGIN { n = n > 0 ? n : 1
                other = (busy - busy0) - (s - s0) - (w - w0)
                printf "%.0f %.0f %.2f %.2f %.2f", (s - s0) * 1e6 / n, (i - i0) * 1e6 / n, (w - w0) / t,
                    (other > 0 ? other : 0) / t, (idle - idle0) / t }')"
        read -r server_per_request io_per_request wrk_cores other_cores idle_cores <<<"$cpu"
        printf '%-10s %-12s %10s %10s %9s %9s %14s %10s %9s %9s %11s %10s %s\n' "$name" "$count" "$goodput" \
            "$rejected" "$(result_field "$line" p50_ms)" "$p99" "$(socket_errors "$line")" "$server_per_request" \
            "$io_per_request" "$wrk_cores" "$other_cores" "$idle_cores" "$(load_average)"
        echo "  $name: $line" >&2
        [ -n "$baseline" ] || baseline="$goodput"
        if [ "$count" -ge 128 ] && awk -v g="$goodput" -v b="$baseline" 'BEGIN { exit !(g < 0.9 * b) }'; then
            echo "  $name: goodput $goodput/s is below 90 % of the $baseline/s at ${connections%%,*} connections" >&2
            failed=1
        fi
        if [ "$count" -eq 128 ] && awk -v p="$p99" 'BEGIN { exit !(p > 50) }'; then
            echo "  $name: p99 $p99 ms at 128 connections is above 50 ms" >&2
            failed=1
        fi
        sleep 2 # let the held refusals and the queue drain between rounds
    done
    serve_stop
done
exit "$failed"
