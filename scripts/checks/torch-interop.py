"""PyTorch interop, both ways, against the real Swift server (mcdropout-serve).

Usage: torch-interop.py [--data SET_DIR] [--server BINARY] [--model MODEL.safetensors] [--epochs 1] [--count 256]
                        [--workdir DIR] [--tolerance 1e-5] [--threads 1] [--seed 0]
  (the wrapper scripts/checks/torch-interop.sh installs the venv with torch, builds the server and runs this)

A. PyTorch -> mcdropout: trains the default architecture 784-512-512-10 (dropout 0 / 0.5 / 0.5 on the inputs of
   the three Linear layers) on SET_DIR/train-* in PyTorch on the CPU for --epochs epochs, exports it as safetensors
   in mcdropout's layout (layers.{i}.weight [out, in], layers.{i}.bias [out], float32; metadata "mcdropout" with
   format_version, architecture, dropout, input, labels, dataset, seed, hyperparameters and metrics), serves it with
   the Swift server and compares the server's answers with PyTorch's.
B. mcdropout -> PyTorch: loads --model (default models/mnist.safetensors, trained by mcdropout-train) into a plain
   nn.Sequential(Dropout?, Linear, ReLU, ...) with load_state_dict(strict=True) and compares it with the server.

"Deterministic outputs" are the dropout-off pass (PyTorch's model.eval()). The server always runs Monte-Carlo
dropout, so each model is also exported as a copy whose dropout probabilities are all 0 (same tensors, metadata
dropout [0, 0, 0]; stem "<name>-p0"): every pass of that copy is the deterministic pass, and the server's mean
probabilities must equal PyTorch's eval() softmax within --tolerance (absolute, per class) on the first --count test
images (one batch request, samples 1 and samples 7, seed fixed). The real-dropout files are served alongside and must
load and agree with PyTorch's arg-max on confident inputs. Everything the server sees goes over real HTTP (/predict
and the KServe V2 /v2/models/{m}/infer route).

The exported files go to a temporary directory that is removed at the end, or to --workdir, which keeps them.
Prints one JSON summary on stdout (progress on stderr) and exits 1 when any check fails.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import load_file, save_file
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from idx_summary import read_idx  # noqa: E402  (scripts/python/idx_summary.py)

ROOT = Path(__file__).resolve().parents[2]
SIZES = [784, 512, 512, 10]
DROPOUT = [0.0, 0.5, 0.5]


def log(message: str) -> None:
    print(f"torch-interop: {message}", file=sys.stderr, flush=True)


def load_split(directory: Path, prefix: str):
    dims, _, pixels = read_idx(directory / f"{prefix}-images-idx3-ubyte.gz", 0x803, 3)
    _, _, labels = read_idx(directory / f"{prefix}-labels-idx1-ubyte.gz", 0x801, 1)
    images = np.frombuffer(pixels, np.uint8).reshape(dims[0], -1)
    return images, np.frombuffer(labels, np.uint8).astype(np.int64)


def build(sizes, dropout) -> nn.Sequential:
    """The mcdropout network as a plain nn.Sequential: [Dropout(p_i)] Linear (ReLU) per layer."""
    modules = []
    for i in range(len(sizes) - 1):
        if dropout[i] > 0:
            modules.append(nn.Dropout(dropout[i]))
        modules.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


def linear_keys(model: nn.Sequential):
    """Maps mcdropout tensor names (layers.{i}.weight) to the Sequential's state_dict keys ({index}.weight)."""
    indices = [index for index, module in enumerate(model) if isinstance(module, nn.Linear)]
    return {f"layers.{i}.{kind}": f"{index}.{kind}" for i, index in enumerate(indices) for kind in ("weight", "bias")}


def export(model: nn.Sequential, path: Path, meta: dict) -> None:
    state = model.state_dict()
    tensors = {ours: state[theirs].detach().numpy().astype(np.float32) for ours, theirs in linear_keys(model).items()}
    save_file(tensors, str(path), metadata={"mcdropout": json.dumps(meta)})


def read_model(path: Path):
    with safe_open(str(path), framework="numpy") as f:
        meta = json.loads((f.metadata() or {})["mcdropout"])
    return load_file(str(path)), meta


def to_torch(path: Path) -> nn.Sequential:
    """Loads an mcdropout safetensors file into nn.Sequential with strict key and shape checking."""
    tensors, meta = read_model(path)
    model = build(meta["architecture"]["layer_sizes"], meta["dropout"])
    keys = linear_keys(model)
    model.load_state_dict({keys[name]: torch.from_numpy(array) for name, array in tensors.items()}, strict=True)
    return model.eval()


def without_dropout(source: Path, target: Path) -> None:
    """Copies an mcdropout file with every dropout probability 0: its MC passes are all the deterministic pass."""
    tensors, meta = read_model(source)
    meta["dropout"] = [0.0] * len(meta["dropout"])
    save_file(tensors, str(target), metadata={"mcdropout": json.dumps(meta)})


def torch_probabilities(model: nn.Sequential, images: np.ndarray, scale: float) -> np.ndarray:
    with torch.no_grad():
        x = torch.from_numpy(images.astype(np.float32)) / scale
        return torch.softmax(model.eval()(x), dim=1).numpy()


def train(train_x, train_y, test_x, test_y, epochs: int, seed: int, threads: int):
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    model = build(SIZES, DROPOUT)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_function = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)
    x, y = torch.from_numpy(train_x.astype(np.float32) / 255.0), torch.from_numpy(train_y)
    for epoch in range(epochs):
        model.train()
        start, total = time.perf_counter(), 0.0
        for batch in torch.randperm(len(x), generator=generator).split(128):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_function(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        log(f"epoch {epoch + 1}/{epochs}: loss {total / len(x):.4f}, {time.perf_counter() - start:.1f} s")
    probabilities = torch_probabilities(model, test_x, 255.0)
    accuracy = float((probabilities.argmax(axis=1) == test_y).mean())
    nll = float(-np.log(np.maximum(probabilities[np.arange(len(test_y)), test_y], 1e-12)).mean())
    return model.eval(), {"test_count": int(len(test_y)), "deterministic": {"accuracy": accuracy, "nll": nll,
                                                                          "count": int(len(test_y))}}


class Server:
    """mcdropout-serve on a free loopback port, stopped with SIGTERM (which must exit 0)."""

    def __init__(self, binary: Path, models, max_body_bytes: int = 16 << 20):
        command = [str(binary), "--host", "127.0.0.1", "--port", "0", "--threads", "1", "--log-level", "warning",
                   "--max-body-bytes", str(max_body_bytes)]
        for model in models:
            command += ["--model", str(model)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not match:
            self.process.kill()
            raise RuntimeError(f"server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{match.group(1)}"

    def post(self, path: str, body: dict) -> dict:
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())

    def predict(self, model: str, images: np.ndarray, samples: int, seed: int) -> np.ndarray:
        rows = []
        for start in range(0, len(images), 256):  # --max-batch
            answer = self.post("/predict", {"model": model, "samples": samples, "seed": seed,
                                            "instances": images[start:start + 256].astype(int).tolist()})
            rows += [p["probabilities"] for p in answer["predictions"]]
        return np.array(rows, dtype=np.float64)

    def infer_v2(self, model: str, images: np.ndarray, samples: int, seed: int) -> np.ndarray:
        blocks = []
        for start in range(0, len(images), 256):  # --max-batch
            block = images[start:start + 256]
            body = {"id": "interop", "parameters": {"samples": samples, "seed": seed},
                    "inputs": [{"name": "pixels", "shape": list(block.shape), "datatype": "UINT8",
                                "data": block.astype(int).ravel().tolist()}],
                    "outputs": [{"name": "probabilities"}]}
            answer = self.post(f"/v2/models/{model}/infer", body)
            output = next(o for o in answer["outputs"] if o["name"] == "probabilities")
            blocks.append(np.array(output["data"], dtype=np.float64).reshape(output["shape"]))
        return np.concatenate(blocks)

    def stop(self) -> int:
        self.process.terminate()
        return self.process.wait(timeout=60)


def compare(server: Server, name: str, reference: np.ndarray, images: np.ndarray, seed: int, tolerance: float):
    """Dropout-free file `name`: /predict with 1 and 7 passes and V2 infer must all equal `reference`."""
    results = {}
    for label, answer in [("predict_samples_1", server.predict(name, images, 1, seed)),
                          ("predict_samples_7", server.predict(name, images, 7, seed + 1)),
                          ("v2_infer_samples_3", server.infer_v2(name, images, 3, seed + 2))]:
        difference = float(np.abs(answer - reference).max())
        results[label] = {"max_abs_difference": difference, "ok": difference <= tolerance,
                          "argmax_agreement": float((answer.argmax(axis=1) == reference.argmax(axis=1)).mean())}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(usage=__doc__.split("\n\n")[1].split("\n  (")[0][len("Usage: "):])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "mnist")
    parser.add_argument("--server", type=Path, default=ROOT / ".build" / "release" / "mcdropout-serve")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "mnist.safetensors")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--count", type=int, default=256)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--tolerance", type=float, default=1e-5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not (args.data / "t10k-images-idx3-ubyte.gz").is_file():
        parser.error(f"{args.data} has no MNIST IDX files: run scripts/fetch-data.sh first")
    if not os.access(args.server, os.X_OK):
        parser.error(f"{args.server} is not an executable: swift build -c release --product mcdropout-serve")
    temporary = None if args.workdir else tempfile.TemporaryDirectory(prefix="torch-interop-")
    workdir = args.workdir or Path(temporary.name)  # --workdir keeps the exported files; the default is removed
    workdir.mkdir(parents=True, exist_ok=True)

    train_x, train_y = load_split(args.data, "train")
    test_x, test_y = load_split(args.data, "t10k")
    images = test_x[:args.count]

    # A. Train in PyTorch, export in our layout (plus a dropout-free copy).
    log(f"training {SIZES} with dropout {DROPOUT} in PyTorch {torch.__version__} for {args.epochs} epoch(s)")
    started = time.perf_counter()
    trained, metrics = train(train_x, train_y, test_x, test_y, args.epochs, args.seed, args.threads)
    training_seconds = time.perf_counter() - started
    meta = {"format_version": 1, "architecture": {"layer_sizes": SIZES, "activation": "relu"}, "dropout": DROPOUT,
            "input": {"scale": 255, "shape": [28, 28]}, "labels": [str(k) for k in range(10)],
            "dataset": args.data.name, "seed": args.seed,
            "hyperparameters": {"trainer": f"torch {torch.__version__}", "optimizer": "momentum", "momentum": 0.9,
                                "learning_rate": 0.05, "epochs": args.epochs, "batch_size": 128,
                                "initialization": "torch default (kaiming uniform)"},
            "metrics": metrics}
    torch_file = workdir / "torch-mnist.safetensors"
    export(trained, torch_file, meta)
    without_dropout(torch_file, workdir / "torch-mnist-p0.safetensors")
    torch_reference = torch_probabilities(trained, images, 255.0)
    reloaded = torch_probabilities(to_torch(torch_file), images, 255.0)  # the exported file, read back by PyTorch
    assert np.array_equal(reloaded, torch_reference), "export did not round-trip through load_state_dict"

    # B. Load our committed model into PyTorch.
    ours = to_torch(args.model)
    log(f"loaded {args.model.name} into PyTorch:\n{ours}")
    ours_scale = float(read_model(args.model)[1]["input"]["scale"])
    ours_reference = torch_probabilities(ours, images, ours_scale)
    ours_accuracy = float((torch_probabilities(ours, test_x, ours_scale).argmax(axis=1) == test_y).mean())
    stem = args.model.stem
    without_dropout(args.model, workdir / f"{stem}-p0.safetensors")

    served = [torch_file, workdir / "torch-mnist-p0.safetensors", workdir / f"{stem}-p0.safetensors", args.model]
    server = Server(args.server, served)
    log(f"serving {[p.name for p in served]} at {server.url}")
    try:
        summary = {
            "torch": torch.__version__, "count": int(len(images)), "tolerance": args.tolerance,
            "workdir": str(workdir) if args.workdir else None,
            "a_torch_to_server": {
                "training_seconds": round(training_seconds, 1), "epochs": args.epochs,
                "torch_test_accuracy": metrics["deterministic"]["accuracy"],
                "deterministic": compare(server, "torch-mnist-p0", torch_reference, images, args.seed, args.tolerance),
            },
            "b_server_model_to_torch": {
                "model": str(args.model.relative_to(ROOT) if args.model.is_relative_to(ROOT) else args.model),
                "torch_test_accuracy": ours_accuracy,
                "metadata_test_accuracy": read_model(args.model)[1]["metrics"]["deterministic"]["accuracy"],
                "deterministic": compare(server, f"{stem}-p0", ours_reference, images, args.seed, args.tolerance),
            },
        }
        # The real-dropout files load and, on inputs PyTorch is sure of, MC dropout agrees with PyTorch's arg-max.
        for key, name, reference in [("a_torch_to_server", "torch-mnist", torch_reference),
                                     ("b_server_model_to_torch", stem, ours_reference)]:
            confident = reference.max(axis=1) > 0.99
            mc = server.predict(name, images[confident], 100, args.seed)
            summary[key]["mc_dropout_argmax_agreement_on_confident"] = {
                "inputs": int(confident.sum()),
                "agreement": float((mc.argmax(axis=1) == reference[confident].argmax(axis=1)).mean())}
    finally:
        status = server.stop()
    summary["server_exit_status"] = status

    checks = [status == 0]
    for key in ("a_torch_to_server", "b_server_model_to_torch"):
        checks += [result["ok"] for result in summary[key]["deterministic"].values()]
        checks.append(summary[key]["mc_dropout_argmax_agreement_on_confident"]["agreement"] >= 0.99)
    # float32 BLAS vs PyTorch may flip a near-tie image: allow 2 of 10 000.
    checks.append(abs(ours_accuracy - summary["b_server_model_to_torch"]["metadata_test_accuracy"]) <= 2e-4)
    summary["ok"] = all(checks)
    print(json.dumps(summary, indent=2))
    sys.exit(0 if summary["ok"] else 1)


if __name__ == "__main__":
    main()
