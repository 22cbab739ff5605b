/// ``ClassConditionalGaussian``'s features and their whitening by sparse rows: the weights of the layers up to the
/// feature layer and the whitening matrix, each stored by input unit, so that only the rows of non-zero inputs and
/// activations are read (``RowKernels``).
final class SparseFeatures: Sendable {
    /// Per layer up to the feature layer, its weights by input unit (`inputSize × outputSize`) and its bias.
    let weightsByInput: [[Float]]
    let biases: [[Float]]
    let activation: HiddenActivation
    /// `Wᵀ`: the whitening by feature (`H × m`).
    let whiteningByFeature: [Float]
    let dimensions: Int
    /// The widest vector the pass holds: the input or a layer's output.
    let widest: Int

    init(model: DropoutMLP, layer: Int, whitening: Matrix) {
        precondition(layer < model.layers.count, "feature layer \(layer) is not a hidden layer of the model")
        precondition(model.layers[layer - 1].outputSize == whitening.columns, "feature width differs from the model's")
        let layers = model.layers[0..<layer]
        weightsByInput = layers.map(\.weightsByInput)
        biases = layers.map(\.bias)
        activation = model.activation
        dimensions = whitening.rows
        var byFeature = [Float](repeating: 0, count: whitening.columns * whitening.rows)
        for row in 0..<whitening.rows {
            for column in 0..<whitening.columns { byFeature[column * whitening.rows + row] = whitening[row, column] }
        }
        whiteningByFeature = byFeature
        widest = layers.reduce(model.inputSize) { max($0, $1.outputSize) }
    }

    /// Leaves `W h` in `workspace.whitened` (`m` values), `h` the features of `input`.
    func whitened(of input: UnsafeBufferPointer<Float>, workspace: inout DensityWorkspace) {
        // The workspace's buffers, moved out for the pass (no copy) and back after it.
        var current: [Float] = []
        var next: [Float] = []
        var units: [Int32] = []
        var values: [Float] = []
        var whitened: [Float] = []
        swap(&current, &workspace.features)
        swap(&next, &workspace.featuresNext)
        swap(&units, &workspace.units)
        swap(&values, &workspace.values)
        swap(&whitened, &workspace.whitened)
        defer {
            swap(&current, &workspace.features)
            swap(&next, &workspace.featuresNext)
            swap(&units, &workspace.units)
            swap(&values, &workspace.values)
            swap(&whitened, &workspace.whitened)
        }
        current.ensureCount(widest)
        next.ensureCount(widest)
        whitened.ensureCount(dimensions)
        var width = input.count
        current.withUnsafeMutableBufferPointer {
            _ = UnsafeMutableBufferPointer(rebasing: $0[0..<width]).update(fromContentsOf: input)
        }
        for index in weightsByInput.indices {
            let outputs = biases[index].count
            next.withUnsafeMutableBufferPointer { next in
                RowKernels.addNonZeroRows(
                    of: current, count: width, rows: weightsByInput[index], base: biases[index],
                    into: next.baseAddress!, width: outputs, units: &units, values: &values)
            }
            next.withUnsafeMutableBufferPointer {
                activation.apply(UnsafeMutableBufferPointer(rebasing: $0[0..<outputs]))
            }
            swap(&current, &next)
            width = outputs
        }
        whitened.withUnsafeMutableBufferPointer { whitened in
            RowKernels.addNonZeroRows(
                of: current, count: width, rows: whiteningByFeature, base: nil, into: whitened.baseAddress!,
                width: dimensions, units: &units, values: &values)
        }
    }
}
