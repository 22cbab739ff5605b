/// The score's name (`"max_probability"`, …) is its coding form, in values and as a dictionary key, so evaluation
/// results can key their per-score tables by ``UncertaintyScore`` and a misspelt score fails to compile.
extension UncertaintyScore: Codable, CodingKeyRepresentable {}

/// The same object as ``UncertaintyThreshold/jsonValue`` (`score`, `threshold`, optional `target_accuracy`,
/// `coverage`, `samples`), so an evaluation result's recommended threshold and the model metadata share one schema.
extension UncertaintyThreshold: Codable {
    enum CodingKeys: String, CodingKey {
        case score
        case value = "threshold"
        case targetAccuracy = "target_accuracy"
        case coverage
        case sampleCount = "samples"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let value = try container.decode(Double.self, forKey: .value)
        guard value.isFinite else {
            throw DecodingError.dataCorruptedError(
                forKey: .value, in: container, debugDescription: "the threshold must be a finite number")
        }
        self.init(
            score: try container.decode(UncertaintyScore.self, forKey: .score), value: value,
            targetAccuracy: try container.decodeIfPresent(Double.self, forKey: .targetAccuracy),
            coverage: try container.decodeIfPresent(Double.self, forKey: .coverage),
            sampleCount: try container.decodeIfPresent(Int.self, forKey: .sampleCount))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(score, forKey: .score)
        try container.encode(value, forKey: .value)
        try container.encodeIfPresent(targetAccuracy, forKey: .targetAccuracy)
        try container.encodeIfPresent(coverage, forKey: .coverage)
        try container.encodeIfPresent(sampleCount, forKey: .sampleCount)
    }
}
