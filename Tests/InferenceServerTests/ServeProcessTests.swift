import Foundation
import MCDropoutJSON
import TestSupport
import Testing

/// The `mcdropout-serve` executable built beside the test bundle.
let serveExecutable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    .appendingPathComponent("mcdropout-serve")

/// A `mcdropout-serve` child process on a free port.
final class ServeProcess {
    let child: ChildProcess
    let port: Int
    var process: Process { child.process }

    init(arguments: [String], errorSink: ChildProcess.ErrorSink = .file) throws {
        child = try ChildProcess(
            serveExecutable, ["--port", "0", "--log-level", "warning"] + arguments, errorSink: errorSink)
        let text = child.firstLine() ?? ""
        guard let port = text.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) })
        else {
            _ = child.exits(within: .zero)
            throw ServeProcessError.noPort(text + child.standardError)
        }
        self.port = port
    }

    func signal(_ number: Int32) { child.signal(number) }

    /// Waits up to `timeout` for the process to exit; a process still running then is killed and `false` returned,
    /// so a lost signal fails the test instead of hanging the suite.
    func exits(within timeout: Duration = .seconds(60)) -> Bool { child.exits(within: timeout) }
}

enum ServeProcessError: Error { case noPort(String) }

@Suite(
    "mcdropout-serve process: signals", .enabled(if: FileManager.default.isExecutableFile(atPath: serveExecutable.path))
)
struct ServeProcessTests {
    @Test("SIGHUP reloads the model file; SIGTERM lets an in-flight request finish and exits 0")
    func signals() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("signals-\(UUID().uuidString)")
        let path = try writeSyntheticModel(name: "m", seed: 1, directory: directory)
        let server = try ServeProcess(arguments: ["--model", path, "--max-total-passes", "2000000", "--threads", "2"])

        let connection = try RawHTTPConnection(port: server.port)
        #expect(try connection.request(target: "/health").json?["models"]?[0]?["version"] == .number(1))
        _ = try writeSyntheticModel(name: "m", seed: 2, directory: directory)
        server.signal(SIGHUP)
        #expect(
            eventually { (try? connection.request(target: "/health").json?["models"]?[0]?["version"]) == .number(2) })

        // A long batch request, then SIGTERM while it runs.
        let instances = (0..<100).map { pixelsJSON(testPixels(seed: UInt64($0))) }.joined(separator: ",")
        let body = Array(#"{"instances": [\#(instances)], "samples": 2000, "seed": 1}"#.utf8)
        let slow = try RawHTTPConnection(port: server.port, timeout: .seconds(120))
        try slow.send(RawHTTPConnection.requestBytes(method: "POST", target: "/predict", body: body))
        pause(.milliseconds(500))
        server.signal(SIGTERM)
        let response = try slow.readResponse(requestMethod: "POST")
        #expect(response.status == 200)
        #expect(response.json?["predictions"]?.arrayValue?.count == 100)
        #expect(server.exits())
        #expect(server.process.terminationReason == .exit && server.process.terminationStatus == 0)
        #expect(throws: RawHTTPClientError.self) { try RawHTTPConnection(port: server.port).request(target: "/health") }
    }

    @Test("SIGTERM sent the moment the startup line appears still drains and exits 0", arguments: 0..<3)
    func earlyTermination(round: Int) throws {
        let path = try writeSyntheticModel(name: "early\(round)")
        let server = try ServeProcess(arguments: ["--model", path])
        server.signal(SIGTERM)
        #expect(server.exits(within: .seconds(30)))
        #expect(server.process.terminationReason == .exit && server.process.terminationStatus == 0)
    }

    @Test("a log reader that goes away (stderr a pipe closed at the other end) costs log lines, not the process")
    func closedStandardError() throws {
        // Every request logs at debug level, so each one writes to the broken pipe. Without SIGPIPE ignored, the
        // first log line (before the start-up line) kills the server with the default action.
        let path = try writeSyntheticModel(name: "sigpipe")
        let server = try ServeProcess(arguments: ["--model", path, "--log-level", "debug"], errorSink: .closedPipe)
        let connection = try RawHTTPConnection(port: server.port)
        for _ in 0..<20 {
            let response = try connection.request(
                method: "POST", target: "/predict", body: Array(#"{"pixels": \#(pixelsJSON(testPixels()))}"#.utf8))
            #expect(response.status == 200)
        }
        #expect(try connection.request(target: "/health").status == 200)
        server.signal(SIGTERM)
        #expect(server.exits())
        #expect(server.process.terminationReason == .exit && server.process.terminationStatus == 0)
    }

    @Test("environment variables configure the server; a bad model file fails startup with a message")
    func environmentAndStartupFailure() throws {
        let path = try writeSyntheticModel(name: "envmodel")
        let failing = try ChildProcess(
            serveExecutable, ["--port", "0"],
            environment: ["MCDROPOUT_MODEL": "/nonexistent/model.safetensors", "MCDROPOUT_LOG_LEVEL": "info"])
        #expect(failing.exits(within: .seconds(60)))
        let message = failing.standardError
        #expect(failing.status != 0)
        #expect(message.contains("/nonexistent/model.safetensors"))

        setenv("MCDROPOUT_DEFAULT_SAMPLES", "7", 1)
        defer { unsetenv("MCDROPOUT_DEFAULT_SAMPLES") }
        let server = try ServeProcess(arguments: ["--model", path])
        let response = try RawHTTPConnection(port: server.port).request(
            method: "POST", target: "/predict", body: Array(#"{"pixels": \#(pixelsJSON(testPixels()))}"#.utf8))
        #expect(response.json?["samples"] == .number(7))
        #expect(response.json?["model"] == .string("envmodel"))
        server.signal(SIGTERM)
        #expect(server.exits())
        #expect(server.process.terminationStatus == 0)
    }
}
