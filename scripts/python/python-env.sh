#!/usr/bin/env bash
# Usage: scripts/python/python-env.sh [REQUIREMENTS_FILE...]
# Creates or updates the git-ignored virtual environment <repo>/.venv, installs the given requirement files (default:
# scripts/python/requirements-test.txt) and prints the path of the venv's python on stdout (everything else goes to
# stderr). A fast no-op when the same files (by content) were installed before. PYTHON=... picks the base interpreter.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
[ $# -eq 0 ] && set -- "$root/scripts/python/requirements-test.txt"
files=()
for file in "$@"; do
    [ -f "$file" ] || { echo "python-env.sh: no such requirements file: $file" >&2; exit 2; }
    files+=("$(cd "$(dirname "$file")" && pwd)/$(basename "$file")")
done
base="${PYTHON:-python3}"
venv="$root/.venv"
python="$venv/bin/python"

mkdir -p "$venv"
exec 9>"$venv/.lock"
flock 9  # concurrent callers wait instead of installing twice

if ! "$python" -c 'import sys' 2>/dev/null; then
    # Missing or broken (e.g. its base interpreter went away): start over.
    find "$venv" -mindepth 1 -maxdepth 1 ! -name .lock -exec rm -rf {} +
    if ! "$base" -m venv "$venv" >&2; then
        # Debian's own python3 ships venv/ensurepip separately; pyenv and python.org builds include them.
        echo "python-env.sh: '$base -m venv' failed; installing python3-venv" >&2
        . "$root/scripts/lib/apt.sh"
        apt_install python3-venv
        find "$venv" -mindepth 1 -maxdepth 1 ! -name .lock -exec rm -rf {} +
        "$base" -m venv "$venv" >&2
    fi
fi

key="$({ "$python" -c 'import sys; print(sys.version)'; cat "${files[@]}"; } | sha256sum | cut -c1-16)"
stamp="$venv/.requirements-$key"
if [ ! -f "$stamp" ]; then
    args=()
    for file in "${files[@]}"; do args+=(-r "$file"); done
    echo "python-env.sh: installing ${files[*]#"$root/"} into .venv" >&2
    "$python" -m pip install -q --disable-pip-version-check "${args[@]}" >&2
    touch "$stamp"
fi
echo "$python"
