import ArgumentParser
import Foundation
import MCDropout
import MCDropoutCommandLine
import MCDropoutData
import MCDropoutEvaluation
import MCDropoutJSON
import MCDropoutTraining

/// `mcdropout-eval refresh-metrics`: recompute the test-set metrics stored in a model file with the current engine.
struct RefreshMetricsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refresh-metrics",
        abstract: "Recompute a model file's stored test metrics (dropout off and Monte-Carlo) with the current engine.",
        discussion: """
            Runs exactly what mcdropout-train runs after training (Evaluator, image i with seed SEED + i, the
            samples and seed already stored in metrics.monte_carlo) and also stores "monte_carlo_check": the same
            on the first \(RefreshMetricsCommand.checkCount) test images, which a test recomputes to catch an engine
            change that would make the stored numbers stale. Tensors and all other metadata stay unchanged.

            Example:
              mcdropout-eval refresh-metrics --model models/mnist.safetensors --output models/mnist.safetensors
            """)

    /// Images of the quick check that tests recompute.
    static let checkCount = 500

    @Option(help: "The model file to read.")
    var model: String
    @Option(help: "Where to write it (may equal --model).")
    var output: String
    @Option(help: "Test set directory (default data/<dataset from the model metadata>).")
    var dataDir: String?

    func run() throws {
        var file = try ModelFile(decoding: InputFile.bytes(model))
        let test = try DatasetLoader.load(
            directory: dataDir ?? "data/\(file.metadata.dataset)", split: .test, classCount: file.model.outputSize)
        var metrics = file.metadata.metrics
        let stored = metrics["monte_carlo"]
        let samples = stored?["samples"]?.intValue ?? 100
        let seed = UInt64(stored?["seed"]?.intValue ?? Int(file.metadata.seed))
        let input = file.metadata.inputPreparation
        let deterministic = Evaluator.deterministic(file.members, on: test, input: input)
        let monteCarlo = Evaluator.monteCarlo(
            file.members, on: test, input: input, sampleCount: samples, seed: seed)
        let check = Evaluator.monteCarlo(
            file.members, on: test.subset(0..<min(Self.checkCount, test.count)), input: input,
            sampleCount: samples,
            seed: seed)
        let extra: [JSONObject.Member] = [("samples", .number(Double(samples))), ("seed", .number(Double(seed)))]
        metrics["test_count"] = .number(Double(test.count))
        metrics["deterministic"] = .object(deterministic.jsonObject)
        metrics["monte_carlo"] = .object(JSONObject(monteCarlo.jsonObject.members + extra))
        metrics["monte_carlo_check"] = .object(JSONObject(check.jsonObject.members + extra))
        file.metadata.metrics = metrics
        try Data(file.encoded()).write(to: URL(fileURLWithPath: output), options: .atomic)
        log(
            String(
                format: "%@: dropout off %.2f%% (NLL %.4f), MC N=%d seed %llu %.2f%% (NLL %.4f); wrote %@",
                model, 100 * deterministic.accuracy, deterministic.meanLoss, samples, seed, 100 * monteCarlo.accuracy,
                monteCarlo.meanLoss, output))
    }
}
