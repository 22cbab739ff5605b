public import MCDropout

/// Fits a composite ``UncertaintyRule`` to a clean-flag budget on held-out in-distribution predictions (the
/// validation split — never a test, shifted or out-of-distribution set).
///
/// Each density score gets an equal part of `densityShare × budget`: its threshold is the value that at most that
/// share of the held-out inputs exceed. The summary score then takes what is left of the budget: its threshold is the
/// lowest that keeps the share flagged by *any* condition within the budget (the conditions overlap, so it usually
/// gets more than its nominal part). Among the candidate summary scores the one whose unflagged held-out predictions
/// are most accurate wins.
public enum RuleFitting {
    /// The fitted rule and what it does on the held-out data.
    public struct Result: Sendable, Equatable {
        /// The rule, with its held-out flagged share and unflagged accuracy filled in.
        public var rule: UncertaintyRule
        /// Per condition, the share of held-out inputs it flags on its own.
        public var conditionFlagged: [Double]
    }

    /// Fits the rule.
    ///
    /// - Parameters:
    ///   - scores: one value per held-out prediction for every candidate score (density scores and summary scores).
    ///   - isCorrect: whether each held-out prediction is right.
    ///   - budget: the share of held-out inputs the rule may flag, in (0, 1).
    ///   - densityShare: the part of the budget given to the density scores together, in [0, 1].
    ///   - summaryCandidates: summary scores to try for the rest of the budget.
    public static func fit(
        scores: [FlagScore: [Double]], isCorrect: [Bool], budget: Double, densityShare: Double,
        summaryCandidates: [UncertaintyScore]
    ) -> Result {
        precondition(budget > 0 && budget < 1, "the budget is a share in (0, 1)")
        precondition(densityShare >= 0 && densityShare <= 1, "the density share is in [0, 1]")
        precondition(!summaryCandidates.isEmpty && !isCorrect.isEmpty, "need a summary score and predictions")
        let count = isCorrect.count
        let densities = DensityScore.allCases.filter { scores[.density($0)] != nil }
        var conditions: [UncertaintyRule.Condition] = []
        var flagged = [Bool](repeating: false, count: count)
        for score in densities {
            let values = scores[.density(score)]!
            precondition(values.count == count, "one value per prediction")
            let allowed = Int((budget * densityShare / Double(densities.count) * Double(count)).rounded(.down))
            let threshold = thresholdFlagging(atMost: allowed, of: values, alreadyFlagged: nil)
            conditions.append(.init(score: .density(score), threshold: threshold))
            for index in 0..<count where values[index] > threshold { flagged[index] = true }
        }
        let allowed = Int((budget * Double(count)).rounded(.down))
        var best: (rule: UncertaintyRule, accuracy: Double)?
        for candidate in summaryCandidates {
            guard let values = scores[.uncertainty(candidate)] else { continue }
            let threshold = thresholdFlagging(atMost: allowed, of: values, alreadyFlagged: flagged)
            var rule = UncertaintyRule(
                conditions: [.init(score: .uncertainty(candidate), threshold: threshold)] + conditions,
                cleanFlagBudget: budget)
            var flaggedCount = 0
            var keptRight = 0
            for index in 0..<count {
                if flagged[index] || values[index] > threshold {
                    flaggedCount += 1
                } else if isCorrect[index] {
                    keptRight += 1
                }
            }
            let kept = count - flaggedCount
            let accuracy = kept > 0 ? Double(keptRight) / Double(kept) : 1
            rule.validationFlagged = Double(flaggedCount) / Double(count)
            rule.validationUnflaggedAccuracy = accuracy
            if best == nil || accuracy > best!.accuracy { best = (rule, accuracy) }
        }
        guard let rule = best?.rule else { preconditionFailure("no candidate summary score has values") }
        let shares = rule.conditions.map { condition in
            let values = scores[condition.score]!
            return Double(values.filter { $0 > condition.threshold }.count) / Double(count)
        }
        return Result(rule: rule, conditionFlagged: shares)
    }

    /// The lowest threshold (one of the values; +∞ when even the inputs already flagged exceed `allowed`) such that the inputs already
    /// flagged plus those whose value is above it number at most `allowed`.
    static func thresholdFlagging(atMost allowed: Int, of values: [Double], alreadyFlagged: [Bool]?) -> Double {
        let order = values.indices.sorted { values[$0] > values[$1] }
        var total = alreadyFlagged?.filter { $0 }.count ?? 0
        guard total <= allowed, let first = order.first else { return .infinity }
        // Walk the values from the highest down; moving the threshold to the next lower distinct value flags a whole
        // run of ties at once.
        var threshold = values[first]
        var position = 0
        while position < order.count {
            let value = values[order[position]]
            var end = position
            var added = 0
            while end < order.count, values[order[end]] == value {
                if alreadyFlagged?[order[end]] != true { added += 1 }
                end += 1
            }
            // Lowering the threshold below `value` flags this run.
            guard end < order.count, total + added <= allowed else { break }
            total += added
            threshold = values[order[end]]
            position = end
        }
        return threshold
    }
}
