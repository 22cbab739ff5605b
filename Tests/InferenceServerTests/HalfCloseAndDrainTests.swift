// Regressions for three defects an outside hostile-input run found (issue 17): answers lost to clients that
// half-close after sending, an in-flight gauge that never went back to 0, and a stop held for the whole connection
// timeout by an abandoned upload. Each test fails against the code before the fix; only outcomes are asserted, with
// generous deadlines, except the one bound the fix is about (a stop within a second).
import Foundation
import Glibc
import MCDropoutJSON
import Synchronization
import TestSupport
import Testing

@testable import HTTPTransport
@testable import InferenceServer

/// One request of the half-close matrix: a route and a body kind, with the status it must get.
private struct HalfCloseCase: Sendable, CustomStringConvertible {
    var name: String
    var bytes: [UInt8]
    var method = "GET"
    var expectedStatus: Int

    var description: String { name }

    static func post(_ name: String, _ target: String, _ body: String, chunked: Bool, status: Int) -> HalfCloseCase {
        let bytes =
            chunked
            ? RawHTTPConnection.requestBytes(
                method: "POST", target: target, headers: [("Transfer-Encoding", "chunked")],
                body: RawHTTPConnection.chunkedBody(splitInThree(Array(body.utf8))))
            : RawHTTPConnection.requestBytes(method: "POST", target: target, body: Array(body.utf8))
        return HalfCloseCase(
            name: "\(name) (\(chunked ? "chunked" : "fixed length"))", bytes: bytes, method: "POST",
            expectedStatus: status)
    }

    static func get(_ target: String, status: Int = 200) -> HalfCloseCase {
        HalfCloseCase(
            name: "GET \(target)", bytes: RawHTTPConnection.requestBytes(target: target), expectedStatus: status)
    }

    private static func splitInThree(_ bytes: [UInt8]) -> [[UInt8]] {
        let third = max(bytes.count / 3, 1)
        return [
            Array(bytes.prefix(third)), Array(bytes.dropFirst(third).prefix(third)), Array(bytes.dropFirst(2 * third)),
        ]
    }
}

private let predictBody = #"{"pixels": \#(pixelsJSON(testPixels())), "samples": 3, "seed": 1}"#
private let inferBody =
    #"{"inputs": [{"name": "pixels", "shape": [1, 784], "datatype": "UINT8", "data": \#(pixelsJSON(testPixels()))}]}"#

/// Every route, and for each POST route valid and invalid bodies, fixed length and chunked.
private let halfCloseCases: [HalfCloseCase] = {
    var cases: [HalfCloseCase] = [
        .get("/health"), .get("/metrics"), .get("/v2"), .get("/v2/health/ready"), .get("/v2/models/m"),
        .get("/v2/models/m/ready"), .get("/openapi.json"), .get("/"), .get("/no/such/route", status: 404),
    ]
    for chunked in [false, true] {
        cases += [
            .post("POST /predict", "/predict", predictBody, chunked: chunked, status: 200),
            .post("POST /predict, malformed JSON", "/predict", #"{"pixels": [1, 2"#, chunked: chunked, status: 400),
            .post("POST /predict, wrong pixel count", "/predict", #"{"pixels": [1]}"#, chunked: chunked, status: 400),
            .post("POST V2 infer", "/v2/models/m/infer", inferBody, chunked: chunked, status: 200),
            .post("POST V2 infer, malformed", "/v2/models/m/infer", "{bad", chunked: chunked, status: 400),
            .post("POST V2 infer, unknown model", "/v2/models/nope/infer", inferBody, chunked: chunked, status: 404),
        ]
    }
    return cases
}()

/// A connection that sent its head and part of a body it never finishes; it stays open until `close()`.
private func abandonedUpload(port: Int, target: String = "/predict") throws -> RawHTTPConnection {
    let connection = try RawHTTPConnection(port: port)
    try connection.send(
        RawHTTPConnection.requestBytes(
            method: "POST", target: target, headers: [("Content-Length", "100000")],
            body: Array(#"{"pixels": ["#.utf8)))
    return connection
}

/// The value of `mcdropout_requests_in_flight` in a `/metrics` scrape.
private func inFlightGauge(port: Int) throws -> Int? {
    let text = try RawHTTPConnection(port: port).request(target: "/metrics").text
    return text.split(separator: "\n").first { $0.hasPrefix("mcdropout_requests_in_flight ") }
        .flatMap { Int($0.split(separator: " ")[1]) }
}

@Suite("Half-closed clients, abandoned uploads and shutdown")
struct HalfCloseAndDrainTests {
    @Test(
        "a client that half-closes after sending gets its answer: every route and body kind, 12 rounds",
        arguments: [false, true])
    func halfClosingClients(withAbandonedUploadPending: Bool) throws {
        let path = try writeSyntheticModel(name: "m")
        let server = try startServer(paths: [path])
        defer { server.daemon.stop(drainTimeout: .zero) }
        let pending = withAbandonedUploadPending ? try abandonedUpload(port: server.port) : nil
        defer { pending?.close() }

        var failures: [String] = []
        for round in 0..<12 {
            for testCase in halfCloseCases {
                let connection = try RawHTTPConnection(port: server.port, timeout: .seconds(20))
                try connection.send(testCase.bytes)
                connection.finishSending()
                do {
                    let response = try connection.readResponse(requestMethod: testCase.method)
                    if response.status != testCase.expectedStatus {
                        failures.append("round \(round), \(testCase): status \(response.status)")
                    }
                } catch {
                    failures.append("round \(round), \(testCase): \(error)")
                }
            }
        }
        #expect(
            failures.isEmpty, "\(failures.count) of \(12 * halfCloseCases.count) answers lost: \(failures.prefix(8))")
    }

    @Test("the in-flight count and gauge return to 0 when a client abandons a body by closing or by going silent")
    func inFlightAfterAbandonedBody() throws {
        let path = try writeSyntheticModel(name: "m")
        let server = try startServer(paths: [path]) { $0.transport.connectionTimeoutSeconds = 1 }
        defer { server.daemon.stop(drainTimeout: .zero) }
        #expect(try inFlightGauge(port: server.port) == 0, "a scrape must not count itself")

        let closing = try abandonedUpload(port: server.port)
        #expect(eventually(timeout: .seconds(10)) { server.daemon.inFlightRequestCount == 1 })
        closing.close()
        #expect(eventually(timeout: .seconds(10)) { server.daemon.inFlightRequestCount == 0 })
        #expect(try inFlightGauge(port: server.port) == 0)

        let halfClosing = try abandonedUpload(port: server.port, target: "/v2/models/m/infer")
        halfClosing.finishSending()
        #expect(halfClosing.waitForEnding() == .closed)
        #expect(eventually(timeout: .seconds(10)) { server.daemon.inFlightRequestCount == 0 })

        // Silent: the connection timeout (1 s here) closes it.
        let silent = try abandonedUpload(port: server.port)
        #expect(eventually(timeout: .seconds(10)) { server.daemon.inFlightRequestCount == 1 })
        #expect(eventually(timeout: .seconds(10)) { server.daemon.inFlightRequestCount == 0 })
        #expect(try inFlightGauge(port: server.port) == 0)
        silent.close()
        // Still serving.
        let response = try RawHTTPConnection(port: server.port).request(
            method: "POST", target: "/predict", body: Array(predictBody.utf8))
        #expect(response.status == 200)
    }

    @Test("a stop with an abandoned upload pending returns within a second of the last computed answer")
    func stopWithAbandonedUpload() throws {
        let handler = BlockingHandler()
        var configuration = DaemonConfiguration.testing(connectionTimeoutSeconds: 30)
        configuration.workerThreadCount = 1
        let daemon = try MicroHTTPDaemon(configuration: configuration, handler: handler)
        defer { handler.gate.open() }
        let abandoned = try abandonedUpload(port: daemon.port)
        defer { abandoned.close() }
        let computing = ResultBox()
        let client = TestThread {
            let response = try? RawHTTPConnection(port: daemon.port).request(method: "POST", target: "/compute")
            computing.set(response.map { "\($0.status) \($0.text)" } ?? "no response")
        }
        #expect(eventually(timeout: .seconds(10)) { handler.started.load(ordering: .acquiring) })
        #expect(daemon.inFlightRequestCount == 2)

        let stopped = TestLatch()
        let stopper = TestThread {
            daemon.stop(drainTimeout: .seconds(20))
            stopped.open()
        }
        // The drain must wait for the request being computed...
        pause(.milliseconds(600))
        #expect(!stopped.hasOpened, "stop returned while a request was still being computed")
        handler.gate.open()
        let gateOpened = ContinuousClock.now
        // ...and then not for the upload that will never finish.
        #expect(stopped.wait(timeout: .seconds(20)))
        let stopTime = ContinuousClock.now - gateOpened
        stopper.join()
        client.join()
        #expect(computing.value == "200 computed")
        #expect(stopTime < .seconds(1), "stop took \(stopTime) after the last answer")
        #expect(abandoned.waitForEnding() != .stillOpen)
    }

    @Test("SIGTERM with an abandoned upload pending: the request being computed is answered, the process exits fast")
    func sigtermWithAbandonedUpload() throws {
        guard FileManager.default.isExecutableFile(atPath: serveExecutable.path) else { return }
        let path = try writeSyntheticModel(name: "m", hidden: 64)
        let server = try ServeProcess(arguments: ["--model", path, "--max-total-passes", "4000000", "--threads", "1"])
        let abandoned = try abandonedUpload(port: server.port)
        defer { abandoned.close() }
        #expect(try RawHTTPConnection(port: server.port).request(target: "/health").status == 200)

        let instances = (0..<64).map { pixelsJSON(testPixels(seed: UInt64($0))) }.joined(separator: ",")
        let body = Array(#"{"instances": [\#(instances)], "samples": 2000, "seed": 1}"#.utf8)
        let slow = try RawHTTPConnection(port: server.port, timeout: .seconds(120))
        try slow.send(RawHTTPConnection.requestBytes(method: "POST", target: "/predict", body: body))
        pause(.milliseconds(300))
        server.signal(SIGTERM)
        let response = try slow.readResponse(requestMethod: "POST")
        let answered = ContinuousClock.now
        #expect(response.status == 200)
        #expect(response.json?["predictions"]?.arrayValue?.count == 64)
        #expect(server.exits(within: .seconds(30)))
        let exitTime = ContinuousClock.now - answered
        #expect(server.process.terminationReason == .exit && server.process.terminationStatus == 0)
        #expect(exitTime < .seconds(1), "exited \(exitTime) after the last answer; the abandoned upload held it")
    }
}

/// Blocks `POST /compute` on a worker until `gate` opens, then answers "computed".
private final class BlockingHandler: HTTPHandler {
    let gate = TestLatch()
    let started = Atomic<Bool>(false)

    func handle(_ request: HTTPRequest) -> HTTPResponse {
        started.store(true, ordering: .releasing)
        gate.wait()
        return HTTPResponse(status: 200, body: Array("computed".utf8))
    }

    func needsWorker(_ request: HTTPRequest) -> Bool { request.method == "POST" }
}
