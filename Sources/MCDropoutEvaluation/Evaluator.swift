public import MCDropout
public import MCDropoutData

/// Accuracy and negative log-likelihood of a model on a labelled set.
public struct EvaluationResult: Sendable, Equatable {
    /// Fraction of examples whose predicted class is the label.
    public var accuracy: Double
    /// Mean negative log-likelihood of the labels, in nats (``Scoring/negativeLogLikelihood(_:labels:)``).
    public var meanLoss: Double
    /// The number of examples evaluated.
    public var count: Int

    /// Accuracy and NLL of a prediction set against the labels.
    public init(_ predictions: PredictionSet, labels: [UInt8]) {
        let labels = labels.map(Int.init)
        accuracy = Scoring.accuracy(predictions.probabilities, labels: labels)
        meanLoss = Scoring.negativeLogLikelihood(predictions.probabilities, labels: labels)
        count = labels.count
    }
}

/// Accuracy and NLL with dropout off or with Monte-Carlo averaging, for the trainer's validation and the metrics
/// stored in a model file; the predictions are ``PredictionSet``'s, the same as `mcdropout-eval`'s.
public enum Evaluator {
    /// Dropout off (weight scaling), in batches of `batchSize`.
    public static func deterministic(
        _ model: DropoutMLP, on data: LabeledImages, input: InputPreparation, batchSize: Int = 1000
    ) -> EvaluationResult {
        EvaluationResult(
            PredictionSet.deterministic(model, on: data, input: input, batchSize: batchSize),
            labels: data.labels)
    }

    /// Dropout off for a deep ensemble: the mean of its members' probabilities.
    public static func deterministic(
        _ members: [DropoutMLP], on data: LabeledImages, input: InputPreparation, batchSize: Int = 1000
    ) -> EvaluationResult {
        EvaluationResult(
            PredictionSet.deterministic(members, on: data, input: input, batchSize: batchSize),
            labels: data.labels)
    }

    /// Monte-Carlo dropout with `sampleCount` passes per image, spread over a deep ensemble's members.
    public static func monteCarlo(
        _ members: [DropoutMLP], on data: LabeledImages, input: InputPreparation, sampleCount: Int, seed: UInt64
    ) -> EvaluationResult {
        EvaluationResult(
            PredictionSet.monteCarlo(
                members, on: data, input: input, sampleCount: sampleCount, firstSeed: seed),
            labels: data.labels)
    }

    /// Monte-Carlo dropout with `sampleCount` passes per image; image `i` uses seed `seed &+ i`.
    public static func monteCarlo(
        _ model: DropoutMLP, on data: LabeledImages, input: InputPreparation, sampleCount: Int, seed: UInt64
    ) -> EvaluationResult {
        EvaluationResult(
            PredictionSet.monteCarlo(
                model, on: data, input: input, sampleCount: sampleCount, firstSeed: seed),
            labels: data.labels)
    }
}
