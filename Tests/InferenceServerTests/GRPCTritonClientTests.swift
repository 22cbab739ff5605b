import Foundation
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
