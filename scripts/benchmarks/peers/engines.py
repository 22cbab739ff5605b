"""Monte-Carlo dropout engines in Python, the peers mcdropout is measured against (scripts/benchmarks/bench-peers.sh).

Every engine loads the same mcdropout safetensors file (layers.{i}.weight as out x in, layers.{i}.bias, dropout
probabilities in the "mcdropout" metadata), takes one scaled input of 784 floats and returns the same summary the
server computes: mean probabilities, per-class variance, predictive entropy (of the mean), expected entropy (mean of
the per-pass entropies) and mutual information, natural log. The network is Linear -> ReLU per hidden layer with
inverted dropout on each layer's input where p > 0 (mnist.safetensors: p = 0, 0.5, 0.5).

Engines (constructor argument `samples` = N, `seed` seeds the engine's own generator):
  NumpyEngine        first layer once (its input has no dropout), masks from random bits (p = 0.5) or a uniform
                     threshold, each later layer one matmul over the N x H pass matrix.
  OnnxRuntimeEngine  the same, with the deterministic layers in ONNX Runtime graphs and the masks generated in numpy.
                     ORT's optimiser deletes Dropout nodes and its in-graph masks are biased, so masks are inputs.
  TorchBatchedEngine the whole nn.Sequential (with nn.Dropout in training mode) on the input repeated N times.
  TorchLoopEngine    N calls of model(x) on the single input, as a straightforward user would write.
Thread counts are set by the caller: OPENBLAS_NUM_THREADS / OMP_NUM_THREADS before numpy is imported,
`threads` for ORT and torch.
"""
import json
import struct
from pathlib import Path

import numpy as np


def load_model(path):
    """(weights, biases, dropout probabilities, input scale) from an mcdropout safetensors file."""
    from safetensors.numpy import load_file
    raw = Path(path).read_bytes()
    header = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])
    meta = json.loads(header["__metadata__"]["mcdropout"])
    tensors = load_file(str(path))
    count = len(meta["architecture"]["layer_sizes"]) - 1
    weights = [np.ascontiguousarray(tensors[f"layers.{i}.weight"], dtype=np.float32) for i in range(count)]
    biases = [np.ascontiguousarray(tensors[f"layers.{i}.bias"], dtype=np.float32) for i in range(count)]
    return weights, biases, [float(p) for p in meta["dropout"]], float(meta["input"]["scale"])


def summarize(probabilities):
    """The server's summary of an N x C matrix of pass probabilities (float64 statistics)."""
    p = probabilities.astype(np.float64, copy=False)
    mean = p.mean(axis=0)
    variance = p.var(axis=0)
    total = -np.sum(mean * np.log(np.maximum(mean, 1e-30)))
    expected = -np.mean(np.sum(p * np.log(np.maximum(p, 1e-30)), axis=1))
    return {"probabilities": mean, "variance": variance, "predictive_entropy": float(total),
            "expected_entropy": float(expected), "mutual_information": float(total - expected),
            "prediction": int(np.argmax(mean))}


def softmax_rows(logits):
    logits = logits - logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    return logits


class MaskSource:
    """Keep masks with the inverted-dropout scale folded in, N x width float32, from a seeded numpy generator."""

    def __init__(self, seed):
        self.rng = np.random.Generator(np.random.PCG64(seed))

    def scaled_mask(self, rows, width, p):
        if p == 0.5:
            # One random bit per unit: unpack N*width/8 random bytes; keep -> 2.0, drop -> 0.0.
            raw = np.frombuffer(self.rng.bytes(rows * ((width + 7) // 8)), dtype=np.uint8)
            bits = np.unpackbits(raw).reshape(rows, -1)[:, :width]
            return bits.astype(np.float32) * np.float32(2.0)
        keep = self.rng.random((rows, width), dtype=np.float32) >= np.float32(p)
        return keep.astype(np.float32) * np.float32(1.0 / (1.0 - p))


class NumpyEngine:
    name = "numpy"

    def __init__(self, model_path, seed=0, threads=1):
        self.weights, self.biases, self.dropout, self.scale = load_model(model_path)
        self.transposed = [np.ascontiguousarray(w.T) for w in self.weights]
        self.first = next(i for i, p in enumerate(self.dropout) if p > 0)
        self.masks = MaskSource(seed)

    def predict(self, x, samples):
        h = x.astype(np.float32)
        for i in range(self.first):  # deterministic prefix, once
            h = np.maximum(h @ self.transposed[i] + self.biases[i], 0)
        passes = self.masks.scaled_mask(samples, h.shape[0], self.dropout[self.first]) * h
        last = len(self.weights) - 1
        for i in range(self.first, len(self.weights)):
            if i > self.first and self.dropout[i] > 0:
                passes *= self.masks.scaled_mask(samples, passes.shape[1], self.dropout[i])
            passes = passes @ self.transposed[i]
            passes += self.biases[i]
            if i < last:
                np.maximum(passes, 0, out=passes)
        return summarize(softmax_rows(passes))


class OnnxRuntimeEngine:
    """Prefix graph (layers before the first dropout) run once; stochastic graph takes the masked pass matrix and one
    scaled mask per later dropout as inputs and returns the N x C probabilities."""
    name = "onnxruntime"

    def __init__(self, model_path, seed=0, threads=1):
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
        self.weights, self.biases, self.dropout, self.scale = load_model(model_path)
        self.first = next(i for i, p in enumerate(self.dropout) if p > 0)
        self.masks = MaskSource(seed)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL

        def graph(layers, input_name, input_width, mask_layers, softmax):
            nodes, inits, inputs = [], [], [helper.make_tensor_value_info(input_name, TensorProto.FLOAT,
                                                                          ["n", input_width])]
            current = input_name
            for i in layers:
                if i in mask_layers:
                    mask = f"mask{i}"
                    inputs.append(helper.make_tensor_value_info(mask, TensorProto.FLOAT,
                                                                ["n", self.weights[i].shape[1]]))
                    nodes.append(helper.make_node("Mul", [current, mask], [f"masked{i}"]))
                    current = f"masked{i}"
                inits += [numpy_helper.from_array(np.ascontiguousarray(self.weights[i].T), f"w{i}"),
                          numpy_helper.from_array(self.biases[i], f"b{i}")]
                nodes.append(helper.make_node("Gemm", [current, f"w{i}", f"b{i}"], [f"z{i}"]))
                current = f"z{i}"
                if i < len(self.weights) - 1:
                    nodes.append(helper.make_node("Relu", [current], [f"a{i}"]))
                    current = f"a{i}"
            if softmax:
                nodes.append(helper.make_node("Softmax", [current], ["out"], axis=1))
            else:
                nodes.append(helper.make_node("Identity", [current], ["out"]))
            width = self.weights[layers[-1]].shape[0]
            output = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n", width])
            model = helper.make_model(helper.make_graph(nodes, "g", inputs, [output], inits),
                                      opset_imports=[helper.make_opsetid("", 17)])
            model.ir_version = 8
            return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

        self.prefix = graph(list(range(self.first)), "x", self.weights[0].shape[1], set(), False) \
            if self.first > 0 else None
        later = list(range(self.first, len(self.weights)))
        self.mask_layers = [i for i in later[1:] if self.dropout[i] > 0]
        self.stochastic = graph(later, "h", self.weights[self.first].shape[1], set(self.mask_layers), True)

    def predict(self, x, samples):
        h = x.astype(np.float32).reshape(1, -1)
        if self.prefix is not None:
            h = self.prefix.run(None, {"x": h})[0]
        feeds = {"h": self.masks.scaled_mask(samples, h.shape[1], self.dropout[self.first]) * h}
        for i in self.mask_layers:
            feeds[f"mask{i}"] = self.masks.scaled_mask(samples, self.weights[i].shape[1], self.dropout[i])
        return summarize(self.stochastic.run(None, feeds)[0])


class _TorchEngine:
    def __init__(self, model_path, seed=0, threads=1):
        import torch
        from torch import nn
        self.torch = torch
        torch.set_num_threads(threads)
        torch.manual_seed(seed)
        weights, biases, dropout, self.scale = load_model(model_path)
        modules = []
        for i, (w, b) in enumerate(zip(weights, biases)):
            if dropout[i] > 0:
                modules.append(nn.Dropout(dropout[i]))
            linear = nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(w))
                linear.bias.copy_(torch.from_numpy(b))
            modules.append(linear)
            if i < len(weights) - 1:
                modules.append(nn.ReLU())
        self.model = nn.Sequential(*modules).train()  # dropout on: Monte-Carlo dropout


class TorchBatchedEngine(_TorchEngine):
    name = "torch-batched"

    def predict(self, x, samples):
        with self.torch.inference_mode():
            batch = self.torch.from_numpy(x.astype(np.float32)).unsqueeze(0).expand(samples, -1)
            probabilities = self.torch.softmax(self.model(batch), dim=1)
        return summarize(probabilities.numpy())


class TorchLoopEngine(_TorchEngine):
    name = "torch-loop"

    def predict(self, x, samples):
        with self.torch.inference_mode():
            single = self.torch.from_numpy(x.astype(np.float32)).unsqueeze(0)
            rows = [self.torch.softmax(self.model(single), dim=1) for _ in range(samples)]
            probabilities = self.torch.cat(rows)
        return summarize(probabilities.numpy())


ENGINES = {engine.name: engine for engine in (NumpyEngine, OnnxRuntimeEngine, TorchBatchedEngine, TorchLoopEngine)}
