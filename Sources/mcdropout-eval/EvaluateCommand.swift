import ArgumentParser
import Foundation
import MCDropout
import MCDropoutEvaluation
import MCDropoutJSON
import MCDropoutData
import MCDropoutTraining

/// `mcdropout-eval evaluate`: deterministic vs Monte-Carlo dropout on a test set and an out-of-distribution set.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Accuracy, NLL, Brier, ECE, OOD detection and selective prediction; writes <output-dir>/<name>.json.",
        discussion: """
            Dropout off (weight scaling) and MC dropout at each --sample-counts value, on the model's test set and on
            an out-of-distribution test set (default: the other of mnist / fashion-mnist). Image i of the test set
            uses seed --seed + i, OOD image i seed --seed + 2^32 + i, for every N. Counts from
            --large-samples-from upward use only the first --large-samples-limit images of each set (stated in the
            output) to keep N = 1000 affordable.

            Example:
              mcdropout-eval evaluate --model models/mnist.safetensors --write-threshold
            """)

    @Option(help: "The model file.")
    var model: String
    @Option(help: "Test set directory (default data/<dataset from the model metadata>).")
    var dataDir: String?
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
    @Option(help: "First per-image seed.")
    var seed: UInt64 = 2026
    @Option(help: "Accuracy the selective-prediction threshold must reach on the kept predictions.")
    var targetAccuracy: Double = 0.995
    @Option(help: "OpenBLAS threads.")
    var threads: Int = 1
    @Option(help: "Directory for the JSON result.")
    var outputDir: String = "docs/evaluation"
    @Option(help: "Name of the result (default: the model's dataset).")
    var name: String?
    @Flag(help: "Write the recommended threshold into the model file's metadata (extension \"uncertainty\").")
    var writeThreshold = false
    @Flag(help: "Also compare the server's adaptive sampling (samples: \"auto\") with fixed --main-samples, on the large-N image subset.")
    var compareAdaptive = false

    func validate() throws {
        guard mainSamples >= 1, threads >= 1, largeSamplesLimit >= 0, limit >= 0 else {
            throw ValidationError("--main-samples and --threads must be ≥ 1, limits ≥ 0")
        }
        guard targetAccuracy > 0, targetAccuracy <= 1 else { throw ValidationError("--target-accuracy must be in (0, 1]") }
    }

    func run() throws {
        BLAS.setThreadCount(threads)
        let counts = try parseCounts(sampleCounts)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: model)))
        let file = try ModelFile(decoding: bytes)
        let metadata = file.metadata
        let scale = metadata.inputScale
        var test = try DatasetLoader.load(directory: dataDir ?? "data/\(metadata.dataset)", split: .test)
        if limit > 0 { test = test.subset(0..<min(limit, test.count)) }
        let oodName = oodDataset ?? (metadata.dataset == "mnist" ? "fashion-mnist" : "mnist")
        var ood: LabeledImages?
        if oodName != "none" {
            var set = try DatasetLoader.load(directory: oodDataDir ?? "data/\(oodName)", split: .test)
            if limit > 0 { set = set.subset(0..<min(limit, set.count)) }
            ood = set
        }
        let labels = test.labels.map(Int.init)
        let oodSeed = seed &+ (1 << 32)
        log("\(model): \(metadata.dataset) test \(test.count) images, OOD \(oodName) \(ood?.count ?? 0) images")

        // Rows of the metric-vs-N table: deterministic first, then each N.
        var rows: [JSONValue] = []
        var mainIn: PredictionSet?
        var mainOut: PredictionSet?
        let deterministicIn = PredictionSet.deterministic(file.model, on: test, inputScale: scale)
        let deterministicOut = ood.map { PredictionSet.deterministic(file.model, on: $0, inputScale: scale) }
        rows.append(row(mode: "deterministic", samples: 0, inSet: deterministicIn, outSet: deterministicOut, labels: labels))
        log(summaryLine("deterministic", rows[rows.count - 1]))
        var fullSets: [Int: (inSet: PredictionSet, outSet: PredictionSet?)] = [:]
        var hasSubsetBaselines = false
        for count in counts {
            let subset = count >= largeSamplesFrom && largeSamplesLimit > 0
            if subset && !hasSubsetBaselines && largeSamplesLimit < test.count {
                // Like-for-like baselines on the images the large-N rows use: dropout off and every full-set N,
                // cut to the subset (the same per-image seeds, so the same predictions).
                hasSubsetBaselines = true
                let inCount = largeSamplesLimit
                let outCount = ood.map { min(largeSamplesLimit, $0.count) }
                let subsetLabels = Array(labels[0..<inCount])
                rows.append(row(
                    mode: "deterministic", samples: 0, inSet: deterministicIn.prefix(inCount),
                    outSet: outCount.flatMap { count in deterministicOut?.prefix(count) }, labels: subsetLabels))
                for (fullCount, sets) in fullSets.sorted(by: { $0.key < $1.key }) {
                    rows.append(row(
                        mode: "monte_carlo", samples: fullCount, inSet: sets.inSet.prefix(inCount),
                        outSet: outCount.flatMap { count in sets.outSet?.prefix(count) }, labels: subsetLabels))
                }
                log("added dropout-off and N ∈ \(fullSets.keys.sorted()) rows on the first \(inCount) images for comparison")
            }
            let testSet = subset ? test.subset(0..<min(largeSamplesLimit, test.count)) : test
            let oodSet = ood.map { subset ? $0.subset(0..<min(largeSamplesLimit, $0.count)) : $0 }
            let inSet = PredictionSet.monteCarlo(
                file.model, on: testSet, inputScale: scale, sampleCount: count, firstSeed: seed)
            let outSet = oodSet.map {
                PredictionSet.monteCarlo(file.model, on: $0, inputScale: scale, sampleCount: count, firstSeed: oodSeed)
            }
            rows.append(row(mode: "monte_carlo", samples: count, inSet: inSet, outSet: outSet, labels: Array(labels[0..<testSet.count])))
            log(summaryLine("MC N=\(count)", rows[rows.count - 1]))
            if !subset { fullSets[count] = (inSet, outSet) }
            if count == mainSamples && !subset {
                mainIn = inSet
                mainOut = outSet
            }
        }
        if mainIn == nil {
            log("main N=\(mainSamples) not among the full-set counts; computing it")
            mainIn = PredictionSet.monteCarlo(file.model, on: test, inputScale: scale, sampleCount: mainSamples, firstSeed: seed)
            mainOut = ood.map {
                PredictionSet.monteCarlo(file.model, on: $0, inputScale: scale, sampleCount: mainSamples, firstSeed: oodSeed)
            }
        }

        var adaptive = JSONValue.null
        if compareAdaptive, let mainIn {
            // On the large-N subset (all images when there is none), against fixed N cut to the same images.
            let inCount = largeSamplesLimit > 0 ? min(largeSamplesLimit, test.count) : test.count
            let outCount = ood.map { largeSamplesLimit > 0 ? min(largeSamplesLimit, $0.count) : $0.count }
            let rule = AdaptiveSampling.standard
            let adaptiveIn = AdaptiveComparison.predictions(
                file.model, on: test.subset(0..<inCount), inputScale: scale, sampling: rule, firstSeed: seed)
            let adaptiveOut = ood.map {
                AdaptiveComparison.predictions(
                    file.model, on: $0.subset(0..<outCount!), inputScale: scale, sampling: rule, firstSeed: oodSeed)
            }
            let subsetLabels = Array(labels[0..<inCount])
            var comparison = [
                row(mode: "adaptive", samples: 0, inSet: adaptiveIn, outSet: adaptiveOut, labels: subsetLabels),
                row(
                    mode: "monte_carlo", samples: mainSamples, inSet: mainIn.prefix(inCount),
                    outSet: outCount.flatMap { count in mainOut?.prefix(count) }, labels: subsetLabels),
            ]
            func passStatistics(_ set: PredictionSet?) -> JSONValue {
                guard let set, !set.passes.isEmpty else { return .null }
                return object([
                    ("mean", number(Double(set.passes.reduce(0, +)) / Double(set.passes.count))),
                    ("max", .number(Double(set.passes.max() ?? 0))),
                    ("at_maximum", number(Double(set.passes.filter { $0 >= rule.maximumSamples }.count) / Double(set.passes.count))),
                ])
            }
            if case .object(let members) = comparison[0] {
                var extra: [JSONObject.Member] = [
                    ("passes_in", passStatistics(adaptiveIn)), ("passes_out", passStatistics(adaptiveOut)),
                ]
                if let adaptiveOut {
                    // The passes the sampler needed are themselves an uncertainty score.
                    let metrics = DetectionMetrics(
                        scores: (adaptiveIn.passes + adaptiveOut.passes).map(Double.init),
                        isPositive: Array(repeating: false, count: adaptiveIn.count) + Array(repeating: true, count: adaptiveOut.count))
                    extra.append(("passes_auroc", number(metrics.areaUnderROC)))
                }
                comparison[0] = .object(JSONObject(members.members + extra))
            }
            adaptive = object([("rule", AdaptiveComparison.ruleJSON(rule)), ("rows", .array(comparison))])
            log(summaryLine("adaptive \"auto\"", comparison[0]) + String(
                format: ", mean passes %.1f in, %.1f out", comparison[0]["passes_in"]?["mean"]?.doubleValue ?? 0,
                comparison[0]["passes_out"]?["mean"]?.doubleValue ?? 0))
        }

        let modes: [(name: String, inSet: PredictionSet, outSet: PredictionSet?, scores: [UncertaintyScore])] = [
            ("deterministic", deterministicIn, deterministicOut, [.maxProbability, .predictiveEntropy]),
            ("monte_carlo", mainIn!, mainOut, UncertaintyScore.allCases),
        ]
        var reliability: [JSONObject.Member] = []
        var detection: [JSONObject.Member] = []
        var histograms: [JSONObject.Member] = []
        var selective: [JSONObject.Member] = []
        var best: (score: UncertaintyScore, point: CoveragePoint)?
        for mode in modes {
            let correct = mode.inSet.isCorrect(labels: labels)
            let diagram = ReliabilityDiagram(
                confidences: Scoring.confidences(mode.inSet.probabilities), isCorrect: correct, binCount: 15)
            reliability.append((mode.name, reliabilityJSON(diagram)))
            var detectionMembers: [JSONObject.Member] = []
            var histogramMembers: [JSONObject.Member] = []
            var selectiveMembers: [JSONObject.Member] = []
            for score in mode.scores {
                let uncertainties = mode.inSet.score(score)
                let curve = SelectivePrediction(uncertainties: uncertainties, isCorrect: correct)
                let chosen = curve.threshold(forAccuracy: targetAccuracy)
                selectiveMembers.append(
                    (
                        score.rawValue,
                        object([
                            ("threshold", chosen.map { number($0.threshold) } ?? .null),
                            ("coverage", chosen.map { number($0.coverage) } ?? .null),
                            ("accuracy", chosen.map { number($0.accuracy) } ?? .null),
                            ("area_under_curve", number(curve.areaUnderCurve)),
                            ("curve", pairs(thin(curve.curve, limit: 300).map { ($0.coverage, $0.accuracy) })),
                        ])
                    ))
                if mode.name == "monte_carlo", let chosen, chosen.coverage > (best?.point.coverage ?? -1) {
                    best = (score, chosen)
                }
                guard let outSet = mode.outSet else { continue }
                let outScores = outSet.score(score)
                let metrics = DetectionMetrics(
                    scores: uncertainties + outScores,
                    isPositive: Array(repeating: false, count: uncertainties.count)
                        + Array(repeating: true, count: outScores.count))
                detectionMembers.append(
                    (
                        score.rawValue,
                        object([
                            ("auroc", number(metrics.areaUnderROC)), ("aupr", number(metrics.averagePrecision)),
                            ("fpr_at_95_tpr", number(metrics.falsePositiveRate(atTruePositiveRate: 0.95))),
                            ("roc", pairs(thin(metrics.rocCurve, limit: 400).map { ($0.falsePositiveRate, $0.truePositiveRate) })),
                        ])
                    ))
                histogramMembers.append((score.rawValue, histogramJSON(uncertainties, outScores)))
            }
            detection.append((mode.name, object(detectionMembers)))
            histograms.append((mode.name, object(histogramMembers)))
            selective.append((mode.name, object(selectiveMembers)))
        }

        var recommended: UncertaintyThreshold?
        if let best {
            recommended = UncertaintyThreshold(
                score: best.score, value: best.point.threshold, targetAccuracy: targetAccuracy,
                coverage: best.point.coverage, sampleCount: mainSamples)
            log(String(format: "recommended: %@ ≤ %.6g keeps %.2f%% of the test set at %.3f%% accuracy (N=%d)",
                best.score.rawValue, best.point.threshold, best.point.coverage * 100, best.point.accuracy * 100, mainSamples))
        } else {
            log("no MC score reaches \(targetAccuracy * 100)% accuracy on any non-empty kept set")
        }

        let result = object([
            ("model", .string(model)),
            ("model_fingerprint", .string(ThresholdWriter.fingerprint(of: file.model))),
            ("dataset", .string(metadata.dataset)),
            ("architecture", .array(metadata.layerSizes.map { .number(Double($0)) })),
            ("dropout", .array(metadata.dropoutProbabilities.map { .number(shortestDecimal($0)) })),
            ("ood_dataset", ood == nil ? .null : .string(oodName)),
            ("test_count", .number(Double(test.count))),
            ("ood_count", .number(Double(ood?.count ?? 0))),
            ("seed", .number(Double(seed))),
            ("main_samples", .number(Double(mainSamples))),
            ("large_samples_from", .number(Double(largeSamplesFrom))),
            ("large_samples_limit", .number(Double(largeSamplesLimit))),
            ("target_accuracy", .number(targetAccuracy)),
            ("blas_threads", .number(Double(threads))),
            ("rows", .array(rows)),
            ("reliability", .object(JSONObject(reliability))),
            ("ood", .object(JSONObject(detection))),
            ("histograms", .object(JSONObject(histograms))),
            ("selective", .object(JSONObject(selective))),
            ("recommended_threshold", recommended?.jsonValue ?? .null),
            ("threshold_written", .bool(writeThreshold && recommended != nil)),
            ("adaptive", adaptive),
        ])
        try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
        let path = "\(outputDir)/\(name ?? metadata.dataset).json"
        try Data(result.serialized()).write(to: URL(fileURLWithPath: path))
        log("wrote \(path)")

        if writeThreshold, let recommended {
            try ThresholdWriter.write(recommended, toModelAt: model, original: bytes)
            log("wrote the threshold into \(model)")
        }
    }

    private func parseCounts(_ text: String) throws -> [Int] {
        let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw ValidationError("--sample-counts: positive integers, comma-separated")
        }
        return values.map { $0! }
    }

    /// One row of the metric-vs-N table.
    private func row(mode: String, samples: Int, inSet: PredictionSet, outSet: PredictionSet?, labels: [Int]) -> JSONValue {
        let correct = inSet.isCorrect(labels: labels)
        let diagram = ReliabilityDiagram(confidences: Scoring.confidences(inSet.probabilities), isCorrect: correct)
        var members: [JSONObject.Member] = [
            ("mode", .string(mode)),
            ("samples", .number(Double(samples))),
            ("images", .number(Double(inSet.count))),
            ("accuracy", number(Scoring.accuracy(inSet.probabilities, labels: labels))),
            ("nll", number(Scoring.negativeLogLikelihood(inSet.probabilities, labels: labels))),
            ("brier", number(Scoring.brierScore(inSet.probabilities, labels: labels))),
            ("ece", number(diagram.expectedCalibrationError)),
            ("mce", number(diagram.maximumCalibrationError)),
            ("mean_predictive_entropy", number(inSet.mean(.predictiveEntropy))),
            ("mean_mutual_information", number(inSet.mean(.mutualInformation))),
            ("seconds", number(inSet.seconds + (outSet?.seconds ?? 0))),
        ]
        if let outSet {
            members.append(("ood_images", .number(Double(outSet.count))))
            members.append(("ood_mean_predictive_entropy", number(outSet.mean(.predictiveEntropy))))
            members.append(("ood_mean_mutual_information", number(outSet.mean(.mutualInformation))))
            var auroc: [JSONObject.Member] = []
            for score in UncertaintyScore.allCases where mode != "deterministic" || score == .maxProbability || score == .predictiveEntropy {
                let inScores = inSet.score(score)
                let outScores = outSet.score(score)
                let metrics = DetectionMetrics(
                    scores: inScores + outScores,
                    isPositive: Array(repeating: false, count: inScores.count) + Array(repeating: true, count: outScores.count))
                auroc.append((score.rawValue, number(metrics.areaUnderROC)))
            }
            members.append(("ood_auroc", object(auroc)))
        }
        return object(members)
    }

    private func reliabilityJSON(_ diagram: ReliabilityDiagram) -> JSONValue {
        object([
            ("ece", number(diagram.expectedCalibrationError)),
            ("mce", number(diagram.maximumCalibrationError)),
            (
                "bins",
                .array(
                    diagram.bins.map {
                        object([
                            ("lower", number($0.lowerBound)), ("upper", number($0.upperBound)),
                            ("count", .number(Double($0.count))), ("confidence", number($0.meanConfidence)),
                            ("accuracy", number($0.accuracy)),
                        ])
                    })
            ),
        ])
    }

    /// Fractions of in- and out-of-distribution scores in 40 equal bins from 0 to the largest score.
    private func histogramJSON(_ inScores: [Double], _ outScores: [Double]) -> JSONValue {
        let upper = max((inScores + outScores).max() ?? 1, 1e-12)
        let binCount = 40
        func fractions(_ values: [Double]) -> [JSONValue] {
            var counts = [Int](repeating: 0, count: binCount)
            for value in values { counts[min(max(Int(value / upper * Double(binCount)), 0), binCount - 1)] += 1 }
            return counts.map { .number(Double($0) / Double(max(values.count, 1))) }
        }
        return object([
            ("upper", number(upper)), ("in", .array(fractions(inScores))), ("out", .array(fractions(outScores))),
            ("in_mean", number(inScores.reduce(0, +) / Double(max(inScores.count, 1)))),
            ("out_mean", number(outScores.reduce(0, +) / Double(max(outScores.count, 1)))),
        ])
    }

    private func summaryLine(_ label: String, _ row: JSONValue) -> String {
        let accuracy = (row["accuracy"]?.doubleValue ?? 0) * 100
        let nll = row["nll"]?.doubleValue ?? 0
        let ece = row["ece"]?.doubleValue ?? 0
        let entropyAUROC = row["ood_auroc"]?["predictive_entropy"]?.doubleValue ?? .nan
        let informationAUROC = row["ood_auroc"]?["mutual_information"]?.doubleValue ?? .nan
        return String(
            format: "%@: %d images, accuracy %.2f%%, NLL %.4f, ECE %.4f, OOD AUROC entropy %.4f MI %.4f (%.1f s)", label,
            row["images"]?.intValue ?? 0, accuracy, nll, ece, entropyAUROC, informationAUROC,
            row["seconds"]?.doubleValue ?? 0)
    }
}

/// Progress to standard error, so standard output stays clean.
func log(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
