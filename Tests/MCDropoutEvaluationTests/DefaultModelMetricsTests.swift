import Foundation
import MCDropout
import MCDropoutData
import MCDropoutEvaluation
import MCDropoutJSON
import Testing

/// The repository root, from this file's location.
private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The test sets are git-ignored (scripts/fetch-data.sh makes them); without them these tests are skipped, not passed.
private let hasData =
    FileManager.default.fileExists(atPath: root.appendingPathComponent("data/mnist").path)
    && FileManager.default.fileExists(atPath: root.appendingPathComponent("data/fashion-mnist").path)

/// The metrics stored in each committed model and quoted in models/README.md must be what the current engine gives:
/// an engine change that alters the Monte-Carlo stream fails here until `mcdropout-eval refresh-metrics` is rerun.
@Suite("Stored metrics of the committed models match the current engine", .enabled(if: hasData))
struct DefaultModelMetricsTests {
    @Test(
        "dropout-off metrics on the whole test set, MC on the stored 500-image check, and the README's numbers",
        arguments: ["mnist", "fashion-mnist"])
    func metrics(name: String) throws {
        let file = try ModelFile(
            decoding: [UInt8](Data(contentsOf: root.appendingPathComponent("models/\(name).safetensors"))))
        let test = try DatasetLoader.load(
            directory: root.appendingPathComponent("data/\(name)").path, split: .test, classCount: file.model.outputSize
        )
        let metrics = file.metadata.metrics
        let input = file.metadata.inputPreparation
        let deterministic = Evaluator.deterministic(file.members, on: test, input: input)
        #expect(metrics["deterministic"]?["accuracy"]?.doubleValue == deterministic.accuracy)
        // Debug and release builds round the dropout-off NLL differently in the last digits (≈ 1e-9).
        #expect(abs((metrics["deterministic"]?["nll"]?.doubleValue ?? 0) - deterministic.meanLoss) < 1e-7)
        let check = try #require(metrics["monte_carlo_check"], "run mcdropout-eval refresh-metrics on \(name)")
        let count = try #require(check["count"]?.intValue)
        let samples = try #require(check["samples"]?.intValue)
        let seed = UInt64(try #require(check["seed"]?.intValue))
        let monteCarlo = Evaluator.monteCarlo(
            file.members, on: test.subset(0..<count), input: input, sampleCount: samples, seed: seed)
        #expect(check["accuracy"]?.doubleValue == monteCarlo.accuracy)
        // OpenBLAS picks its kernels by CPU (AVX2 `HASWELL`/`ZEN` or AVX-512 `COOPERLAKE`), whose sums round
        // differently: the same stream's 500-image NLL moves by ~1e-8 between them. Another mask stream moves it by
        // about 1e-4 (the Fashion model's test-set NLL went from 0.2746 to 0.2748 with an earlier stream change).
        #expect(abs((check["nll"]?.doubleValue ?? 0) - monteCarlo.meanLoss) < 1e-6)
        // models/README.md quotes the stored full-test-set numbers.
        let readme = try String(contentsOf: root.appendingPathComponent("models/README.md"), encoding: .utf8)
        for (key, row) in [
            ("deterministic", "dropout off (weight scaling)"),
            ("monte_carlo", "Monte-Carlo, N = \(samples) (seed \(seed))"),
        ] {
            let accuracy = String(format: "%.2f %%", 100 * (metrics[key]?["accuracy"]?.doubleValue ?? 0))
            let nll = String(format: "%.4f", metrics[key]?["nll"]?.doubleValue ?? 0)
            #expect(readme.contains("| \(row) | \(accuracy) | \(nll) |"), "models/README.md: \(name) \(row)")
        }
    }
}
