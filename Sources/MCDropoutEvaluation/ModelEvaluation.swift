public import MCDropout
public import MCDropoutData

/// What `mcdropout-eval evaluate` measures, and on how many images.
public struct EvaluationOptions: Sendable, Equatable {
    /// Monte-Carlo sample counts N, besides dropout off.
    public var sampleCounts: [Int] = [1, 10, 30, 100, 1000]
    /// The N of the detailed OOD, calibration and selective-prediction results and of the threshold.
    public var mainSamples = 100
    /// Sample counts at or above this use only the first ``largeSamplesLimit`` images of each set.
    public var largeSamplesFrom = 1000
    /// Images of each set evaluated at large N (0 = all).
    public var largeSamplesLimit = 1000
    /// Test image `i` uses seed `seed + i`, OOD image `i` seed `seed + 2^32 + i`, for every N.
    public var seed: UInt64 = 2026
    /// The accuracy the kept predictions must reach for the recommended threshold.
    public var targetAccuracy = 0.995
    /// OpenBLAS threads, recorded in the result (the caller sets them).
    public var blasThreads = 1
    /// Also compare adaptive sampling with fixed ``mainSamples``.
    public var compareAdaptive = false
    /// With ``compareAdaptive``: stop when the decision is settled (``AdaptiveSampling/decisive(uncertainty:)``,
    /// settled on the model's stored rule by ``AdaptiveSampling/settle(_:head:)`` as the server's `"samples": "auto"`
    /// does) instead of the precision rule ``AdaptiveSampling/standard``.
    public var adaptiveDecisive = false

    public init() {}
}

/// One model's evaluation: dropout off and MC dropout at each N on a test set and an out-of-distribution set —
/// accuracy, NLL, Brier, ECE, OOD detection, selective prediction — as an ``EvaluationReport``.
public struct ModelEvaluation {
    /// The networks: one, or a deep ensemble's members.
    let model: [DropoutMLP]
    /// How pixels become network inputs (the file's ``ModelMetadata/inputPreparation``).
    let input: InputPreparation
    let options: EvaluationOptions
    let test: LabeledImages
    let ood: LabeledImages?
    let labels: [Int]
    /// The model's stored uncertainty rule (either form), whose verdict the decisive adaptive rule must settle.
    let uncertaintyRule: UncertaintyRule?
    /// The model's output head.
    let head: OutputHead
    /// The model's density statistics, when its file holds them.
    let density: DensityModel?
    let log: (String) -> Void

    /// Evaluates `file` (named `modelPath` in the result) on `test` and, when given, the out-of-distribution set
    /// `ood`; progress lines go to `log`.
    public static func run(
        _ file: ModelFile, modelPath: String, test: LabeledImages, ood: (name: String, images: LabeledImages)?,
        options: EvaluationOptions, log: @escaping (String) -> Void = { _ in }
    ) -> EvaluationReport {
        let evaluation = ModelEvaluation(
            model: file.members, input: file.metadata.inputPreparation, options: options, test: test, ood: ood?.images,
            labels: test.labels.map(Int.init), uncertaintyRule: (try? file.uncertaintyRule()) ?? nil,
            head: file.metadata.head, density: file.density, log: log)
        let metadata = file.metadata
        log(
            "\(modelPath): \(metadata.dataset) test \(test.count) images, "
                + "OOD \(ood?.name ?? "none") \(ood?.images.count ?? 0) images"
        )
        var report = EvaluationReport(
            model: modelPath, modelFingerprint: ThresholdWriter.fingerprint(of: file.model), dataset: metadata.dataset,
            architecture: metadata.layerSizes, dropout: metadata.dropoutProbabilities.map(shortestDecimal),
            oodDataset: ood?.name, testCount: test.count, oodCount: ood?.images.count ?? 0, seed: options.seed,
            mainSamples: options.mainSamples, largeSamplesFrom: options.largeSamplesFrom,
            largeSamplesLimit: options.largeSamplesLimit, targetAccuracy: options.targetAccuracy,
            blasThreads: options.blasThreads, rows: [], reliability: [:], ood: [:], histograms: [:], selective: [:],
            recommendedThreshold: nil, thresholdWritten: false, adaptive: nil)
        report.members = file.members.count
        if let rule = (try? file.uncertaintyRule()) ?? nil {
            report.storedRule = rule.conditions.map { "`\($0.score.rawValue) > \(Float($0.threshold))`" }
                .joined(separator: " or ")
        }
        evaluation.fill(&report)
        return report
    }

    private var oodSeed: UInt64 { options.seed &+ (1 << 32) }

    private func monteCarlo(_ data: LabeledImages, samples: Int, seed: UInt64) -> PredictionSet {
        PredictionSet.monteCarlo(model, on: data, input: input, sampleCount: samples, firstSeed: seed)
    }

    private func fill(_ report: inout EvaluationReport) {
        let deterministicIn = PredictionSet.deterministic(model, on: test, input: input)
        let deterministicOut = ood.map { PredictionSet.deterministic(model, on: $0, input: input) }
        report.rows.append(row(.deterministic, samples: 0, deterministicIn, deterministicOut, labels: labels))
        log(summaryLine("deterministic", report.rows[report.rows.count - 1]))
        var fullSets: [Int: (inSet: PredictionSet, outSet: PredictionSet?)] = [:]
        var hasSubsetBaselines = false
        var mainIn: PredictionSet?
        var mainOut: PredictionSet?
        let limit = options.largeSamplesLimit
        for count in options.sampleCounts {
            let isSubset = count >= options.largeSamplesFrom && limit > 0
            if isSubset && !hasSubsetBaselines && limit < test.count {
                // Like-for-like baselines on the images the large-N rows use: dropout off and every full-set N,
                // cut to the subset (the same per-image seeds, so the same predictions).
                hasSubsetBaselines = true
                let outCount = ood.map { min(limit, $0.count) }
                let subsetLabels = Array(labels[0..<limit])
                report.rows.append(
                    row(
                        .deterministic, samples: 0, deterministicIn.prefix(limit),
                        outCount.flatMap { deterministicOut?.prefix($0) }, labels: subsetLabels))
                for (fullCount, sets) in fullSets.sorted(by: { $0.key < $1.key }) {
                    report.rows.append(
                        row(
                            .monteCarlo, samples: fullCount, sets.inSet.prefix(limit),
                            outCount.flatMap { sets.outSet?.prefix($0) }, labels: subsetLabels))
                }
                log(
                    "added dropout-off and N ∈ \(fullSets.keys.sorted()) rows on the first \(limit) images for "
                        + "comparison"
                )
            }
            let testSet = isSubset ? test.subset(0..<min(limit, test.count)) : test
            let oodSet = ood.map { isSubset ? $0.subset(0..<min(limit, $0.count)) : $0 }
            let inSet = monteCarlo(testSet, samples: count, seed: options.seed)
            let outSet = oodSet.map { monteCarlo($0, samples: count, seed: oodSeed) }
            report.rows.append(
                row(.monteCarlo, samples: count, inSet, outSet, labels: Array(labels[0..<testSet.count])))
            log(summaryLine("MC N=\(count)", report.rows[report.rows.count - 1]))
            if !isSubset { fullSets[count] = (inSet, outSet) }
            if count == options.mainSamples && !isSubset {
                mainIn = inSet
                mainOut = outSet
            }
        }
        if mainIn == nil {
            log("main N=\(options.mainSamples) not among the full-set counts; computing it")
            mainIn = monteCarlo(test, samples: options.mainSamples, seed: options.seed)
            mainOut = ood.map { monteCarlo($0, samples: options.mainSamples, seed: oodSeed) }
        }
        guard let mainIn else { return }
        if options.compareAdaptive { report.adaptive = adaptiveComparison(mainIn: mainIn, mainOut: mainOut) }

        let modes: [(mode: PredictionMode, inSet: PredictionSet, outSet: PredictionSet?, scores: [UncertaintyScore])] =
            [
                (.deterministic, deterministicIn, deterministicOut, [.maxProbability, .predictiveEntropy]),
                (.monteCarlo, mainIn, mainOut, UncertaintyScore.allCases),
            ]
        var best: (score: UncertaintyScore, point: CoveragePoint)?
        for mode in modes {
            let correct = mode.inSet.isCorrect(labels: labels)
            report.reliability[mode.mode] = ReliabilitySummary(
                ReliabilityDiagram(
                    confidences: Scoring.confidences(mode.inSet.probabilities), isCorrect: correct, binCount: 15))
            var detection: [UncertaintyScore: DetectionSummary] = [:]
            var histograms: [UncertaintyScore: HistogramSummary] = [:]
            var selective: [UncertaintyScore: SelectiveSummary] = [:]
            for score in mode.scores {
                let uncertainties = mode.inSet.score(score)
                let curve = SelectivePrediction(uncertainties: uncertainties, isCorrect: correct)
                let chosen = curve.threshold(forAccuracy: options.targetAccuracy)
                selective[score] = SelectiveSummary(
                    threshold: chosen?.threshold, coverage: chosen?.coverage, accuracy: chosen?.accuracy,
                    areaUnderCurve: curve.areaUnderCurve,
                    curve: thin(curve.curve, limit: 300).map { CurvePoint($0.coverage, $0.accuracy) })
                if mode.mode == .monteCarlo, let chosen, chosen.coverage > (best?.point.coverage ?? -1) {
                    best = (score, chosen)
                }
                guard let outSet = mode.outSet else { continue }
                let outScores = outSet.score(score)
                let metrics = DetectionMetrics(
                    scores: uncertainties + outScores,
                    isPositive: Array(repeating: false, count: uncertainties.count)
                        + Array(repeating: true, count: outScores.count))
                detection[score] = DetectionSummary(
                    auroc: metrics.areaUnderROC, aupr: metrics.averagePrecision,
                    fprAt95Tpr: metrics.falsePositiveRate(atTruePositiveRate: 0.95),
                    roc: thin(metrics.rocCurve, limit: 400).map {
                        CurvePoint($0.falsePositiveRate, $0.truePositiveRate)
                    })
                histograms[score] = HistogramSummary(uncertainties, outScores)
            }
            report.ood[mode.mode] = detection
            report.histograms[mode.mode] = histograms
            report.selective[mode.mode] = selective
        }
        if let best {
            report.recommendedThreshold = UncertaintyThreshold(
                score: best.score, value: best.point.threshold, targetAccuracy: options.targetAccuracy,
                coverage: best.point.coverage, sampleCount: options.mainSamples)
            log(
                "recommended: \(best.score.rawValue) ≤ \(best.point.threshold) keeps "
                    + "\(percent(best.point.coverage)) of "
                    + "the test set at \(percent(best.point.accuracy, digits: 3)) accuracy (N=\(options.mainSamples))")
        } else {
            log("no MC score reaches \(options.targetAccuracy * 100)% accuracy on any non-empty kept set")
        }
    }

    /// Adaptive sampling against fixed N on the large-N subset (all images when there is none).
    private func adaptiveComparison(mainIn: PredictionSet, mainOut: PredictionSet?) -> AdaptiveSummary {
        let limit = options.largeSamplesLimit
        let inCount = limit > 0 ? min(limit, test.count) : test.count
        let outCount = ood.map { limit > 0 ? min(limit, $0.count) : $0.count }
        var rule = options.adaptiveDecisive ? AdaptiveSampling.decisive(uncertainty: nil) : .standard
        // The server's `"samples": "auto"` settles the stored rule the same way (one code path).
        rule.settle(uncertaintyRule, head: head)
        let adaptiveIn = AdaptiveComparison.predictions(
            model, on: test.subset(0..<inCount), input: input, sampling: rule, firstSeed: options.seed,
            density: density, rule: uncertaintyRule)
        let adaptiveOut = ood.map {
            AdaptiveComparison.predictions(
                model, on: $0.subset(0..<(outCount ?? 0)), input: input, sampling: rule, firstSeed: oodSeed,
                density: density, rule: uncertaintyRule)
        }
        let subsetLabels = Array(labels[0..<inCount])
        var adaptiveRow = row(.adaptive, samples: 0, adaptiveIn, adaptiveOut, labels: subsetLabels)
        adaptiveRow.passesIn = AdaptiveComparison.passStatistics(adaptiveIn, maximum: rule.maximumSamples)
        adaptiveRow.passesOut = AdaptiveComparison.passStatistics(adaptiveOut, maximum: rule.maximumSamples)
        if let adaptiveOut {
            // The passes the sampler needed are themselves an uncertainty score.
            adaptiveRow.passesAuroc =
                DetectionMetrics(
                    scores: (adaptiveIn.passes + adaptiveOut.passes).map(Double.init),
                    isPositive: Array(repeating: false, count: adaptiveIn.count)
                        + Array(repeating: true, count: adaptiveOut.count)
                ).areaUnderROC
        }
        let fixedRow = row(
            .monteCarlo, samples: options.mainSamples, mainIn.prefix(inCount),
            outCount.flatMap { mainOut?.prefix($0) }, labels: subsetLabels)
        log(
            summaryLine("adaptive \"auto\"", adaptiveRow)
                + ", mean passes \(adaptiveRow.passesIn?.mean ?? 0) in, \(adaptiveRow.passesOut?.mean ?? 0) out")
        return AdaptiveSummary(rule: AdaptiveSummary.Rule(rule), rows: [adaptiveRow, fixedRow])
    }

    /// One row of the metric-vs-N table.
    private func row(
        _ mode: PredictionMode, samples: Int, _ inSet: PredictionSet, _ outSet: PredictionSet?, labels: [Int]
    ) -> MetricRow {
        let correct = inSet.isCorrect(labels: labels)
        let diagram = ReliabilityDiagram(confidences: Scoring.confidences(inSet.probabilities), isCorrect: correct)
        var row = MetricRow(
            mode: mode, samples: samples, images: inSet.count,
            accuracy: Scoring.accuracy(inSet.probabilities, labels: labels),
            nll: Scoring.negativeLogLikelihood(inSet.probabilities, labels: labels),
            brier: Scoring.brierScore(inSet.probabilities, labels: labels),
            ece: diagram.expectedCalibrationError, mce: diagram.maximumCalibrationError,
            meanPredictiveEntropy: inSet.mean(.predictiveEntropy),
            meanMutualInformation: inSet.mean(.mutualInformation), seconds: inSet.seconds + (outSet?.seconds ?? 0))
        guard let outSet else { return row }
        row.oodImages = outSet.count
        row.oodMeanPredictiveEntropy = outSet.mean(.predictiveEntropy)
        row.oodMeanMutualInformation = outSet.mean(.mutualInformation)
        var auroc: [UncertaintyScore: Double] = [:]
        for score in UncertaintyScore.allCases
        where mode != .deterministic || score == .maxProbability || score == .predictiveEntropy {
            let inScores = inSet.score(score)
            let outScores = outSet.score(score)
            auroc[score] =
                DetectionMetrics(
                    scores: inScores + outScores,
                    isPositive: Array(repeating: false, count: inScores.count)
                        + Array(repeating: true, count: outScores.count)
                ).areaUnderROC
        }
        row.oodAuroc = auroc
        return row
    }

    private func summaryLine(_ label: String, _ row: MetricRow) -> String {
        let entropy = row.oodAuroc?[.predictiveEntropy].map { fixed($0, 4) } ?? "–"
        let information = row.oodAuroc?[.mutualInformation].map { fixed($0, 4) } ?? "–"
        return "\(label): \(row.images) images, accuracy \(percent(row.accuracy)), NLL \(fixed(row.nll, 4)), "
            + "ECE \(fixed(row.ece, 4)), OOD AUROC entropy \(entropy) MI \(information) (\(fixed(row.seconds, 1)) s)"
    }
}

extension HistogramSummary {
    /// Fractions of in- and out-of-distribution scores in `binCount` equal bins from 0 to the largest score.
    init(_ inScores: [Double], _ outScores: [Double], binCount: Int = 40) {
        let upper = max((inScores + outScores).max() ?? 1, 1e-12)
        func fractions(_ values: [Double]) -> [Double] {
            var counts = [Int](repeating: 0, count: binCount)
            for value in values { counts[min(max(Int(value / upper * Double(binCount)), 0), binCount - 1)] += 1 }
            return counts.map { Double($0) / Double(max(values.count, 1)) }
        }
        self.init(
            upper: upper, inDistribution: fractions(inScores), outOfDistribution: fractions(outScores),
            inMean: inScores.reduce(0, +) / Double(max(inScores.count, 1)),
            outMean: outScores.reduce(0, +) / Double(max(outScores.count, 1)))
    }
}
