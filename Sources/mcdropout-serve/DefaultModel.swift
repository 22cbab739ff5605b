import Foundation

/// Resolves the default `--model` so the server starts from any folder, not only the repository root.
///
/// A relative default (`models/mnist.safetensors`) is used as it is when it exists under the current directory (the
/// repository root, the container's working directory); otherwise the first such file found walking up from the
/// executable's real location (`.build/release/mcdropout-serve` in a checkout) is used. When neither exists the
/// relative path stays, and loading it fails naming it.
enum DefaultModel {
    static func resolve(
        _ paths: [String], currentDirectory: String = FileManager.default.currentDirectoryPath,
        executable: URL? = Bundle.main.executableURL
    ) -> [String] {
        paths.map { resolve($0, currentDirectory: currentDirectory, executable: executable) }
    }

    static func resolve(_ path: String, currentDirectory: String, executable: URL?) -> String {
        let manager = FileManager.default
        guard !path.hasPrefix("/"), !manager.fileExists(atPath: "\(currentDirectory)/\(path)") else { return path }
        var folder = executable?.resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            guard let current = folder else { break }
            let candidate = current.appendingPathComponent(path).path
            if manager.fileExists(atPath: candidate) { return candidate }
            folder = current.deletingLastPathComponent()
        }
        return path
    }
}
