#!/usr/bin/env bash
# Usage: scripts/benchmarks/bench-train.sh [--threads 1,2] [--dataset mnist] [--torch-wait-policy ACTIVE|PASSIVE]
#                                          [--skip-build]
# Training speed, mcdropout-train vs PyTorch CPU at the same BLAS/OpenMP thread count, in one run: the same network
# (784-512-512-10, ReLU, dropout 0/0.5/0.5), SGD with momentum 0.9, lr 0.05, batch 128, all 60000 training images
# (no validation split). Each side runs 2 epochs; the first is warm-up and the second is the timed one.
# Prints both epoch times (wall and CPU seconds), images/s and the ratios (PyTorch / ours: > 1 means ours is faster),
# with the load average: on a busy 2-core machine wall times depend on each process's share of the CPU, so compare the
# CPU seconds too. Ours runs twice (1 and 2 epochs) to get the CPU seconds of its second epoch (at T = 1 only, see
# below). Both sides keep their default thread waiting: OpenBLAS's threads spin a while before sleeping, and so do
# PyTorch's OpenMP threads (OMP_WAIT_POLICY unset). PASSIVE made PyTorch about 1.5x slower at T = 2 on a quiet
# machine, so it is no longer the default; --torch-wait-policy sets it for PyTorch only (on a busy machine spinning
# can cost PyTorch 10x at T = 2, see scripts/benchmarks/bench-train-torch.py). The policy used is printed.
# Needs data/<dataset> (scripts/fetch-data.sh) and the bench venv (scripts/python/python-env.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
threads=1,2 dataset=mnist build=1 wait_policy=""
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) threads="$2"; shift 2 ;;
        --dataset) dataset="$2"; shift 2 ;;
        --torch-wait-policy) wait_policy="$2"; shift 2 ;;
        --skip-build) build=0; shift ;;
        *) sed -n '2,/^[^#]/{/^#/p}' "$0" >&2; exit 2 ;;
    esac
done
[ -f "data/$dataset/train-images-idx3-ubyte.gz" ] || scripts/fetch-data.sh >&2
python="$(scripts/python/python-env.sh scripts/python/requirements-test.txt scripts/python/requirements-bench.txt)"
[ "$build" = 0 ] || swift build -c release --product mcdropout-train >&2
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores," \
    "vector units $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f)$' | paste -sd+);" \
    "OpenBLAS $(pkg-config --modversion openblas 2>/dev/null || echo '?'); torch $("$python" -c 'import torch; print(torch.__version__)')"
echo "thread waiting: OpenBLAS default; PyTorch OMP_WAIT_POLICY=${wait_policy:-unset (OpenMP default)}"
printf '%-8s %7s %12s %12s %10s %8s\n' framework threads 'epoch s' 'images/s' 'CPU s' 'load1'
for t in ${threads//,/ }; do
    # CPU seconds of the timed epoch = CPU(2 epochs) - CPU(1 epoch): the trainer reports wall time per epoch only.
    for epochs in 1 2; do
        /usr/bin/time -f '%U %S' -o "$work/ours-$t-$epochs.cpu" .build/release/mcdropout-train --dataset "$dataset" \
            --data-dir "data/$dataset" --hidden 512,512 --dropout 0,0.5,0.5 --optimizer momentum --momentum 0.9 \
            --learning-rate 0.05 --batch-size 128 --epochs "$epochs" --validation-count 0 --mc-samples 1 --threads "$t" \
            --output "$work/ours-$t.safetensors" >"$work/ours-$t.txt"
    done
    ours="$(awk '/^epoch 2\/2/ { print $NF == "s" ? $(NF-1) : $NF }' "$work/ours-$t.txt")"
    ours_cpu="$(cat "$work/ours-$t-2.cpu" "$work/ours-$t-1.cpu" | awk 'NR == 1 { a = $1 + $2 } NR == 2 { b = $1 + $2 } END { printf "%.2f", a - b }')"
    # Idle OpenBLAS threads spin for a while before sleeping, so with T > 1 process CPU time counts waiting too and
    # the difference of two runs is noise (it came out negative).
    [ "$t" -eq 1 ] || ours_cpu=n/a
    printf '%-8s %7d %12.2f %12.0f %10s %8s\n' ours "$t" "$ours" "$(awk -v s="$ours" 'BEGIN { print 60000 / s }')" \
        "$ours_cpu" "$(cut -d' ' -f1 /proc/loadavg)"
    env ${wait_policy:+OMP_WAIT_POLICY="$wait_policy"} OMP_NUM_THREADS="$t" \
        "$python" scripts/benchmarks/bench-train-torch.py \
        --data "data/$dataset" --threads "$t" --warmup-epochs 1 --epochs 1 --lr 0.05 --momentum 0.9 --batch-size 128 \
        >"$work/torch-$t.json" 2>/dev/null
    read -r theirs theirs_cpu < <("$python" -c 'import json, sys; r = json.load(open(sys.argv[1])); e = [x for x in r["epochs"] if not x["warmup"]][0]; print(e["seconds"], e["cpu_seconds"])' "$work/torch-$t.json")
    printf '%-8s %7d %12.2f %12.0f %10s %8s\n' pytorch "$t" "$theirs" "$(awk -v s="$theirs" 'BEGIN { print 60000 / s }')" \
        "$theirs_cpu" "$(cut -d' ' -f1 /proc/loadavg)"
    echo "  threads $t: PyTorch / ours = $(awk -v a="$theirs" -v b="$ours" 'BEGIN { printf "%.2f", a / b }') wall, $(awk -v a="$theirs_cpu" -v b="$ours_cpu" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else printf "n/a" }') CPU (> 1: ours faster)"
done
