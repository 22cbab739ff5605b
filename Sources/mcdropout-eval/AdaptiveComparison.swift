import MCDropout
import MCDropoutJSON
import MCDropoutData
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
        PredictionSet.perImage(model, on: data, inputScale: inputScale, firstSeed: firstSeed) {
            predictor, input, seed, workspace, summary in
            predictor.predictAdaptive(input, sampling: sampling, seed: seed, workspace: &workspace, into: &summary)
        }
    }

    /// The rule's parameters as JSON.
    static func ruleJSON(_ rule: AdaptiveSampling) -> JSONValue {
        object([
            ("min_samples", .number(Double(rule.minimumSamples))), ("max_samples", .number(Double(rule.maximumSamples))),
            ("tolerance", number(rule.tolerance)), ("block_size", .number(Double(rule.blockSize))),
        ])
    }
}
