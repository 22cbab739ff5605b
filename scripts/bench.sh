#!/usr/bin/env bash
# Usage: scripts/bench.sh BENCHMARK [options...]    (scripts/bench.sh --help lists the benchmarks)
#        scripts/bench.sh BENCHMARK --help          (that benchmark's usage)
# Runs one benchmark: the scripts in scripts/benchmarks/ or the in-process mcdropout-bench (release build). Results,
# their commands and the machine (with its load average) belong in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

# name, script (or the mcdropout-bench executable), what it measures
benchmarks=(
    "engine|mcdropout-bench|in-process latency of one request vs the measured sgemm peak (mcdropout-bench)"
    "peers|scripts/benchmarks/bench-peers.sh|ours vs numpy, ONNX Runtime, PyTorch and FastAPI peers, in one run"
    "http|scripts/benchmarks/bench-http.sh|wrk on real digits against mcdropout-serve: req/s, p50/p99, RSS"
    "train|scripts/benchmarks/bench-train.sh|training epoch time vs PyTorch CPU at the same thread count"
)

usage() {
    echo "usage: scripts/bench.sh BENCHMARK [options...]   (BENCHMARK --help: its options)"
    for entry in "${benchmarks[@]}"; do
        IFS='|' read -r name script purpose <<<"$entry"
        printf '  %-7s %s\n          %s\n' "$name" "$purpose" "$script"
    done
}

case "${1:-}" in
    -h|--help|help) usage; exit 0 ;;
    '') usage >&2; exit 2 ;;
esac
name="$1"; shift
for entry in "${benchmarks[@]}"; do
    IFS='|' read -r known script _ <<<"$entry"
    [ "$known" = "$name" ] || continue
    if [ "$script" = mcdropout-bench ]; then
        scripts/lib/install-deps.sh
        swift build -c release --product mcdropout-bench >&2
        exec .build/release/mcdropout-bench "$@"
    fi
    if [ "${1:-}" = --help ] || [ "${1:-}" = -h ]; then
        sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$script" | sed '$d'
        exit 0
    fi
    exec "$script" "$@"
done
echo "bench.sh: unknown benchmark '$name'" >&2
usage >&2
exit 2
