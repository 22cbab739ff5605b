public import MCDropout
public import MCDropoutData

extension ScalingExperiment {
    /// Test error of MC averaging with each of `sampleCounts` passes (`repeats` mask seeds each, derived from
    /// `seed`) against weight scaling, for `file` (named `modelPath`) on `test`.
    public static func run(
        _ file: ModelFile, modelPath: String, test: LabeledImages, sampleCounts: [Int], repeats: Int, seed: UInt64,
        log: (String) -> Void = { _ in }
    ) -> ScalingExperiment {
        let labels = test.labels.map(Int.init)
        let input = file.metadata.inputPreparation
        let deterministic = PredictionSet.deterministic(file.model, on: test, input: input)
        let deterministicError = 1 - Scoring.accuracy(deterministic.probabilities, labels: labels)
        log("weight scaling: error \(percent(deterministicError, digits: 3))")
        var points: [Point] = []
        for count in sampleCounts {
            var errors: [Double] = []
            var losses: [Double] = []
            for repeatIndex in 0..<repeats {
                let set = PredictionSet.monteCarlo(
                    file.model, on: test, input: input, sampleCount: count,
                    firstSeed: seed &* 1_000_003 &+ UInt64(repeatIndex) << 40)
                errors.append(1 - Scoring.accuracy(set.probabilities, labels: labels))
                losses.append(Scoring.negativeLogLikelihood(set.probabilities, labels: labels))
            }
            let mean = errors.reduce(0, +) / Double(errors.count)
            let squares = errors.map { ($0 - mean) * ($0 - mean) }.reduce(0, +)
            let spread = (squares / Double(max(errors.count - 1, 1))).squareRoot()
            log("N=\(count): error \(percent(mean, digits: 3)) ± \(fixed(spread * 100, 3))")
            points.append(
                Point(
                    samples: count, errors: errors, meanError: mean, stdError: spread,
                    meanNll: losses.reduce(0, +) / Double(losses.count)))
        }
        return ScalingExperiment(
            name: "mc-vs-scaling", model: modelPath, images: test.count, repeats: repeats,
            deterministicError: deterministicError,
            deterministicNll: Scoring.negativeLogLikelihood(deterministic.probabilities, labels: labels),
            points: points)
    }
}
