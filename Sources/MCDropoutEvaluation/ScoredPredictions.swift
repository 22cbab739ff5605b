public import MCDropout

/// Per-image predictions of one model on one image set with every score a rule can use: the Monte-Carlo summary's
/// scores and, when the model file holds density statistics, the density scores — computed as the server computes
/// them (same engine, same per-image seeds rule as `mcdropout-eval evaluate`).
public struct ScoredPredictions: Sendable {
    /// `images × classes` mean probabilities.
    public var probabilities: Matrix
    /// One value per image for every available score.
    public var scores: [FlagScore: [Double]]
    /// Seconds spent in the Monte-Carlo passes and in the density scores (wall clock, one thread).
    public var monteCarloSeconds: Double
    /// See ``monteCarloSeconds``.
    public var densitySeconds: Double

    /// The number of images.
    public var count: Int { probabilities.rows }

    /// Runs `sampleCount` passes on each image (`sampleCount == 0`: dropout off) with seed `firstSeed &+ i` for
    /// image `i`, and the density scores of `density`.
    ///
    /// - Parameters:
    ///   - pixels: `count × model.inputSize` raw pixels (0–255), row after row.
    ///   - input: the model's ``InputPreparation`` (its file's ``ModelMetadata/inputPreparation``).
    public static func evaluate(
        model: DropoutMLP, members: [DropoutMLP]? = nil, density: DensityModel?, pixels: [UInt8],
        input: InputPreparation,
        sampleCount: Int, firstSeed: UInt64
    ) -> ScoredPredictions {
        let width = model.inputSize
        precondition(pixels.count % width == 0, "pixels must hold whole images")
        let count = pixels.count / width
        let predictor = MonteCarloPredictor(members: members ?? [model])
        var workspace = MonteCarloWorkspace()
        var densityWorkspace = DensityWorkspace()
        var prepared = [Float](repeating: 0, count: width)
        var probabilities = Matrix(rows: count, columns: model.outputSize)
        var scores: [FlagScore: [Double]] = [:]
        let available = density?.scores ?? []
        for score in FlagScore.allCases {
            if case .density(let kind) = score, !available.contains(kind) { continue }
            scores[score] = [Double](repeating: 0, count: count)
        }
        let keys = Array(scores.keys)
        let clock = ContinuousClock()
        var monteCarlo = Duration.zero
        var densityTime = Duration.zero
        var summary = PredictiveSummary.empty
        for image in 0..<count {
            pixels[(image * width)..<((image + 1) * width)].withUnsafeBufferPointer { raw in
                prepared.withUnsafeMutableBufferPointer { input.prepare(raw, into: $0) }
            }
            let start = clock.now
            prepared.withUnsafeBufferPointer { buffer in
                if sampleCount == 0 {
                    summary = predictor.predictDeterministic(prepared)
                } else {
                    predictor.predict(
                        buffer, sampleCount: sampleCount, seed: firstSeed &+ UInt64(image), workspace: &workspace,
                        into: &summary)
                }
            }
            let middle = clock.now
            let values = prepared.withUnsafeBufferPointer { buffer in
                density?.values(
                    for: buffer, model: model,
                    predictedClass: summary.head == .classification ? summary.prediction : nil,
                    workspace: &densityWorkspace) ?? .none
            }
            densityTime += clock.now - middle
            monteCarlo += middle - start
            for column in 0..<model.outputSize { probabilities[image, column] = summary.meanProbabilities[column] }
            for score in keys { scores[score]![image] = score.value(of: summary, density: values) ?? .nan }
        }
        return ScoredPredictions(
            probabilities: probabilities, scores: scores, monteCarloSeconds: seconds(monteCarlo),
            densitySeconds: seconds(densityTime))
    }

    /// Whether each image's arg-max equals its label.
    public func isCorrect(labels: [Int]) -> [Bool] { zip(Scoring.predictions(probabilities), labels).map { $0 == $1 } }

    /// Whether `rule` flags each image.
    public func flagged(by rule: UncertaintyRule) -> [Bool] {
        (0..<count).map { image in
            rule.conditions.contains { condition in
                (scores[condition.score]?[image] ?? -.infinity) > condition.threshold
            }
        }
    }
}

private func seconds(_ duration: Duration) -> Double {
    let parts = duration.components
    return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
}
