import MCDropout
import MCDropoutJSON

/// A request's say over the `"uncertain"` flag: `"uncertainty_threshold"` and optionally `"uncertainty_score"`
/// (in `/predict` bodies, or in `parameters` for KServe V2).
struct UncertaintyOverride: Equatable {
    /// The threshold to compare the score with, replacing the model's.
    var value: Double?
    /// The score to compare; only together with ``value``.
    var score: FlagScore?

    /// The rule a prediction is flagged with: the request's value compared with the request's score, else the
    /// model's first score, else predictive entropy (a one-condition rule that replaces the stored one); without a
    /// requested value, the model's stored rule; `nil` (no flag in the response) when neither exists.
    /// A regression model's default score is predictive variance.
    func resolved(stored: UncertaintyRule?, head: OutputHead = .classification) -> UncertaintyRule? {
        guard let value else { return stored }
        let fallback: FlagScore =
            head.isClassification ? .uncertainty(.predictiveEntropy) : .regression(.predictiveVariance)
        let score = score ?? stored?.conditions.first?.score ?? fallback
        let condition = UncertaintyRule.Condition(score: score, threshold: value)
        if let stored, stored.conditions == [condition] { return stored }
        return UncertaintyRule(conditions: [condition])
    }

    /// A requested density score must be one the model has statistics for.
    func check(against model: LoadedModel, prefix: String) throws(HTTPError) {
        let head = model.file.metadata.head
        if let score, !score.applies(to: head) {
            let kind = head.isClassification ? "a classification" : "a regression"
            let names =
                (head.isClassification ? FlagScore.allCases.map(\.rawValue) : RegressionScore.allCases.map(\.rawValue))
            throw .badRequest(
                "'\(prefix)uncertainty_score' \(score.rawValue) does not apply to \(kind) model "
                    + "('\(model.name)'); use one of "
                    + names.joined(separator: ", "))
        }
        guard case .density(let kind)? = score, !(model.file.density?.scores.contains(kind) ?? false) else { return }
        throw .badRequest(
            "'\(prefix)uncertainty_score' \(kind.rawValue) needs density statistics; model '\(model.name)' has none "
                + "for it (mcdropout-eval fit-rule stores them)")
    }

    /// Validates the two members.
    ///
    /// - Parameter prefix: prepended to field names in messages (`"parameters."` for KServe).
    init(threshold: JSONValue?, score: JSONValue?, prefix: String) throws(HTTPError) {
        if let threshold {
            guard case .number(let number) = threshold, number.isFinite, number >= 0 else {
                throw .badRequest(
                    "'\(prefix)uncertainty_threshold' must be a number ≥ 0; "
                        + "a prediction whose score exceeds it is uncertain"
                )
            }
            value = number
        }
        if let score {
            let names = FlagScore.allNames.joined(separator: ", ")
            guard case .string(let name) = score, let known = FlagScore(rawValue: name) else {
                throw .badRequest("'\(prefix)uncertainty_score' must be one of \(names)")
            }
            guard value != nil else {
                throw .badRequest(
                    "'\(prefix)uncertainty_score' needs '\(prefix)uncertainty_threshold' "
                        + "(a threshold belongs to its score)"
                )
            }
            self.score = known
        }
    }

    init() {}
}

extension JSONWriter {
    /// Writes `"uncertain"` (whether any condition of the rule holds), `"uncertainty_triggered"` (the scores whose
    /// condition holds, in the rule's order), and the rule: `"uncertainty_score"` and `"uncertainty_threshold"` for a
    /// one-condition rule, else `"uncertainty_rules"` (`[{"score", "threshold"}, …]`).
    mutating func uncertainty(_ summary: PredictiveSummary, density: DensityValues, rule: UncertaintyRule) {
        key("uncertain")
        bool(rule.isUncertain(summary, density: density))
        key("uncertainty_triggered")
        beginArray()
        for index in rule.conditions.indices where rule.isExceeded(index, summary: summary, density: density) {
            string(rule.conditions[index].score.rawValue)
        }
        endArray()
        if rule.conditions.count == 1 {
            key("uncertainty_score")
            string(rule.conditions[0].score.rawValue)
            key("uncertainty_threshold")
            number(rule.conditions[0].threshold)
        } else {
            key("uncertainty_rules")
            beginArray()
            for condition in rule.conditions {
                beginObject()
                key("score")
                string(condition.score.rawValue)
                key("threshold")
                number(condition.threshold)
                endObject()
            }
            endArray()
        }
    }

    /// Writes each density score the model has, by name (`"reconstruction_error"`, `"feature_distance"`,
    /// `"ink_deviation"`, `"rotation_instability"`).
    mutating func densityScores(_ values: DensityValues) {
        for score in DensityScore.allCases {
            if let value = values[score] {
                key(score.rawValue)
                number(value)
            }
        }
    }
}
