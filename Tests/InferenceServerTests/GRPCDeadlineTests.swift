import Foundation
import GRPCTransport
import HTTPTransport
import InferenceServer
import MCDropoutJSON
import Synchronization
import TestSupport
import Testing

/// Stands in for the inference workers: keeps each submitted job until the test runs it, so a call can be held in
/// the "queue" for as long as a test needs.
final class HeldJobs: Sendable {
    private let jobs = Mutex<[@Sendable () -> Void]>([])

    func submit(_ work: @escaping @Sendable () -> Void, _ cancelled: @escaping @Sendable () -> Void) -> Bool {
        jobs.withLock { $0.append(work) }
        return true
    }

    /// The oldest job not yet taken, waiting for one up to `timeout`.
    func next(within timeout: Duration) -> (@Sendable () -> Void)? {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if let job = jobs.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return job }
            usleep(2000)
        }
        return nil
    }

    /// Runs every job still held, so that a server stopping after a failed expectation does not wait for answers.
    func runRemaining() {
        while let job = jobs.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { job() }
    }
}

@Suite(
    "gRPC deadlines through tritonclient.grpc",
    .enabled(if: testPython != nil, "needs MCDROPOUT_PYTHON with tritonclient[grpc]"))
struct GRPCDeadlineTests {
    @Test("a ModelInfer whose deadline passes while it waits for a worker is answered DEADLINE_EXCEEDED uncomputed")
    func deadlinePassedInQueue() throws {
        let service = try makeService(paths: [try writeSyntheticModel(name: "mnist")])
        let jobs = HeldJobs()
        let endpoint = GRPCEndpoint(service: service, submit: jobs.submit)
        let server = try GRPCServer(configuration: GRPCServerConfiguration(port: 0), handler: endpoint)
        defer {
            jobs.runRemaining()
            server.stop(drainTimeout: .seconds(5))
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("python/tritonclient_grpc_check.py")
        let client = try ChildProcess(
            URL(fileURLWithPath: testPython!), [script.path, "127.0.0.1:\(server.port)", "mnist", "deadline"])

        // The first call has a 0.5 s deadline: held for a second, it has expired when a worker takes it.
        let expired = try #require(jobs.next(within: .seconds(60)))
        usleep(1_000_000)
        expired()
        // The second has 60 s: run at once, it is computed.
        let inTime = try #require(jobs.next(within: .seconds(60)))
        inTime()
        #expect(client.exits(within: .seconds(60)))
        #expect(client.status == 0, "\(client.standardError)")
        let result = try JSONParser.parse(client.standardOutput)
        #expect(result["expired"]?["status"] == .string("StatusCode.DEADLINE_EXCEEDED"))
        #expect(result["in_time"] == .array([.number(1), .number(10)]))

        // Only the second call was computed; the server answered the first DEADLINE_EXCEEDED itself.
        let statistics = service.handle(HTTPRequest(method: "GET", path: "/v2/models/mnist/stats", body: []))
        let counts = try JSONParser.parse(statistics.body)["model_stats"]?[0]?["inference_stats"]
        #expect(counts?["success"]?["count"] == .number(1))
        #expect(counts?["fail"]?["count"] == .number(0))
        let metrics = String(
            decoding: service.handle(HTTPRequest(method: "GET", path: "/metrics", body: [])).body, as: UTF8.self)
        #expect(metrics.contains(#"mcdropout_grpc_requests_total{method="ModelInfer",code="DEADLINE_EXCEEDED"} 1"#))
        #expect(metrics.contains(#"mcdropout_grpc_requests_total{method="ModelInfer",code="OK"} 1"#))
    }
}
