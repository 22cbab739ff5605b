import Testing

@testable import MCDropout

/// A `784-W-W-10` network whose first layer leaves about a fifth of its units active (negative biases), as trained
/// MNIST models do, with the dropout of the committed models.
func sparseWideModel(width: Int, dropout: Float, seed: UInt64) -> DropoutMLP {
    var generator = RandomSource(seed: seed)
    var model = DropoutMLP(
        layerSizes: [784, width, width, 10], dropoutProbabilities: [0, dropout, dropout], initialization: .he,
        using: &generator)
    model.layers[0].bias = (0..<width).map { _ in -0.25 - 0.2 * generator.nextUnitFloat() }
    return model
}

/// A digit-like input: mostly zero, a few hundred pixels in (0, 1].
func sparsePixels(seed: UInt64) -> [Float] {
    var generator = RandomSource(seed: seed)
    return (0..<784).map { _ in generator.nextUnitFloat() < 0.2 ? generator.nextUnitFloat() + 0.01 : 0 }
}

@Suite("Active-unit path")
struct ActiveUnitTests {
    /// The active-unit counts the engine chose for `input`, after one prediction.
    func activeCount(_ predictor: MonteCarloPredictor, _ input: [Float]) -> Int {
        var workspace = MonteCarloWorkspace()
        _ = input.withUnsafeBufferPointer { predictor.predict($0, sampleCount: 2, seed: 1, workspace: &workspace) }
        return workspace.activeCounts[0]
    }

    @Test(
        "skipping inactive units (subtracting the dropped rows, or adding the kept ones when fewer) equals the dense product up to float rounding",
        arguments: [(512, Float(0.3)), (512, 0.5), (512, 0.7), (1024, 0.25)])
    func equalsDense(width: Int, dropout: Float) {
        let model = sparseWideModel(width: width, dropout: dropout, seed: 21)
        let active = MonteCarloPredictor(model: model)
        let dense = MonteCarloPredictor(model: model, usesActiveUnits: false)
        let input = sparsePixels(seed: 4)
        let count = activeCount(active, input)
        #expect(count > 0 && count * 2 < width, "the test input must leave most units inactive (\(count))")
        #expect(activeCount(dense, input) == -1)
        let a = active.predict(input, sampleCount: 100, seed: 77)
        let b = dense.predict(input, sampleCount: 100, seed: 77)
        #expect(a.sampleCount == b.sampleCount)
        for column in 0..<10 {
            #expect(abs(a.meanProbabilities[column] - b.meanProbabilities[column]) < 1e-5)
            #expect(abs(a.variance[column] - b.variance[column]) < 1e-5)
        }
        #expect(abs(a.mutualInformation - b.mutualInformation) < 1e-5)
        #expect(a.variance.contains { $0 > 1e-6 }, "dropout must make the passes differ")
    }

    @Test("the active-unit path gives identical bytes for a seed, and other masks for another seed")
    func reproducible() {
        let predictor = MonteCarloPredictor(model: sparseWideModel(width: 512, dropout: 0.3, seed: 5))
        let input = sparsePixels(seed: 9)
        #expect(activeCount(predictor, input) > 0)
        var workspace = MonteCarloWorkspace()
        let first = input.withUnsafeBufferPointer {
            predictor.predict($0, sampleCount: 64, seed: 3, workspace: &workspace)
        }
        let again = input.withUnsafeBufferPointer {
            predictor.predict($0, sampleCount: 64, seed: 3, workspace: &workspace)
        }
        let other = predictor.predict(input, sampleCount: 64, seed: 4)
        #expect(first == again)
        #expect(first == predictor.predict(input, sampleCount: 64, seed: 3))
        #expect(first.variance != other.variance)
    }

    @Test("dropout on the input itself: the non-zero pixels are the active units; no active unit at all works too")
    func inputDropout() {
        let model = smallModel(dropout: [0.2, 0.5, 0.3])
        let active = MonteCarloPredictor(model: model)
        let dense = MonteCarloPredictor(model: model, usesActiveUnits: false)
        var input = [Float](repeating: 0, count: 20)
        input[4] = 0.7
        input[13] = 0.2
        #expect(activeCount(active, input) == 2)
        for candidate in [input, [Float](repeating: 0, count: 20)] {
            let a = active.predict(candidate, sampleCount: 33, seed: 8)
            let b = dense.predict(candidate, sampleCount: 33, seed: 8)
            let reference = PredictiveSummary(
                passProbabilities: naivePassProbabilities(model: model, input: candidate, sampleCount: 33, seed: 8))
            for column in 0..<5 {
                #expect(abs(a.meanProbabilities[column] - b.meanProbabilities[column]) < 1e-5)
                #expect(abs(a.meanProbabilities[column] - reference.meanProbabilities[column]) < 1e-5)
            }
        }
        #expect(activeCount(active, [Float](repeating: 0, count: 20)) == 0)
    }

    @Test("an input with most units active takes the dense path")
    func denseWhenBusy() {
        let model = smallModel(dropout: [0.2, 0.5, 0.3])
        let input = (1...20).map { Float($0) / 20 }
        #expect(activeCount(MonteCarloPredictor(model: model), input) == -1)
    }

    @Test("a batch with mixed active-unit counts equals single requests bit for bit")
    func batchEqualsSingle() {
        let predictor = MonteCarloPredictor(model: sparseWideModel(width: 512, dropout: 0.3, seed: 6))
        let inputs = [sparsePixels(seed: 1), [Float](repeating: 0.5, count: 784), sparsePixels(seed: 2)]
        var workspace = MonteCarloWorkspace()
        var summaries: [PredictiveSummary] = []
        inputs.flatMap { $0 }.withUnsafeBufferPointer {
            predictor.predictBatch(
                $0, instanceCount: 3, sampleCount: 40, seed: 12, workspace: &workspace, into: &summaries)
        }
        for (index, input) in inputs.enumerated() {
            #expect(summaries[index] == predictor.predict(input, sampleCount: 40, seed: 12))
        }
    }
}
