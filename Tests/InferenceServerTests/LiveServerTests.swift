import Foundation
import HTTPTransport
import Logging
import MCDropout
import MCDropoutJSON
import Testing

@testable import InferenceServer

/// Starts a real server (libmicrohttpd on a free loopback port) over the given model files.
func startServer(paths: [String], configure: (inout ServerConfiguration) -> Void = { _ in }) throws -> Server {
    var configuration = ServerConfiguration()
    configuration.modelPaths = paths
    configuration.transport.port = 0
    configuration.transport.workerThreadCount = 2
    configure(&configuration)
    return try Server.start(configuration: configuration, logger: Logger(label: "live-test"))
}

extension RawHTTPResponse {
    var json: JSONValue? { try? JSONParser.parse(body) }
}

@Suite("Live server over real HTTP")
struct LiveServerTests {
    @Test("predict, health, V2 metadata and metrics answer over a socket")
    func endToEnd() throws {
        let server = try startServer(paths: [try writeSyntheticModel(name: "digits")])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let connection = try RawHTTPConnection(port: server.port)
        let health = try connection.request(target: "/health")
        #expect(health.status == 200 && health.json?["status"] == .string("ok"))
        let body = Array(#"{"pixels": \#(pixelsJSON(testPixels())), "samples": 40, "seed": 3}"#.utf8)
        let first = try connection.request(method: "POST", target: "/predict", body: body)
        let second = try connection.request(method: "POST", target: "/predict", body: body)
        #expect(first.status == 200 && first.header("Content-Type") == "application/json")
        #expect(first.body == second.body)
        let probabilities = first.json?["probabilities"]?.arrayValue?.compactMap(\.doubleValue) ?? []
        #expect(abs(probabilities.reduce(0, +) - 1) < 1e-5)
        let metadata = try connection.request(target: "/v2/models/digits")
        #expect(metadata.json?["inputs"]?[0]?["shape"] == .array([.number(-1), .number(784)]))
        #expect(try connection.request(target: "/v2/health/ready").status == 200)
        let metrics = try connection.request(target: "/metrics").text
        #expect(metrics.contains(#"mcdropout_requests_total{route="/predict",status="200"} 2"#))
        #expect(metrics.contains("mcdropout_mc_passes_total 80"))
    }

    @Test("X-Request-ID: a client's token is echoed, a bad one is replaced by the server's own number")
    func requestIDs() throws {
        let server = try startServer(paths: [try writeSyntheticModel(name: "digits")])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let connection = try RawHTTPConnection(port: server.port)
        let traced = try connection.request(target: "/health", headers: [("X-Request-ID", "trace-4bf92f35")])
        #expect(traced.header("X-Request-ID") == "trace-4bf92f35")
        let error = try connection.request(
            method: "POST", target: "/predict", headers: [("X-Request-ID", "e-1")], body: Array("{}".utf8))
        #expect(error.status == 400 && error.header("X-Request-ID") == "e-1")
        let spaced = try connection.request(target: "/health", headers: [("X-Request-ID", "has space")])
        let own = try connection.request(target: "/health")
        for response in [spaced, own] {
            #expect(response.header("X-Request-ID").flatMap { UInt64($0) } != nil)
        }
        #expect(spaced.header("X-Request-ID") != own.header("X-Request-ID"))
    }

    @Test("error statuses over the wire: 400, 404, 405 with Allow, 413, all with JSON bodies")
    func errorStatuses() throws {
        let server = try startServer(paths: [try writeSyntheticModel()]) { $0.transport.maxBodyBytes = 64 * 1024 }
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let cases: [(method: String, target: String, body: [UInt8], status: Int)] = [
            ("POST", "/predict", Array("{not json".utf8), 400),
            ("POST", "/predict", Array(#"{"pixels": [1, 2, 3]}"#.utf8), 400),
            ("GET", "/nowhere", [], 404),
            ("POST", "/v2/models/missing/infer", Array("{}".utf8), 404),
            ("DELETE", "/predict", [], 405),
            ("POST", "/predict", [UInt8](repeating: 0x20, count: 100_000), 413),
        ]
        for item in cases {
            let connection = try RawHTTPConnection(port: server.port)
            let response = try connection.request(method: item.method, target: item.target, body: item.body)
            #expect(response.status == item.status, "\(item.method) \(item.target)")
            #expect(response.json?["error"]?.stringValue != nil, "\(item.method) \(item.target): \(response.text)")
            if item.status == 405 { #expect(response.header("Allow") == "POST") }
        }
        let after = try RawHTTPConnection(port: server.port).request(target: "/health")
        #expect(after.status == 200)
    }

    @Test("KServe V2 infer: JSON and binary tensors, FP32 and UINT8, outputs selection, id echo")
    func kserve() throws {
        let server = try startServer(paths: [try writeSyntheticModel(name: "mnist")])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let connection = try RawHTTPConnection(port: server.port)
        let a = testPixels(seed: 1)
        let b = testPixels(seed: 2)
        let jsonRequest = #"""
            {"id": "req-1", "parameters": {"samples": 30, "seed": 9},
             "inputs": [{"name": "pixels", "shape": [2, 784], "datatype": "UINT8", "data": [\#(pixelsJSON(a)), \#(pixelsJSON(b))]}]}
            """#
        let response = try connection.request(
            method: "POST", target: "/v2/models/mnist/infer", body: Array(jsonRequest.utf8))
        #expect(response.status == 200, "\(response.text)")
        let json = try #require(response.json)
        #expect(json["id"] == .string("req-1"))
        #expect(json["model_name"] == .string("mnist"))
        let outputs = json["outputs"]?.arrayValue ?? []
        #expect(
            outputs.compactMap { $0["name"]?.stringValue } == [
                "probabilities", "variance", "predictive_entropy", "expected_entropy", "mutual_information",
                "prediction",
            ])
        #expect(outputs[0]["shape"] == .array([.number(2), .number(10)]))
        #expect(outputs[5]["datatype"] == .string("INT64"))
        #expect(outputs[2]["shape"] == .array([.number(2)]))

        // The same instance through /predict gives the same probabilities.
        let single = try connection.request(
            method: "POST", target: "/predict",
            body: Array(#"{"pixels": \#(pixelsJSON(a)), "samples": 30, "seed": 9}"#.utf8))
        let v2First = (outputs[0]["data"]?.arrayValue ?? []).prefix(10)
        #expect(Array(v2First) == single.json?["probabilities"]?.arrayValue)

        // Binary tensor extension: FP32 input in the binary section, one binary output requested.
        var header = Array(
            #"""
            {"parameters": {"samples": 30, "seed": 9},
             "inputs": [{"name": "pixels", "shape": [1, 784], "datatype": "FP32", "parameters": {"binary_data_size": 3136}}],
             "outputs": [{"name": "probabilities", "parameters": {"binary_data": true}}, {"name": "prediction"}]}
            """#.utf8)
        let headerLength = header.count
        for pixel in a {
            var bits = Float(pixel).bitPattern.littleEndian
            withUnsafeBytes(of: &bits) { header.append(contentsOf: $0) }
        }
        let binary = try connection.request(
            method: "POST", target: "/v2/models/mnist/infer",
            headers: [
                ("Inference-Header-Content-Length", "\(headerLength)"), ("Content-Type", "application/octet-stream"),
            ],
            body: header)
        #expect(binary.status == 200, "\(binary.text)")
        let jsonLength = Int(binary.header("Inference-Header-Content-Length") ?? "") ?? 0
        let binaryHeader = try JSONParser.parse(Array(binary.body[0..<jsonLength]))
        #expect(binaryHeader["outputs"]?[0]?["parameters"]?["binary_data_size"] == .number(40))
        let floats = (0..<10).map { index in
            Float(
                bitPattern: binary.body[(jsonLength + 4 * index)..<(jsonLength + 4 * index + 4)].reversed().reduce(
                    UInt32(0)
                ) { $0 << 8 | UInt32($1) })
        }
        let expected = single.json?["probabilities"]?.arrayValue?.compactMap(\.doubleValue).map(Float.init) ?? []
        #expect(floats == expected)

        for (body, status) in [
            (#"{"inputs": [{"name": "pixels", "shape": [1, 783], "datatype": "FP32", "data": [0]}]}"#, 400),
            (#"{"inputs": [{"name": "pixels", "shape": [1, 784], "datatype": "FP64", "data": [0]}]}"#, 400),
            (#"{"inputs": [{"name": "pixels", "shape": [1, 784], "datatype": "FP32", "data": [1, 2]}]}"#, 400),
            (#"{"inputs": [{"name": "image", "shape": [1, 784], "datatype": "FP32", "data": [1]}]}"#, 400),
            (#"{"inputs": []}"#, 400),
            (#"{"id": "x"}"#, 400),
            (
                #"{"inputs": [{"name": "pixels", "shape": [1, 784], "datatype": "FP32", "data": [0]}], "outputs": [{"name": "nope"}]}"#,
                400
            ),
        ] {
            let bad = try connection.request(method: "POST", target: "/v2/models/mnist/infer", body: Array(body.utf8))
            #expect(bad.status == status, "\(body)")
            #expect(bad.json?["error"]?.stringValue != nil)
        }
    }

    @Test("reload swaps a good file in and keeps the model when the file is corrupt")
    func reload() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("reload-\(UUID().uuidString)")
        let path = try writeSyntheticModel(name: "m", seed: 1, directory: directory)
        let server = try startServer(paths: [path])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let connection = try RawHTTPConnection(port: server.port)
        let body = Array(#"{"pixels": \#(pixelsJSON(testPixels())), "samples": 10, "seed": 1}"#.utf8)
        let before = try connection.request(method: "POST", target: "/predict", body: body)
        _ = try writeSyntheticModel(name: "m", seed: 2, directory: directory)
        let outcomes = server.reload()
        guard case .reloaded(_, let version) = outcomes.first else {
            Issue.record("reload failed: \(outcomes)")
            return
        }
        #expect(version == 2)
        let after = try connection.request(method: "POST", target: "/predict", body: body)
        #expect(after.json?["model_version"] == .number(2))
        #expect(after.json?["probabilities"] != before.json?["probabilities"])

        try Data([1, 2, 3, 4, 5, 6, 7, 8, 9]).write(to: URL(fileURLWithPath: path))
        guard case .kept = server.reload().first else {
            Issue.record("corrupt file replaced the model")
            return
        }
        let kept = try connection.request(method: "POST", target: "/predict", body: body)
        #expect(kept.status == 200 && kept.body == after.body)
    }
}
