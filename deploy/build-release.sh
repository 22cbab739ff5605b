#!/usr/bin/env bash
# Usage: deploy/build-release.sh STAGING_DIR [SCRATCH_PATH]
# The release build that deploy/Dockerfile's build stage runs, and scripts/checks/docker-steps.sh runs outside Docker:
# builds mcdropout-serve with the Swift standard library and Foundation linked statically (so the runtime needs no
# Swift toolchain libraries, only libopenblas0, libmicrohttpd12 and the C/C++ runtime that Debian's base image has),
# strips it, and lays out STAGING_DIR as the image's /opt/mcdropout:
#   bin/mcdropout-serve   models/*.safetensors (the committed models; mnist is the image's default)
# SCRATCH_PATH is swift build's --scratch-path (default .build). Run from anywhere; it works in the repository root.
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,8p' "$0" >&2; exit 2; }
cd "$(dirname "$0")/.."
staging="$1"
scratch="${2:-.build}"

swift build -c release --product mcdropout-serve --static-swift-stdlib --scratch-path "$scratch"
install -D -m 0755 "$scratch/release/mcdropout-serve" "$staging/bin/mcdropout-serve"
strip "$staging/bin/mcdropout-serve"
for model in models/*.safetensors; do
    install -D -m 0644 "$model" "$staging/$model"
done
