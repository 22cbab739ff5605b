import CBLAS

/// Thin wrappers over OpenBLAS; the only file in the package that calls `cblas_*` or `openblas_*`.
///
/// Every routine is row-major. Pointer arguments must stay valid for the call only.
public enum BLAS {
    /// The number of threads OpenBLAS uses for one call (`openblas_get_num_threads`).
    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// Sets the number of threads OpenBLAS uses for one call (`openblas_set_num_threads`).
    ///
    /// A server that runs one request per worker thread sets this to 1; a trainer sets it to the cores it may use.
    /// Results are bit-for-bit reproducible for a fixed thread count.
    public static func setThreadCount(_ count: Int) {
        precondition(count >= 1, "BLAS thread count must be at least 1")
        openblas_set_num_threads(Int32(count))
    }

    /// `C ← α·op(A)·op(B) + β·C` (`cblas_sgemm`), where `op(A)` is `m × k` and `op(B)` is `k × n`.
    @inline(__always)
    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `y ← α·x + y` (`cblas_saxpy`) for `count` contiguous elements.
    @inline(__always)
    public static func axpy(count: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        cblas_saxpy(Int32(count), alpha, x, 1, y, 1)
    }

    /// `y ← α·op(A)·x + β·y` (`cblas_sgemv`) for an `m × n` matrix `A`.
    @inline(__always)
    public static func gemv(
        transpose: Bool, m: Int, n: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>
    ) {
        cblas_sgemv(
            CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), alpha, a, Int32(lda), x, 1,
            beta, y, 1)
    }
}

extension BLAS {
    /// `C ← α·op(A)·op(B) + β·C` on matrices; `C` must already have the result's shape.
    public static func multiply(
        _ a: Matrix, by b: Matrix, transposingA transposeA: Bool = false, transposingB transposeB: Bool = false,
        into c: inout Matrix, alpha: Float = 1, beta: Float = 0
    ) {
        let m = transposeA ? a.columns : a.rows
        let k = transposeA ? a.rows : a.columns
        let n = transposeB ? b.rows : b.columns
        precondition((transposeB ? b.columns : b.rows) == k, "inner dimensions differ")
        precondition(c.rows == m && c.columns == n, "result has the wrong shape")
        precondition(k > 0, "inner dimension must be positive")
        guard m > 0, n > 0 else { return }
        a.storage.withUnsafeBufferPointer { pa in
            b.storage.withUnsafeBufferPointer { pb in
                c.storage.withUnsafeMutableBufferPointer { pc in
                    gemm(
                        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                        a: pa.baseAddress!, lda: max(a.columns, 1), b: pb.baseAddress!, ldb: max(b.columns, 1),
                        beta: beta, c: pc.baseAddress!, ldc: n)
                }
            }
        }
    }
}

extension BLAS {
    /// The eigen-decomposition of a symmetric `n × n` matrix (LAPACK `dsyevd_`, through OpenBLAS).
    ///
    /// - Parameter matrix: row-major, both triangles filled; replaced by the eigenvectors, one per **row**, in the
    ///   order of the returned eigenvalues.
    /// - Returns: the eigenvalues in ascending order, or nil when LAPACK reports that it did not converge.
    public static func symmetricEigen(_ matrix: inout [Double], size n: Int) -> [Double]? {
        precondition(n > 0 && matrix.count == n * n, "need an n × n matrix")
        // Column-major LAPACK sees the row-major matrix transposed, which for a symmetric matrix is itself; its
        // column eigenvectors come back as our rows.
        var values = [Double](repeating: 0, count: n)
        var size = Int32(n)
        var info: Int32 = 0
        var workQuery: Double = 0
        var iworkQuery: Int32 = 0
        var minusOne: Int32 = -1
        var jobz = CChar(UInt8(ascii: "V"))
        var uplo = CChar(UInt8(ascii: "U"))
        dsyevd_(&jobz, &uplo, &size, &matrix, &size, &values, &workQuery, &minusOne, &iworkQuery, &minusOne, &info)
        guard info == 0 else { return nil }
        var lwork = Int32(workQuery)
        var liwork = iworkQuery
        var work = [Double](repeating: 0, count: Int(lwork))
        var iwork = [Int32](repeating: 0, count: Int(liwork))
        dsyevd_(&jobz, &uplo, &size, &matrix, &size, &values, &work, &lwork, &iwork, &liwork, &info)
        return info == 0 ? values : nil
    }
}
