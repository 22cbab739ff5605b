import ArgumentParser
import Foundation
import MCDropout
import MCDropoutCommandLine
import MCDropoutEvaluation
import MCDropoutTraining

/// `mcdropout-eval regression`: RMSE, log-likelihood and interval coverage of MC-dropout regression on a CSV table,
/// beside a PyTorch MC-dropout reference trained in the same run.
struct RegressionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "regression",
        abstract: "Regression quality (RMSE, log-likelihood, 50/90/95 % coverage) vs a same-run PyTorch reference.",
        discussion: """
            For each of --splits seeded splits of --csv, trains a mean-only network (MSE) and a mean and log-variance
            network (Gaussian NLL) with mcdropout's trainer and, with the same architecture, dropout, optimiser,
            epochs and split, with PyTorch (scripts/python/torch_regression.py run by --python), and scores their
            MC-dropout predictive distributions on the held-out rows. Writes regression-NAME.json and
            regression-NAME.md (the report section) into --output-dir. Without torch the reference is skipped and
            the report says so (--require-reference makes that an error).

            Example:
              mcdropout-eval regression --csv data/tabular/diabetes.csv --target progression
            """)

    @Option(help: "The table: a header, then numeric rows.", completion: .file())
    var csv: String
    @Option(help: "The target column's name.")
    var target: String
    @Option(help: "Hidden layer widths, comma-separated.")
    var hidden = "64"
    @Option(help: "Dropout per dense layer input, comma-separated; one value applies to every hidden layer's output.")
    var dropout = "0.2"
    @Option(help: "Hidden activation.")
    var activation = "relu"
    @Option(help: "Epochs.")
    var epochs = 100
    @Option(help: "Mini-batch size.")
    var batchSize = 32
    @Option(help: "Adam learning rate.")
    var learningRate = 0.003
    @Option(help: "L2 weight decay on the weights.")
    var weightDecay: Float = 0
    @Option(help: "Monte-Carlo passes per test row.")
    var samples = 100
    @Option(help: "Number of random splits (seeds 1, 2, …).")
    var splits = 10
    @Option(help: "Fraction of the rows held out for testing.")
    var testFraction = 0.2
    @Option(help: "Python with torch for the reference (default $MCDROPOUT_PYTHON, else python3).")
    var python: String?
    @Option(help: "The reference script.")
    var referenceScript = "scripts/python/torch_regression.py"
    @Flag(help: "Fail instead of reporting without the PyTorch reference when torch is missing.")
    var requireReference = false
    @Flag(help: "Skip the PyTorch reference.")
    var noReference = false
    @Option(help: "Directory for the results.")
    var outputDir = "docs/evaluation"
    @Option(help: "Name of the results (default: the CSV file's stem).")
    var name: String?

    func validate() throws {
        guard epochs >= 1, batchSize >= 1, samples >= 2, splits >= 1 else {
            throw ValidationError("--epochs, --batch-size, --splits ≥ 1 and --samples ≥ 2")
        }
        guard testFraction > 0, testFraction < 1 else { throw ValidationError("--test-fraction must be in (0, 1)") }
    }

    func run() throws {
        guard let activation = HiddenActivation(name: activation) else {
            throw ValidationError("--activation must be one of \(HiddenActivation.names.joined(separator: ", "))")
        }
        let table: TabularDataset
        do {
            table = try TabularDataset(
                csv: InputFile.text(csv), target: target, isClassification: false)
        } catch let error as TabularDataError {
            throw ValidationError("\(csv): \(error.description)")
        }
        let widths = hidden.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        var rates = dropout.split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
        if rates.count == 1 { rates = [0] + Array(repeating: rates[0], count: widths.count) }
        guard !widths.isEmpty, rates.count == widths.count + 1, rates.allSatisfy({ $0 >= 0 && $0 < 1 }) else {
            throw ValidationError("--hidden needs widths and --dropout one rate in [0, 1) or one per layer")
        }
        var configuration = TabularTrainingConfiguration(hiddenSizes: widths, dropoutProbabilities: rates)
        configuration.activation = activation
        configuration.epochs = epochs
        configuration.batchSize = batchSize
        configuration.learningRate = learningRate
        configuration.weightDecay = weightDecay
        let benchmark = RegressionBenchmark(
            configuration: configuration, sampleCount: samples, testFraction: testFraction,
            splitSeeds: (1...splits).map(UInt64.init))
        let stem = name ?? URL(fileURLWithPath: csv).deletingPathExtension().lastPathComponent
        let reference = TorchRegressionReference(
            python: python ?? ProcessInfo.processInfo.environment["MCDROPOUT_PYTHON"] ?? "python3",
            script: referenceScript, target: target)
        var (useReference, note) = (false, "skipped (--no-reference)")
        if !noReference {
            (useReference, note) = reference.probe()
            if !useReference, requireReference { throw ValidationError("PyTorch reference: \(note)") }
            log("PyTorch reference: \(note)")
        }
        var torch: RegressionBenchmark.Reference?
        if useReference {
            torch = { try reference.predict(training: $0, test: $1, configuration: $2, sampleCount: $3) }
        }
        let report = try benchmark.run(
            on: table, dataset: stem, target: target, reference: torch, referenceNote: note, progress: { log($0) })
        try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(report).write(to: URL(fileURLWithPath: "\(outputDir)/regression-\(stem).json"))
        try report.markdown(command: command).write(
            toFile: "\(outputDir)/regression-\(stem).md", atomically: true, encoding: .utf8)
        print(report.findings().joined(separator: "\n"))
        log("wrote \(outputDir)/regression-\(stem).json and .md")
    }

    /// The command that regenerates these results, for the report.
    var command: String {
        "mcdropout-eval regression --csv \(csv) --target \(target) --hidden \(hidden) --dropout \(dropout) "
            + "--activation \(activation) --epochs \(epochs) --batch-size \(batchSize) --learning-rate \(learningRate) "
            + "--samples \(samples) --splits \(splits)" + (weightDecay == 0 ? "" : " --weight-decay \(weightDecay)")
    }
}
