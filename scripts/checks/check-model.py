"""Check a mcdropout model file from Python, the way a PyTorch or numpy user would read it.

Usage: check-model.py MODEL.safetensors [--data DIR] [--inputs FILE.json]

Loads the file with safetensors.numpy, verifies the layout (layers.{i}.weight [out, in], layers.{i}.bias [out],
float32, shapes chaining, metadata 'mcdropout' consistent with the tensors) and prints a JSON summary. With --data
(an MNIST-layout IDX directory) it also reports the dropout-off test accuracy; with --inputs (a JSON list of
pixel lists, 0-255) it prints the dropout-off probabilities of each input. Exits non-zero on any violation.
"""
import argparse
import gzip
import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file


def fail(message: str) -> None:
    sys.exit(f"check-model: {message}")


def load(path: str):
    tensors = load_file(path)
    with safe_open(path, framework="numpy") as f:
        metadata = f.metadata() or {}
    if "mcdropout" not in metadata:
        fail("metadata key 'mcdropout' is missing")
    meta = json.loads(metadata["mcdropout"])
    sizes = meta["architecture"]["layer_sizes"]
    count = len(sizes) - 1
    expected = {f"layers.{i}.{kind}" for i in range(count) for kind in ("weight", "bias")}
    if set(tensors) != expected:
        fail(f"tensors {sorted(tensors)} differ from {sorted(expected)}")
    layers = []
    for i in range(count):
        weight, bias = tensors[f"layers.{i}.weight"], tensors[f"layers.{i}.bias"]
        if weight.dtype != np.float32 or bias.dtype != np.float32:
            fail(f"layer {i} is not float32")
        if weight.shape != (sizes[i + 1], sizes[i]) or bias.shape != (sizes[i + 1],):
            fail(f"layer {i} shapes {weight.shape}, {bias.shape} do not match layer_sizes {sizes}")
        layers.append((weight, bias))
    if meta["architecture"]["activation"] != "relu":
        fail("activation is not relu")
    if len(meta["dropout"]) != count or not all(0 <= p < 1 for p in meta["dropout"]):
        fail("dropout must hold one probability in [0, 1) per layer")
    if len(meta["labels"]) != sizes[-1]:
        fail("labels must name every output")
    for key in ("format_version", "input", "dataset", "seed", "metrics"):
        if key not in meta:
            fail(f"metadata field '{key}' is missing")
    return meta, layers


def probabilities(layers, scale: float, pixels: np.ndarray) -> np.ndarray:
    x = pixels.astype(np.float32) / np.float32(scale)
    for i, (weight, bias) in enumerate(layers):
        x = x @ weight.T + bias
        if i < len(layers) - 1:
            x = np.maximum(x, 0)
    x = x - x.max(axis=1, keepdims=True)
    e = np.exp(x.astype(np.float64))
    return e / e.sum(axis=1, keepdims=True)


def read_idx(path: str) -> np.ndarray:
    with gzip.open(path) as f:
        data = f.read()
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--data")
    parser.add_argument("--inputs")
    args = parser.parse_args()
    meta, layers = load(args.model)
    scale = meta["input"]["scale"]
    summary = {
        "layer_sizes": meta["architecture"]["layer_sizes"],
        "dropout": meta["dropout"],
        "dataset": meta["dataset"],
        "parameters": int(sum(w.size + b.size for w, b in layers)),
    }
    if args.data:
        images = read_idx(f"{args.data}/t10k-images-idx3-ubyte.gz").reshape(-1, layers[0][0].shape[1])
        labels = read_idx(f"{args.data}/t10k-labels-idx1-ubyte.gz")
        predicted = probabilities(layers, scale, images).argmax(axis=1)
        summary["test_accuracy_dropout_off"] = float((predicted == labels).mean())
    if args.inputs:
        with open(args.inputs) as f:
            inputs = np.array(json.load(f), dtype=np.float32)
        summary["probabilities"] = probabilities(layers, scale, inputs).tolist()
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
