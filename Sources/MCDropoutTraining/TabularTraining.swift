import Foundation
public import MCDropout

/// What a training batch is fitted to, and with which loss.
public enum TrainingTargets: Sendable {
    /// Class indices, softmax cross-entropy.
    case classes([Int])
    /// `B × T` regression targets, mean squared error over all `B·T` values.
    case meanSquaredError(Matrix)
    /// `B × T` targets for a `2T`-output mean–log-variance head, Gaussian negative log-likelihood
    /// `½ (s + (y − μ)² e⁻ˢ + ln 2π)` averaged over the `B·T` values (`s` = log σ²).
    case gaussianNegativeLogLikelihood(Matrix)
}

/// Buffers of ``DropoutMLP/trainingStep(input:targets:workspace:gradients:using:)``, kept between steps.
public struct GeneralTrainingWorkspace: Sendable {
    /// `inputs[l]`: the input of layer `l` after its dropout; `preActivations[l]`: layer `l`'s output before its
    /// activation (the last one holds the outputs, then their gradient).
    var inputs: [Matrix]
    var preActivations: [Matrix]
    var masks: [[Float]]
    var delta = Matrix(rows: 0, columns: 0)
    var deltaPrevious = Matrix(rows: 0, columns: 0)

    /// Creates buffers for `model`.
    public init(for model: DropoutMLP) {
        inputs = Array(repeating: Matrix(rows: 0, columns: 0), count: model.layers.count)
        preActivations = Array(repeating: Matrix(rows: 0, columns: 0), count: model.layers.count)
        masks = Array(repeating: [], count: model.layers.count)
    }
}

extension DropoutMLP {
    /// One forward and backward pass with dropout active, for any activation and loss, writing the mean-loss
    /// gradients into `gradients`.
    ///
    /// The activation's derivative is taken at the stored pre-activations, so it holds for every
    /// ``HiddenActivation``. (ReLU classifiers on images keep the leaner
    /// ``trainingStep(input:labels:workspace:gradients:using:)``.)
    ///
    /// - Returns: the batch's mean loss and, for classes, the correct count (0 for regression).
    public func trainingStep(
        input: Matrix, targets: TrainingTargets, workspace: inout GeneralTrainingWorkspace,
        gradients: inout Gradients, using generator: inout RandomSource
    ) -> (meanLoss: Double, correctCount: Int) {
        let count = layers.count
        var current = input
        for index in 0..<count {
            dropouts[index](&current, isActive: true, mask: &workspace.masks[index], using: &generator)
            workspace.inputs[index] = current
            layers[index](current, into: &workspace.preActivations[index])
            if index < count - 1 {
                current = workspace.preActivations[index]
                activation.apply(&current)
            }
        }
        var result: (meanLoss: Double, correctCount: Int)
        switch targets {
        case .classes(let labels):
            let evaluation = SoftmaxCrossEntropy.lossAndGradient(
                logitsToGradient: &workspace.preActivations[count - 1], labels: labels)
            result = (evaluation.meanLoss, evaluation.correctCount)
        case .meanSquaredError(let values):
            result = (Self.squaredErrorGradient(&workspace.preActivations[count - 1], targets: values), 0)
        case .gaussianNegativeLogLikelihood(let values):
            result = (Self.gaussianGradient(&workspace.preActivations[count - 1], targets: values), 0)
        }
        swap(&workspace.delta, &workspace.preActivations[count - 1])
        for index in stride(from: count - 1, through: 0, by: -1) {
            BLAS.multiply(
                workspace.delta, by: workspace.inputs[index], transposingA: true, into: &gradients.weights[index])
            columnSums(of: workspace.delta, into: &gradients.biases[index])
            guard index > 0 else { break }
            workspace.deltaPrevious.resize(rows: workspace.delta.rows, columns: layers[index].inputSize)
            BLAS.multiply(workspace.delta, by: layers[index].weight, into: &workspace.deltaPrevious)
            let mask = workspace.masks[index]
            let activation = self.activation
            workspace.deltaPrevious.storage.withUnsafeMutableBufferPointer { delta in
                workspace.preActivations[index - 1].storage.withUnsafeBufferPointer { pre in
                    for position in 0..<delta.count { delta[position] *= activation.derivative(pre[position]) }
                }
                if !mask.isEmpty {
                    mask.withUnsafeBufferPointer { m in
                        for position in 0..<delta.count { delta[position] *= m[position] }
                    }
                }
            }
            swap(&workspace.delta, &workspace.deltaPrevious)
        }
        swap(&workspace.delta, &workspace.preActivations[count - 1])
        return result
    }

    /// Replaces `outputs` with the gradient of the mean squared error and returns that error.
    static func squaredErrorGradient(_ outputs: inout Matrix, targets: Matrix) -> Double {
        precondition(outputs.rows == targets.rows && outputs.columns == targets.columns, "targets shape mismatch")
        let n = Float(outputs.storage.count)
        var total: Double = 0
        for index in outputs.storage.indices {
            let error = outputs.storage[index] - targets.storage[index]
            total += Double(error * error)
            outputs.storage[index] = 2 * error / n
        }
        return total / Double(n)
    }

    /// Replaces the `2T` outputs (means, then log variances) with the gradient of the mean Gaussian negative
    /// log-likelihood and returns that mean.
    static func gaussianGradient(_ outputs: inout Matrix, targets: Matrix) -> Double {
        let targetCount = targets.columns
        precondition(outputs.rows == targets.rows && outputs.columns == 2 * targetCount, "targets shape mismatch")
        let n = Float(targets.storage.count)
        var total: Double = 0
        for row in 0..<outputs.rows {
            for column in 0..<targetCount {
                let mean = outputs[row, column]
                let logVariance = outputs[row, targetCount + column]
                let error = mean - targets[row, column]
                let precision = Foundation.exp(-logVariance)
                total += 0.5 * Double(logVariance + error * error * precision) + 0.9189385332046727
                outputs[row, column] = error * precision / n
                outputs[row, targetCount + column] = 0.5 * (1 - error * error * precision) / n
            }
        }
        return total / Double(n)
    }
}
