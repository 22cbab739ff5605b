import Testing

@testable import MCDropout

/// Sums and sums of squares of the rows of `passes` (each row one pass's class probabilities).
func statistics(_ passes: [[Double]]) -> (sums: [Double], squares: [Double]) {
    let classes = passes[0].count
    var sums = [Double](repeating: 0, count: classes)
    var squares = sums
    for pass in passes {
        for c in 0..<classes {
            sums[c] += pass[c]
            squares[c] += pass[c] * pass[c]
        }
    }
    return (sums, squares)
}

func settled(_ test: SettledDecision, _ passes: [[Double]], tolerance: Double = 1e-9) -> Bool {
    let (sums, squares) = statistics(passes)
    return sums.withUnsafeBufferPointer { s in
        squares.withUnsafeBufferPointer { q in
            test.isSettled(sums: s, squares: q, count: passes.count, tolerance: tolerance)
        }
    }
}

@Suite("Settled-decision sequential test")
struct SettledDecisionTests {
    @Test("unanimous confident passes settle; a lead within z standard errors does not")
    func argMax() {
        let test = SettledDecision(confidence: 3)
        #expect(settled(test, Array(repeating: [0.9, 0.05, 0.05], count: 16)))
        // Passes alternate between two classes: the means tie, nothing is settled.
        let split = (0..<16).map { $0 % 2 == 0 ? [0.8, 0.2, 0.0] : [0.2, 0.8, 0.0] }
        #expect(!settled(test, split))
        // Class 0 leads by 0.1 with standard deviations 0.3 each: 3 × 0.6 / √n < 0.1 needs n > 324.
        let noisy = (0..<100).map { $0 % 2 == 0 ? [0.85, 0.15, 0.0] : [0.25, 0.75, 0.0] }
        let (sums, _) = statistics(noisy)
        #expect(sums[0] > sums[1])
        #expect(!settled(test, noisy))
        #expect(settled(SettledDecision(confidence: 0.5), noisy))
        #expect(!settled(test, [[1, 0, 0]]), "one pass settles nothing")
    }

    @Test("the max-probability verdict must clear its threshold by z standard errors")
    func maxProbabilityVerdict() {
        let rule = UncertaintyThreshold(score: .maxProbability, value: 0.4)
        let test = SettledDecision(confidence: 3, uncertainty: rule)
        // Mean max probability 0.62 (score 0.38), right at the threshold, with spread: not settled.
        let close = (0..<32).map { $0 % 2 == 0 ? [0.72, 0.28] : [0.52, 0.48] }
        #expect(settled(SettledDecision(confidence: 3), close))
        #expect(!settled(test, close))
        // The same spread far from the threshold (score 0.08): settled.
        let far = (0..<32).map { $0 % 2 == 0 ? [0.97, 0.03] : [0.87, 0.13] }
        #expect(settled(test, far))
    }

    @Test("the entropy verdict uses the delta-method bound; scores without a bound fall back to the tolerance")
    func otherScores() {
        let entropy = SettledDecision(
            confidence: 3, uncertainty: UncertaintyThreshold(score: .predictiveEntropy, value: 0.5))
        let confident = Array(repeating: [0.98, 0.01, 0.01], count: 16)
        #expect(settled(entropy, confident))
        let spread = (0..<16).map { $0 % 2 == 0 ? [0.95, 0.04, 0.01] : [0.55, 0.35, 0.1] }
        // Entropy of the mean ≈ 0.69, near 0.5 compared with its bound: not settled.
        #expect(!settled(entropy, spread))
        let information = SettledDecision(
            confidence: 3, uncertainty: UncertaintyThreshold(score: .mutualInformation, value: 0.1))
        #expect(!settled(information, spread, tolerance: 0.01))
        #expect(settled(information, spread, tolerance: 0.5))
        #expect(settled(information, confident, tolerance: 0.01), "no spread: every standard error is 0")
    }

    @Test("a precision bound keeps a settled but noisy decision running; unanimous passes still stop")
    func precisionBound() {
        let bounded = SettledDecision(confidence: 3, precision: 0.02)
        // Lead 0.4 with standard deviations 0.2: settled at z = 3, but each standard error is 0.2/√32 ≈ 0.035.
        let noisy = (0..<32).map { $0 % 2 == 0 ? [0.9, 0.1] : [0.5, 0.5] }
        #expect(settled(SettledDecision(confidence: 3), noisy))
        #expect(!settled(bounded, noisy))
        #expect(settled(bounded, Array(repeating: [0.9, 0.1], count: 16)))
    }

    @Test("settle takes a stored rule's one summary-score condition; density conditions need no settling")
    func settleStoredRule() {
        let stored = UncertaintyRule(conditions: [
            .init(score: .uncertainty(.maxProbability), threshold: 0.6),
            .init(score: .density(.reconstructionError), threshold: 0.04),
            .init(score: .density(.inkDeviation), threshold: 0.9),
        ])
        var rule = AdaptiveSampling.decisive(uncertainty: nil)
        rule.settle(stored, head: .classification)
        #expect(rule.decision?.uncertainty == UncertaintyThreshold(score: .maxProbability, value: 0.6))
        // Two summary-score conditions have no single score to settle: the arg-max and the bounds decide.
        var two = stored
        two.conditions.append(.init(score: .uncertainty(.mutualInformation), threshold: 0.1))
        rule.settle(two, head: .classification)
        #expect(rule.decision != nil && rule.decision?.uncertainty == nil)
        // No arg-max for regression: the precision rule alone, in the standard blocks.
        var regression = AdaptiveSampling.decisive(uncertainty: nil)
        regression.settle(stored, head: .regression)
        #expect(regression.decision == nil && regression.blockSize == AdaptiveSampling.standard.blockSize)
        // A rule without a decision test is left as it is.
        var precision = AdaptiveSampling.standard
        precision.settle(stored, head: .regression)
        #expect(precision == AdaptiveSampling.standard)
    }

    @Test("an input the rule's density conditions flag before sampling gets the rule's N; rotation waits for passes")
    func unfamiliarInput() {
        let model = sparseWideModel(width: 64, dropout: 0.3, seed: 5)
        let density = DensityModel(
            ink: InkStatistics(cut: 0.5, medianShare: 0.1),
            rotation: RotationProbe(angles: [90], side: 28, model: model), trainingCount: 1)
        let stored = UncertaintyRule(
            conditions: [
                .init(score: .uncertainty(.maxProbability), threshold: 0.6),
                .init(score: .density(.inkDeviation), threshold: 1),
                .init(score: .density(.rotationInstability), threshold: -1),
            ], sampleCount: 64)
        // Share 0.1 above the cut: deviation ≈ 0; all above it: ln(1.0013 / 0.1) ≈ 2.3 > 1.
        let typical = (0..<784).map { Float($0 % 10 == 0 ? 1 : 0) }
        let inked = [Float](repeating: 1, count: 784)
        var workspace = DensityWorkspace()
        let early = inked.withUnsafeBufferPointer {
            density.predictionFreeValues(for: $0, model: model, workspace: &workspace)
        }
        #expect(early.rotationInstability == nil, "the rotation probe needs the served class")
        #expect(stored.flagsBeforeSampling(early))
        let quiet = typical.withUnsafeBufferPointer {
            density.predictionFreeValues(for: $0, model: model, workspace: &workspace)
        }
        #expect(!stored.flagsBeforeSampling(quiet), "rotation (threshold −1) would flag it, but only after passes")
        var completed = early
        inked.withUnsafeBufferPointer {
            density.addPredictionDependentValues(to: &completed, for: $0, predictedClass: 3, workspace: &workspace)
        }
        let all = inked.withUnsafeBufferPointer {
            density.values(for: $0, model: model, predictedClass: 3, workspace: &workspace)
        }
        #expect(completed == all && all.rotationInstability != nil)

        let decisive = AdaptiveSampling.decisive(uncertainty: nil)
        func chosen(_ input: [Float], _ sampling: AdaptiveSampling, rule: UncertaintyRule?) -> AdaptiveSampling {
            input.withUnsafeBufferPointer {
                sampling.forInput($0, rule: rule, density: density, model: model, workspace: &workspace)
            }
        }
        #expect(chosen(inked, decisive, rule: stored).minimumSamples == 64)
        #expect(chosen(inked, decisive, rule: stored).maximumSamples == decisive.maximumSamples)
        #expect(chosen(typical, decisive, rule: stored) == decisive)
        #expect(chosen(inked, decisive, rule: nil) == decisive)
        #expect(chosen(inked, .standard, rule: stored) == .standard, "the precision rule has no decision to settle")
        #expect(decisive.forUnfamiliarInput(samples: 1000).minimumSamples == decisive.maximumSamples)
        #expect(UncertaintyRule(conditions: []).unfamiliarSampleCount == 100)
        #expect(stored.hasConditionBeforeSampling)
        let rotationOnly = UncertaintyRule(conditions: [.init(score: .density(.rotationInstability), threshold: -1)])
        #expect(!rotationOnly.hasConditionBeforeSampling)
        #expect(chosen(inked, decisive, rule: rotationOnly) == decisive)
        // The values computed for the choice are handed back (none when no condition needs them).
        var computed: DensityValues?
        _ = inked.withUnsafeBufferPointer {
            decisive.forInput(
                $0, rule: stored, density: density, model: model, workspace: &workspace, computed: &computed)
        }
        #expect(computed == early)
        _ = inked.withUnsafeBufferPointer {
            decisive.forInput(
                $0, rule: rotationOnly, density: density, model: model, workspace: &workspace, computed: &computed)
        }
        #expect(computed == nil)

        // Predicting with the chosen rule: the flagged input's passes are the first 64 of a fixed request.
        let predictor = MonteCarloPredictor(model: model)
        var predictorWorkspace = MonteCarloWorkspace()
        var summary = PredictiveSummary.empty
        inked.withUnsafeBufferPointer {
            predictor.predictAdaptive(
                $0, sampling: chosen(inked, decisive, rule: stored), seed: 3, workspace: &predictorWorkspace,
                into: &summary)
        }
        #expect(summary.sampleCount >= 64)
    }

    @Test("the decisive rule stops confident inputs at the minimum and checks every block")
    func decisiveRule() {
        let rule = AdaptiveSampling.decisive(uncertainty: nil)
        #expect(rule.nextBlock(passesDone: 0, maximumStandardError: .infinity) == rule.minimumSamples)
        #expect(rule.nextBlock(passesDone: 16, maximumStandardError: 0.5, isDecisionSettled: true) == 0)
        #expect(rule.nextBlock(passesDone: 16, maximumStandardError: 0.5, isDecisionSettled: false) == rule.blockSize)
        #expect(rule.nextBlock(passesDone: rule.maximumSamples, maximumStandardError: 0.5) == 0)
    }

    @Test("adaptive prediction with the decision test: a confident input stops at the minimum, passes are a prefix")
    func predictorStops() {
        let predictor = MonteCarloPredictor(model: sparseWideModel(width: 512, dropout: 0.3, seed: 5))
        let input = sparsePixels(seed: 9)
        var workspace = MonteCarloWorkspace()
        var summary = PredictiveSummary.empty
        let loose = AdaptiveSampling(
            minimumSamples: 16, maximumSamples: 200, tolerance: 1e-9, blockSize: 8,
            decision: SettledDecision(confidence: 0.001))
        let strict = AdaptiveSampling(
            minimumSamples: 16, maximumSamples: 64, tolerance: 1e-9, blockSize: 8,
            decision: SettledDecision(confidence: 1e6))
        input.withUnsafeBufferPointer {
            predictor.predictAdaptive($0, sampling: loose, seed: 2, workspace: &workspace, into: &summary)
        }
        #expect(summary.sampleCount == 16)
        input.withUnsafeBufferPointer {
            predictor.predictAdaptive($0, sampling: strict, seed: 2, workspace: &workspace, into: &summary)
        }
        #expect(summary.sampleCount == 64)
        let fixed = predictor.predict(input, sampleCount: 64, seed: 2)
        for column in 0..<10 {
            #expect(abs(summary.meanProbabilities[column] - fixed.meanProbabilities[column]) < 1e-5)
        }
    }
}
