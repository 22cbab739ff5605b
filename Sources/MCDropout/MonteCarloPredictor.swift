/// Reusable buffers for ``MonteCarloPredictor``; keep one per thread so requests allocate nothing once it is warm.
///
/// Buffers only grow: after the first request of a given shape, later requests of that shape or smaller run without
/// touching the heap. A block holds at most ``MonteCarloPredictor/blockRows`` passes of one input, so the workspace
/// stays a few megabytes whatever `N` or the batch size is.
public struct MonteCarloWorkspace: Sendable {
    /// Deterministic prefix: two vectors of the widest prefix layer.
    var prefix: [Float] = []
    var prefixNext: [Float] = []
    /// The input of the first stochastic layer for each instance, already multiplied by that layer's keep scale.
    var shared: [Float] = []
    /// The pass matrix of the current block and the next layer's output.
    var passes: [Float] = []
    var passesNext: [Float] = []
    /// The random words of the current block's masks, pass after pass (see ``MonteCarloPredictor``).
    var maskWords: [UInt64] = []
    /// Per instance: `C` sums of probabilities, `C` sums of squares, the entropy sum and the pass count.
    var statistics: [Double] = []
    /// Per instance, the entropy of the deterministic prediction of a model without dropout.
    var deterministicEntropy: [Double] = []
    /// The instances whose statistics are being accumulated.
    var instanceCount = 0

    /// Creates an empty workspace; buffers grow to the largest request seen and are then reused.
    public init() {}
}

/// Monte-Carlo dropout inference: `N` stochastic forward passes with dropout forced on, batched.
///
/// The layers before the first one with dropout are identical for all passes, so they run once per input as
/// matrix–vector products. From the first dropout on, the passes of one input are the rows of one matrix and each
/// layer is a single `sgemm` over them (in blocks of at most ``blockRows`` passes). The bias add, ReLU, the next dropout mask and its `1/(1−p)` scale are fused into one sweep over each GEMM
/// result, and softmax and the statistics into one sweep over the logits.
///
/// **Random stream.** Masks for the request seed `s` come from `RandomSource(seed: s)`, drawn *pass after pass* and,
/// within a pass, layer after layer (every layer with non-zero dropout from the first stochastic one on). A mask row
/// of width `W` consumes fresh 64-bit words exactly as ``Dropout/fillMask(_:rows:columns:using:)`` does for one row:
/// for `p = 0.5`, `⌈W/64⌉` words, unit `j` kept when bit `j mod 64` of word `⌊j/64⌋` is 1; otherwise `⌈W/2⌉` words,
/// unit `j` kept when the low (`j` even) or high (`j` odd) 32-bit half of word `⌊j/2⌋` reaches
/// ``Dropout/dropThreshold``. So the first `n` passes of a seed are the same whatever `N` is (adaptive sampling relies
/// on this), and every input of a batch sees the same `N` masks as a single request with that seed.
///
/// **Reproducibility.** Results are bit-identical for equal seeds and equal `N`. A batch of `B` inputs does *not*
/// stack its `B × N` passes into one `(B·N) × H` sgemm: OpenBLAS 0.3.21 (even on one thread) rounds a row differently
/// depending on the number of rows `M` (its kernels for row tails and its blocking depend on `M`; `mcdropout-bench
/// --check-rows` shows it), so a stacked batch would not reproduce single requests bit for bit. Instead each input
/// runs the same GEMMs a single request runs (`N × H`, already large enough to be near the sgemm peak), while the
/// masks of a block are drawn once and shared by all inputs. For the same reason, adaptive sampling, which runs its
/// passes in blocks, agrees with a fixed-`N` request using the same masks only up to float rounding.
public struct MonteCarloPredictor: Sendable {
    /// The network whose dropout is sampled.
    public let model: DropoutMLP
    /// Index of the first layer whose input dropout is non-zero; `layers.count` when the model has no dropout.
    let firstStochasticLayer: Int
    /// For each layer from `firstStochasticLayer` on: the offset of its mask words within one pass (`-1`: no dropout).
    let maskWordOffsets: [Int]
    /// Random words one pass consumes.
    let wordsPerPass: Int
    /// The widest layer input or output from the first stochastic layer on.
    let stochasticWidth: Int
    /// Per layer, its weights transposed (`inputSize × outputSize`, one row per input unit) where the engine reads
    /// them so, else empty: every stochastic layer, and the first layer when it runs once per input.
    ///
    /// Stochastic layers: OpenBLAS packs both operands on every `sgemm` call, and packing the weights is the fixed
    /// cost of a request (half the time at `N = 1`). Packing them from `inputSize × outputSize` (`sgemm` "NN",
    /// OpenBLAS's `itcopy`) measured about 20 % cheaper than from the model's `outputSize × inputSize` ("NT",
    /// `incopy`), about 3 % of a request at `N = 100`. The first layer: see ``sparseFirstLayer(_:into:)``.
    let weightsByInput: [[Float]]

    /// The most passes of one input that one block holds, bounding the workspace size.
    public static let blockRows = 1024

    /// Creates a predictor over `model`.
    public init(model: DropoutMLP) {
        self.model = model
        let first = model.dropouts.firstIndex { !$0.isIdentity } ?? model.layers.count
        firstStochasticLayer = first
        var offsets: [Int] = []
        var words = 0
        var width = 0
        for index in first..<model.layers.count {
            let dropout = model.dropouts[index]
            let inputWidth = model.layers[index].inputSize
            width = max(width, inputWidth, model.layers[index].outputSize)
            if dropout.isIdentity {
                offsets.append(-1)
            } else {
                offsets.append(words)
                words += dropout.probability == 0.5 ? (inputWidth + 63) / 64 : (inputWidth + 1) / 2
            }
        }
        maskWordOffsets = offsets
        wordsPerPass = words
        stochasticWidth = width
        weightsByInput = model.layers.indices.map { index in
            guard index >= first || (index == 0 && first > 0) else { return [] }
            let layer = model.layers[index]
            var transposed = [Float](repeating: 0, count: layer.inputSize * layer.outputSize)
            for output in 0..<layer.outputSize {
                for input in 0..<layer.inputSize {
                    transposed[input * layer.outputSize + output] = layer.weight[output, input]
                }
            }
            return transposed
        }
    }

    // MARK: - Public entry points

    /// Runs `sampleCount` passes on one scaled input and summarises them.
    ///
    /// - Parameters:
    ///   - input: `model.inputSize` values, already divided by the model's input scale.
    ///   - sampleCount: the number of passes `N ≥ 1`.
    ///   - seed: selects the `N` dropout masks; equal seeds give bit-identical summaries.
    public func predict(
        _ input: UnsafeBufferPointer<Float>, sampleCount: Int, seed: UInt64, workspace: inout MonteCarloWorkspace
    ) -> PredictiveSummary {
        var summary = PredictiveSummary.empty
        predict(input, sampleCount: sampleCount, seed: seed, workspace: &workspace, into: &summary)
        return summary
    }

    /// Runs `sampleCount` passes on one scaled input and writes the summary into `summary`, reusing its arrays.
    ///
    /// With a warm workspace and a `summary` that owns its arrays uniquely, this allocates nothing.
    public func predict(
        _ input: UnsafeBufferPointer<Float>, sampleCount: Int, seed: UInt64, workspace: inout MonteCarloWorkspace,
        into summary: inout PredictiveSummary
    ) {
        precondition(sampleCount >= 1, "at least one pass")
        precondition(input.count == model.inputSize, "input width mismatch")
        var generator = RandomSource(seed: seed)
        prepare(input, instanceCount: 1, workspace: &workspace)
        addPasses(sampleCount, generator: &generator, workspace: &workspace)
        workspace.summarize(instance: 0, classCount: model.outputSize, into: &summary)
    }

    /// Runs `sampleCount` passes on each of `instanceCount` scaled inputs laid out one after another, all with the
    /// masks of `seed`, and writes one summary per input into `summaries` (resized to `instanceCount`).
    ///
    /// Every summary is bit-identical to the one ``predict(_:sampleCount:seed:workspace:)`` gives for that input
    /// alone; the batch shares the mask generation and the workspace.
    public func predictBatch(
        _ inputs: UnsafeBufferPointer<Float>, instanceCount: Int, sampleCount: Int, seed: UInt64,
        workspace: inout MonteCarloWorkspace, into summaries: inout [PredictiveSummary]
    ) {
        precondition(sampleCount >= 1, "at least one pass")
        precondition(instanceCount >= 1 && inputs.count == instanceCount * model.inputSize, "inputs width mismatch")
        var generator = RandomSource(seed: seed)
        prepare(inputs, instanceCount: instanceCount, workspace: &workspace)
        addPasses(sampleCount, generator: &generator, workspace: &workspace)
        if summaries.count > instanceCount { summaries.removeLast(summaries.count - instanceCount) }
        while summaries.count < instanceCount { summaries.append(.empty) }
        for instance in 0..<instanceCount {
            workspace.summarize(instance: instance, classCount: model.outputSize, into: &summaries[instance])
        }
    }

    /// Runs passes in blocks until ``AdaptiveSampling`` says the mean probabilities are precise enough.
    ///
    /// The summary's `sampleCount` is the number of passes used. Because masks are drawn pass after pass, the passes
    /// are those of ``predict(_:sampleCount:seed:workspace:)`` with that many passes and the same seed; results agree
    /// up to float rounding (the GEMMs have other row counts, see the type's documentation).
    public func predictAdaptive(
        _ input: UnsafeBufferPointer<Float>, sampling: AdaptiveSampling, seed: UInt64,
        workspace: inout MonteCarloWorkspace, into summary: inout PredictiveSummary
    ) {
        precondition(input.count == model.inputSize, "input width mismatch")
        var generator = RandomSource(seed: seed)
        prepare(input, instanceCount: 1, workspace: &workspace)
        let classes = model.outputSize
        var done = 0
        while true {
            let error = done == 0 ? Double.infinity : workspace.maximumStandardError(instance: 0, classCount: classes)
            let block = sampling.nextBlock(passesDone: done, maximumStandardError: error)
            if block == 0 { break }
            addPasses(block, generator: &generator, workspace: &workspace)
            done += block
        }
        workspace.summarize(instance: 0, classCount: classes, into: &summary)
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

    // MARK: - Engine

    /// Computes each input's shared activations (the deterministic prefix) and clears the statistics.
    ///
    /// For a model without dropout the "shared activations" are the final logits.
    func prepare(_ inputs: UnsafeBufferPointer<Float>, instanceCount: Int, workspace: inout MonteCarloWorkspace) {
        let layers = model.layers
        let last = layers.count - 1
        let prefixEnd = min(firstStochasticLayer, layers.count)
        let sharedWidth = prefixEnd == 0 ? model.inputSize : layers[prefixEnd - 1].outputSize
        let scale = firstStochasticLayer < layers.count ? model.dropouts[firstStochasticLayer].keepScale : 1
        var widest = model.inputSize
        for index in 0..<prefixEnd { widest = max(widest, layers[index].outputSize) }
        workspace.prefix.ensureCount(widest)
        workspace.prefixNext.ensureCount(widest)
        workspace.shared.ensureCount(instanceCount * sharedWidth)
        workspace.deterministicEntropy.ensureCount(instanceCount)
        let statisticsWidth = 2 * model.outputSize + 2
        workspace.statistics.ensureCount(instanceCount * statisticsWidth)
        workspace.instanceCount = instanceCount
        workspace.statistics.withUnsafeMutableBufferPointer { statistics in
            for index in 0..<(instanceCount * statisticsWidth) { statistics[index] = 0 }
        }

        for instance in 0..<instanceCount {
            workspace.prefix.withUnsafeMutableBufferPointer { current in
                workspace.prefixNext.withUnsafeMutableBufferPointer { next in
                    var x = current.baseAddress!
                    var y = next.baseAddress!
                    x.update(from: inputs.baseAddress! + instance * model.inputSize, count: model.inputSize)
                    for index in 0..<prefixEnd {
                        let layer = layers[index]
                        layer.bias.withUnsafeBufferPointer { y.update(from: $0.baseAddress!, count: layer.outputSize) }
                        if index == 0, sparseFirstLayer(UnsafePointer(x), into: y) {
                            // Done from the non-zero inputs' weight rows alone.
                        } else {
                            layer.weight.storage.withUnsafeBufferPointer { w in
                                BLAS.gemv(
                                    transpose: false, m: layer.outputSize, n: layer.inputSize, alpha: 1,
                                    a: w.baseAddress!, lda: layer.inputSize, x: x, beta: 1, y: y)
                            }
                        }
                        if index < last { Activation.relu(UnsafeMutableBufferPointer(start: y, count: layer.outputSize)) }
                        swap(&x, &y)
                    }
                    workspace.shared.withUnsafeMutableBufferPointer { shared in
                        let destination = shared.baseAddress! + instance * sharedWidth
                        for column in 0..<sharedWidth { destination[column] = x[column] * scale }
                        if prefixEnd == layers.count {
                            // No dropout: keep the probabilities and their entropy for `addPasses`.
                            workspace.deterministicEntropy[instance] = Activation.softmax(
                                UnsafeMutableBufferPointer(start: destination, count: sharedWidth))
                        }
                    }
                }
            }
        }
    }

    /// Adds the first layer's weights times `input` to `output` (which holds the bias) using only the rows of the
    /// non-zero inputs, when at most a quarter of the inputs are non-zero; returns `false` (and leaves `output`
    /// alone) otherwise.
    ///
    /// Digits and other images are mostly background: an MNIST digit has 100–200 non-zero pixels of 784. `sgemv`
    /// streams all `outputSize × inputSize` weights (1.6 MB for 784 × 512, more than L2 holds), which made the
    /// deterministic first layer the largest cost of a request at small `N`; skipping zero inputs reads a fifth of
    /// that. A zero input adds exactly zero, so the result is the same sum in another order (it differs from
    /// `sgemv`'s only by float rounding). Each row is one `saxpy` (OpenBLAS's AVX2 kernel; a Swift `SIMD8` loop,
    /// compiled for baseline x86-64, measured ~3 µs slower per request).
    func sparseFirstLayer(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>) -> Bool {
        guard firstStochasticLayer > 0 else { return false }
        let inputSize = model.inputSize
        let outputSize = model.layers[0].outputSize
        var nonZero = 0
        for index in 0..<inputSize where input[index] != 0 { nonZero += 1 }
        guard nonZero * 4 <= inputSize else { return false }
        weightsByInput[0].withUnsafeBufferPointer { rows in
            for index in 0..<inputSize where input[index] != 0 {
                BLAS.axpy(count: outputSize, alpha: input[index], x: rows.baseAddress! + index * outputSize, y: output)
            }
        }
        return true
    }

    /// Adds `count` passes for every prepared instance, continuing `generator`'s stream.
    func addPasses(_ count: Int, generator: inout RandomSource, workspace: inout MonteCarloWorkspace) {
        let instances = workspace.instanceCount
        let classes = model.outputSize
        if firstStochasticLayer == model.layers.count {
            // No dropout anywhere: every pass is the deterministic prediction `prepare` computed.
            workspace.shared.withUnsafeBufferPointer { shared in
                workspace.statistics.withUnsafeMutableBufferPointer { statistics in
                    for instance in 0..<instances {
                        let probabilities = shared.baseAddress! + instance * classes
                        let entropy = workspace.deterministicEntropy[instance]
                        let row = statistics.baseAddress! + instance * (2 * classes + 2)
                        for _ in 0..<count { accumulate(probabilities, classes: classes, entropy: entropy, into: row) }
                    }
                }
            }
            return
        }
        let passesPerBlock = min(count, Self.blockRows)
        workspace.passes.ensureCount(passesPerBlock * stochasticWidth)
        workspace.passesNext.ensureCount(passesPerBlock * stochasticWidth)
        workspace.maskWords.ensureCount(passesPerBlock * wordsPerPass)
        var done = 0
        while done < count {
            let block = min(passesPerBlock, count - done)
            workspace.maskWords.withUnsafeMutableBufferPointer { words in
                for index in 0..<(block * wordsPerPass) { words[index] = generator.next() }
            }
            for instance in 0..<instances { runBlock(instance: instance, passes: block, workspace: &workspace) }
            done += block
        }
    }

    /// Runs the stochastic layers on `passes` passes of one instance, whose mask words are in the workspace, and
    /// accumulates their statistics.
    private func runBlock(instance: Int, passes passCount: Int, workspace: inout MonteCarloWorkspace) {
        let layers = model.layers
        let rows = passCount
        let first = firstStochasticLayer
        let sharedWidth = layers[first].inputSize
        let classes = model.outputSize
        let wordsPerPass = self.wordsPerPass
        workspace.maskWords.withUnsafeBufferPointer { wordBuffer in
            let words = wordBuffer.baseAddress!
            workspace.passes.withUnsafeMutableBufferPointer { passBuffer in
                workspace.passesNext.withUnsafeMutableBufferPointer { nextBuffer in
                    var input = passBuffer.baseAddress!
                    var output = nextBuffer.baseAddress!
                    // Masked broadcast of the (pre-scaled) shared activations straight into the pass matrix.
                    let dropout = model.dropouts[first]
                    workspace.shared.withUnsafeBufferPointer { shared in
                        let source = shared.baseAddress! + instance * sharedWidth
                        for pass in 0..<passCount {
                            let row = input + pass * sharedWidth
                            let mask = words + pass * wordsPerPass + maskWordOffsets[0]
                            MaskKernels.select(source, into: row, count: sharedWidth, mask: mask, dropout: dropout)
                        }
                    }
                    for index in first..<layers.count {
                        let layer = layers[index]
                        weightsByInput[index].withUnsafeBufferPointer { w in
                            BLAS.gemm(
                                transposeA: false, transposeB: false, m: rows, n: layer.outputSize, k: layer.inputSize,
                                alpha: 1, a: input, lda: layer.inputSize, b: w.baseAddress!, ldb: layer.outputSize,
                                beta: 0, c: output, ldc: layer.outputSize)
                        }
                        if index == layers.count - 1 { break }
                        // Bias, ReLU and the next layer's dropout in one sweep, in place.
                        let next = index + 1
                        let nextDropout = model.dropouts[next]
                        let offset = maskWordOffsets[next - first]
                        layer.bias.withUnsafeBufferPointer { bias in
                            for row in 0..<rows {
                                let values = output + row * layer.outputSize
                                if offset < 0 {
                                    MaskKernels.biasReLU(values, bias: bias.baseAddress!, count: layer.outputSize)
                                } else {
                                    let mask = words + row * wordsPerPass + offset
                                    MaskKernels.biasReLUSelect(
                                        values, bias: bias.baseAddress!, count: layer.outputSize, mask: mask,
                                        dropout: nextDropout)
                                }
                            }
                        }
                        swap(&input, &output)
                    }
                    // `output` holds the logits without bias: add it, softmax and accumulate, one sweep per row.
                    let bias = layers[layers.count - 1].bias
                    bias.withUnsafeBufferPointer { bias in
                        workspace.statistics.withUnsafeMutableBufferPointer { statistics in
                            let target = statistics.baseAddress! + instance * (2 * classes + 2)
                            for pass in 0..<passCount {
                                let logits = output + pass * classes
                                for column in 0..<classes { logits[column] += bias[column] }
                                let entropy = Activation.softmax(UnsafeMutableBufferPointer(start: logits, count: classes))
                                accumulate(UnsafePointer(logits), classes: classes, entropy: entropy, into: target)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Adds one pass's probabilities to a statistics row: `C` sums, `C` sums of squares, the entropy sum, the count.
@inline(__always)
func accumulate(
    _ probabilities: UnsafePointer<Float>, classes: Int, entropy: Double, into row: UnsafeMutablePointer<Double>
) {
    for index in 0..<classes {
        let p = Double(probabilities[index])
        row[index] += p
        row[classes + index] += p * p
    }
    row[2 * classes] += entropy
    row[2 * classes + 1] += 1
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

extension Array where Element: Numeric {
    /// Grows the array to at least `count` elements (zero-filled); never shrinks, so its buffer is reused.
    @inline(__always)
    mutating func ensureCount(_ count: Int) {
        if self.count < count { append(contentsOf: repeatElement(0, count: count - self.count)) }
    }
}
