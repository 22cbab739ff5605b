#!/usr/bin/env bash
# Usage: scripts/test.sh [swift test arguments...]
# Runs every test: installs missing system libraries, prepares the Python test environment (.venv with numpy,
# safetensors and tritonclient for the interoperability tests; openapi-spec-validator and schemathesis for the API
# check), checks the API against its OpenAPI document and the demo page in headless Chromium, and runs `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
MCDROPOUT_PYTHON="$(scripts/python-env.sh scripts/requirements-test.txt scripts/requirements-api.txt)"
export MCDROPOUT_PYTHON
swift build --build-tests
# The HTTP API against its OpenAPI document (schemathesis, ~75 s) and the browser demo in headless Chromium (~30 s).
# They run before `swift test` so that its summary stays the last line.
scripts/api-check.sh
scripts/demo-check.sh
# A hung test must fail the run, not eat the CI budget: the whole suite takes a few minutes.
timeout --kill-after=30 1500 swift test --skip-build "$@"
