#!/usr/bin/env bash
# Usage: scripts/test.sh [swift test arguments...]
# Runs every test: checks formatting (swift format lint --strict with the committed .swift-format: 4 spaces, 120
# columns; `swift format -i -r Sources Tests Package.swift` fixes what it finds), installs missing system libraries,
# prepares the Python test environment (.venv with numpy,
# safetensors and tritonclient for the interoperability tests; openapi-spec-validator and schemathesis for the API
# check), builds, runs a short fuzz smoke run when the toolchain can link libFuzzer binaries
# (scripts/reliability/fuzz.sh, libFuzzer + ASan over HTTP requests, then --grpc over gRPC request messages;
# FUZZ_SMOKE_SECONDS in all, default 25, 0 skips it),
# checks the API against its OpenAPI document, the demo page in headless Chromium and deploy/ (deploy-check.sh), and
# runs `swift test`. The extra checks are skipped when arguments select tests. The long runs (fuzzing, sanitizers, slow
# clients, lifecycle, soak) are scripts of their own, recorded in RELIABILITY.md.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! swift format lint --strict --recursive Sources Tests Package.swift; then
    echo "formatting: run 'swift format -i -r Sources Tests Package.swift' and commit the result" >&2
    exit 1
fi
echo "formatting: swift format lint --strict clean"
scripts/lib/install-deps.sh
requirements=(scripts/python/requirements-test.txt scripts/python/requirements-api.txt)
MCDROPOUT_PYTHON="$(scripts/python/python-env.sh "${requirements[@]}")"
export MCDROPOUT_PYTHON
# PyTorch for the interop tests (TorchInteropTests). Its CPU-only wheel (torch==2.13.0+cpu) resolves where pip's
# find-links holds it, as on the project's machines; elsewhere those tests are skipped, and this says so.
if ! scripts/python/python-env.sh "${requirements[@]}" scripts/python/requirements-torch.txt >/dev/null; then
    echo "PyTorch could not be installed (see pip's message above): the PyTorch interop tests will be skipped" >&2
fi
swift build --build-tests

smoke="${FUZZ_SMOKE_SECONDS:-25}"
if [ "$smoke" -gt 0 ] && [ $# -eq 0 ]; then
    if reason="$(scripts/reliability/fuzz.sh --check)"; then
        # A debug build: it compiles in a fraction of the release time, and a smoke run needs coverage, not speed.
        # The time is split: three fifths for HTTP request handling, two fifths for gRPC request messages.
        grpc_smoke=$((smoke * 2 / 5))
        for target in http grpc; do
            seconds=$((smoke - grpc_smoke)) flag=()
            [ "$target" = http ] || seconds=$grpc_smoke flag=(--grpc)
            [ "$seconds" -gt 0 ] || continue
            log=.build/fuzz-smoke-$target.log
            if FUZZ_CONFIGURATION=debug timeout --kill-after=30 900 scripts/reliability/fuzz.sh "${flag[@]}" \
                "$seconds" >"$log" 2>&1; then
                echo "fuzz smoke run, $target (${seconds} s): 0 crashes;" \
                    "$(grep -E '^#[0-9]+' "$log" | tail -1 | tr -s ' ')"
            else
                status=$?
                tail -60 "$log" >&2
                echo "fuzz smoke run, $target, FAILED (exit $status): the reproducer is in .build/fuzz-artifacts" >&2
                exit "$status"
            fi
        done
    else
        echo "fuzz smoke run skipped: $reason"
    fi
fi

# The HTTP API against its OpenAPI document (schemathesis, ~75 s) and the browser demo in headless Chromium (~30 s).
# They run before `swift test` so that its summary stays the last line.
if [ $# -eq 0 ]; then
    scripts/checks/api-check.sh
    scripts/checks/demo-check.sh
    # Everything in deploy/ (~10 s): linters, manifests, KServe runtime run for real, promtool on the alert rules, the
    # Grafana dashboard's queries against a real /metrics scrape.
    scripts/checks/deploy-check.sh --server .build/debug/mcdropout-serve
    # Two replicas behind nginx in network namespaces, one's link cut and restored, the other's degraded (~65 s).
    if [ "$(id -u)" = 0 ] && ip netns list >/dev/null 2>&1; then
        scripts/reliability/network-failover.sh --server .build/debug/mcdropout-serve
    else
        echo "network failover check skipped: it needs root and network namespaces (iproute2)"
    fi
fi
# A hung test must fail the run, not eat the CI budget: the whole suite takes a few minutes.
timeout --kill-after=30 1500 swift test --skip-build "$@"
