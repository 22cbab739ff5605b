#!/usr/bin/env bash
# Usage: scripts/benchmarks/bench-peers.sh [--samples 10,100,1000] [--threads 1,2] [--seconds 2] [--no-http]
#                                          [--duration 10s]
# mcdropout against the Python Monte-Carlo dropout peers in one run, on the same weights (models/mnist.safetensors)
# and the same real test digit (examples/mnist-test-0000-label-7.json):
#   in process: mcdropout-bench (release) vs numpy, ONNX Runtime + numpy masks, PyTorch batched, PyTorch loop
#               (scripts/benchmarks/peers/), at each N and thread count; the peers are first checked to agree on the
#               mean probabilities at N = 20000;
#   HTTP:       scripts/benchmarks/bench-http.sh --peer fastapi (mcdropout-serve vs FastAPI + uvicorn, 2 workers,
#               the faster of the numpy and ONNX Runtime engines at T = 1 and N = 100 in the in-process runs, the
#               same wrk script), unless --no-http.
# Prints the raw rows, then the ratio table (scripts/benchmarks/peers/report.py). Needs the bench venv, made on first
# use by scripts/python/python-env.sh scripts/python/requirements-test.txt scripts/python/requirements-bench.txt.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
samples=10,100,1000 threads=1,2 seconds=2 http=1 duration=10s
while [ $# -gt 0 ]; do
    case "$1" in
        --samples) samples="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --duration) duration="$2"; shift 2 ;;
        --no-http) http=0; shift ;;
        *) sed -n '2,/^[^#]/{/^#/p}' "$0" >&2; exit 2 ;;
    esac
done

python="$(scripts/python/python-env.sh scripts/python/requirements-test.txt scripts/python/requirements-bench.txt)"
swift build -c release --product mcdropout-bench >&2
swift build -c release --product mcdropout-serve >&2
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, vector units" \
    "$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f)$' | paste -sd+)" \
    "(OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}); OpenBLAS $(pkg-config --modversion openblas 2>/dev/null || echo '?')"
echo "python: $("$python" -c 'import numpy, onnxruntime, torch, sys; print(sys.version.split()[0], "numpy", numpy.__version__, "onnxruntime", onnxruntime.__version__, "torch", torch.__version__)')"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== mcdropout-bench (in process)"
.build/release/mcdropout-bench --model models/mnist.safetensors --input examples/mnist-test-0000-label-7.json \
    --samples "$samples" --threads "$threads" --seconds "$seconds" | tee "$work/ours.txt"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== Python peers (in process)"
check=--check
for t in ${threads//,/ }; do
    OPENBLAS_NUM_THREADS="$t" OMP_NUM_THREADS="$t" MKL_NUM_THREADS="$t" \
        "$python" scripts/benchmarks/peers/bench_peers.py \
        --model models/mnist.safetensors --input examples/mnist-test-0000-label-7.json --threads "$t" \
        --samples "$samples" --seconds "$seconds" $check | tee -a "$work/peers.jsonl"
    check=""
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "$http" = 1 ]; then
    echo "== HTTP"
    # The HTTP peer gets the faster in-process engine at one thread (each uvicorn worker runs one), N = 100.
    peer_engine="$(python3 -c '
import json, sys
rows = [r for r in map(json.loads, open(sys.argv[1])) if r.get("engine") in ("numpy", "onnxruntime")
        and r["threads"] == 1]
rows = [r for r in rows if r["samples"] == 100] or rows
print(min(rows, key=lambda r: r["median_us"])["engine"] if rows else "auto")' "$work/peers.jsonl")"
    scripts/benchmarks/bench-http.sh --skip-build --peer fastapi --peer-engine "$peer_engine" --duration "$duration" \
        | tee "$work/http.txt"
fi

echo "== Ratios"
"$python" scripts/benchmarks/peers/report.py "$work/ours.txt" "$work/peers.jsonl" \
    $([ "$http" = 1 ] && echo "$work/http.txt")
