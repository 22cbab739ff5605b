import Foundation
public import MCDropout
public import MCDropoutEvaluation

/// Trains and scores MC-dropout regression networks — a mean-only head and a mean–log-variance head — on several
/// seeded splits of a table, beside a reference implementation of the same network trained on the same split.
public struct RegressionBenchmark: Sendable {
    /// A reference implementation: trains `configuration` (its `head` says which) on `training`, then predicts
    /// `test`'s rows with `sampleCount` dropout passes. `mcdropout-eval regression` runs PyTorch here.
    public typealias Reference = (
        _ training: TabularDataset, _ test: TabularDataset, _ configuration: TabularTrainingConfiguration,
        _ sampleCount: Int
    ) throws -> RegressionPredictions

    /// Architecture, dropout and optimiser for every network (`head` and `seed` are set per run).
    public var configuration: TabularTrainingConfiguration
    public var sampleCount: Int
    public var testFraction: Double
    /// One seed per split: it shuffles the rows and seeds training and prediction.
    public var splitSeeds: [UInt64]

    public init(
        configuration: TabularTrainingConfiguration, sampleCount: Int, testFraction: Double, splitSeeds: [UInt64]
    ) {
        self.configuration = configuration
        self.sampleCount = sampleCount
        self.testFraction = testFraction
        self.splitSeeds = splitSeeds
    }

    /// The heads compared, by the name the model file and the report use.
    public static let heads: [(name: String, head: OutputHead)] = [
        ("mean", .regression), ("mean_logvar", .meanLogVariance),
    ]

    /// Runs every split and head; `reference` nil (or `referenceNote` set by the caller) leaves PyTorch out.
    /// `progress` receives one line per trained network.
    public func run(
        on table: TabularDataset, dataset: String, target: String, reference: Reference?, referenceNote: String,
        progress: (String) -> Void = { _ in }
    ) throws -> RegressionReport {
        var entries: [RegressionReport.Entry] = []
        for (index, seed) in splitSeeds.enumerated() {
            let (training, test) = table.split(testFraction: testFraction, seed: seed)
            let targets = test.targets.map(Double.init)
            for (name, head) in Self.heads {
                var run = configuration
                run.head = head
                run.seed = seed
                let (model, inputMean, inputStd, _) = TabularTrainer.train(run, on: training)
                var metadata = ModelMetadata(
                    layerSizes: model.layerSizes, dropoutProbabilities: model.dropoutProbabilities, labels: [],
                    dataset: dataset, seed: seed, inputScale: 1)
                metadata.activation = run.activation
                metadata.head = head
                metadata.inputMean = inputMean
                metadata.inputStd = inputStd
                let ours = RegressionPredictions(
                    model: model, metadata: metadata, features: test.features, sampleCount: sampleCount, seed: seed)
                let metrics = RegressionMetrics(targets: targets, predictions: ours)
                entries.append(.init(head: name, implementation: "mcdropout", split: index, metrics: metrics))
                progress("split \(index) seed \(seed) \(name) mcdropout: \(Self.line(metrics))")
                guard let reference else { continue }
                let theirs = try reference(training, test, run, sampleCount)
                let referenceMetrics = RegressionMetrics(targets: targets, predictions: theirs)
                entries.append(.init(head: name, implementation: "pytorch", split: index, metrics: referenceMetrics))
                progress("split \(index) seed \(seed) \(name) pytorch: \(Self.line(referenceMetrics))")
            }
        }
        let setup = RegressionReport.Setup(
            dataset: dataset, target: target, rows: table.count, features: table.width, testFraction: testFraction,
            splitSeeds: splitSeeds, hidden: configuration.hiddenSizes,
            dropout: configuration.dropoutProbabilities, activation: configuration.activation.name,
            epochs: configuration.epochs, batchSize: configuration.batchSize,
            learningRate: configuration.learningRate, weightDecay: configuration.weightDecay, samples: sampleCount)
        return RegressionReport(
            setup: setup, entries: entries, reference: referenceNote, hasReference: reference != nil)
    }

    /// One line of metrics, for progress output and `mcdropout-train --csv`.
    public static func line(_ metrics: RegressionMetrics) -> String {
        String(
            format: "RMSE %.3f, log-likelihood %.3f, coverage 50/90/95%% = %.0f/%.0f/%.0f%%",
            metrics.rootMeanSquaredError, metrics.logLikelihood, metrics.coverage50 * 100, metrics.coverage90 * 100,
            metrics.coverage95 * 100)
    }
}

extension TabularDataset {
    /// The table as CSV with a header: the features, then the target column named `target` (class indices for
    /// classification). Values print in their shortest round-tripping form, so a reader gets the same `Float`s.
    public func csv(target: String) -> String {
        var text = (featureNames + [target]).joined(separator: ",") + "\n"
        for row in 0..<count {
            let values = features[(row * width)..<((row + 1) * width)] + [targets[row]]
            text += values.map { "\($0)" }.joined(separator: ",") + "\n"
        }
        return text
    }
}
