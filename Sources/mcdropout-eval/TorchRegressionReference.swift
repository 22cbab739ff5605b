import Foundation
import MCDropout
import MCDropoutEvaluation
import MCDropoutTraining

/// Runs `scripts/python/torch_regression.py` for one split: the split goes to it as two CSV files in a temporary
/// directory, its predictions come back as JSON on standard output (written to a file, not a pipe).
struct TorchRegressionReference {
    var python: String
    var script: String
    var target: String
    let directory: URL

    init(python: String, script: String, target: String) {
        self.python = python
        self.script = script
        self.target = target
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "mcdropout-regression-\(ProcessInfo.processInfo.processIdentifier)")
    }

    /// Whether the script can run (it exists and torch imports), with `torch X.Y` or why not.
    func probe() -> (available: Bool, note: String) {
        guard FileManager.default.fileExists(atPath: script) else { return (false, "\(script) not found") }
        guard let (status, output, error) = try? run(["-c", "import torch; print(torch.__version__)"]) else {
            return (false, "\(python) could not be started")
        }
        guard status == 0 else {
            let reason = error.split(separator: "\n").last.map(String.init) ?? "exit status \(status)"
            return (false, "torch is not importable by \(python) (\(reason))")
        }
        return (true, "torch \(output.trimmingCharacters(in: .whitespacesAndNewlines))")
    }

    /// Trains and predicts one split with PyTorch.
    func predict(
        training: TabularDataset, test: TabularDataset, configuration: TabularTrainingConfiguration, sampleCount: Int
    ) throws -> RegressionPredictions {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let trainPath = directory.appendingPathComponent("train.csv").path
        let testPath = directory.appendingPathComponent("test.csv").path
        try training.csv(target: target).write(toFile: trainPath, atomically: true, encoding: .utf8)
        try test.csv(target: target).write(toFile: testPath, atomically: true, encoding: .utf8)
        let c = configuration
        var arguments = [
            script, trainPath, testPath, "--target", target,
            "--head", c.head == .meanLogVariance ? "mean_logvar" : "mean",
            "--hidden", c.hiddenSizes.map(String.init).joined(separator: ","),
            "--dropout", c.dropoutProbabilities.map { "\($0)" }.joined(separator: ","),
            "--activation", c.activation.name, "--epochs", "\(c.epochs)", "--batch-size", "\(c.batchSize)",
            "--learning-rate", "\(c.learningRate)", "--weight-decay", "\(c.weightDecay)",
            "--samples", "\(sampleCount)", "--seed", "\(c.seed)",
        ]
        if case .leakyReLU(let slope) = c.activation { arguments += ["--negative-slope", "\(slope)"] }
        let (status, output, error) = try run(arguments)
        guard status == 0 else {
            throw ReferenceError(message: "\(script) exited with status \(status): \(error)")
        }
        let predictions = try JSONDecoder().decode(RegressionPredictions.self, from: Data(output.utf8))
        guard predictions.means.count == test.count else {
            throw ReferenceError(message: "\(script) predicted \(predictions.means.count) rows, not \(test.count)")
        }
        return predictions
    }

    /// Runs `python arguments…` to completion; returns its status, standard output and standard error.
    private func run(_ arguments: [String]) throws -> (Int32, String, String) {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let outputURL = directory.appendingPathComponent("stdout-\(UUID().uuidString)")
        let errorURL = directory.appendingPathComponent("stderr-\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: outputURL.path, contents: nil),
            FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        else { throw ReferenceError(message: "cannot create files in \(directory.path)") }
        defer {
            try? FileManager.default.removeItem(at: outputURL)
            try? FileManager.default.removeItem(at: errorURL)
        }
        let output = try FileHandle(forWritingTo: outputURL)
        let error = try FileHandle(forWritingTo: errorURL)
        defer {
            try? output.close()
            try? error.close()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python] + arguments
        process.standardOutput = output
        process.standardError = error
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let read = { (url: URL) in
            String(decoding: FileManager.default.contents(atPath: url.path) ?? Data(), as: UTF8.self)
        }
        return (process.terminationStatus, read(outputURL), read(errorURL))
    }
}

/// The PyTorch reference failed on a split.
struct ReferenceError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
