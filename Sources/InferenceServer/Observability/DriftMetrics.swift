import Foundation
import MCDropout
import Synchronization

/// A per-prediction score that drift metrics keep a histogram of: every score a response carries
/// (`predictive_entropy`, `expected_entropy`, `mutual_information` and, for a model whose file holds their
/// statistics, the density scores `reconstruction_error`, `feature_distance`, `ink_deviation` and
/// `rotation_instability`) and the two the
/// ``UncertaintyScore``s derive from its arrays (`max_probability` = 1 − max p̄ from `probabilities`,
/// `total_variance` = Σ `variance`).
enum DriftScore: Sendable, CaseIterable {
    case predictiveEntropy, expectedEntropy, mutualInformation, maxProbability, totalVariance
    case reconstructionError, featureDistance, inkDeviation, rotationInstability

    /// The `score` label: the wire name of the response field, ``UncertaintyScore`` or ``DensityScore``.
    var name: String {
        switch self {
        case .predictiveEntropy: return UncertaintyScore.predictiveEntropy.rawValue
        case .expectedEntropy: return "expected_entropy"
        case .mutualInformation: return UncertaintyScore.mutualInformation.rawValue
        case .maxProbability: return UncertaintyScore.maxProbability.rawValue
        case .totalVariance: return UncertaintyScore.totalVariance.rawValue
        case .reconstructionError: return DensityScore.reconstructionError.rawValue
        case .featureDistance: return DensityScore.featureDistance.rawValue
        case .inkDeviation: return DensityScore.inkDeviation.rawValue
        case .rotationInstability: return DensityScore.rotationInstability.rawValue
        }
    }

    /// The scores a model's responses carry: the five from the passes, then each density score its file has.
    static func scores(density: DensityModel?) -> [DriftScore] {
        let available = density?.scores ?? []
        return allCases.filter { score in
            switch score {
            case .reconstructionError: return available.contains(.reconstructionError)
            case .featureDistance: return available.contains(.featureDistance)
            case .inkDeviation: return available.contains(.inkDeviation)
            case .rotationInstability: return available.contains(.rotationInstability)
            default: return true
            }
        }
    }

    /// The score of one prediction; nil for a density score the model has no statistics for.
    @inline(__always)
    func value(of summary: PredictiveSummary, density: DensityValues) -> Double? {
        switch self {
        case .predictiveEntropy: return Double(summary.predictiveEntropy)
        case .expectedEntropy: return Double(summary.expectedEntropy)
        case .mutualInformation: return Double(summary.mutualInformation)
        case .maxProbability: return UncertaintyScore.maxProbability.value(of: summary)
        case .totalVariance: return UncertaintyScore.totalVariance.value(of: summary)
        case .reconstructionError: return density.reconstructionError
        case .featureDistance: return density.featureDistance
        case .inkDeviation: return density.inkDeviation
        case .rotationInstability: return density.rotationInstability
        }
    }

    /// The fixed bucket upper bounds. The entropies end at `ln C` nats (mutual information ≤ predictive entropy
    /// ≤ ln C), `1 − max p̄`, the total variance (Σ Var ≤ 1 − Σ p̄² < 1) and `rotation_instability` at 1:
    /// ``bucketFractions`` of that end.
    /// The density scores have no end (a mean squared pixel residual, a Mahalanobis distance ≈ 1 for training
    /// inputs), so they get ``densityBuckets``, 1-2-5 steps over seven decades.
    func bounds(classCount: Int) -> [Double] {
        let end: Double
        switch self {
        case .predictiveEntropy, .expectedEntropy, .mutualInformation: end = log(Double(max(classCount, 2)))
        case .maxProbability, .totalVariance, .rotationInstability: end = 1
        case .reconstructionError, .featureDistance, .inkDeviation: return Self.densityBuckets
        }
        return Self.bucketFractions.map { $0 * end }
    }

    /// The fixed bucket upper bounds, as fractions of the range's end: fine near 0, where confident
    /// predictions of in-distribution inputs sit, then tenths up to the end of the range.
    static let bucketFractions: [Double] =
        [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]

    /// The density scores' bucket upper bounds: 0.0001 to 1000 in 1-2-5 steps (written out, so that each prints
    /// as it reads in the `le` label).
    static let densityBuckets: [Double] = [
        0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5,
        1, 2, 5, 10, 20, 50, 100, 200, 500, 1000,
    ]
}

/// A Prometheus histogram kept in atomics: recording is a bucket search, two atomic adds and a compare-and-swap loop
/// for the sum, with no lock and no allocation.
final class AtomicHistogram: Sendable {
    /// Bucket upper bounds, ascending; a value above the last (or NaN) counts in `+Inf` only.
    let bounds: [Double]
    private let counts: [Counter]  // bounds.count + 1, not cumulative
    private let sumBits = Atomic<UInt64>(0.0.bitPattern)

    init(bounds: [Double]) {
        self.bounds = bounds
        counts = (0...bounds.count).map { _ in Counter() }
    }

    @inline(__always)
    func record(_ value: Double) {
        var index = 0
        while index < bounds.count, !(value <= bounds[index]) { index += 1 }
        counts[index].add(1)
        guard value.isFinite else { return }
        var old = sumBits.load(ordering: .relaxed)
        while true {
            let (exchanged, current) = sumBits.compareExchange(
                expected: old, desired: (Double(bitPattern: old) + value).bitPattern, ordering: .relaxed)
            if exchanged { return }
            old = current
        }
    }

    /// Cumulative counts per bound plus `+Inf` last, and the sum of finite values.
    /// Appends the histogram in Prometheus text format: `name_bucket` per bound (and `+Inf`), `name_sum`, `name_count`.
    func write(_ name: String, labels: String, to out: inout String) {
        let (cumulative, sum) = snapshot
        for (index, count) in cumulative.enumerated() {
            let bound = index < bounds.count ? "\(bounds[index])" : "+Inf"
            out += "\(name)_bucket{\(labels),le=\"\(bound)\"} \(count)\n"
        }
        out += "\(name)_sum{\(labels)} \(sum)\n"
        out += "\(name)_count{\(labels)} \(cumulative.last ?? 0)\n"
    }

    var snapshot: (cumulative: [Int], sum: Double) {
        var total = 0
        let cumulative = counts.map { counter in
            total += counter.value
            return total
        }
        return (cumulative, Double(bitPattern: sumBits.load(ordering: .relaxed)))
    }
}

/// The spread of a regression prediction that drift metrics keep a histogram of, per target: the standard deviation
/// (in the target's units) of the epistemic, aleatoric and predictive variances a response carries.
enum RegressionSpread: String, Sendable, CaseIterable {
    case epistemic, aleatoric, predictive

    /// The kinds a head answers: epistemic only for a mean head, all three for `mean_logvar`.
    static func kinds(head: OutputHead) -> [RegressionSpread] {
        switch head {
        case .classification: return []
        case .regression: return [.epistemic]
        case .meanLogVariance: return allCases
        }
    }

    /// The standard deviation of target `index`.
    @inline(__always)
    func standardDeviation(of summary: PredictiveSummary, target index: Int) -> Double {
        let epistemic = Double(summary.epistemicVariance(index))
        let aleatoric = Double(summary.aleatoricVariance(index))
        switch self {
        case .epistemic: return epistemic.squareRoot()
        case .aleatoric: return aleatoric.squareRoot()
        case .predictive: return (epistemic + aleatoric).squareRoot()
        }
    }

    /// The fixed bucket upper bounds: 0.0001 to 1 000 000 target units in 1-2-5 steps, since the server does not
    /// know a target's scale (a standardised target sits near 0.1–1, a price in currency units far above).
    static let buckets: [Double] = [
        0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200,
        500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000,
    ]
}

/// One model's drift metrics: for a classifier a histogram per ``DriftScore`` its responses carry and predictions
/// per predicted class; for a regression model a histogram per target and ``RegressionSpread``; for both, how many
/// were judged against a threshold and flagged `uncertain`. Created with the model at load and reload, so the
/// request path only adds to preallocated atomics.
final class DriftMetrics: Sendable {
    /// The scores kept, ``DriftScore/scores(density:)`` of a classifier; empty for regression.
    let scores: [DriftScore]
    let histograms: [AtomicHistogram]  // indexed like scores
    let predictionsByClass: [Counter]
    /// The spreads kept per regression target (empty for a classifier).
    let spreads: [RegressionSpread]
    /// `regressionHistograms[target * spreads.count + kind]`.
    let regressionHistograms: [AtomicHistogram]
    let targetCount: Int
    /// Predictions a threshold applied to (the model's stored one or the request's).
    let judged = Counter()
    /// Predictions whose score exceeded that threshold: the `"uncertain": true` answers.
    let flagged = Counter()

    init(classCount: Int, density: DensityModel?, head: OutputHead = .classification) {
        let isClassification = head.isClassification
        scores = isClassification ? DriftScore.scores(density: density) : []
        histograms = scores.map { AtomicHistogram(bounds: $0.bounds(classCount: classCount)) }
        predictionsByClass = isClassification ? (0..<classCount).map { _ in Counter() } : []
        spreads = RegressionSpread.kinds(head: head)
        targetCount = isClassification ? 0 : head.targetCount(outputSize: classCount)
        regressionHistograms = (0..<(targetCount * spreads.count)).map { _ in
            AtomicHistogram(bounds: RegressionSpread.buckets)
        }
    }

    /// Records one prediction and whether `rule` (the one its response was flagged with, if any) flags it.
    @inline(__always)
    func record(_ summary: PredictiveSummary, density: DensityValues, rule: UncertaintyRule?) {
        for index in scores.indices {
            if let value = scores[index].value(of: summary, density: density) { histograms[index].record(value) }
        }
        if predictionsByClass.indices.contains(summary.prediction) { predictionsByClass[summary.prediction].add(1) }
        for target in 0..<targetCount {
            for (kind, spread) in spreads.enumerated() {
                regressionHistograms[target * spreads.count + kind].record(
                    spread.standardDeviation(of: summary, target: target))
            }
        }
        guard let rule else { return }
        judged.add(1)
        if rule.isUncertain(summary, density: density) { flagged.add(1) }
    }

    /// Records the first `count` summaries.
    func record(_ summaries: [PredictiveSummary], density: [DensityValues], count: Int, rule: UncertaintyRule?) {
        for index in 0..<min(count, summaries.count) {
            record(summaries[index], density: index < density.count ? density[index] : .none, rule: rule)
        }
    }
}

extension ServerMetrics {
    /// The drift families of the Prometheus text, one series set per loaded model.
    func renderDrift(models: ModelSnapshot) -> String {
        var out = ""
        let loaded = models.names.compactMap { models.models[$0] }
        out += "# HELP mcdropout_prediction_score Per-prediction uncertainty scores by model and score (entropies in "
        out += "nats over [0, ln C]; max_probability is 1 - max p over [0, 1]; total_variance over [0, 1]; the density "
        out += "scores reconstruction_error, feature_distance and ink_deviation, where the model has them, over "
        out += "0.0001-1000; rotation_instability over [0, 1]).\n"
        out += "# TYPE mcdropout_prediction_score histogram\n"
        for model in loaded {
            let name = escapeLabel(model.name)
            for (score, histogram) in zip(model.drift.scores, model.drift.histograms) {
                histogram.write(
                    "mcdropout_prediction_score", labels: "model=\"\(name)\",score=\"\(score.name)\"", to: &out)
            }
        }
        out += "# HELP mcdropout_regression_std Regression models: the standard deviation of each prediction, in "
        out += "the target's units, by model, target (output index) and kind (epistemic: over the passes; aleatoric: "
        out += "the mean_logvar head's mean sigma; predictive: both), buckets 0.0001-1000000 in 1-2-5 steps.\n"
        out += "# TYPE mcdropout_regression_std histogram\n"
        for model in loaded where model.drift.targetCount > 0 {
            let drift = model.drift
            for target in 0..<drift.targetCount {
                for (kind, spread) in drift.spreads.enumerated() {
                    let histogram = drift.regressionHistograms[target * drift.spreads.count + kind]
                    let labels = "model=\"\(escapeLabel(model.name))\",target=\"\(target)\",kind=\"\(spread.rawValue)\""
                    histogram.write("mcdropout_regression_std", labels: labels, to: &out)
                }
            }
        }
        out += "# HELP mcdropout_predictions_total Predictions by model and predicted class.\n"
        out += "# TYPE mcdropout_predictions_total counter\n"
        for model in loaded {
            for (index, counter) in model.drift.predictionsByClass.enumerated() {
                let label = index < model.labels.count ? model.labels[index] : "\(index)"
                let labels = "model=\"\(escapeLabel(model.name))\",class=\"\(escapeLabel(label))\""
                out += "mcdropout_predictions_total{\(labels)} \(counter.value)\n"
            }
        }
        out += "# HELP mcdropout_predictions_judged_total Predictions an uncertainty threshold applied to.\n"
        out += "# TYPE mcdropout_predictions_judged_total counter\n"
        for model in loaded {
            let value = model.drift.judged.value
            out += "mcdropout_predictions_judged_total{model=\"\(escapeLabel(model.name))\"} \(value)\n"
        }
        out += "# HELP mcdropout_predictions_flagged_total Predictions answered with \"uncertain\": true.\n"
        out += "# TYPE mcdropout_predictions_flagged_total counter\n"
        for model in loaded {
            let value = model.drift.flagged.value
            out += "mcdropout_predictions_flagged_total{model=\"\(escapeLabel(model.name))\"} \(value)\n"
        }
        out += "# HELP mcdropout_model_expected_flagged_ratio The share of held-out validation inputs the model's "
        out += "stored rule flagged when it was fitted: the flagged rate to expect on in-distribution traffic.\n"
        out += "# TYPE mcdropout_model_expected_flagged_ratio gauge\n"
        for model in loaded {
            guard let expected = model.uncertaintyRule?.validationFlagged else { continue }
            out += "mcdropout_model_expected_flagged_ratio{model=\"\(escapeLabel(model.name))\"} \(expected)\n"
        }
        return out
    }
}
