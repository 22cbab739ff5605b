/// Softmax followed by cross-entropy against integer class labels, fused for numerical stability.
public enum SoftmaxCrossEntropy {
    /// The result of evaluating the loss on a batch.
    public struct Evaluation: Sendable, Equatable {
        /// Mean negative log-likelihood over the batch, in nats.
        public var meanLoss: Double
        /// How many rows' arg-max equals their label.
        public var correctCount: Int
    }

    /// The smallest probability a log-likelihood counts, so one confident mistake costs at most `−ln 1e-12` ≈ 27.6
    /// nats instead of infinity. The project's one clamp: training loss, validation, the metrics stored in a model
    /// file and `mcdropout-eval` all go through ``negativeLogLikelihood(ofProbability:)``.
    public static let probabilityFloor: Double = 1e-12

    /// `−ln max(p, probabilityFloor)`, in nats.
    public static func negativeLogLikelihood(ofProbability probability: Double) -> Double {
        -naturalLog(max(probability, probabilityFloor))
    }

    /// Computes the mean loss of `logits` (`B × C`) against `labels` and, in place of the logits, its gradient with
    /// respect to the logits: `(softmax(z) − onehot(y)) / B`.
    public static func lossAndGradient(logitsToGradient logits: inout Matrix, labels: [Int]) -> Evaluation {
        precondition(labels.count == logits.rows, "one label per row")
        let columns = logits.columns
        let inverseBatch = 1 / Float(max(logits.rows, 1))
        var total: Double = 0
        var correct = 0
        logits.storage.withUnsafeMutableBufferPointer { storage in
            for row in 0..<labels.count {
                let values = UnsafeMutableBufferPointer(rebasing: storage[(row * columns)..<((row + 1) * columns)])
                let label = labels[row]
                precondition(label >= 0 && label < columns, "label out of range")
                if argmax(UnsafeBufferPointer(values)) == label { correct += 1 }
                Activation.softmax(values)
                total += negativeLogLikelihood(ofProbability: Double(values[label]))
                for column in 0..<columns { values[column] *= inverseBatch }
                values[label] -= inverseBatch
            }
        }
        return Evaluation(meanLoss: total / Double(max(labels.count, 1)), correctCount: correct)
    }
}

/// The index of the largest value (the first one on ties); `-1` for an empty buffer.
@inlinable
public func argmax(_ values: UnsafeBufferPointer<Float>) -> Int {
    var best = -1
    var bestValue = -Float.infinity
    for index in values.indices where best < 0 || values[index] > bestValue {
        best = index
        bestValue = values[index]
    }
    return best
}

/// The index of the largest value (the first one on ties); `-1` for an empty array.
public func argmax(_ values: [Float]) -> Int {
    values.withUnsafeBufferPointer { argmax($0) }
}
