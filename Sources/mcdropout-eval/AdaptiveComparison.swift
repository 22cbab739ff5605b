import MCDropout
import MCDropoutJSON
import MCDropoutTraining

/// `evaluate --compare-adaptive`: the server's adaptive sampling (`"samples": "auto"`, ``AdaptiveSampling/standard``)
/// against fixed N on the same images and per-image seeds — accuracy, NLL, ECE, OOD AUROC of every score, and the
/// passes it spent.
enum AdaptiveComparison {
    /// Adaptive-sampling predictions; image `i` uses seed `firstSeed &+ i`, like ``PredictionSet/monteCarlo``, so the
    /// first passes are the fixed-N run's passes.
    static func predictions(
        _ model: DropoutMLP, on data: LabeledImages, inputScale: Float, sampling: AdaptiveSampling, firstSeed: UInt64
    ) -> PredictionSet {
        let clock = ContinuousClock()
        let start = clock.now
        let predictor = MonteCarloPredictor(model: model)
        var workspace = MonteCarloWorkspace()
        var input = [Float](repeating: 0, count: data.pixelCount)
        var summaries: [PredictiveSummary] = []
        summaries.reserveCapacity(data.count)
        for index in 0..<data.count {
            for column in 0..<data.pixelCount {
                input[column] = Float(data.pixels[index * data.pixelCount + column]) / inputScale
            }
            var summary = PredictiveSummary.empty
            input.withUnsafeBufferPointer {
                predictor.predictAdaptive(
                    $0, sampling: sampling, seed: firstSeed &+ UInt64(index), workspace: &workspace, into: &summary)
            }
            summaries.append(summary)
        }
        let parts = (clock.now - start).components
        return PredictionSet(
            summaries: summaries, classCount: model.outputSize,
            seconds: Double(parts.seconds) + Double(parts.attoseconds) * 1e-18)
    }

    /// The rule's parameters as JSON.
    static func ruleJSON(_ rule: AdaptiveSampling) -> JSONValue {
        object([
            ("min_samples", .number(Double(rule.minimumSamples))), ("max_samples", .number(Double(rule.maximumSamples))),
            ("tolerance", number(rule.tolerance)), ("block_size", .number(Double(rule.blockSize))),
        ])
    }
}
