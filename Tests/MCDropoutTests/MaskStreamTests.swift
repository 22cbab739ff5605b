import Testing

@testable import MCDropout

@Suite("Monte-Carlo mask stream")
struct MaskStreamTests {
    static let probabilities: [Float] = [0.1, 0.25, 0.3, 0.5, 0.9]

    @Test("a word is SplitMix64 output number c + 1 from the seed's key, c = pass << 32 | layer << 24 | word")
    func definition() {
        for seed: UInt64 in [0, 1, 0xDEAD_BEEF, .max] {
            var keyMixer = SplitMix64(seed: seed)
            let key = keyMixer.next()
            let stream = MaskStream(seed: seed)
            #expect(stream.key == key)
            for (pass, layer, index) in [(0, 0, 0), (3, 2, 5), (99, 1, 255), (1 << 20, 200, (1 << 24) - 1)] {
                let counter = UInt64(pass) << 32 | UInt64(layer) << 24 | UInt64(index)
                var mixer = SplitMix64(seed: key &+ counter &* 0x9E37_79B9_7F4A_7C15)
                let word = mixer.next()
                #expect(stream.word(pass: pass, layer: layer, index: index) == word)
                for lane in 0..<4 {
                    let uniform = stream.uniform(pass: pass, layer: layer, unit: 4 * index + lane)
                    #expect(uniform == UInt16(truncatingIfNeeded: word >> UInt64(16 * lane)))
                }
            }
        }
    }

    @Test("layers from 256 on take another key: a very deep model neither traps nor repeats a layer's masks")
    func deepLayers() {
        let stream = MaskStream(seed: 3)
        var keyMixer = SplitMix64(seed: 3)
        let key = keyMixer.next()
        let counter = UInt64(5) << 32 | UInt64(4) << 24 | 9
        var mixer = SplitMix64(seed: (key ^ MaskStream.mix(1)) &+ counter &* 0x9E37_79B9_7F4A_7C15)
        #expect(stream.word(pass: 5, layer: 260, index: 9) == mixer.next())
        #expect(stream.word(pass: 5, layer: 260, index: 9) != stream.word(pass: 5, layer: 4, index: 9))
        let model = tabularModel(
            sizes: [Int](repeating: 3, count: 300), dropout: [Float](repeating: 0.2, count: 299), activation: .relu)
        let summary = MonteCarloPredictor(model: model).predict([0.5, -1, 2], sampleCount: 4, seed: 1)
        let reference = PredictiveSummary(
            passProbabilities: naivePassProbabilities(model: model, input: [0.5, -1, 2], sampleCount: 4, seed: 1))
        for column in 0..<3 {
            #expect(abs(summary.meanProbabilities[column] - reference.meanProbabilities[column]) < 1e-4)
        }
    }

    @Test("the threshold is ⌊p · 65536⌋: the keep probability is 1 − p to within 1/65536", arguments: probabilities)
    func threshold(probability: Float) {
        let dropout = Dropout(probability: probability)
        let keep = Double(65_536 - Int(dropout.maskThreshold)) / 65_536
        #expect(abs(keep - (1 - Double(probability))) <= 1.0 / 65_536)
        #expect(Dropout(probability: 0).maskThreshold == 0)
        #expect(Dropout(probability: 0.99999).maskThreshold == 65_535)
    }

    @Test(
        "the empirical keep rate over many units and passes is 1 − p within 4 standard errors",
        arguments: probabilities)
    func keepRate(probability: Float) {
        let dropout = Dropout(probability: probability)
        let stream = MaskStream(seed: 2024)
        var kept = 0
        var total = 0
        for pass in 0..<100 {
            for layer in 1...2 {
                for unit in 0..<1024 {
                    if stream.isKept(pass: pass, layer: layer, unit: unit, dropout: dropout) { kept += 1 }
                    total += 1
                }
            }
        }
        let q = 1 - Double(probability)
        let standardError = (q * (1 - q) / Double(total)).squareRoot()
        #expect(abs(Double(kept) / Double(total) - q) < 4 * standardError, "kept \(kept) of \(total)")
    }

    /// The share of `(a, b)` pairs with equal keep decisions over `count` draws.
    func agreement(count: Int, _ a: (Int) -> Bool, _ b: (Int) -> Bool) -> Double {
        var equal = 0
        for index in 0..<count where a(index) == b(index) { equal += 1 }
        return Double(equal) / Double(count)
    }

    @Test(
        "masks of neighbouring units, other passes, other layers and other seeds agree as independent ones do",
        arguments: probabilities)
    func independence(probability: Float) {
        let dropout = Dropout(probability: probability)
        let stream = MaskStream(seed: 7)
        let other = MaskStream(seed: 8)
        let count = 200_000
        let q = 1 - Double(probability)
        let expected = q * q + (1 - q) * (1 - q)
        let bound = 4 * (expected * (1 - expected) / Double(count)).squareRoot()
        // Index i ↦ (pass, unit): 1,000 units per pass, as a 1,000-wide layer.
        func kept(_ s: MaskStream, pass: Int, layer: Int, unit: Int) -> Bool {
            s.isKept(pass: pass, layer: layer, unit: unit, dropout: dropout)
        }
        let pairs: [(String, (Int) -> Bool, (Int) -> Bool)] = [
            (
                "unit u, u + 1", { kept(stream, pass: $0 / 1000, layer: 1, unit: $0 % 1000) },
                { kept(stream, pass: $0 / 1000, layer: 1, unit: $0 % 1000 + 1) }
            ),
            (
                "unit u, u + 4 (next word)", { kept(stream, pass: $0 / 1000, layer: 1, unit: $0 % 1000) },
                { kept(stream, pass: $0 / 1000, layer: 1, unit: $0 % 1000 + 4) }
            ),
            (
                "pass n, n + 1", { kept(stream, pass: $0 / 1000, layer: 1, unit: $0 % 1000) },
                { kept(stream, pass: $0 / 1000 + 1, layer: 1, unit: $0 % 1000) }
            ),
            (
                "layer l, l + 1", { kept(stream, pass: $0 / 1000, layer: 1, unit: $0 % 1000) },
                { kept(stream, pass: $0 / 1000, layer: 2, unit: $0 % 1000) }
            ),
            (
                "seed 7, 8", { kept(stream, pass: $0 / 1000, layer: 1, unit: $0 % 1000) },
                { kept(other, pass: $0 / 1000, layer: 1, unit: $0 % 1000) }
            ),
        ]
        for (name, a, b) in pairs {
            let share = agreement(count: count, a, b)
            #expect(abs(share - expected) < bound, "\(name): agreement \(share), expected \(expected)")
        }
    }

    @Test("the uniforms of neighbouring units and consecutive passes are uncorrelated")
    func uniformCorrelation() {
        let stream = MaskStream(seed: 99)
        let count = 100_000
        func correlation(_ a: (Int) -> UInt16, _ b: (Int) -> UInt16) -> Double {
            var sa = 0.0
            var sb = 0.0
            var saa = 0.0
            var sbb = 0.0
            var sab = 0.0
            for index in 0..<count {
                let x = Double(a(index))
                let y = Double(b(index))
                sa += x
                sb += y
                saa += x * x
                sbb += y * y
                sab += x * y
            }
            let n = Double(count)
            let covariance = sab / n - sa / n * sb / n
            return covariance / ((saa / n - sa * sa / n / n) * (sbb / n - sb * sb / n / n)).squareRoot()
        }
        let bound = 4 / Double(count).squareRoot()
        for offset in [1, 2, 3, 4] {
            let r = correlation(
                { stream.uniform(pass: $0 / 500, layer: 1, unit: $0 % 500) },
                { stream.uniform(pass: $0 / 500, layer: 1, unit: $0 % 500 + offset) })
            #expect(abs(r) < bound, "units u, u + \(offset): r = \(r)")
        }
        let passes = correlation(
            { stream.uniform(pass: $0 / 500, layer: 1, unit: $0 % 500) },
            { stream.uniform(pass: $0 / 500 + 1, layer: 1, unit: $0 % 500) })
        #expect(abs(passes) < bound, "passes n, n + 1: r = \(passes)")
    }

    @Test(
        "the engine's words and kernels give the reference keep decisions, on the dense and the active-unit path",
        arguments: [0, 512])
    func kernelsMatchReference(variant: Int) {
        let stream = MaskStream(seed: 31)
        let width = 203  // not a multiple of 4, 8 or 16: the kernels' tails run too
        let words = MaskStream.wordCount(units: width)
        for probability in Self.probabilities {
            let dropout = Dropout(probability: probability)
            var mask = [UInt64](repeating: 0, count: words)
            let units: [Int32] = (0..<Int32(width)).filter { $0 % 3 == 0 || $0 % 7 == 1 }
            let source = (0..<width).map { Float($0) + 1 }
            var dense = [Float](repeating: -1, count: width)
            var droppedUnits = [Int32](repeating: -1, count: units.count)
            var droppedValues = [Float](repeating: -1, count: units.count)
            var keptUnits = droppedUnits
            var keptValues = droppedValues
            var fused = (0..<width).map { Float($0) - 20 }
            let bias = [Float](repeating: 0.5, count: width)
            let start = stream.start(pass: 6, layer: 2)
            mask.withUnsafeMutableBufferPointer { m in
                RowKernels.maskWords(into: m.baseAddress!, count: words, start: start, variant: variant)
                MaskKernels.select(source, into: &dense, count: width, mask: m.baseAddress!, dropout: dropout)
                MaskKernels.biasReLUSelect(&fused, bias: bias, count: width, mask: m.baseAddress!, dropout: dropout)
            }
            for index in 0..<words { #expect(mask[index] == stream.word(pass: 6, layer: 2, index: index)) }
            let values = units.map { source[Int($0)] }
            let droppedCount = RowKernels.partitionActive(
                values, units: units, count: units.count, start: start, threshold: dropout.maskThreshold,
                droppedUnits: &droppedUnits, droppedValues: &droppedValues, keptUnits: &keptUnits,
                keptValues: &keptValues, variant: variant)
            for unit in 0..<width {
                let isKept = stream.isKept(pass: 6, layer: 2, unit: unit, dropout: dropout)
                #expect(dense[unit] == (isKept ? source[unit] : 0))
                let relu = max(Float(unit) - 20 + 0.5, 0) * dropout.keepScale
                #expect(fused[unit] == (isKept ? relu : 0))
            }
            // The active-unit path's partition: the dropped units (values negated) and the kept ones, in unit order.
            let kept = units.filter { stream.isKept(pass: 6, layer: 2, unit: Int($0), dropout: dropout) }
            let dropped = units.filter { !stream.isKept(pass: 6, layer: 2, unit: Int($0), dropout: dropout) }
            #expect(droppedCount == dropped.count)
            #expect(Array(droppedUnits[..<droppedCount]) == dropped)
            #expect(Array(droppedValues[..<droppedCount]) == dropped.map { -source[Int($0)] })
            #expect(Array(keptUnits[..<kept.count]) == kept)
            #expect(Array(keptValues[..<kept.count]) == kept.map { source[Int($0)] })
        }
    }

    @Test(
        "the active-unit partition keeps the input's order and flips only the sign bit, for any units",
        arguments: [0, 512])
    func partitionAnyUnits(variant: Int) {
        let stream = MaskStream(seed: 77)
        let dropout = Dropout(probability: 0.5)
        var random = RandomSource(seed: 5)
        for count in [0, 1, 15, 16, 17, 40] {
            // Units in any order (the stream allows any unit below 2²⁴) and values with a -0 and a NaN.
            let units = (0..<count).map { _ in Int32(truncatingIfNeeded: random.next() % (1 << 24)) }
            let values = (0..<count).map { index -> Float in
                index == 1 ? -0.0 : index == 2 ? .nan : Float(random.next() % 1000) / 10 - 50
            }
            var droppedUnits = [Int32](repeating: -1, count: max(count, 1))
            var droppedValues = [Float](repeating: -1, count: max(count, 1))
            var keptUnits = droppedUnits
            var keptValues = droppedValues
            let droppedCount = RowKernels.partitionActive(
                values, units: units, count: count, start: stream.start(pass: 3, layer: 1),
                threshold: dropout.maskThreshold, droppedUnits: &droppedUnits, droppedValues: &droppedValues,
                keptUnits: &keptUnits, keptValues: &keptValues, variant: variant)
            let isKept = units.map { stream.isKept(pass: 3, layer: 1, unit: Int($0), dropout: dropout) }
            let keptIndices = (0..<count).filter { isKept[$0] }
            let droppedIndices = (0..<count).filter { !isKept[$0] }
            #expect(droppedCount == droppedIndices.count)
            #expect(Array(droppedUnits[..<droppedCount]) == droppedIndices.map { units[$0] })
            #expect(
                droppedValues[..<droppedCount].map(\.bitPattern)
                    == droppedIndices.map { (-values[$0]).bitPattern })
            #expect(Array(keptUnits[..<keptIndices.count]) == keptIndices.map { units[$0] })
            #expect(keptValues[..<keptIndices.count].map(\.bitPattern) == keptIndices.map { values[$0].bitPattern })
        }
    }
}
