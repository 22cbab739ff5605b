#!/usr/bin/env bash
# Usage: scripts/checks/api-check.sh [--release] [--examples N] [extra schemathesis run options...]
# Checks the HTTP API against its OpenAPI document (Sources/InferenceServer/Resources/openapi.json):
#   1. openapi-spec-validator validates the document;
#   2. mcdropout-serve (debug build, or --release) starts on a free loopback port and must serve the same bytes at
#      GET /openapi.json;
#   3. schemathesis (settings in scripts/python/schemathesis.toml) sends N generated requests per operation
#      (default 25):
#      valid and invalid bodies, parameters and methods. Every response must be documented: no 5xx, status codes,
#      content types, headers and bodies as the document says, invalid input rejected with 4xx, wrong methods 405.
# The one check left out is positive_data_acceptance ("every schema-valid request gets 2xx"): runtime limits that
# JSON Schema cannot state (the inputs × samples budget, pixel counts matching a V2 tensor shape) rightly answer 400.
# The server runs with --max-total-passes 2000: the generator likes boundary values, and a debug build on a busy
# 2-core machine took 11.7 s for a 9 999-pass request, over schemathesis's 10 s response-time limit (ST112).
# Needs PyPI the first time (scripts/python/requirements-api.txt goes into .venv); exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

configuration=debug
examples=25
while [ $# -gt 0 ]; do
    case "$1" in
        --release) configuration=release; shift ;;
        --examples) examples="$2"; shift 2 ;;
        *) break ;;
    esac
done

document=Sources/InferenceServer/Resources/openapi.json
python="$(scripts/python/python-env.sh scripts/python/requirements-test.txt scripts/python/requirements-api.txt)"
bin="$(dirname "$python")"

echo "api-check: validating $document" >&2
"$bin/openapi-spec-validator" "$document"

swift build -c "$configuration" --product mcdropout-serve >&2
work="$(mktemp -d)"
SERVE=".build/$configuration/mcdropout-serve"
SERVER_TOOLS=""
. scripts/lib/server.sh
trap 'serve_stop; rm -rf "$work"' EXIT
serve_start "$work/stderr" --model models/mnist.safetensors --max-total-passes 2000 --log-level warning
base="$BASE"

"$python" - "$base/openapi.json" "$document" <<'PY'
import sys, urllib.request
served = urllib.request.urlopen(sys.argv[1], timeout=10).read()
with open(sys.argv[2], "rb") as file:
    assert served == file.read(), "GET /openapi.json differs from " + sys.argv[2]
print("api-check: GET /openapi.json serves the repository's document", file=sys.stderr)
PY

echo "api-check: schemathesis against $base, $examples examples per operation" >&2
# From the scratch directory, so hypothesis's example database and schemathesis's state stay out of the repository.
# One worker: concurrent workers hit a CPython 3.11 AST bug inside hypothesis ("AST constructor recursion depth").
root="$(pwd)"
(cd "$work" && "$bin/schemathesis" --config-file "$root/scripts/python/schemathesis.toml" --no-color \
    run "$base/openapi.json" \
    --checks all --exclude-checks positive_data_acceptance \
    --max-examples "$examples" --seed 20261123 --request-timeout 30 --workers 1 "$@")

# A server that crashed under the fuzzing would have failed requests above; one that logged errors is a bug too.
if grep -E '\b(error|critical)\b' "$work/stderr" >&2; then
    echo "api-check: the server logged errors (above)" >&2
    exit 1
fi
echo "api-check: passed" >&2
