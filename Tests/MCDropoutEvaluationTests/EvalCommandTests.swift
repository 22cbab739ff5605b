import Foundation
import MCDropout
import MCDropoutData
import MCDropoutEvaluation
import TestSupport
import Testing

/// Each `mcdropout-eval` subcommand, run as the built executable on the tiny model and data files.
@Suite("mcdropout-eval subcommands on a tiny model")
struct EvalCommandTests {
    static let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("mcdropout-eval")

    /// Runs `mcdropout-eval` with `arguments`; returns the exit status and standard error.
    func eval(_ arguments: [String]) throws -> (status: Int32, error: String) {
        let child = try ChildProcess(Self.executable, arguments)
        #expect(child.exits(within: .seconds(120)))
        return (child.status, child.standardError)
    }

    func evaluateArguments(_ fixture: TinyEvaluationFixture, output: String) -> [String] {
        [
            "evaluate", "--model", fixture.modelPath, "--data-dir", fixture.dataDirectory, "--ood-dataset", "noise",
            "--ood-data-dir", fixture.oodDirectory, "--sample-counts", "1,10", "--main-samples", "10",
            "--target-accuracy", "0.99", "--output-dir", output, "--name", "tiny",
        ]
    }

    @Test("evaluate writes a typed result; set-threshold stores its threshold; report draws it")
    func evaluateSetThresholdReport() throws {
        let fixture = try TinyEvaluationFixture()
        defer { fixture.remove() }
        let output = fixture.directory.appendingPathComponent("results").path
        let evaluated = try eval(evaluateArguments(fixture, output: output))
        #expect(evaluated.status == 0, "\(evaluated.error)")
        let report = try EvaluationReport(contentsOf: "\(output)/tiny.json")
        #expect(report.dataset == "tiny" && report.oodDataset == "noise" && report.testCount == 60)
        #expect(report.rows.map(\.samples) == [0, 1, 10])
        let threshold = try #require(report.recommendedThreshold)
        #expect(!report.thresholdWritten)

        let original = try Data(contentsOf: URL(fileURLWithPath: fixture.modelPath))
        #expect(try ModelFile(decoding: [UInt8](original)).metadata.uncertaintyThreshold() == nil)
        let set = try eval(["set-threshold", "--model", fixture.modelPath, "--from", "\(output)/tiny.json"])
        #expect(set.status == 0, "\(set.error)")
        let rewritten = try ModelFile(decoding: [UInt8](Data(contentsOf: URL(fileURLWithPath: fixture.modelPath))))
        #expect(try rewritten.metadata.uncertaintyThreshold() == threshold)
        #expect(rewritten.model == TinyEvaluationFixture.model)
        let removed = try eval(["set-threshold", "--model", fixture.modelPath, "--remove"])
        #expect(removed.status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: fixture.modelPath)) == original)

        let reported = try eval(["report", "--directory", output, "--datasets", "tiny,absent"])
        #expect(reported.status == 0, "\(reported.error)")
        #expect(reported.error.contains("skipping absent"))
        let markdown = try String(contentsOfFile: "\(output)/EVALUATION.md", encoding: .utf8)
        #expect(markdown.contains("## tiny model (`\(fixture.modelPath)`, 16-8-3, dropout 0/0.2)"))
        #expect(markdown.contains(String(format: "| MC N=10 | 60 | %.2f %% |", report.mainRow!.accuracy * 100)))
        for figure in ["metrics-vs-n", "reliability", "roc", "histograms", "coverage"] {
            let svg = try String(contentsOfFile: "\(output)/\(figure)-tiny.svg", encoding: .utf8)
            #expect(svg.hasPrefix("<svg") || svg.hasPrefix("<?xml"))
        }
    }

    @Test("evaluate --split validation evaluates the last --validation-count training images")
    func validationSplit() throws {
        let fixture = try TinyEvaluationFixture()
        defer { fixture.remove() }
        let output = fixture.directory.appendingPathComponent("results").path
        let result = try eval([
            "evaluate", "--model", fixture.modelPath, "--data-dir", fixture.dataDirectory, "--ood-dataset", "none",
            "--sample-counts", "1,10", "--main-samples", "10", "--target-accuracy", "0.99", "--split", "validation",
            "--validation-count", "20", "--output-dir", output, "--name", "tiny",
        ])
        #expect(result.status == 0, "\(result.error)")
        #expect(try EvaluationReport(contentsOf: "\(output)/tiny.json").testCount == 20)
        let tooMany = try eval(evaluateArguments(fixture, output: output) + ["--split", "validation", "--force"])
        #expect(tooMany.status != 0 && tooMany.error.contains("--validation-count leaves no training images"))
    }

    @Test("evaluate --write-threshold stores the threshold and says so in the result")
    func writeThreshold() throws {
        let fixture = try TinyEvaluationFixture()
        defer { fixture.remove() }
        let output = fixture.directory.appendingPathComponent("results").path
        let result = try eval(evaluateArguments(fixture, output: output) + ["--write-threshold"])
        #expect(result.status == 0, "\(result.error)")
        let report = try EvaluationReport(contentsOf: "\(output)/tiny.json")
        #expect(report.thresholdWritten)
        let model = try ModelFile(decoding: [UInt8](Data(contentsOf: URL(fileURLWithPath: fixture.modelPath))))
        #expect(try model.metadata.uncertaintyThreshold() == report.recommendedThreshold)
    }

    @Test("by default the result goes beside the model, and an existing result is replaced only with --force")
    func safeOutput() throws {
        let fixture = try TinyEvaluationFixture()
        defer { fixture.remove() }
        let arguments = [
            "evaluate", "--model", fixture.modelPath, "--data-dir", fixture.dataDirectory, "--ood-dataset", "noise",
            "--ood-data-dir", fixture.oodDirectory, "--sample-counts", "1", "--main-samples", "1",
        ]
        let first = try eval(arguments)
        #expect(first.status == 0, "\(first.error)")
        let path = fixture.directory.appendingPathComponent("tiny.evaluation.json").path
        let written = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(try EvaluationReport(contentsOf: path).rows.count == 2)
        let refused = try eval(arguments + ["--seed", "5"])
        #expect(refused.status != 0)
        #expect(refused.error.contains("\(path) exists; pass --force"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == written)
        let forced = try eval(arguments + ["--seed", "5", "--force"])
        #expect(forced.status == 0, "\(forced.error)")
        #expect(try EvaluationReport(contentsOf: path).seed == 5)
    }

    @Test("an OOD directory holding another known data set than --ood-dataset is refused")
    func otherDataset() throws {
        let fixture = try TinyEvaluationFixture()
        defer { fixture.remove() }
        // Relabel the noise set with the first 20 labels of Fashion-MNIST's published test file.
        var noise = TinyEvaluationFixture.noise(count: 40)
        let fashion: [UInt8] = [9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 4, 5, 7, 3, 4, 1, 2, 4, 8, 0]
        noise = LabeledImages(
            pixels: noise.pixels, labels: fashion + Array(noise.labels.dropFirst(20)), pixelCount: 16)
        try TinyEvaluationFixture.writeSet(noise, to: fixture.oodDirectory, split: "t10k")
        let result = try eval([
            "evaluate", "--model", fixture.modelPath, "--data-dir", fixture.dataDirectory, "--ood-dataset", "mnist",
            "--ood-data-dir", fixture.oodDirectory, "--sample-counts", "1", "--main-samples", "1",
        ])
        #expect(result.status != 0)
        #expect(result.error.contains("holds fashion-mnist, not mnist"))
    }

    @Test("combine joins single networks into an ensemble file; refresh-metrics then evaluates all members")
    func combine() throws {
        let fixture = try TinyEvaluationFixture()
        defer { fixture.remove() }
        let pair = fixture.directory.appendingPathComponent("pair.safetensors").path
        let combined = try eval([
            "combine", "--member", fixture.modelPath, "--member", fixture.modelPath, "--output", pair,
        ])
        #expect(combined.status == 0, "\(combined.error)")
        let file = try ModelFile(decoding: [UInt8](Data(contentsOf: URL(fileURLWithPath: pair))))
        #expect(file.members == [TinyEvaluationFixture.model, TinyEvaluationFixture.model])
        let refreshed = try eval([
            "refresh-metrics", "--model", pair, "--output", pair, "--data-dir", fixture.dataDirectory,
        ])
        #expect(refreshed.status == 0, "\(refreshed.error)")
        #expect(try ModelFile(decoding: [UInt8](Data(contentsOf: URL(fileURLWithPath: pair)))).members.count == 2)
        #expect(try eval(["combine", "--member", fixture.modelPath, "--output", pair]).status != 0)
    }

    @Test("set-transform sets and removes input.transform, keeping the tensors; unknown names are refused")
    func setTransform() throws {
        let fixture = try TinyEvaluationFixture()
        defer { fixture.remove() }
        let original = try Data(contentsOf: URL(fileURLWithPath: fixture.modelPath))
        let output = fixture.directory.appendingPathComponent("recentred.safetensors").path
        let set = try eval([
            "set-transform", "--model", fixture.modelPath, "--transform", "center_of_mass", "--output", output,
        ])
        #expect(set.status == 0, "\(set.error)")
        #expect(set.error.contains("refresh-metrics"))
        let file = try ModelFile(decoding: [UInt8](Data(contentsOf: URL(fileURLWithPath: output))))
        #expect(file.metadata.inputTransform == .centerOfMass && file.model == TinyEvaluationFixture.model)
        let removed = try eval(["set-transform", "--model", output, "--transform", "none", "--output", output])
        #expect(removed.status == 0, "\(removed.error)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == original)
        let unknown = try eval(["set-transform", "--model", output, "--transform", "centre", "--output", output])
        #expect(unknown.status != 0 && unknown.error.contains("--transform must be one of center_of_mass, none"))
    }

    @Test("a missing model file or result says 'no such file' in one line")
    func missingFiles() throws {
        let fixture = try TinyEvaluationFixture()
        defer { fixture.remove() }
        let missing = fixture.directory.appendingPathComponent("absent.safetensors").path
        let evaluated = try eval(["evaluate", "--model", missing, "--data-dir", fixture.dataDirectory])
        #expect(evaluated.status != 0)
        #expect(evaluated.error.contains("\(missing): no such file"))
        let set = try eval(["set-threshold", "--model", fixture.modelPath, "--from", missing + ".json"])
        #expect(set.status != 0)
        #expect(set.error.contains("\(missing).json: no such file"))
        let output = fixture.directory.appendingPathComponent("out.safetensors").path
        let commands: [[String]] = [
            ["refresh-metrics", "--model", missing, "--output", output, "--data-dir", fixture.dataDirectory],
            ["fit-rule", "--model", missing, "--output", output, "--data-dir", fixture.dataDirectory],
            ["shift", "--model", missing],
            ["combine", "--member", missing, "--member", missing, "--output", output],
            ["regression", "--csv", missing + ".csv", "--target", "y"],
        ]
        for command in commands {
            let result = try eval(command)
            #expect(result.status != 0, "\(command)")
            // One line naming the file, never Foundation's error domain and user-info dump.
            #expect(result.error.contains(": no such file"), "\(command): \(result.error)")
            #expect(!result.error.contains("NSCocoaErrorDomain"), "\(command): \(result.error)")
        }
        let directory = try eval(["refresh-metrics", "--model", fixture.directory.path, "--output", output])
        #expect(directory.error.contains("\(fixture.directory.path): is a directory, not a file"))
    }

    @Test("experiment mc-vs-scaling writes its JSON for the given model and data")
    func experiment() throws {
        let fixture = try TinyEvaluationFixture()
        defer { fixture.remove() }
        let output = fixture.directory.appendingPathComponent("results").path
        let result = try eval([
            "experiment", "mc-vs-scaling", "--model", fixture.modelPath, "--data-dir", fixture.dataDirectory,
            "--sample-counts", "1,5", "--repeats", "2", "--limit", "0", "--output-dir", output,
        ])
        #expect(result.status == 0, "\(result.error)")
        let json =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: "\(output)/experiments/mc-vs-scaling.json")))
            as? [String: Any]
        #expect(json?["images"] as? Int == 60)
        #expect((json?["points"] as? [Any])?.count == 2)
    }

    @Test("experiment overfitting trains its three runs for one epoch and writes a typed result; --force to replace")
    func trainingExperiment() throws {
        let fixture = try TinyEvaluationFixture()
        defer { fixture.remove() }
        // 28 × 28 images (the experiments' nets take 784 inputs), 300 for training and 50 for testing.
        let data = fixture.directory.appendingPathComponent("data/mnist-like").path
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        var generator = RandomSource(seed: 3)
        for (split, count) in [("train", 300), ("t10k", 50)] {
            let labels = (0..<count).map { UInt8($0 % 10) }
            let pixels = (0..<(count * 784)).map { _ in UInt8(truncatingIfNeeded: generator.next() >> 56) }
            try Data(IDXArray(dimensions: [count, 28, 28], bytes: pixels).serialized())
                .write(to: URL(fileURLWithPath: "\(data)/\(split)-images-idx3-ubyte"))
            try Data(IDXArray(dimensions: [count], bytes: labels).serialized())
                .write(to: URL(fileURLWithPath: "\(data)/\(split)-labels-idx1-ubyte"))
        }
        let output = fixture.directory.appendingPathComponent("results").path
        let arguments = [
            "experiment", "overfitting", "--data-dir", data, "--epochs", "1", "--evaluate-every", "1",
            "--output-dir", output,
        ]
        let result = try eval(arguments)
        #expect(result.status == 0, "\(result.error)")
        let experiment = try TrainingExperiment(contentsOf: "\(output)/experiments/overfitting.json")
        #expect(experiment.runs.map(\.label) == ["no dropout", "dropout 0.2", "L2 0.01, no dropout"])
        #expect(experiment.runs.allSatisfy { $0.epochs.count == 1 && $0.epochs[0].trainAccuracy != nil })
        #expect(experiment.runs[2].hyperparameters.weightDecay == 0.01)
        let refused = try eval(arguments)
        #expect(refused.status != 0)
        #expect(refused.error.contains("exists; pass --force"))
    }
}
