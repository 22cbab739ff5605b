#!/usr/bin/env bash
# Usage: scripts/train.sh [mcdropout-train options...]   (e.g. --dataset mnist --epochs 20 --output my.safetensors)
# Installs missing system libraries, fetches MNIST and Fashion-MNIST into data/ when they are missing, builds in
# release mode and runs mcdropout-train from the repository root (relative paths are taken from there).
# `scripts/train.sh --help` lists the options.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/lib/install-deps.sh
[ -d data/mnist ] && [ -d data/fashion-mnist ] || scripts/fetch-data.sh >&2
swift build -c release --product mcdropout-train
exec .build/release/mcdropout-train "$@"
