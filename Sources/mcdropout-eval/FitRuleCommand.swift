import ArgumentParser
import Foundation
import MCDropout
import MCDropoutCommandLine
import MCDropoutData
import MCDropoutEvaluation
import MCDropoutTraining

/// `mcdropout-eval fit-rule`: fit density statistics on the training split and a composite uncertainty rule on the
/// validation split, and store both in a model file.
struct FitRuleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fit-rule",
        abstract: "Fit density scores (training split) and a composite uncertainty rule (validation split).",
        discussion: """
            The training images are split as mcdropout-train split them: the last --validation-count images are the
            validation split, the rest the training split. The density statistics (principal subspace of the images,
            class-conditional Gaussian of a hidden layer) are fitted on the training split only; the rule's
            thresholds on the validation split only, so that at most --budget of it is flagged. No test, shifted or
            out-of-distribution image is read. The network's tensors are copied unchanged.

            Example:
              mcdropout-eval fit-rule --model models/mnist.safetensors --output /tmp/mnist-fitted.safetensors
            """)

    @Option(help: "The model file to read.")
    var model: String
    @Option(help: "Where to write the model with density statistics and rule (may equal --model to update it).")
    var output: String
    @Option(help: "Training set directory (default data/<dataset from the model metadata>).")
    var dataDir: String?
    @Option(help: "Training images at the end of the training set used as the validation split.")
    var validationCount = 5000
    @Option(help: "Principal directions kept for reconstruction_error (0 = no such score).")
    var rank = 100
    @Option(help: "Hidden layer whose activations feature_distance models (1 = first; 0 = no such score).")
    var featureLayer = 1
    @Option(help: "Scaled value above which an input element counts as ink, for ink_deviation (0 = no such score).")
    var inkCut = 0.0
    @Option(
        help: """
            Rotations in degrees for rotation_instability, comma-separated (e.g. -40,-20,20,40; empty = no such \
            score). Square single-channel images only.
            """)
    var rotationAngles = ""
    @Option(help: "Ridge added to the feature covariance's eigenvalues, as a share of their mean.")
    var ridge = 0.01
    @Option(help: "Share of the validation split the rule may flag.")
    var budget = 0.04
    @Option(help: "Part of the budget given to the density scores together (the rest to the summary score).")
    var densityShare = 0.5
    @Option(help: "Density scores the rule uses (comma-separated; both are stored and returned either way).")
    var ruleDensityScores = "reconstruction_error"
    @Option(help: "Summary scores the rule may use (comma-separated); the one leaving the most accurate answers wins.")
    var summaryScores = "max_probability,predictive_entropy,mutual_information"
    @Option(help: "Monte-Carlo passes per validation image (the server's default is 100).")
    var samples = 100
    @Option(help: "First per-image seed for the validation passes.")
    var seed: UInt64 = 2026

    /// `--rotation-angles` as numbers; nil when it does not parse.
    var parsedAngles: [Double]? {
        let parts = rotationAngles.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let angles = parts.compactMap(Double.init).filter(\.isFinite)
        return angles.count == parts.count && angles.count <= RotationProbe.maximumAngles ? angles : nil
    }

    func validate() throws {
        guard budget > 0, budget < 1 else { throw ValidationError("--budget must be in (0, 1)") }
        guard densityShare >= 0, densityShare <= 1 else { throw ValidationError("--density-share must be in [0, 1]") }
        guard samples >= 1, validationCount >= 10 else {
            throw ValidationError("--samples ≥ 1, --validation-count ≥ 10")
        }
        guard rank >= 0, featureLayer >= 0, ridge > 0, inkCut >= 0, inkCut < 1 else {
            throw ValidationError("--rank, --feature-layer ≥ 0; --ridge > 0; --ink-cut in [0, 1)")
        }
        guard parsedAngles != nil else {
            throw ValidationError(
                "--rotation-angles takes a comma-separated list of degrees such as -40,-20,20,40 (at most "
                    + "\(RotationProbe.maximumAngles) finite numbers, or empty for no rotation score), not "
                    + "'\(rotationAngles)'")
        }
        for name in summaryScores.split(separator: ",") where UncertaintyScore(rawValue: String(name)) == nil {
            throw ValidationError("--summary-scores: '\(name)' is not a summary score")
        }
        for name in ruleDensityScores.split(separator: ",") where DensityScore(rawValue: String(name)) == nil {
            throw ValidationError("--rule-density-scores: '\(name)' is not a density score")
        }
    }

    func run() throws {
        let original = try InputFile.bytes(model)
        var file = try ModelFile(decoding: original)
        let directory = dataDir ?? "data/\(file.metadata.dataset)"
        let all = try DatasetLoader.load(directory: directory, split: .train, classCount: file.model.outputSize)
        guard validationCount < all.count else { throw ValidationError("--validation-count leaves no training images") }
        let training = all.subset(0..<(all.count - validationCount))
        let validation = all.subset((all.count - validationCount)..<all.count)
        let input = file.metadata.inputPreparation

        var density = DensityModel(trainingCount: training.count)
        if rank > 0 {
            density.subspace = try DensityFitting.principalSubspace(of: training, input: input, rank: rank)
            log(
                String(
                    format: "principal subspace: rank %d explains %.2f%% of the training images' variance", rank,
                    100 * (density.subspace?.explainedVariance ?? 0)))
        }
        if featureLayer > 0 {
            density.gaussian = try DensityFitting.classConditionalGaussian(
                model: file.model, data: training, input: input, layer: featureLayer, ridgeFraction: ridge)
            log("class-conditional Gaussian on hidden layer \(featureLayer) (\(density.gaussian!.featureCount) units)")
        }
        if inkCut > 0 {
            density.ink = try DensityFitting.inkStatistics(of: training, input: input, cut: Float(inkCut))
            log(
                String(
                    format: "ink: median share %.4f of the training images' elements above %g",
                    density.ink?.medianShare ?? 0, inkCut))
        }
        if let angles = parsedAngles, !angles.isEmpty {
            let side = Int(Double(file.model.inputSize).squareRoot().rounded())
            guard side * side == file.model.inputSize, side >= 2 else {
                throw ValidationError(
                    "--rotation-angles needs square images; the input is \(file.model.inputSize) wide")
            }
            density.rotation = RotationProbe(angles: angles, side: side, model: file.model)
            log("rotation probe: \(side)×\(side) images turned by \(angles.map { String(format: "%g°", $0) })")
        }
        let predictions = ScoredPredictions.evaluate(
            model: file.model, members: file.members, density: density.scores.isEmpty ? nil : density,
            pixels: validation.pixels, input: input, sampleCount: samples, firstSeed: seed)
        let isCorrect = predictions.isCorrect(labels: validation.labels.map(Int.init))
        let ruleDensity = Set(ruleDensityScores.split(separator: ",").compactMap { DensityScore(rawValue: String($0)) })
        let candidates = predictions.scores.filter { score, _ in
            if case .density(let kind) = score { return ruleDensity.contains(kind) }
            return true
        }
        let fitted = RuleFitting.fit(
            scores: candidates, isCorrect: isCorrect, budget: budget, densityShare: densityShare,
            summaryCandidates: summaryScores.split(separator: ",").compactMap { UncertaintyScore(rawValue: String($0)) }
        )
        var rule = fitted.rule
        rule.sampleCount = samples
        rule.fittedOn = "validation split: the last \(validationCount) training images, seeds from \(seed)"
        for (condition, share) in zip(rule.conditions, fitted.conditionFlagged) {
            log(
                String(
                    format: "  %@ > %.6g flags %.2f%% of the validation split", condition.score.rawValue,
                    condition.threshold, 100 * share))
        }
        log(
            String(
                format: "rule flags %.2f%% of the validation split (budget %.2f%%); unflagged answers %.3f%% right",
                100 * (rule.validationFlagged ?? 0), 100 * budget, 100 * (rule.validationUnflaggedAccuracy ?? 0)))
        log(
            String(
                format: "density scores cost %.1f µs per image, %.1f%% of the N=%d passes (%.1f µs)",
                1e6 * predictions.densitySeconds / Double(predictions.count),
                100 * predictions.densitySeconds / predictions.monteCarloSeconds, samples,
                1e6 * predictions.monteCarloSeconds / Double(predictions.count)))
        file.density = density.scores.isEmpty ? nil : density
        file.setUncertaintyRule(rule)
        try Data(file.encoded()).write(to: URL(fileURLWithPath: output), options: .atomic)
        log("wrote \(output)")
    }
}
