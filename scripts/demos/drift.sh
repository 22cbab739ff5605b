#!/usr/bin/env bash
# Usage: scripts/demos/drift.sh [drift.py options: --per-phase N --mix 0,10,30,60,100 --samples N --batch N]
# Shows input drift in the server's own metrics: serves the default MNIST model (models/mnist.safetensors), sends
# MNIST test digits, then mixes in more and more Fashion-MNIST test images, and after each phase prints the flagged
# rate, the mean mutual information and reconstruction error, and the mutual-information histogram, all read from
# /metrics (scripts/demos/drift.py). Builds the release server first unless SERVE names a binary; fetches the data
# sets (scripts/fetch-data.sh) when missing. The 5 default phases of 400 images take seconds once it is built.
set -euo pipefail
cd "$(dirname "$0")/../.."
case "${1:-}" in -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0" | sed '$d'; exit 0 ;; esac
[ -f data/mnist/t10k-images-idx3-ubyte.gz ] && [ -f data/fashion-mnist/t10k-images-idx3-ubyte.gz ] \
    || scripts/fetch-data.sh >&2
if [ -z "${SERVE:-}" ]; then
    scripts/lib/install-deps.sh
    swift build -c release --product mcdropout-serve >&2
fi
SERVER_TOOLS="" . scripts/lib/server.sh
log="$(mktemp)"
trap 'serve_stop; rm -f "$log"' EXIT
serve_start "$log" --model models/mnist.safetensors
python3 scripts/demos/drift.py --url "$BASE" "$@"
