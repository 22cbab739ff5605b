import Foundation
import GRPCTransport
import InferenceServer
import MCDropoutJSON
import TestSupport
import Testing

/// Runs Tests/python/tritonclient_grpc_check.py against `port` and returns the JSON it prints.
func runGRPCCheck(port: Int, model: String, scenario: String, _ arguments: [String] = []) throws -> JSONValue {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("python/tritonclient_grpc_check.py")
    let client = try ChildProcess(
        URL(fileURLWithPath: testPython!), [script.path, "127.0.0.1:\(port)", model, scenario] + arguments)
    #expect(client.exits(within: .seconds(120)))
    #expect(client.status == 0, "\(scenario): \(client.standardError)")
    return try JSONParser.parse(client.standardOutput)
}

@Suite(
    "KServe V2 over gRPC through the official tritonclient.grpc",
    .enabled(if: testPython != nil, "needs MCDROPOUT_PYTHON with tritonclient[grpc]"))
struct GRPCTritonClientTests {
    @Test("live, ready, model ready and metadata answer as over HTTP; an unknown model is NOT_FOUND")
    func health() throws {
        let server = try startServer(paths: [try writeSyntheticModel(name: "digits")])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let port = try #require(server.grpcPort)
        #expect(port > 0 && port != server.port)
        let result = try runGRPCCheck(port: port, model: "digits", scenario: "health")
        #expect(result["live"] == .bool(true) && result["ready"] == .bool(true))
        #expect(result["model_ready"] == .bool(true) && result["unknown_model_ready"] == .bool(false))
        #expect(result["server"]?["name"] == .string("mcdropout"))
        #expect(result["server"]?["version"] == .string(serverVersion))
        #expect(
            result["server"]?["extensions"]?.arrayValue
                == ["binary_tensor_data", "model_configuration", "statistics", "model_repository"].map(JSONValue.string)
        )
        let model = result["model"]
        #expect(model?["name"] == .string("digits") && model?["platform"] == .string("mcdropout"))
        #expect(model?["versions"] == .array([.string("1")]))
        // Shapes are int64 in the proto, which protobuf's JSON form prints as strings.
        #expect(model?["inputs"]?[0]?["name"] == .string("pixels"))
        #expect(model?["inputs"]?[0]?["shape"] == .array([.string("-1"), .string("784")]))
        let outputs = model?["outputs"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(outputs.prefix(2) == ["probabilities", "variance"] && outputs.contains("prediction"))
        #expect(result["unknown_model_metadata"]?["status"] == .string("StatusCode.NOT_FOUND"))
        #expect(result["unknown_model_metadata"]?["message"]?.stringValue?.contains("not loaded") == true)
        #expect(result["wrong_version_metadata"]?["status"] == .string("StatusCode.NOT_FOUND"))
    }

    @Test("a reload (SIGHUP) reaches gRPC too: metadata then reports the new version")
    func reload() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("reload-\(UUID().uuidString)")
        let server = try startServer(paths: [try writeSyntheticModel(name: "digits", seed: 1, directory: directory)])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let port = try #require(server.grpcPort)
        #expect(
            try runGRPCCheck(port: port, model: "digits", scenario: "health")["model"]?["versions"]
                == .array([.string("1")]))
        _ = try writeSyntheticModel(name: "digits", seed: 2, directory: directory)
        guard case .reloaded(_, let version) = server.reload().first else {
            Issue.record("reload failed")
            return
        }
        #expect(version == 2)
        #expect(
            try runGRPCCheck(port: port, model: "digits", scenario: "health")["model"]?["versions"]
                == .array([.string("2")]))
    }

    @Test("gRPC can be turned off, and calls are counted per method on /metrics")
    func offAndMetrics() throws {
        let off = try startServer(paths: [try writeSyntheticModel(name: "digits")]) { $0.grpcPort = .off }
        #expect(off.grpcPort == nil)
        off.shutdown(drainTimeout: .seconds(1))

        let server = try startServer(paths: [try writeSyntheticModel(name: "digits")])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        _ = try runGRPCCheck(port: try #require(server.grpcPort), model: "digits", scenario: "health")
        let metrics = try RawHTTPConnection(port: server.port).request(target: "/metrics")
        let text = String(decoding: metrics.body, as: UTF8.self)
        #expect(text.contains(#"mcdropout_grpc_requests_total{method="ServerLive",code="OK"} 1"#))
        #expect(text.contains(#"mcdropout_grpc_requests_total{method="ModelMetadata",code="NOT_FOUND"} 2"#))
        #expect(text.contains(#"mcdropout_grpc_request_duration_seconds_count{method="ModelReady"} 2"#))
    }
}

@Suite(
    "ModelInfer over gRPC through tritonclient.grpc",
    .enabled(if: testPython != nil, "needs MCDROPOUT_PYTHON with tritonclient[grpc]"))
struct GRPCInferTests {
    /// Two test images as the JSON file the script reads.
    func writeInputs() throws -> (inputs: [[Int]], path: String) {
        let inputs = [testPixels(seed: 1), testPixels(seed: 2)]
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("grpc-\(UUID().uuidString).json")
        try Data("[\(inputs.map(pixelsJSON).joined(separator: ","))]".utf8).write(to: url)
        return (inputs, url.path)
    }

    @Test("FP32 and UINT8 (raw contents) and typed fp32_contents give HTTP V2's answers for the same seed")
    func infer() throws {
        let server = try startServer(paths: [try writeSyntheticModel(name: "mnist")])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let (inputs, path) = try writeInputs()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try runGRPCCheck(port: try #require(server.grpcPort), model: "mnist", scenario: "infer", [path])

        let body =
            #"{"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [2, 784], "data": "#
            + "[\(inputs.map(pixelsJSON).joined(separator: ","))]}], "
            + #""parameters": {"samples": 50, "seed": 3, "uncertainty_threshold": 2}}"#
        let http = try RawHTTPConnection(port: server.port).request(
            method: "POST", target: "/v2/models/mnist/infer", body: Array(body.utf8))
        #expect(http.status == 200)
        func httpOutput(_ name: String) -> [JSONValue] {
            http.json?["outputs"]?.arrayValue?.first { $0["name"] == .string(name) }?["data"]?.arrayValue ?? []
        }
        let probabilities = httpOutput("probabilities").compactMap(\.doubleValue).map(Float.init)
        #expect(probabilities.count == 20)
        for mode in ["fp32", "uint8"] {
            let outputs = result[mode]?["outputs"]
            let rows = outputs?["probabilities"]?.arrayValue ?? []
            let grpc = rows.flatMap { $0.arrayValue ?? [] }.compactMap(\.doubleValue).map(Float.init)
            #expect(grpc == probabilities, "\(mode)")
            #expect(outputs?["prediction"]?.arrayValue == httpOutput("prediction"), "\(mode)")
            #expect(outputs?["uncertain"]?.arrayValue == httpOutput("uncertain"), "\(mode)")
            let entropy = outputs?["predictive_entropy"]?.arrayValue?.compactMap(\.doubleValue).map(Float.init)
            #expect(entropy == httpOutput("predictive_entropy").compactMap(\.doubleValue).map(Float.init))
            #expect(result[mode]?["dtypes"]?["prediction"] == .string("int64"))
            #expect(result[mode]?["dtypes"]?["uncertain"] == .string("bool"))
            #expect(result[mode]?["shapes"]?["probabilities"] == .array([.number(2), .number(10)]))
            #expect(result[mode]?["shapes"]?["uncertainty_triggered"] == .array([.number(2), .number(1)]))
            #expect(result[mode]?["id"] == .string("id-\(mode)"))
            let parameters = result[mode]?["parameters"]
            #expect(parameters?["samples"]?["int64_param"] == .string("50"))
            #expect(parameters?["seed"]?["int64_param"] == .string("3"))
            #expect(parameters?["uncertainty_score"]?["string_param"] == .string("predictive_entropy"))
            #expect(parameters?["uncertainty_threshold"]?["double_param"] == .number(2))
            let names = http.json?["outputs"]?.arrayValue?.compactMap { $0["name"] } ?? []
            #expect(result[mode]?["output_names"]?.arrayValue == names)
            #expect(
                result[mode]?["triggered_scores"]?[0]?["scores"]?["string_param"] == .string("predictive_entropy"))
        }
        // Typed contents (no threshold: the same seed gives the same probabilities).
        let typed = result["fp32_contents"]?.arrayValue?.flatMap { $0.arrayValue ?? [] }.compactMap(\.doubleValue)
        #expect(typed?.map(Float.init) == probabilities)
        #expect(result["requested"]?["names"] == .array([.string("mutual_information"), .string("prediction")]))
        #expect(result["requested"]?["prediction"]?.arrayValue == httpOutput("prediction"))
        // The drift metrics count gRPC predictions as HTTP ones: four gRPC calls and one HTTP request of two inputs.
        let metrics = try RawHTTPConnection(port: server.port).request(target: "/metrics")
        let predictions = String(decoding: metrics.body, as: UTF8.self).split(separator: "\n")
            .filter { $0.hasPrefix(#"mcdropout_predictions_total{model="mnist""#) }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }
        #expect(predictions.reduce(0, +) == 10)
    }

    @Test("bad requests get the status code that says whose fault it is, with HTTP V2's message")
    func errors() throws {
        let server = try startServer(paths: [try writeSyntheticModel(name: "mnist")])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let (_, path) = try writeInputs()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try runGRPCCheck(port: try #require(server.grpcPort), model: "mnist", scenario: "errors", [path])
        let expected: [(String, String, String)] = [
            ("unknown_model", "NOT_FOUND", "is not loaded"),
            ("unknown_input", "INVALID_ARGUMENT", "unknown input 'image'"),
            ("bad_shape", "INVALID_ARGUMENT", "has shape [2, 100]"),
            ("bad_datatype", "INVALID_ARGUMENT", "datatype FP64"),
            ("pixel_range", "INVALID_ARGUMENT", "pixel values must be from 0 to 255"),
            ("samples_over_limit", "RESOURCE_EXHAUSTED", "must be from 1 to 10000"),
            ("seed_not_integer", "INVALID_ARGUMENT", "'parameters.seed'"),
            ("unknown_output", "INVALID_ARGUMENT", "unknown output 'logits'"),
            ("batch_over_limit", "RESOURCE_EXHAUSTED", "exceeds the limit of 256"),
            ("message_too_large", "RESOURCE_EXHAUSTED", "larger than max"),
        ]
        for (name, status, message) in expected {
            let answer = result[name]
            #expect(answer?["status"] == .string("StatusCode.\(status)"), "\(name): \(String(describing: answer))")
            #expect(result[name]?["message"]?.stringValue?.contains(message) == true, "\(name)")
        }
    }

    @Test("with API keys, ModelInfer needs 'authorization: Bearer <key>' metadata; metadata stays open")
    func authentication() throws {
        let key = "grpc-test-key-0123456789"
        let server = try startServer(paths: [try writeSyntheticModel(name: "mnist")]) { $0.apiKeys = [key] }
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let result = try runGRPCCheck(port: try #require(server.grpcPort), model: "mnist", scenario: "auth", [key])
        #expect(result["missing"]?["status"] == .string("StatusCode.UNAUTHENTICATED"))
        #expect(result["missing"]?["message"]?.stringValue?.contains("missing API key") == true)
        #expect(result["wrong"]?["status"] == .string("StatusCode.UNAUTHENTICATED"))
        #expect(result["right_shape"] == .array([.number(1), .number(10)]))
        #expect(result["metadata_without_key"] == .string("mnist"))
    }

    @Test("a graceful stop lets a call in flight finish; afterwards calls are UNAVAILABLE")
    func drain() throws {
        let server = try startServer(paths: [try writeSyntheticModel(name: "mnist")])
        let port = try #require(server.grpcPort)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("python/tritonclient_grpc_check.py")
        let client = try ChildProcess(
            URL(fileURLWithPath: testPython!), [script.path, "127.0.0.1:\(port)", "mnist", "drain"])
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        while server.grpc?.inFlightCallCount == 0, ContinuousClock.now < deadline { usleep(2000) }
        #expect(server.grpc?.inFlightCallCount == 1)
        server.shutdown(drainTimeout: .seconds(60))
        #expect(client.exits(within: .seconds(60)))
        #expect(client.status == 0, "\(client.standardError)")
        let result = try JSONParser.parse(client.standardOutput)
        #expect(result["in_flight"] == .array([.number(64), .number(10)]))
        #expect(result["after"]?["status"] == .string("StatusCode.UNAVAILABLE"))
    }
}
