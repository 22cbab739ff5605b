import Testing

@testable import MCDropout

@Suite("Row kernels (CKernels)")
struct RowKernelsTests {
    /// The sum `addRows` documents, with Swift's fused multiply-add (`addingProduct`) term by term in `j` order.
    func reference(
        base: [Float]?, rows: [Float], stride: Int, indices: [Int32], alphas: [Float], width: Int
    ) -> [Float] {
        (0..<width).map { column in
            var sum = base?[column] ?? 0
            for (j, index) in indices.enumerated() {
                sum = sum.addingProduct(alphas[j], rows[Int(index) * stride + column])
            }
            return sum
        }
    }

    @Test(
        "every variant gives the bytes of fused multiply-adds in term order, for any width, with or without a base",
        arguments: [1, 10, 16, 17, 64, 100, 128, 130, 512, 1024])
    func variantsAgree(width: Int) {
        var generator = RandomSource(seed: UInt64(width))
        let stride = width + 3
        let rowCount = 40
        let rows = (0..<(rowCount * stride)).map { _ in generator.nextUnitFloat() * 2 - 1 }
        let indices: [Int32] = (0..<25).map { _ in Int32(generator.next() % UInt64(rowCount)) }
        let alphas = indices.map { _ in (generator.nextUnitFloat() - 0.5) * 3 }
        let base = (0..<width).map { _ in generator.nextUnitFloat() }
        for useBase in [false, true] {
            let expected = reference(
                base: useBase ? base : nil, rows: rows, stride: stride, indices: indices, alphas: alphas,
                width: width)
            for variant in [512, 256, 0] {
                var output = [Float](repeating: .nan, count: width)
                output.withUnsafeMutableBufferPointer { output in
                    base.withUnsafeBufferPointer { base in
                        RowKernels.addRows(
                            into: output.baseAddress!, base: useBase ? base.baseAddress! : nil, rows: rows,
                            stride: stride, indices: indices, alphas: alphas, count: indices.count, width: width,
                            variant: variant)
                    }
                }
                #expect(
                    output.map(\.bitPattern) == expected.map(\.bitPattern),
                    "variant \(variant), width \(width), base \(useBase)")
            }
        }
    }

    @Test("the base may be the output itself, and no terms leave the base (or zeros)")
    func inPlaceAndEmpty() {
        var values: [Float] = (0..<70).map { Float($0) / 7 }
        let rows: [Float] = (0..<140).map { Float($0) }
        let expected = reference(base: values, rows: rows, stride: 70, indices: [1, 0], alphas: [0.5, -2], width: 70)
        values.withUnsafeMutableBufferPointer { values in
            RowKernels.addRows(
                into: values.baseAddress!, base: values.baseAddress!, rows: rows, stride: 70, indices: [1, 0],
                alphas: [0.5, -2], count: 2, width: 70)
        }
        #expect(values == expected)
        var zeros = [Float](repeating: .nan, count: 33)
        zeros.withUnsafeMutableBufferPointer { output in
            RowKernels.addRows(
                into: output.baseAddress!, base: nil, rows: rows, stride: 70, indices: [], alphas: [], count: 0,
                width: 33)
        }
        #expect(zeros == [Float](repeating: 0, count: 33))
        #expect([0, 256, 512].contains(RowKernels.vectorWidth))
    }

    @Test(
        "the multi-output kernel gives each output the single-output bytes of its own non-zero terms, in any variant",
        arguments: [1, 10, 16, 63, 64, 70, 130, 512])
    func multiOutputAgrees(width: Int) {
        var generator = RandomSource(seed: 1000 + UInt64(width))
        let stride = width + 1
        let rowCount = 30
        let rows = (0..<(rowCount * stride)).map { _ in generator.nextUnitFloat() * 2 - 1 }
        let indices: [Int32] = (0..<20).map { Int32($0 + 5) }
        let base = (0..<width).map { _ in generator.nextUnitFloat() }
        for outputs in 1...6 {
            // Each output uses a different subset of the terms: the others have coefficient 0.
            let alphaStride = indices.count + 2
            var alphas = [Float](repeating: 0, count: outputs * alphaStride)
            for output in 0..<outputs {
                for j in indices.indices where generator.next() % 3 != 0 {
                    alphas[output * alphaStride + j] = (generator.nextUnitFloat() - 0.5) * 3
                }
            }
            let expected: [[Float]] = (0..<outputs).map { output in
                let own = indices.indices.filter { alphas[output * alphaStride + $0] != 0 }
                return reference(
                    base: base, rows: rows, stride: stride, indices: own.map { indices[$0] },
                    alphas: own.map { alphas[output * alphaStride + $0] }, width: width)
            }
            for variant in [512, 256, 0] {
                var out = [Float](repeating: .nan, count: outputs * (width + 2))
                out.withUnsafeMutableBufferPointer { out in
                    RowKernels.addRows(
                        outputs: outputs, into: out.baseAddress!, outputStride: width + 2, base: base, rows: rows,
                        stride: stride, indices: indices, alphas: alphas, alphaStride: alphaStride,
                        count: indices.count, width: width, variant: variant)
                }
                for output in 0..<outputs {
                    let got = Array(out[(output * (width + 2))..<(output * (width + 2) + width)])
                    // Equal as numbers (a zero coefficient can only turn a -0 sum into +0).
                    #expect(
                        got == expected[output], "variant \(variant), width \(width), output \(output) of \(outputs)")
                }
            }
        }
    }

    @Test("the union of several rows' non-zero terms, with and without the folded ReLU")
    func unionTerms() {
        let input: [Float] = [0, 1, 0, -2, 0, 0, 3, 0, 0, 0, -1, 0]  // two rows of 6
        var units = [Int32](repeating: -1, count: 6)
        var values = [Float](repeating: .nan, count: 12)
        let count = RowKernels.nonZeroTerms(
            of: input, inputs: 2, inputStride: 6, count: 6, rectify: false, units: &units, values: &values,
            valueStride: 6)
        #expect(count == 4)
        #expect(Array(units[0..<4]) == [0, 1, 3, 4])
        #expect(Array(values[0..<4]) == [0, 1, -2, 0])
        #expect(Array(values[6..<10]) == [3, 0, 0, -1])
        let rectified = RowKernels.nonZeroTerms(
            of: input, inputs: 2, inputStride: 6, count: 6, rectify: true, units: &units, values: &values,
            valueStride: 6)
        #expect(rectified == 2)
        #expect(Array(units[0..<2]) == [0, 1])
        #expect(Array(values[0..<2]) == [0, 1])
        #expect(Array(values[6..<8]) == [3, 0])
    }

    @Test(
        "the compaction's variants select the same terms, across tails, NaN, -0 and the folded ReLU",
        arguments: [0, 512])
    func unionTermsVariants(variant: Int) {
        var random = RandomSource(seed: 41)
        for width in [1, 5, 15, 16, 17, 31, 33, 100, 784] {
            for inputs in 1...5 {
                for rectify in [false, true] {
                    // About a quarter non-zero, with the special values a network can produce.
                    let input = (0..<(inputs * width)).map { _ -> Float in
                        switch random.next() % 16 {
                        case 0: return -0.0
                        case 1: return .nan
                        case 2, 3: return -Float(random.next() % 100) / 7
                        case 4, 5: return Float(random.next() % 100 + 1) / 9
                        default: return 0
                        }
                    }
                    var expectedUnits: [Int32] = []
                    var expectedValues = [[Float]](repeating: [], count: inputs)
                    for index in 0..<width {
                        let row = (0..<inputs).map { r -> Float in
                            let value = input[r * width + index]
                            return rectify ? (value > 0 ? value : 0) : value
                        }
                        guard row.contains(where: { $0 != 0 }) else { continue }
                        expectedUnits.append(Int32(index))
                        for r in 0..<inputs { expectedValues[r].append(row[r]) }
                    }
                    var units = [Int32](repeating: -1, count: width)
                    var values = [Float](repeating: 7, count: inputs * width)
                    let count = RowKernels.nonZeroTerms(
                        of: input, inputs: inputs, inputStride: width, count: width, rectify: rectify,
                        units: &units, values: &values, valueStride: width, variant: variant)
                    let label = "variant \(variant), width \(width), \(inputs) rows, rectify \(rectify)"
                    #expect(count == expectedUnits.count, "\(label)")
                    #expect(Array(units[0..<count]) == expectedUnits, "\(label)")
                    for r in 0..<inputs {
                        let got = values[(r * width)..<(r * width + count)].map(\.bitPattern)
                        // Bit patterns: a rectified -0 must come out +0, an unrectified NaN as the NaN it was.
                        #expect(got == expectedValues[r].map(\.bitPattern), "\(label), row \(r)")
                    }
                }
            }
        }
    }

    @Test(
        "the resampling's variants give the bytes of the plain loop: products and sums rounded on their own, in tap order",
        arguments: [0, 512])
    func resampleVariants(variant: Int) {
        var random = RandomSource(seed: 43)
        let input = (0..<784).map { _ in random.next() % 3 == 0 ? random.nextUnitFloat() : 0 }
        for pixels in [1, 15, 16, 17, 100, 784] {
            let taps = (0..<(4 * pixels)).map { _ in Int32(random.next() % 784) }
            let weights = (0..<(4 * pixels)).map { _ in random.nextUnitFloat() }
            var expected = [Float](repeating: 0, count: pixels)
            for p in 0..<pixels {
                var value: Float = 0
                for slot in 0..<4 {
                    let product = weights[slot * pixels + p] * input[Int(taps[slot * pixels + p])]
                    value = value + product
                }
                expected[p] = value
            }
            var output = [Float](repeating: .nan, count: pixels + 1)
            RowKernels.resample(
                into: &output, from: input, taps: taps, weights: weights, pixels: pixels, variant: variant)
            #expect(output[0..<pixels].map(\.bitPattern) == expected.map(\.bitPattern), "\(pixels) pixels")
            #expect(output[pixels].isNaN, "nothing written past the last pixel")
        }
    }

    @Test("the fused bias, ReLU and dropout give the plain loop's bytes in every variant", arguments: [0, 256, 512])
    func biasReLUSelectVariants(variant: Int) {
        var random = RandomSource(seed: 47)
        for count in [1, 7, 8, 9, 16, 17, 100, 512] {
            for threshold: UInt32 in [0, 19_660, 32_768, 65_535] {
                let scale: Float = 1 / 0.7
                let start = (0..<count).map { index -> Float in
                    switch index % 9 {
                    case 0: return .nan
                    case 1: return -0.0
                    case 2: return .greatestFiniteMagnitude
                    default: return Float(random.next() % 2000) / 100 - 10
                    }
                }
                let bias = (0..<count).map { _ in Float(random.next() % 200) / 100 - 1 }
                let words = (0..<((count + 3) / 4)).map { _ in random.next() }
                var expected = start
                words.withUnsafeBytes { bytes in
                    for j in 0..<count {
                        let v = start[j] + bias[j]
                        let uniform = UInt32(bytes.load(fromByteOffset: 2 * j, as: UInt16.self))
                        let kept: Float = uniform >= threshold ? 1 : 0
                        expected[j] = ((v > 0 ? v : 0) * scale) * kept
                    }
                }
                var values = start + [Float.nan]
                RowKernels.biasReLUSelect(
                    &values, bias: bias, count: count, mask: words, threshold: threshold, scale: scale,
                    variant: variant)
                #expect(
                    values[0..<count].map(\.bitPattern) == expected.map(\.bitPattern),
                    "\(count) units, threshold \(threshold)")
                #expect(values[count].isNaN, "nothing written past the last unit")
            }
        }
    }
}
