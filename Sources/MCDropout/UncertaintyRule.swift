public import MCDropoutJSON

/// A score an ``UncertaintyRule`` can compare with a threshold: one of the prediction's uncertainty scores or one of
/// the input's density scores. Higher always means more uncertain or less familiar.
public enum FlagScore: Sendable, Hashable, CustomStringConvertible {
    /// A score of the Monte-Carlo summary.
    case uncertainty(UncertaintyScore)
    /// A score of the input against the training statistics.
    case density(DensityScore)
    /// A score of a regression prediction.
    case regression(RegressionScore)

    /// Every classification score, summary scores first (the scores classifier evaluations compare).
    public static let allCases: [FlagScore] =
        UncertaintyScore.allCases.map(FlagScore.uncertainty) + DensityScore.allCases.map(FlagScore.density)

    /// Every score a request or a stored rule may name.
    public static let allNames: [String] =
        allCases.map(\.rawValue) + RegressionScore.allCases.map(\.rawValue)

    /// Reads a wire name such as `"max_probability"`, `"reconstruction_error"` or `"predictive_variance"`.
    public init?(rawValue: String) {
        if let score = UncertaintyScore(rawValue: rawValue) {
            self = .uncertainty(score)
        } else if let score = DensityScore(rawValue: rawValue) {
            self = .density(score)
        } else if let score = RegressionScore(rawValue: rawValue) {
            self = .regression(score)
        } else {
            return nil
        }
    }

    /// The wire name.
    public var rawValue: String {
        switch self {
        case .uncertainty(let score): return score.rawValue
        case .density(let score): return score.rawValue
        case .regression(let score): return score.rawValue
        }
    }

    /// Whether the score applies to predictions of a model with this head (density scores apply to all).
    public func applies(to head: OutputHead) -> Bool {
        switch self {
        case .uncertainty: return head.isClassification
        case .density: return true
        case .regression: return !head.isClassification
        }
    }

    public var description: String { rawValue }

    /// The score of one prediction, or nil for a density score the model has no statistics for.
    @inlinable
    public func value(of summary: PredictiveSummary, density: DensityValues) -> Double? {
        switch self {
        case .uncertainty(let score): return score.value(of: summary)
        case .density(let score): return density[score]
        case .regression(let score): return score.value(of: summary)
        }
    }
}

/// When a prediction is flagged `uncertain`: as soon as any condition's score exceeds its threshold.
///
/// Stored in the metadata extension `"uncertainty"` as
/// `{"rules": [{"score": …, "threshold": …}, …], "clean_flag_budget": …, "validation_flagged": …,
/// "validation_unflagged_accuracy": …, "samples": …, "fitted_on": …}` (descriptive members optional). The older
/// single-score form `{"score": …, "threshold": …, …}` (``UncertaintyThreshold``) is read as a one-condition rule.
public struct UncertaintyRule: Sendable, Equatable {
    /// One comparison: flag when ``score`` is above ``threshold``.
    public struct Condition: Sendable, Equatable {
        /// The score compared.
        public var score: FlagScore
        /// Flag when the score is above this value.
        public var threshold: Double

        /// Creates a condition.
        public init(score: FlagScore, threshold: Double) {
            self.score = score
            self.threshold = threshold
        }
    }

    /// The conditions; the prediction is uncertain when any holds.
    public var conditions: [Condition]
    /// The share of clean held-out inputs the fit was allowed to flag, when the rule was fitted to one.
    public var cleanFlagBudget: Double?
    /// The share of the held-out inputs the rule flags.
    public var validationFlagged: Double?
    /// The accuracy of the held-out predictions the rule leaves unflagged.
    public var validationUnflaggedAccuracy: Double?
    /// The Monte-Carlo passes the rule was fitted with (summary scores shift a little with `N`), when known.
    public var sampleCount: Int?
    /// What the rule was fitted on, in words.
    public var fittedOn: String?
    /// The older single-threshold form this rule was read from, kept so it is written back unchanged.
    public var legacy: UncertaintyThreshold?

    /// Creates a rule.
    public init(
        conditions: [Condition], cleanFlagBudget: Double? = nil, validationFlagged: Double? = nil,
        validationUnflaggedAccuracy: Double? = nil, sampleCount: Int? = nil, fittedOn: String? = nil
    ) {
        self.conditions = conditions
        self.cleanFlagBudget = cleanFlagBudget
        self.validationFlagged = validationFlagged
        self.validationUnflaggedAccuracy = validationUnflaggedAccuracy
        self.sampleCount = sampleCount
        self.fittedOn = fittedOn
    }

    /// The one-condition rule of a single threshold.
    public init(_ threshold: UncertaintyThreshold) {
        self.init(
            conditions: [Condition(score: .uncertainty(threshold.score), threshold: threshold.value)],
            sampleCount: threshold.sampleCount)
        legacy = threshold
    }

    /// Whether a density condition that needs no prediction (every density score but
    /// ``DensityScore/rotationInstability``) flags an input with these values — known before any Monte-Carlo pass.
    public func flagsBeforeSampling(_ density: DensityValues) -> Bool {
        conditions.contains { condition in
            guard case .density(let score) = condition.score, score != .rotationInstability,
                let value = density[score]
            else { return false }
            return value > condition.threshold
        }
    }

    /// Whether the rule has a density condition that needs no prediction (else ``flagsBeforeSampling(_:)`` is false
    /// whatever the values).
    public var hasConditionBeforeSampling: Bool {
        conditions.contains { condition in
            guard case .density(let score) = condition.score else { return false }
            return score != .rotationInstability
        }
    }

    /// The passes a flagged input gets from adaptive sampling: the N the rule was fitted at (100 when not stored).
    public var unfamiliarSampleCount: Int { sampleCount ?? 100 }

    /// Whether condition `index` holds for a prediction (false when its density score is unavailable).
    @inlinable
    public func isExceeded(_ index: Int, summary: PredictiveSummary, density: DensityValues) -> Bool {
        let condition = conditions[index]
        guard let value = condition.score.value(of: summary, density: density) else { return false }
        return value > condition.threshold
    }

    /// Whether any condition holds.
    @inlinable
    public func isUncertain(_ summary: PredictiveSummary, density: DensityValues = .none) -> Bool {
        conditions.indices.contains { isExceeded($0, summary: summary, density: density) }
    }

    /// The density scores the rule needs.
    public var densityScores: [DensityScore] {
        conditions.compactMap { if case .density(let score) = $0.score { return score } else { return nil } }
    }

    /// The stored JSON: the legacy form when the rule was read from it, else the `"rules"` form.
    public var jsonValue: JSONValue {
        if let legacy { return legacy.jsonValue }
        let rules = conditions.map { condition -> JSONValue in
            .object(
                JSONObject([("score", .string(condition.score.rawValue)), ("threshold", .number(condition.threshold))]))
        }
        var members: [JSONObject.Member] = [("rules", .array(rules))]
        if let cleanFlagBudget { members.append(("clean_flag_budget", .number(cleanFlagBudget))) }
        if let validationFlagged { members.append(("validation_flagged", .number(validationFlagged))) }
        if let validationUnflaggedAccuracy {
            members.append(("validation_unflagged_accuracy", .number(validationUnflaggedAccuracy)))
        }
        if let sampleCount { members.append(("samples", .number(Double(sampleCount)))) }
        if let fittedOn { members.append(("fitted_on", .string(fittedOn))) }
        return .object(JSONObject(members))
    }

    /// Reads either stored form; unknown members are ignored.
    public init(decoding value: JSONValue) throws(ModelFileError) {
        let field = UncertaintyThreshold.metadataKey
        guard case .object(let object) = value else {
            throw .invalidMetadata(field: field, reason: "must be an object")
        }
        guard let rulesValue = object["rules"] else {
            self.init(try UncertaintyThreshold(decoding: value))
            return
        }
        guard case .array(let rules) = rulesValue, !rules.isEmpty else {
            throw .invalidMetadata(field: "\(field).rules", reason: "must be a non-empty array")
        }
        var conditions: [Condition] = []
        for (index, rule) in rules.enumerated() {
            guard case .object(let member) = rule, case .string(let name)? = member["score"],
                let score = FlagScore(rawValue: name)
            else {
                let names = FlagScore.allNames.joined(separator: ", ")
                throw .invalidMetadata(field: "\(field).rules[\(index)].score", reason: "must be one of \(names)")
            }
            guard case .number(let threshold)? = member["threshold"], threshold.isFinite else {
                throw .invalidMetadata(field: "\(field).rules[\(index)].threshold", reason: "must be a finite number")
            }
            conditions.append(Condition(score: score, threshold: threshold))
        }
        var fittedOn: String?
        if case .string(let text)? = object["fitted_on"] { fittedOn = text }
        self.init(
            conditions: conditions, cleanFlagBudget: object["clean_flag_budget"]?.doubleValue,
            validationFlagged: object["validation_flagged"]?.doubleValue,
            validationUnflaggedAccuracy: object["validation_unflagged_accuracy"]?.doubleValue,
            sampleCount: object["samples"]?.intValue, fittedOn: fittedOn)
    }
}

extension ModelFile {
    /// The stored rule (either form), checked against the density statistics the file holds; nil when none.
    public func uncertaintyRule() throws(ModelFileError) -> UncertaintyRule? {
        guard let value = metadata.extensions[UncertaintyThreshold.metadataKey] else { return nil }
        let rule = try UncertaintyRule(decoding: value)
        let available = density?.scores ?? []
        if let missing = rule.densityScores.first(where: { !available.contains($0) }) {
            throw .invalidMetadata(
                field: UncertaintyThreshold.metadataKey,
                reason: "a rule uses '\(missing.rawValue)', but the file holds no statistics for it")
        }
        if let wrong = rule.conditions.first(where: { !$0.score.applies(to: metadata.head) }) {
            throw .invalidMetadata(
                field: UncertaintyThreshold.metadataKey,
                reason: "a rule uses '\(wrong.score.rawValue)', which does not apply to this model's task")
        }
        return rule
    }

    /// Stores `rule` in the `"uncertainty"` extension (replacing any earlier rule or threshold), or removes it.
    public mutating func setUncertaintyRule(_ rule: UncertaintyRule?) {
        metadata.extensions[UncertaintyThreshold.metadataKey] = rule?.jsonValue
    }
}
