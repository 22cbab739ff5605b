public import MCDropout

/// How predictions were made: dropout off (weight scaling), Monte-Carlo dropout at a fixed N, or adaptive sampling.
public enum PredictionMode: String, Codable, CodingKeyRepresentable, Sendable, CaseIterable {
    case deterministic
    case monteCarlo = "monte_carlo"
    case adaptive
}

/// The result of `mcdropout-eval evaluate` for one model: the file `<name>.json` that `report` draws from and
/// `set-threshold` stores in the model. Every key of the file is declared once, here, in a `CodingKeys` enum.
public struct EvaluationReport: Codable, Sendable, Equatable {
    /// The model file evaluated, as given on the command line.
    public var model: String
    /// ``ModelFingerprint`` of the parameters measured; absent in evaluations older than the fingerprint.
    public var modelFingerprint: String?
    public var dataset: String
    /// Layer sizes, input first.
    public var architecture: [Int]
    /// Dropout probability per dense layer input.
    public var dropout: [Double]
    /// The out-of-distribution set's name, nil when none was evaluated.
    public var oodDataset: String?
    public var testCount: Int
    public var oodCount: Int
    /// Test image `i` used seed `seed + i`; OOD image `i` seed `seed + 2^32 + i`.
    public var seed: UInt64
    /// The N of the detailed calibration, OOD and selective-prediction results and of the threshold.
    public var mainSamples: Int
    /// Sample counts from this one up ran on the first ``largeSamplesLimit`` images only.
    public var largeSamplesFrom: Int
    public var largeSamplesLimit: Int
    public var targetAccuracy: Double
    public var blasThreads: Int
    /// The metric-vs-N table: dropout off, then each N (subset rows and their baselines marked by their image count).
    public var rows: [MetricRow]
    /// Reliability diagrams at ``mainSamples`` (and dropout off).
    public var reliability: [PredictionMode: ReliabilitySummary]
    /// OOD detection per mode and score.
    public var ood: [PredictionMode: [UncertaintyScore: DetectionSummary]]
    /// In- and out-of-distribution histograms per mode and score.
    public var histograms: [PredictionMode: [UncertaintyScore: HistogramSummary]]
    /// Selective prediction per mode and score.
    public var selective: [PredictionMode: [UncertaintyScore: SelectiveSummary]]
    /// The Monte-Carlo score and threshold with the highest coverage at ``targetAccuracy``, if any reached it.
    public var recommendedThreshold: UncertaintyThreshold?
    /// Whether `evaluate --write-threshold` stored it in the model.
    public var thresholdWritten: Bool
    /// `--compare-adaptive`: adaptive sampling against fixed ``mainSamples``.
    public var adaptive: AdaptiveSummary?
    /// The rule the model file stores and the server flags with (`mcdropout-eval fit-rule`), as text such as
    /// "`reconstruction_error > 0.01205` or `max_probability > 0.2119`"; `nil` when it stores none.
    public var storedRule: String? = nil
    /// The networks evaluated: 1, or a deep ensemble's member count (`nil` in results written before ensembles).
    public var members: Int? = nil

    enum CodingKeys: String, CodingKey {
        case model, dataset, architecture, dropout, seed, rows, reliability, ood, histograms, selective, adaptive
        case modelFingerprint = "model_fingerprint"
        case oodDataset = "ood_dataset"
        case testCount = "test_count"
        case oodCount = "ood_count"
        case mainSamples = "main_samples"
        case largeSamplesFrom = "large_samples_from"
        case largeSamplesLimit = "large_samples_limit"
        case targetAccuracy = "target_accuracy"
        case blasThreads = "blas_threads"
        case recommendedThreshold = "recommended_threshold"
        case thresholdWritten = "threshold_written"
        case storedRule = "stored_rule"
        case members
    }

    /// The Monte-Carlo row at ``mainSamples`` over the whole test set, if there is one.
    public var mainRow: MetricRow? {
        rows.first { $0.mode == .monteCarlo && $0.samples == mainSamples && isFullSet($0) }
    }

    /// Whether a row covers the whole test set (large-N rows and their baselines use a subset).
    public func isFullSet(_ row: MetricRow) -> Bool { row.images == testCount }
}

/// One row of the metric-vs-N table.
public struct MetricRow: Codable, Sendable, Equatable {
    public var mode: PredictionMode
    /// N; 0 for dropout off and for adaptive sampling.
    public var samples: Int
    public var images: Int
    public var accuracy: Double
    /// Mean negative log-likelihood in nats (``Scoring/negativeLogLikelihood(_:labels:)``).
    public var nll: Double
    public var brier: Double
    public var ece: Double
    public var mce: Double
    public var meanPredictiveEntropy: Double
    public var meanMutualInformation: Double
    /// Seconds the predictions took; 0 for rows cut from a larger run.
    public var seconds: Double
    public var oodImages: Int?
    public var oodMeanPredictiveEntropy: Double?
    public var oodMeanMutualInformation: Double?
    /// OOD AUROC per score (dropout off: max-probability and entropy only).
    public var oodAuroc: [UncertaintyScore: Double]?
    /// Adaptive rows: the passes spent on in- and out-of-distribution images, and their AUROC as an OOD score.
    public var passesIn: PassStatistics?
    public var passesOut: PassStatistics?
    public var passesAuroc: Double?

    enum CodingKeys: String, CodingKey {
        case mode, samples, images, accuracy, nll, brier, ece, mce, seconds
        case meanPredictiveEntropy = "mean_predictive_entropy"
        case meanMutualInformation = "mean_mutual_information"
        case oodImages = "ood_images"
        case oodMeanPredictiveEntropy = "ood_mean_predictive_entropy"
        case oodMeanMutualInformation = "ood_mean_mutual_information"
        case oodAuroc = "ood_auroc"
        case passesIn = "passes_in"
        case passesOut = "passes_out"
        case passesAuroc = "passes_auroc"
    }
}

/// How many passes adaptive sampling spent per image.
public struct PassStatistics: Codable, Sendable, Equatable {
    public var mean: Double
    public var max: Int
    /// The fraction of images that hit the rule's maximum.
    public var atMaximum: Double

    enum CodingKeys: String, CodingKey {
        case mean, max
        case atMaximum = "at_maximum"
    }
}

/// A reliability diagram as stored: ECE, MCE and the bins.
public struct ReliabilitySummary: Codable, Sendable, Equatable {
    public var ece: Double
    public var mce: Double
    public var bins: [Bin]

    public struct Bin: Codable, Sendable, Equatable {
        public var lower: Double
        public var upper: Double
        public var count: Int
        public var confidence: Double
        public var accuracy: Double
    }

    public init(_ diagram: ReliabilityDiagram) {
        ece = diagram.expectedCalibrationError
        mce = diagram.maximumCalibrationError
        bins = diagram.bins.map {
            Bin(
                lower: $0.lowerBound, upper: $0.upperBound, count: $0.count, confidence: $0.meanConfidence,
                accuracy: $0.accuracy)
        }
    }
}

/// A point of a curve, stored as the pair `[x, y]`.
public struct CurvePoint: Codable, Sendable, Equatable {
    public var x: Double
    public var y: Double

    public init(_ x: Double, _ y: Double) {
        self.x = x
        self.y = y
    }

    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        x = try container.decode(Double.self)
        y = try container.decode(Double.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(x)
        try container.encode(y)
    }
}

/// OOD detection by one score: AUROC, AUPR, FPR at 95 % TPR and the (thinned) ROC curve as (FPR, TPR) pairs.
public struct DetectionSummary: Codable, Sendable, Equatable {
    public var auroc: Double
    public var aupr: Double
    public var fprAt95Tpr: Double
    public var roc: [CurvePoint]

    enum CodingKeys: String, CodingKey {
        case auroc, aupr, roc
        case fprAt95Tpr = "fpr_at_95_tpr"
    }
}

/// Fractions of in- and out-of-distribution scores in equal bins from 0 to ``upper``.
public struct HistogramSummary: Codable, Sendable, Equatable {
    public var upper: Double
    public var inDistribution: [Double]
    public var outOfDistribution: [Double]
    public var inMean: Double
    public var outMean: Double

    enum CodingKeys: String, CodingKey {
        case upper
        case inDistribution = "in"
        case outOfDistribution = "out"
        case inMean = "in_mean"
        case outMean = "out_mean"
    }
}

/// Selective prediction by one score: the threshold reaching the target accuracy (nil when none does) and the
/// (thinned) accuracy–coverage curve as (coverage, accuracy) pairs.
public struct SelectiveSummary: Codable, Sendable, Equatable {
    public var threshold: Double?
    public var coverage: Double?
    public var accuracy: Double?
    public var areaUnderCurve: Double
    public var curve: [CurvePoint]

    enum CodingKeys: String, CodingKey {
        case threshold, coverage, accuracy, curve
        case areaUnderCurve = "area_under_curve"
    }
}

/// `--compare-adaptive`: the rule and two rows, adaptive first, then fixed N on the same images.
public struct AdaptiveSummary: Codable, Sendable, Equatable {
    public var rule: Rule
    public var rows: [MetricRow]

    public struct Rule: Codable, Sendable, Equatable {
        public var minSamples: Int
        public var maxSamples: Int
        public var tolerance: Double
        public var blockSize: Int
        /// The settled-decision test's `z`, when the rule has one.
        public var decisionConfidence: Double?
        /// The uncertainty score whose verdict the test settles, when there is one.
        public var decisionScore: String?
        /// That rule's threshold.
        public var decisionThreshold: Double?
        /// The standard error every mean probability must be below for the decision to count, when bounded.
        public var decisionPrecision: Double?

        enum CodingKeys: String, CodingKey {
            case tolerance
            case minSamples = "min_samples"
            case maxSamples = "max_samples"
            case blockSize = "block_size"
            case decisionConfidence = "decision_confidence"
            case decisionScore = "decision_score"
            case decisionThreshold = "decision_threshold"
            case decisionPrecision = "decision_precision"
        }

        public init(_ rule: AdaptiveSampling) {
            minSamples = rule.minimumSamples
            maxSamples = rule.maximumSamples
            tolerance = rule.tolerance
            blockSize = rule.blockSize
            decisionConfidence = rule.decision?.confidence
            decisionScore = rule.decision?.uncertainty?.score.rawValue
            decisionThreshold = rule.decision?.uncertainty?.value
            decisionPrecision = rule.decision.flatMap { $0.precision.isFinite ? $0.precision : nil }
        }
    }
}
