/// The element-wise kernels of ``MonteCarloPredictor``: masked broadcast, and bias + ReLU + dropout fused in one sweep.
///
/// Masks are read straight from the random words of ``MaskStream`` (a layer's words read as `UInt16`s are its units'
/// uniforms in unit order), never expanded into a float mask: eight uniforms at a time are compared against
/// ``Dropout/maskThreshold``. A kept value is multiplied by exactly 1 and a dropped one by exactly 0, so the results
/// equal `value × keep` with the keep decisions of ``MaskStream/isKept(pass:layer:unit:dropout:)``.
#if _endian(big)
    #error("MaskKernels reads 16-bit uniforms in little-endian unit order")
#endif

enum MaskKernels {
    /// Lanes of 1 for the kept units `index ..< index + 8` of a mask row: their eight 16-bit uniforms are the 16 bytes
    /// from unit `index` on, compared at once (as non-negative 32-bit integers) against the threshold.
    @inline(__always)
    static func keptLanes(_ index: Int, mask: UnsafePointer<UInt64>, threshold: SIMD8<Int32>) -> SIMD8<Float> {
        let uniforms = UnsafeRawPointer(mask).advanced(by: index * 2).loadUnaligned(as: SIMD8<UInt16>.self)
        return SIMD8<Float>(repeating: 0).replacing(
            with: 1, where: SIMD8<Int32>(truncatingIfNeeded: uniforms) .>= threshold)
    }

    /// ``Dropout/maskThreshold`` as SIMD lanes.
    @inline(__always)
    static func thresholdLanes(_ dropout: Dropout) -> SIMD8<Int32> {
        SIMD8(repeating: Int32(dropout.maskThreshold))
    }

    /// Whether unit `index` of a mask row starting at `mask` is kept.
    @inline(__always)
    static func isKept(_ index: Int, mask: UnsafePointer<UInt64>, threshold: UInt32) -> Bool {
        UInt32(UnsafeRawPointer(mask).load(fromByteOffset: index * 2, as: UInt16.self)) >= threshold
    }

    /// `row[j] = source[j] × keepⱼ` for `j < count` (the source is already multiplied by the keep scale).
    @inline(__always)
    static func select(
        _ source: UnsafePointer<Float>, into row: UnsafeMutablePointer<Float>, count: Int, mask: UnsafePointer<UInt64>,
        dropout: Dropout
    ) {
        var index = 0
        let lanes = thresholdLanes(dropout)
        while index + 8 <= count {
            let x = UnsafeRawPointer(source + index).loadUnaligned(as: SIMD8<Float>.self)
            let kept = x * keptLanes(index, mask: mask, threshold: lanes)
            UnsafeMutableRawPointer(row + index).storeBytes(of: kept, as: SIMD8<Float>.self)
            index += 8
        }
        let threshold = dropout.maskThreshold
        while index < count {
            row[index] = source[index] * (isKept(index, mask: mask, threshold: threshold) ? 1 : 0)
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

    /// `values[j] = max(values[j] + bias[j], 0) × scale × keepⱼ`: bias, ReLU and the next layer's dropout fused
    /// (``RowKernels/biasReLUSelect(_:bias:count:mask:threshold:scale:variant:)``).
    @inline(__always)
    static func biasReLUSelect(
        _ values: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, count: Int, mask: UnsafePointer<UInt64>,
        dropout: Dropout
    ) {
        RowKernels.biasReLUSelect(
            values, bias: bias, count: count, mask: mask, threshold: dropout.maskThreshold, scale: dropout.keepScale)
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
