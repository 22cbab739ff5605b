public import MCDropout
public import MCDropoutData

/// The predictions of one model on one image set in one mode: mean probabilities and every uncertainty score.
///
/// The project's one prediction loop over a labelled set: the trainer's validation, the metrics stored in a model
/// file (``Evaluator``) and every `mcdropout-eval` number come from here.
public struct PredictionSet: Sendable {
    /// `images × classes` predictive distributions.
    public var probabilities: Matrix
    /// One value per image for each score (higher = more uncertain).
    public var scores: [UncertaintyScore: [Double]]
    /// Wall-clock seconds the predictions took.
    public var seconds: Double
    /// The passes each image used (all equal except with adaptive sampling; 1 for dropout off).
    public var passes: [Int]

    /// The number of images.
    public var count: Int { probabilities.rows }

    /// Dropout off for each member of a deep ensemble: the mean of the members' weight-scaling probabilities, with
    /// their disagreement as variance and mutual information (one network: ``deterministic(_:on:input:batchSize:)``).
    public static func deterministic(
        _ members: [DropoutMLP], on data: LabeledImages, input: InputPreparation, batchSize: Int = 1000
    ) -> PredictionSet {
        guard members.count > 1 else {
            return deterministic(members[0], on: data, input: input, batchSize: batchSize)
        }
        let clock = ContinuousClock()
        let start = clock.now
        let parts = members.map { deterministic($0, on: data, input: input, batchSize: batchSize) }
        let classes = members[0].outputSize
        var summaries: [PredictiveSummary] = []
        summaries.reserveCapacity(data.count)
        for row in 0..<data.count {
            summaries.append(
                PredictiveSummary(
                    passProbabilities: Matrix(
                        rows: members.count, columns: classes, storage: parts.flatMap { $0.probabilities.row(row) })))
        }
        return PredictionSet(summaries: summaries, classCount: classes, seconds: elapsed(since: start, clock))
    }

    /// Dropout off (weight scaling), in batches of 1000; variance and mutual information are zero by construction.
    public static func deterministic(
        _ model: DropoutMLP, on data: LabeledImages, input: InputPreparation, batchSize: Int = 1000
    ) -> PredictionSet {
        let clock = ContinuousClock()
        let start = clock.now
        var storage: [Float] = []
        storage.reserveCapacity(data.count * model.outputSize)
        var lower = 0
        while lower < data.count {
            let upper = min(lower + batchSize, data.count)
            let width = data.pixelCount
            let inputs = Matrix(
                rows: upper - lower, columns: width,
                storage: input.prepared(data.pixels[(lower * width)..<(upper * width)], width: width))
            storage += model.deterministicProbabilities(for: inputs).storage
            lower = upper
        }
        let probabilities = Matrix(rows: data.count, columns: model.outputSize, storage: storage)
        var summaries: [PredictiveSummary] = []
        summaries.reserveCapacity(data.count)
        for row in 0..<data.count {
            summaries.append(
                PredictiveSummary(
                    passProbabilities: Matrix(rows: 1, columns: model.outputSize, storage: probabilities.row(row))))
        }
        return PredictionSet(summaries: summaries, classCount: model.outputSize, seconds: elapsed(since: start, clock))
    }

    /// Monte-Carlo dropout with `sampleCount` passes; image `i` uses seed `firstSeed &+ i`, so results do not depend
    /// on which other images are evaluated.
    public static func monteCarlo(
        _ model: DropoutMLP, on data: LabeledImages, input: InputPreparation, sampleCount: Int, firstSeed: UInt64
    ) -> PredictionSet {
        monteCarlo([model], on: data, input: input, sampleCount: sampleCount, firstSeed: firstSeed)
    }

    /// Monte-Carlo dropout over a deep ensemble's members (the passes spread over them, as the server does).
    public static func monteCarlo(
        _ model: [DropoutMLP], on data: LabeledImages, input: InputPreparation, sampleCount: Int, firstSeed: UInt64
    ) -> PredictionSet {
        perImage(model, on: data, input: input, firstSeed: firstSeed) {
            predictor, input, seed, workspace, summary in
            summary = predictor.predict(input, sampleCount: sampleCount, seed: seed, workspace: &workspace)
        }
    }

    /// Runs `predict` on every image in turn with one predictor and workspace; image `i` gets seed `firstSeed &+ i`.
    public static func perImage(
        _ model: [DropoutMLP], on data: LabeledImages, input: InputPreparation, firstSeed: UInt64,
        _ predict: (
            MonteCarloPredictor, UnsafeBufferPointer<Float>, UInt64, inout MonteCarloWorkspace, inout PredictiveSummary
        ) -> Void
    ) -> PredictionSet {
        let clock = ContinuousClock()
        let start = clock.now
        let predictor = MonteCarloPredictor(members: model)
        var workspace = MonteCarloWorkspace()
        let width = data.pixelCount
        var prepared = [Float](repeating: 0, count: width)
        var summaries: [PredictiveSummary] = []
        summaries.reserveCapacity(data.count)
        for index in 0..<data.count {
            data.pixels[(index * width)..<((index + 1) * width)].withUnsafeBufferPointer { raw in
                prepared.withUnsafeMutableBufferPointer { input.prepare(raw, into: $0) }
            }
            var summary = PredictiveSummary.empty
            prepared.withUnsafeBufferPointer {
                predict(predictor, $0, firstSeed &+ UInt64(index), &workspace, &summary)
            }
            summaries.append(summary)
        }
        return PredictionSet(
            summaries: summaries, classCount: predictor.model.outputSize, seconds: elapsed(since: start, clock))
    }

    /// Collects per-image summaries.
    public init(summaries: [PredictiveSummary], classCount: Int, seconds: Double) {
        probabilities = Matrix(
            rows: summaries.count, columns: classCount, storage: summaries.flatMap(\.meanProbabilities))
        var scores: [UncertaintyScore: [Double]] = [:]
        for score in UncertaintyScore.allCases { scores[score] = summaries.map { score.value(of: $0) } }
        self.scores = scores
        self.seconds = seconds
        passes = summaries.map(\.sampleCount)
    }

    /// The first `count` images' predictions. Since image `i` always uses seed `firstSeed &+ i`, these are exactly
    /// what evaluating only those images gives; no time is spent, so ``seconds`` is 0.
    public func prefix(_ count: Int) -> PredictionSet {
        var copy = self
        let kept = min(count, self.count)
        copy.probabilities = Matrix(
            rows: kept, columns: probabilities.columns,
            storage: Array(probabilities.storage.prefix(kept * probabilities.columns)))
        copy.scores = scores.mapValues { Array($0.prefix(kept)) }
        copy.passes = Array(passes.prefix(kept))
        copy.seconds = 0
        return copy
    }

    /// One value per image of `score`.
    public func score(_ score: UncertaintyScore) -> [Double] { scores[score]! }

    /// The mean of `score` over the images.
    public func mean(_ score: UncertaintyScore) -> Double {
        let values = self.score(score)
        return values.reduce(0, +) / Double(max(values.count, 1))
    }

    /// Whether each image's arg-max is its label.
    public func isCorrect(labels: [Int]) -> [Bool] { zip(Scoring.predictions(probabilities), labels).map { $0 == $1 } }
}

private func elapsed(since start: ContinuousClock.Instant, _ clock: ContinuousClock) -> Double {
    let parts = (clock.now - start).components
    return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
}

/// Picks at most `limit` points spread evenly along a curve, always keeping the last.
func thin<T>(_ points: [T], limit: Int) -> [T] {
    guard points.count > limit, limit >= 2 else { return points }
    let step = Double(points.count - 1) / Double(limit - 1)
    return (0..<limit).map { points[Int((Double($0) * step).rounded())] }
}
