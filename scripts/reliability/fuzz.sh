#!/usr/bin/env bash
# Usage: scripts/reliability/fuzz.sh [--grpc] [SECONDS] [extra libFuzzer flags...]
#        scripts/reliability/fuzz.sh --check
#          (exit 0 when this toolchain can link libFuzzer + ASan binaries; prints why not)
# Fuzzes request handling (path decoding and routing, /predict and KServe V2 JSON and binary decoding, validation and
# the inference behind them) with libFuzzer + AddressSanitizer for SECONDS (default 60); exits non-zero on a crash.
# --grpc fuzzes the gRPC side instead: KServe V2 request messages through the protobuf decoder and the GRPCEndpoint
# (Sources/mcdropout-fuzz/GRPCFuzzHarness.swift; seeds in fuzz/corpus-grpc, grown inputs in .build/fuzz-corpus-grpc).
# FUZZ_CONFIGURATION=debug builds without optimization (faster to build, slower to run: the smoke run in
# scripts/test.sh uses it); the default is release.
#
# How it is built, and why not as a plain SwiftPM product:
# - the libraries are built by SwiftPM in their own scratch directory (.build/fuzz) with ASan and libFuzzer's coverage
#   instrumentation (-sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp, what -sanitize=fuzzer adds) but
#   without linking libFuzzer: SwiftPM applies -Xswiftc to the build plugin's tool (EmbedResourcesTool) too, and an
#   executable linked with -sanitize=fuzzer gets libFuzzer's main beside its own (ld.gold then crashes);
# - the harness (Sources/mcdropout-fuzz/FuzzHarness.swift, with -DFUZZING) is linked by swiftc against those
#   objects, because SwiftPM links executables with `--defsym main=<module>_main`, which collides with libFuzzer's main.
# Inputs: the seed corpus fuzz/corpus (read only) plus .build/fuzz-corpus (grows); crashes land in
# .build/fuzz-artifacts. Replay one with `swift run mcdropout-fuzz [--grpc] FILE` (a normal build replays instead of
# fuzzing). The gRPC seeds are made by scripts/reliability/grpc_fuzz_seeds.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${1:-}" = --check ]; then
    probe="$(mktemp -d)"
    trap 'rm -rf "$probe"' EXIT
    cat >"$probe/probe.swift" <<'SWIFT'
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt { 0 }
SWIFT
    if ! swiftc -sanitize=fuzzer,address -parse-as-library "$probe/probe.swift" -o "$probe/probe" 2>"$probe/log"; then
        echo "this toolchain cannot link libFuzzer binaries: $(head -3 "$probe/log")"
        exit 1
    fi
    exit 0
fi
target=http
if [ "${1:-}" = --grpc ]; then
    target=grpc
    shift
fi
seconds="${1:-60}"
shift || true
configuration="${FUZZ_CONFIGURATION:-release}"
optimization=-O
[ "$configuration" = debug ] && optimization=-Onone

scratch=.build/fuzz
[ "$configuration" = debug ] && scratch=.build/fuzz-debug
swift build -c "$configuration" --scratch-path "$scratch" --target InferenceServer \
    -Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp -Xswiftc -g >&2
out="$scratch/$configuration"
objects=()
for module in CMicroHTTPD CGRPC CKernels Logging HTTPTransport GRPCTransport MCDropoutJSON MCDropout InferenceServer; do
    objects+=("$out/$module.build/"*.o)
done
harness="$scratch/mcdropout-fuzz" corpus=fuzz/corpus grown=.build/fuzz-corpus defines=(-DFUZZING) prefix=""
if [ "$target" = grpc ]; then
    harness="$scratch/mcdropout-fuzz-grpc" corpus=fuzz/corpus-grpc grown=.build/fuzz-corpus-grpc prefix=grpc-
    defines+=(-DFUZZ_GRPC)
fi
swiftc "$optimization" -g -sanitize=fuzzer,address -parse-as-library "${defines[@]}" -module-name mcdropout_fuzz \
    -I "$out/Modules" $(pkg-config --cflags-only-I openblas) \
    -Xcc -fmodule-map-file=Sources/CBLAS/module.modulemap \
    -Xcc -fmodule-map-file="$out/CMicroHTTPD.build/module.modulemap" -Xcc -ISources/CMicroHTTPD/include \
    -Xcc -fmodule-map-file="$out/CGRPC.build/module.modulemap" -Xcc -ISources/CGRPC/include \
    -Xcc -fmodule-map-file="$out/CKernels.build/module.modulemap" -Xcc -ISources/CKernels/include \
    Sources/mcdropout-fuzz/FuzzHarness.swift Sources/mcdropout-fuzz/GRPCFuzzHarness.swift "${objects[@]}" \
    $(pkg-config --libs-only-L openblas) -lopenblas -lmicrohttpd -lgrpc -lgpr -o "$harness" >&2

mkdir -p "$grown" .build/fuzz-artifacts
# A 784-pixel body is ~3 KB and a binary V2 request ~3.5 KB, so inputs may be up to 16 KB; RSS is capped.
exec "$harness" "$grown" "$corpus" \
    -max_total_time="$seconds" -max_len=16384 -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix=".build/fuzz-artifacts/$prefix" -print_final_stats=1 "$@"
