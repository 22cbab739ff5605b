/// What Monte-Carlo dropout says about one input: the mean prediction over `N` stochastic passes and how uncertain it
/// is. Entropies use the natural logarithm, so they are in nats and lie in `0 ... ln C`.
public struct PredictiveSummary: Sendable, Equatable {
    /// The number of stochastic forward passes `N`.
    public var sampleCount: Int
    /// The mean class probabilities over the passes; they sum to 1.
    public var meanProbabilities: [Float]
    /// The per-class population variance of the pass probabilities (divided by `N`).
    public var variance: [Float]
    /// The entropy of the mean prediction, `H[E p]` — total uncertainty.
    public var predictiveEntropy: Float
    /// The mean entropy of the individual passes, `E[H p]` — the aleatoric part.
    public var expectedEntropy: Float
    /// `predictiveEntropy − expectedEntropy`, the mutual information between prediction and weights — the epistemic
    /// part; clamped at 0 against rounding.
    public var mutualInformation: Float
    /// The arg-max of ``meanProbabilities`` (the first class on ties).
    public var prediction: Int
    /// What the values are: class probabilities, or regression outputs (see ``MonteCarloPredictor/init(model:head:)``
    /// for their layout).
    public var head: OutputHead = .classification

    /// Summarises an `N × C` matrix whose rows are the pass probabilities.
    ///
    /// This is the pure reference definition; ``MonteCarloPredictor`` computes the same values fused with softmax.
    public init(passProbabilities probabilities: Matrix) {
        precondition(probabilities.rows > 0 && probabilities.columns > 0, "need at least one pass and one class")
        var accumulator = Accumulator(classCount: probabilities.columns)
        probabilities.storage.withUnsafeBufferPointer { storage in
            for row in 0..<probabilities.rows {
                let values = UnsafeBufferPointer(
                    rebasing: storage[(row * probabilities.columns)..<((row + 1) * probabilities.columns)])
                var entropy: Double = 0
                for value in values where value > 0 {
                    entropy -= Double(value) * naturalLog(Double(value))
                }
                accumulator.add(values, entropy: entropy)
            }
        }
        self = accumulator.summary()
    }

    init(
        sampleCount: Int, meanProbabilities: [Float], variance: [Float], predictiveEntropy: Float,
        expectedEntropy: Float
    ) {
        self.sampleCount = sampleCount
        self.meanProbabilities = meanProbabilities
        self.variance = variance
        self.predictiveEntropy = predictiveEntropy
        self.expectedEntropy = expectedEntropy
        self.mutualInformation = max(predictiveEntropy - expectedEntropy, 0)
        self.prediction = argmax(meanProbabilities)
    }

    /// A placeholder with no classes, to be filled by ``MonteCarloPredictor``.
    public static var empty: PredictiveSummary {
        PredictiveSummary(sampleCount: 0, meanProbabilities: [], variance: [], predictiveEntropy: 0, expectedEntropy: 0)
    }

    /// Overwrites the summary from running sums over `count` passes, reusing the arrays' storage.
    ///
    /// The arithmetic is exactly ``Accumulator/summary()``'s, so both give bit-identical summaries.
    mutating func assign(
        sums: UnsafeBufferPointer<Double>, squares: UnsafeBufferPointer<Double>, entropySum: Double, count: Int
    ) {
        let n = Double(count)
        meanProbabilities.removeAll(keepingCapacity: true)
        variance.removeAll(keepingCapacity: true)
        var entropy: Double = 0
        for index in 0..<sums.count {
            let m = sums[index] / n
            meanProbabilities.append(Float(m))
            variance.append(Float(max(squares[index] / n - m * m, 0)))
            if m > 0 { entropy -= m * naturalLog(m) }
        }
        sampleCount = count
        predictiveEntropy = Float(max(entropy, 0))
        expectedEntropy = Float(entropySum / n)
        mutualInformation = max(predictiveEntropy - expectedEntropy, 0)
        prediction = argmax(meanProbabilities)
    }

    /// The mean of regression target `index`.
    public func regressionMean(_ index: Int) -> Float { meanProbabilities[index] }

    /// The variance over passes of regression target `index`'s mean (epistemic).
    public func epistemicVariance(_ index: Int) -> Float { variance[index] }

    /// The mean `σ²` of target `index` of a `mean_logvar` head (aleatoric); 0 for other heads.
    public func aleatoricVariance(_ index: Int) -> Float {
        head == .meanLogVariance ? meanProbabilities[meanProbabilities.count / 2 + index] : 0
    }

    /// The number of regression targets (0 for classification).
    public var regressionTargetCount: Int {
        head.isClassification ? 0 : head.targetCount(outputSize: meanProbabilities.count)
    }

    /// The sum of the per-class variances, a scalar spread score.
    public var totalVariance: Float { variance.reduce(0, +) }

    /// Running sums over passes, in `Double`, from which the summary is finished.
    struct Accumulator {
        var sums: [Double]
        var squares: [Double]
        var entropySum: Double = 0
        var count = 0

        init(classCount: Int) {
            sums = [Double](repeating: 0, count: classCount)
            squares = [Double](repeating: 0, count: classCount)
        }

        mutating func add(_ probabilities: UnsafeBufferPointer<Float>, entropy: Double) {
            for index in 0..<sums.count {
                let p = Double(probabilities[index])
                sums[index] += p
                squares[index] += p * p
            }
            entropySum += entropy
            count += 1
        }

        func summary() -> PredictiveSummary {
            let n = Double(count)
            var mean = [Float](repeating: 0, count: sums.count)
            var variance = [Float](repeating: 0, count: sums.count)
            var entropy: Double = 0
            for index in 0..<sums.count {
                let m = sums[index] / n
                mean[index] = Float(m)
                variance[index] = Float(max(squares[index] / n - m * m, 0))
                if m > 0 { entropy -= m * naturalLog(m) }
            }
            return PredictiveSummary(
                sampleCount: count, meanProbabilities: mean, variance: variance,
                predictiveEntropy: Float(max(entropy, 0)), expectedEntropy: Float(entropySum / n))
        }
    }
}
