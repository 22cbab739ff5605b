import MCDropout
import MCDropoutJSON

/// A request's say over the `"uncertain"` flag: `"uncertainty_threshold"` and optionally `"uncertainty_score"`
/// (in `/predict` bodies, or in `parameters` for KServe V2).
struct UncertaintyOverride: Equatable {
    /// The threshold to compare the score with, replacing the model's.
    var value: Double?
    /// The score to compare; only together with ``value``.
    var score: UncertaintyScore?

    /// The threshold a prediction is flagged with: the request's value, compared with the request's score, else the
    /// model's score, else predictive entropy; without a requested value, the model's stored threshold; `nil` (no
    /// flag in the response) when neither exists.
    func resolved(stored: UncertaintyThreshold?) -> UncertaintyThreshold? {
        guard let value else { return stored }
        let score = score ?? stored?.score ?? .predictiveEntropy
        if let stored, stored.score == score, stored.value == value { return stored }
        return UncertaintyThreshold(score: score, value: value)
    }

    /// Validates the two members.
    ///
    /// - Parameter prefix: prepended to field names in messages (`"parameters."` for KServe).
    init(threshold: JSONValue?, score: JSONValue?, prefix: String) throws(HTTPError) {
        if let threshold {
            guard case .number(let number) = threshold, number.isFinite, number >= 0 else {
                throw .badRequest(
                    "'\(prefix)uncertainty_threshold' must be a number ≥ 0; a prediction whose score exceeds it is uncertain")
            }
            value = number
        }
        if let score {
            let names = UncertaintyScore.allCases.map(\.rawValue).joined(separator: ", ")
            guard case .string(let name) = score, let known = UncertaintyScore(rawValue: name) else {
                throw .badRequest("'\(prefix)uncertainty_score' must be one of \(names)")
            }
            guard value != nil else {
                throw .badRequest("'\(prefix)uncertainty_score' needs '\(prefix)uncertainty_threshold' (a threshold belongs to its score)")
            }
            self.score = known
        }
    }

    init() {}
}

extension JSONWriter {
    /// Writes `"uncertain"` (whether the prediction's score exceeds the threshold), `"uncertainty_score"` and
    /// `"uncertainty_threshold"`.
    mutating func uncertainty(_ summary: PredictiveSummary, threshold: UncertaintyThreshold) {
        key("uncertain"); bool(threshold.isUncertain(summary))
        key("uncertainty_score"); string(threshold.score.rawValue)
        key("uncertainty_threshold"); number(threshold.value)
    }
}
