"""Writes variants of a safetensors model for the reload checks (scripts/reliability/lifecycle.sh).

Usage: model-variants.py MODEL OUTDIR
Writes into OUTDIR: new-weights.safetensors (every tensor scaled by 1.01: a valid model with other weights),
truncated.safetensors (the first half of the file), corrupt.safetensors (the JSON header overwritten with garbage)
and shape-mismatch.safetensors (layers.0.weight one input column short; the metadata still says 784 inputs).
"""
import os
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

source, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
with safe_open(source, "numpy") as model:
    metadata = model.metadata()
    tensors = {name: model.get_tensor(name) for name in model.keys()}

save_file({name: (t * np.float32(1.01)).astype(np.float32) for name, t in tensors.items()},
          os.path.join(out, "new-weights.safetensors"), metadata=metadata)
mismatched = dict(tensors)
mismatched["layers.0.weight"] = np.ascontiguousarray(tensors["layers.0.weight"][:, :-1])
save_file(mismatched, os.path.join(out, "shape-mismatch.safetensors"), metadata=metadata)

data = open(source, "rb").read()
open(os.path.join(out, "truncated.safetensors"), "wb").write(data[: len(data) // 2])
garbage = bytes((i * 37 + 11) % 256 for i in range(64))
open(os.path.join(out, "corrupt.safetensors"), "wb").write(data[:8] + garbage + data[8 + len(garbage):])
