/// Monte-Carlo dropout inference: `N` stochastic forward passes with dropout forced on, batched.
///
/// The layers before the first one with dropout are identical for all passes, so they run once per input as
/// matrix–vector products. From the first dropout on, the passes of one input are the rows of one matrix and each
/// layer is a single `sgemm` over them (in blocks of at most ``blockRows`` passes). The bias add, ReLU, the next
/// dropout mask and its `1/(1−p)` scale are fused into one sweep over each GEMM result, and softmax and the statistics into one sweep over the logits.
///
/// **Active units.** The input of the first stochastic layer is the same vector in every pass, masked; after a ReLU
/// most of it is zero (on MNIST test digits about 17 % of the 512 units of the default model are non-zero). A zero
/// unit contributes nothing in any pass, so that layer runs over the `k` non-zero ("active") units only. And since
/// a pass keeps most of them (`1 − p`), each pass's row is computed as the sum with every active unit kept — once per
/// input — minus the weight rows of the units that pass drops (about `p · k` rows; the kept rows from zero instead
/// when a pass keeps fewer than it drops), read in place by
/// ``RowKernels/addRows(into:base:rows:stride:indices:alphas:count:width:variant:)``. On the default MNIST model
/// that is ~34 weight rows per pass instead of a GEMM over 112 (or 512): the sums are the same with zero terms left
/// out and the dropped ones subtracted, so they differ from the dense product only by float rounding.
///
/// **Random stream.** The masks of request seed `s` are ``MaskStream(seed: s)``: the keep decision of unit `u` of
/// layer `l`'s input in pass `n` is a pure function of `(s, n, l, u)` — a SplitMix64 word per four units, one 16-bit
/// uniform per unit, compared with `⌊p · 65536⌋` (see ``MaskStream`` for the exact definition). Nothing is carried
/// from pass to pass, so the first `n` passes of a seed are the same whatever `N` is (adaptive sampling relies on
/// this), the second half of a request's passes needs no state from the first, every input of a batch sees the same
/// `N` masks as a single request with that seed (the words of the later layers are computed once per block and
/// shared), and the first stochastic layer computes only the words that hold its active units — the dense path
/// computes all of them, and both read the same uniforms. Training draws its masks with
/// ``Dropout/fillMask(_:rows:columns:using:)`` instead; inference masks need not match those.
///
/// **Reproducibility.** Results are bit-identical for equal seeds and equal `N`. A batch of `B` inputs does *not*
/// stack its `B × N` passes into one `(B·N) × H` sgemm: OpenBLAS 0.3.21 (even on one thread) rounds a row differently
/// depending on the number of rows `M` (its kernels for row tails and its blocking depend on `M`; `mcdropout-bench
/// --check-rows` shows it), so a stacked batch would not reproduce single requests bit for bit. Instead each input
/// runs the same GEMMs a single request runs (`N × H`, already large enough to be near the sgemm peak), while the
/// masks of a block are the same for all inputs (the later layers' words are computed once per block). For the same
/// reason, adaptive sampling, which runs its passes in blocks, agrees with a fixed-`N` request using the same masks
/// only up to float rounding.
public struct MonteCarloPredictor: Sendable {
    /// The network whose dropout is sampled.
    public let model: DropoutMLP
    /// What the outputs mean: class logits (softmax per pass) or regression values.
    public let head: OutputHead
    /// Index of the first layer whose input dropout is non-zero; `layers.count` when the model has no dropout.
    let firstStochasticLayer: Int
    /// For each layer from `firstStochasticLayer` on: the offset of its mask words within one pass's words in a block
    /// (`-1`: no dropout).
    let maskWordOffsets: [Int]
    /// Mask words of one pass (``MaskStream``: four 16-bit uniforms each) over all its stochastic layers.
    let wordsPerPass: Int
    /// The widest layer input or output from the first stochastic layer on.
    let stochasticWidth: Int
    /// Per layer, its weights transposed (`inputSize × outputSize`, one row per input unit) where the engine reads
    /// them so, else empty: every stochastic layer, and the first layer when it runs once per input.
    ///
    /// Stochastic layers: OpenBLAS packs both operands on every `sgemm` call, and packing the weights is the fixed
    /// cost of a request (half the time at `N = 1`). Packing them from `inputSize × outputSize` (`sgemm` "NN",
    /// OpenBLAS's `itcopy`) measured about 20 % cheaper than from the model's `outputSize × inputSize` ("NT",
    /// `incopy`), about 3 % of a request at `N = 100`. The first layer: see
    /// ``sparseFirstLayer(_:into:units:values:)``; the first stochastic layer's rows are read by the row kernel.
    let weightsByInput: [[Float]]
    /// Whether the first stochastic layer runs over the active units only (see the type's documentation); an input
    /// with more than ``activeFraction`` of its units active runs the dense product.
    let usesActiveUnits: Bool
    /// The other networks of a deep ensemble, each with its own engine (see `MonteCarloPredictor+Ensemble.swift`);
    /// empty for a single network.
    var otherMembers: [MonteCarloPredictor] = []

    /// The most passes of one input that one block holds, bounding the workspace size.
    public static let blockRows = 1024

    /// The largest share of active units for which the first stochastic layer skips the inactive ones.
    static let activeFraction = 0.75

    /// Creates a predictor over `model`, whose outputs `head` describes.
    ///
    /// For regression heads the summaries' ``PredictiveSummary/meanProbabilities`` hold the mean outputs (for
    /// ``OutputHead/meanLogVariance``: the `T` means, then the `T` mean variances `σ²`) and
    /// ``PredictiveSummary/variance`` their variance over the passes; the entropies are meaningless there.
    public init(model: DropoutMLP, head: OutputHead = .classification) {
        self.init(model: model, head: head, usesActiveUnits: true)
    }

    /// Creates a predictor; `usesActiveUnits: false` forces the dense first stochastic layer (for tests). Only ReLU
    /// models skip inactive units: other activations are rarely exactly zero, so they always run the dense product.
    init(model: DropoutMLP, head: OutputHead = .classification, usesActiveUnits: Bool) {
        precondition(head != .meanLogVariance || model.outputSize % 2 == 0, "a mean_logvar head has 2T outputs")
        self.model = model
        self.head = head
        self.usesActiveUnits = usesActiveUnits && model.activation.isReLU
        precondition(model.layers.allSatisfy { $0.inputSize < 1 << 26 }, "the mask stream numbers units below 2²⁶")
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
                words += MaskStream.wordCount(units: inputWidth)
            }
        }
        maskWordOffsets = offsets
        wordsPerPass = words
        stochasticWidth = width
        weightsByInput = model.layers.indices.map { index in
            guard index >= first || (index == 0 && first > 0) else { return [] }
            return model.layers[index].weightsByInput
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
        runPasses(input, instanceCount: 1, sampleCount: sampleCount, seed: seed, workspace: &workspace)
        workspace.summarize(instance: 0, classCount: model.outputSize, into: &summary)
        summary.head = head
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
        runPasses(inputs, instanceCount: instanceCount, sampleCount: sampleCount, seed: seed, workspace: &workspace)
        if summaries.count > instanceCount { summaries.removeLast(summaries.count - instanceCount) }
        while summaries.count < instanceCount { summaries.append(.empty) }
        for instance in 0..<instanceCount {
            workspace.summarize(instance: instance, classCount: model.outputSize, into: &summaries[instance])
            summaries[instance].head = head
        }
    }

    /// Runs passes in blocks until ``AdaptiveSampling`` says the mean probabilities are precise enough or its
    /// decision test is settled.
    ///
    /// The summary's `sampleCount` is the number of passes used. Because a pass's masks depend only on the seed and
    /// the pass's index, the passes are those of ``predict(_:sampleCount:seed:workspace:)`` with that many passes and the same seed; results agree
    /// up to float rounding (the GEMMs have other row counts, see the type's documentation).
    public func predictAdaptive(
        _ input: UnsafeBufferPointer<Float>, sampling: AdaptiveSampling, seed: UInt64,
        workspace: inout MonteCarloWorkspace, into summary: inout PredictiveSummary
    ) {
        precondition(input.count == model.inputSize, "input width mismatch")
        let stream = MaskStream(seed: seed)
        if otherMembers.isEmpty {
            prepare(input, instanceCount: 1, workspace: &workspace)
        } else {
            prepareMembers(input, instanceCount: 1, seed: seed, workspace: &workspace)
        }
        let classes = model.outputSize
        var done = 0
        while true {
            let error = done == 0 ? Double.infinity : workspace.maximumStandardError(instance: 0, classCount: classes)
            let isSettled =
                sampling.decision.map {
                    done >= sampling.minimumSamples
                        && workspace.isDecisionSettled(
                            $0, tolerance: sampling.tolerance, instance: 0, classCount: classes)
                } ?? false
            let block = sampling.nextBlock(passesDone: done, maximumStandardError: error, isDecisionSettled: isSettled)
            if block == 0 { break }
            if otherMembers.isEmpty {
                addPasses(block, stream: stream, workspace: &workspace, firstPass: done)
            } else {
                addMemberPasses(block, workspace: &workspace)
            }
            done += block
        }
        workspace.summarize(instance: 0, classCount: classes, into: &summary)
        summary.head = head
    }

    /// Runs `predict` on a fresh workspace; convenient for tests and one-off calls.
    public func predict(_ input: [Float], sampleCount: Int, seed: UInt64) -> PredictiveSummary {
        var workspace = MonteCarloWorkspace()
        return input.withUnsafeBufferPointer {
            predict($0, sampleCount: sampleCount, seed: seed, workspace: &workspace)
        }
    }

    /// The prediction with dropout off (weight scaling), as a one-pass summary with zero variance; for an ensemble,
    /// one pass per member (see ``ensembleDeterministic(_:)``).
    public func predictDeterministic(_ input: [Float]) -> PredictiveSummary {
        if !otherMembers.isEmpty { return ensembleDeterministic(input) }
        let probabilities = model.deterministicProbabilities(for: Matrix(rows: 1, columns: input.count, storage: input))
        return PredictiveSummary(passProbabilities: probabilities)
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
