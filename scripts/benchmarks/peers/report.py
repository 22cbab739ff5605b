"""Ratio tables for scripts/benchmarks/bench-peers.sh: mcdropout against the Python peers, from one run's raw outputs.

Usage: report.py OURS.txt PEERS.jsonl [HTTP.txt]
  OURS.txt     mcdropout-bench's table (threads batch N median p10 p90 GFLOP/s peak of-peak)
  PEERS.jsonl  bench_peers.py's JSON lines
  HTTP.txt     bench-http.sh --peer fastapi output (optional)
Ratios: "best/ours" is how many times faster mcdropout is than the fastest Python peer (issue 5 wants ours <= 0.8x
the best peer, i.e. best/ours >= 1.25); HTTP: ours req/s / FastAPI req/s per connection count (target >= 2.5 at 8).
"""
import json
import sys

# Issue 5's FLOP floors (ms) for 784-512-512-10 at 85 / 160 GFLOP/s sgemm peak, and its latency targets (ms).
FLOOR_MS = {(1, 10): 0.073, (2, 10): 0.038, (1, 100): 0.640, (2, 100): 0.338, (1, 1000): 6.32, (2, 1000): 3.33}
TARGET_MS = {(1, 100): 0.74, (2, 100): 0.45, (1, 10): 0.15, (2, 10): 0.15}


def main():
    ours = {}
    for line in open(sys.argv[1]):
        fields = line.split()
        if len(fields) >= 10 and fields[0].isdigit() and fields[1] == "1":
            ours[(int(fields[0]), int(fields[2]))] = (float(fields[3]), float(fields[9]))
    peers, peers_cpu = {}, {}
    for line in open(sys.argv[2]):
        record = json.loads(line)
        if "engine" in record:
            key = (record["threads"], record["samples"])
            peers.setdefault(key, {})[record["engine"]] = record["median_us"]
            peers_cpu.setdefault(key, {})[record["engine"]] = record["cpu_median_us"]
    engines = ["numpy", "onnxruntime", "torch-batched", "torch-loop"]

    print("In-process latency, one input, median µs (same run)")
    header = f"{'T':>2} {'N':>5} {'ours':>9} " + " ".join(f"{e:>13}" for e in engines)
    print(header + f" {'best/ours':>10} {'ours/floor':>10} {'target ms':>10} {'met':>4}")
    for key in sorted(set(ours) | set(peers)):
        threads, count = key
        mine = ours.get(key, (float("nan"), float("nan")))[0]
        row = peers.get(key, {})
        best = min(row.values(), default=float("nan"))
        cells = " ".join(f"{row.get(e, float('nan')):13.1f}" for e in engines)
        floor = FLOOR_MS.get(key)
        target = TARGET_MS.get(key)
        met = "" if target is None else ("yes" if mine / 1000 <= target else "NO")
        print(f"{threads:>2} {count:>5} {mine:9.1f} {cells} {best / mine:10.2f} "
              f"{(mine / 1000 / floor) if floor else float('nan'):10.2f} "
              f"{target if target else '':>10} {met:>4}")
    print("Same, median CPU µs per call (all threads; on 1 thread, the compute time without time spent descheduled)")
    print(f"{'T':>2} {'N':>5} {'ours':>9} " + " ".join(f"{e:>13}" for e in engines) + f" {'best/ours':>10}")
    for key in sorted(set(ours) & set(peers_cpu)):
        mine = ours[key][1]
        row = peers_cpu[key]
        best = min(row.values(), default=float("nan"))
        print(f"{key[0]:>2} {key[1]:>5} {mine:9.1f} " + " ".join(f"{row.get(e, float('nan')):13.1f}" for e in engines)
              + f" {best / mine:10.2f}")
    print("speed-up of ours over each peer (peer µs / ours µs)")
    for key in sorted(set(ours) & set(peers)):
        mine = ours[key][0]
        print(f"  T={key[0]} N={key[1]:>4}: " + ", ".join(
            f"{e} {peers[key][e] / mine:.2f}x" for e in engines if e in peers[key]))

    if len(sys.argv) > 3:
        rows = {}
        for line in open(sys.argv[3]):
            fields = line.split()
            if len(fields) >= 9 and fields[0] in ("mcdropout-serve", "fastapi-uvicorn2") and fields[1].isdigit():
                rows[(fields[0], int(fields[1]))] = (float(fields[2]), fields[3], fields[4])
        print("HTTP /predict, req/s (ratio = ours / FastAPI + uvicorn, 2 workers, numpy engine)")
        for c in sorted({c for _, c in rows}):
            mine, peer = rows.get(("mcdropout-serve", c)), rows.get(("fastapi-uvicorn2", c))
            if mine and peer:
                print(f"  c={c:>3}: ours {mine[0]:8.1f} req/s (p50 {mine[1]} ms, p99 {mine[2]} ms)   "
                      f"fastapi {peer[0]:8.1f} req/s (p50 {peer[1]} ms, p99 {peer[2]} ms)   ratio {mine[0] / peer[0]:.2f}x")


if __name__ == "__main__":
    main()
