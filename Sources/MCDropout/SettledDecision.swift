/// A sequential test for adaptive sampling: stop once more passes could not change the *decision* — the predicted
/// class and, when the model has one, the verdict of its uncertainty rule — rather than once every probability is
/// precise.
///
/// After `n` passes with per-class means `p̄_c` and sample standard deviations `s_c` (unbiased), the decision is
/// settled when
/// - the arg-max `a` leads the runner-up `b` by more than `z` standard errors: `p̄_a − p̄_b > z (s_a + s_b)/√n`
///   (`s_a + s_b` bounds the standard deviation of `p_a − p_b` whatever their correlation), and
/// - the uncertainty score is more than `z` standard errors from the rule's threshold. For `max_probability`
///   (`1 − p̄_a`) the standard error is `s_a/√n`; for `predictive_entropy` the delta method bounds it by
///   `Σ_c |ln p̄_c + 1| s_c/√n`. Other scores have no such bound from these statistics, so their verdict counts as
///   settled only once every mean probability's standard error is below ``AdaptiveSampling/tolerance``.
///
/// The test is applied after every block, so `z` must allow for repeated looks; a confidently predicted input whose
/// passes all agree (`s = 0`) settles at the minimum pass count, one near a decision boundary runs to the maximum.
public struct SettledDecision: Sendable, Equatable {
    /// Standard errors by which the decision must clear its boundary.
    public var confidence: Double
    /// The uncertainty rule whose verdict must be settled too; `nil` when only the predicted class counts.
    public var uncertainty: UncertaintyThreshold?
    /// A settled decision also needs every mean probability's standard error below this (infinite: no bound).
    ///
    /// The decision alone ignores how precise the *score* is, yet an OOD detector ranks inputs by it: a moderately
    /// uncertain input far from the threshold would stop at the minimum with a noisy score. A loose bound (0.02)
    /// leaves unanimous passes (standard error 0) stopping at the minimum.
    public var precision: Double

    /// Creates a test; `confidence` and `precision` must be positive.
    public init(confidence: Double, uncertainty: UncertaintyThreshold? = nil, precision: Double = .infinity) {
        precondition(confidence > 0 && confidence.isFinite, "confidence must be positive")
        precondition(precision > 0, "precision must be positive")
        self.confidence = confidence
        self.uncertainty = uncertainty
        self.precision = precision
    }

    /// Whether the decision is settled, from per-class sums and sums of squares of `count` passes.
    ///
    /// - Parameter tolerance: for scores without a bound of their own, the largest standard error of a mean
    ///   probability that settles their verdict.
    public func isSettled(
        sums: UnsafeBufferPointer<Double>, squares: UnsafeBufferPointer<Double>, count: Int, tolerance: Double
    ) -> Bool {
        guard count >= 2 else { return false }
        if precision.isFinite,
            AdaptiveSampling.maximumStandardError(sums: sums, squares: squares, count: count) >= precision
        {
            return false
        }
        guard sums.count >= 2 else { return true }
        let n = Double(count)
        let rootN = n.squareRoot()
        func mean(_ c: Int) -> Double { sums[c] / n }
        func deviation(_ c: Int) -> Double { (max(squares[c] - sums[c] * sums[c] / n, 0) / (n - 1)).squareRoot() }
        var best = 0
        var second = 1
        if sums[1] > sums[0] { (best, second) = (1, 0) }
        for c in 2..<sums.count where sums[c] > sums[second] {
            if sums[c] > sums[best] { (best, second) = (c, best) } else { second = c }
        }
        let margin = mean(best) - mean(second)
        guard margin > confidence * (deviation(best) + deviation(second)) / rootN else { return false }
        guard let uncertainty else { return true }
        let score: Double
        let standardError: Double
        switch uncertainty.score {
        case .maxProbability:
            score = 1 - mean(best)
            standardError = deviation(best) / rootN
        case .predictiveEntropy:
            var entropy = 0.0
            var bound = 0.0
            for c in 0..<sums.count where mean(c) > 0 {
                let logarithm = naturalLog(mean(c))
                entropy -= mean(c) * logarithm
                bound += abs(logarithm + 1) * deviation(c)
            }
            score = entropy
            standardError = bound / rootN
        default:
            return AdaptiveSampling.maximumStandardError(sums: sums, squares: squares, count: count) < tolerance
        }
        return abs(score - uncertainty.value) > confidence * standardError
    }
}
