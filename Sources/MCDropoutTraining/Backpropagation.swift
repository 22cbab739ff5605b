public import MCDropout

/// The gradients of a loss with respect to every parameter of a ``DropoutMLP``, in the same layout.
public struct Gradients: Sendable {
    /// One `out × in` matrix per layer.
    public var weights: [Matrix]
    /// One bias gradient per layer.
    public var biases: [[Float]]

    /// Zero gradients shaped like `model`.
    public init(like model: DropoutMLP) {
        weights = model.layers.map { Matrix(rows: $0.outputSize, columns: $0.inputSize) }
        biases = model.layers.map { [Float](repeating: 0, count: $0.outputSize) }
    }
}

/// Buffers one training step needs, kept between steps so the loop allocates nothing per batch.
public struct TrainingWorkspace: Sendable {
    /// `activations[l]` is the input of layer `l` after its dropout; `activations[L]` holds the logits, then their
    /// gradient.
    var activations: [Matrix]
    /// The dropout mask applied to each layer's input (empty when dropout was inactive or `p = 0`).
    var masks: [[Float]]
    var delta = Matrix(rows: 0, columns: 0)
    var deltaPrevious = Matrix(rows: 0, columns: 0)

    /// Creates buffers for `model`.
    public init(for model: DropoutMLP) {
        activations = Array(repeating: Matrix(rows: 0, columns: 0), count: model.layers.count + 1)
        masks = Array(repeating: [], count: model.layers.count)
    }
}

extension DropoutMLP {
    /// Runs the forward pass with dropout active, the softmax cross-entropy loss against `labels`, and the backward
    /// pass, writing the mean-loss gradients into `gradients`.
    ///
    /// - Parameters:
    ///   - input: a `B × inputSize` batch, already scaled.
    ///   - generator: draws the dropout masks; re-seeding it reproduces the same masks (used by gradient checks).
    /// - Returns: the batch's mean loss and correct count.
    public func trainingStep(
        input: Matrix, labels: [Int], workspace: inout TrainingWorkspace, gradients: inout Gradients,
        using generator: inout RandomSource
    ) -> SoftmaxCrossEntropy.Evaluation {
        let count = layers.count
        workspace.activations[0] = input
        for index in 0..<count {
            dropouts[index](
                &workspace.activations[index], isActive: true, mask: &workspace.masks[index], using: &generator)
            layers[index](workspace.activations[index], into: &workspace.activations[index + 1])
            if index < count - 1 { Activation.relu(&workspace.activations[index + 1]) }
        }
        let evaluation = SoftmaxCrossEntropy.lossAndGradient(
            logitsToGradient: &workspace.activations[count], labels: labels)
        swap(&workspace.delta, &workspace.activations[count])

        for index in stride(from: count - 1, through: 0, by: -1) {
            let input = workspace.activations[index]
            BLAS.multiply(workspace.delta, by: input, transposingA: true, into: &gradients.weights[index])
            columnSums(of: workspace.delta, into: &gradients.biases[index])
            guard index > 0 else { break }
            workspace.deltaPrevious.resize(rows: workspace.delta.rows, columns: layers[index].inputSize)
            BLAS.multiply(workspace.delta, by: layers[index].weight, into: &workspace.deltaPrevious)
            let mask = workspace.masks[index]
            workspace.deltaPrevious.storage.withUnsafeMutableBufferPointer { delta in
                input.storage.withUnsafeBufferPointer { activation in
                    // The ReLU derivative is read off the dropped-out activation: where the mask is 0 the gradient
                    // is zeroed by the mask anyway, and elsewhere it is positive exactly when the ReLU was.
                    for position in 0..<delta.count where !(activation[position] > 0) { delta[position] = 0 }
                }
                if !mask.isEmpty {
                    mask.withUnsafeBufferPointer { m in
                        for position in 0..<delta.count { delta[position] *= m[position] }
                    }
                }
            }
            swap(&workspace.delta, &workspace.deltaPrevious)
        }
        swap(&workspace.delta, &workspace.activations[count])
        return evaluation
    }
}

/// `sums[j] = Σᵢ matrix[i, j]`.
func columnSums(of matrix: Matrix, into sums: inout [Float]) {
    precondition(sums.count == matrix.columns, "one sum per column")
    let columns = matrix.columns
    sums.withUnsafeMutableBufferPointer { out in
        for column in 0..<columns { out[column] = 0 }
        matrix.storage.withUnsafeBufferPointer { values in
            for row in 0..<matrix.rows {
                let base = row * columns
                for column in 0..<columns { out[column] += values[base + column] }
            }
        }
    }
}
