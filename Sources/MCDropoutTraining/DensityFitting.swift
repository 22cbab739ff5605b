public import MCDropout
public import MCDropoutData

/// Why density statistics could not be fitted.
public enum DensityFittingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The data or the requested shape cannot give the statistics.
    case invalidRequest(String)
    /// LAPACK's eigensolver did not converge.
    case eigensolverFailed(size: Int)

    public var description: String {
        switch self {
        case .invalidRequest(let reason): return "cannot fit density statistics: \(reason)"
        case .eigensolverFailed(let size):
            return "the symmetric eigensolver did not converge on a \(size)×\(size) matrix"
        }
    }
}

/// Fits the training-set statistics behind the density scores (``DensityModel``). Call it on training data only —
/// never on the validation split the uncertainty rule is fitted on, nor on any test, shifted or OOD set.
public enum DensityFitting {
    /// Rows processed at once; bounds the memory of a fit to a few megabytes per chunk.
    static let chunkRows = 2048

    /// The mean and the `rank` leading principal directions of the scaled training images.
    public static func principalSubspace(
        of data: LabeledImages, input: InputPreparation, rank: Int
    ) throws(DensityFittingError) -> PrincipalSubspace {
        let width = data.pixelCount
        guard rank >= 1, rank <= width else { throw .invalidRequest("rank \(rank) must be in 1 … \(width)") }
        guard data.count > 1 else { throw .invalidRequest("need at least two training images") }
        let (mean, covariance) = meanAndCovariance(count: data.count, width: width) { range, chunk in
            let prepared = input.prepared(
                data.pixels[(range.lowerBound * width)..<(range.upperBound * width)], width: width)
            for index in prepared.indices { chunk[index] = prepared[index] }
        } group: { _ in
            0
        }
        var vectors = covariance
        guard let values = BLAS.symmetricEigen(&vectors, size: width) else { throw .eigensolverFailed(size: width) }
        var components = Matrix(rows: rank, columns: width)
        for index in 0..<rank {
            let source = width - 1 - index  // eigenvalues ascend: the largest come last
            for column in 0..<width { components[index, column] = Float(vectors[source * width + column]) }
        }
        let total = values.reduce(0) { $0 + max($1, 0) }
        let kept = values.suffix(rank).reduce(0) { $0 + max($1, 0) }
        return PrincipalSubspace(
            mean: mean[0].map { Float($0) }, components: components, explainedVariance: total > 0 ? kept / total : nil)
    }

    /// The median share of inked elements (scaled value above `cut`) over the training images, for
    /// ``DensityScore/inkDeviation``; at least one element per image so that the median stays positive.
    public static func inkStatistics(
        of data: LabeledImages, input: InputPreparation, cut: Float
    ) throws(DensityFittingError) -> InkStatistics {
        let width = data.pixelCount
        guard data.count > 0, width > 0 else { throw .invalidRequest("need training images") }
        guard cut.isFinite, cut >= 0 else { throw .invalidRequest("the ink cut \(cut) must be finite and ≥ 0") }
        var shares: [Double] = []
        shares.reserveCapacity(data.count)
        var prepared = [Float](repeating: 0, count: width)
        for image in 0..<data.count {
            data.pixels[(image * width)..<((image + 1) * width)].withUnsafeBufferPointer { raw in
                prepared.withUnsafeMutableBufferPointer { input.prepare(raw, into: $0) }
            }
            let inked = prepared.reduce(0) { $1 > cut ? $0 + 1 : $0 }
            shares.append(Double(max(inked, 1)) / Double(width))
        }
        shares.sort()
        let middle = shares.count / 2
        let median = shares.count % 2 == 1 ? shares[middle] : (shares[middle - 1] + shares[middle]) / 2
        return InkStatistics(cut: cut, medianShare: median)
    }

    /// Class-conditional Gaussians with a shared covariance over the activations of hidden layer `layer` (dropout
    /// off), grouped by the true labels; the covariance's eigenvalues get `ridgeFraction` × their mean added before
    /// whitening, so directions the training data never uses (dead ReLU units) count strongly but finitely.
    public static func classConditionalGaussian(
        model: DropoutMLP, data: LabeledImages, input: InputPreparation, layer: Int, ridgeFraction: Double
    ) throws(DensityFittingError) -> ClassConditionalGaussian {
        guard layer >= 1, layer < model.layers.count else {
            throw .invalidRequest("layer \(layer) must be a hidden layer (1 … \(model.layers.count - 1))")
        }
        guard ridgeFraction > 0, ridgeFraction.isFinite else { throw .invalidRequest("the ridge must be positive") }
        guard data.count > model.outputSize else { throw .invalidRequest("need more images than classes") }
        let width = model.layers[layer - 1].outputSize
        let classes = model.outputSize
        let (means, covariance) = meanAndCovariance(
            count: data.count, width: width, groups: classes
        ) { range, chunk in
            let inputs = Matrix(
                rows: range.count, columns: data.pixelCount,
                storage: input.prepared(
                    data.pixels[(range.lowerBound * data.pixelCount)..<(range.upperBound * data.pixelCount)],
                    width: data.pixelCount))
            let features = hiddenFeatures(of: inputs, model: model, layer: layer)
            for index in features.storage.indices { chunk[index] = features.storage[index] }
        } group: {
            Int(data.labels[$0])
        }
        var vectors = covariance
        guard let values = BLAS.symmetricEigen(&vectors, size: width) else { throw .eigensolverFailed(size: width) }
        let ridge = ridgeFraction * values.reduce(0) { $0 + max($1, 0) } / Double(width)
        var whitening = Matrix(rows: width, columns: width)
        for row in 0..<width {
            let scale = 1 / (max(values[row], 0) + ridge).squareRoot()
            for column in 0..<width { whitening[row, column] = Float(vectors[row * width + column] * scale) }
        }
        var whitenedMeans = Matrix(rows: classes, columns: width)
        for label in 0..<classes {
            for row in 0..<width {
                var sum: Double = 0
                for column in 0..<width { sum += Double(whitening[row, column]) * means[label][column] }
                whitenedMeans[label, row] = Float(sum)
            }
        }
        return ClassConditionalGaussian(
            layer: layer, whitening: whitening, whitenedMeans: whitenedMeans, ridge: ridge, model: model)
    }

    /// The activations of hidden layer `layer` (after its ReLU) for a batch of scaled inputs, dropout off.
    public static func hiddenFeatures(of input: Matrix, model: DropoutMLP, layer: Int) -> Matrix {
        var current = input
        var next = Matrix(rows: 0, columns: 0)
        for index in 0..<layer {
            model.layers[index](current, into: &next)
            model.activation.apply(&next)
            swap(&current, &next)
        }
        return current
    }

    /// Per-group means and the pooled covariance (each row centred on its group's mean) of `count` rows of `width`
    /// values that `fill` writes chunk by chunk (row-major, relative to the chunk); `group` gives a row's group.
    static func meanAndCovariance(
        count: Int, width: Int, groups: Int = 1,
        fill: (Range<Int>, inout [Float]) -> Void, group: (Int) -> Int
    ) -> (means: [[Double]], covariance: [Double]) {
        var sums = [[Double]](repeating: [Double](repeating: 0, count: width), count: groups)
        var counts = [Int](repeating: 0, count: groups)
        var chunk = [Float](repeating: 0, count: chunkRows * width)
        forEachChunk(count) { range in
            fill(range, &chunk)
            for row in range {
                let label = group(row)
                counts[label] += 1
                for column in 0..<width {
                    sums[label][column] += Double(chunk[(row - range.lowerBound) * width + column])
                }
            }
        }
        let means = sums.indices.map { label in sums[label].map { $0 / Double(max(counts[label], 1)) } }
        var scatter = Matrix(rows: width, columns: width)
        forEachChunk(count) { range in
            fill(range, &chunk)
            for row in range {
                let mean = means[group(row)]
                for column in 0..<width { chunk[(row - range.lowerBound) * width + column] -= Float(mean[column]) }
            }
            let centred = Matrix(rows: range.count, columns: width, storage: Array(chunk[0..<(range.count * width)]))
            BLAS.multiply(centred, by: centred, transposingA: true, into: &scatter, beta: 1)
        }
        let divisor = Double(max(count - groups, 1))
        return (means, scatter.storage.map { Double($0) / divisor })
    }

    private static func forEachChunk(_ count: Int, _ body: (Range<Int>) -> Void) {
        var lower = 0
        while lower < count {
            let upper = min(lower + chunkRows, count)
            body(lower..<upper)
            lower = upper
        }
    }
}
