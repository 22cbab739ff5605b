import Foundation
import InferenceServer
import Testing

@Suite("Command-line polish: --version, --help, shell completions")
struct CommandLineTests {
    /// Runs a built executable (beside the test bundle) and returns its exit status and standard output.
    ///
    /// The output goes to a temporary file, not a `Pipe`: corelibs Foundation can close a pipe's descriptors twice
    /// under concurrency (swiftlang/swift#57827), and a descriptor number reused meanwhile by a live-server test's
    /// socket would be closed under libmicrohttpd ("Close socket failed"). A file handle we close ourselves is safe.
    func run(_ name: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let outputPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("mcdropout-cli-\(UUID().uuidString).txt").path
        guard FileManager.default.createFile(atPath: outputPath, contents: nil) else {
            throw CocoaError(.fileWriteUnknown)
        }
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        let process = Process()
        process.executableURL = serveExecutable.deletingLastPathComponent().appendingPathComponent(name)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            try? output.close()
            throw error
        }
        #expect(process.exits(within: .seconds(30)))
        try output.close()
        let data = try #require(FileManager.default.contents(atPath: outputPath))
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test("--version prints the server version", arguments: ["mcdropout-serve", "mcdropout-train", "mcdropout-bench"])
    func version(executable: String) throws {
        let path = serveExecutable.deletingLastPathComponent().appendingPathComponent(executable).path
        // Built only with the full product set (scripts/test.sh builds it).
        guard FileManager.default.isExecutableFile(atPath: path) else { return }
        let result = try run(executable, ["--version"])
        #expect(result.status == 0)
        #expect(result.output == serverVersion + "\n")
    }

    @Test("--help has examples and names the completion flag")
    func help() throws {
        let result = try run("mcdropout-serve", ["--help"])
        #expect(result.status == 0)
        #expect(result.output.contains("Examples:\n  mcdropout-serve --model models/mnist.safetensors --port 8080"))
        #expect(result.output.contains("--generate-completion-script"))
        #expect(result.output.contains("--model <path>"))
        // The discussion is wrapped by hand under 80 columns, so the parser's own wrapping never splits a line.
        #expect(!result.output.split(separator: "\n").contains { $0.count > 80 && !$0.hasPrefix("USAGE") })
    }

    @Test("completion scripts for bash, zsh and fish", arguments: ["bash", "zsh", "fish"])
    func completion(shell: String) throws {
        let result = try run("mcdropout-serve", ["--generate-completion-script", shell])
        #expect(result.status == 0)
        #expect(result.output.contains("max-samples"))
        #expect(result.output.contains("safetensors"), "--model completes .safetensors files")
        #expect(result.output.contains("critical"), "--log-level completes its levels")
    }
}
