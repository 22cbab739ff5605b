/// What the last layer's outputs mean, and so how ``MonteCarloPredictor`` turns each pass's outputs into the values
/// it averages.
public enum OutputHead: Sendable, Equatable {
    /// Logits of `C` classes: each pass is a softmax, its entropy accumulated.
    case classification
    /// `T` regression targets: each pass's outputs are averaged as they are.
    case regression
    /// A heteroscedastic regression head (Kendall & Gal 2017): `2T` outputs, the first `T` the means, the last `T`
    /// the log variances `log σ²`. Each pass contributes its means and its variances `σ² = exp(log σ²)`, so the
    /// summary holds the mean, the epistemic variance (over passes) and the aleatoric variance (mean `σ²`) per target.
    case meanLogVariance

    /// Whether the outputs are class logits.
    public var isClassification: Bool { self == .classification }

    /// The number of predicted quantities for `outputSize` outputs: classes or regression targets.
    public func targetCount(outputSize: Int) -> Int { self == .meanLogVariance ? outputSize / 2 : outputSize }

    /// Turns one pass's outputs into the values the statistics accumulate, in place, and returns the pass's entropy
    /// (zero for regression): softmax for classification, `exp` of the log variances for ``meanLogVariance``.
    @inline(__always)
    func finish(_ outputs: UnsafeMutableBufferPointer<Float>) -> Double {
        switch self {
        case .classification: return Activation.softmax(outputs)
        case .regression: return 0
        case .meanLogVariance:
            let half = outputs.count / 2
            for index in half..<outputs.count { outputs[index] = exponential(outputs[index]) }
            return 0
        }
    }
}

/// A scalar uncertainty score of a regression prediction, summed over the targets; higher means more uncertain.
public enum RegressionScore: String, Sendable, CaseIterable {
    /// The variance of the pass means (epistemic), summed over targets.
    case epistemicVariance = "epistemic_variance"
    /// Epistemic plus aleatoric variance (the mean `σ²` of a `mean_logvar` head, else 0), summed over targets.
    case predictiveVariance = "predictive_variance"

    /// The score of one prediction; nil for a classification summary.
    public func value(of summary: PredictiveSummary) -> Double? {
        let head = summary.head
        guard !head.isClassification else { return nil }
        let targets = head.targetCount(outputSize: summary.meanProbabilities.count)
        var total: Double = 0
        for index in 0..<targets {
            total += Double(summary.variance[index])
            if self == .predictiveVariance, head == .meanLogVariance {
                total += Double(summary.meanProbabilities[targets + index])
            }
        }
        return total
    }
}
