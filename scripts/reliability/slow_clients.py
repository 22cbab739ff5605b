"""Holds idle and slowloris connections against a server and measures /health meanwhile
(scripts/reliability/slow-clients.sh).

Usage: slow_clients.py PORT [--idle N] [--slowloris N] [--probes N] [--timeout SECONDS] [--budget-ms MS]
0. times PROBES requests to GET /health with nothing else connected (the baseline: on a shared machine scheduling
   noise shows here too);
1. opens N idle connections (they send nothing) and N slowloris connections that trickle a request header one byte
   every 0.5 s and never finish it;
2. while all are open, times PROBES requests to GET /health, each on a fresh connection, from another thread;
3. stops trickling and waits up to the server's idle timeout + 5 s for the server to close every held connection.
Prints the numbers; exits 1 if the p99 /health latency is over the budget, a probe fails, or a connection stays open.
Standard library only.
"""
import argparse
import asyncio
import socket
import statistics
import sys
import threading
import time

parser = argparse.ArgumentParser()
parser.add_argument("port", type=int)
parser.add_argument("--idle", type=int, default=1000)
parser.add_argument("--slowloris", type=int, default=100)
parser.add_argument("--probes", type=int, default=200)
parser.add_argument("--timeout", type=float, default=5, help="the server's --connection-timeout")
parser.add_argument("--budget-ms", type=float, default=50)
args = parser.parse_args()
HOST = "127.0.0.1"


def probe_health(count, results, errors):
    """Times `count` GET /health requests on fresh blocking connections."""
    for _ in range(count):
        start = time.perf_counter()
        try:
            with socket.create_connection((HOST, args.port), timeout=5) as connection:
                connection.sendall(b"GET /health HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = connection.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            if not data.startswith(b"HTTP/1.1 200"):
                errors.append(data[:60])
            else:
                results.append((time.perf_counter() - start) * 1000)
        except OSError as error:
            errors.append(repr(error))
        time.sleep(0.01)


async def trickle(writer, stop):
    header = b"POST /predict HTTP/1.1\r\nHost: slow\r\nContent-Type: application/json\r\nX-Slow: " + b"a" * 10_000
    for byte in header:
        if stop.is_set():
            return
        try:
            writer.write(bytes([byte]))
            await writer.drain()
        except OSError:
            return
        await asyncio.sleep(0.5)


async def closed_by_server(reader, limit):
    """True when the server ends the connection (EOF or reset, after any final response) within `limit` seconds."""
    deadline = time.monotonic() + limit
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if not await asyncio.wait_for(reader.read(4096), remaining):
                return True
    except (ConnectionError, OSError):
        return True
    except asyncio.TimeoutError:
        return False


def summary(latencies):
    latencies = sorted(latencies)
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return p99, f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {latencies[-1]:.2f} ms"


async def main():
    baseline, baseline_errors = [], []
    probe_health(args.probes, baseline, baseline_errors)
    if baseline:
        print(f"/health baseline (nothing held): {len(baseline)} ok, {len(baseline_errors)} failed; {summary(baseline)[1]}")
    opened = time.perf_counter()
    idle, slow = [], []
    for i in range(args.idle):
        idle.append(await asyncio.open_connection(HOST, args.port))
    stop = asyncio.Event()
    tasks = []
    for i in range(args.slowloris):
        reader, writer = await asyncio.open_connection(HOST, args.port)
        slow.append((reader, writer))
        tasks.append(asyncio.create_task(trickle(writer, stop)))
    print(f"opened {len(idle)} idle and {len(slow)} slowloris connections in {time.perf_counter() - opened:.1f} s")
    await asyncio.sleep(1)

    latencies, errors = [], []
    thread = threading.Thread(target=probe_health, args=(args.probes, latencies, errors))
    thread.start()
    while thread.is_alive():
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*tasks)
    failed = 0
    if latencies:
        p99, text = summary(latencies)
        print(f"/health while held: {len(latencies)} ok, {len(errors)} failed; {text} (budget: p99 < {args.budget_ms:g} ms)")
        failed += p99 >= args.budget_ms
    failed += len(errors) > 0 or not latencies
    for error in errors[:5]:
        print("  probe error:", error)

    waited = time.perf_counter()
    limit = args.timeout + 5
    outcomes = await asyncio.gather(*(closed_by_server(reader, limit) for reader, _ in idle + slow))
    closed = sum(outcomes)
    print(f"server closed {closed} of {len(outcomes)} held connections within {time.perf_counter() - waited:.1f} s "
          f"(idle timeout {args.timeout:g} s)")
    failed += closed != len(outcomes)
    for _, writer in idle + slow:
        writer.close()
    return failed


sys.exit(1 if asyncio.run(main()) else 0)
