import Foundation
import MCDropout
import MCDropoutJSON
import TestSupport
import Testing

/// The `mcdropout-train` executable built beside the test bundle.
let trainExecutable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    .appendingPathComponent("mcdropout-train")

/// `mcdropout-train --csv` end to end: a real CSV file → the built trainer → a model file → the built server.
@Suite(
    "CSV training end to end: mcdropout-train --csv, then mcdropout-serve",
    .enabled(
        if: FileManager.default.isExecutableFile(atPath: trainExecutable.path)
            && FileManager.default.isExecutableFile(atPath: serveExecutable.path))
)
struct TabularCommandLineTests {
    /// Rows of (x0, x1, a constant column, target); x0 in [0, 10), x1 in [−5, 5), seeded.
    static func csv(rows: Int, seed: UInt64, target: (Float, Float, inout RandomSource) -> String) -> String {
        var generator = RandomSource(seed: seed)
        var text = "x0,x1,constant,y\n"
        for _ in 0..<rows {
            let x0 = generator.nextUnitFloat() * 10
            let x1 = generator.nextUnitFloat() * 10 - 5
            text += "\(x0),\(x1),7,\(target(x0, x1, &generator))\n"
        }
        return text
    }

    func train(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
        let child = try ChildProcess(trainExecutable, arguments)
        #expect(child.exits(within: .seconds(300)))
        return (child.status, String(decoding: child.standardOutput, as: UTF8.self), child.standardError)
    }

    @Test("a regression CSV and a classification CSV train, store their metrics, and serve sensible answers")
    func trainAndServe() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("csv-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // Regression: y = 20 + 3·x0 − 2·x1 + N(0, 1). Classification: the sign of x1 (classes 0 and 1).
        let regressionCSV = directory.appendingPathComponent("line.csv").path
        try Self.csv(rows: 400, seed: 1) { x0, x1, generator in
            "\(20 + 3 * x0 - 2 * x1 + Float(generator.nextStandardNormal()))"
        }.write(toFile: regressionCSV, atomically: true, encoding: .utf8)
        let classificationCSV = directory.appendingPathComponent("sign.csv").path
        try Self.csv(rows: 300, seed: 2) { _, x1, _ in x1 > 0 ? "1" : "0" }
            .write(toFile: classificationCSV, atomically: true, encoding: .utf8)

        let line = directory.appendingPathComponent("line.safetensors").path
        let regression = try train([
            "--csv", regressionCSV, "--target", "y", "--task", "regression", "--loss", "gaussian-nll",
            "--hidden", "32", "--dropout", "0.05", "--activation", "tanh", "--epochs", "60", "--learning-rate", "0.01",
            "--mc-samples", "50", "--output", line,
        ])
        #expect(regression.status == 0, "\(regression.error)")
        #expect(regression.output.contains("RMSE") && regression.output.contains("coverage 50/90/95%"))
        let sign = directory.appendingPathComponent("sign.safetensors").path
        let classification = try train([
            "--csv", classificationCSV, "--target", "y", "--hidden", "16", "--dropout", "0.1", "--activation", "gelu",
            "--epochs", "40", "--learning-rate", "0.01", "--mc-samples", "20", "--output", sign,
        ])
        #expect(classification.status == 0, "\(classification.error)")

        // The files: shapes, normalisation from the training rows (the constant column's std is 1), metrics.
        let lineFile = try ModelFile(decoding: [UInt8](Data(contentsOf: URL(fileURLWithPath: line))))
        #expect(lineFile.model.layerSizes == [3, 32, 2] && lineFile.metadata.head == .meanLogVariance)
        #expect(lineFile.metadata.inputStd?[2] == 1 && lineFile.metadata.inputMean?[2] == 7)
        let rmse = lineFile.metadata.metrics["rmse"]?.doubleValue ?? .nan
        #expect(rmse > 0.7 && rmse < 1.6, "test RMSE \(rmse) vs noise σ = 1")
        let signFile = try ModelFile(decoding: [UInt8](Data(contentsOf: URL(fileURLWithPath: sign))))
        #expect(signFile.model.layerSizes == [3, 16, 2] && signFile.metadata.labels == ["0", "1"])
        #expect((signFile.metadata.metrics["mc_accuracy"]?.doubleValue ?? 0) > 0.9)

        let server = try ServeProcess(arguments: ["--model", line, "--model", sign])
        defer {
            server.signal(SIGTERM)
            _ = server.exits()
        }
        let connection = try RawHTTPConnection(port: server.port)
        let predicted = try connection.request(
            method: "POST", target: "/predict",
            body: Array(#"{"model": "line", "features": [5, 1, 7], "samples": 200, "seed": 3}"#.utf8))
        #expect(predicted.status == 200, "\(predicted.text)")
        let mean = predicted.json?["mean"]?[0]?.doubleValue ?? .nan
        let aleatoric = predicted.json?["aleatoric_variance"]?[0]?.doubleValue ?? .nan
        #expect(abs(mean - 33) < 1.5, "mean \(mean) vs 20 + 15 − 2 = 33")
        #expect(aleatoric > 0.3 && aleatoric < 3, "aleatoric variance \(aleatoric) vs the noise's 1")
        for (x1, label) in [(-3, "0"), (3, "1")] {
            let answer = try connection.request(
                method: "POST", target: "/predict",
                body: Array(#"{"model": "sign", "features": [5, \#(x1), 7], "samples": 50, "seed": 1}"#.utf8))
            #expect(answer.status == 200 && answer.json?["label"] == .string(label), "\(answer.text)")
        }
        // The regression model takes features only: pixels get a clear 400.
        let wrong = try connection.request(
            method: "POST", target: "/predict", body: Array(#"{"model": "line", "pixels": [1, 2, 3]}"#.utf8))
        #expect(wrong.status == 400)
    }

    @Test("a bad CSV fails before training with the file, line and column")
    func badCSV() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("csv-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("bad.csv").path
        try "a,y\n1,2\n3,oops\n".write(toFile: path, atomically: true, encoding: .utf8)
        let output = directory.appendingPathComponent("bad.safetensors").path
        let result = try train(["--csv", path, "--target", "y", "--task", "regression", "--output", output])
        #expect(result.status != 0)
        #expect(result.error.contains("bad.csv") && result.error.contains("line 3") && result.error.contains("'y'"))
        #expect(!FileManager.default.fileExists(atPath: output))
    }
}
