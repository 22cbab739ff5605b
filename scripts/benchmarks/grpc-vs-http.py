"""KServe V2 over gRPC vs HTTP against one running mcdropout-serve, with the same client family (tritonclient).

Usage: grpc-vs-http.py HTTP_PORT GRPC_PORT [--samples 100] [--requests 300] [--streams 8] [--rounds 3]
  (run with the test venv's python: scripts/python/python-env.sh prints it; start the server with
  `mcdropout-serve --port 0 --grpc-port 0` and pass the two printed ports)

Sends one real MNIST digit (examples/mnist-test-0000-label-7.json) as UINT8 [1, 784] with `samples` N and a fixed
seed: binary tensor data over HTTP (tritonclient.http's default), raw_input_contents over gRPC. Per round and
protocol, alternating so that background load hits both alike: sequential latency (median and p90 of --requests
calls on one connection), then throughput with --streams processes, each with its own client, for --requests calls
each. Prints one line per round and protocol and the medians over rounds. The load generator runs on the same cores
as the server, so both numbers include the Python client's own cost.
"""
import argparse
import json
import statistics
import multiprocessing
import time
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

parser = argparse.ArgumentParser()
parser.add_argument("http_port", type=int)
parser.add_argument("grpc_port", type=int)
parser.add_argument("--samples", type=int, default=100)
parser.add_argument("--requests", type=int, default=300)
parser.add_argument("--streams", type=int, default=8)
parser.add_argument("--rounds", type=int, default=3)
options = parser.parse_args()

root = Path(__file__).resolve().parents[2]
digit = json.loads((root / "examples" / "mnist-test-0000-label-7.json").read_text())["pixels"]
pixels = np.array(digit, dtype=np.uint8).reshape(1, 784)
parameters = {"samples": options.samples, "seed": 1}


def make_call(protocol):
    """A no-argument function that sends one request on its own client and returns the probabilities."""
    if protocol == "http":
        client = httpclient.InferenceServerClient(f"127.0.0.1:{options.http_port}")
        tensor = httpclient.InferInput("pixels", [1, 784], "UINT8")
        tensor.set_data_from_numpy(pixels, binary_data=True)
        outputs = [httpclient.InferRequestedOutput("probabilities", binary_data=True)]

    else:
        client = grpcclient.InferenceServerClient(f"127.0.0.1:{options.grpc_port}")
        tensor = grpcclient.InferInput("pixels", [1, 784], "UINT8")
        tensor.set_data_from_numpy(pixels)
        outputs = [grpcclient.InferRequestedOutput("probabilities")]
    return lambda: client.infer("mnist", [tensor], outputs=outputs, parameters=parameters).as_numpy("probabilities")


def latency(protocol):
    call = make_call(protocol)
    call()  # connect and warm up
    times = []
    for _ in range(options.requests):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    times.sort()
    return statistics.median(times) * 1e3, times[int(0.9 * len(times))] * 1e3


def stream(protocol, barrier, queue):
    """One load stream in its own process (tritonclient.http's gevent client cannot be shared across threads)."""
    call = make_call(protocol)
    call()
    barrier.wait()
    start = time.time()
    for _ in range(options.requests):
        call()
    queue.put((start, time.time()))


def throughput(protocol):
    context = multiprocessing.get_context("spawn")
    barrier, queue = context.Barrier(options.streams), context.Queue()
    processes = [context.Process(target=stream, args=(protocol, barrier, queue)) for _ in range(options.streams)]
    for process in processes:
        process.start()
    spans = [queue.get() for _ in processes]
    for process in processes:
        process.join()
    return options.streams * options.requests / (max(end for _, end in spans) - min(start for start, _ in spans))


def main():
    # Same answer both ways (same seed, same code path behind both protocols).
    assert np.array_equal(make_call("http")(), make_call("grpc")()), "HTTP and gRPC answers differ"
    results = {"http": [], "grpc": []}
    for round_index in range(options.rounds):
        for protocol in (["http", "grpc"] if round_index % 2 == 0 else ["grpc", "http"]):
            median, p90 = latency(protocol)
            rate = throughput(protocol)
            results[protocol].append((median, p90, rate))
            print(f"round {round_index + 1} {protocol:4}: latency median {median:.2f} ms, p90 {p90:.2f} ms; "
                  f"{options.streams} streams {rate:.0f} req/s", flush=True)
    for protocol, rows in results.items():
        latency_ms, p90_ms, rate = (statistics.median(row[index] for row in rows) for index in range(3))
        print(f"median over {options.rounds} rounds, {protocol:4}: latency {latency_ms:.2f} ms, p90 {p90_ms:.2f} ms, "
              f"{rate:.0f} req/s")


if __name__ == "__main__":  # spawned stream processes import this file for stream() only
    main()
