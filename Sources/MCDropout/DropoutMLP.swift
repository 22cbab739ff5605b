/// A multilayer perceptron of ``Dense`` layers with a ``HiddenActivation`` (ReLU by default) between them and inverted
/// ``Dropout`` on each layer's input.
///
/// `dropouts[i]` applies to the input of `layers[i]`: the first to the input pixels (usually `p = 0`), the others to
/// hidden activations. The last layer's output is the logits; softmax is applied by the caller's loss or predictor.
public struct DropoutMLP: Sendable, Equatable {
    /// The dense layers in forward order.
    public var layers: [Dense]
    /// One dropout per dense layer, applied to that layer's input.
    public let dropouts: [Dropout]
    /// The nonlinearity after every layer but the last.
    public var activation: HiddenActivation

    /// Creates a network from existing layers; shapes must chain and there must be one dropout per layer.
    public init(layers: [Dense], dropoutProbabilities: [Float], activation: HiddenActivation = .relu) {
        precondition(!layers.isEmpty, "a network needs at least one layer")
        precondition(dropoutProbabilities.count == layers.count, "one dropout probability per dense layer")
        for index in 1..<layers.count {
            precondition(layers[index].inputSize == layers[index - 1].outputSize, "layer \(index) does not chain")
        }
        self.layers = layers
        self.dropouts = dropoutProbabilities.map(Dropout.init(probability:))
        self.activation = activation
    }

    /// Creates a freshly initialised network with the given widths, e.g. `[784, 512, 512, 10]`.
    public init(
        layerSizes: [Int], dropoutProbabilities: [Float], initialization: WeightInitialization,
        activation: HiddenActivation = .relu, using generator: inout RandomSource
    ) {
        precondition(layerSizes.count >= 2, "a network needs an input and an output size")
        var layers: [Dense] = []
        for index in 1..<layerSizes.count {
            layers.append(
                Dense(
                    inputSize: layerSizes[index - 1], outputSize: layerSizes[index], initialization: initialization,
                    using: &generator))
        }
        self.init(layers: layers, dropoutProbabilities: dropoutProbabilities, activation: activation)
    }

    /// The widths of the input and of every layer's output, e.g. `[784, 512, 512, 10]`.
    public var layerSizes: [Int] { [layers[0].inputSize] + layers.map(\.outputSize) }

    /// The dropout probabilities, one per dense layer input.
    public var dropoutProbabilities: [Float] { dropouts.map(\.probability) }

    /// The input width.
    public var inputSize: Int { layers[0].inputSize }

    /// The number of classes.
    public var outputSize: Int { layers[layers.count - 1].outputSize }

    /// The number of trainable parameters.
    public var parameterCount: Int { layers.reduce(0) { $0 + $1.weight.storage.count + $1.bias.count } }

    /// Computes the logits for a batch of scaled inputs (`B × inputSize`), with dropout on or off.
    public func logits(for input: Matrix, isDropoutActive: Bool, using generator: inout RandomSource) -> Matrix {
        var current = input
        var next = Matrix(rows: 0, columns: 0)
        var mask: [Float] = []
        for (index, layer) in layers.enumerated() {
            dropouts[index](&current, isActive: isDropoutActive, mask: &mask, using: &generator)
            layer(current, into: &next)
            if index < layers.count - 1 { activation.apply(&next) }
            swap(&current, &next)
        }
        return current
    }

    /// Computes class probabilities for a batch of scaled inputs with dropout off (weight scaling inference).
    public func deterministicProbabilities(for input: Matrix) -> Matrix {
        var unused = RandomSource(seed: 0)
        var result = logits(for: input, isDropoutActive: false, using: &unused)
        Activation.softmaxRows(&result)
        return result
    }
}
