public import MCDropout

/// The shift and out-of-distribution benchmark (after Ovadia et al. 2019): one model on its clean test set, shifted
/// copies of it and out-of-distribution sets, with and without dropout at inference, scored by every score the model
/// has and flagged by its stored rule.
public enum ShiftBenchmark {
    /// An image set to evaluate.
    public struct ImageSet: Sendable {
        /// Its name in the results, e.g. `"rotated 30°"` or `"fashion-mnist"`.
        public var name: String
        /// Raw pixels, one image after another.
        public var pixels: [UInt8]
        /// The true classes; nil for an out-of-distribution set.
        public var labels: [Int]?
        /// The rotation applied, for shifted sets.
        public var rotation: Double?

        /// Creates a set.
        public init(name: String, pixels: [UInt8], labels: [Int]?, rotation: Double? = nil) {
            self.name = name
            self.pixels = pixels
            self.labels = labels
            self.rotation = rotation
        }
    }

    /// What one mode did on one set.
    public struct SetResult: Codable, Sendable, Equatable {
        public var name: String
        public var rotation: Double?
        public var images: Int
        public var isOutOfDistribution: Bool
        /// Labelled sets only.
        public var accuracy: Double?
        public var negativeLogLikelihood: Double?
        public var brierScore: Double?
        public var expectedCalibrationError: Double?
        /// The share the stored rule flags (nil without a rule).
        public var flagged: Double?
        /// The accuracy of the answers the rule leaves unflagged (labelled sets with a rule).
        public var unflaggedAccuracy: Double?
        /// Per condition of the rule (in its order), the share it flags on its own.
        public var flaggedByCondition: [Double]
    }

    /// How well one score separates the clean test set (negatives) from one out-of-distribution set (positives).
    public struct Detection: Codable, Sendable, Equatable {
        public var outOfDistribution: String
        public var score: String
        public var areaUnderROC: Double
        public var averagePrecision: Double
        public var falsePositiveRateAt95: Double
    }

    /// Everything one inference mode gave.
    public struct ModeResult: Codable, Sendable, Equatable {
        /// `"deterministic"` (dropout off) or `"monte_carlo"`.
        public var mode: String
        /// Passes per image (0 for dropout off).
        public var samples: Int
        public var sets: [SetResult]
        public var detection: [Detection]
        /// Mean microseconds per image of the passes and of the density scores.
        public var passMicroseconds: Double
        public var densityMicroseconds: Double
    }

    /// The benchmark's result for one model.
    public struct Report: Codable, Sendable, Equatable {
        public var dataset: String
        public var architecture: [Int]
        public var firstSeed: UInt64
        /// The stored rule's conditions as `score > threshold`, in order (empty without a rule).
        public var rule: [String]
        public var ruleThresholds: [Double]
        public var modes: [ModeResult]
    }

    /// Runs the benchmark. The first labelled set with no rotation (or rotation 0) is the clean reference for
    /// detection; every unlabelled set is out-of-distribution.
    public static func run(
        file: ModelFile, sets: [ImageSet], sampleCount: Int, firstSeed: UInt64
    ) throws(ModelFileError) -> Report {
        let rule = try file.uncertaintyRule()
        var modes: [ModeResult] = []
        for samples in [0, sampleCount] {
            var results: [SetResult] = []
            var predictions: [ScoredPredictions] = []
            for set in sets {
                let scored = ScoredPredictions.evaluate(
                    model: file.model, members: file.members, density: file.density, pixels: set.pixels,
                    input: file.metadata.inputPreparation, sampleCount: samples, firstSeed: firstSeed)
                predictions.append(scored)
                results.append(result(of: set, scored, rule: samples == 0 ? nil : rule))
            }
            let clean = sets.firstIndex { $0.labels != nil && ($0.rotation ?? 0) == 0 } ?? 0
            var detection: [Detection] = []
            for (index, set) in sets.enumerated() where set.labels == nil {
                for score in FlagScore.allCases {
                    if samples == 0, case .uncertainty(let kind) = score,
                        kind == .mutualInformation || kind == .totalVariance
                    {
                        continue  // identically 0 with dropout off
                    }
                    guard let inside = predictions[clean].scores[score], let outside = predictions[index].scores[score]
                    else { continue }
                    let metrics = DetectionMetrics(
                        scores: inside + outside,
                        isPositive: Array(repeating: false, count: inside.count)
                            + Array(repeating: true, count: outside.count))
                    detection.append(
                        Detection(
                            outOfDistribution: set.name, score: score.rawValue, areaUnderROC: metrics.areaUnderROC,
                            averagePrecision: metrics.averagePrecision,
                            falsePositiveRateAt95: metrics.falsePositiveRate(atTruePositiveRate: 0.95)))
                }
            }
            let images = Double(max(predictions.reduce(0) { $0 + $1.count }, 1))
            modes.append(
                ModeResult(
                    mode: samples == 0 ? "deterministic" : "monte_carlo", samples: samples, sets: results,
                    detection: detection,
                    passMicroseconds: 1e6 * predictions.reduce(0) { $0 + $1.monteCarloSeconds } / images,
                    densityMicroseconds: 1e6 * predictions.reduce(0) { $0 + $1.densitySeconds } / images))
        }
        return Report(
            dataset: file.metadata.dataset, architecture: file.model.layerSizes, firstSeed: firstSeed,
            rule: rule?.conditions.map { "\($0.score.rawValue) > \($0.threshold)" } ?? [],
            ruleThresholds: rule?.conditions.map(\.threshold) ?? [], modes: modes)
    }

    static func result(of set: ImageSet, _ scored: ScoredPredictions, rule: UncertaintyRule?) -> SetResult {
        var result = SetResult(
            name: set.name, rotation: set.rotation, images: scored.count, isOutOfDistribution: set.labels == nil,
            flaggedByCondition: [])
        let flagged = rule.map { scored.flagged(by: $0) }
        if let flagged { result.flagged = share(flagged) }
        if let rule {
            result.flaggedByCondition = rule.conditions.map { condition in
                share((scored.scores[condition.score] ?? []).map { $0 > condition.threshold })
            }
        }
        guard let labels = set.labels else { return result }
        let correct = scored.isCorrect(labels: labels)
        result.accuracy = share(correct)
        result.negativeLogLikelihood = Scoring.negativeLogLikelihood(scored.probabilities, labels: labels)
        result.brierScore = Scoring.brierScore(scored.probabilities, labels: labels)
        result.expectedCalibrationError =
            ReliabilityDiagram(confidences: Scoring.confidences(scored.probabilities), isCorrect: correct)
            .expectedCalibrationError
        if let flagged {
            let kept = zip(correct, flagged).filter { !$0.1 }.map(\.0)
            result.unflaggedAccuracy = kept.isEmpty ? nil : share(kept)
        }
        return result
    }

    private static func share(_ values: [Bool]) -> Double {
        Double(values.filter { $0 }.count) / Double(max(values.count, 1))
    }
}
