"""In-process latency of the Python Monte-Carlo dropout peers (scripts/benchmarks/peers/engines.py).

Usage: bench_peers.py --model MODEL.safetensors --input EXAMPLE.json [--threads T] [--samples 10,100,1000]
                      [--engines numpy,onnxruntime,torch-batched,torch-loop] [--seconds 2] [--check]
  (normally run by scripts/benchmarks/bench-peers.sh, which sets OPENBLAS_NUM_THREADS/OMP_NUM_THREADS=T before Python
  starts)

Prints one JSON line per (engine, N): median, p10 and p90 latency in µs of one prediction (N passes on one input,
then the summary), timed with perf_counter over at least --seconds and at least 20 calls after 3 warm-up calls, and
the median process CPU time of a call (all threads; leaves out time spent descheduled on a busy machine).
--check first runs every engine with N = 20000 and fails unless their mean probabilities agree within 0.01
(the Monte-Carlo noise at that N is far smaller), so a fast but wrong engine cannot win.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engines import ENGINES  # noqa: E402


def main():
    parser = argparse.ArgumentParser(usage=__doc__.split("\n\n")[1].split("\n  (")[0][len("Usage: "):])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--samples", default="10,100,1000")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()

    body = json.loads(args.input.read_text())
    names = [name for name in args.engines.split(",") if name]
    engines = {name: ENGINES[name](args.model, seed=1, threads=args.threads) for name in names}
    x = np.asarray(body["pixels"], dtype=np.float32) / np.float32(next(iter(engines.values())).scale)

    if args.check:
        means = {name: engine.predict(x, 20000)["probabilities"] for name, engine in engines.items()}
        reference = means[names[0]]
        for name, mean in means.items():
            gap = float(np.max(np.abs(mean - reference)))
            print(json.dumps({"check": name, "max_abs_diff_vs_" + names[0]: round(gap, 5),
                              "prediction": int(np.argmax(mean))}), flush=True)
            if gap > 0.01:
                sys.exit(f"bench_peers.py: {name} disagrees with {names[0]} by {gap:.4f}")

    for count in [int(n) for n in args.samples.split(",") if n]:
        for name, engine in engines.items():
            for _ in range(3):
                engine.predict(x, count)
            times, cpu_times = [], []
            deadline = time.perf_counter() + args.seconds
            while time.perf_counter() < deadline or len(times) < 20:
                start, cpu_start = time.perf_counter(), time.process_time()
                engine.predict(x, count)
                cpu_times.append((time.process_time() - cpu_start) * 1e6)
                times.append((time.perf_counter() - start) * 1e6)
            times.sort()
            cpu_times.sort()
            print(json.dumps({"engine": name, "threads": args.threads, "samples": count, "calls": len(times),
                              "median_us": round(times[len(times) // 2], 1),
                              "p10_us": round(times[len(times) // 10], 1),
                              "p90_us": round(times[len(times) * 9 // 10], 1),
                              "cpu_median_us": round(cpu_times[len(cpu_times) // 2], 1),
                              "loadavg_1min": os.getloadavg()[0]}), flush=True)


if __name__ == "__main__":
    main()
