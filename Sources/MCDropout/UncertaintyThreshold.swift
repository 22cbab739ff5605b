public import MCDropoutJSON

/// A scalar uncertainty score of a ``PredictiveSummary``; higher always means more uncertain.
public enum UncertaintyScore: String, Sendable, CaseIterable {
    /// `1 − max_c p̄_c`: the softmax-confidence baseline (Hendrycks & Gimpel 2017), turned into an uncertainty.
    case maxProbability = "max_probability"
    /// The entropy of the mean prediction (total uncertainty), in nats.
    case predictiveEntropy = "predictive_entropy"
    /// The mutual information between prediction and weights (epistemic uncertainty), in nats.
    case mutualInformation = "mutual_information"
    /// The sum of the per-class variances of the pass probabilities.
    case totalVariance = "total_variance"

    /// The score of one prediction.
    public func value(of summary: PredictiveSummary) -> Double {
        switch self {
        case .maxProbability: return 1 - Double(summary.meanProbabilities.max() ?? 0)
        case .predictiveEntropy: return Double(summary.predictiveEntropy)
        case .mutualInformation: return Double(summary.mutualInformation)
        case .totalVariance: return Double(summary.totalVariance)
        }
    }
}

/// A recommended abstention rule stored in a model file: a prediction is *uncertain* when its ``score`` exceeds
/// ``value``. `mcdropout-eval --write-threshold` chooses it on a test set so that the predictions kept reach a target
/// accuracy; it lives in the metadata extension `"uncertainty"`.
public struct UncertaintyThreshold: Sendable, Equatable {
    /// The metadata key under which the threshold is stored.
    public static let metadataKey = "uncertainty"

    /// The score compared with the threshold.
    public var score: UncertaintyScore
    /// Predictions whose score is above this value are uncertain; at or below it they are kept.
    public var value: Double
    /// The accuracy the threshold was chosen to reach on the kept predictions, when known.
    public var targetAccuracy: Double?
    /// The fraction of the evaluation set kept at this threshold, when known.
    public var coverage: Double?
    /// The Monte-Carlo passes the threshold was measured with (scores shift a little with `N`), when known.
    public var sampleCount: Int?

    /// Creates a threshold.
    public init(
        score: UncertaintyScore, value: Double, targetAccuracy: Double? = nil, coverage: Double? = nil,
        sampleCount: Int? = nil
    ) {
        self.score = score
        self.value = value
        self.targetAccuracy = targetAccuracy
        self.coverage = coverage
        self.sampleCount = sampleCount
    }

    /// Whether a prediction with this score counts as uncertain.
    public func isUncertain(_ summary: PredictiveSummary) -> Bool { score.value(of: summary) > value }

    /// `{"score": …, "threshold": …, "target_accuracy": …, "coverage": …, "samples": …}`; unknown fields omitted.
    public var jsonValue: JSONValue {
        var members: [JSONObject.Member] = [("score", .string(score.rawValue)), ("threshold", .number(value))]
        if let targetAccuracy { members.append(("target_accuracy", .number(targetAccuracy))) }
        if let coverage { members.append(("coverage", .number(coverage))) }
        if let sampleCount { members.append(("samples", .number(Double(sampleCount)))) }
        return .object(JSONObject(members))
    }

    /// Reads the object written by ``jsonValue``; other members are ignored.
    public init(decoding value: JSONValue) throws(ModelFileError) {
        let field = Self.metadataKey
        guard case .object(let object) = value else {
            throw .invalidMetadata(field: field, reason: "must be an object")
        }
        guard case .string(let name)? = object["score"], let score = UncertaintyScore(rawValue: name) else {
            let names = UncertaintyScore.allCases.map(\.rawValue).joined(separator: ", ")
            throw .invalidMetadata(field: "\(field).score", reason: "must be one of \(names)")
        }
        guard case .number(let threshold)? = object["threshold"], threshold.isFinite else {
            throw .invalidMetadata(field: "\(field).threshold", reason: "must be a finite number")
        }
        self.init(
            score: score, value: threshold, targetAccuracy: object["target_accuracy"]?.doubleValue,
            coverage: object["coverage"]?.doubleValue, sampleCount: object["samples"]?.intValue)
    }
}

extension ModelMetadata {
    /// The recommended threshold stored in the `"uncertainty"` extension, or nil when there is none.
    public func uncertaintyThreshold() throws(ModelFileError) -> UncertaintyThreshold? {
        guard let value = extensions[UncertaintyThreshold.metadataKey] else { return nil }
        return try UncertaintyThreshold(decoding: value)
    }

    /// Stores `threshold` in the `"uncertainty"` extension (replacing any earlier one in place), or removes it.
    public mutating func setUncertaintyThreshold(_ threshold: UncertaintyThreshold?) {
        let key = UncertaintyThreshold.metadataKey
        var members = extensions.members
        if let threshold {
            if let index = members.firstIndex(where: { $0.key == key }) {
                members[index].value = threshold.jsonValue
            } else {
                members.append((key, threshold.jsonValue))
            }
        } else {
            members.removeAll { $0.key == key }
        }
        extensions = JSONObject(members)
    }
}
