import Foundation
import InferenceServer
import TestSupport
import Testing

@Suite("Command-line polish: --version, --help, shell completions")
struct CommandLineTests {
    /// Runs a built executable (beside the test bundle) and returns its exit status and standard output.
    func run(_ name: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let child = try ChildProcess(
            serveExecutable.deletingLastPathComponent().appendingPathComponent(name), arguments)
        #expect(child.exits(within: .seconds(30)))
        return (child.status, String(decoding: child.standardOutput, as: UTF8.self))
    }

    @Test(
        "--version prints the server version",
        arguments: ["mcdropout-serve", "mcdropout-train", "mcdropout-bench", "mcdropout-eval"])
    func version(executable: String) throws {
        let path = serveExecutable.deletingLastPathComponent().appendingPathComponent(executable).path
        // Built only with the full product set (scripts/test.sh builds it).
        guard FileManager.default.isExecutableFile(atPath: path) else { return }
        let result = try run(executable, ["--version"])
        #expect(result.status == 0)
        #expect(result.output == serverVersion + "\n")
    }

    @Test("mcdropout-bench --drift-cost prints a row per N with both services' medians")
    func driftCost() throws {
        let path = serveExecutable.deletingLastPathComponent().appendingPathComponent("mcdropout-bench").path
        guard FileManager.default.isExecutableFile(atPath: path) else { return }
        let input = repositoryRoot.appendingPathComponent("examples/mnist-test-0000-label-7.json").path
        let result = try run(
            "mcdropout-bench",
            [
                "--drift-cost", "--model", try writeSyntheticModel(), "--input", input, "--samples", "1,3", "--seconds",
                "0",
            ])
        #expect(result.status == 0)
        let rows = result.output.split(separator: "\n").map { $0.split(separator: " ") }.filter { $0.count == 9 }
        #expect(rows.map { $0[0] } == ["1", "3"])
        for row in rows {
            #expect(Int(row[1]) == 4, "four rounds when no time is asked for")
            #expect(Double(row[2]).map { $0 > 0 } == true && Double(row[3]).map { $0 > 0 } == true)
            #expect(row[7] == "±" && Double(row[8]).map { $0 >= 0 } == true, "mean Δ ± its standard error")
        }
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
