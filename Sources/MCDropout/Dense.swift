/// How a ``Dense`` layer's weights are drawn at creation.
public enum WeightInitialization: String, Sendable, CaseIterable {
    /// He et al. (2015): normal with standard deviation `√(2 / fanIn)`; suits ReLU layers.
    case he
    /// Glorot & Bengio (2010): uniform in `±√(6 / (fanIn + fanOut))`.
    case xavier
}

/// A fully connected layer `y = x·Wᵀ + b`, with `W` stored as `[out, in]` (PyTorch's `nn.Linear` layout).
public struct Dense: Sendable, Equatable {
    /// The weights, `outputSize × inputSize`.
    public var weight: Matrix
    /// The bias, `outputSize` values.
    public var bias: [Float]

    /// The width of the layer's input.
    public var inputSize: Int { weight.columns }
    /// The width of the layer's output.
    public var outputSize: Int { weight.rows }

    /// Creates a layer from existing parameters.
    public init(weight: Matrix, bias: [Float]) {
        precondition(bias.count == weight.rows, "bias count must equal the weight's row count")
        self.weight = weight
        self.bias = bias
    }

    /// Creates a layer with freshly initialised weights and zero bias.
    public init(
        inputSize: Int, outputSize: Int, initialization: WeightInitialization,
        using generator: inout RandomSource
    ) {
        precondition(inputSize > 0 && outputSize > 0, "layer sizes must be positive")
        var weight = Matrix(rows: outputSize, columns: inputSize)
        switch initialization {
        case .he:
            let deviation = (2 / Double(inputSize)).squareRoot()
            for index in weight.storage.indices {
                weight.storage[index] = Float(generator.nextStandardNormal() * deviation)
            }
        case .xavier:
            let limit = Float((6 / Double(inputSize + outputSize)).squareRoot())
            for index in weight.storage.indices {
                weight.storage[index] = (generator.nextUnitFloat() * 2 - 1) * limit
            }
        }
        self.init(weight: weight, bias: [Float](repeating: 0, count: outputSize))
    }

    /// Computes `output = input·Wᵀ + b` for a batch; `output` is resized to `input.rows × outputSize`.
    public func callAsFunction(_ input: Matrix, into output: inout Matrix) {
        precondition(input.columns == inputSize, "input width \(input.columns) ≠ layer input \(inputSize)")
        output.resize(rows: input.rows, columns: outputSize)
        output.broadcastRows(bias)
        BLAS.multiply(input, by: weight, transposingB: true, into: &output, beta: 1)
    }
}

extension Dense {
    /// The weights by input unit, `inputSize × outputSize` (one row of `outputSize` weights per input unit): the
    /// layout in which a kernel that skips zero inputs, or packs per input unit, reads them.
    public var weightsByInput: [Float] {
        var transposed = [Float](repeating: 0, count: inputSize * outputSize)
        for output in 0..<outputSize {
            for input in 0..<inputSize { transposed[input * outputSize + output] = weight[output, input] }
        }
        return transposed
    }
}

extension Matrix {
    /// Sets every row to `values`.
    public mutating func broadcastRows(_ values: [Float]) {
        precondition(values.count == columns, "row width mismatch")
        let columns = self.columns
        storage.withUnsafeMutableBufferPointer { out in
            values.withUnsafeBufferPointer { row in
                for r in 0..<rows {
                    _ = UnsafeMutableBufferPointer(rebasing: out[(r * columns)..<((r + 1) * columns)])
                        .update(fromContentsOf: row)
                }
            }
        }
    }
}
