import Testing

@testable import MCDropout

@Suite("Random streams and dropout")
struct RandomAndDropoutTests {
    @Test("SplitMix64 reproduces the reference sequence for seed 1234567")
    func splitMixReference() {
        var generator = SplitMix64(seed: 1_234_567)
        let values = (0..<5).map { _ in generator.next() }
        #expect(
            values == [
                6_457_827_717_110_365_317, 3_203_168_211_198_807_973, 9_817_491_932_198_370_423,
                4_593_380_528_125_082_431, 16_408_922_859_458_223_821,
            ])
    }

    @Test("same seed gives the same stream, different seeds and streams differ")
    func seeding() {
        var a = RandomSource(seed: 42)
        var b = RandomSource(seed: 42)
        var c = RandomSource(seed: 43)
        var d = RandomSource(seed: 42, stream: 1)
        let sa = (0..<8).map { _ in a.next() }
        #expect(sa == (0..<8).map { _ in b.next() })
        #expect(sa != (0..<8).map { _ in c.next() })
        #expect(sa != (0..<8).map { _ in d.next() })
    }

    @Test(
        "dropout keeps about 1 − p, zeroes exactly the others and scales kept units by 1/(1 − p)",
        arguments: [Float(0.1), 0.3, 0.5, 0.8])
    func keepRate(probability: Float) {
        let dropout = Dropout(probability: probability)
        var generator = RandomSource(seed: 99)
        let rows = 200
        let columns = 500
        var values = Matrix(rows: rows, columns: columns, storage: (0..<(rows * columns)).map { Float($0 % 97) + 1 })
        let original = values
        var mask: [Float] = []
        dropout(&values, isActive: true, mask: &mask, using: &generator)
        var kept = 0
        for index in 0..<values.storage.count {
            if values.storage[index] == 0 {
                #expect(mask[index] == 0)
            } else {
                kept += 1
                #expect(values.storage[index] == original.storage[index] * (1 / (1 - probability)))
            }
        }
        let n = Double(rows * columns)
        let expected = n * Double(1 - probability)
        let sigma = (n * Double(probability) * Double(1 - probability)).squareRoot()
        #expect(abs(Double(kept) - expected) < 5 * sigma, "kept \(kept) of \(Int(n)), expected \(expected)")
    }

    @Test("inactive dropout leaves values alone and empties the mask")
    func inactive() {
        var values = Matrix(rows: 2, columns: 3, repeating: 4)
        var mask: [Float] = [1, 2, 3]
        var generator = RandomSource(seed: 1)
        Dropout(probability: 0.5)(&values, isActive: false, mask: &mask, using: &generator)
        #expect(values.storage == [Float](repeating: 4, count: 6))
        #expect(mask.isEmpty)
    }
}
