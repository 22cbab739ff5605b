/// The dropout masks of Monte-Carlo inference as a counter-based stream: every unit's keep decision is a pure function
/// of the request seed, the pass, the layer and the unit, computed where it is needed in any order.
///
/// **Definition.** `key = SplitMix64(seed: s).next()`. The random word `w` of layer `l` (the index into the model's
/// layers, whose *input* the mask drops) in pass `n` is
///
///     word(n, l, w) = SplitMix64(seed: key &+ c &* γ).next(),   c = n << 32 | l << 24 | w,   γ = 0x9E3779B97F4A7C15
///
/// — that is, output number `c + 1` of the SplitMix64 sequence started at `key`. Word `w` holds the 16-bit uniforms
/// of units `4w … 4w + 3`: unit `u`'s uniform is bits `16 (u mod 4) ..< 16 (u mod 4) + 16` of word `⌊u/4⌋`, so on a
/// little-endian machine a layer's words read as `UInt16`s are the uniforms in unit order. Unit `u` is kept when its
/// uniform is at least ``Dropout/maskThreshold`` `= ⌊p · 65536⌋`: the drop probability is applied to `1/65536`
/// (`p = 0.3` drops with probability 19 660/65 536 = 0.299988…).
///
/// **Why counters.** No state is carried from pass to pass: the second half of a request's passes (on another
/// thread), the next step of adaptive sampling and each input of a batch compute the masks they need directly; the
/// first stochastic layer computes only the words that hold its active units; the dense and active-unit paths read
/// the same uniforms. Counters are unique while `n < 2³²` and `w < 2²⁴` (layers up to 2²⁰ units wide, the model
/// file's limit). A layer `l ≥ 256` (no real model has one; it must not trap either) uses `l mod 256` in the counter
/// and the key `key ^ mix(⌊l/256⌋)` instead of `key`, where `mix` is the SplitMix64 finalizer.
public struct MaskStream: Sendable, Equatable {
    /// The SplitMix64 increment `γ`.
    static let gamma: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// The stream's key, derived from the request seed.
    public let key: UInt64

    /// Creates the mask stream of request seed `seed`.
    public init(seed: UInt64) {
        var mixer = SplitMix64(seed: seed)
        key = mixer.next()
    }

    /// The SplitMix64 finalizer (Stafford's "Mix13").
    @inline(__always)
    static func mix(_ state: UInt64) -> UInt64 {
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The SplitMix64 state just before word 0 of layer `layer` in pass `pass`: word `w` is
    /// `mix(start &+ (w + 1) &* γ)`.
    @inline(__always)
    func start(pass: Int, layer: Int) -> UInt64 {
        let layerKey = layer < 256 ? key : key ^ Self.mix(UInt64(truncatingIfNeeded: layer >> 8))
        let counter = UInt64(truncatingIfNeeded: pass) << 32 | UInt64(truncatingIfNeeded: layer & 255) << 24
        return layerKey &+ counter &* Self.gamma
    }

    /// Random word `index` of layer `layer` in pass `pass` (see the type's documentation).
    public func word(pass: Int, layer: Int, index: Int) -> UInt64 {
        Self.mix(start(pass: pass, layer: layer) &+ UInt64(truncatingIfNeeded: index + 1) &* Self.gamma)
    }

    /// The 16-bit uniform of unit `unit` of layer `layer` in pass `pass`.
    public func uniform(pass: Int, layer: Int, unit: Int) -> UInt16 {
        UInt16(truncatingIfNeeded: word(pass: pass, layer: layer, index: unit >> 2) >> UInt64(16 * (unit & 3)))
    }

    /// Whether `dropout` keeps unit `unit` of layer `layer`'s input in pass `pass`: the reference the engine's kernels
    /// agree with.
    public func isKept(pass: Int, layer: Int, unit: Int, dropout: Dropout) -> Bool {
        UInt32(uniform(pass: pass, layer: layer, unit: unit)) >= dropout.maskThreshold
    }

    /// Writes words `0 ..< count` of layer `layer` in pass `pass` to `words`.
    @inline(__always)
    func fill(_ words: UnsafeMutablePointer<UInt64>, count: Int, pass: Int, layer: Int) {
        RowKernels.maskWords(into: words, count: count, start: start(pass: pass, layer: layer))
    }

    /// The active-unit path's split of the units listed in `units` (any order, each `< 2²⁴`) of layer `layer`'s input
    /// in pass `pass`: the dropped units (``isKept(pass:layer:unit:dropout:)`` false), with their `values` negated,
    /// to `droppedUnits` / `droppedValues`, the kept ones to `keptUnits` / `keptValues`, each list in the order of
    /// `units` (room for `count` each). Computes only the listed units' uniforms, with no mask words in between.
    /// Returns the number dropped; `count` minus it were kept.
    @inline(__always)
    func partitionActive(
        _ values: UnsafePointer<Float>, units: UnsafePointer<Int32>, count: Int, pass: Int, layer: Int,
        dropout: Dropout, droppedUnits: UnsafeMutablePointer<Int32>, droppedValues: UnsafeMutablePointer<Float>,
        keptUnits: UnsafeMutablePointer<Int32>, keptValues: UnsafeMutablePointer<Float>
    ) -> Int {
        RowKernels.partitionActive(
            values, units: units, count: count, start: start(pass: pass, layer: layer),
            threshold: dropout.maskThreshold, droppedUnits: droppedUnits, droppedValues: droppedValues,
            keptUnits: keptUnits, keptValues: keptValues)
    }

    /// The number of 64-bit words that hold the uniforms of `units` units.
    static func wordCount(units: Int) -> Int { (units + 3) / 4 }
}
