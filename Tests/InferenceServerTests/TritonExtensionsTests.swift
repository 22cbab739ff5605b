import Foundation
import InferenceServer
import MCDropoutJSON
import Testing

/// Triton's extensions beyond infer over real HTTP: model configuration, statistics, the read-only repository index,
/// and a clear refusal of model control. (`TritonClientTests` drives the same routes through tritonclient.)
@Suite("Triton extensions: configuration, statistics, repository index")
struct TritonExtensionsTests {
    @Test("statistics count /predict and V2 requests per model, and V2 requests refused after the model was found")
    func statistics() throws {
        let server = try startServer(paths: [try writeSyntheticModel(name: "a"), try writeSyntheticModel(name: "b")])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let connection = try RawHTTPConnection(port: server.port)
        let extensions = try connection.request(target: "/v2").json?["extensions"]?.arrayValue ?? []
        for name in ["binary_tensor_data", "model_configuration", "statistics", "model_repository"] {
            #expect(extensions.contains(.string(name)))
        }
        let pixels = pixelsJSON(testPixels())
        let batch = #"{"model": "a", "instances": [\#(pixels), \#(pixels)], "samples": 5, "seed": 1}"#
        #expect(try connection.request(method: "POST", target: "/predict", body: Array(batch.utf8)).status == 200)
        let infer = #"{"inputs": [{"name": "pixels", "shape": [1, 784], "datatype": "FP32", "data": \#(pixels)}]}"#
        #expect(
            try connection.request(method: "POST", target: "/v2/models/a/infer", body: Array(infer.utf8)).status == 200)
        let wrongShape = #"{"inputs": [{"name": "pixels", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}"#
        #expect(
            try connection.request(method: "POST", target: "/v2/models/a/infer", body: Array(wrongShape.utf8)).status
                == 400)

        let one = try #require(try connection.request(target: "/v2/models/a/stats").json?["model_stats"]?[0])
        #expect(one["name"] == .string("a"))
        #expect(one["inference_count"] == .number(3))
        #expect(one["execution_count"] == .number(2))
        #expect(one["inference_stats"]?["success"]?["count"] == .number(2))
        #expect(one["inference_stats"]?["fail"]?["count"] == .number(1))
        let versioned = try connection.request(target: "/v2/models/a/versions/1/stats")
        #expect(versioned.json?["model_stats"]?[0]?["inference_count"] == .number(3))
        let all = try connection.request(target: "/v2/models/stats").json?["model_stats"]?.arrayValue ?? []
        #expect(all.map { $0["name"] } == [.string("a"), .string("b")])
        #expect(all.last?["inference_count"] == .number(0))
        #expect(try connection.request(target: "/v2/models/nope/stats").status == 404)
    }

    @Test("model configuration, repository index, refused model control, and their errors")
    func configurationAndRepository() throws {
        let server = try startServer(paths: [try writeSyntheticModel(name: "m")])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let connection = try RawHTTPConnection(port: server.port)
        let configuration = try #require(try connection.request(target: "/v2/models/m/config").json)
        #expect(configuration["name"] == .string("m"))
        #expect(configuration["max_batch_size"] == .number(256))
        #expect(configuration["input"]?[0]?["dims"] == .array([.number(784)]))
        let outputs = configuration["output"]?.arrayValue ?? []
        #expect(outputs.first { $0["name"] == .string("variance") }?["dims"] == .array([.number(10)]))
        #expect(outputs.first { $0["name"] == .string("prediction") }?["data_type"] == .string("TYPE_INT64"))
        #expect(try connection.request(target: "/v2/models/nope/config").status == 404)

        for body in ["", "{}", #"{"ready": true}"#] {
            let index = try connection.request(method: "POST", target: "/v2/repository/index", body: Array(body.utf8))
            #expect(index.status == 200)
            #expect(index.json == .array([["name": "m", "version": "1", "state": "READY"]]))
        }
        let bad = try connection.request(method: "POST", target: "/v2/repository/index", body: Array("[1]".utf8))
        #expect(bad.status == 400)
        #expect(bad.json?["error"]?.stringValue != nil)
        for action in ["load", "unload"] {
            let refused = try connection.request(method: "POST", target: "/v2/repository/models/m/\(action)")
            #expect(refused.status == 400)
            #expect(refused.json?["error"]?.stringValue?.contains("SIGHUP") == true)
        }
        #expect(try connection.request(target: "/v2/repository/index").status == 405)
        let metrics = try connection.request(target: "/metrics").text
        #expect(metrics.contains(#"route="/v2/repository""#))
    }
}
