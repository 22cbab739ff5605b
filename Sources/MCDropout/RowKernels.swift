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
    /// that gives each row the sums of its own terms. Returns how many there are; `units` and each row of `values`
    /// need room for `count` elements. With `rectify`, each value is first replaced by `max(value, 0)` (ReLU; a NaN
    /// becomes 0), so the caller need not apply it; without it a NaN counts as non-zero and −0 as zero. The AVX-512
    /// variant takes 16 elements at a time without a branch per element (compressing each row's selected values in a
    /// register); every variant selects the same terms.
    ///
    /// - Parameter variant: a vector width to use instead of the CPU's widest (tests compare the variants).
    @inline(__always)
    public static func nonZeroTerms(
        of input: UnsafePointer<Float>, inputs: Int, inputStride: Int, count: Int, rectify: Bool,
        units: UnsafeMutablePointer<Int32>, values: UnsafeMutablePointer<Float>, valueStride: Int,
        variant: Int? = nil
    ) -> Int {
        mcd_nonzero_terms_variant(
            Int32(variant ?? 512), input, Int32(inputs), inputStride, count, rectify ? 1 : 0, units, values,
            valueStride)
    }

    /// A linear resampling with four taps per output pixel (the rotation probe's bilinear turn): `output[p]` =
    /// `(((0 + w₀·x₀) + w₁·x₁) + w₂·x₂) + w₃·x₃` with `xₛ = input[taps[s · pixels + p]]` and `wₛ = weights[s · pixels
    /// + p]`, each product and sum rounded on its own, in that order, for `p < pixels` — the bytes of the plain loop in
    /// every variant (the AVX-512 one gathers 16 pixels per tap). Every tap must index `input`.
    ///
    /// - Parameter variant: a vector width to use instead of the CPU's widest (tests compare the variants).
    @inline(__always)
    public static func resample(
        into output: UnsafeMutablePointer<Float>, from input: UnsafePointer<Float>, taps: UnsafePointer<Int32>,
        weights: UnsafePointer<Float>, pixels: Int, variant: Int? = nil
    ) {
        mcd_resample4_variant(Int32(variant ?? 512), output, input, taps, weights, pixels)
    }

    /// Dropout mask words of ``MaskStream``: `words[i] = mix(start &+ (i + 1) &* γ)` for `i < count` (SplitMix64;
    /// 8 words per step with AVX-512, one by one elsewhere; integer arithmetic, so every variant gives the same words).
    ///
    /// - Parameter variant: a vector width to use instead of the CPU's widest (tests compare the variants).
    @inline(__always)
    static func maskWords(
        into words: UnsafeMutablePointer<UInt64>, count: Int, start: UInt64, variant: Int? = nil
    ) {
        mcd_mask_words_variant(Int32(variant ?? 512), words, count, start)
    }

    /// Splits active units by their dropout decision from their own uniforms (``MaskStream``'s words from `start`,
    /// unit `u` dropped when its 16-bit uniform is below `threshold`): the dropped units, with their values negated,
    /// to `droppedUnits` / `droppedValues`, the kept ones to `keptUnits` / `keptValues`, each in input order (room
    /// for `count` each). Returns the number dropped. 16 units per step with AVX-512; every variant gives the same
    /// lists.
    ///
    /// - Parameter variant: a vector width to use instead of the CPU's widest (tests compare the variants).
    @inline(__always)
    static func partitionActive(
        _ values: UnsafePointer<Float>, units: UnsafePointer<Int32>, count: Int, start: UInt64, threshold: UInt32,
        droppedUnits: UnsafeMutablePointer<Int32>, droppedValues: UnsafeMutablePointer<Float>,
        keptUnits: UnsafeMutablePointer<Int32>, keptValues: UnsafeMutablePointer<Float>, variant: Int? = nil
    ) -> Int {
        mcd_partition_active_variant(
            Int32(variant ?? 512), values, units, count, start, threshold, droppedUnits, droppedValues, keptUnits,
            keptValues)
    }

    /// `values[j] = (max(values[j] + bias[j], 0) · scale) · keepⱼ` in place, `keepⱼ` 1 when unit `j`'s 16-bit uniform
    /// in `mask` is at least `threshold` and 0 otherwise (a NaN sum gives 0; each operation rounded on its own, the
    /// bytes of the plain loop in every variant): a hidden layer's bias, ReLU and the next layer's dropout.
    ///
    /// - Parameter variant: a vector width to use instead of the CPU's widest (tests compare the variants).
    @inline(__always)
    static func biasReLUSelect(
        _ values: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, count: Int, mask: UnsafePointer<UInt64>,
        threshold: UInt32, scale: Float, variant: Int? = nil
    ) {
        mcd_bias_relu_select_variant(Int32(variant ?? 512), values, bias, count, mask, threshold, scale)
    }

    /// `output[c] = base[c] + Σ over the non-zero `input[i]` of `input[i] · rows[i · width + c]` for `c < width`
    /// (`base` nil: zeros): ``nonZeroTerms(of:count:units:values:)`` into the scratch `units` / `values` (grown to
    /// `count`), then ``addRows(into:base:rows:stride:indices:alphas:count:width:variant:)`` over those terms — a
    /// dense layer or projection of a mostly-zero input, reading only its non-zero elements' rows.
    static func addNonZeroRows(
        of input: UnsafePointer<Float>, count: Int, rows: [Float], base: [Float]?,
        into output: UnsafeMutablePointer<Float>, width: Int, units: inout [Int32], values: inout [Float]
    ) {
        units.ensureCount(count)
        values.ensureCount(count)
        units.withUnsafeMutableBufferPointer { units in
            values.withUnsafeMutableBufferPointer { values in
                let terms = nonZeroTerms(
                    of: input, count: count, units: units.baseAddress!, values: values.baseAddress!)
                rows.withUnsafeBufferPointer { rows in
                    // An empty array's buffer may have an address: no base is nil, not `[]`.
                    func add(_ base: UnsafePointer<Float>?) {
                        addRows(
                            into: output, base: base, rows: rows.baseAddress!, stride: width,
                            indices: units.baseAddress!, alphas: values.baseAddress!, count: terms, width: width)
                    }
                    if let base { base.withUnsafeBufferPointer { add($0.baseAddress!) } } else { add(nil) }
                }
            }
        }
    }
}
