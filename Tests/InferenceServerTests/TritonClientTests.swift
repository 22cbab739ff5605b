import Foundation
import InferenceServer
import MCDropoutJSON
import TestSupport
import Testing

/// The test environment's Python (scripts/test.sh sets MCDROPOUT_PYTHON to the venv with tritonclient installed).
let testPython = ProcessInfo.processInfo.environment["MCDROPOUT_PYTHON"]

@Suite(
    "KServe V2 through the official tritonclient",
    .enabled(if: testPython != nil, "needs MCDROPOUT_PYTHON with tritonclient"))
struct TritonClientTests {
    @Test(
        "tritonclient.http infers with binary and JSON tensors (and the BOOL 'uncertain' output) and matches /predict")
    func tritonclient() throws {
        let server = try startServer(paths: [try writeSyntheticModel(name: "mnist")])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let inputs = [testPixels(seed: 1), testPixels(seed: 2)]
        let inputsURL = FileManager.default.temporaryDirectory.appendingPathComponent(
            "triton-\(UUID().uuidString).json")
        try Data("[\(inputs.map(pixelsJSON).joined(separator: ","))]".utf8).write(to: inputsURL)
        defer { try? FileManager.default.removeItem(at: inputsURL) }

        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("python/tritonclient_check.py")
        let client = try ChildProcess(
            URL(fileURLWithPath: testPython!), [script.path, "127.0.0.1:\(server.port)", "mnist", inputsURL.path])
        #expect(client.exits(within: .seconds(120)))
        #expect(client.status == 0, "\(client.standardError)")
        let data = client.standardOutput
        let results = try JSONParser.parse(data)

        let connection = try RawHTTPConnection(port: server.port)
        for (index, pixels) in inputs.enumerated() {
            let single = try connection.request(
                method: "POST", target: "/predict",
                body: Array(
                    #"{"pixels": \#(pixelsJSON(pixels)), "samples": 50, "seed": 3, "uncertainty_threshold": 2}"#.utf8))
            #expect(single.json?["uncertain"]?.boolValue != nil)
            let expected = single.json?["probabilities"]?.arrayValue?.compactMap(\.doubleValue).map(Float.init) ?? []
            for mode in ["fp32_binary", "fp32_json", "uint8_binary"] {
                let row =
                    results[mode]?["probabilities"]?[index]?.arrayValue?.compactMap(\.doubleValue).map(Float.init) ?? []
                #expect(row == expected, "\(mode) row \(index)")
                #expect(
                    results[mode]?["prediction"]?[index]?.doubleValue.map(Int.init)
                        == single.json?["prediction"]?.doubleValue.map(Int.init))
                #expect(results[mode]?["uncertain"]?[index] == single.json?["uncertain"], "\(mode) row \(index)")
            }
        }
        #expect(results["unknown_model_error"]?.stringValue?.contains("not loaded") == true)
        // Statistics: three infer requests of two inputs each ran; the unknown model's request is not this model's.
        let statistics = results["statistics"]
        #expect(statistics?["inference_count"] == .number(6))
        #expect(statistics?["execution_count"] == .number(3))
        #expect(statistics?["inference_stats"]?["success"]?["count"] == .number(3))
        #expect((statistics?["inference_stats"]?["success"]?["ns"]?.doubleValue ?? 0) > 0)
        #expect((statistics?["last_inference"]?.doubleValue ?? 0) > 1.7e12)
        #expect(results["load_error"]?.stringValue?.contains("explicit model control is not supported") == true)
        #expect(results["unload_error"]?.stringValue?.contains("explicit model control is not supported") == true)
    }
}
