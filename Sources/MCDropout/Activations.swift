/// Element-wise and row-wise activation functions on raw buffers and matrices.
public enum Activation {
    /// `x ← max(x, 0)` in place.
    @inlinable
    public static func relu(_ values: UnsafeMutableBufferPointer<Float>) {
        for index in values.indices where !(values[index] > 0) {
            values[index] = 0
        }
    }

    /// `x ← max(x, 0)` in place on every element of `matrix`.
    public static func relu(_ matrix: inout Matrix) {
        matrix.storage.withUnsafeMutableBufferPointer { relu($0) }
    }

    /// Replaces one row of logits with its softmax, subtracting the row maximum first so `exp` cannot overflow.
    ///
    /// - Returns: the row's entropy `−Σ pᵢ ln pᵢ` in nats, computed from the logits as `ln S − Σ pᵢ (zᵢ − m)`,
    ///   which stays accurate when some probabilities underflow to zero.
    @inlinable
    @discardableResult
    public static func softmax(_ row: UnsafeMutableBufferPointer<Float>) -> Double {
        var maximum = -Float.infinity
        for value in row where value > maximum { maximum = value }
        var sum: Double = 0
        var weighted: Double = 0
        for index in row.indices {
            let shifted = row[index] - maximum
            let e = Double(exponential(shifted))
            sum += e
            weighted += e * Double(shifted)
            row[index] = Float(e)
        }
        let inverse = 1 / sum
        for index in row.indices { row[index] = Float(Double(row[index]) * inverse) }
        let entropy = naturalLog(sum) - weighted * inverse
        return max(entropy, 0)
    }

    /// Replaces every row of `matrix` with its softmax.
    public static func softmaxRows(_ matrix: inout Matrix) {
        let columns = matrix.columns
        matrix.storage.withUnsafeMutableBufferPointer { storage in
            for row in 0..<matrix.rows {
                softmax(UnsafeMutableBufferPointer(rebasing: storage[(row * columns)..<((row + 1) * columns)]))
            }
        }
    }
}
