import ArgumentParser
import Foundation
import MCDropout
import MCDropoutCommandLine
import MCDropoutData
import MCDropoutEvaluation

/// `mcdropout-eval evaluate`: deterministic vs Monte-Carlo dropout on a test set and an out-of-distribution set.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Accuracy, NLL, Brier, ECE, OOD detection and selective prediction as a JSON result.",
        discussion: """
            Dropout off (weight scaling) and MC dropout at each --sample-counts value, on the model's test set and on
            an out-of-distribution test set (default: the other of mnist / fashion-mnist). Image i of the test set
            uses seed --seed + i, OOD image i seed --seed + 2^32 + i, for every N. Counts from
            --large-samples-from upward use only the first --large-samples-limit images of each set (stated in the
            output) to keep N = 1000 affordable.

            The result goes beside the model as <stem>.evaluation.json, or to
            <output-dir>/<name>.json; an existing result is replaced only with --force.

            Example:
              mcdropout-eval evaluate --model my-mnist.safetensors --write-threshold
            """)

    @Option(help: "The model file.")
    var model: String
    @OptionGroup var data: DataDirectoryOptions
    @Option(help: "Out-of-distribution data set name (default: fashion-mnist for mnist and vice versa; 'none' skips).")
    var oodDataset: String?
    @Option(help: "Out-of-distribution test set directory (default data/<ood-dataset>).")
    var oodDataDir: String?
    @Option(help: "Monte-Carlo sample counts N, comma-separated.")
    var sampleCounts: String = "1,10,30,100,1000"
    @Option(help: "The N used for the detailed OOD, calibration and selective-prediction results and the threshold.")
    var mainSamples: Int = 100
    @Option(help: "Sample counts at or above this use the image subset below.")
    var largeSamplesFrom: Int = 1000
    @Option(help: "Images of each set evaluated at large N (0 = all).")
    var largeSamplesLimit: Int = 1000
    @Option(help: "Evaluate only the first N test and OOD images (0 = all).")
    var limit: Int = 0
    @Option(
        help: """
            Images to evaluate: 'test' (the test sets) or 'validation' (the last --validation-count training images of \
            the data set and of the OOD set, as mcdropout-train and fit-rule split them; for choosing settings).
            """)
    var split: EvaluationSplit = .test
    @Option(help: "With --split validation: training images at the end of each training set used.")
    var validationCount = 5000
    @OptionGroup var seedOptions: SeedOptions<EvaluationSeed>
    @Option(help: "Accuracy the selective-prediction threshold must reach on the kept predictions.")
    var targetAccuracy: Double = 0.995
    @OptionGroup var threadOptions: ThreadOptions
    @Option(help: "Directory for the JSON result <name>.json (default: beside the model, as <stem>.evaluation.json).")
    var outputDir: String?
    @Option(help: "With --output-dir: name of the result (default: the model's dataset).")
    var name: String?
    @OptionGroup var forceOptions: ForceOptions
    @Flag(help: "Write the recommended threshold into the model file's metadata (extension \"uncertainty\").")
    var writeThreshold = false
    @Flag(help: "Also compare adaptive sampling (samples: \"auto\") with fixed --main-samples, on the large-N subset.")
    var compareAdaptive = false
    @Flag(
        help: """
            With --compare-adaptive: the server's "auto" rule — stop when the decision (arg-max and the model's \
            uncertainty rule) is settled; an input the rule's density conditions flag first runs the rule's N.
            """)
    var adaptiveDecisive = false

    func validate() throws {
        guard mainSamples >= 1, largeSamplesLimit >= 0, limit >= 0 else {
            throw ValidationError("--main-samples must be ≥ 1, limits ≥ 0")
        }
        guard validationCount >= 1 else { throw ValidationError("--validation-count must be ≥ 1") }
        guard targetAccuracy > 0, targetAccuracy <= 1 else {
            throw ValidationError("--target-accuracy must be in (0, 1]")
        }
        _ = try parseCounts(sampleCounts)
    }

    func run() throws {
        threadOptions.apply()
        var options = EvaluationOptions()
        options.sampleCounts = try parseCounts(sampleCounts)
        options.mainSamples = mainSamples
        options.largeSamplesFrom = largeSamplesFrom
        options.largeSamplesLimit = largeSamplesLimit
        options.seed = seedOptions.seed
        options.targetAccuracy = targetAccuracy
        options.blasThreads = threadOptions.threads
        options.compareAdaptive = compareAdaptive
        options.adaptiveDecisive = adaptiveDecisive

        let bytes = try InputFile.bytes(model)
        let file = try ModelFile(decoding: bytes)
        let dataset = file.metadata.dataset
        let path =
            outputDir.map { "\($0)/\(name ?? dataset).json" }
            ?? URL(fileURLWithPath: model).deletingPathExtension().appendingPathExtension("evaluation.json").path
        try OutputFile.check(path, force: forceOptions.force)
        let directory = data.directory(for: dataset)
        let test = try load(directory: directory, expected: dataset)
        let oodName = oodDataset ?? (dataset == "mnist" ? "fashion-mnist" : "mnist")
        var ood: LabeledImages?
        if oodName != "none" {
            let oodDirectory = oodDataDir ?? "data/\(oodName)"
            ood = try load(directory: oodDirectory, expected: oodName).prefix(limit)
        }
        var report = ModelEvaluation.run(
            file, modelPath: model, test: test.prefix(limit), ood: ood.map { (oodName, $0) }, options: options,
            log: log)
        report.thresholdWritten = writeThreshold && report.recommendedThreshold != nil

        try OutputFile.write(report.encoded(), to: path)
        log("wrote \(path)")
        if writeThreshold, let recommended = report.recommendedThreshold {
            try ThresholdWriter.write(recommended, toModelAt: model, original: bytes)
            log("wrote the threshold into \(model)")
        }
    }

    /// The test set in `directory`, or with `--split validation` the last `--validation-count` training images.
    private func load(directory: String, expected: String) throws -> LabeledImages {
        switch split {
        case .test:
            let set = try DatasetLoader.load(directory: directory, split: .test)
            try KnownDataset.check(set, split: .test, from: directory, expected: expected)
            return set
        case .validation:
            let set = try DatasetLoader.load(directory: directory, split: .train)
            try KnownDataset.check(set, split: .train, from: directory, expected: expected)
            guard validationCount < set.count else {
                throw ValidationError("--validation-count leaves no training images in \(directory)")
            }
            return set.subset((set.count - validationCount)..<set.count)
        }
    }

    private func parseCounts(_ text: String) throws -> [Int] {
        let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw ValidationError("--sample-counts: positive integers, comma-separated")
        }
        return values.map { $0! }
    }
}

extension LabeledImages {
    /// The first `limit` examples (all for 0).
    func prefix(_ limit: Int) -> LabeledImages { limit > 0 ? subset(0..<Swift.min(limit, count)) : self }
}

/// `evaluate --split`: which images are evaluated.
enum EvaluationSplit: String, ExpressibleByArgument, CaseIterable {
    case test
    case validation
}

/// `evaluate --seed`.
enum EvaluationSeed: SeedDefault {
    static let seed: UInt64 = 2026
    static let help = "First per-image seed: test image i uses seed + i, OOD image i seed + 2^32 + i."
}
