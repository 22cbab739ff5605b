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
    /// Per instance, the indices of the non-zero entries of its row of `shared` (the active units), row after row
    /// with the width of `shared`, and their count, or `-1` when the instance runs the dense path.
    var activeUnits: [Int32] = []
    /// The shared activations of those units, in the same layout (`shared` compacted).
    var activeValues: [Float] = []
    var activeCounts: [Int] = []
    /// The first stochastic layer's output (before its bias) with every active unit kept — `Σ values[i] · W[units[i]]`
    /// of the instance being run — from which each pass subtracts its dropped units' rows (see ``MonteCarloPredictor``'s
    /// `runRows`).
    var activeBase: [Float] = []
    /// The instance whose sum `activeBase` holds (`-1`: none), so that a request's blocks and halves compute it once.
    var baseInstance = -1
    /// One pass's dropped (or kept) active units and their signed values: the terms `runRows` adds to a row.
    var passUnits: [Int32] = []
    var passValues: [Float] = []
    /// The pass matrix of the current block and the next layer's output.
    var passes: [Float] = []
    var passesNext: [Float] = []
    /// The mask words of the current block, pass after pass (see ``MaskStream``); the first stochastic layer's are
    /// the current input's.
    var maskWords: [UInt64] = []
    /// Per instance: `C` sums of probabilities, `C` sums of squares, the entropy sum and the pass count.
    var statistics: [Double] = []
    /// The same for a fixed-`N` request's second half of passes, added to `statistics` at the end (see
    /// ``MonteCarloPredictor/splitPoint(sampleCount:)``).
    var halfStatistics: [Double] = []
    /// Per instance, the entropy of the deterministic prediction of a model without dropout.
    var deterministicEntropy: [Double] = []
    /// The instances whose statistics are being accumulated.
    var instanceCount = 0
    /// For a deep ensemble: one workspace per member (its prepared inputs, statistics and mask stream); this
    /// workspace's `statistics` then hold their sums.
    var members: [MonteCarloWorkspace] = []
    /// A member's mask stream and the index of its next pass (adaptive sampling continues a member's passes).
    var maskStream = MaskStream(seed: 0)
    var nextPass = 0

    /// Creates an empty workspace; buffers grow to the largest request seen and are then reused.
    public init() {}
}

extension Array where Element: Numeric {
    /// Grows the array to at least `count` elements (zero-filled); never shrinks, so its buffer is reused.
    @inline(__always)
    mutating func ensureCount(_ count: Int) {
        if self.count < count { append(contentsOf: repeatElement(0, count: count - self.count)) }
    }
}

/// One prepared instance as the stochastic layers read it: its scaled shared activations, its active units and,
/// when it runs the active-unit path, the first stochastic layer's output with all of them kept.
struct PreparedInstance {
    var shared: UnsafePointer<Float>
    var units: UnsafePointer<Int32>
    /// The shared activations of the active units, compacted.
    var values: UnsafePointer<Float>
    /// The number of active units, or `-1` for the dense path.
    var activeCount: Int
    /// The first stochastic layer's output with every active unit kept (see `MonteCarloWorkspace.activeBase`).
    var activeBase: UnsafePointer<Float>?
}

/// The buffers one block of passes works in: its mask words, its pass matrix, the next layer's output and one pass's
/// terms of the first stochastic layer.
struct BlockBuffers {
    var words: UnsafeMutablePointer<UInt64>
    var passes: UnsafeMutablePointer<Float>
    var next: UnsafeMutablePointer<Float>
    /// Room for one pass's terms: its dropped units from `units`/`values`, its kept ones from `+ inputs` (twice the
    /// first stochastic layer's inputs in all).
    var units: UnsafeMutablePointer<Int32>
    var values: UnsafeMutablePointer<Float>
}

/// Runs `body` with the block buffers over `words` and a workspace's pass buffers (its `passes`, `passesNext`,
/// `passUnits` and `passValues`, passed separately so that they can be borrowed beside its other buffers).
@inline(__always)
func withBlockBuffers<R>(
    words: UnsafeMutablePointer<UInt64>, passes: inout [Float], next: inout [Float], units: inout [Int32],
    values: inout [Float], _ body: (BlockBuffers) -> R
) -> R {
    passes.withUnsafeMutableBufferPointer { passes in
        next.withUnsafeMutableBufferPointer { next in
            units.withUnsafeMutableBufferPointer { units in
                values.withUnsafeMutableBufferPointer { values in
                    body(
                        BlockBuffers(
                            words: words, passes: passes.baseAddress!, next: next.baseAddress!,
                            units: units.baseAddress!, values: values.baseAddress!))
                }
            }
        }
    }
}
