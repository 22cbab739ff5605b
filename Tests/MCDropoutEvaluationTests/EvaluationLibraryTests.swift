import Foundation
import MCDropout
import MCDropoutData
import Testing

@testable import MCDropoutEvaluation

@Suite("Evaluation library: one prediction loop, one NLL, typed result files")
struct EvaluationLibraryTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func tinyReport(options: EvaluationOptions = EvaluationOptions()) -> EvaluationReport {
        ModelEvaluation.run(
            ModelFile(model: TinyEvaluationFixture.model, metadata: TinyEvaluationFixture.metadata),
            modelPath: "tiny.safetensors", test: TinyEvaluationFixture.classes(count: 60),
            ood: ("noise", TinyEvaluationFixture.noise(count: 40)), options: options)
    }

    var smallOptions: EvaluationOptions {
        var options = EvaluationOptions()
        options.sampleCounts = [1, 10, 30]
        options.mainSamples = 10
        options.largeSamplesFrom = 30
        options.largeSamplesLimit = 20
        options.targetAccuracy = 0.99
        options.compareAdaptive = true
        return options
    }

    @Test("the trainer's Evaluator and the evaluation rows give the same accuracy and NLL for the same seeds")
    func oneDefinition() {
        let report = tinyReport(options: smallOptions)
        let data = TinyEvaluationFixture.classes(count: 60)
        let model = TinyEvaluationFixture.model
        let deterministic = Evaluator.deterministic(model, on: data, input: InputPreparation(scale: 255))
        let monteCarlo = Evaluator.monteCarlo(
            model, on: data, input: InputPreparation(scale: 255), sampleCount: 10, seed: 2026)
        let fullDeterministic = report.rows.first { $0.mode == .deterministic && report.isFullSet($0) }
        #expect(fullDeterministic?.accuracy == deterministic.accuracy)
        #expect(fullDeterministic?.nll == deterministic.meanLoss)
        #expect(report.mainRow?.accuracy == monteCarlo.accuracy)
        #expect(report.mainRow?.nll == monteCarlo.meanLoss)
        // Every fifth image is ambiguous, so some are wrong and the NLL is well above zero.
        #expect(deterministic.accuracy < 1 && deterministic.accuracy > 0.8)
    }

    @Test("one log-likelihood clamp: a zero probability costs −ln 1e-12 in training loss and in evaluation")
    func clamp() {
        #expect(SoftmaxCrossEntropy.negativeLogLikelihood(ofProbability: 0) == -log(1e-12))
        let certainAndWrong = Matrix(rows: 1, columns: 2, storage: [1, 0])
        #expect(Scoring.negativeLogLikelihood(certainAndWrong, labels: [1]) == -log(1e-12))
        var logits = Matrix(rows: 1, columns: 2, storage: [0, -200])  // softmax underflows to exactly 0
        let training = SoftmaxCrossEntropy.lossAndGradient(logitsToGradient: &logits, labels: [1])
        #expect(training.meanLoss == -log(1e-12))
    }

    @Test("rows, subset baselines, per-score tables and a threshold on the tiny model")
    func pipeline() throws {
        let report = tinyReport(options: smallOptions)
        // Dropout off and N = 1, 10 on all 60 images; then dropout off and N = 1, 10 cut to 20; then N = 30 on 20.
        #expect(
            report.rows.map(\.mode) == [
                .deterministic, .monteCarlo, .monteCarlo, .deterministic, .monteCarlo,
                .monteCarlo, .monteCarlo,
            ])
        #expect(report.rows.map(\.images) == [60, 60, 60, 20, 20, 20, 20])
        #expect(report.rows.map(\.samples) == [0, 1, 10, 0, 1, 10, 30])
        #expect(
            report.ood[.monteCarlo]?.keys.sorted { $0.rawValue < $1.rawValue }
                == UncertaintyScore.allCases.sorted { $0.rawValue < $1.rawValue })
        #expect(report.ood[.deterministic]?.keys.count == 2)
        // Noise lights every region a little: the OOD set is told apart by entropy.
        #expect((report.ood[.monteCarlo]?[.predictiveEntropy]?.auroc ?? 0) > 0.5)
        let threshold = try #require(report.recommendedThreshold)
        #expect(threshold.sampleCount == 10 && threshold.targetAccuracy == 0.99)
        #expect((threshold.coverage ?? 0) >= 0.5 && (threshold.coverage ?? 1) < 1)
        #expect(report.adaptive?.rows.map(\.mode) == [.adaptive, .monteCarlo])
        #expect(report.modelFingerprint == ThresholdWriter.fingerprint(of: TinyEvaluationFixture.model))
    }

    @Test("the same seed gives the same result bytes, and they decode to the same report")
    func roundTrip() throws {
        var options = smallOptions
        options.compareAdaptive = false
        var first = tinyReport(options: options)
        var second = tinyReport(options: options)
        for index in first.rows.indices {
            first.rows[index].seconds = 0
            second.rows[index].seconds = 0
        }
        #expect(try first.encoded() == second.encoded())
        let decoded = try JSONDecoder().decode(EvaluationReport.self, from: Data(first.encoded()))
        #expect(decoded == first)
    }

    @Test(
        "the committed results in docs/evaluation decode into the typed schema", arguments: ["mnist", "fashion-mnist"])
    func committedResults(name: String) throws {
        let path = Self.repository.appendingPathComponent("docs/evaluation/\(name).json").path
        let report = try EvaluationReport(contentsOf: path)
        #expect(report.dataset == name)
        #expect(report.mainRow != nil)
        // Which Monte-Carlo score keeps the most answers at the target accuracy depends on the mask stream (it was
        // the maximum probability before the stream of 2026-12-02, the summed variance for MNIST after it).
        let recommended = try #require(report.recommendedThreshold)
        #expect((recommended.coverage ?? 0) > 0.5 && (recommended.coverage ?? 0) <= 1)
        #expect(report.rows.allSatisfy { $0.accuracy > 0.5 && $0.accuracy <= 1 })
    }

    @Test("the committed experiment results decode into their typed schema")
    func committedExperiments() throws {
        let base = Self.repository.appendingPathComponent("docs/evaluation/experiments").path
        for name in ["overfitting", "small-net", "deep"] {
            let experiment = try TrainingExperiment(contentsOf: "\(base)/\(name).json")
            #expect(experiment.name == name && !experiment.runs.isEmpty)
            #expect(experiment.runs.allSatisfy { !$0.epochs.isEmpty && $0.final.testAccuracy > 0.5 })
        }
        let scaling = try ScalingExperiment(contentsOf: "\(base)/mc-vs-scaling.json")
        #expect(scaling.points.allSatisfy { $0.errors.count == scaling.repeats })
    }

    @Test("a misspelt or missing key is an error naming it, not a zero")
    func misspeltKey() throws {
        let path = Self.repository.appendingPathComponent("docs/evaluation/mnist.json").path
        var text = try String(contentsOfFile: path, encoding: .utf8)
        // Misspell the first row's accuracy key, whatever its value (the file is regenerated with the model).
        // Keys are sorted: the top-level "rows" is the last array of that name ("adaptive" has one too).
        let rows = try #require(text.range(of: "\"rows\":[", options: .backwards))
        let key = try #require(text.range(of: "\"accuracy\":", range: rows.upperBound..<text.endIndex))
        text.replaceSubrange(key, with: "\"acuracy\":")
        let broken = FileManager.default.temporaryDirectory.appendingPathComponent("broken-\(UUID().uuidString).json")
        try text.write(to: broken, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: broken) }
        #expect(throws: EvaluationFileError.invalid(path: broken.path, reason: ".rows[0].accuracy is missing")) {
            try EvaluationReport(contentsOf: broken.path)
        }
        #expect(throws: EvaluationFileError.noSuchFile(path: "/nonexistent/x.json")) {
            try EvaluationReport(contentsOf: "/nonexistent/x.json")
        }
    }

    @Test("--adaptive-decisive settles the stored rule as the server does, also in the rules-list form")
    func adaptiveSettlesStoredRule() {
        var file = ModelFile(model: TinyEvaluationFixture.model, metadata: TinyEvaluationFixture.metadata)
        file.setUncertaintyRule(
            UncertaintyRule(conditions: [.init(score: .uncertainty(.maxProbability), threshold: 0.3)], sampleCount: 10))
        var options = smallOptions
        options.adaptiveDecisive = true
        let report = ModelEvaluation.run(
            file, modelPath: "tiny.safetensors", test: TinyEvaluationFixture.classes(count: 20),
            ood: ("noise", TinyEvaluationFixture.noise(count: 20)), options: options)
        var served = AdaptiveSampling.decisive(uncertainty: nil)
        served.settle((try? file.uncertaintyRule()) ?? nil, head: file.metadata.head)
        #expect(report.adaptive?.rule == AdaptiveSummary.Rule(served))
        #expect(report.adaptive?.rule.decisionScore == "max_probability")
        #expect(report.adaptive?.rule.decisionThreshold == 0.3)
    }

    @Test("a threshold is only taken from an evaluation of the very same parameters")
    func thresholdChecks() throws {
        let report = tinyReport(options: smallOptions)
        let file = ModelFile(model: TinyEvaluationFixture.model, metadata: TinyEvaluationFixture.metadata)
        let (threshold, warning) = try ThresholdWriter.threshold(
            from: report, reportPath: "r.json", for: file, modelPath: "m")
        #expect(threshold == report.recommendedThreshold && warning == nil)
        var changed = file
        changed.model.layers[1].bias[0] = 0.5
        #expect(throws: ThresholdWriter.Failure.self) {
            try ThresholdWriter.threshold(from: report, reportPath: "r.json", for: changed, modelPath: "m")
        }
        var none = report
        none.recommendedThreshold = nil
        #expect(throws: ThresholdWriter.Failure.noThreshold(report: "r.json")) {
            try ThresholdWriter.threshold(from: none, reportPath: "r.json", for: file, modelPath: "m")
        }
    }
}
