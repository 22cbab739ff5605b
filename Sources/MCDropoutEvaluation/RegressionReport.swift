import Foundation

/// The result of `mcdropout-eval regression`: our MC-dropout regression networks and a PyTorch reference of the same
/// network, trained in the same run on the same splits, scored by ``RegressionMetrics``.
public struct RegressionReport: Sendable, Equatable, Codable {
    /// How every network was trained and predicted.
    public struct Setup: Sendable, Equatable, Codable {
        public var dataset: String
        public var target: String
        public var rows: Int
        public var features: Int
        public var testFraction: Double
        /// One seed per split: it shuffles the rows and seeds training and prediction.
        public var splitSeeds: [UInt64]
        public var hidden: [Int]
        public var dropout: [Float]
        public var activation: String
        public var epochs: Int
        public var batchSize: Int
        public var learningRate: Double
        public var weightDecay: Float
        public var samples: Int

        public init(
            dataset: String, target: String, rows: Int, features: Int, testFraction: Double, splitSeeds: [UInt64],
            hidden: [Int], dropout: [Float], activation: String, epochs: Int, batchSize: Int, learningRate: Double,
            weightDecay: Float, samples: Int
        ) {
            self.dataset = dataset
            self.target = target
            self.rows = rows
            self.features = features
            self.testFraction = testFraction
            self.splitSeeds = splitSeeds
            self.hidden = hidden
            self.dropout = dropout
            self.activation = activation
            self.epochs = epochs
            self.batchSize = batchSize
            self.learningRate = learningRate
            self.weightDecay = weightDecay
            self.samples = samples
        }
    }

    /// One network's test metrics on one split.
    public struct Entry: Sendable, Equatable, Codable {
        /// `mean` (MSE) or `mean_logvar` (Gaussian NLL).
        public var head: String
        /// `mcdropout` or `pytorch`.
        public var implementation: String
        /// The index into ``Setup/splitSeeds``.
        public var split: Int
        public var metrics: RegressionMetrics

        public init(head: String, implementation: String, split: Int, metrics: RegressionMetrics) {
            self.head = head
            self.implementation = implementation
            self.split = split
            self.metrics = metrics
        }
    }

    public var setup: Setup
    public var entries: [Entry]
    /// What the reference was (e.g. `torch 2.13.0+cpu`), or why it did not run (e.g. torch is not installed).
    public var reference: String
    /// Whether the PyTorch reference ran; without it the report says so and has our rows only.
    public var hasReference: Bool

    public init(setup: Setup, entries: [Entry], reference: String, hasReference: Bool) {
        self.setup = setup
        self.entries = entries
        self.reference = reference
        self.hasReference = hasReference
    }

    /// Mean and standard error over splits of one metric for one (head, implementation).
    public func summary(head: String, implementation: String, _ metric: (RegressionMetrics) -> Double)
        -> (mean: Double, standardError: Double)?
    {
        let values = entries.filter { $0.head == head && $0.implementation == implementation }.map {
            metric($0.metrics)
        }
        guard !values.isEmpty else { return nil }
        let n = Double(values.count)
        let mean = values.reduce(0, +) / n
        guard values.count > 1 else { return (mean, 0) }
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
        return (mean, (variance / n).squareRoot())
    }

    /// Mean and standard error over splits of ours − PyTorch's `metric`, for the splits both have.
    public func pairedDifference(head: String, _ metric: (RegressionMetrics) -> Double)
        -> (mean: Double, standardError: Double)?
    {
        let rows = entries.filter { $0.head == head }
        let differences = rows.filter { $0.implementation == "mcdropout" }.compactMap { ours in
            rows.first { $0.implementation == "pytorch" && $0.split == ours.split }.map {
                metric(ours.metrics) - metric($0.metrics)
            }
        }
        guard !differences.isEmpty else { return nil }
        let n = Double(differences.count)
        let mean = differences.reduce(0, +) / n
        guard differences.count > 1 else { return (mean, 0) }
        let variance = differences.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
        return (mean, (variance / n).squareRoot())
    }

    /// The report section: setup, a table of means ± standard errors over splits, and what it shows.
    public func markdown(command: String) -> String {
        let s = setup
        let testRows = entries.first?.metrics.count ?? 0
        var lines: [String] = []
        lines.append("### Regression: `\(s.dataset)` (target `\(s.target)`)")
        lines.append("")
        lines.append(
            "Command: `\(command)`. \(s.rows) rows, \(s.features) features; \(s.splitSeeds.count) random splits "
                + "(seeds \(s.splitSeeds.map(String.init).joined(separator: ", "))), each holding out "
                + "\(testRows) rows (\(fixed(s.testFraction * 100, 0)) %) for testing. Every network is "
                + "\(s.features)-\(s.hidden.map(String.init).joined(separator: "-"))-out, \(s.activation), dropout "
                + "\(s.dropout.map { fixed(Double($0), 2) }.joined(separator: "/")) on the dense layers' inputs, Adam "
                + "lr \(s.learningRate), batch \(s.batchSize), \(s.epochs) epochs, weight decay \(s.weightDecay); "
                + "features and target standardised on the training rows; predictions from N = \(s.samples) "
                + "dropout passes. *mean*: one output, MSE loss, predictive variance = the variance over passes "
                + "(epistemic only). *mean_logvar*: a mean and a log σ² per target, Gaussian NLL loss, predictive "
                + "variance = epistemic + mean σ² (aleatoric). Log-likelihood: mean Gaussian log density of the "
                + "test targets in the target's own units (nats). Coverage: fraction of test targets inside the "
                + "central interval mean ± z·σ. Values are means ± standard errors over the splits.")
        lines.append("")
        lines.append(
            hasReference
                ? "PyTorch reference: the same architecture, dropout, optimiser, epochs, batch size and "
                    + "standardisation, trained in the same run on the same split (\(reference); "
                    + "`scripts/python/torch_regression.py`)."
                : "**PyTorch reference not run: \(reference).** Only this project's networks are reported.")
        lines.append("")
        lines.append(
            "| Head | Implementation | RMSE | Log-likelihood | Coverage 50 % | Coverage 90 % | Coverage 95 % |")
        lines.append("|---|---|---:|---:|---:|---:|---:|")
        for head in ["mean", "mean_logvar"] {
            for implementation in ["mcdropout", "pytorch"] {
                guard let rmse = summary(head: head, implementation: implementation, \.rootMeanSquaredError),
                    let ll = summary(head: head, implementation: implementation, \.logLikelihood)
                else { continue }
                let coverage = [\RegressionMetrics.coverage50, \.coverage90, \.coverage95].map { path in
                    let value = summary(head: head, implementation: implementation) { $0[keyPath: path] }!
                    return "\(fixed(value.mean * 100, 1)) ± \(fixed(value.standardError * 100, 1)) %"
                }
                let row =
                    [
                        head, implementation, "\(fixed(rmse.mean, 2)) ± \(fixed(rmse.standardError, 2))",
                        "\(fixed(ll.mean, 3)) ± \(fixed(ll.standardError, 3))",
                    ] + coverage
                lines.append("| " + row.joined(separator: " | ") + " |")
            }
        }
        lines.append("")
        lines.append(contentsOf: findings())
        return lines.joined(separator: "\n") + "\n"
    }

    /// Sentences that compare the rows with each other and with the targets, computed from the numbers.
    public func findings() -> [String] {
        var lines: [String] = []
        for head in ["mean", "mean_logvar"] {
            guard let ours = summary(head: head, implementation: "mcdropout", \.logLikelihood) else { continue }
            let gaps = [\RegressionMetrics.coverage50, \.coverage90, \.coverage95].enumerated().map { index, path in
                let value = summary(head: head, implementation: "mcdropout") { $0[keyPath: path] }!.mean
                return (value - RegressionMetrics.intervals[index].level) * 100
            }
            let worst = gaps.max { abs($0) < abs($1) }!
            var sentence =
                "- `\(head)`: coverage is \(gaps.map { fixed($0, 1) }.joined(separator: " / ")) points from nominal "
                + "(target: within 5): \(abs(worst) <= 5 ? "**met**" : "**not met**")"
            if let reference = summary(head: head, implementation: "pytorch", \.logLikelihood),
                let difference = pairedDifference(head: head, \.logLikelihood)
            {
                // Paired over splits: both implementations saw the same split, so the split-to-split spread cancels.
                let verdict =
                    difference.mean >= 0
                    ? "**met**"
                    : difference.mean >= -2 * difference.standardError
                        ? "**met within noise** (lower, by less than 2 standard errors)" : "**not met**"
                sentence +=
                    "; log-likelihood \(fixed(ours.mean, 3)) vs PyTorch \(fixed(reference.mean, 3)) (paired difference "
                    + "\(fixed(difference.mean, 3)) ± \(fixed(difference.standardError, 3))), target no worse: \(verdict)"
            }
            lines.append(sentence + ".")
        }
        return lines
    }
}
