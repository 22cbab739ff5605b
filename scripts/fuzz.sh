#!/usr/bin/env bash
# Usage: scripts/fuzz.sh [SECONDS] [extra libFuzzer flags...]
# Fuzzes request decoding and validation (paths, /predict, KServe V2 JSON and binary) with libFuzzer + AddressSanitizer
# for SECONDS (default 60). Builds the `mcdropout-fuzz` target in its own scratch directory (.build/fuzz) with
# `-sanitize=fuzzer,address` (one flag: SwiftPM's `--sanitize fuzzer --sanitize address` emits two swiftc flags and the
# last one wins, silently dropping coverage instrumentation from every library) and `-DFUZZING` (libFuzzer supplies main). Starts from the seed corpus in
# fuzz/corpus (read only); new inputs go to .build/fuzz-corpus, crashes to .build/fuzz-artifacts. Exits non-zero on a
# crash; replay one with `swift run mcdropout-fuzz FILE` (a normal build replays instead of fuzzing).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true

swift build -c release --scratch-path .build/fuzz --product mcdropout-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -g >&2
binary=".build/fuzz/release/mcdropout-fuzz"
mkdir -p .build/fuzz-corpus .build/fuzz-artifacts
# Big inputs are allowed (a 784-pixel body is ~3 KB, a binary V2 request ~3.5 KB); rss_limit keeps it bounded.
exec "$binary" .build/fuzz-corpus fuzz/corpus \
    -max_total_time="$seconds" -max_len=16384 -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix=.build/fuzz-artifacts/ -print_final_stats=1 "$@"
