"""Loads a server with the largest bodies it accepts, from many connections at once (scripts/reliability/memory-cap.sh).

Usage: memory_load.py PORT [--connections N] [--body-bytes B] [--rounds R] [--oversized N]
Each round:
1. opens N connections and sends each a POST /predict whose body is a valid batch padded to exactly B bytes (the
   server's --max-body-bytes), all but its last byte, so that N nearly complete bodies are buffered at once: the
   worst case of memory held by uploads;
2. meanwhile opens OVERSIZED connections that declare a body 10 times over the limit (413 before it is read);
3. sends every last byte at once, so that the bodies complete together: workers + queue are admitted (200), the
   rest are refused (503), and reads every answer.
Prints one line per round and a final RESULT line with the status counts; exits 1 on a socket error or a status
other than 200, 413 and 503. Standard library only; traffic to 127.0.0.1 only.
"""
import argparse
import asyncio
import random
import sys

parser = argparse.ArgumentParser()
parser.add_argument("port", type=int)
parser.add_argument("--connections", type=int, default=256)
parser.add_argument("--body-bytes", type=int, default=1024 * 1024)
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--oversized", type=int, default=32)
args = parser.parse_args()
HOST = "127.0.0.1"


def batch_body(size):
    """A valid /predict batch of as many 784-pixel instances (long decimals) as fit, padded with spaces to `size`."""
    generator = random.Random(0)
    instance = '{"pixels":[' + ",".join(f"{generator.random():.9f}" for _ in range(784)) + "]}"
    count = max(1, (size - 40) // (len(instance) + 1))
    body = '{"instances":[' + ",".join([instance] * count) + "]}"
    if len(body) > size:
        sys.exit(f"--body-bytes {size} is too small for one instance ({len(body)} bytes)")
    return (body + " " * (size - len(body))).encode(), count


BODY, INSTANCES = batch_body(args.body_bytes)


def head(length):
    return (f"POST /predict HTTP/1.1\r\nHost: memory\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


async def read_status(reader):
    line = await asyncio.wait_for(reader.readline(), 300)
    if not line:
        raise ConnectionError("closed without an answer")
    length = 0
    while True:
        header = await asyncio.wait_for(reader.readline(), 30)
        if header in (b"\r\n", b""):
            break
        name, _, value = header.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    await asyncio.wait_for(reader.readexactly(length), 30)
    return int(line.split()[1])


async def uploader(loaded, release, statuses, errors):
    try:
        reader, writer = await asyncio.open_connection(HOST, args.port)
        writer.write(head(len(BODY)) + BODY[:-1])
        await writer.drain()
        loaded.append(1)
        await release.wait()
        writer.write(BODY[-1:])
        await writer.drain()
        status = await read_status(reader)
        statuses[status] = statuses.get(status, 0) + 1
        writer.close()
    except (OSError, asyncio.TimeoutError, ConnectionError, asyncio.IncompleteReadError) as error:
        errors.append(repr(error))


async def oversized(statuses, errors):
    try:
        reader, writer = await asyncio.open_connection(HOST, args.port)
        writer.write(head(10 * args.body_bytes))
        await writer.drain()
        status = await read_status(reader)
        statuses[status] = statuses.get(status, 0) + 1
        writer.close()
    except (OSError, asyncio.TimeoutError, ConnectionError, asyncio.IncompleteReadError) as error:
        errors.append(repr(error))


async def main():
    totals, all_errors = {}, []
    for number in range(1, args.rounds + 1):
        loaded, statuses, errors, release = [], {}, [], asyncio.Event()
        tasks = [asyncio.create_task(uploader(loaded, release, statuses, errors)) for _ in range(args.connections)]
        tasks += [asyncio.create_task(oversized(statuses, errors)) for _ in range(args.oversized)]
        for _ in range(1200):
            if len(loaded) + len(errors) >= args.connections:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1)  # let the server read what the kernel buffered: every body nearly complete at once
        release.set()
        await asyncio.gather(*tasks)
        print(f"round {number}: {len(loaded)} bodies of {len(BODY)} bytes ({INSTANCES} instances) held at once; "
              f"statuses {dict(sorted(statuses.items()))}; {len(errors)} errors", flush=True)
        for status, count in statuses.items():
            totals[status] = totals.get(status, 0) + count
        all_errors += errors
    for error in sorted(set(all_errors))[:5]:
        print(f"  error: {error}", file=sys.stderr)
    print("RESULT errors=%d %s" % (len(all_errors), " ".join(f"status_{s}={c}" for s, c in sorted(totals.items()))))
    unexpected = set(totals) - {200, 413, 503}
    return 1 if all_errors or unexpected else 0


sys.exit(asyncio.run(main()))
