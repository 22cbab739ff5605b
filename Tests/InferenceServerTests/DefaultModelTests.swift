import Foundation
import InferenceServer
import MCDropoutJSON
import Testing

/// The repository root, from this file's location.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

@Suite("The committed default model on the shipped example digits")
struct DefaultModelTests {
    @Test("each example digit is predicted as its true label, with sane uncertainty, over real HTTP")
    func examples() throws {
        let model = repositoryRoot.appendingPathComponent("models/mnist.safetensors").path
        let server = try startServer(paths: [model])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let connection = try RawHTTPConnection(port: server.port)
        let files = try FileManager.default.contentsOfDirectory(
            atPath: repositoryRoot.appendingPathComponent("examples").path
        )
        .filter { $0.hasPrefix("mnist-test-") }
        #expect(files.count >= 5)
        for file in files {
            let label = Int(file.split(separator: "-").last!.split(separator: ".").first!)!
            let body = try [UInt8](Data(contentsOf: repositoryRoot.appendingPathComponent("examples/\(file)")))
            let response = try connection.request(method: "POST", target: "/predict", body: body)
            #expect(response.status == 200)
            let json = try #require(response.json)
            #expect(json["prediction"]?.doubleValue == Double(label), "\(file)")
            #expect(json["label"] == .string(String(label)))
            let probabilities = json["probabilities"]?.arrayValue?.compactMap(\.doubleValue) ?? []
            #expect(abs(probabilities.reduce(0, +) - 1) < 1e-5)
            let entropy = json["predictive_entropy"]?.doubleValue ?? -1
            let information = json["mutual_information"]?.doubleValue ?? -1
            #expect(0 <= information && information <= entropy && entropy <= log(10.0))
        }
        let batch = try connection.request(
            method: "POST", target: "/predict",
            body: [UInt8](
                Data(contentsOf: repositoryRoot.appendingPathComponent("examples/mnist-batch-test-0000-0007.json"))))
        let predictions = batch.json?["predictions"]?.arrayValue?.compactMap { $0["prediction"]?.doubleValue } ?? []
        #expect(predictions == [7, 2, 1, 0, 4, 1, 4, 9])
    }

    @Test("noise far from any digit is more uncertain than a clean digit")
    func noiseIsUncertain() throws {
        let server = try startServer(paths: [repositoryRoot.appendingPathComponent("models/mnist.safetensors").path])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let connection = try RawHTTPConnection(port: server.port)
        let digit = try [UInt8](
            Data(contentsOf: repositoryRoot.appendingPathComponent("examples/mnist-test-0000-label-7.json")))
        let clean = try connection.request(method: "POST", target: "/predict", body: digit)
        let noise = try connection.request(
            method: "POST", target: "/predict",
            body: Array(#"{"pixels": \#(pixelsJSON(testPixels(seed: 9))), "seed": 42}"#.utf8))
        let cleanInformation = clean.json?["mutual_information"]?.doubleValue ?? 1
        let noiseInformation = noise.json?["mutual_information"]?.doubleValue ?? 0
        #expect(noiseInformation > 5 * cleanInformation)
        #expect(
            (noise.json?["predictive_entropy"]?.doubleValue ?? 0)
                > (clean.json?["predictive_entropy"]?.doubleValue ?? 1))
    }
}
