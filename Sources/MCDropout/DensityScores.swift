/// A score of how unlike the training data an input is; higher means less like it. Unlike the scores of a
/// ``PredictiveSummary``, which only say how the network's passes spread, these compare the input with statistics of
/// the training set stored in the model file (``DensityModel``).
public enum DensityScore: String, Sendable, CaseIterable {
    /// The input's mean squared distance per pixel (in scaled units, 0–1 for images) from the principal subspace of
    /// the training images: what the training data's main directions of variation cannot explain.
    case reconstructionError = "reconstruction_error"
    /// The squared Mahalanobis distance of a hidden layer's activations (dropout off) to the nearest class mean
    /// under the training set's shared class covariance, divided by the number of whitened dimensions (≈ 1 for
    /// typical training images).
    case featureDistance = "feature_distance"
    /// How far the input's share of inked elements (above ``InkStatistics/cut``) lies from the training images'
    /// median share, as `|ln((share + 1/D) / median)|`: 0 for a typical amount of ink, ln 2 ≈ 0.69 for twice or half
    /// of it. Sparse digits shown to a clothing model (and dense clothing shown to a digit model) score high.
    case inkDeviation = "ink_deviation"
    /// Whether the served answer survives turning the image by the stored angles (``RotationProbe``): the mean, over
    /// the turned copies, of 1 − their dropout-off probability of the served class, in [0, 1]. High for images the
    /// network reads by accident, such as heavily rotated digits.
    case rotationInstability = "rotation_instability"
}

/// The density scores of one input; a score is nil when the model file holds no statistics for it.
public struct DensityValues: Sendable, Equatable {
    /// ``DensityScore/reconstructionError``.
    public var reconstructionError: Double?
    /// ``DensityScore/featureDistance``.
    public var featureDistance: Double?
    /// ``DensityScore/inkDeviation``.
    public var inkDeviation: Double?
    /// ``DensityScore/rotationInstability``.
    public var rotationInstability: Double?

    /// Values for a model without density statistics.
    public static let none = DensityValues()

    /// Creates values.
    public init(
        reconstructionError: Double? = nil, featureDistance: Double? = nil, inkDeviation: Double? = nil,
        rotationInstability: Double? = nil
    ) {
        self.reconstructionError = reconstructionError
        self.featureDistance = featureDistance
        self.inkDeviation = inkDeviation
        self.rotationInstability = rotationInstability
    }

    /// The value of one score, or nil when the model has none.
    public subscript(score: DensityScore) -> Double? {
        switch score {
        case .reconstructionError: return reconstructionError
        case .featureDistance: return featureDistance
        case .inkDeviation: return inkDeviation
        case .rotationInstability: return rotationInstability
        }
    }
}

/// Reusable buffers for ``DensityModel/values(for:model:workspace:)``; keep one per thread so that scoring allocates
/// nothing once it is warm.
public struct DensityWorkspace: Sendable {
    var projection: [Float] = []
    var features: [Float] = []
    var featuresNext: [Float] = []
    var whitened: [Float] = []
    /// One row's non-zero inputs and their values (``RotationProbe``'s sparse layers).
    var units: [Int32] = []
    var values: [Float] = []

    /// Creates an empty workspace.
    public init() {}
}

/// The training-set statistics behind the density scores, stored in the model file (tensors `density.*`, metadata
/// extension `"density"`); either part may be absent.
public struct DensityModel: Sendable, Equatable {
    /// Statistics for ``DensityScore/reconstructionError``.
    public var subspace: PrincipalSubspace?
    /// Statistics for ``DensityScore/featureDistance``.
    public var gaussian: ClassConditionalGaussian?
    /// Statistics for ``DensityScore/inkDeviation``.
    public var ink: InkStatistics?
    /// The probe for ``DensityScore/rotationInstability``.
    public var rotation: RotationProbe?
    /// How many training inputs the statistics were fitted on (for reports), when known.
    public var trainingCount: Int?

    /// Creates a density model.
    public init(
        subspace: PrincipalSubspace? = nil, gaussian: ClassConditionalGaussian? = nil, ink: InkStatistics? = nil,
        rotation: RotationProbe? = nil, trainingCount: Int? = nil
    ) {
        self.subspace = subspace
        self.gaussian = gaussian
        self.ink = ink
        self.rotation = rotation
        self.trainingCount = trainingCount
    }

    /// The scores this model can compute, in ``DensityScore`` order.
    public var scores: [DensityScore] {
        DensityScore.allCases.filter { score in
            switch score {
            case .reconstructionError: return subspace != nil
            case .featureDistance: return gaussian != nil
            case .inkDeviation: return ink != nil
            case .rotationInstability: return rotation != nil
            }
        }
    }

    /// The density scores of one scaled input (`model.inputSize` values, already divided by the input scale).
    ///
    /// - Parameter predictedClass: the class served for the input (the Monte-Carlo arg-max), the reference of
    ///   ``DensityScore/rotationInstability``; `nil` for the dropout-off arg-max.
    public func values(
        for input: UnsafeBufferPointer<Float>, model: DropoutMLP, predictedClass: Int? = nil,
        workspace: inout DensityWorkspace
    ) -> DensityValues {
        var result = predictionFreeValues(for: input, model: model, workspace: &workspace)
        addPredictionDependentValues(to: &result, for: input, predictedClass: predictedClass, workspace: &workspace)
        return result
    }

    /// Adds the score that needs the served class (``DensityScore/rotationInstability``) to `values` from
    /// ``predictionFreeValues(for:model:workspace:)``, completing ``values(for:model:predictedClass:workspace:)``.
    public func addPredictionDependentValues(
        to values: inout DensityValues, for input: UnsafeBufferPointer<Float>, predictedClass: Int?,
        workspace: inout DensityWorkspace
    ) {
        guard let rotation else { return }
        values.rotationInstability = rotation.instability(of: input, reference: predictedClass, workspace: &workspace)
    }

    /// The density scores that need no prediction (all but ``DensityScore/rotationInstability``), known before any
    /// Monte-Carlo pass; ``values(for:model:predictedClass:workspace:)`` adds the rotation probe.
    public func predictionFreeValues(
        for input: UnsafeBufferPointer<Float>, model: DropoutMLP, workspace: inout DensityWorkspace
    ) -> DensityValues {
        var result = DensityValues()
        if let subspace { result.reconstructionError = subspace.reconstructionError(of: input, workspace: &workspace) }
        if let gaussian { result.featureDistance = gaussian.distance(of: input, model: model, workspace: &workspace) }
        if let ink { result.inkDeviation = ink.deviation(of: input) }
        return result
    }
}

/// The mean and the leading principal directions of the training inputs.
public struct PrincipalSubspace: Sendable, Equatable {
    /// The mean training input, `dimension` values.
    public let mean: [Float]
    /// Orthonormal principal directions, `rank × dimension`, one per row, largest variance first.
    public let components: Matrix
    /// The share of the training inputs' variance the subspace explains (for reports), when known.
    public var explainedVariance: Double?
    /// The directions by input element, `dimension × rank` (`Uᵀ`), so that a projection reads only the rows of an
    /// input's non-zero elements.
    let componentsByInput: [Float]
    /// `−Uμ`: the projection of the mean, negated (the base the non-zero elements' rows are added to).
    let negatedProjectedMean: [Float]

    /// Creates a subspace; `components` must have one column per element of `mean`.
    public init(mean: [Float], components: Matrix, explainedVariance: Double? = nil) {
        precondition(components.columns == mean.count && components.rows > 0, "components must match the mean")
        self.mean = mean
        self.components = components
        self.explainedVariance = explainedVariance
        let rank = components.rows
        let dimension = mean.count
        var byInput = [Float](repeating: 0, count: dimension * rank)
        var projectedMean = [Float](repeating: 0, count: rank)
        for direction in 0..<rank {
            var sum: Double = 0
            for element in 0..<dimension {
                let value = components[direction, element]
                byInput[element * rank + direction] = value
                sum += Double(value) * Double(mean[element])
            }
            projectedMean[direction] = Float(-sum)
        }
        componentsByInput = byInput
        negatedProjectedMean = projectedMean
    }

    /// The number of principal directions `k`.
    public var rank: Int { components.rows }

    /// `(‖x − μ‖² − ‖U(x − μ)‖²) / D`: the mean squared residual per input element after projecting onto the
    /// subspace (the rows of `U` are orthonormal, so this is the squared distance to it); clamped at 0 against
    /// rounding.
    ///
    /// The projection is `Ux − Uμ`, with `Uμ` computed once: `Ux` adds the rows of `Uᵀ` of the input's non-zero
    /// elements only (a digit inks about a fifth of its pixels), with the row kernel.
    public func reconstructionError(of input: UnsafeBufferPointer<Float>, workspace: inout DensityWorkspace) -> Double {
        let dimension = mean.count
        precondition(input.count == dimension, "input width \(input.count) ≠ subspace dimension \(dimension)")
        let rank = self.rank
        workspace.projection.ensureCount(rank)
        var total: Double = 0
        mean.withUnsafeBufferPointer { mu in
            for index in 0..<dimension {
                let difference = input[index] - mu[index]
                total += Double(difference * difference)
            }
        }
        var explained: Double = 0
        workspace.projection.withUnsafeMutableBufferPointer { projection in
            RowKernels.addNonZeroRows(
                of: input.baseAddress!, count: dimension, rows: componentsByInput, base: negatedProjectedMean,
                into: projection.baseAddress!, width: rank, units: &workspace.units, values: &workspace.values)
            for index in 0..<rank { explained += Double(projection[index] * projection[index]) }
        }
        return max(total - explained, 0) / Double(dimension)
    }

    /// Subspaces are equal when their statistics are: the rest is derived from them.
    public static func == (lhs: PrincipalSubspace, rhs: PrincipalSubspace) -> Bool {
        lhs.mean == rhs.mean && lhs.components == rhs.components && lhs.explainedVariance == rhs.explainedVariance
    }
}

/// Class-conditional Gaussians with one shared covariance over a hidden layer's activations (Lee et al. 2018),
/// stored whitened: distances are Euclidean after multiplying by ``whitening``.
public struct ClassConditionalGaussian: Sendable, Equatable {
    /// The features are the output of this many dense layers (after their ReLU), dropout off: 1 is the first hidden
    /// layer; it must be below the network's layer count.
    public let layer: Int
    /// `m × H`: rows `vᵢ / √(λᵢ + ridge)` for the shared covariance's eigenpairs, so that `‖W(h − μ)‖²` is the squared
    /// Mahalanobis distance of the regularised covariance restricted to the `m` directions kept.
    public let whitening: Matrix
    /// `C × m`: each class's mean feature vector multiplied by ``whitening``.
    public let whitenedMeans: Matrix
    /// The ridge added to every eigenvalue (for reports), when known.
    public var ridge: Double?
    /// The sparse forward pass to the features, when the statistics were created for a model (see
    /// ``init(layer:whitening:whitenedMeans:ridge:model:)``).
    let sparse: SparseFeatures?

    /// Creates the statistics; the shapes must agree. Given the `model` they belong to, ``distance(of:model:workspace:)``
    /// reads only the weight rows of non-zero inputs and activations (an image and its ReLU features are mostly
    /// zero), as the row kernel does; without it, dense matrix–vector products. The two differ only in rounding.
    public init(layer: Int, whitening: Matrix, whitenedMeans: Matrix, ridge: Double? = nil, model: DropoutMLP? = nil) {
        precondition(layer >= 1, "the feature layer is a hidden layer (≥ 1)")
        precondition(whitening.rows > 0 && whitenedMeans.columns == whitening.rows, "means must be whitened")
        self.layer = layer
        self.whitening = whitening
        self.whitenedMeans = whitenedMeans
        self.ridge = ridge
        sparse = model.map { SparseFeatures(model: $0, layer: layer, whitening: whitening) }
    }

    /// The width `H` of the feature layer.
    public var featureCount: Int { whitening.columns }

    /// Statistics are equal when their tensors, layer and ridge are: the sparse pass is derived from them.
    public static func == (lhs: ClassConditionalGaussian, rhs: ClassConditionalGaussian) -> Bool {
        lhs.layer == rhs.layer && lhs.whitening == rhs.whitening && lhs.whitenedMeans == rhs.whitenedMeans
            && lhs.ridge == rhs.ridge
    }

    /// The smallest squared whitened distance to a class mean, divided by the number of whitened dimensions.
    public func distance(
        of input: UnsafeBufferPointer<Float>, model: DropoutMLP, workspace: inout DensityWorkspace
    ) -> Double {
        precondition(layer < model.layers.count, "feature layer \(layer) is not a hidden layer of the model")
        precondition(model.layers[layer - 1].outputSize == featureCount, "feature width differs from the model's")
        var width = input.count
        for index in 0..<layer { width = max(width, model.layers[index].outputSize) }
        if workspace.features.count < width {
            workspace.features = [Float](repeating: 0, count: width)
            workspace.featuresNext = workspace.features
        }
        if workspace.whitened.count < whitening.rows {
            workspace.whitened = [Float](repeating: 0, count: whitening.rows)
        }
        if let sparse {
            sparse.whitened(of: input, workspace: &workspace)
            return nearestMean(workspace.whitened)
        }
        workspace.features.withUnsafeMutableBufferPointer { features in
            _ = UnsafeMutableBufferPointer(rebasing: features[0..<input.count]).update(fromContentsOf: input)
        }
        for index in 0..<layer {
            let dense = model.layers[index]
            workspace.featuresNext.withUnsafeMutableBufferPointer { next in
                _ = UnsafeMutableBufferPointer(rebasing: next[0..<dense.outputSize]).update(fromContentsOf: dense.bias)
                dense.weight.storage.withUnsafeBufferPointer { weight in
                    workspace.features.withUnsafeBufferPointer { current in
                        BLAS.gemv(
                            transpose: false, m: dense.outputSize, n: dense.inputSize, alpha: 1,
                            a: weight.baseAddress!, lda: dense.inputSize, x: current.baseAddress!, beta: 1,
                            y: next.baseAddress!)
                    }
                }
                model.activation.apply(UnsafeMutableBufferPointer(rebasing: next[0..<dense.outputSize]))
            }
            swap(&workspace.features, &workspace.featuresNext)
        }
        let kept = whitening.rows
        let features = featureCount
        whitening.storage.withUnsafeBufferPointer { matrix in
            workspace.features.withUnsafeBufferPointer { current in
                workspace.whitened.withUnsafeMutableBufferPointer { whitened in
                    BLAS.gemv(
                        transpose: false, m: kept, n: features, alpha: 1, a: matrix.baseAddress!, lda: features,
                        x: current.baseAddress!, beta: 0, y: whitened.baseAddress!)
                }
            }
        }
        return nearestMean(workspace.whitened)
    }

    /// The smallest squared distance of the whitened features (the first `m` of `whitened`) to a whitened class
    /// mean, divided by `m`.
    private func nearestMean(_ whitened: [Float]) -> Double {
        let kept = whitening.rows
        var nearest = Double.infinity
        whitenedMeans.storage.withUnsafeBufferPointer { means in
            for row in 0..<whitenedMeans.rows {
                var sum: Double = 0
                for column in 0..<kept {
                    let difference = Double(whitened[column] - means[row * kept + column])
                    sum += difference * difference
                }
                nearest = min(nearest, sum)
            }
        }
        return nearest / Double(kept)
    }
}

/// The training images' typical amount of ink, for ``DensityScore/inkDeviation``: two numbers, no tensors.
public struct InkStatistics: Sendable, Equatable {
    /// An input element counts as ink when its scaled value is above this.
    public var cut: Float
    /// The median share of inked elements over the training inputs, in (0, 1].
    public var medianShare: Double

    /// Creates the statistics; `medianShare` must be positive.
    public init(cut: Float, medianShare: Double) {
        precondition(medianShare > 0 && medianShare <= 1, "the median ink share is in (0, 1]")
        self.cut = cut
        self.medianShare = medianShare
    }

    /// The share of `input`'s elements above ``cut``.
    public func share(of input: UnsafeBufferPointer<Float>) -> Double {
        var inked = 0
        for value in input where value > cut { inked += 1 }
        return input.isEmpty ? 0 : Double(inked) / Double(input.count)
    }

    /// `|ln((share + 1/D) / median)|`; the `1/D` keeps an empty input finite.
    public func deviation(of input: UnsafeBufferPointer<Float>) -> Double {
        let floor = 1 / Double(max(input.count, 1))
        return abs(naturalLog((share(of: input) + floor) / medianShare))
    }
}
