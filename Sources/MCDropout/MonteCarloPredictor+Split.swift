import Synchronization

/// Two cores for one request: a fixed-`N` prediction of one input runs the second half of its passes on another
/// thread when one is idle.
///
/// **Fixed halves.** A fixed-`N` request's passes always run as two halves, passes `0..<h` and `h..<N` with
/// `h` = ``splitPoint(sampleCount:)``: each half in GEMMs of its own (an `h`-row one, then `(N − h)`-row ones in
/// blocks of at most ``blockRows``) and into statistics of its own, added (first + second) at the end — whether one
/// thread runs both or two threads run one each. OpenBLAS rounds a row differently depending on the GEMM's row count
/// (`mcdropout-bench --check-rows`; on this machine's kernels a row in the last partial 24-row group of an `M`-row
/// GEMM differs from the same row inside a full group), so the halves must be separate GEMMs even on one thread for
/// the bytes not to depend on scheduling. A pass's masks depend only on the seed and the pass's index (``MaskStream``),
/// so the split changes no mask and the second half needs nothing from the first. Same seed → same bytes, whichever
/// thread ran which half; the cost on one thread is packing each layer's weights twice instead of once.
///
/// **Hand-over.** The owner prepares the input (deterministic prefix, active units, their all-kept sum), computes
/// the first half's later-layer masks, and *offers* the second half to a ``PassHelper`` — which accepts only when a thread is
/// idle at that moment, never queueing behind work. Then it runs the first half. Whoever claims the second half first
/// (an atomic compare-and-swap) runs it: the helper, if it started by then; else the owner itself. The owner waits
/// only for a half a helper has already started.
extension MonteCarloPredictor {
    /// The fewest passes a request needs for its passes to be split (each half at least 16).
    public static let splitMinimum = 32

    /// The first pass of the second half of a fixed-`N` request: `⌊N/2⌋` rounded down to a multiple of 16, for
    /// `32 ≤ N ≤ 2 × blockRows`; `N` (no second half) otherwise.
    public static func splitPoint(sampleCount: Int) -> Int {
        guard sampleCount >= splitMinimum && sampleCount <= 2 * blockRows else { return sampleCount }
        return sampleCount / 2 / 16 * 16
    }

    /// Runs `sampleCount` passes on one scaled input like ``predict(_:sampleCount:seed:workspace:into:)``, with
    /// bit-identical results (the same two halves), offering the second half of the passes to `helper` (see the
    /// extension's documentation). `split` holds the second half's buffers; keep one per thread, like the workspace.
    ///
    /// - Returns: whether a helper ran the second half.
    @discardableResult
    public func predict(
        _ input: UnsafeBufferPointer<Float>, sampleCount: Int, seed: UInt64, workspace: inout MonteCarloWorkspace,
        into summary: inout PredictiveSummary, helper: some PassHelper, split: SplitWorkspace
    ) -> Bool {
        let half = Self.splitPoint(sampleCount: sampleCount)
        guard half < sampleCount, otherMembers.isEmpty, firstStochasticLayer < model.layers.count else {
            predict(input, sampleCount: sampleCount, seed: seed, workspace: &workspace, into: &summary)
            return false
        }
        precondition(input.count == model.inputSize, "input width mismatch")
        let stream = MaskStream(seed: seed)
        prepare(input, instanceCount: 1, workspace: &workspace)
        ensureBlockBuffers(passes: half, workspace: &workspace)
        computeActiveBase(instance: 0, workspace: &workspace)
        workspace.maskWords.withUnsafeMutableBufferPointer { words in
            fillLaterMasks(words.baseAddress!, rows: half, firstPass: 0, stream: stream)
        }
        let helped = withPointers(&workspace, instance: 0) { prepared, buffers, statistics, _ -> Bool in
            split.predictor = self
            split.prepared = prepared
            split.stream = stream
            split.firstPass = half
            split.passCount = sampleCount - half
            split.state.store(SplitWorkspace.offered, ordering: .releasing)
            _ = helper.offer(split.work)
            runRows(
                prepared, rows: half, buffers: buffers, stream: stream, firstPass: 0, splitAt: half,
                statistics: statistics, halfStatistics: statistics)
            var helped = false
            let claimed = split.state.compareExchange(
                expected: SplitWorkspace.offered, desired: SplitWorkspace.taken, ordering: .acquiringAndReleasing)
            if claimed.exchanged {
                split.runSecondHalf()
            } else {
                helped = true
                // A helper started it: this one, or a late one from an earlier offer that was not yet run.
                while split.state.load(ordering: .acquiring) != SplitWorkspace.done { helper.pause() }
            }
            split.state.store(SplitWorkspace.idle, ordering: .releasing)
            split.predictor = nil
            split.prepared = nil
            return helped
        }
        workspace.addHalfStatistics(from: split.buffers.statistics, classCount: model.outputSize)
        workspace.summarize(instance: 0, classCount: model.outputSize, into: &summary)
        summary.head = head
        return helped
    }
}

/// Another thread that may run the second half of a request's passes: the server's idle worker.
public protocol PassHelper {
    /// Starts `work` on a thread that is idle right now and returns `true`, or returns `false` at once (never waits
    /// for a busy thread).
    func offer(_ work: @escaping @Sendable () -> Void) -> Bool
    /// Called repeatedly while the owner waits for a second half a helper has started (e.g. to yield the CPU).
    func pause()
}

/// The second half of one thread's split requests: its own buffers, the hand-over flag and what the half reads.
///
/// Keep one per requesting thread and reuse it: after the first request nothing is allocated. `@unchecked
/// Sendable`: its fields are written by the owner before it publishes ``state`` as `offered` (release) and read by
/// the thread that claims the half (acquire); the owner reads the results only after the claimer publishes `done`,
/// or after running the half itself.
public final class SplitWorkspace: @unchecked Sendable {
    static let idle = 0
    static let offered = 1
    static let claimedByHelper = 2
    static let taken = 3
    static let done = 4

    let state = Atomic<Int>(SplitWorkspace.idle)
    /// The second half's block buffers and statistics (its first row).
    var buffers = MonteCarloWorkspace()
    var predictor: MonteCarloPredictor?
    var prepared: PreparedInstance?
    var stream = MaskStream(seed: 0)
    var firstPass = 0
    var passCount = 0
    /// The helper's entry point, made once so that offering it allocates nothing.
    private(set) lazy var work: @Sendable () -> Void = { [weak self] in self?.runIfOffered() }

    /// Creates an empty split workspace.
    public init() {}

    /// Runs the offered half unless someone claimed it already (a late helper finds nothing to do).
    private func runIfOffered() {
        guard
            state.compareExchange(expected: Self.offered, desired: Self.claimedByHelper, ordering: .acquiring)
                .exchanged
        else { return }
        runSecondHalf()
        state.store(Self.done, ordering: .releasing)
    }

    /// Runs the second half's passes into ``buffers``' statistics, with the masks of their pass indices.
    func runSecondHalf() {
        guard let predictor, let prepared else { return }
        // Worked on as a local value: nested accesses to a class's stored property would conflict dynamically.
        var buffers = MonteCarloWorkspace()
        swap(&buffers, &self.buffers)
        defer { swap(&buffers, &self.buffers) }
        let classes = predictor.model.outputSize
        buffers.instanceCount = 1
        buffers.activeCounts.ensureCount(1)
        buffers.statistics.ensureCount(2 * classes + 2)
        buffers.halfStatistics.ensureCount(2 * classes + 2)
        for index in 0..<(2 * classes + 2) { buffers.statistics[index] = 0 }
        predictor.ensureBlockBuffers(passes: min(passCount, MonteCarloPredictor.blockRows), workspace: &buffers)
        var done = 0
        while done < passCount {
            let block = min(MonteCarloPredictor.blockRows, passCount - done)
            buffers.maskWords.withUnsafeMutableBufferPointer { words in
                predictor.fillLaterMasks(words.baseAddress!, rows: block, firstPass: firstPass + done, stream: stream)
            }
            buffers.maskWords.withUnsafeMutableBufferPointer { words in
                withBlockBuffers(
                    words: words.baseAddress!, passes: &buffers.passes, next: &buffers.passesNext,
                    units: &buffers.passUnits, values: &buffers.passValues
                ) { blockBuffers in
                    buffers.statistics.withUnsafeMutableBufferPointer { statistics in
                        predictor.runRows(
                            prepared, rows: block, buffers: blockBuffers, stream: stream, firstPass: firstPass + done,
                            splitAt: 0, statistics: statistics.baseAddress!, halfStatistics: statistics.baseAddress!)
                    }
                }
            }
            done += block
        }
    }
}

extension MonteCarloWorkspace {
    /// Adds the second half's statistics `half` (instance rows as in ``statistics``) to ``statistics``.
    mutating func addHalfStatistics(from half: [Double], classCount: Int) {
        let width = instanceCount * (2 * classCount + 2)
        statistics.withUnsafeMutableBufferPointer { total in
            half.withUnsafeBufferPointer { part in
                for index in 0..<width { total[index] += part[index] }
            }
        }
    }
}
