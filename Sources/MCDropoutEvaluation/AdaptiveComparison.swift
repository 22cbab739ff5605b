public import MCDropout
public import MCDropoutData

/// `evaluate --compare-adaptive`: the server's adaptive sampling (`"samples": "auto"`, ``AdaptiveSampling/standard``)
/// against fixed N on the same images and per-image seeds — accuracy, NLL, ECE, OOD AUROC of every score, and the
/// passes it spent.
public enum AdaptiveComparison {
    /// Adaptive-sampling predictions; image `i` uses seed `firstSeed &+ i`, like ``PredictionSet/monteCarlo``, so the
    /// first passes are the fixed-N run's passes.
    ///
    /// - Parameters:
    ///   - density: with `rule`, the model's density statistics: each input gets
    ///   ``AdaptiveSampling/forInput(_:rule:density:model:workspace:)``, as in the server.
    public static func predictions(
        _ model: [DropoutMLP], on data: LabeledImages, input: InputPreparation, sampling: AdaptiveSampling,
        firstSeed: UInt64, density: DensityModel? = nil, rule: UncertaintyRule? = nil
    ) -> PredictionSet {
        var densityWorkspace = DensityWorkspace()
        return PredictionSet.perImage(model, on: data, input: input, firstSeed: firstSeed) {
            predictor, input, seed, workspace, summary in
            let chosen = sampling.forInput(
                input, rule: rule, density: density, model: predictor.model, workspace: &densityWorkspace)
            predictor.predictAdaptive(input, sampling: chosen, seed: seed, workspace: &workspace, into: &summary)
        }
    }

    /// The passes a set spent per image, against the rule's maximum.
    static func passStatistics(_ set: PredictionSet?, maximum: Int) -> PassStatistics? {
        guard let set, !set.passes.isEmpty else { return nil }
        return PassStatistics(
            mean: Double(set.passes.reduce(0, +)) / Double(set.passes.count), max: set.passes.max() ?? 0,
            atMaximum: Double(set.passes.filter { $0 >= maximum }.count) / Double(set.passes.count))
    }
}
