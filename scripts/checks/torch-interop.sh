#!/usr/bin/env bash
# Usage: scripts/checks/torch-interop.sh [torch-interop.py options...]
# PyTorch interop on a fresh machine: installs missing system libraries, the venv with torch (CPU) and safetensors,
# MNIST (scripts/fetch-data.sh, unless --data is given) and the release server (unless --server is given), then runs
# scripts/checks/torch-interop.py: trains 784-512-512-10 in PyTorch for one epoch and serves it, loads
# models/mnist.safetensors into PyTorch, and checks both directions against the server within 1e-5. About two minutes on
# 2 cores after the build.
set -euo pipefail
cd "$(dirname "$0")/../.."

scripts/lib/install-deps.sh
python="$(scripts/python/python-env.sh scripts/python/requirements-test.txt scripts/python/requirements-bench.txt)"
[[ " $* " == *" --data "* ]] || scripts/fetch-data.sh >&2
[[ " $* " == *" --server "* ]] || swift build -c release --product mcdropout-serve >&2
# One BLAS/OpenMP thread, passive waiting: fair on a shared 2-core machine and reproducible.
OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE exec "$python" scripts/checks/torch-interop.py "$@"
