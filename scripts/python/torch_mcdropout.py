"""PyTorch <-> mcdropout model files, for any dropout MLP.

Usage as a module (scripts/python on sys.path):
    import torch_mcdropout as tm
    tm.export(model, "m.safetensors", task="regression", input_mean=mu, input_std=sigma)  # nn.Sequential -> file
    model, meta = tm.load("m.safetensors")                                                # file -> nn.Sequential
    mean, var = tm.mc_predict(model, tm.network_inputs(x, meta), samples=100, head=tm.head(meta))

Usage from the shell:
    torch_mcdropout.py export MODEL.pt OUT.safetensors [--task regression] [--outputs mean_logvar]
                       [--labels a,b,c] [--normalization STATS.json] [--input-scale 1] [--dataset NAME]
        MODEL.pt is a whole pickled nn.Sequential (torch.save(model, path)); STATS.json {"mean": [...], "std": [...]}.
    torch_mcdropout.py import IN.safetensors OUT.pt
        writes the nn.Sequential (torch.save) and prints the metadata.
    torch_mcdropout.py selftest SPEC DIR [--samples N] [--seed S]
        builds a random torch model (SPEC: gelu-classification 13-64-64-3, tanh-regression 10-128-1,
        silu-heteroscedastic 10-32-2 mean_logvar), exports it to DIR/model.safetensors and a dropout-0 copy to
        DIR/model-p0.safetensors, writes DIR/inputs.json (raw features), checks that importing the file gives back
        the same tensors, and prints PyTorch's own MC dropout statistics (mean, population variance and fourth
        central moment over N passes, per input and output) and the dropout-off outputs as JSON. The Swift tests
        (Tests/MCDropoutTests/TorchInteropTests.swift) compare the Swift engine with them.

What exports: an nn.Sequential of Linear, Dropout and one kind of activation between the Linear layers (ReLU,
LeakyReLU, GELU, GELU(approximate="tanh"), Tanh, Sigmoid, SiLU); nn.Identity and nn.Flatten are skipped. A Dropout
applies to the input of the next Linear (so `Dropout, Linear` drops input features); nothing may follow the last
Linear (softmax for classification, and exp of a log-variance head, are the server's). The file is safetensors:
layers.{i}.weight [out, in], layers.{i}.bias [out] (float32), metadata "mcdropout" (see README "Any dropout MLP").
"""
import argparse
import copy
import json
import sys

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import save_file
from torch import nn

ACTIVATIONS = {
    nn.ReLU: "relu",
    nn.LeakyReLU: "leaky_relu",
    nn.Tanh: "tanh",
    nn.Sigmoid: "sigmoid",
    nn.SiLU: "silu",
}


def _activation_name(module):
    if isinstance(module, nn.GELU):
        return "gelu_tanh" if module.approximate == "tanh" else "gelu"
    for kind, name in ACTIVATIONS.items():
        if isinstance(module, kind):
            return name
    return None


def _activation_module(name, negative_slope):
    return {
        "relu": lambda: nn.ReLU(),
        "leaky_relu": lambda: nn.LeakyReLU(negative_slope),
        "gelu": lambda: nn.GELU(),
        "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
        "tanh": lambda: nn.Tanh(),
        "sigmoid": lambda: nn.Sigmoid(),
        "silu": lambda: nn.SiLU(),
    }[name]()


def describe(model):
    """(linears, dropouts, activation name, negative slope) of a supported nn.Sequential; ValueError otherwise."""
    linears, dropouts = [], []
    pending = 0.0
    activation, slope = None, None
    after_linear = False
    for index, module in enumerate(model):
        if isinstance(module, (nn.Identity, nn.Flatten)):
            continue
        if isinstance(module, nn.Dropout):
            if pending:
                raise ValueError(f"module {index}: two Dropout layers before one Linear")
            pending = float(module.p)
            continue
        if isinstance(module, nn.Linear):
            if linears and not after_linear:
                raise ValueError(f"module {index}: Linear layers need an activation between them")
            if module.bias is None:
                raise ValueError(f"module {index}: Linear without bias is not supported")
            linears.append(module)
            dropouts.append(pending)
            pending = 0.0
            after_linear = False
            continue
        name = _activation_name(module)
        if name is None:
            raise ValueError(f"module {index}: {type(module).__name__} is not supported")
        if not linears or after_linear:
            raise ValueError(f"module {index}: an activation must follow a Linear layer, once")
        if activation not in (None, name) or (name == "leaky_relu" and slope not in (None, module.negative_slope)):
            raise ValueError(f"module {index}: every hidden activation must be the same")
        activation = name
        slope = module.negative_slope if name == "leaky_relu" else None
        after_linear = True
    if not linears:
        raise ValueError("the model has no Linear layer")
    if pending or after_linear:
        raise ValueError("nothing may follow the last Linear layer (softmax and exp are applied by the server)")
    if len(linears) > 1 and activation is None:
        raise ValueError("hidden layers need an activation")
    for previous, layer in zip(linears, linears[1:]):
        if previous.out_features != layer.in_features:
            raise ValueError(f"Linear {previous.out_features} -> {layer.in_features} does not chain")
    return linears, dropouts, activation or "relu", slope


def export(model, path, *, task="classification", outputs="mean", labels=None, input_mean=None, input_std=None,
           input_scale=1.0, input_shape=None, dataset="pytorch", seed=0, hyperparameters=None, metrics=None):
    """Writes a supported nn.Sequential as an mcdropout model file."""
    linears, dropouts, activation, slope = describe(model)
    sizes = [linears[0].in_features] + [layer.out_features for layer in linears]
    architecture = {"layer_sizes": sizes, "activation": activation}
    if slope is not None:
        architecture["negative_slope"] = slope
    inputs = {"scale": input_scale}
    if input_shape is not None:
        inputs["shape"] = list(input_shape)
    if (input_mean is None) != (input_std is None):
        raise ValueError("give both input_mean and input_std, or neither")
    if input_mean is not None:
        inputs["mean"] = [float(v) for v in np.asarray(input_mean, dtype=np.float32)]
        inputs["std"] = [float(v) for v in np.asarray(input_std, dtype=np.float32)]
    metadata = {"format_version": 1, "architecture": architecture, "dropout": dropouts, "input": inputs}
    if task == "classification":
        metadata["labels"] = list(labels) if labels is not None else [str(i) for i in range(sizes[-1])]
    elif task == "regression":
        metadata["task"] = "regression"
        if outputs != "mean":
            metadata["outputs"] = outputs
    else:
        raise ValueError(f"task must be classification or regression, not {task!r}")
    metadata.update({"dataset": dataset, "seed": seed, "hyperparameters": hyperparameters or {},
                     "metrics": metrics or {}})
    tensors = {}
    for index, layer in enumerate(linears):
        tensors[f"layers.{index}.weight"] = layer.weight.detach().cpu().numpy().astype(np.float32)
        tensors[f"layers.{index}.bias"] = layer.bias.detach().cpu().numpy().astype(np.float32)
    save_file(tensors, path, metadata={"mcdropout": json.dumps(metadata)})


def load(path):
    """(nn.Sequential, metadata dict) from an mcdropout model file; the model is in eval mode."""
    with safe_open(path, framework="numpy") as handle:
        metadata = json.loads(handle.metadata()["mcdropout"])
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    architecture = metadata["architecture"]
    sizes = architecture["layer_sizes"]
    modules = []
    for index in range(len(sizes) - 1):
        p = metadata["dropout"][index]
        if p > 0:
            modules.append(nn.Dropout(p))
        layer = nn.Linear(sizes[index], sizes[index + 1])
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(tensors[f"layers.{index}.weight"]))
            layer.bias.copy_(torch.from_numpy(tensors[f"layers.{index}.bias"]))
        modules.append(layer)
        if index < len(sizes) - 2:
            modules.append(_activation_module(architecture["activation"], architecture.get("negative_slope", 0.01)))
    return nn.Sequential(*modules).eval(), metadata


def head(metadata):
    """'classification', 'regression' or 'mean_logvar'."""
    if metadata.get("task", "classification") == "classification":
        return "classification"
    return "mean_logvar" if metadata.get("outputs") == "mean_logvar" else "regression"


def network_inputs(raw, metadata):
    """The network's inputs for raw features (or pixels): x / input.scale, then (x - mean) / std."""
    x = torch.as_tensor(np.asarray(raw, dtype=np.float32)) / metadata["input"]["scale"]
    if "mean" in metadata["input"]:
        x = (x - torch.tensor(metadata["input"]["mean"])) / torch.tensor(metadata["input"]["std"])
    return x


def finish(outputs, head_name):
    """What the server averages over passes: softmax, the outputs, or means then exp(log variance)."""
    if head_name == "classification":
        return torch.softmax(outputs, dim=-1)
    if head_name == "mean_logvar":
        half = outputs.shape[-1] // 2
        return torch.cat([outputs[..., :half], torch.exp(outputs[..., half:])], dim=-1)
    return outputs


@torch.no_grad()
def mc_passes(model, x, samples, head_name):
    """[samples, B, outputs] pass values with dropout on (model.train() for its Dropout layers only)."""
    model.train()
    try:
        return torch.stack([finish(model(x), head_name) for _ in range(samples)])
    finally:
        model.eval()


def mc_predict(model, x, samples, head_name):
    """MC dropout mean and population variance over `samples` passes, as the server reports them."""
    passes = mc_passes(model, x, samples, head_name).double()
    return passes.mean(0), passes.var(0, unbiased=False)


SPECS = {
    "gelu-classification": dict(sizes=[13, 64, 64, 3], activation=nn.GELU, dropout=[0.0, 0.3, 0.5],
                                task="classification", outputs="mean"),
    "tanh-regression": dict(sizes=[10, 128, 1], activation=nn.Tanh, dropout=[0.0, 0.2],
                            task="regression", outputs="mean"),
    "silu-heteroscedastic": dict(sizes=[10, 32, 2], activation=nn.SiLU, dropout=[0.1, 0.3],
                                 task="regression", outputs="mean_logvar"),
}


def build(spec, dropout):
    modules = []
    sizes = spec["sizes"]
    for index in range(len(sizes) - 1):
        if dropout[index] > 0:
            modules.append(nn.Dropout(dropout[index]))
        modules.append(nn.Linear(sizes[index], sizes[index + 1]))
        if index < len(sizes) - 2:
            modules.append(spec["activation"]())
    return nn.Sequential(*modules)


def selftest(args):
    import os
    spec = SPECS[args.spec]
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = build(spec, spec["dropout"])
    with torch.no_grad():
        for module in model:
            if isinstance(module, nn.Linear):
                module.weight.mul_(2.0)  # a wider spread of pre-activations, so the nonlinearities matter
    width = spec["sizes"][0]
    mean = rng.normal(0, 3, width).astype(np.float32)
    std = rng.uniform(0.5, 4, width).astype(np.float32)
    raw = (mean + std * rng.normal(0, 1.5, (args.inputs, width))).astype(np.float32)
    os.makedirs(args.dir, exist_ok=True)
    common = dict(task=spec["task"], outputs=spec["outputs"], input_mean=mean, input_std=std, dataset=args.spec,
                  seed=args.seed)
    path = os.path.join(args.dir, "model.safetensors")
    export(model, path, **common)
    zero = copy.deepcopy(model)
    for module in zero:
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    export(zero, os.path.join(args.dir, "model-p0.safetensors"), **common)
    with open(os.path.join(args.dir, "inputs.json"), "w") as handle:
        json.dump(raw.tolist(), handle)

    imported, metadata = load(path)
    original = {k: v for k, v in model.state_dict().items()}
    same = imported.state_dict().keys() == original.keys() and all(
        torch.equal(imported.state_dict()[k], original[k]) for k in original)
    same = same and describe(imported)[1] == spec["dropout"] and describe(imported)[2] == describe(model)[2]
    head_name = head(metadata)
    x = network_inputs(raw, metadata)
    passes = mc_passes(model, x, args.samples, head_name).double()
    mc_mean = passes.mean(0)
    centred = passes - mc_mean
    with torch.no_grad():
        deterministic = finish(zero.eval()(x), head_name)
    json.dump({
        "roundtrip": bool(same),
        "head": head_name,
        "samples": args.samples,
        "mean": mc_mean.tolist(),
        "variance": (centred ** 2).mean(0).tolist(),
        "fourth_moment": (centred ** 4).mean(0).tolist(),
        "deterministic": deterministic.double().tolist(),
    }, sys.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    out = commands.add_parser("export")
    out.add_argument("model")
    out.add_argument("output")
    out.add_argument("--task", default="classification", choices=["classification", "regression"])
    out.add_argument("--outputs", default="mean", choices=["mean", "mean_logvar"])
    out.add_argument("--labels")
    out.add_argument("--normalization")
    out.add_argument("--input-scale", type=float, default=1.0)
    out.add_argument("--dataset", default="pytorch")
    back = commands.add_parser("import")
    back.add_argument("input")
    back.add_argument("output")
    test = commands.add_parser("selftest")
    test.add_argument("spec", choices=sorted(SPECS))
    test.add_argument("dir")
    test.add_argument("--samples", type=int, default=4000)
    test.add_argument("--inputs", type=int, default=4)
    test.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.command == "export":
        model = torch.load(args.model, weights_only=False)
        stats = json.load(open(args.normalization)) if args.normalization else {}
        export(model, args.output, task=args.task, outputs=args.outputs,
               labels=args.labels.split(",") if args.labels else None, input_mean=stats.get("mean"),
               input_std=stats.get("std"), input_scale=args.input_scale, dataset=args.dataset)
    elif args.command == "import":
        model, metadata = load(args.input)
        torch.save(model, args.output)
        json.dump(metadata, sys.stdout, indent=1)
        print()
    else:
        selftest(args)


if __name__ == "__main__":
    main()
