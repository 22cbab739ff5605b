import MCDropout
public import MCDropoutEvaluation
public import MCDropoutJSON

extension TrainingConfiguration {
    /// The hyper-parameters as the JSON object stored in the model metadata.
    public var hyperparametersJSON: JSONObject {
        var members: [JSONObject.Member] = []
        switch optimizer {
        case .sgd(let momentum, let nesterov):
            members.append(("optimizer", .string(nesterov ? "nesterov" : (momentum > 0 ? "momentum" : "sgd"))))
            members.append(("momentum", .number(shortestDecimal(momentum))))
        case .adam(let beta1, let beta2, let epsilon):
            members.append(("optimizer", .string("adam")))
            members.append(("beta1", .number(shortestDecimal(beta1))))
            members.append(("beta2", .number(shortestDecimal(beta2))))
            members.append(("epsilon", .number(shortestDecimal(epsilon))))
        }
        members.append(("learning_rate", .number(learningRate)))
        members.append(("schedule", .string(schedule.name)))
        members.append(("weight_decay", .number(shortestDecimal(weightDecay))))
        members.append(("max_norm", maxNorm.map { .number(shortestDecimal($0)) } ?? .null))
        members.append(("epochs", .number(Double(epochs))))
        members.append(("batch_size", .number(Double(batchSize))))
        members.append(("initialization", .string(initialization.rawValue)))
        members.append(("augmentation_shift", .number(Double(maximumShift))))
        members.append(("augmentation_flip", .bool(horizontalFlip)))
        if maximumRotation > 0 { members.append(("augmentation_rotation", .number(shortestDecimal(maximumRotation)))) }
        return JSONObject(members)
    }
}

extension LearningRateSchedule {
    /// A compact name that the trainer's `--schedule` option parses back.
    public var name: String {
        switch self {
        case .constant: return "constant"
        case .exponential(let gamma): return "exponential:\(gamma)"
        case .step(let every, let factor): return "step:\(every):\(factor)"
        case .cosine(let fraction): return "cosine:\(fraction)"
        }
    }

    /// Parses `constant`, `exponential:G`, `step:N:F` or `cosine:F`.
    public init?(name: String) {
        let parts = name.split(separator: ":").map(String.init)
        switch (parts.first, parts.count) {
        case ("constant", 1): self = .constant
        case ("exponential", 2):
            guard let g = Double(parts[1]), g > 0 else { return nil }
            self = .exponential(gamma: g)
        case ("step", 3):
            guard let n = Int(parts[1]), n > 0, let f = Double(parts[2]), f > 0 else { return nil }
            self = .step(every: n, factor: f)
        case ("cosine", 2):
            guard let f = Double(parts[1]), f >= 0 else { return nil }
            self = .cosine(finalFraction: f)
        default: return nil
        }
    }
}

extension EvaluationResult {
    /// `{"accuracy": …, "nll": …, "count": …}`.
    public var jsonObject: JSONObject {
        JSONObject([("accuracy", .number(accuracy)), ("nll", .number(meanLoss)), ("count", .number(Double(count)))])
    }
}

/// The per-epoch history as JSON, saved beside the model.
public func historyJSON(_ history: [EpochRecord], totalSeconds: Double, blasThreads: Int) -> JSONValue {
    let epochs: [JSONValue] = history.map { record in
        .object(
            JSONObject([
                ("epoch", .number(Double(record.epoch))),
                ("learning_rate", .number(record.learningRate)),
                ("train_loss", .number(record.trainLoss)),
                ("train_accuracy", .number(record.trainAccuracy)),
                ("validation_loss", record.validationLoss.map { .number($0) } ?? .null),
                ("validation_accuracy", record.validationAccuracy.map { .number($0) } ?? .null),
                ("seconds", .number(record.seconds)),
            ]))
    }
    return .object(
        JSONObject([
            ("epochs", .array(epochs)), ("total_seconds", .number(totalSeconds)),
            ("blas_threads", .number(Double(blasThreads))),
        ]))
}
