import ArgumentParser
import Foundation
import MCDropout
import MCDropoutCommandLine
import MCDropoutJSON

/// `mcdropout-eval combine`: join separately trained networks into one deep-ensemble model file.
struct CombineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "combine",
        abstract: "Join networks trained separately (e.g. in parallel, one seed each) into one deep-ensemble model.",
        discussion: """
            Every --member must have the same data set, labels, input, layer sizes, dropout and activation. The
            result stores member k's tensors as members.{k}.layers.{i}.*, keeps the first member's metadata, records
            the members' seeds in hyperparameters.ensemble_seeds, and drops the stored test metrics, rule and density
            statistics (they describe one network): run refresh-metrics and fit-rule on the result. Members trained
            with seeds S, S+1, … and otherwise equal options are the networks mcdropout-train --ensemble trains.

            Example:
              mcdropout-eval combine --member a.safetensors --member b.safetensors --output ab.safetensors
            """)

    @Option(help: "A member model file (give two or more, in member order).")
    var member: [String] = []
    @Option(help: "Where to write the ensemble.")
    var output: String

    func validate() throws {
        guard member.count >= 2 else { throw ValidationError("give at least two --member files") }
    }

    func run() throws {
        let files = try member.map { try ModelFile(decoding: InputFile.bytes($0)) }
        var metadata = files[0].metadata
        for (path, file) in zip(member, files).dropFirst() {
            let other = file.metadata
            guard
                other.dataset == metadata.dataset, other.labels == metadata.labels,
                other.layerSizes == metadata.layerSizes, other.dropoutProbabilities == metadata.dropoutProbabilities,
                other.activation == metadata.activation, other.inputScale == metadata.inputScale,
                other.inputMean == metadata.inputMean, other.inputStd == metadata.inputStd,
                other.inputTransform == metadata.inputTransform, other.inputShape == metadata.inputShape,
                file.additionalMembers.isEmpty
            else {
                throw ValidationError(
                    "\(path) is not a single network of \(member[0])'s kind (data set, labels, input, "
                        + "layer sizes, dropout and activation must match)")
            }
        }
        metadata.hyperparameters["ensemble_seeds"] = .array(files.map { .number(Double($0.metadata.seed)) })
        metadata.metrics = JSONObject(
            metadata.metrics.members.filter { ["training_count", "validation_count"].contains($0.key) })
        metadata.extensions = JSONObject()
        let ensemble = ModelFile(members: files.map(\.model), metadata: metadata)
        try Data(ensemble.encoded()).write(to: URL(fileURLWithPath: output), options: .atomic)
        log("wrote \(output): \(files.count) members")
    }
}
