import Foundation
public import MCDropout

/// A regression model's Monte-Carlo predictions for a set of rows, one target each, in target units.
public struct RegressionPredictions: Sendable, Equatable, Codable {
    /// The mean over passes of each row's predicted mean.
    public var means: [Double]
    /// The variance over passes of each row's predicted mean (epistemic).
    public var epistemicVariances: [Double]
    /// The mean over passes of each row's predicted `σ²` (aleatoric); zeros for a mean-only head.
    public var aleatoricVariances: [Double]

    public init(means: [Double], epistemicVariances: [Double], aleatoricVariances: [Double]) {
        precondition(
            means.count == epistemicVariances.count && means.count == aleatoricVariances.count,
            "one mean and two variances per row")
        self.means = means
        self.epistemicVariances = epistemicVariances
        self.aleatoricVariances = aleatoricVariances
    }

    /// Epistemic plus aleatoric variance: the variance of the predictive distribution (law of total variance).
    public var predictiveVariances: [Double] { zip(epistemicVariances, aleatoricVariances).map { $0 + $1 } }

    /// Predicts target 0 of every row of `features` (`width` raw values per row, normalised as the file says) with
    /// `sampleCount` dropout passes; row `i` uses seed `seed + i`, as `mcdropout-train --csv` stores its metrics.
    public init(model: DropoutMLP, metadata: ModelMetadata, features: [Float], sampleCount: Int, seed: UInt64) {
        precondition(!metadata.head.isClassification, "a regression head")
        let width = model.layerSizes[0]
        precondition(features.count % width == 0, "whole rows of the model's input width")
        let predictor = MonteCarloPredictor(model: model, head: metadata.head)
        var means: [Double] = []
        var epistemic: [Double] = []
        var aleatoric: [Double] = []
        var input: [Float] = []
        for row in 0..<(features.count / width) {
            input.removeAll(keepingCapacity: true)
            metadata.appendNetworkInputs(Array(features[(row * width)..<((row + 1) * width)]), to: &input)
            let summary = predictor.predict(input, sampleCount: sampleCount, seed: seed &+ UInt64(row))
            means.append(Double(summary.regressionMean(0)))
            epistemic.append(Double(summary.epistemicVariance(0)))
            aleatoric.append(Double(summary.aleatoricVariance(0)))
        }
        self.init(means: means, epistemicVariances: epistemic, aleatoricVariances: aleatoric)
    }
}

/// Test-set quality of a regression model's predictive distribution, each row taken as Gaussian with the
/// predictive mean and variance (Gal & Ghahramani 2016; Hernández-Lobato & Adams 2015): RMSE of the mean, mean
/// Gaussian log-likelihood in nats (in target units, so it depends on the target's scale), and the fraction of rows
/// whose target lies in the central 50 / 90 / 95 % interval `mean ± z·σ`.
public struct RegressionMetrics: Sendable, Equatable, Codable {
    /// The number of rows.
    public var count: Int
    public var rootMeanSquaredError: Double
    /// The mean over rows of `log N(y; μ, σ²)`, natural log.
    public var logLikelihood: Double
    /// Fractions (0–1) of rows inside the central 50, 90 and 95 % intervals.
    public var coverage50: Double
    public var coverage90: Double
    public var coverage95: Double

    /// The intervals' nominal levels and their standard-normal half-widths `z`.
    public static let intervals: [(level: Double, z: Double)] = [
        (0.50, 0.6744897501960817), (0.90, 1.6448536269514722), (0.95, 1.959963984540054),
    ]
    /// The smallest variance used, so that a zero spread (dropout 0, a constant row) gives a finite likelihood.
    public static let varianceFloor = 1e-12

    /// Scores `predictions` against `targets` (one per row), with the predictive variance (epistemic + aleatoric).
    public init(targets: [Double], predictions: RegressionPredictions) {
        self.init(targets: targets, means: predictions.means, variances: predictions.predictiveVariances)
    }

    /// Scores Gaussian predictions `N(means[i], variances[i])` against `targets`.
    public init(targets: [Double], means: [Double], variances: [Double]) {
        precondition(!targets.isEmpty && targets.count == means.count && targets.count == variances.count)
        var squared: Double = 0
        var logLikelihood: Double = 0
        var covered = [Int](repeating: 0, count: Self.intervals.count)
        for row in targets.indices {
            let variance = max(variances[row], Self.varianceFloor)
            let error = targets[row] - means[row]
            squared += error * error
            logLikelihood += -0.5 * (log(2 * Double.pi * variance) + error * error / variance)
            for (index, interval) in Self.intervals.enumerated() where abs(error) <= interval.z * variance.squareRoot()
            {
                covered[index] += 1
            }
        }
        let n = Double(targets.count)
        count = targets.count
        rootMeanSquaredError = (squared / n).squareRoot()
        self.logLikelihood = logLikelihood / n
        coverage50 = Double(covered[0]) / n
        coverage90 = Double(covered[1]) / n
        coverage95 = Double(covered[2]) / n
    }

    /// The coverages in the order of ``intervals``.
    public var coverages: [Double] { [coverage50, coverage90, coverage95] }

    enum CodingKeys: String, CodingKey {
        case count
        case rootMeanSquaredError = "rmse"
        case logLikelihood = "log_likelihood"
        case coverage50 = "coverage_50"
        case coverage90 = "coverage_90"
        case coverage95 = "coverage_95"
    }
}
