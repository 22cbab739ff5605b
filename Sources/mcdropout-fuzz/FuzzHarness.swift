// A fuzz harness over everything the server does with request bytes: path decoding and routing, `/predict` JSON
// decoding and validation, KServe V2 decoding (JSON and binary tensors), and the inference that follows.
//
// Built two ways:
// - by scripts/reliability/fuzz.sh, with `swiftc -sanitize=fuzzer,address -DFUZZING` over the libraries SwiftPM built
//   with the same sanitizers: libFuzzer's `main` calls `LLVMFuzzerTestOneInput` with mutated inputs. (Not through
//   SwiftPM's executable link, which renames `main` with `--defsym main=<module>_main` and so collides with
//   libFuzzer's.)
// - a normal build: `main` below replays corpus files (or a crash reproducer) through the same checks, so the corpus
//   doubles as a regression test and a crash can be debugged without libFuzzer.
//
// Input format (so seeds are readable): the first line is `METHOD PATH [HEADER-LENGTH]`, the rest is the body.
// HEADER-LENGTH, when present, becomes `Inference-Header-Content-Length`. An input without a newline is a GET path.
import Foundation
import HTTPTransport
import InferenceServer
import Logging
import MCDropout
import MCDropoutJSON

/// The service under test: one small synthetic model named `m`, tight limits so each input runs in microseconds.
let service: InferenceService = {
    var generator = RandomSource(seed: 7)
    let model = DropoutMLP(
        layerSizes: [784, 8, 10], dropoutProbabilities: [0, 0.5], initialization: .he, using: &generator)
    let metadata = ModelMetadata(
        layerSizes: model.layerSizes, dropoutProbabilities: [0, 0.5], labels: (0..<10).map { "c\($0)" },
        dataset: "fuzz", seed: 7, inputScale: 255, inputShape: [28, 28])
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mcdropout-fuzz-\(getpid())")
    let path = directory.appendingPathComponent("m.safetensors").path
    do {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data(ModelFile(model: model, metadata: metadata).encoded()).write(to: URL(fileURLWithPath: path))
        var configuration = ServerConfiguration()
        configuration.modelPaths = [path]
        configuration.defaultSamples = 2
        configuration.maxSamples = 16
        configuration.maxBatchSize = 4
        configuration.maxTotalPasses = 64
        let registry = try ModelRegistry(paths: [path])
        try? FileManager.default.removeItem(at: directory)
        let service = InferenceService(
            configuration: configuration, registry: registry,
            logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }))
        service.markReady()
        return service
    } catch {
        fatalError("cannot set up the fuzz service: \(error)")
    }
}()

/// Splits a fuzz input into a request.
func request(from data: UnsafeRawBufferPointer) -> HTTPRequest {
    let bytes = Array(data)
    guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) else {
        return HTTPRequest(method: "GET", path: String(decoding: bytes, as: UTF8.self))
    }
    let head = bytes[..<newline].split(separator: UInt8(ascii: " "), maxSplits: 2, omittingEmptySubsequences: false)
    let method = String(decoding: head[0], as: UTF8.self)
    let path = head.count > 1 ? String(decoding: head[1], as: UTF8.self) : "/"
    var headers: [(name: String, value: String)] = []
    if head.count > 2 {
        headers.append((name: "Inference-Header-Content-Length", value: String(decoding: head[2], as: UTF8.self)))
    }
    return HTTPRequest(method: method, path: path, headers: headers, body: Array(bytes[(newline + 1)...]))
}

/// Runs one input and traps if the answer breaks the server's contract.
func check(_ data: UnsafeRawBufferPointer) {
    let request = request(from: data)
    _ = PercentDecoding.bytes(request.path)
    let response = service.handle(request)
    // Client input must never produce a server error (503 only while not ready, which never happens here).
    guard (200..<500).contains(response.status) else {
        fatalError(
            "status \(response.status) for \(request.method) \(request.path): \(String(decoding: response.body, as: UTF8.self))"
        )
    }
    // Every answer is JSON (or, for V2 binary outputs, a JSON header of the announced length), except the Prometheus
    // text of /metrics and the demo page's HTML, which are only ever 200s.
    let isText = response.headers.contains { $0.value.hasPrefix("text/plain") || $0.value.hasPrefix("text/html") }
    if isText, response.status != 200 {
        fatalError("a \(response.status) answered as text: \(String(decoding: response.body, as: UTF8.self))")
    }
    var json = response.body[...]
    if let length = response.headers.first(where: { $0.name == "Inference-Header-Content-Length" }).flatMap({
        Int($0.value)
    }) {
        guard length <= response.body.count else { fatalError("Inference-Header-Content-Length past the body") }
        json = response.body[..<length]
    }
    if !isText, request.method != "HEAD" {
        do {
            let value = try JSONParser.parse(Array(json))
            if response.status >= 400, case .string? = value["error"] {
            } else if response.status >= 400 {
                fatalError("error response without an 'error' string: \(String(decoding: json, as: UTF8.self))")
            }
        } catch {
            fatalError("response is not JSON (\(error)): \(String(decoding: json, as: UTF8.self))")
        }
    }
}

#if FUZZING
    /// libFuzzer calls this with every input; its own `main` drives the run.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzTestOneInput(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
        #if FUZZ_GRPC
            checkGRPC(UnsafeRawBufferPointer(start: start, count: count))
        #else
            check(UnsafeRawBufferPointer(start: start, count: count))
        #endif
        return 0
    }
#else
    @main
    enum ReplayCommand {
        /// `mcdropout-fuzz [--grpc] FILE|DIRECTORY...`: runs each file through the HTTP harness (or with `--grpc` the
        /// gRPC one, GRPCFuzzHarness.swift); exits non-zero on the first failure.
        static func main() throws {
            var paths = CommandLine.arguments.dropFirst()
            let isGRPC = paths.first == "--grpc"
            if isGRPC { paths = paths.dropFirst() }
            guard !paths.isEmpty else {
                print(
                    "usage: mcdropout-fuzz [--grpc] FILE|DIRECTORY... (replays inputs; scripts/reliability/fuzz.sh "
                        + "fuzzes)")
                exit(2)
            }
            var count = 0
            for path in paths {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                    print("no such file: \(path)")
                    exit(2)
                }
                let files =
                    isDirectory.boolValue
                    ? try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { "\(path)/\($0)" }
                    : [path]
                for file in files {
                    let data = try Data(contentsOf: URL(fileURLWithPath: file))
                    data.withUnsafeBytes { isGRPC ? checkGRPC($0) : check($0) }
                    count += 1
                }
            }
            print("replayed \(count) inputs: no contract violations")
        }
    }
#endif
