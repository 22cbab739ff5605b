#!/usr/bin/env python3
"""Simulates adaptive-sampling stopping rules on stored Monte-Carlo passes (issue 13, "adaptive sampling that pays").

Usage: .venv/bin/python scripts/benchmarks/adaptive-stopping-sim.py MODEL.safetensors [--ood other-dataset]
           [--split validation|test] [--passes 200]

Runs --passes dropout passes of every image of the split (validation: the last 5000 training images of the model's
data set and of the OOD set; test: both test sets) with torch in float32 — its own masks, not the server's mask
stream, so numbers differ from mcdropout-eval's within sampling noise — then replays stopping rules on prefixes of
those passes (blocks of 8 from 16, cap 200) and prints, per rule: mean passes in / out of distribution, accuracy
change and the OOD AUROC change of each uncertainty score against fixed N = 100 on the same passes. The rule
`decisive` is AdaptiveSampling.decisive with the stored rule's max_probability condition; the density pre-check is
not simulated (mcdropout-eval evaluate --compare-adaptive --adaptive-decisive measures it). Also prints fixed-N AUROCs.
"""
import argparse
import gzip
import importlib.util
import json
import struct
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("check_model", ROOT / "scripts/checks/check-model.py")
check_model = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_model)


def load_images(dataset, split):
    name = "t10k" if split == "test" else "train"
    directory = ROOT / "data" / dataset
    images = np.frombuffer(gzip.open(directory / f"{name}-images-idx3-ubyte.gz").read()[16:], np.uint8)
    labels = np.frombuffer(gzip.open(directory / f"{name}-labels-idx1-ubyte.gz").read()[8:], np.uint8)
    images = images.reshape(len(labels), -1)
    return (images[-5000:], labels[-5000:]) if split == "validation" else (images, labels)


def passes(layers, meta, pixels, count, generator):
    weights = [(torch.tensor(w, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)) for w, b in layers]
    inputs = torch.tensor(check_model.prepare(pixels, meta["input"]), dtype=torch.float32)
    out = np.zeros((len(inputs), count, weights[-1][0].shape[0]), np.float32)
    for index in range(len(inputs)):
        h = inputs[index:index + 1].expand(count, -1)
        for layer, (w, b) in enumerate(weights):
            p = meta["dropout"][layer]
            if p > 0:
                h = h * (torch.rand(h.shape, generator=generator) >= p).float() / (1 - p)
            h = h @ w.T + b
            if layer < len(weights) - 1:
                h = torch.relu(h)
        out[index] = torch.softmax(h.double(), 1).float().numpy()
    return out


def entropy(p):
    return -(p * np.log(np.where(p > 0, p, 1.0))).sum(-1)


def auroc(negative, positive):
    scores = np.concatenate([negative, positive])
    order = np.argsort(scores, kind="mergesort")
    _, first, counts = np.unique(scores[order], return_index=True, return_counts=True)
    ranks = np.empty(len(scores))
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)
    n0, n1 = len(negative), len(positive)
    return (ranks[n0:].sum() - n1 * (n1 + 1) / 2) / (n0 * n1)


class Passes:
    def __init__(self, probabilities):
        self.p = probabilities.astype(np.float64)
        self.sums = np.cumsum(self.p, 1)
        self.squares = np.cumsum(self.p ** 2, 1)
        h = entropy(self.p)
        self.entropy = np.cumsum(h, 1)
        self.entropy_squares = np.cumsum(h * h, 1)

    def moments(self, n):
        mean = self.sums[:, n - 1] / n
        sd = np.sqrt(np.maximum(self.squares[:, n - 1] - self.sums[:, n - 1] ** 2 / n, 0) / (n - 1))
        h_sd = np.sqrt(np.maximum(self.entropy_squares[:, n - 1] - self.entropy[:, n - 1] ** 2 / n, 0) / (n - 1))
        return mean, sd, h_sd

    def scores(self, counts):
        rows = np.arange(len(self.p))
        mean = self.sums[rows, counts - 1] / counts[:, None]
        variance = np.maximum(self.squares[rows, counts - 1] / counts[:, None] - mean ** 2, 0).sum(-1)
        mi = np.maximum(entropy(mean) - self.entropy[rows, counts - 1] / counts, 0)
        return {"max_probability": 1 - mean.max(-1), "predictive_entropy": entropy(mean),
                "mutual_information": mi, "total_variance": variance}, mean.argmax(-1)


def settled(d, n, threshold, z=3.0, precision=0.02, tolerance=0.01, information=None, floor=None, minimum_for=None):
    """AdaptiveSampling.decisive's test after n passes, with optional extra conditions (see main)."""
    mean, sd, h_sd = d.moments(n)
    root = np.sqrt(n)
    largest = sd.max(-1) / root
    order = np.argsort(-mean, -1)
    rows = np.arange(len(mean))
    a, b = order[:, 0], order[:, 1]
    ok = (largest < precision) & (mean[rows, a] - mean[rows, b] > z * (sd[rows, a] + sd[rows, b]) / root)
    if threshold is not None:
        ok &= np.abs(1 - mean[rows, a] - threshold) > z * sd[rows, a] / root
    if information is not None:
        # Delta method, triangle inequality: SE(MI) ≤ (min_k Σ_c |ln p̄_c + k| s_c + s_H) / √n.
        logs = np.log(np.where(mean > 0, mean, 1.0))
        bound = (np.abs(logs[:, None, :] - logs[:, :, None]) * sd[:, None, :]).sum(-1).min(-1)
        ok &= (bound + h_sd) / root < information
    if floor is not None:
        kappa, epsilon = floor  # kappa pseudo-passes at the Bernoulli variance p̄(1 − p̄)
        se = np.sqrt(((n - 1) * sd ** 2 + kappa * mean * (1 - mean)) / ((n - 1 + kappa) * n)).max(-1)
        ok &= se < epsilon
    if minimum_for is not None:
        delta, minimum = minimum_for  # inputs with 1 − p̄_max ≥ delta need `minimum` passes
        ok &= (1 - mean.max(-1) < delta) | (n >= minimum)
    return (largest < tolerance) | ok


def stops_of(d, threshold, minimum=16, **options):
    stop = np.full(len(d.p), 200)
    done = np.zeros(len(d.p), bool)
    for n in range(minimum, 200, 8):
        now = settled(d, n, threshold, **options) & ~done
        stop[now] = n
        done |= now
    return stop


def replay(inside, outside, labels, threshold, minimum=16, **options):
    stops = [stops_of(d, threshold, minimum, **options) for d in (inside, outside)]
    adaptive_in, predicted = inside.scores(stops[0])
    adaptive_out, _ = outside.scores(stops[1])
    fixed_in, fixed_predicted = inside.scores(np.full(len(inside.p), 100))
    fixed_out, _ = outside.scores(np.full(len(outside.p), 100))
    changes = {k: auroc(adaptive_in[k], adaptive_out[k]) - auroc(fixed_in[k], fixed_out[k]) for k in fixed_in}
    accuracy = (predicted == labels).mean() - (fixed_predicted == labels).mean()
    return stops[0].mean(), stops[1].mean(), accuracy, changes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--ood")
    parser.add_argument("--split", choices=["validation", "test"], default="validation")
    parser.add_argument("--passes", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    layers = check_model.check_tensors(load_file(args.model))
    with open(args.model, "rb") as handle:
        size = struct.unpack("<Q", handle.read(8))[0]
        meta = json.loads(json.loads(handle.read(size))["__metadata__"]["mcdropout"])
    ood = args.ood or ("fashion-mnist" if meta["dataset"] == "mnist" else "mnist")
    rules = meta.get("uncertainty", {}).get("rules", [])
    threshold = next((r["threshold"] for r in rules if r["score"] == "max_probability"), None)
    generator = torch.Generator().manual_seed(2026)
    pixels, labels = load_images(meta["dataset"], args.split)
    inside = Passes(passes(layers, meta, pixels, args.passes, generator))
    outside = Passes(passes(layers, meta, load_images(ood, args.split)[0], args.passes, generator))

    def show(name, **options):
        passes_in, passes_out, accuracy, changes = replay(inside, outside, labels, threshold, **options)
        print(f"{name:40s} passes {passes_in:6.1f} / {passes_out:6.1f}  accuracy {accuracy:+.4f}  AUROC "
              + " ".join(f"{k} {v:+.4f}" for k, v in changes.items()), flush=True)

    print(f"{args.model}: {args.split} split, OOD {ood}, max_probability threshold {threshold}")
    show("decisive (z 3, precision 0.02, tol 0.01)")
    # Where the decisive rule loses: inputs stopped at the minimum, their scores there against N = 100.
    for name, d in (("in", inside), ("out", outside)):
        stop = stops_of(d, threshold)
        early = stop == 16
        at_stop, _ = d.scores(stop)
        fixed, _ = d.scores(np.full(len(d.p), 100))
        print(f"  {name}: {early.sum()} of {len(stop)} stop at 16 passes; there mean MI "
              f"{at_stop['mutual_information'][early].mean():.4f} vs {fixed['mutual_information'][early].mean():.4f} "
              f"at N = 100, mean variance {at_stop['total_variance'][early].mean():.5f} vs "
              f"{fixed['total_variance'][early].mean():.5f}")
    for minimum in (24, 32):
        show(f"decisive, minimum {minimum}", minimum=minimum)
    show("decisive, precision 0.01", precision=0.01)
    for epsilon in (0.005, 0.002):
        show(f"decisive + SE(MI) < {epsilon}", information=epsilon)
        show(f"decisive + SE(MI) < {epsilon}, no tol", information=epsilon, tolerance=1e-12)
    for epsilon in (0.005, 0.003):
        show(f"decisive + floor kappa 1 eps {epsilon}", floor=(1, epsilon), tolerance=1e-12)
    for delta, minimum in ((0.01, 48), (0.001, 104)):
        show(f"decisive + 1-p>={delta} needs {minimum}", minimum_for=(delta, minimum))
    for n in (16, 24, 32, 64, 100, 200):
        fixed_in, _ = inside.scores(np.full(len(inside.p), n))
        fixed_out, _ = outside.scores(np.full(len(outside.p), n))
        print(f"fixed N = {n:3d}: AUROC " + " ".join(f"{k} {auroc(fixed_in[k], fixed_out[k]):.4f}" for k in fixed_in))


if __name__ == "__main__":
    main()
