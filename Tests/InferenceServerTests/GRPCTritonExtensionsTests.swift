import Foundation
import InferenceServer
import MCDropoutJSON
import Testing

/// Triton's extension RPCs over gRPC (model configuration, statistics, repository index, refused model control),
/// through tritonclient.grpc as `TritonClientTests` drives them through tritonclient.http, and the RPCs the server
/// does not serve.
@Suite(
    "Triton's extensions over gRPC through tritonclient.grpc",
    .enabled(if: testPython != nil, "needs MCDROPOUT_PYTHON with tritonclient[grpc]"))
struct GRPCTritonExtensionsTests {
    @Test("configuration, statistics, index and refused load/unload answer as over HTTP, with gRPC status codes")
    func extensions() throws {
        let server = try startServer(paths: [try writeSyntheticModel(name: "mnist")])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let inputs = [testPixels(seed: 1), testPixels(seed: 2)]
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("grpc-\(UUID().uuidString).json")
        try Data("[\(inputs.map(pixelsJSON).joined(separator: ","))]".utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let result = try runGRPCCheck(
            port: try #require(server.grpcPort), model: "mnist", scenario: "extensions", [url.path])

        let configuration = result["config"]
        #expect(configuration?["max_batch_size"] == .number(256))
        #expect(configuration?["platform"] == .string("mcdropout") && configuration?["backend"] == .string("mcdropout"))
        #expect(configuration?["version_policy"]?["latest"]?["num_versions"] == .number(1))
        let outputs = configuration?["output"]?.arrayValue ?? []
        #expect(outputs.first { $0["name"] == .string("variance") }?["dims"] == .array([.number(10)]))
        let information = outputs.first { $0["name"] == .string("mutual_information") }
        #expect(information?["data_type"] == .string("TYPE_FP32") && information?["dims"] == .array([.number(1)]))
        #expect(configuration?["parameters"]?["max_samples"]?["string_value"] == .string("10000"))
        // Three requests of two inputs each ran; the unknown model's request is not this model's.
        let statistics = result["statistics"]
        #expect(statistics?["name"] == .string("mnist") && statistics?["version"] == .string("1"))
        #expect(statistics?["inference_count"] == .number(6))
        #expect(statistics?["execution_count"] == .number(3))
        #expect(statistics?["inference_stats"]?["success"]?["count"] == .number(3))
        #expect((statistics?["inference_stats"]?["success"]?["ns"]?.doubleValue ?? 0) > 0)
        #expect(statistics?["inference_stats"]?["fail"]?["count"] == .number(0))
        #expect((statistics?["last_inference"]?.doubleValue ?? 0) > 1.7e12)

        let expected: [(String, String, String)] = [
            ("unknown_model_infer", "NOT_FOUND", "not loaded"),
            ("load_error", "INVALID_ARGUMENT", "explicit model control is not supported"),
            ("unload_error", "INVALID_ARGUMENT", "send SIGHUP to reload it"),
            ("unknown_model_config", "NOT_FOUND", "not loaded"),
            ("wrong_version_config", "NOT_FOUND", "version"),
            ("unknown_model_statistics", "NOT_FOUND", "not loaded"),
            ("wrong_version_statistics", "NOT_FOUND", "version"),
            ("named_repository", "UNIMPLEMENTED", "'repository_name' is not supported"),
            ("malformed_request", "INVALID_ARGUMENT", "malformed protobuf message"),
        ]
        for (name, status, message) in expected {
            #expect(
                result[name]?["status"] == .string("StatusCode.\(status)"),
                "\(name): \(String(describing: result[name]))")
            #expect(
                result[name]?["message"]?.stringValue?.contains(message) == true,
                "\(name): \(String(describing: result[name]))")
        }
    }

    @Test("both protocols answer the same metadata, configuration, statistics (of each model and of all) and index")
    func sameDataOverBothProtocols() throws {
        let server = try startServer(paths: [try writeSyntheticModel(name: "a"), try writeSyntheticModel(name: "b")])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let connection = try RawHTTPConnection(port: server.port)
        let pixels = pixelsJSON(testPixels())
        let tensor = #"{"name": "pixels", "shape": [2, 784], "datatype": "FP32", "data": [\#(pixels), \#(pixels)]}"#
        let infer = #"{"inputs": [\#(tensor)]}"#
        #expect(
            try connection.request(method: "POST", target: "/v2/models/a/infer", body: Array(infer.utf8)).status == 200)
        let wrongShape = #"{"inputs": [{"name": "pixels", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}"#
        #expect(
            try connection.request(method: "POST", target: "/v2/models/a/infer", body: Array(wrongShape.utf8)).status
                == 400)

        let result = try runGRPCCheck(
            port: try #require(server.grpcPort), model: "a", scenario: "compare", ["127.0.0.1:\(server.port)"])
        #expect(result["names"] == .array([.string("a"), .string("b")]))
        // The one thing gRPC cannot say: HTTP metadata's `parameters` (labels, dropout…) have no proto field.
        #expect(result["http_only_metadata"] == .array([.string("parameters")]))
        for key in ["server_metadata", "model_metadata", "config", "statistics", "all_statistics", "index"] {
            #expect(
                result["differences"]?[key] == .array([]), "\(key): \(String(describing: result["differences"]?[key]))")
        }
        // The data compared is not trivially empty: model a's counters moved, and both configurations are there.
        let statistics = result["answers"]?["statistics"]?[0]?[1]?["model_stats"]?[0]
        #expect(statistics?["inference_count"] == .number(2))
        #expect(statistics?["inference_stats"]?["fail"]?["count"] == .number(1))
        #expect(result["answers"]?["all_statistics"]?[1]?["model_stats"]?.arrayValue?.count == 2)
        #expect(result["answers"]?["config"]?[1]?[1]?["output"]?.arrayValue?.isEmpty == false)
        #expect(result["answers"]?["index"]?[1]?.arrayValue?.count == 2)
    }

    @Test("RPCs of Triton's service the server does not serve end at once with UNIMPLEMENTED, streaming too")
    func unimplemented() throws {
        let server = try startServer(paths: [try writeSyntheticModel(name: "mnist")])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let result = try runGRPCCheck(port: try #require(server.grpcPort), model: "mnist", scenario: "unimplemented")
        let methods = [
            "CudaSharedMemoryStatus", "SystemSharedMemoryStatus", "SystemSharedMemoryRegister",
            "SystemSharedMemoryUnregister", "TraceSetting", "LogSettings", "UpdateLogSettings", "ModelStreamInfer",
        ]
        for method in methods {
            #expect(
                result[method]?["status"] == .string("StatusCode.UNIMPLEMENTED"),
                "\(method): \(String(describing: result[method]))")
            #expect(result[method]?["message"]?.stringValue?.contains("not served") == true, "\(method)")
        }
        #expect(result["live_after"] == .bool(true))
    }

    @Test(
        "with keys on every route, the extension RPCs need the key as their HTTP routes do; model control stays refused"
    )
    func authenticationOnEveryRoute() throws {
        let key = "grpc-test-key-0123456789"
        let server = try startServer(paths: [try writeSyntheticModel(name: "mnist")]) {
            $0.apiKeys = [key]
            $0.requiresKeyForAllRoutes = true
        }
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let result = try runGRPCCheck(port: try #require(server.grpcPort), model: "mnist", scenario: "auth_all", [key])
        for name in ["config_without_key", "statistics_without_key", "index_without_key"] {
            #expect(result[name]?["status"] == .string("StatusCode.UNAUTHENTICATED"), "\(name)")
        }
        #expect(result["config_with_key"] == .string("mnist"))
        #expect(result["statistics_with_key"] == .number(1) && result["index_with_key"] == .number(1))
        #expect(result["load_with_key"]?["status"] == .string("StatusCode.INVALID_ARGUMENT"))
    }
}
