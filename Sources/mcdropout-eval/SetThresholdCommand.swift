import ArgumentParser
import Foundation
import MCDropout
import MCDropoutJSON

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
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: model)))
        let file = try ModelFile(decoding: bytes)
        guard let from else {
            try ThresholdWriter.write(nil, toModelAt: model, original: bytes)
            log("removed the threshold from \(model)")
            return
        }
        let result = try JSONParser.parse([UInt8](Data(contentsOf: URL(fileURLWithPath: from))))
        let sizes = result["architecture"]?.arrayValue?.compactMap(\.intValue)
        guard result["dataset"]?.stringValue == file.metadata.dataset, sizes == file.model.layerSizes else {
            throw ValidationError("\(from) evaluated a \(result["dataset"]?.stringValue ?? "?") model \(sizes ?? []), not \(model)")
        }
        let fingerprint = ThresholdWriter.fingerprint(of: file.model)
        if let measured = result["model_fingerprint"]?.stringValue {
            guard measured == fingerprint else {
                throw ValidationError(
                    "\(from) measured parameters \(measured); \(model) has \(fingerprint) (retrained?) — evaluate it again")
            }
        } else {
            log("warning: \(from) has no model_fingerprint (older evaluation); only data set and shape were checked")
        }
        guard let value = result["recommended_threshold"], value != .null else {
            throw ValidationError("\(from) has no recommended threshold (no score reached the target accuracy)")
        }
        let threshold = try UncertaintyThreshold(decoding: value)
        try ThresholdWriter.write(threshold, toModelAt: model, original: bytes)
        log(String(format: "wrote %@ ≤ %.6g (coverage %.2f%%, N=%d) into %@", threshold.score.rawValue, threshold.value,
            (threshold.coverage ?? 0) * 100, threshold.sampleCount ?? 0, model))
    }
}
