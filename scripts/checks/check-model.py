"""Check an mcdropout model file from Python, the way a PyTorch or numpy user reads it, and run it deterministically.

Usage: check-model.py MODEL.safetensors [--data SET_DIR] [--dump-probabilities N] [--inputs FILE.json]
  (run with the venv python: "$(scripts/python/python-env.sh)" scripts/checks/check-model.py ...)

Loads the file with safetensors.numpy and verifies the layout that mcdropout writes: tensors layers.{i}.weight
[out, in] and layers.{i}.bias [out], float32, finite, i = 0, 1, ... without gaps, shapes chaining; metadata key
"mcdropout" holding a JSON object with format_version 1 (2 with input.transform or density statistics), architecture.layer_sizes (matching the tensors) and
architecture.activation "relu", dropout (one probability in [0, 1) per dense layer input), input.scale (> 0; pixels
0-255 are divided by it) and optional input.shape, labels (one string per output), dataset, seed, metrics (object)
and optional hyperparameters (object). An optional input.transform must be "center_of_mass" on a square
single-channel input.shape; optional input.mean and input.std (both or neither) hold one number per input.

The deterministic forward pass is prepare(x) -> Dense -> ReLU -> ... -> softmax, in float64 (dropout off; inverted
dropout needs no weight rescaling), where prepare divides by input.scale, applies input.transform as the server does
(center_of_mass: move the image by the whole pixels, halves towards zero, that bring its intensity centre of mass to
pixel (side // 2, side // 2), zeros filling in) and then (x - mean) / std when the file has them. --data SET_DIR (e.g. data/mnist) runs it over SET_DIR/t10k-*-ubyte.gz and
reports the accuracy; --dump-probabilities N (needs --data) adds the first N test images' logits and probability
rows. --inputs FILE.json (a JSON list of pixel lists, 0-255) adds the probabilities of each input.
Prints one JSON object on stdout; on any violation prints "check-model: ..." on stderr and exits 1 (2 for usage).
"""
import argparse
import json
import math
import re
import sys
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from idx_summary import Invalid, read_idx  # noqa: E402  (scripts/python/idx_summary.py)


class Violation(Exception):
    pass


def require(condition: bool, message: str) -> None:
    if not condition:
        raise Violation(message)


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_tensors(tensors: dict) -> list:
    """Returns [(weight, bias), ...] in layer order."""
    indices = set()
    for name in tensors:
        if name.startswith("density."):
            continue  # the density scores' training statistics (mcdropout-eval fit-rule): not part of the network
        match = re.fullmatch(r"layers\.(0|[1-9][0-9]*)\.(weight|bias)", name)
        require(match is not None, f"unexpected tensor '{name}' (want layers.{{i}}.weight / layers.{{i}}.bias)")
        indices.add(int(match.group(1)))
    require(indices, "the file holds no tensors")
    require(indices == set(range(len(indices))), f"layer indices {sorted(indices)} are not 0..{len(indices) - 1}")
    layers = []
    for i in range(len(indices)):
        for kind in ("weight", "bias"):
            require(f"layers.{i}.{kind}" in tensors, f"tensor 'layers.{i}.{kind}' is missing")
        weight, bias = tensors[f"layers.{i}.weight"], tensors[f"layers.{i}.bias"]
        for name, array in ((f"layers.{i}.weight", weight), (f"layers.{i}.bias", bias)):
            require(array.dtype == np.float32, f"tensor '{name}' is {array.dtype}, not float32")
            require(bool(np.isfinite(array).all()), f"tensor '{name}' holds non-finite values")
        require(weight.ndim == 2 and min(weight.shape) > 0, f"'layers.{i}.weight' has shape {list(weight.shape)}, "
                "want [out, in]")
        require(bias.shape == (weight.shape[0],), f"'layers.{i}.bias' has shape {list(bias.shape)}, "
                f"want [{weight.shape[0]}]")
        if layers:
            previous = layers[-1][0].shape[0]
            require(weight.shape[1] == previous, f"'layers.{i}.weight' takes {weight.shape[1]} inputs but layer "
                    f"{i - 1} gives {previous} outputs")
        layers.append((weight, bias))
    return layers


def check_metadata(raw: dict, sizes: list) -> dict:
    require(raw is not None and "mcdropout" in raw, "safetensors metadata has no 'mcdropout' key")
    try:
        meta = json.loads(raw["mcdropout"])
    except json.JSONDecodeError as error:
        raise Violation(f"metadata 'mcdropout' is not valid JSON: {error}")
    require(isinstance(meta, dict), "metadata 'mcdropout' is not a JSON object")
    for key in ("format_version", "architecture", "dropout", "input", "labels", "dataset", "seed", "metrics"):
        require(key in meta, f"metadata field '{key}' is missing")
    require(is_int(meta["format_version"]) and meta["format_version"] in (1, 2),
            f"format_version {meta['format_version']!r} is not supported (1 or 2)")
    # Version 2 is written exactly when the file declares an input transform or density statistics, or holds
    # deep-ensemble members (so that older servers refuse it); this checker reads plain networks.
    has_transform = isinstance(meta.get("input"), dict) and "transform" in meta["input"]
    needs_two = has_transform or "density" in meta
    require(meta["format_version"] == (2 if needs_two else 1),
            f"format_version {meta['format_version']}: expected {2 if needs_two else 1} for this file's contents")
    arch = meta["architecture"]
    require(isinstance(arch, dict), "architecture must be an object")
    require(arch.get("layer_sizes") == sizes and all(is_int(s) for s in arch["layer_sizes"]),
            f"architecture.layer_sizes {arch.get('layer_sizes')!r} does not match the tensors' {sizes}")
    require(arch.get("activation") == "relu", f"architecture.activation {arch.get('activation')!r} is not 'relu'")
    dropout = meta["dropout"]
    require(isinstance(dropout, list) and len(dropout) == len(sizes) - 1,
            f"dropout must list one probability per dense layer ({len(sizes) - 1}), found {dropout!r}")
    require(all(is_number(p) and 0 <= p < 1 for p in dropout), f"dropout probabilities {dropout} not all in [0, 1)")
    source = meta["input"]
    require(isinstance(source, dict), "input must be an object")
    require(is_number(source.get("scale")) and source["scale"] > 0, f"input.scale {source.get('scale')!r} must be > 0")
    if "shape" in source:
        shape = source["shape"]
        require(isinstance(shape, list) and all(is_int(d) and d > 0 for d in shape) and math.prod(shape) == sizes[0],
                f"input.shape {shape!r} must be positive integers whose product is {sizes[0]}")
    if "transform" in source:
        require(source["transform"] == "center_of_mass",
                f"input.transform {source['transform']!r} is not supported ('center_of_mass')")
        require(square_side(source.get("shape")) is not None,
                f"input.transform needs a square single-channel input.shape, found {source.get('shape')!r}")
    require(("mean" in source) == ("std" in source), "input.mean and input.std come together")
    if "mean" in source:
        for key in ("mean", "std"):
            values = source[key]
            require(isinstance(values, list) and len(values) == sizes[0] and all(is_number(v) for v in values),
                    f"input.{key} must be {sizes[0]} numbers")
        require(all(v > 0 for v in source["std"]), "input.std must be positive")
    labels = meta["labels"]
    require(isinstance(labels, list) and len(labels) == sizes[-1] and all(isinstance(s, str) for s in labels),
            f"labels must be {sizes[-1]} strings, found {labels!r}")
    require(isinstance(meta["dataset"], str), "dataset must be a string")
    require(is_int(meta["seed"]) and 0 <= meta["seed"] < 2 ** 64, f"seed {meta['seed']!r} is not a UInt64")
    require(isinstance(meta["metrics"], dict), "metrics must be an object")
    require(isinstance(meta.get("hyperparameters", {}), dict), "hyperparameters must be an object")
    return meta


def square_side(shape):
    """The side of a square single-channel image shape ([28, 28], [1, 28, 28], [28, 28, 1]), else None."""
    dims = [d for d in (shape or []) if d != 1]
    return dims[0] if len(dims) == 2 and dims[0] == dims[1] else None


def whole_pixels(difference: float, side: int) -> int:
    """A centre-of-mass difference rounded to whole pixels, halves towards zero, within +-side."""
    if not math.isfinite(difference):
        return 0
    magnitude = min(math.ceil(abs(difference) - 0.5), side)
    return 0 if magnitude <= 0 else (-magnitude if difference < 0 else magnitude)


def center_of_mass(images: np.ndarray, side: int) -> np.ndarray:
    """Each raw image [N, side*side] moved so that its centre of mass is at pixel (side // 2, side // 2)."""
    moved = np.zeros_like(images)
    index = np.arange(side, dtype=np.float64)
    for n, image in enumerate(images.reshape(len(images), side, side)):
        mass = image.sum()
        if not mass > 0:
            moved[n] = image.reshape(-1)
            continue
        rows = whole_pixels(side // 2 - (image.sum(axis=1) * index).sum() / mass, side)
        columns = whole_pixels(side // 2 - (image.sum(axis=0) * index).sum() / mass, side)
        out = np.zeros_like(image)
        ys, yd = slice(max(-rows, 0), side - max(rows, 0)), slice(max(rows, 0), side - max(-rows, 0))
        xs, xd = slice(max(-columns, 0), side - max(columns, 0)), slice(max(columns, 0), side - max(-columns, 0))
        out[yd, xd] = image[ys, xs]
        moved[n] = out.reshape(-1)
    return moved


def prepare(pixels: np.ndarray, source: dict) -> np.ndarray:
    """The network inputs of raw inputs [N, ...] as the server prepares them (float64)."""
    x = pixels.reshape(len(pixels), -1).astype(np.float64)
    if source.get("transform") == "center_of_mass":
        x = center_of_mass(x, square_side(source.get("shape")))
    x = x / float(source["scale"])
    if "mean" in source:
        x = (x - np.asarray(source["mean"], dtype=np.float64)) / np.asarray(source["std"], dtype=np.float64)
    return x


def forward(layers: list, pixels: np.ndarray, source: dict):
    """Deterministic logits and softmax probabilities in float64 for raw inputs [N, ...]."""
    h = prepare(pixels, source)
    for i, (weight, bias) in enumerate(layers):
        h = h @ weight.astype(np.float64).T + bias.astype(np.float64)
        if i < len(layers) - 1:
            h = np.maximum(h, 0.0)
    shifted = np.exp(h - h.max(axis=1, keepdims=True))
    return h, shifted / shifted.sum(axis=1, keepdims=True)


def evaluate(layers: list, meta: dict, directory: Path, dump: int) -> dict:
    try:
        image_dims, _, image_bytes = read_idx(directory / "t10k-images-idx3-ubyte.gz", 0x803, 3)
        label_dims, _, label_bytes = read_idx(directory / "t10k-labels-idx1-ubyte.gz", 0x801, 1)
    except (Invalid, FileNotFoundError) as error:
        raise Violation(f"test data: {error}")
    images = np.frombuffer(image_bytes, dtype=np.uint8).reshape(image_dims)
    labels = np.frombuffer(label_bytes, dtype=np.uint8)
    require(image_dims[1] * image_dims[2] == layers[0][0].shape[1],
            f"test images have {image_dims[1] * image_dims[2]} pixels, the model takes {layers[0][0].shape[1]}")
    require(int(labels.max()) < layers[-1][0].shape[0], "test labels exceed the model's outputs")
    logits, probabilities = forward(layers, images, meta["input"])
    result = {"data": str(directory), "test_count": int(image_dims[0]),
              "accuracy": float((probabilities.argmax(axis=1) == labels).mean())}
    if dump:
        result["dump"] = {"count": min(dump, len(labels)), "labels": labels[:dump].tolist(),
                          "logits": logits[:dump].tolist(), "probabilities": probabilities[:dump].tolist()}
    return result


def run_inputs(layers: list, meta: dict, path: Path) -> np.ndarray:
    """Deterministic probabilities for the pixel lists in a JSON file."""
    try:
        pixels = np.array(json.loads(path.read_text()), dtype=np.float64)
    except (OSError, ValueError) as error:
        raise Violation(f"inputs {path}: {error}")
    width = layers[0][0].shape[1]
    require(pixels.ndim == 2 and pixels.shape[1] == width,
            f"inputs {path}: want a list of {width}-pixel lists, found shape {list(pixels.shape)}")
    return forward(layers, pixels, meta["input"])[1]


def main() -> None:
    parser = argparse.ArgumentParser(usage=__doc__.split("\n\n")[1].split("\n")[0][len("Usage: "):])
    parser.add_argument("model", type=Path)
    parser.add_argument("--data", type=Path, help="set directory with t10k-*-ubyte.gz, e.g. data/mnist")
    parser.add_argument("--dump-probabilities", type=int, default=0, metavar="N")
    parser.add_argument("--inputs", type=Path, help="JSON list of pixel lists (0-255) to run through the model")
    args = parser.parse_args()
    if args.dump_probabilities and args.data is None:
        parser.error("--dump-probabilities needs --data")
    if args.dump_probabilities < 0:
        parser.error("--dump-probabilities must be >= 0")
    try:
        try:
            tensors = load_file(args.model)
            with safe_open(args.model, framework="numpy") as f:
                raw = f.metadata()
        except Exception as error:  # safetensors raises several types for unreadable files
            raise Violation(f"cannot read as safetensors: {type(error).__name__}: {error}")
        layers = check_tensors(tensors)
        sizes = [layers[0][0].shape[1]] + [w.shape[0] for w, _ in layers]
        meta = check_metadata(raw, sizes)
        summary = {"model": str(args.model), "valid": True, "layer_sizes": sizes, "dropout": meta["dropout"],
                   "input_scale": meta["input"]["scale"],
                   "input_transform": meta["input"].get("transform"), "labels": meta["labels"], "dataset": meta["dataset"],
                   "seed": meta["seed"], "metrics": meta["metrics"],
                   "parameters": int(sum(w.size + b.size for w, b in layers))}
        if args.data is not None:
            summary.update(evaluate(layers, meta, args.data, args.dump_probabilities))
        if args.inputs is not None:
            summary["probabilities"] = run_inputs(layers, meta, args.inputs).tolist()
    except Violation as violation:
        sys.exit(f"check-model: {args.model}: {violation}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
