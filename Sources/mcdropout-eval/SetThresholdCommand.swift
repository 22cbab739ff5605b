import ArgumentParser
import MCDropout
import MCDropoutCommandLine
import MCDropoutEvaluation

/// `mcdropout-eval set-threshold`: store an evaluation's recommended threshold in a model file without evaluating
/// again.
struct SetThresholdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-threshold",
        abstract: "Write the recommended threshold of an evaluation JSON into the model it measured (or remove it).",
        discussion: """
            Checks that the JSON was measured on this very model (same data set, layer sizes and parameter
            fingerprint), then stores its "recommended_threshold" in the metadata extension "uncertainty"; the
            tensors stay byte-identical. The server then adds "uncertain" to every prediction.

            Example:
              mcdropout-eval set-threshold --model models/mnist.safetensors --from docs/evaluation/mnist.json
            """)

    @Option(help: "The model file to rewrite.")
    var model: String
    @Option(help: "The evaluation JSON (mcdropout-eval evaluate) whose recommended threshold to store.")
    var from: String?
    @Flag(help: "Remove the stored threshold instead.")
    var remove = false

    func validate() throws {
        guard (from != nil) != remove else { throw ValidationError("give exactly one of --from and --remove") }
    }

    func run() throws {
        let bytes = try InputFile.bytes(model)
        let file = try ModelFile(decoding: bytes)
        guard let from else {
            try ThresholdWriter.write(nil, toModelAt: model, original: bytes)
            log("removed the threshold from \(model)")
            return
        }
        let report = try EvaluationReport(contentsOf: from)
        let (threshold, warning) = try ThresholdWriter.threshold(
            from: report, reportPath: from, for: file, modelPath: model)
        if let warning { log("warning: \(warning)") }
        try ThresholdWriter.write(threshold, toModelAt: model, original: bytes)
        log(
            "wrote \(threshold.score.rawValue) ≤ \(threshold.value) (coverage \((threshold.coverage ?? 0) * 100) %, "
                + "N=\(threshold.sampleCount ?? 0)) into \(model)")
    }
}
