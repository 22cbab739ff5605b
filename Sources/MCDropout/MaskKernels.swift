/// The element-wise kernels of ``MonteCarloPredictor``: masked broadcast, and bias + ReLU + dropout fused in one sweep.
///
/// Masks are read straight from the random words (see the stream order in ``MonteCarloPredictor``), never expanded
/// into a float mask. For `p = 0.5` each byte of a word selects eight units at once through a 256-entry table of
/// `SIMD8` vectors of 0 and 1; other probabilities compare 32-bit halves against ``Dropout/dropThreshold``. A kept
/// value is multiplied by exactly 1 and a dropped one by exactly 0, so the results equal `value × mask` with the
/// float masks of ``Dropout/fillMask(_:rows:columns:using:)``.
#if _endian(big)
    #error("MaskKernels.keptLanes reads 32-bit uniforms in little-endian unit order")
#endif

enum MaskKernels {
    /// `byteMasks[b]` has lane `t` equal to 1 when bit `t` of `b` is set, else 0.
    static let byteMasks: [SIMD8<Float>] = (0..<256).map { byte in
        var lanes = SIMD8<Float>()
        for lane in 0..<8 { lanes[lane] = Float((byte >> lane) & 1) }
        return lanes
    }

    /// Lanes of 1 for the kept units `index ..< index + 8` of a mask row (any `p` but 0.5): their eight 32-bit
    /// uniforms are the 32 bytes from unit `index` on, in unit order on a little-endian machine (unit `2k` is the low
    /// half of word `k`), compared at once against the threshold.
    @inline(__always)
    static func keptLanes(_ index: Int, mask: UnsafePointer<UInt64>, threshold: SIMD8<UInt32>) -> SIMD8<Float> {
        let uniforms = UnsafeRawPointer(mask).advanced(by: index * 4).loadUnaligned(as: SIMD8<UInt32>.self)
        return SIMD8<Float>(repeating: 0).replacing(with: 1, where: uniforms .>= threshold)
    }

    /// ``Dropout/dropThreshold`` as SIMD lanes; it is below 2³² because `p < 1`.
    @inline(__always)
    static func thresholdLanes(_ dropout: Dropout) -> SIMD8<UInt32> {
        SIMD8(repeating: UInt32(truncatingIfNeeded: dropout.dropThreshold))
    }

    /// Whether unit `index` of a mask row starting at `mask` is kept.
    @inline(__always)
    static func isKept(_ index: Int, mask: UnsafePointer<UInt64>, isHalf: Bool, threshold: UInt64) -> Bool {
        if isHalf { return (mask[index >> 6] >> UInt64(index & 63)) & 1 != 0 }
        let word = mask[index >> 1]
        return (index & 1 == 0 ? word & 0xFFFF_FFFF : word >> 32) >= threshold
    }

    /// `row[j] = source[j] × keepⱼ` for `j < count` (the source is already multiplied by the keep scale).
    @inline(__always)
    static func select(
        _ source: UnsafePointer<Float>, into row: UnsafeMutablePointer<Float>, count: Int, mask: UnsafePointer<UInt64>,
        dropout: Dropout
    ) {
        let isHalf = dropout.probability == 0.5
        var index = 0
        if isHalf {
            byteMasks.withUnsafeBufferPointer { table in
                while index + 8 <= count {
                    let byte = Int(truncatingIfNeeded: mask[index >> 6] >> UInt64(index & 63)) & 0xFF
                    let x = UnsafeRawPointer(source + index).loadUnaligned(as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(row + index).storeBytes(of: x * table[byte], as: SIMD8<Float>.self)
                    index += 8
                }
            }
        } else {
            let lanes = thresholdLanes(dropout)
            while index + 8 <= count {
                let x = UnsafeRawPointer(source + index).loadUnaligned(as: SIMD8<Float>.self)
                let kept = x * keptLanes(index, mask: mask, threshold: lanes)
                UnsafeMutableRawPointer(row + index).storeBytes(of: kept, as: SIMD8<Float>.self)
                index += 8
            }
        }
        let threshold = dropout.dropThreshold
        while index < count {
            row[index] = source[index] * (isKept(index, mask: mask, isHalf: isHalf, threshold: threshold) ? 1 : 0)
            index += 1
        }
    }

    /// `row[i] = values[i] × keep(units[i])` for `i < count`: the masked values of the active units only, compacted
    /// (`values[i]` is the shared activation of unit `units[i]`, already multiplied by the keep scale), reading only
    /// their bits of the mask row.
    ///
    /// Eight units at a time: their uniforms (or bits) are collected into one vector and compared at once. The scalar
    /// `keep ? 1 : 0` (also written with integer tricks) was compiled into a branch, mispredicted for a third of the
    /// units of a random mask, which made this loop ~10 % of a request (BENCHMARKS.md, "Engine breakdown").
    @inline(__always)
    static func selectActive(
        _ values: UnsafePointer<Float>, units: UnsafePointer<Int32>, into row: UnsafeMutablePointer<Float>,
        count: Int, mask: UnsafePointer<UInt64>, dropout: Dropout
    ) {
        let isHalf = dropout.probability == 0.5
        let threshold = SIMD8(repeating: UInt32(truncatingIfNeeded: dropout.dropThreshold))
        let uniforms = UnsafeRawPointer(mask)
        var index = 0
        @inline(__always)
        func draw(_ lane: Int) -> UInt32 {
            let unit = Int(units[index + lane])
            return isHalf
                ? UInt32(truncatingIfNeeded: mask[unit >> 6] >> UInt64(unit & 63)) & 1
                : uniforms.load(fromByteOffset: unit * 4, as: UInt32.self)
        }
        while index + 8 <= count {
            // Built from eight scalars at once: setting lanes one by one went through memory (a stalled reload).
            let lanes = SIMD8<UInt32>(draw(0), draw(1), draw(2), draw(3), draw(4), draw(5), draw(6), draw(7))
            let isKept = isHalf ? lanes .!= 0 : lanes .>= threshold
            let x = UnsafeRawPointer(values + index).loadUnaligned(as: SIMD8<Float>.self)
            let kept = x * SIMD8<Float>(repeating: 0).replacing(with: 1, where: isKept)
            UnsafeMutableRawPointer(row + index).storeBytes(of: kept, as: SIMD8<Float>.self)
            index += 8
        }
        let scalarThreshold = dropout.dropThreshold
        while index < count {
            let unit = Int(units[index])
            row[index] = values[index] * (isKept(unit, mask: mask, isHalf: isHalf, threshold: scalarThreshold) ? 1 : 0)
            index += 1
        }
    }

    /// `values[j] = max(values[j] + bias[j], 0)` (NaN becomes 0), for a layer whose output has no dropout after it.
    @inline(__always)
    static func biasReLU(_ values: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, count: Int) {
        var index = 0
        while index + 8 <= count {
            let v =
                UnsafeRawPointer(values + index).loadUnaligned(as: SIMD8<Float>.self)
                + UnsafeRawPointer(bias + index).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(values + index).storeBytes(
                of: v.replacing(with: 0, where: .!(v .> 0)), as: SIMD8<Float>.self)
            index += 8
        }
        while index < count {
            let v = values[index] + bias[index]
            values[index] = v > 0 ? v : 0
            index += 1
        }
    }

    /// `values[j] = max(values[j] + bias[j], 0) × scale × keepⱼ`: bias, ReLU and the next layer's dropout fused.
    @inline(__always)
    static func biasReLUSelect(
        _ values: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, count: Int, mask: UnsafePointer<UInt64>,
        dropout: Dropout
    ) {
        let scale = dropout.keepScale
        let isHalf = dropout.probability == 0.5
        var index = 0
        if isHalf {
            byteMasks.withUnsafeBufferPointer { table in
                while index + 8 <= count {
                    let byte = Int(truncatingIfNeeded: mask[index >> 6] >> UInt64(index & 63)) & 0xFF
                    let v =
                        UnsafeRawPointer(values + index).loadUnaligned(as: SIMD8<Float>.self)
                        + UnsafeRawPointer(bias + index).loadUnaligned(as: SIMD8<Float>.self)
                    let kept = v.replacing(with: 0, where: .!(v .> 0)) * scale * table[byte]
                    UnsafeMutableRawPointer(values + index).storeBytes(of: kept, as: SIMD8<Float>.self)
                    index += 8
                }
            }
        } else {
            let lanes = thresholdLanes(dropout)
            while index + 8 <= count {
                let v =
                    UnsafeRawPointer(values + index).loadUnaligned(as: SIMD8<Float>.self)
                    + UnsafeRawPointer(bias + index).loadUnaligned(as: SIMD8<Float>.self)
                let kept =
                    v.replacing(with: 0, where: .!(v .> 0)) * scale * keptLanes(index, mask: mask, threshold: lanes)
                UnsafeMutableRawPointer(values + index).storeBytes(of: kept, as: SIMD8<Float>.self)
                index += 8
            }
        }
        let threshold = dropout.dropThreshold
        while index < count {
            let v = values[index] + bias[index]
            let keep: Float = isKept(index, mask: mask, isHalf: isHalf, threshold: threshold) ? 1 : 0
            values[index] = (v > 0 ? v : 0) * scale * keep
            index += 1
        }
    }

    /// `values[j] = f(values[j] + bias[j]) × scale × keepⱼ` for any activation `f`, or `f(values[j] + bias[j])` when
    /// `mask` is nil (the next layer has no dropout). Scalar; ReLU models take the fused SIMD kernels above.
    static func biasActivateSelect(
        _ values: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, count: Int, activation: HiddenActivation,
        mask: UnsafePointer<UInt64>?, dropout: Dropout
    ) {
        for index in 0..<count { values[index] = activation(values[index] + bias[index]) }
        guard let mask else { return }
        let scale = dropout.keepScale
        for index in 0..<count { values[index] *= scale }
        select(values, into: values, count: count, mask: mask, dropout: dropout)
    }
}
