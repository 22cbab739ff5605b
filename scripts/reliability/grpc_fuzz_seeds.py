"""Writes the seed corpus of the gRPC fuzz harness (fuzz/corpus-grpc): one valid call per RPC and per way of
sending a ModelInfer tensor, for the harness's model `m` (784 pixels, 10 classes).

Usage: python3 scripts/reliability/grpc_fuzz_seeds.py [DIRECTORY]   (default fuzz/corpus-grpc; standard library only)

Each file is `METHOD\\n` followed by the request message (Sources/mcdropout-fuzz/GRPCFuzzHarness.swift). The
messages are encoded by hand, field by field, after docs/grpc/grpc_predict_v2.proto, so no protobuf package is
needed and every byte is visible here.
"""
import os
import struct
import sys


def varint(value):
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def prefixed(payload):
    return varint(len(payload)) + payload


def delimited(field, payload):
    return varint(field << 3 | 2) + prefixed(payload)


def parameter(name, field, wire_type, value):
    """A `map<string, InferParameter>` entry (ModelInferRequest field 4)."""
    return delimited(4, delimited(1, name) + delimited(2, varint(field << 3 | wire_type) + value))


def tensor(datatype=b"FP32", batch=1, contents=None):
    shape = delimited(3, varint(batch) + varint(784))
    body = delimited(1, b"pixels") + delimited(2, datatype) + shape
    return delimited(5, body + (delimited(5, contents) if contents is not None else b""))


pixels = [float((index * 7) % 256) for index in range(784)]
fp32 = delimited(6, b"".join(struct.pack("<f", value) for value in pixels))
uint = delimited(4, b"".join(varint(int(value)) for value in pixels))
raw_fp32 = b"".join(struct.pack("<f", value) for value in pixels)
model = delimited(1, b"m")
seeds = {
    "live": (b"ServerLive", b""),
    "ready": (b"ServerReady", b""),
    "server-metadata": (b"ServerMetadata", b""),
    "model-ready": (b"ModelReady", model + delimited(2, b"1")),
    "model-metadata": (b"ModelMetadata", model),
    # Triton's extension RPCs: ModelConfig, ModelStatistics (name = 1), RepositoryIndex (ready = 2),
    # RepositoryModelUnload (model_name = 2).
    "model-config": (b"ModelConfig", model),
    "model-statistics": (b"ModelStatistics", model),
    "repository-index": (b"RepositoryIndex", varint(2 << 3) + varint(1)),
    "repository-unload": (b"RepositoryModelUnload", delimited(2, b"m")),
    "infer-fp32-contents": (b"ModelInfer", model + tensor(contents=fp32)),
    "infer-uint8-contents": (b"ModelInfer", model + tensor(b"UINT8", contents=uint)),
    "infer-raw-fp32": (b"ModelInfer", model + tensor() + delimited(7, raw_fp32)),
    "infer-raw-uint8-batch": (b"ModelInfer", model + tensor(b"UINT8", batch=2)
                              + delimited(7, bytes(int(value) for value in pixels) * 2)),
    "infer-parameters": (b"ModelInfer", model + delimited(2, b"1") + delimited(3, b"id-7") + tensor(contents=fp32)
                         + parameter(b"samples", 2, 0, varint(8)) + parameter(b"seed", 5, 0, varint(3))
                         + parameter(b"uncertainty_threshold", 4, 1, struct.pack("<d", 0.5))
                         + parameter(b"uncertainty_score", 3, 2, prefixed(b"mutual_information"))),
    "infer-adaptive": (b"ModelInfer", model + tensor(contents=fp32) + parameter(b"samples", 3, 2, prefixed(b"auto"))
                       + parameter(b"min_samples", 2, 0, varint(2)) + parameter(b"max_samples", 2, 0, varint(16))
                       + parameter(b"tolerance", 4, 1, struct.pack("<d", 0.05))),
    "infer-outputs": (b"ModelInfer", model + tensor(contents=fp32) + delimited(6, delimited(1, b"prediction"))
                      + delimited(6, delimited(1, b"mutual_information"))),
}
directory = sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus-grpc"
os.makedirs(directory, exist_ok=True)
for name, (method, message) in seeds.items():
    with open(os.path.join(directory, name), "wb") as file:
        file.write(method + b"\n" + message)
print(f"wrote {len(seeds)} seeds to {directory}")
