import Testing

@testable import MCDropout

/// Naive triple loop: C = op(A)·op(B).
func naiveProduct(_ a: Matrix, _ b: Matrix, transposeA: Bool, transposeB: Bool) -> [Double] {
    let m = transposeA ? a.columns : a.rows
    let k = transposeA ? a.rows : a.columns
    let n = transposeB ? b.rows : b.columns
    var c = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var sum = 0.0
            for p in 0..<k {
                let x = transposeA ? a[p, i] : a[i, p]
                let y = transposeB ? b[j, p] : b[p, j]
                sum += Double(x) * Double(y)
            }
            c[i * n + j] = sum
        }
    }
    return c
}

func randomMatrix(rows: Int, columns: Int, using generator: inout RandomSource) -> Matrix {
    Matrix(rows: rows, columns: columns, storage: (0..<(rows * columns)).map { _ in generator.nextUnitFloat() * 2 - 1 })
}

@Suite("BLAS wrappers")
struct BLASTests {
    @Test(
        "sgemm matches a naive loop for every transpose combination",
        arguments: [(false, false), (true, false), (false, true), (true, true)])
    func gemmMatchesNaive(transposeA: Bool, transposeB: Bool) {
        var generator = RandomSource(seed: 7)
        let (m, k, n) = (13, 37, 21)
        let a =
            transposeA
            ? randomMatrix(rows: k, columns: m, using: &generator)
            : randomMatrix(rows: m, columns: k, using: &generator)
        let b =
            transposeB
            ? randomMatrix(rows: n, columns: k, using: &generator)
            : randomMatrix(rows: k, columns: n, using: &generator)
        var c = Matrix(rows: m, columns: n, repeating: 0.5)
        BLAS.multiply(a, by: b, transposingA: transposeA, transposingB: transposeB, into: &c, alpha: 2, beta: 1)
        let expected = naiveProduct(a, b, transposeA: transposeA, transposeB: transposeB)
        for index in 0..<(m * n) {
            #expect(abs(Double(c.storage[index]) - (2 * expected[index] + 0.5)) < 1e-4)
        }
    }

    @Test("sgemv matches a naive loop")
    func gemvMatchesNaive() {
        var generator = RandomSource(seed: 8)
        let a = randomMatrix(rows: 9, columns: 17, using: &generator)
        let x = (0..<17).map { _ in generator.nextUnitFloat() }
        var y = [Float](repeating: 1, count: 9)
        a.storage.withUnsafeBufferPointer { pa in
            x.withUnsafeBufferPointer { px in
                y.withUnsafeMutableBufferPointer { py in
                    BLAS.gemv(
                        transpose: false, m: 9, n: 17, alpha: 1, a: pa.baseAddress!, lda: 17, x: px.baseAddress!,
                        beta: 1, y: py.baseAddress!)
                }
            }
        }
        for row in 0..<9 {
            let expected = 1 + (0..<17).reduce(0.0) { $0 + Double(a[row, $1]) * Double(x[$1]) }
            #expect(abs(Double(y[row]) - expected) < 1e-4)
        }
    }

    @Test("Dense computes x·Wᵀ + b in PyTorch layout")
    func denseLayout() {
        let layer = Dense(weight: Matrix(rows: 2, columns: 3, storage: [1, 2, 3, 4, 5, 6]), bias: [10, 20])
        var output = Matrix(rows: 0, columns: 0)
        layer(Matrix(rows: 1, columns: 3, storage: [1, 0, -1]), into: &output)
        let expected: [Float] = [8, 18]  // [1·1 + 3·(−1) + 10, 4·1 + 6·(−1) + 20]
        #expect(output.storage == expected)
    }
}
