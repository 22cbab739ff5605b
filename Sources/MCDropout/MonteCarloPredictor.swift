/// Reusable buffers for ``MonteCarloPredictor``; keep one per thread so requests allocate nothing large.
public struct MonteCarloWorkspace: Sendable {
    var vector: [Float] = []
    var vectorNext: [Float] = []
    var passes = Matrix(rows: 0, columns: 0)
    var passesNext = Matrix(rows: 0, columns: 0)
    var maskRow: [Float] = []

    /// Creates an empty workspace; buffers grow to the largest request seen and are then reused.
    public init() {}
}

/// Monte-Carlo dropout inference: `N` stochastic forward passes with dropout forced on, batched.
///
/// The layers before the first one with dropout are identical for all passes, so they run once as matrix–vector
/// products. From the first dropout on, the `N` passes are the rows of one `N × H` matrix and each layer is a
/// single `sgemm`. Masks for the request seed `s` come from `RandomSource(seed: s)`, drawn layer after layer and,
/// within a layer, pass after pass (see ``Dropout/fillMask(_:rows:columns:using:)``).
public struct MonteCarloPredictor: Sendable {
    /// The network whose dropout is sampled.
    public let model: DropoutMLP
    /// Index of the first layer whose input dropout is non-zero; `layers.count` when the model has no dropout.
    let firstStochasticLayer: Int

    /// Creates a predictor over `model`.
    public init(model: DropoutMLP) {
        self.model = model
        firstStochasticLayer = model.dropouts.firstIndex { !$0.isIdentity } ?? model.layers.count
    }

    /// Runs `sampleCount` passes on one scaled input and summarises them.
    ///
    /// - Parameters:
    ///   - input: `model.inputSize` values, already divided by the model's input scale.
    ///   - sampleCount: the number of passes `N ≥ 1`.
    ///   - seed: selects the `N` dropout masks; equal seeds give bit-identical summaries.
    public func predict(
        _ input: UnsafeBufferPointer<Float>, sampleCount: Int, seed: UInt64, workspace: inout MonteCarloWorkspace
    ) -> PredictiveSummary {
        precondition(sampleCount >= 1, "at least one pass")
        precondition(input.count == model.inputSize, "input width mismatch")
        var generator = RandomSource(seed: seed)
        let layers = model.layers
        let last = layers.count - 1

        // Deterministic prefix: matrix–vector products shared by every pass.
        workspace.vector.removeAll(keepingCapacity: true)
        workspace.vector.append(contentsOf: input)
        for index in 0..<min(firstStochasticLayer, layers.count) {
            let layer = layers[index]
            workspace.vectorNext.removeAll(keepingCapacity: true)
            workspace.vectorNext.append(contentsOf: layer.bias)
            layer.weight.storage.withUnsafeBufferPointer { w in
                workspace.vector.withUnsafeBufferPointer { x in
                    workspace.vectorNext.withUnsafeMutableBufferPointer { y in
                        BLAS.gemv(
                            transpose: false, m: layer.outputSize, n: layer.inputSize, alpha: 1, a: w.baseAddress!,
                            lda: layer.inputSize, x: x.baseAddress!, beta: 1, y: y.baseAddress!)
                        if index < last { Activation.relu(y) }
                    }
                }
            }
            swap(&workspace.vector, &workspace.vectorNext)
        }

        if firstStochasticLayer == layers.count {
            // No dropout anywhere: every pass is the same deterministic prediction.
            return workspace.vector.withUnsafeMutableBufferPointer { logits in
                let entropy = Activation.softmax(logits)
                var accumulator = PredictiveSummary.Accumulator(classCount: logits.count)
                for _ in 0..<sampleCount { accumulator.add(UnsafeBufferPointer(logits), entropy: entropy) }
                return accumulator.summary()
            }
        }

        // Stochastic part: the N passes are the rows of one matrix.
        let width = workspace.vector.count
        workspace.passes.resize(rows: sampleCount, columns: width)
        workspace.passes.storage.withUnsafeMutableBufferPointer { passes in
            model.dropouts[firstStochasticLayer].fillMask(
                passes, rows: sampleCount, columns: width, using: &generator)
            workspace.vector.withUnsafeBufferPointer { shared in
                for row in 0..<sampleCount {
                    let base = row * width
                    for column in 0..<width { passes[base + column] *= shared[column] }
                }
            }
        }
        for index in firstStochasticLayer..<layers.count {
            let layer = layers[index]
            if index > firstStochasticLayer { applyDropout(index, to: &workspace, using: &generator) }
            workspace.passesNext.resize(rows: sampleCount, columns: layer.outputSize)
            workspace.passesNext.broadcastRows(layer.bias)
            BLAS.multiply(workspace.passes, by: layer.weight, transposingB: true, into: &workspace.passesNext, beta: 1)
            if index < last { Activation.relu(&workspace.passesNext) }
            swap(&workspace.passes, &workspace.passesNext)
        }

        // Softmax each pass and accumulate the statistics in the same sweep.
        let classes = model.outputSize
        var accumulator = PredictiveSummary.Accumulator(classCount: classes)
        workspace.passes.storage.withUnsafeMutableBufferPointer { storage in
            for row in 0..<sampleCount {
                let values = UnsafeMutableBufferPointer(rebasing: storage[(row * classes)..<((row + 1) * classes)])
                let entropy = Activation.softmax(values)
                accumulator.add(UnsafeBufferPointer(values), entropy: entropy)
            }
        }
        return accumulator.summary()
    }

    /// Runs `predict` on a fresh workspace; convenient for tests and one-off calls.
    public func predict(_ input: [Float], sampleCount: Int, seed: UInt64) -> PredictiveSummary {
        var workspace = MonteCarloWorkspace()
        return input.withUnsafeBufferPointer { predict($0, sampleCount: sampleCount, seed: seed, workspace: &workspace) }
    }

    /// The prediction with dropout off (weight scaling), as a one-pass summary with zero variance.
    public func predictDeterministic(_ input: [Float]) -> PredictiveSummary {
        let probabilities = model.deterministicProbabilities(for: Matrix(rows: 1, columns: input.count, storage: input))
        return PredictiveSummary(passProbabilities: probabilities)
    }

    /// Multiplies the pass matrix by fresh masks of layer `index`, one pass (row) at a time.
    private func applyDropout(_ index: Int, to workspace: inout MonteCarloWorkspace, using generator: inout RandomSource) {
        let dropout = model.dropouts[index]
        guard !dropout.isIdentity else { return }
        let rows = workspace.passes.rows
        let width = workspace.passes.columns
        if workspace.maskRow.count < width {
            workspace.maskRow = [Float](repeating: 0, count: width)
        }
        workspace.maskRow.withUnsafeMutableBufferPointer { mask in
            workspace.passes.storage.withUnsafeMutableBufferPointer { passes in
                for row in 0..<rows {
                    dropout.fillMask(mask, rows: 1, columns: width, using: &generator)
                    let base = row * width
                    for column in 0..<width { passes[base + column] *= mask[column] }
                }
            }
        }
    }
}

extension MonteCarloPredictor {
    /// Index of the first layer whose input dropout is non-zero (`layers.count` when there is none).
    public var firstStochasticLayerIndex: Int { firstStochasticLayer }
}

extension DropoutMLP {
    /// Floating-point operations of one Monte-Carlo prediction: the deterministic prefix once, the rest `N` times.
    public func monteCarloFlops(sampleCount: Int, firstStochasticLayer: Int) -> Int {
        var total = 0
        for (index, layer) in layers.enumerated() {
            let perPass = 2 * layer.inputSize * layer.outputSize
            total += index < firstStochasticLayer ? perPass : perPass * sampleCount
        }
        return total
    }
}
