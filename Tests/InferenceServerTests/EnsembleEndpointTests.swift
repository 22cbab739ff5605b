import Foundation
import HTTPTransport
import MCDropout
import MCDropoutJSON
import Testing

@testable import InferenceServer

/// A deep ensemble served over /predict, V2 and /health.
@Suite("Deep ensembles over the endpoints")
struct EnsembleEndpointTests {
    let members: [DropoutMLP]
    let service: InferenceService

    /// Two random 784-16-10 networks (seeds 1 and 2) in one file, and a single-network model beside it.
    init() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mcd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        members = (UInt64(1)...2).map { seed in
            var generator = RandomSource(seed: seed)
            return DropoutMLP(
                layerSizes: [784, 16, 10], dropoutProbabilities: [0, 0.5], initialization: .he, using: &generator)
        }
        let metadata = ModelMetadata(
            layerSizes: [784, 16, 10], dropoutProbabilities: [0, 0.5], labels: (0..<10).map { "class \($0)" },
            dataset: "synthetic", seed: 1, inputScale: 255, inputShape: [28, 28])
        let path = folder.appendingPathComponent("pair.safetensors").path
        try Data(ModelFile(members: members, metadata: metadata).encoded()).write(to: URL(fileURLWithPath: path))
        service = try makeService(paths: [path, try writeSyntheticModel(name: "single", directory: folder)])
    }

    @Test("/predict spreads the passes over both members: the engine's ensemble answer, same seed → same bytes")
    func predict() throws {
        let pixels = testPixels()
        let body = jsonBody(#"{"pixels": \#(pixelsJSON(pixels)), "samples": 10, "seed": 7, "model": "pair"}"#)
        let first = service.handle(HTTPRequest(method: "POST", path: "/predict", body: body))
        let second = service.handle(HTTPRequest(method: "POST", path: "/predict", body: body))
        #expect(first.status == 200 && first.body == second.body)
        let expected = MonteCarloPredictor(members: members)
            .predict(pixels.map { Float($0) / 255 }, sampleCount: 10, seed: 7)
        let probabilities = first.json?["probabilities"]?.arrayValue?.compactMap(\.doubleValue) ?? []
        #expect(probabilities.count == 10)
        for (value, reference) in zip(probabilities, expected.meanProbabilities) {
            #expect(abs(value - Double(reference)) < 1e-6)
        }
        // Member 0 alone would answer differently: the second member's passes count.
        let alone = MonteCarloPredictor(model: members[0])
            .predict(pixels.map { Float($0) / 255 }, sampleCount: 10, seed: 7)
        #expect(alone.meanProbabilities != expected.meanProbabilities)
        // V2 gives the same numbers for the same seed and N.
        let request =
            #"{"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 784], "data": \#(pixelsJSON(pixels))}], "#
            + #""parameters": {"samples": 10, "seed": 7}, "outputs": [{"name": "probabilities"}]}"#
        let v2 = service.handle(HTTPRequest(method: "POST", path: "/v2/models/pair/infer", body: jsonBody(request)))
        let data = v2.json?["outputs"]?.arrayValue?.first?["data"]?.arrayValue?.compactMap(\.doubleValue) ?? []
        #expect(data.count == 10)
        for (value, reference) in zip(data, expected.meanProbabilities) {
            #expect(abs(value - Double(reference)) < 1e-6)
        }
    }

    @Test("/health and V2 metadata report the members")
    func metadata() throws {
        let health = service.handle(HTTPRequest(method: "GET", path: "/health")).json
        let models = health?["models"]?.arrayValue ?? []
        let members = Dictionary(
            uniqueKeysWithValues: models.compactMap { model in
                model["name"]?.stringValue.map { ($0, model["members"]?.doubleValue ?? 0) }
            })
        #expect(members == ["pair": 2, "single": 1])
        let pair = service.handle(HTTPRequest(method: "GET", path: "/v2/models/pair")).json
        #expect(pair?["parameters"]?["members"] == .number(2))
        let single = service.handle(HTTPRequest(method: "GET", path: "/v2/models/single")).json
        #expect(single?["parameters"]?["members"] == .number(1))
    }
}
