/// When to stop sampling: passes run in blocks until the standard error of every mean class probability is below a
/// tolerance — or, with a ``SettledDecision`` test, until the decision is settled — within a minimum and a maximum
/// pass count.
///
/// The standard error of class `c` after `n` passes is `√(s²_c / n)`, with `s²_c` the unbiased sample variance of the
/// pass probabilities of class `c`. The rule is a pure function of the pass count and that maximum standard error,
/// so it can be tested without a model.
public struct AdaptiveSampling: Sendable, Equatable {
    /// Passes always run before the rule is consulted (at least 2, so a variance exists).
    public var minimumSamples: Int
    /// Passes never exceeded.
    public var maximumSamples: Int
    /// The largest acceptable standard error of any mean class probability.
    public var tolerance: Double
    /// Passes added between two checks of the rule.
    public var blockSize: Int
    /// The sequential test that also stops sampling once the decision is settled; `nil`: precision alone decides.
    public var decision: SettledDecision?

    /// The defaults: 16 to 1000 passes, standard error below 0.01, checked every 16 passes.
    public static let standard = AdaptiveSampling(minimumSamples: 16, maximumSamples: 1000, tolerance: 0.01)

    /// Stops once the decision is settled at 3 standard errors with every mean probability's standard error below
    /// 0.02 (checked every 8 passes from 16 on), or the mean probabilities are precise to 0.01, at the latest after
    /// 200 passes; the uncertainty rule's verdict counts when one is given.
    public static func decisive(uncertainty: UncertaintyThreshold?) -> AdaptiveSampling {
        AdaptiveSampling(
            minimumSamples: 16, maximumSamples: 200, tolerance: 0.01, blockSize: 8,
            decision: SettledDecision(confidence: 3, uncertainty: uncertainty, precision: 0.02))
    }

    /// Creates a rule; requires `2 ≤ minimumSamples ≤ maximumSamples`, `tolerance > 0` and `blockSize ≥ 1`.
    public init(
        minimumSamples: Int, maximumSamples: Int, tolerance: Double, blockSize: Int = 16,
        decision: SettledDecision? = nil
    ) {
        precondition(minimumSamples >= 2 && minimumSamples <= maximumSamples, "need 2 ≤ minimum ≤ maximum samples")
        precondition(tolerance > 0 && tolerance.isFinite, "tolerance must be positive")
        precondition(blockSize >= 1, "block size must be positive")
        self.minimumSamples = minimumSamples
        self.maximumSamples = maximumSamples
        self.tolerance = tolerance
        self.blockSize = blockSize
        self.decision = decision
    }

    /// How many passes to add after `passesDone`, or 0 to stop.
    ///
    /// - Parameters:
    ///   - maximumStandardError: the largest standard error of a mean class probability so far
    ///   (ignored before `minimumSamples` passes).
    ///   - isDecisionSettled: whether the ``decision`` test (if any) holds for the passes so far.
    public func nextBlock(passesDone: Int, maximumStandardError: Double, isDecisionSettled: Bool = false) -> Int {
        if passesDone < minimumSamples { return minimumSamples - passesDone }
        if passesDone >= maximumSamples || maximumStandardError < tolerance || isDecisionSettled { return 0 }
        return min(blockSize, maximumSamples - passesDone)
    }

    /// The largest standard error `√(s²/n)` over classes, from per-class sums and sums of squares of `count` passes;
    /// infinite below two passes.
    public static func maximumStandardError(
        sums: UnsafeBufferPointer<Double>, squares: UnsafeBufferPointer<Double>, count: Int
    ) -> Double {
        guard count >= 2 else { return .infinity }
        let n = Double(count)
        var largest: Double = 0
        for index in 0..<sums.count {
            let variance = max(squares[index] - sums[index] * sums[index] / n, 0) / (n - 1)
            largest = max(largest, (variance / n).squareRoot())
        }
        return largest
    }
}

extension AdaptiveSampling {
    /// Gives the settled-decision test the verdict it must settle: the rule's one condition on a summary score.
    ///
    /// Density conditions do not change with the passes, so they need no settling. A rule with several summary-score
    /// conditions has no single score to test; then the arg-max and the precision bound decide. A regression head has
    /// no arg-max: it gets the precision rule alone, in ``AdaptiveSampling/standard``'s blocks. The server's
    /// `"samples": "auto"` and `mcdropout-eval evaluate --adaptive-decisive` both settle the rule they report here.
    /// A rule without a decision test is left as it is.
    public mutating func settle(_ rule: UncertaintyRule?, head: OutputHead) {
        guard decision != nil else { return }
        guard head.isClassification else {
            decision = nil
            blockSize = AdaptiveSampling.standard.blockSize
            return
        }
        let summaryConditions = (rule?.conditions ?? []).compactMap { condition -> UncertaintyThreshold? in
            guard case .uncertainty(let score) = condition.score else { return nil }
            return UncertaintyThreshold(score: score, value: condition.threshold)
        }
        decision?.uncertainty = summaryConditions.count == 1 ? summaryConditions[0] : nil
    }

    /// The rule for an input the stored rule already calls unfamiliar before any pass (see
    /// ``UncertaintyRule/flagsBeforeSampling(_:)``): at least `samples` passes — the N the rule was fitted at, so
    /// the input's scores are those of a fixed-N request — then the same test up to the cap.
    public func forUnfamiliarInput(samples: Int) -> AdaptiveSampling {
        var rule = self
        rule.minimumSamples = min(max(minimumSamples, samples), maximumSamples)
        return rule
    }

    /// The rule for one scaled input: ``forUnfamiliarInput(samples:)`` when this rule has a decision test and `rule`
    /// flags the input by the density scores known before sampling, this rule otherwise. The server's
    /// `"samples": "auto"` and `mcdropout-eval evaluate --adaptive-decisive` both choose here.
    ///
    /// A settled decision stops on passes that happen to agree; an out-of-distribution input whose first passes
    /// agree by chance would stop with a score far below its fixed-N value. The density conditions see such an input
    /// before any pass.
    public func forInput(
        _ input: UnsafeBufferPointer<Float>, rule: UncertaintyRule?, density: DensityModel?, model: DropoutMLP,
        workspace: inout DensityWorkspace
    ) -> AdaptiveSampling {
        var values: DensityValues?
        return forInput(input, rule: rule, density: density, model: model, workspace: &workspace, computed: &values)
    }

    /// ``forInput(_:rule:density:model:workspace:)`` that also hands back the density values it computed (`nil` when
    /// it needed none), so that the caller need not compute them again.
    public func forInput(
        _ input: UnsafeBufferPointer<Float>, rule: UncertaintyRule?, density: DensityModel?, model: DropoutMLP,
        workspace: inout DensityWorkspace, computed: inout DensityValues?
    ) -> AdaptiveSampling {
        computed = nil
        guard decision != nil, let rule, let density, rule.hasConditionBeforeSampling else { return self }
        let values = density.predictionFreeValues(for: input, model: model, workspace: &workspace)
        computed = values
        return rule.flagsBeforeSampling(values) ? forUnfamiliarInput(samples: rule.unfamiliarSampleCount) : self
    }
}

extension MonteCarloWorkspace {
    /// The statistics row of `instance`: `C` sums, `C` sums of squares, the entropy sum, the pass count.
    @inline(__always)
    func withStatistics<R>(
        instance: Int, classCount: Int, _ body: (UnsafePointer<Double>) -> R
    ) -> R {
        statistics.withUnsafeBufferPointer { body($0.baseAddress! + instance * (2 * classCount + 2)) }
    }

    /// The largest standard error of `instance`'s mean class probabilities so far.
    func maximumStandardError(instance: Int, classCount: Int) -> Double {
        withStatistics(instance: instance, classCount: classCount) { row in
            AdaptiveSampling.maximumStandardError(
                sums: UnsafeBufferPointer(start: row, count: classCount),
                squares: UnsafeBufferPointer(start: row + classCount, count: classCount),
                count: Int(row[2 * classCount + 1]))
        }
    }

    /// Whether `decision` holds for `instance`'s passes so far.
    func isDecisionSettled(_ decision: SettledDecision, tolerance: Double, instance: Int, classCount: Int) -> Bool {
        withStatistics(instance: instance, classCount: classCount) { row in
            decision.isSettled(
                sums: UnsafeBufferPointer(start: row, count: classCount),
                squares: UnsafeBufferPointer(start: row + classCount, count: classCount),
                count: Int(row[2 * classCount + 1]), tolerance: tolerance)
        }
    }

    /// Finishes `instance`'s summary into `summary`, reusing its arrays.
    func summarize(instance: Int, classCount: Int, into summary: inout PredictiveSummary) {
        withStatistics(instance: instance, classCount: classCount) { row in
            summary.assign(
                sums: UnsafeBufferPointer(start: row, count: classCount),
                squares: UnsafeBufferPointer(start: row + classCount, count: classCount),
                entropySum: row[2 * classCount], count: Int(row[2 * classCount + 1]))
        }
    }
}
