import Foundation
import PackagePlugin

/// Embeds the target's `Resources/` files and the package's `examples/*.json` into the target as Swift string literals.
///
/// SwiftPM resources would need Foundation's `Bundle` at run time and a bundle directory beside the binary; embedding
/// at build time keeps one source of truth (the files in the repository) and a single self-contained executable.
///
/// An edit to any embedded file re-runs the command (the files are its declared inputs). SwiftPM re-plans plugin
/// commands only when the package changes, though, so a file *added* to `Resources/` or `examples/` is picked up by
/// the next build after `touch Package.swift` (or a clean build, as in CI).
@main
struct EmbedResources: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let resources = target.directoryURL.appending(path: "Resources")
        let examples = context.package.directoryURL.appending(path: "examples")
        var inputs = try files(in: resources, under: "")
        if FileManager.default.fileExists(atPath: examples.path) {
            inputs += try files(in: examples, under: "examples/", extension: "json")
        } else {
            // A build context without examples/ (a container build that copies only what it compiles) still builds;
            // the demo page then offers drawing only.
            Diagnostics.remark("no examples/ directory: the demo page will have no shipped test digits")
        }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedResources.swift")
        var arguments = [output.path]
        for (name, url) in inputs { arguments += [name, url.path] }
        return [
            .buildCommand(
                displayName: "Embedding \(inputs.count) resource files into \(target.name)",
                executable: try context.tool(named: "EmbedResourcesTool").url,
                arguments: arguments,
                inputFiles: inputs.map(\.url),
                outputFiles: [output])
        ]
    }

    /// The regular files directly in `directory` (sorted, so the generated file is stable), with their embedded names.
    private func files(
        in directory: URL, under prefix: String, extension pathExtension: String? = nil
    ) throws -> [(name: String, url: URL)] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        return names.compactMap { name in
            guard !name.hasPrefix("."), pathExtension.map({ name.hasSuffix("." + $0) }) ?? true else { return nil }
            return (prefix + name, directory.appending(path: name))
        }
    }
}
