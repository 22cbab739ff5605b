"""Time full training epochs of the mcdropout MLP in PyTorch (CPU), as a reference for the Swift trainer.

Usage: bench-train-torch.py --data SET_DIR [--threads T] [--batch-size 128] [--epochs 1] [--warmup-epochs 1]
                            [--hidden 512,512] [--dropout 0.0,0.5,0.5] [--lr 0.05] [--momentum 0.9] [--seed 0]
                            [--save MODEL.safetensors]
  (run with the bench venv: "$(scripts/python/python-env.sh scripts/python/requirements-test.txt
  scripts/python/requirements-bench.txt)")

Network: inputs (pixels / 255) -> [Dropout(p_i) -> Linear -> ReLU] per hidden layer -> Dropout -> Linear -> logits,
one dropout probability per Linear input (p = 0 means no dropout layer); softmax cross-entropy, SGD with momentum,
shuffled mini-batches (the last one smaller) over SET_DIR/train-*; the data is preloaded as float32 tensors and
loading is not timed. --warmup-epochs epochs run first and are reported but not counted; --epochs epochs are timed.
Prints one JSON line: per-epoch wall and CPU seconds, images/s, the 1-minute load average after each epoch (other
processes on the machine skew wall times) and the final deterministic test accuracy. On a busy machine, T > 1 with
OpenMP's default spin-waiting can run 10x slower than T = 1 (OMP_WAIT_POLICY=PASSIVE in the environment avoids
that, but costs about 1.5x on a quiet machine, so bench-train.sh leaves it unset unless asked).
--save writes the trained weights in mcdropout's safetensors layout (check with scripts/checks/check-model.py).
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from idx_summary import read_idx  # noqa: E402  (scripts/python/idx_summary.py)


def load(directory: Path, prefix: str):
    dims, _, pixels = read_idx(directory / f"{prefix}-images-idx3-ubyte.gz", 0x803, 3)
    _, _, labels = read_idx(directory / f"{prefix}-labels-idx1-ubyte.gz", 0x801, 1)
    x = torch.from_numpy(np.frombuffer(pixels, np.uint8).reshape(dims[0], -1).astype(np.float32) / 255.0)
    return x, torch.from_numpy(np.frombuffer(labels, np.uint8).astype(np.int64))


def build(sizes: list, dropout: list) -> nn.Sequential:
    modules = []
    for i in range(len(sizes) - 1):
        if dropout[i] > 0:
            modules.append(nn.Dropout(dropout[i]))
        modules.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


def save(model: nn.Sequential, path: Path, sizes, dropout, args, accuracy: float) -> None:
    from safetensors.numpy import save_file
    linears = [m for m in model if isinstance(m, nn.Linear)]
    tensors = {}
    for i, layer in enumerate(linears):
        tensors[f"layers.{i}.weight"] = layer.weight.detach().numpy().astype(np.float32)
        tensors[f"layers.{i}.bias"] = layer.bias.detach().numpy().astype(np.float32)
    meta = {"format_version": 1, "architecture": {"layer_sizes": sizes, "activation": "relu"}, "dropout": dropout,
            "input": {"scale": 255, "shape": [28, 28]}, "labels": [str(k) for k in range(sizes[-1])],
            "dataset": args.data.name, "seed": args.seed,
            "hyperparameters": {"trainer": f"torch {torch.__version__}", "optimizer": "sgd", "lr": args.lr,
                                "momentum": args.momentum, "batch_size": args.batch_size,
                                "epochs": args.warmup_epochs + args.epochs},
            "metrics": {"test_accuracy_deterministic": accuracy}}
    save_file(tensors, str(path), metadata={"mcdropout": json.dumps(meta)})


def main() -> None:
    parser = argparse.ArgumentParser(usage=__doc__.split("\n\n")[1].split("\n  (")[0][len("Usage: "):])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--warmup-epochs", type=int, default=1)
    parser.add_argument("--hidden", default="512,512")
    parser.add_argument("--dropout", default="0.0,0.5,0.5")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", type=Path)
    args = parser.parse_args()
    hidden = [int(h) for h in args.hidden.split(",") if h]
    dropout = [float(p) for p in args.dropout.split(",")]
    sizes = [784] + hidden + [10]
    if len(dropout) != len(sizes) - 1 or not all(0 <= p < 1 for p in dropout):
        parser.error(f"--dropout needs {len(sizes) - 1} probabilities in [0, 1), one per Linear input")
    if args.threads < 1 or args.epochs < 1 or args.warmup_epochs < 0 or args.batch_size < 1:
        parser.error("--threads, --epochs, --batch-size must be >= 1 and --warmup-epochs >= 0")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train_x, train_y = load(args.data, "train")
    test_x, test_y = load(args.data, "t10k")
    model = build(sizes, dropout)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    loss_function = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(args.seed)
    count = len(train_x)

    epochs = []
    for epoch in range(args.warmup_epochs + args.epochs):
        model.train()
        start, cpu_start = time.perf_counter(), time.process_time()
        total_loss = torch.zeros(())
        for batch in torch.randperm(count, generator=generator).split(args.batch_size):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_function(model(train_x[batch]), train_y[batch])
            loss.backward()
            optimizer.step()
            total_loss += loss.detach() * len(batch)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        record = {"epoch": epoch + 1, "warmup": epoch < args.warmup_epochs, "seconds": round(seconds, 3),
                  "cpu_seconds": round(cpu_seconds, 3), "images_per_second": round(count / seconds, 1),
                  "loss": round(total_loss.item() / count, 5), "loadavg_1min": os.getloadavg()[0]}
        print(json.dumps(record), file=sys.stderr)
        epochs.append(record)

    model.eval()
    with torch.no_grad():
        accuracy = (model(test_x).argmax(dim=1) == test_y).double().mean().item()
    timed = [e["seconds"] for e in epochs if not e["warmup"]]
    mean = sum(timed) / len(timed)
    print(json.dumps({"framework": "pytorch", "torch": torch.__version__, "threads": args.threads,
                      "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                      "batch_size": args.batch_size, "layer_sizes": sizes, "dropout": dropout, "lr": args.lr,
                      "momentum": args.momentum, "train_images": count, "epoch_seconds": timed,
                      "mean_epoch_seconds": round(mean, 3), "images_per_second": round(count / mean, 1),
                      "test_accuracy": accuracy, "epochs": epochs}))
    if args.save:
        save(model, args.save, sizes, dropout, args, accuracy)


if __name__ == "__main__":
    main()
