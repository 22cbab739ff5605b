/// Inverted dropout: each unit is kept with probability `1 − p` and scaled by `1 / (1 − p)`, so the expected value
/// is unchanged and inference with dropout off needs no rescaling.
///
/// Whether dropout is active is an argument of every call, never a hidden mode: Monte-Carlo dropout is exactly the
/// case of running with dropout on at inference.
public struct Dropout: Sendable, Equatable {
    /// The probability of *dropping* a unit, in `0 ..< 1`.
    public let probability: Float

    /// Creates a dropout layer; `probability` must be in `0 ..< 1`.
    public init(probability: Float) {
        precondition(probability >= 0 && probability < 1, "dropout probability must be in [0, 1)")
        self.probability = probability
    }

    /// The factor a kept unit is multiplied by, `1 / (1 − p)`.
    public var keepScale: Float { 1 / (1 - probability) }

    /// Whether the layer ever drops anything.
    public var isIdentity: Bool { probability == 0 }

    /// The threshold a 32-bit uniform draw of ``fillMask(_:rows:columns:using:)`` (training) must reach for a unit to be
    /// kept: `⌊p · 2³²⌋`.
    @usableFromInline var dropThreshold: UInt64 { UInt64((Double(probability) * 4_294_967_296).rounded(.down)) }

    /// The threshold a 16-bit uniform of Monte-Carlo inference's ``MaskStream`` must reach for a unit to be kept:
    /// `⌊p · 65536⌋`, below 65 536 because `p < 1`; inference applies `p` to `1/65536`.
    @usableFromInline var maskThreshold: UInt32 { UInt32((Double(probability) * 65_536).rounded(.down)) }

    /// Fills `mask` with `keepScale` for kept units and `0` for dropped ones.
    ///
    /// The mask is laid out as `rows × columns` and each row draws fresh 64-bit words, so row `i` of a mask depends
    /// only on the generator state when the row starts. For `p = 0.5` each word gives 64 decisions (one per bit);
    /// otherwise each word gives two 32-bit uniforms compared against ``dropThreshold``.
    @inlinable
    public func fillMask(
        _ mask: UnsafeMutableBufferPointer<Float>, rows: Int, columns: Int,
        using generator: inout some RandomNumberGenerator
    ) {
        precondition(mask.count >= rows * columns, "mask buffer too small")
        let scale = keepScale
        if probability == 0 {
            for index in 0..<(rows * columns) { mask[index] = scale }
            return
        }
        if probability == 0.5 {
            for row in 0..<rows {
                let base = row * columns
                var column = 0
                while column < columns {
                    let bits = generator.next()
                    let count = min(64, columns - column)
                    for bit in 0..<count {
                        mask[base + column + bit] = Float((bits >> UInt64(bit)) & 1) * scale
                    }
                    column += count
                }
            }
            return
        }
        let threshold = dropThreshold
        for row in 0..<rows {
            let base = row * columns
            var column = 0
            while column < columns {
                let bits = generator.next()
                mask[base + column] = (bits & 0xFFFF_FFFF) >= threshold ? scale : 0
                if column + 1 < columns {
                    mask[base + column + 1] = (bits >> 32) >= threshold ? scale : 0
                }
                column += 2
            }
        }
    }

    /// Applies dropout to `values` in place when `isActive`, keeping the mask in `mask` for the backward pass.
    ///
    /// When inactive (or `p = 0`) the values are untouched and `mask` is emptied, which the backward pass reads as
    /// "identity".
    public func callAsFunction(
        _ values: inout Matrix, isActive: Bool, mask: inout [Float], using generator: inout some RandomNumberGenerator
    ) {
        guard isActive, !isIdentity else {
            mask.removeAll(keepingCapacity: true)
            return
        }
        let count = values.rows * values.columns
        if mask.count != count {
            mask = [Float](repeating: 0, count: count)
        }
        mask.withUnsafeMutableBufferPointer { m in
            fillMask(m, rows: values.rows, columns: values.columns, using: &generator)
            values.storage.withUnsafeMutableBufferPointer { v in
                for index in 0..<count { v[index] *= m[index] }
            }
        }
    }
}
