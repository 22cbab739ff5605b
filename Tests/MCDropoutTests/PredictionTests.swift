import Testing

@testable import MCDropout

/// Reference implementation: N separate forward passes in Double (``naivePassOutputs``), each row a softmax.
func naivePassProbabilities(model: DropoutMLP, input: [Float], sampleCount: Int, seed: UInt64) -> Matrix {
    naivePassOutputs(model: model, head: .classification, input: input, sampleCount: sampleCount, seed: seed)
}

func smallModel(dropout: [Float], seed: UInt64 = 3) -> DropoutMLP {
    var generator = RandomSource(seed: seed)
    return DropoutMLP(
        layerSizes: [20, 33, 17, 5], dropoutProbabilities: dropout, initialization: .he, using: &generator)
}

@Suite("Predictive statistics")
struct PredictiveSummaryTests {
    @Test("two confident disagreeing passes: mean ½, variance ¼, entropy ln 2, MI ln 2")
    func disagreement() {
        let summary = PredictiveSummary(passProbabilities: Matrix(rows: 2, columns: 2, storage: [1, 0, 0, 1]))
        #expect(summary.meanProbabilities == [0.5, 0.5])
        #expect(summary.variance == [0.25, 0.25])
        #expect(abs(Double(summary.predictiveEntropy) - naturalLog(2.0)) < 1e-6)
        #expect(summary.expectedEntropy == 0)
        #expect(abs(Double(summary.mutualInformation) - naturalLog(2.0)) < 1e-6)
    }

    @Test("identical uniform passes: entropy ln C, no mutual information, no variance")
    func uniform() {
        let classes = 10
        let summary = PredictiveSummary(
            passProbabilities: Matrix(rows: 3, columns: classes, repeating: 1 / Float(classes)))
        #expect(abs(Double(summary.predictiveEntropy) - naturalLog(Double(classes))) < 1e-6)
        #expect(abs(Double(summary.expectedEntropy) - naturalLog(Double(classes))) < 1e-6)
        #expect(summary.mutualInformation < 1e-6)
        #expect(summary.variance.allSatisfy { $0 < 1e-12 })
    }

    @Test("softmax is stable for huge logits and reports the row entropy")
    func stableSoftmax() {
        var row: [Float] = [1000, 1000, -1000]
        let entropy = row.withUnsafeMutableBufferPointer { Activation.softmax($0) }
        #expect(row == [0.5, 0.5, 0])
        #expect(abs(entropy - naturalLog(2.0)) < 1e-9)
    }
}

@Suite("Monte-Carlo predictor")
struct MonteCarloPredictorTests {
    @Test(
        "batched engine equals N naive passes with the same masks",
        arguments: [[Float(0), 0.5, 0.5], [0.2, 0.5, 0.3], [0, 0, 0.25]])
    func equalsNaiveReference(dropout: [Float]) {
        let model = smallModel(dropout: dropout)
        var generator = RandomSource(seed: 11)
        let input = (0..<20).map { _ in generator.nextUnitFloat() }
        let predictor = MonteCarloPredictor(model: model)
        let summary = predictor.predict(input, sampleCount: 37, seed: 1234)
        let reference = PredictiveSummary(
            passProbabilities: naivePassProbabilities(model: model, input: input, sampleCount: 37, seed: 1234))
        for column in 0..<5 {
            #expect(abs(summary.meanProbabilities[column] - reference.meanProbabilities[column]) < 1e-5)
            #expect(abs(summary.variance[column] - reference.variance[column]) < 1e-5)
        }
        #expect(abs(summary.predictiveEntropy - reference.predictiveEntropy) < 1e-5)
        #expect(abs(summary.expectedEntropy - reference.expectedEntropy) < 1e-5)
        #expect(abs(summary.mutualInformation - reference.mutualInformation) < 1e-5)
        #expect(summary.variance.contains { $0 > 1e-6 }, "dropout must make the passes differ")
    }

    @Test("a mostly-zero input (the sparse first-layer path) also equals N naive passes", arguments: [0, 1, 5])
    func sparseInputEqualsNaiveReference(nonZero: Int) {
        let model = smallModel(dropout: [0, 0.5, 0.5])
        var generator = RandomSource(seed: 12)
        var input = [Float](repeating: 0, count: 20)
        for index in [3, 17, 8, 11, 0].prefix(nonZero) { input[index] = generator.nextUnitFloat() + 0.1 }
        let predictor = MonteCarloPredictor(model: model)
        let summary = predictor.predict(input, sampleCount: 29, seed: 99)
        let reference = PredictiveSummary(
            passProbabilities: naivePassProbabilities(model: model, input: input, sampleCount: 29, seed: 99))
        for column in 0..<5 {
            #expect(abs(summary.meanProbabilities[column] - reference.meanProbabilities[column]) < 1e-5)
            #expect(abs(summary.variance[column] - reference.variance[column]) < 1e-5)
        }
        #expect(abs(summary.mutualInformation - reference.mutualInformation) < 1e-5)
    }

    @Test("same seed gives identical summaries; another seed changes the variance")
    func seeding() {
        let predictor = MonteCarloPredictor(model: smallModel(dropout: [0, 0.5, 0.5]))
        let input = (0..<20).map { Float($0) / 20 }
        let a = predictor.predict(input, sampleCount: 50, seed: 5)
        let b = predictor.predict(input, sampleCount: 50, seed: 5)
        let c = predictor.predict(input, sampleCount: 50, seed: 6)
        #expect(a == b)
        #expect(a.variance != c.variance)
    }

    @Test("reusing a workspace across sizes gives the same answers as a fresh one")
    func workspaceReuse() {
        let predictor = MonteCarloPredictor(model: smallModel(dropout: [0, 0.5, 0.5]))
        let input = (0..<20).map { Float($0) / 7 }
        var workspace = MonteCarloWorkspace()
        for count in [100, 3, 64, 1] {
            let reused = input.withUnsafeBufferPointer {
                predictor.predict($0, sampleCount: count, seed: 9, workspace: &workspace)
            }
            #expect(reused == predictor.predict(input, sampleCount: count, seed: 9))
        }
    }

    @Test("a model without dropout gives the deterministic prediction with zero variance and MI")
    func noDropout() {
        let model = smallModel(dropout: [0, 0, 0])
        let predictor = MonteCarloPredictor(model: model)
        let input = (0..<20).map { Float($0) / 20 }
        let summary = predictor.predict(input, sampleCount: 10, seed: 1)
        let deterministic = predictor.predictDeterministic(input)
        for column in 0..<5 {
            #expect(abs(summary.meanProbabilities[column] - deterministic.meanProbabilities[column]) < 1e-6)
        }
        #expect(summary.variance.allSatisfy { $0 < 1e-12 })
        #expect(summary.mutualInformation < 1e-6)
    }

    @Test("bounds: probabilities sum to 1 and 0 ≤ MI ≤ H ≤ ln C")
    func bounds() {
        let predictor = MonteCarloPredictor(model: smallModel(dropout: [0.1, 0.5, 0.5], seed: 17))
        for seed in 0..<20 as Range<UInt64> {
            var generator = RandomSource(seed: seed)
            let input = (0..<20).map { _ in generator.nextUnitFloat() * 5 }
            let s = predictor.predict(input, sampleCount: 30, seed: seed)
            #expect(abs(s.meanProbabilities.reduce(0, +) - 1) < 1e-5)
            #expect(s.mutualInformation >= 0)
            #expect(s.mutualInformation <= s.predictiveEntropy + 1e-6)
            #expect(Double(s.predictiveEntropy) <= naturalLog(5.0) + 1e-6)
        }
    }
}

@Suite("Batched and adaptive Monte-Carlo prediction")
struct BatchAndAdaptiveTests {
    @Test("a batch equals single requests bit for bit, also across blocks of passes", arguments: [1, 37, 1100])
    func batchEqualsSingle(sampleCount: Int) {
        let predictor = MonteCarloPredictor(model: smallModel(dropout: [0, 0.5, 0.3]))
        var generator = RandomSource(seed: 21)
        let inputs = (0..<(3 * 20)).map { _ in generator.nextUnitFloat() * 2 }
        var workspace = MonteCarloWorkspace()
        var summaries: [PredictiveSummary] = []
        inputs.withUnsafeBufferPointer {
            predictor.predictBatch(
                $0, instanceCount: 3, sampleCount: sampleCount, seed: 8, workspace: &workspace, into: &summaries)
        }
        #expect(summaries.count == 3)
        for instance in 0..<3 {
            let single = predictor.predict(
                Array(inputs[(instance * 20)..<((instance + 1) * 20)]), sampleCount: sampleCount, seed: 8)
            #expect(summaries[instance] == single)
        }
    }

    @Test("writing into a reused summary gives the same value as a fresh one")
    func reusedSummary() {
        let predictor = MonteCarloPredictor(model: smallModel(dropout: [0, 0.5, 0.5]))
        let input = (0..<20).map { Float($0) / 9 }
        var workspace = MonteCarloWorkspace()
        var summary = predictor.predict(input, sampleCount: 7, seed: 1)
        input.withUnsafeBufferPointer {
            predictor.predict($0, sampleCount: 40, seed: 2, workspace: &workspace, into: &summary)
        }
        #expect(summary == predictor.predict(input, sampleCount: 40, seed: 2))
    }

    @Test("the stopping rule: minimum first, then blocks until the standard error is below tolerance or the maximum")
    func stoppingRule() {
        let rule = AdaptiveSampling(minimumSamples: 16, maximumSamples: 100, tolerance: 0.01, blockSize: 16)
        #expect(rule.nextBlock(passesDone: 0, maximumStandardError: .infinity) == 16)
        #expect(rule.nextBlock(passesDone: 10, maximumStandardError: 0) == 6)
        #expect(rule.nextBlock(passesDone: 16, maximumStandardError: 0.02) == 16)
        #expect(rule.nextBlock(passesDone: 16, maximumStandardError: 0.009) == 0)
        #expect(rule.nextBlock(passesDone: 96, maximumStandardError: 0.5) == 4)
        #expect(rule.nextBlock(passesDone: 100, maximumStandardError: 0.5) == 0)
    }

    @Test("standard error: √(s²/n) with the unbiased variance; infinite below two passes")
    func standardError() {
        // Class 0 sees 0, 1, 0, 1: mean ½, s² = 1/3, SE = √(1/12). Class 1 is constant.
        let sums: [Double] = [2, 2]
        let squares: [Double] = [2, 1]
        let error = sums.withUnsafeBufferPointer { s in
            squares.withUnsafeBufferPointer { q in AdaptiveSampling.maximumStandardError(sums: s, squares: q, count: 4)
            }
        }
        #expect(abs(error - (1.0 / 12).squareRoot()) < 1e-12)
        let single = sums.withUnsafeBufferPointer { s in
            squares.withUnsafeBufferPointer { q in AdaptiveSampling.maximumStandardError(sums: s, squares: q, count: 1)
            }
        }
        #expect(single == .infinity)
    }

    @Test("adaptive sampling stops within its bounds, meets the tolerance, and matches fixed N with the same masks")
    func adaptiveMatchesFixed() {
        let predictor = MonteCarloPredictor(model: smallModel(dropout: [0, 0.5, 0.5]))
        var workspace = MonteCarloWorkspace()
        var generator = RandomSource(seed: 5)
        for tolerance in [0.05, 0.01, 0.002] {
            let rule = AdaptiveSampling(minimumSamples: 16, maximumSamples: 2000, tolerance: tolerance)
            let input = (0..<20).map { _ in generator.nextUnitFloat() * 3 }
            var summary = PredictiveSummary.empty
            input.withUnsafeBufferPointer {
                predictor.predictAdaptive($0, sampling: rule, seed: 3, workspace: &workspace, into: &summary)
            }
            let n = summary.sampleCount
            #expect(n >= 16 && n <= 2000 && (n - 16) % 16 == 0)
            // The reported variance is the population variance; the rule uses the unbiased one.
            let largest = summary.variance.map { (Double($0) * Double(n) / Double(n - 1) / Double(n)).squareRoot() }
                .max()!
            #expect(largest < tolerance * 1.001 || n == 2000)
            let fixed = predictor.predict(input, sampleCount: n, seed: 3)
            for column in 0..<5 {
                #expect(abs(summary.meanProbabilities[column] - fixed.meanProbabilities[column]) < 1e-5)
            }
        }
    }
}
