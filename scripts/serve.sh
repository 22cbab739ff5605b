#!/usr/bin/env bash
# Usage: scripts/serve.sh [mcdropout-serve options...]
# Installs missing system libraries, builds in release mode and serves the committed default model
# (models/mnist.safetensors) on http://127.0.0.1:8080 unless options say otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/lib/install-deps.sh
swift build -c release --product mcdropout-serve
exec .build/release/mcdropout-serve "$@"
