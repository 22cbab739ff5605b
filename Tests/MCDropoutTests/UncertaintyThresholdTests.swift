import MCDropout
import MCDropoutJSON
import Testing

@Suite("Uncertainty thresholds in model metadata")
struct UncertaintyThresholdTests {
    func model() -> ModelFile {
        var generator = RandomSource(seed: 9)
        let network = DropoutMLP(
            layerSizes: [4, 3, 2], dropoutProbabilities: [0, 0.5], initialization: .he, using: &generator)
        let metadata = ModelMetadata(
            layerSizes: [4, 3, 2], dropoutProbabilities: [0, 0.5], labels: ["a", "b"], dataset: "toy", seed: 9,
            extensions: JSONObject([("notes", .string("kept"))]))
        return ModelFile(model: network, metadata: metadata)
    }

    @Test("a stored threshold round-trips, other extensions stay, tensors are byte-identical")
    func roundTrip() throws {
        let original = model()
        let bytes = original.encoded()
        var file = try ModelFile(decoding: bytes)
        #expect(file.encoded() == bytes)
        #expect(try file.metadata.uncertaintyThreshold() == nil)
        let threshold = UncertaintyThreshold(
            score: .predictiveEntropy, value: 0.125, targetAccuracy: 0.995, coverage: 0.97, sampleCount: 100)
        file.metadata.setUncertaintyThreshold(threshold)
        let rewritten = file.encoded()
        let decoded = try ModelFile(decoding: rewritten)
        #expect(try decoded.metadata.uncertaintyThreshold() == threshold)
        #expect(decoded.metadata.extensions["notes"] == .string("kept"))
        #expect(decoded.model == original.model)
        // The tensor bytes (everything after the header) are unchanged.
        let tensorBytes = 4 * original.model.parameterCount
        #expect(Array(rewritten.suffix(tensorBytes)) == Array(bytes.suffix(tensorBytes)))
        // Replacing keeps one entry; removing restores the original bytes.
        file.metadata.setUncertaintyThreshold(UncertaintyThreshold(score: .mutualInformation, value: 0.01))
        #expect(file.metadata.extensions.keys.filter { $0 == "uncertainty" }.count == 1)
        file.metadata.setUncertaintyThreshold(nil)
        #expect(file.encoded() == bytes)
    }

    @Test("scores: higher is more uncertain; the flag is score > threshold")
    func scores() {
        let summary = PredictiveSummary(passProbabilities: Matrix(rows: 2, columns: 2, storage: [0.9, 0.1, 0.5, 0.5]))
        // Mean [0.7, 0.3]; variance per class 0.04 → sum 0.08.
        #expect(abs(UncertaintyScore.maxProbability.value(of: summary) - 0.3) < 1e-6)
        #expect(abs(UncertaintyScore.totalVariance.value(of: summary) - 0.08) < 1e-6)
        #expect(UncertaintyThreshold(score: .maxProbability, value: 0.29).isUncertain(summary))
        #expect(!UncertaintyThreshold(score: .maxProbability, value: 0.31).isUncertain(summary))
    }

    @Test("a malformed threshold is a typed metadata error")
    func malformed() {
        #expect(throws: ModelFileError.self) {
            try UncertaintyThreshold(
                decoding: .object(JSONObject([("score", .string("vibes")), ("threshold", .number(1))])))
        }
        #expect(throws: ModelFileError.self) {
            try UncertaintyThreshold(decoding: .object(JSONObject([("score", .string("predictive_entropy"))])))
        }
    }
}
