/// One operating point of a ROC curve: everything with score `≥ threshold` is called positive.
public struct ROCPoint: Sendable, Equatable {
    /// The score cut-off; `+∞` for the starting point (0, 0).
    public var threshold: Double
    /// False positives / negatives.
    public var falsePositiveRate: Double
    /// True positives / positives (recall).
    public var truePositiveRate: Double
    /// True positives / everything called positive; 1 at the starting point by convention.
    public var precision: Double
}

/// How well a score separates positives from negatives — for out-of-distribution detection, positives are the
/// out-of-distribution inputs and the score is an uncertainty (higher means "more likely out").
///
/// Tied scores are one threshold: the ROC curve steps diagonally across a tie, so the trapezoidal area equals the
/// Mann–Whitney statistic with midranks (a tied positive–negative pair counts ½).
public struct DetectionMetrics: Sendable, Equatable {
    /// The ROC curve from (0, 0) to (1, 1), one point per distinct score, highest score first.
    public var rocCurve: [ROCPoint]
    /// The area under the ROC curve: the probability that a random positive outscores a random negative (ties ½).
    public var areaUnderROC: Double
    /// The area under the precision–recall curve as average precision, `Σ_k (R_k − R_{k−1}) · P_k` over distinct
    /// thresholds (the step-wise definition of scikit-learn's `average_precision_score`, not a trapezoid, which
    /// would be optimistic).
    public var averagePrecision: Double
    /// The number of positives and of negatives.
    public var positiveCount: Int
    public var negativeCount: Int

    /// Scores and labels; there must be at least one positive and one negative.
    public init(scores: [Double], isPositive: [Bool]) {
        precondition(scores.count == isPositive.count, "one label per score")
        let positives = isPositive.filter { $0 }.count
        let negatives = isPositive.count - positives
        precondition(positives > 0 && negatives > 0, "need at least one positive and one negative")
        precondition(scores.allSatisfy { !$0.isNaN }, "scores must not be NaN")
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var curve = [ROCPoint(threshold: .infinity, falsePositiveRate: 0, truePositiveRate: 0, precision: 1)]
        var truePositives = 0
        var falsePositives = 0
        var area: Double = 0
        var precisionSum: Double = 0
        var start = 0
        while start < order.count {
            let threshold = scores[order[start]]
            var end = start
            var groupPositives = 0
            while end < order.count, scores[order[end]] == threshold {
                if isPositive[order[end]] { groupPositives += 1 }
                end += 1
            }
            let groupNegatives = end - start - groupPositives
            // Trapezoid over the tie: width = new negatives, mean height = positives above + half the tie's.
            area += Double(groupNegatives) * (Double(truePositives) + Double(groupPositives) / 2)
            truePositives += groupPositives
            falsePositives += groupNegatives
            let precision = Double(truePositives) / Double(truePositives + falsePositives)
            precisionSum += Double(groupPositives) * precision
            curve.append(
                ROCPoint(
                    threshold: threshold, falsePositiveRate: Double(falsePositives) / Double(negatives),
                    truePositiveRate: Double(truePositives) / Double(positives), precision: precision))
            start = end
        }
        rocCurve = curve
        areaUnderROC = area / (Double(positives) * Double(negatives))
        averagePrecision = precisionSum / Double(positives)
        positiveCount = positives
        negativeCount = negatives
    }

    /// The false-positive rate at the first threshold whose true-positive rate reaches `target` (FPR at 95 % TPR
    /// for the default), as in Hendrycks & Gimpel 2017; no interpolation between thresholds.
    public func falsePositiveRate(atTruePositiveRate target: Double = 0.95) -> Double {
        let point = rocCurve.first { $0.truePositiveRate >= target - 1e-12 } ?? rocCurve[rocCurve.count - 1]
        return point.falsePositiveRate
    }
}
