"""Hostile and heavy gRPC traffic against a running mcdropout server, with grpcio's raw-bytes calls.

Usage: grpc_hostile_check.py HOST:PORT MODEL SCENARIO [ARGUMENTS]

Scenarios (each prints one JSON object on stdout):
  hostile          sends malformed, truncated, oversized and ill-typed ModelInfer messages (built byte by byte, so
                   they can be wrong in ways a protobuf library refuses to produce) and a few to other methods; for
                   each case prints the status name, message and seconds taken, then the status of a valid infer and
                   of ServerLive sent afterwards.
  live             one ServerLive call: its status and message.
  stalled_stream   a ModelStreamInfer stream that never sends, and ServerLive on the same connection 0.2 s later:
                   the status, message and end time (seconds from the start) of each.
  flood N SAMPLES  N concurrent ModelInfer calls of 16 images with SAMPLES passes each (a warm-up ServerLive first);
                   prints "started" on its own line once they are sent, then the JSON: per call its status,
                   seconds and the wall-clock time it ended (Unix seconds), then the status of one ServerLive sent
                   after they all ended ("after").
"""
import json
import random
import struct
import sys
import threading
import time

import grpc

url, model, scenario = sys.argv[1:4]
service = "/inference.GRPCInferenceService/"
channel = grpc.insecure_channel(url, options=[("grpc.max_send_message_length", 64 << 20)])


def call(method, payload, timeout=60):
    """Sends raw request bytes; returns (status name, message, seconds)."""
    start = time.monotonic()
    stub = channel.unary_unary(service + method)  # no serializers: bytes in, bytes out
    try:
        stub(payload, timeout=timeout)
        return "OK", "", time.monotonic() - start
    except grpc.RpcError as error:
        return error.code().name, error.details() or "", time.monotonic() - start


def varint(value):
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def key(field, wire_type):
    return varint(field << 3 | wire_type)


def delimited(field, payload):
    return key(field, 2) + varint(len(payload)) + payload


def packed_fp32(values):
    return b"".join(struct.pack("<f", value) for value in values)


def tensor(name=b"pixels", datatype=b"FP32", shape=(1, 784), contents=None, extra=b""):
    """An InferInputTensor; contents defaults to fp32_contents (field 6 of InferTensorContents) of 784 * 128."""
    if contents is None:
        contents = delimited(6, packed_fp32([128.0] * 784))
    shape_bytes = delimited(3, b"".join(varint(dimension) for dimension in shape))
    return delimited(5, delimited(1, name) + delimited(2, datatype) + shape_bytes + delimited(5, contents) + extra)


def bare_tensor():
    """A FP32 [1, 784] InferInputTensor without contents (for raw_input_contents)."""
    return delimited(5, delimited(1, b"pixels") + delimited(2, b"FP32") + delimited(3, varint(1) + varint(784)))


def request(inputs=None, name=model.encode(), extra=b""):
    return delimited(1, name) + (tensor() if inputs is None else inputs) + extra


def parameter(key_name, field, wire_type, value):
    """A ModelInferRequest.parameters map entry (field 4) with one InferParameter oneof member."""
    body = key(field, wire_type) + value
    return delimited(4, delimited(1, key_name) + delimited(2, body))


def hostile_cases():
    valid = request()
    rng = random.Random(17)
    cases = [
        ("valid_with_unknown_fields", "ModelInfer", valid + key(99, 0) + varint(7) + delimited(98, b"x")),
        ("valid_uint8_contents", "ModelInfer",
         request(tensor(datatype=b"UINT8", contents=delimited(4, varint(128) * 784)))),
    ]
    cases += [(f"garbage_{index}", "ModelInfer", rng.randbytes(rng.randint(1, 3000))) for index in range(24)]
    cases += [(f"truncated_at_{cut}", "ModelInfer", valid[:cut]) for cut in (1, 2, 3, 6, 20, 40, len(valid) - 1)]
    cases += [
        ("empty", "ModelInfer", b""),
        ("length_past_end", "ModelInfer", key(5, 2) + varint(1 << 62) + b"abc"),
        ("nested_length_past_parent", "ModelInfer", delimited(5, key(5, 2) + varint(500) + b"abc")),
        ("varint_too_long", "ModelInfer", b"\xff" * 11 + b"\x01"),
        ("group_wire_type", "ModelInfer", key(5, 3) + key(5, 4)),
        ("wire_type_7", "ModelInfer", bytes([0x0F])),
        ("field_number_zero", "ModelInfer", key(0, 0) + varint(1)),
        ("model_name_as_varint", "ModelInfer", key(1, 0) + varint(5) + tensor()),
        ("model_name_not_utf8", "ModelInfer", request(name=b"\xff\xfe\x80")),
        ("no_inputs", "ModelInfer", request(inputs=b"")),
        ("shape_negative", "ModelInfer", request(tensor(shape=(-1, 784)))),
        ("shape_overflowing_product", "ModelInfer", request(tensor(shape=(10**9, 10**9, 10**9)))),
        ("shape_int64_max", "ModelInfer", request(tensor(shape=((1 << 63) - 1, 784)))),
        ("shape_empty", "ModelInfer", request(tensor(shape=()))),
        ("shape_zero_batch", "ModelInfer", request(tensor(shape=(0, 784), contents=b""))),
        ("shape_mismatching_contents", "ModelInfer", request(tensor(shape=(2, 784)))),
        ("shape_one_dimension", "ModelInfer", request(tensor(shape=(784,)))),
        ("datatype_bytes", "ModelInfer", request(tensor(datatype=b"BYTES"))),
        ("datatype_fp16", "ModelInfer", request(tensor(datatype=b"FP16"))),
        ("datatype_empty", "ModelInfer", request(tensor(datatype=b""))),
        ("datatype_lowercase", "ModelInfer", request(tensor(datatype=b"fp32"))),
        ("uint8_with_fp32_contents", "ModelInfer", request(tensor(datatype=b"UINT8"))),
        ("uint_contents_out_of_range", "ModelInfer",
         request(tensor(datatype=b"UINT8", contents=delimited(4, varint(1 << 40) * 784)))),
        ("int64_contents", "ModelInfer", request(tensor(contents=delimited(3, varint(1) * 784)))),
        ("fp32_packed_ragged", "ModelInfer", request(tensor(contents=delimited(6, b"\x00" * 5)))),
        ("fp32_nan", "ModelInfer", request(tensor(contents=delimited(6, packed_fp32([float("nan")] * 784))))),
        ("fp32_infinity", "ModelInfer", request(tensor(contents=delimited(6, packed_fp32([float("inf")] * 784))))),
        ("no_contents", "ModelInfer", request(bare_tensor())),
        ("raw_ragged", "ModelInfer", request(bare_tensor(), extra=delimited(7, b"\x00" * (784 * 4 - 1)))),
        ("raw_and_contents", "ModelInfer", request(extra=delimited(7, b"\x00" * (784 * 4)))),
        ("raw_count_mismatch", "ModelInfer", request(bare_tensor(), extra=delimited(7, b"\x00" * (784 * 4)) * 2)),
        ("thousand_inputs", "ModelInfer", request(tensor() * 1000)),
        ("samples_string", "ModelInfer", request(extra=parameter(b"samples", 3, 2, varint(1) + b"x"))),
        ("samples_double", "ModelInfer", request(extra=parameter(b"samples", 4, 1, struct.pack("<d", 2.5)))),
        ("samples_bool", "ModelInfer", request(extra=parameter(b"samples", 1, 0, varint(1)))),
        ("samples_negative", "ModelInfer", request(extra=parameter(b"samples", 2, 0, varint(-5)))),
        ("samples_zero", "ModelInfer", request(extra=parameter(b"samples", 2, 0, varint(0)))),
        ("samples_uint64_max", "ModelInfer", request(extra=parameter(b"samples", 5, 0, varint((1 << 64) - 1)))),
        ("seed_double_nan", "ModelInfer", request(extra=parameter(b"seed", 4, 1, struct.pack("<d", float("nan"))))),
        ("threshold_string", "ModelInfer", request(
            extra=parameter(b"uncertainty_threshold", 3, 2, varint(3) + b"abc"))),
        ("unknown_output", "ModelInfer", request(extra=delimited(6, delimited(1, b"logits")))),
        ("oversized", "ModelInfer", request(extra=delimited(99, b"\x00" * (5 << 20)))),
        ("metadata_garbage", "ModelMetadata", b"\x0a\xff\xff\xff"),
        ("ready_not_utf8", "ModelReady", delimited(1, b"\xc3\x28")),
        ("live_garbage", "ServerLive", b"\x07"),
        ("unknown_method", "NoSuchMethod", b""),
    ]
    return cases


if scenario == "hostile":
    results = {}
    for name, method, payload in hostile_cases():
        status, message, seconds = call(method, payload)
        results[name] = {"status": status, "message": message, "seconds": round(seconds, 4)}
    results["valid_after"] = dict(zip(("status", "message", "seconds"), call("ModelInfer", request())))
    results["live_after"] = dict(zip(("status", "message", "seconds"), call("ServerLive", b"")))
    print(json.dumps(results))
elif scenario == "live":
    status, message, _ = call("ServerLive", b"", timeout=10)
    print(json.dumps({"status": status, "message": message}))
elif scenario == "flood":
    count, samples = int(sys.argv[4]), int(sys.argv[5])
    warm = call("ServerLive", b"")
    assert warm[0] == "OK", warm
    images = b"".join(packed_fp32([float((index * 37 + pixel) % 256) for pixel in range(784)]) for index in range(16))
    costly = request(
        tensor(shape=(16, 784), contents=delimited(6, images)),
        extra=parameter(b"samples", 2, 0, varint(samples)) + parameter(b"seed", 2, 0, varint(1)))
    outcomes = [None] * count

    def run(index):
        outcomes[index] = call("ModelInfer", costly, timeout=120) + (time.time(),)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    print("started", flush=True)
    for thread in threads:
        thread.join()
    after = call("ServerLive", b"", timeout=10)
    print(json.dumps({
        "calls": [{"status": status, "message": message, "seconds": round(seconds, 4), "ended": ended}
                  for status, message, seconds, ended in outcomes],
        "after": {"status": after[0], "message": after[1]},
    }))
elif scenario == "stalled_stream":
    # A ModelStreamInfer left open without a message, and ServerLive on the same channel (one connection) 0.2 s
    # later: with one stream per connection, grpcio queues ServerLive until the stream has ended.
    release = threading.Event()

    def nothing():
        release.wait(60)
        yield from ()

    outcome = {}
    start = time.monotonic()

    def run_stream():
        try:
            for _ in channel.stream_stream(service + "ModelStreamInfer")(nothing(), timeout=60):
                pass
            outcome["stream"] = {"status": "OK", "message": ""}
        except grpc.RpcError as error:
            outcome["stream"] = {"status": error.code().name, "message": error.details() or ""}
        outcome["stream"]["ended"] = round(time.monotonic() - start, 4)

    thread = threading.Thread(target=run_stream)
    thread.start()
    time.sleep(0.2)
    status, message, _ = call("ServerLive", b"", timeout=30)
    outcome["live"] = {"status": status, "message": message, "ended": round(time.monotonic() - start, 4)}
    thread.join()
    release.set()
    print(json.dumps(outcome))
else:
    raise SystemExit(f"unknown scenario {scenario}")
