public import MCDropout
public import MCDropoutData

/// Accuracy and negative log-likelihood of a model on a labelled set.
public struct EvaluationResult: Sendable, Equatable {
    /// Fraction of examples whose predicted class is the label.
    public var accuracy: Double
    /// Mean negative log-likelihood of the labels, in nats.
    public var meanLoss: Double
    /// The number of examples evaluated.
    public var count: Int
}

/// Evaluates models on labelled images, with dropout off or with Monte-Carlo averaging.
public enum Evaluator {
    /// Dropout off (weight scaling), in batches of `batchSize`.
    public static func deterministic(
        _ model: DropoutMLP, on data: LabeledImages, inputScale: Float, batchSize: Int = 1000
    ) -> EvaluationResult {
        var lossSum: Double = 0
        var correct = 0
        var lower = 0
        while lower < data.count {
            let upper = min(lower + batchSize, data.count)
            let slice = data.subset(lower..<upper)
            let input = Matrix(
                rows: upper - lower, columns: data.pixelCount, storage: slice.pixels.map { Float($0) / inputScale })
            let probabilities = model.deterministicProbabilities(for: input)
            let evaluation = SoftmaxCrossEntropy.evaluate(
                probabilities: probabilities, labels: slice.labels.map(Int.init))
            lossSum += evaluation.meanLoss * Double(upper - lower)
            correct += evaluation.correctCount
            lower = upper
        }
        return EvaluationResult(
            accuracy: Double(correct) / Double(max(data.count, 1)), meanLoss: lossSum / Double(max(data.count, 1)),
            count: data.count)
    }

    /// Monte-Carlo dropout with `sampleCount` passes per image; image `i` uses seed `seed &+ i`.
    public static func monteCarlo(
        _ model: DropoutMLP, on data: LabeledImages, inputScale: Float, sampleCount: Int, seed: UInt64
    ) -> EvaluationResult {
        let predictor = MonteCarloPredictor(model: model)
        var workspace = MonteCarloWorkspace()
        var lossSum: Double = 0
        var correct = 0
        var input = [Float](repeating: 0, count: data.pixelCount)
        for index in 0..<data.count {
            for column in 0..<data.pixelCount {
                input[column] = Float(data.pixels[index * data.pixelCount + column]) / inputScale
            }
            let summary = input.withUnsafeBufferPointer {
                predictor.predict($0, sampleCount: sampleCount, seed: seed &+ UInt64(index), workspace: &workspace)
            }
            let label = Int(data.labels[index])
            if summary.prediction == label { correct += 1 }
            lossSum -= Double(naturalLogClamped(summary.meanProbabilities[label]))
        }
        return EvaluationResult(
            accuracy: Double(correct) / Double(max(data.count, 1)), meanLoss: lossSum / Double(max(data.count, 1)),
            count: data.count)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private func naturalLogClamped(_ value: Float) -> Double {
    log(max(Double(value), Double.leastNormalMagnitude))
}
