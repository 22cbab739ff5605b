#!/usr/bin/env bash
# Usage: scripts/serve.sh [mcdropout-serve options...]
# Installs missing system libraries, builds in release mode and serves the committed default model
# (models/mnist.safetensors) on http://127.0.0.1:8080 unless options say otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/lib/install-deps.sh
binary=.build/release/mcdropout-serve
# SwiftPM re-runs the EmbedResources build plugin on the second release build after a fresh one (a SwiftPM plugin
# scheduling quirk, e.g. swiftlang/swift-package-manager#8273) and recompiles InferenceServer for nothing. Skip the
# build when the binary is newer than everything it is built from; any edit, checkout or pull rebuilds as usual.
if [ ! -x "$binary" ] || [ -n "$(find Package.swift Package.resolved Sources examples -newer "$binary" -print -quit \
    2>/dev/null)" ]; then
    swift build -c release --product mcdropout-serve
fi
exec "$binary" "$@"
