import CKernels

/// mcdropout's own vector kernels (the C target `CKernels`); the only file in the package that calls them.
///
/// The C code holds AVX-512, AVX2 + FMA and scalar variants of each kernel and picks one per call from what the CPU
/// has, so a build for baseline x86-64 still runs wide vectors. The variants give the same bytes: each sum is taken
/// in the same order with one fused multiply-add per term.
public enum RowKernels {
    /// The vector unit the kernels use on this CPU: 512 (AVX-512F), 256 (AVX2 + FMA) or 0 (scalar).
    public static var vectorWidth: Int { Int(mcd_vector_width()) }

    /// `output[c] = base[c] + Σⱼ alphas[j] · rows[indices[j] · stride + c]` for `c < width`, summed in `j` order with
    /// one fused multiply-add per term — the bytes of `saxpy` calls in that order with FMA kernels — reading the
    /// selected weight rows in place (no gather, no packing). `base` may be `nil` (zeros) or `output` itself.
    ///
    /// - Parameter variant: a vector width to use instead of the CPU's widest (tests compare the variants).
    @inline(__always)
    public static func addRows(
        into output: UnsafeMutablePointer<Float>, base: UnsafePointer<Float>?, rows: UnsafePointer<Float>,
        stride: Int, indices: UnsafePointer<Int32>, alphas: UnsafePointer<Float>, count: Int, width: Int,
        variant: Int? = nil
    ) {
        if let variant {
            mcd_add_rows_variant(Int32(variant), output, base, rows, stride, indices, alphas, count, width)
        } else {
            mcd_add_rows(output, base, rows, stride, indices, alphas, count, width)
        }
    }

    /// Writes the index and value of each non-zero element of `input[0 ..< count]` to `units` and `values` (room for
    /// `count` each), in index order — the terms of an ``addRows(into:base:rows:stride:indices:alphas:count:width:variant:)``
    /// call over the rows of a sparse input — and returns how many there are. Without a branch per element (a
    /// third to a fifth of an image's or a ReLU layer's elements are non-zero, which a branch mispredicts).
    @inline(__always)
    public static func nonZeroTerms(
        of input: UnsafePointer<Float>, count: Int, units: UnsafeMutablePointer<Int32>,
        values: UnsafeMutablePointer<Float>
    ) -> Int {
        nonZeroTerms(
            of: input, inputs: 1, inputStride: count, count: count, rectify: false, units: units, values: values,
            valueStride: count)
    }

    /// ``addRows(into:base:rows:stride:indices:alphas:count:width:variant:)`` for `outputs` outputs over one list of
    /// rows, each row read once for all of them: output `o` (at `output + o · outputStride`) gets `base` plus the terms
    /// whose coefficients are `alphas[o · alphaStride ..< o · alphaStride + count]`, with the bytes that call would
    /// give it over those terms (a zero coefficient adds an exact zero; only the sign of a zero sum can differ).
    /// `base` (shared) may be `nil` but must not overlap the outputs.
    @inline(__always)
    public static func addRows(
        outputs: Int, into output: UnsafeMutablePointer<Float>, outputStride: Int, base: UnsafePointer<Float>?,
        rows: UnsafePointer<Float>, stride: Int, indices: UnsafePointer<Int32>, alphas: UnsafePointer<Float>,
        alphaStride: Int, count: Int, width: Int, variant: Int? = nil
    ) {
        mcd_add_rows_multi_variant(
            Int32(variant ?? 512), Int32(outputs), output, outputStride, base, rows, stride, indices, alphas,
            alphaStride, count, width)
    }

    /// The union of the non-zero terms of `inputs` rows (`input + r · inputStride`, `count` elements each): every
    /// index at which some row is non-zero, in index order, to `units`, and each row's value there (0 where that row
    /// is zero) to `values + r · valueStride` — the terms of one multi-output
    /// ``addRows(outputs:into:outputStride:base:rows:stride:indices:alphas:alphaStride:count:width:variant:)`` call
    /// that gives each row the sums of its own terms. Returns how many there are. With `rectify`, each value is first
    /// replaced by `max(value, 0)` (ReLU), so the caller need not apply it. Without a branch per element.
    @inline(__always)
    public static func nonZeroTerms(
        of input: UnsafePointer<Float>, inputs: Int, inputStride: Int, count: Int, rectify: Bool,
        units: UnsafeMutablePointer<Int32>, values: UnsafeMutablePointer<Float>, valueStride: Int
    ) -> Int {
        var found = 0
        for index in 0..<count {
            var nonZero = 0
            for row in 0..<inputs {
                var value = input[row * inputStride + index]
                if rectify { value = value > 0 ? value : 0 }
                values[row * valueStride + found] = value
                nonZero |= value != 0 ? 1 : 0
            }
            units[found] = Int32(truncatingIfNeeded: index)
            found += nonZero
        }
        return found
    }
}
