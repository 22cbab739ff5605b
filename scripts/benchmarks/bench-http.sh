#!/usr/bin/env bash
# Usage: scripts/benchmarks/bench-http.sh [--samples N] [--connections 1,8,64] [--duration 10s] [--peer fastapi]
#                              [--peer-engine auto|numpy|onnxruntime] [--compare-split] [--compare-cpu-latency]
#                              [--soak SECONDS]
#                              [--skip-build] [--baseline GIT-REF] [--model FILE]
# HTTP throughput of mcdropout-serve (release build, the default model or --model, 2 worker threads) on loopback:
# wrk POSTs real MNIST test digits ({"pixels": [...], "samples": N}, default N = 100, no seed) at each connection
# count and the script prints req/s, p50/p99 latency, non-2xx answers and the server's RSS before and after.
# --peer fastapi also serves the same digits from FastAPI + uvicorn (2 workers, uvloop + httptools) and drives it
# with the same wrk script and settings, in the same run. Its engine is the faster of numpy and ONNX Runtime in an
# in-process comparison at N on one thread made just before (--peer-engine auto, the default; printed), or the one
# named. --compare-split also runs mcdropout-serve --split-passes (a single-input request's second half of passes on
# the idle worker, off by default) right before the default server, for the same connection counts.
# --compare-cpu-latency also runs mcdropout-serve --cpu-latency-limit 0 (row serve-poll: idle CPUs poll instead of
# sleeping while it runs; needs root, else the row is skipped) right after the default server. --soak S adds S seconds at 8 connections against
# mcdropout-serve, sampling its RSS every 10 s (the issue's "RSS flat over a 5-minute load" is --soak 300).
# The compute-bound limit is cores / single-request compute time, that time measured by mcdropout-bench (1 thread).
# Each row ends with the 1-minute load average and "other": the CPU (in cores) that processes *outside* the benchmark
# used during that row's wrk run, i.e. all busy CPU time (/proc/stat) minus the server's (its process and children)
# and wrk's. The benchmark itself keeps a 2-core machine's load near 2, so the load average cannot tell a quiet
# machine from a busy one; "other" can (report.py judges targets only when it stays below 0.2 cores).
# --baseline REF also serves an earlier version: REF's mcdropout-serve (built once into .build-baseline-<commit>/,
# git-ignored, from a temporary worktree) with REF's own models/mnist.safetensors, and alternates it with the
# current server twice (current, REF, current, REF) at the same connection counts — "does a default request cost
# more than it did at REF?" answered in one run.
# --model FILE serves FILE instead of models/mnist.safetensors (ours and the peer; e.g. the same network with another
# rule or without density scores, to compare equal work).
# Needs wrk (installed with apt when missing); the peer needs the bench venv (scripts/python/python-env.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
samples=100 connections=1,8,64 duration=10s peer="" peer_engine=auto soak=0 build=1 compare_split=0 compare_latency=0 baseline="" model=models/mnist.safetensors
while [ $# -gt 0 ]; do
    case "$1" in
        --samples) samples="$2"; shift 2 ;;
        --connections) connections="$2"; shift 2 ;;
        --duration) duration="$2"; shift 2 ;;
        --peer) peer="$2"; shift 2 ;;
        --peer-engine) peer_engine="$2"; shift 2 ;;
        --compare-split) compare_split=1; shift ;;
        --compare-cpu-latency) compare_latency=1; shift ;;
        --soak) soak="$2"; shift 2 ;;
        --skip-build) build=0; shift ;;
        --baseline) baseline="$2"; shift 2 ;;
        --model) model="$2"; shift 2 ;;
        *) sed -n '2,/^[^#]/{/^#/p}' "$0" >&2; exit 2 ;;
    esac
done
[ -z "$peer" ] || [ "$peer" = fastapi ] || { echo "bench-http.sh: unknown peer '$peer'" >&2; exit 2; }
case "$peer_engine" in auto|numpy|onnxruntime) ;; *) echo "bench-http.sh: unknown peer engine '$peer_engine'" >&2; exit 2 ;; esac

. scripts/lib/apt.sh
command -v wrk >/dev/null || apt_install wrk
if [ "$build" = 1 ]; then
    swift build -c release --product mcdropout-serve >&2
    swift build -c release --product mcdropout-bench >&2
fi

work="$(mktemp -d)"
pids=()
baseline_dir=""
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "$baseline_dir" ]; then git worktree remove --force "$baseline_dir" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
if [ -n "$baseline" ]; then
    commit="$(git rev-parse --short=12 "$baseline^{commit}")"
    baseline_dir="$work/baseline"
    git worktree add --quiet --detach "$baseline_dir" "$commit" >&2
    swift build -c release --product mcdropout-serve --package-path "$baseline_dir" \
        --scratch-path "$root/.build-baseline-$commit" >&2
fi
# The one wrk script (scripts/lib/wrk.lua) sends these bodies round-robin; no per-response Lua, the lightest client.
export WRK_BODIES WRK_RESULT=0
WRK_BODIES="$(python3 scripts/benchmarks/make_bodies.py "$work/bodies" "$samples")"
cores="$(nproc)"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_ready() {  # URL PID
    for _ in $(seq 1 300); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || { echo "bench-http.sh: server exited" >&2; return 1; }
        sleep 0.1
    done
    echo "bench-http.sh: $1 not ready after 30 s" >&2; return 1
}
rss_mb() {  # PID: resident set of the process and its children, MB
    local total=0 pid
    for pid in "$1" $(pgrep -P "$1" || true); do
        total=$((total + $(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)))
    done
    awk -v kb="$total" 'BEGIN { printf "%.1f", kb / 1024 }'
}
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'; }

# Single-request compute time at 1 BLAS thread, for the compute-bound limit.
compute_us="$(.build/release/mcdropout-bench --model "$model" --samples "$samples" --threads 1 \
    --input examples/mnist-test-0000-label-7.json \
    --seconds 2 | awk '$1 == 1 && $2 == 1 { print $4 }')"
vector_units() { grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f|avx512_vnni|avx512_bf16)$' \
    | paste -sd+ || true; }
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $cores cores, vector units $(vector_units);" \
    "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "workload: POST /predict, real MNIST test digits, samples=$samples, wrk -t1 -d$duration, loopback"
echo "compute: ${compute_us} µs per request on 1 thread -> compute-bound limit $(awk -v c="$cores" -v t="$compute_us" 'BEGIN { printf "%.0f", c * 1e6 / t }') req/s on $cores cores"
printf '%-16s %5s %10s %9s %9s %7s %9s %9s %8s %6s\n' server conns 'req/s' 'p50 ms' 'p99 ms' non2xx 'RSS0 MB' \
    'RSS1 MB' 'load1' other

ticks="$(getconf CLK_TCK)"
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }  # all CPUs, all processes
process_ticks() {  # PID: user + system ticks of the process (all its threads) and of its children
    local total=0 p
    for p in "$1" $(pgrep -P "$1" || true); do
        # Fields after the ")" that ends the command name: state is 1st, utime 12th, stime 13th.
        total=$((total + $(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }' || echo 0)))
    done
    echo "$total"
}
child_ticks() {  # sets children_ticks: user + system ticks of this shell's finished children (wrk, once waited for)
    times >"$work/times"  # not in a $(...) subshell, whose children are not this shell's
    children_ticks="$(awk -v hz="$ticks" 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, t, "m"); s += t[1] * 60 + t[2] }
        printf "%.0f", s * hz }' "$work/times")"
}

run_wrk() {  # NAME URL PID
    local name="$1" url="$2" pid="$3" c before out rate p50 p99 errors busy0 own0 wrk0 start other children_ticks
    for c in ${connections//,/ }; do
        before="$(rss_mb "$pid")"
        child_ticks
        busy0="$(busy_ticks)" own0="$(process_ticks "$pid")" wrk0="$children_ticks" start="$(date +%s.%N)"
        out="$(wrk -t1 -c"$c" -d"$duration" --latency -s scripts/lib/wrk.lua "$url")"
        child_ticks
        other="$(awk -v b="$(($(busy_ticks) - busy0))" -v o="$(($(process_ticks "$pid") - own0))" \
            -v w="$((children_ticks - wrk0))" -v s="$start" -v e="$(date +%s.%N)" -v hz="$ticks" \
            'BEGIN { x = (b - o - w) / hz / (e - s); printf "%.2f", x < 0 ? 0 : x }')"
        rate="$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")"
        p50="$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")"
        p99="$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")"
        errors="$(awk '/Non-2xx/ { n = $NF } /Socket errors/ { s = $0 } END { print n + 0 }' <<<"$out")"
        printf '%-16s %5d %10.1f %9s %9s %7s %9s %9s %8s %6s\n' "$name" "$c" "$rate" "$p50" "$p99" "$errors" \
            "$before" "$(rss_mb "$pid")" "$(cut -d' ' -f1 /proc/loadavg)" "$other"
        if grep -q 'Socket errors' <<<"$out"; then grep 'Socket errors' <<<"$out" | sed "s/^/  $name c=$c: /"; fi
    done
}

start_serve() {  # extra mcdropout-serve options; sets port and serve_pid (SERVE_MODEL, SERVE_BIN: another version)
    port="$(free_port)"
    "${SERVE_BIN:-.build/release/mcdropout-serve}" --model "${SERVE_MODEL:-$model}" --port "$port" \
        --threads "$cores" --log-level warning "$@" >"$work/serve.log" 2>&1 &
    serve_pid=$!
    pids+=("$serve_pid")
    wait_ready "http://127.0.0.1:$port/health" "$serve_pid"
    # One checked request: the body is accepted and the answer is a summary with the requested passes.
    curl -fsS -H 'Content-Type: application/json' --data-binary "@${WRK_BODIES%%:*}" "http://127.0.0.1:$port/predict" \
        | python3 -c "import json, sys; r = json.load(sys.stdin); assert r['samples'] == $samples and len(r['probabilities']) == 10, r"
}
split_count() { curl -fsS "http://127.0.0.1:$port/metrics" | awk '$1 == "mcdropout_split_requests_total" { print $2 }'; }

if [ "$compare_split" = 1 ]; then
    start_serve --split-passes
    run_wrk serve-split "http://127.0.0.1:$port/predict" "$serve_pid"
    echo "serve-split: $(split_count) requests had their second half of passes on the idle worker"
    kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
fi
start_serve
run_wrk mcdropout-serve "http://127.0.0.1:$port/predict" "$serve_pid"
if [ "$compare_latency" = 1 ]; then
    if [ -w /dev/cpu_dma_latency ]; then
        kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
        start_serve --cpu-latency-limit 0
        run_wrk serve-poll "http://127.0.0.1:$port/predict" "$serve_pid"
        kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
        start_serve
    else
        echo "serve-poll: skipped (/dev/cpu_dma_latency is not writable; run as root)"
    fi
fi
if [ -n "$baseline" ]; then
    for round in 1 2; do
        if [ "$round" = 2 ]; then
            kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
            start_serve
            run_wrk mcdropout-serve "http://127.0.0.1:$port/predict" "$serve_pid"
        fi
        kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
        SERVE_MODEL="$baseline_dir/models/mnist.safetensors" SERVE_BIN="$root/.build-baseline-$commit/release/mcdropout-serve" start_serve
        run_wrk "at-$commit" "http://127.0.0.1:$port/predict" "$serve_pid"
    done
fi

if [ "$soak" -gt 0 ]; then
    wrk -t1 -c8 -d"${soak}s" -s scripts/lib/wrk.lua "http://127.0.0.1:$port/predict" >"$work/soak.txt" &
    soak_pid=$!
    samples_rss="$(rss_mb "$serve_pid")"
    for _ in $(seq 1 $((soak / 10))); do
        sleep 10
        samples_rss="$samples_rss $(rss_mb "$serve_pid")"
    done
    wait "$soak_pid"
    echo "soak ${soak}s at 8 connections: $(awk '/^Requests\/sec/ { print $2 }' "$work/soak.txt") req/s; RSS MB every 10 s: $samples_rss"
fi
kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true

if [ "$peer" = fastapi ]; then
    python="$(scripts/python/python-env.sh scripts/python/requirements-test.txt scripts/python/requirements-bench.txt)"
    if [ "$peer_engine" = auto ]; then
        # The faster Python engine at this N on one thread, measured now (ONNX Runtime brings its own kernels and
        # wins on some CPUs, numpy + OpenBLAS on others).
        OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "$python" scripts/benchmarks/peers/bench_peers.py \
            --model "$model" --input examples/mnist-test-0000-label-7.json --threads 1 \
            --samples "$samples" --engines numpy,onnxruntime --seconds 2 >"$work/engines.jsonl"
        read -r peer_engine medians < <(python3 - "$work/engines.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if "engine" in line]
best = min(rows, key=lambda row: row["median_us"])["engine"]
print(best, ", ".join("%s %s" % (row["engine"], row["median_us"]) for row in rows))
PY
        )
        echo "peer engine: $peer_engine (in-process median µs at N = $samples, 1 thread: $medians)"
    else
        echo "peer engine: $peer_engine (named)"
    fi
    port="$(free_port)"
    case "$model" in /*) peer_model="$model" ;; *) peer_model="$root/$model" ;; esac
    MCDROPOUT_MODEL="$peer_model" MCDROPOUT_ENGINE="$peer_engine" \
        OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
        "$python" -m uvicorn fastapi_app:app --app-dir scripts/benchmarks/peers --workers 2 \
        --host 127.0.0.1 --port "$port" --loop uvloop --http httptools --log-level warning --no-access-log \
        >"$work/uvicorn.log" 2>&1 &
    uvicorn_pid=$!
    pids+=("$uvicorn_pid")
    wait_ready "http://127.0.0.1:$port/health" "$uvicorn_pid"
    sleep 2  # both workers up
    curl -fsS -H 'Content-Type: application/json' --data-binary "@${WRK_BODIES%%:*}" "http://127.0.0.1:$port/predict" \
        | python3 -c "import json, sys; r = json.load(sys.stdin); assert r['samples'] == $samples and len(r['probabilities']) == 10, r"
    run_wrk "fastapi-$peer_engine" "http://127.0.0.1:$port/predict" "$uvicorn_pid"
fi
