#!/usr/bin/env bash
# Usage: scripts/python-env.sh [REQUIREMENTS_FILE...]
# Creates or updates the git-ignored virtual environment .venv with the given requirement files (default:
# scripts/requirements-test.txt) and prints the path of its python. A no-op when the files have not changed.
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -eq 0 ] && set -- scripts/requirements-test.txt
venv=.venv
stamp="$venv/.requirements-$(cat "$@" | sha256sum | cut -c1-16)"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" 2>/dev/null || {
        # Debian's python3 ships venv separately.
        apt-get update -q && apt-get install -y -q python3-venv >/dev/null
        python3 -m venv "$venv"
    }
fi
if [ ! -f "$stamp" ]; then
    args=()
    for file in "$@"; do args+=(-r "$file"); done
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "${args[@]}" >&2
    touch "$stamp"
fi
echo "$PWD/$venv/bin/python"
