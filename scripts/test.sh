#!/usr/bin/env bash
# Usage: scripts/test.sh [swift test arguments...]
# Runs every test: installs missing system libraries, prepares the Python test environment (.venv with numpy,
# safetensors and tritonclient, used by the interoperability tests), builds and runs `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
MCDROPOUT_PYTHON="$(scripts/python-env.sh scripts/requirements-test.txt)"
export MCDROPOUT_PYTHON
swift build --build-tests
# A hung test must fail the run, not eat the CI budget: the whole suite takes a few minutes.
timeout --kill-after=30 1500 swift test --skip-build "$@"
