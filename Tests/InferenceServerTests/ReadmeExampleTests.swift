import Foundation
import InferenceServer
import MCDropoutJSON
import Testing

/// The README's example answers are what the server answers: each `curl … /predict -d @examples/FILE` in a `sh` block
/// followed by a `json` block is replayed against the committed model over real HTTP. Integers, strings and booleans
/// must match exactly; floats to 5 significant digits plus 1e-9 absolute (the last digits depend on the CPU's BLAS
/// kernels and summation order, as the README says; the same build on the same machine gives identical bytes).
@Suite("README examples")
struct ReadmeExampleTests {
    /// (request file, expected JSON) pairs found in the README.
    static func examples() throws -> [(file: String, expected: JSONValue)] {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let blocks = text.components(separatedBy: "```")
        var pairs: [(String, JSONValue)] = []
        // Odd-indexed pieces are fenced blocks ("sh\n…", "json\n…").
        for index in stride(from: 1, to: blocks.count - 2, by: 2) {
            let command = blocks[index]
            let answer = blocks[index + 2]
            guard command.hasPrefix("sh\n"), answer.hasPrefix("json\n") else { continue }
            guard
                let range = command.range(
                    of: #"curl -s localhost:8080/predict -d @(examples/[A-Za-z0-9._-]+)"#,
                    options: .regularExpression)
            else { continue }
            let file = String(command[range].split(separator: "@").last!)
            pairs.append((file, try JSONParser.parse(Array(answer.dropFirst(5).utf8))))
        }
        return pairs
    }

    static func agree(_ actual: JSONValue?, _ expected: JSONValue, at path: String) -> String? {
        switch (actual, expected) {
        case (.number(let a)?, .number(let e)):
            let exactInteger = e == e.rounded() && abs(e) < 1e15 && !path.hasSuffix("]")
            if exactInteger { return a == e ? nil : "\(path): \(a), README \(e)" }
            return abs(a - e) <= 1e-5 * max(abs(a), abs(e)) + 1e-9 ? nil : "\(path): \(a), README \(e)"
        case (.array(let a)?, .array(let e)):
            guard a.count == e.count else { return "\(path): \(a.count) elements, README \(e.count)" }
            for (index, element) in e.enumerated() {
                if let problem = agree(a[index], element, at: "\(path)[\(index)]") { return problem }
            }
            return nil
        case (.object?, .object(let e)):
            for (key, value) in e {
                if let problem = agree(actual?[key], value, at: path + "." + key) { return problem }
            }
            return nil
        default:
            return actual == expected ? nil : "\(path): \(actual.map { "\($0)" } ?? "absent"), README \(expected)"
        }
    }

    @Test("every README /predict example answers what the README shows")
    func readmeAnswers() throws {
        let pairs = try Self.examples()
        #expect(!pairs.isEmpty, "the README shows no curl /predict example with its answer")
        let server = try startServer(paths: [repositoryRoot.appendingPathComponent("models/mnist.safetensors").path])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let connection = try RawHTTPConnection(port: server.port)
        for (file, expected) in pairs {
            let body = try [UInt8](Data(contentsOf: repositoryRoot.appendingPathComponent(file)))
            let response = try connection.request(method: "POST", target: "/predict", body: body)
            #expect(response.status == 200, "\(file)")
            if let problem = Self.agree(response.json, expected, at: file) {
                Issue.record("README example differs from the server: \(problem)")
            }
            // The README shows every field the server returns.
            if case .object(let actual)? = response.json, case .object(let shown) = expected {
                #expect(Set(actual.keys) == Set(shown.keys), "\(file): fields differ from the README's")
            }
        }
    }
}
