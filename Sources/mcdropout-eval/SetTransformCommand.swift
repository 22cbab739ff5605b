import ArgumentParser
import Foundation
import MCDropout
import MCDropoutCommandLine

/// `mcdropout-eval set-transform`: set or remove a model file's input transform without retraining.
struct SetTransformCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-transform",
        abstract: "Set (or remove) the input transform a model file declares (input.transform), without retraining.",
        discussion: """
            The server, mcdropout-eval and the trainer apply the transform to every image before the network, the
            density scores and the rotation probe. center_of_mass moves each image by the whole pixels that bring its
            intensity centre of mass to the image centre, as MNIST's digits were centred; it needs a square
            single-channel input.shape. Tensors and all other metadata stay as they are: the stored test metrics then
            describe the model without its new transform until `mcdropout-eval refresh-metrics` recomputes them, and
            the density statistics and the rule stay as fitted (`mcdropout-eval fit-rule` refits them).

            Example:
              mcdropout-eval set-transform --model models/mnist.safetensors --transform center_of_mass \\
                --output models/mnist.safetensors
            """)

    @Option(help: "The model file to read.")
    var model: String
    @Option(
        help: "The transform: \(InputTransform.names.joined(separator: ", ")), or none to remove it.",
        completion: .list(InputTransform.names + ["none"]))
    var transform: String
    @Option(help: "Where to write it (may equal --model).")
    var output: String

    func validate() throws {
        guard transform == "none" || InputTransform(rawValue: transform) != nil else {
            throw ValidationError(
                "--transform must be one of \((InputTransform.names + ["none"]).joined(separator: ", "))")
        }
    }

    func run() throws {
        let original = try InputFile.bytes(model)
        var file = try ModelFile(decoding: original)
        guard file.encoded() == original else {
            throw ValidationError(
                "\(model) does not re-encode to the same bytes; rewrite it with mcdropout tools first")
        }
        let previous = file.metadata.inputTransform
        file.metadata.inputTransform = InputTransform(rawValue: transform)
        let bytes = file.encoded()
        _ = try ModelFile(decoding: bytes)  // the checks a server makes at load (a square single-channel shape)
        try Data(bytes).write(to: URL(fileURLWithPath: output), options: .atomic)
        log(
            "\(output): input transform \(previous?.rawValue ?? "none") -> \(transform)"
                + (previous == file.metadata.inputTransform
                    ? "" : "; run mcdropout-eval refresh-metrics to store the test metrics it gives"))
    }
}
