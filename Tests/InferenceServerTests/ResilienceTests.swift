// Overload, slow and idle clients and connection caps (API keys: AuthenticationTests). Behaviour only: latency is
// measured by scripts (scripts/reliability/slow-clients.sh, scripts/reliability/lifecycle.sh), never asserted here:
// the machine may be loaded.
import Foundation
import Glibc
import MCDropoutJSON
import Synchronization
import Testing

@testable import HTTPTransport
@testable import InferenceServer

/// Blocks `POST /slow/...` requests until `gate` opens; everything else answers at once on the I/O thread.
private final class GatedHandler: HTTPHandler {
    let gate = TestLatch()
    let started = Atomic<Int>(0)

    func handle(_ request: HTTPRequest) -> HTTPResponse {
        if request.path.hasPrefix("/slow") {
            started.add(1, ordering: .relaxed)
            gate.wait()
        }
        return HTTPResponse(status: 200, body: Array(request.path.utf8))
    }

    func reject(_ rejection: RequestRejection, request: HTTPRequest) -> HTTPResponse {
        switch rejection {
        case .bodyTooLarge: HTTPResponse(status: 413)
        case .overloaded: HTTPResponse(status: 503, headers: [("Retry-After", "1")], body: Array("busy".utf8))
        case .shuttingDown: HTTPResponse(status: 503, body: Array("stopping".utf8))
        case .bodyMemoryExhausted(let limit): HTTPResponse(status: 503, body: Array("bodies \(limit)".utf8))
        }
    }

    func needsWorker(_ request: HTTPRequest) -> Bool { request.path.hasPrefix("/slow") }
}

private func pooledDaemon(
    workers: Int, queue: Int, handler: GatedHandler, overloadHold: Duration = .zero,
    bodyLimits: (each: Int, total: Int)? = nil
) throws -> MicroHTTPDaemon {
    var configuration = DaemonConfiguration.testing()
    configuration.workerThreadCount = workers
    configuration.maxQueuedRequests = queue
    configuration.overloadedResponseDelay = overloadHold
    if let bodyLimits {
        configuration.maxBodyBytes = bodyLimits.each
        configuration.maxBufferedBodyBytes = bodyLimits.total
    }
    return try MicroHTTPDaemon(configuration: configuration, handler: handler)
}

/// A status code written by one thread and read by another; 0 until set.
private final class StatusCell: Sendable {
    private let storage = Atomic<Int>(0)
    func store(_ value: Int) { storage.store(value, ordering: .releasing) }
    var value: Int { storage.load(ordering: .acquiring) }
}

/// Sends `POST target` on a new connection from a new thread; the response status lands in `status` (-1 on error).
private func postInBackground(port: Int, target: String, body: [UInt8] = [], status: StatusCell) -> TestThread {
    TestThread {
        let result = try? RawHTTPConnection(port: port, timeout: .seconds(60)).request(
            method: "POST", target: target, body: body)
        status.store(result?.status ?? -1)
    }
}

@Suite("Worker pool and admission control")
struct WorkerPoolTests {
    @Test("bodies held at once stay within maxBufferedBodyBytes: one more is read, dropped and answered 503")
    func bodyMemoryBudget() throws {
        let handler = GatedHandler()
        let daemon = try pooledDaemon(workers: 1, queue: 4, handler: handler, bodyLimits: (40_000, 100_000))
        defer {
            handler.gate.open()
            daemon.stop()
        }
        let body = [UInt8](repeating: UInt8(ascii: "x"), count: 40_000)
        let (first, second) = (StatusCell(), StatusCell())
        let running = postInBackground(port: daemon.port, target: "/slow/1", body: body, status: first)
        #expect(eventually { handler.started.load(ordering: .relaxed) == 1 })
        let queued = postInBackground(port: daemon.port, target: "/slow/2", body: body, status: second)
        #expect(eventually { daemon.inFlightRequestCount == 2 && daemon.bufferedBodyByteCount == 80_000 })

        // 120 000 bytes would be held: refused, though the body is within the per-request limit.
        let refused = try RawHTTPConnection(port: daemon.port).request(method: "POST", target: "/slow/3", body: body)
        #expect(refused.status == 503)
        #expect(String(decoding: refused.body, as: UTF8.self) == "bodies 100000")
        #expect(daemon.bufferedBodyByteCount == 80_000)
        // A body that fits what is left is still taken.
        let small = try RawHTTPConnection(port: daemon.port).request(
            method: "POST", target: "/fast", body: Array(body.prefix(20_000)))
        #expect(small.status == 200)

        handler.gate.open()
        running.join()
        queued.join()
        #expect(first.value == 200 && second.value == 200)
        #expect(eventually { daemon.bufferedBodyByteCount == 0 })
        let after = try RawHTTPConnection(port: daemon.port).request(method: "POST", target: "/slow/4", body: body)
        #expect(after.status == 200)
        #expect(eventually { daemon.bufferedBodyByteCount == 0 })
    }

    @Test(
        "beyond workers + queue, requests get 503 with Retry-After at once; inline routes answer while all workers are busy"
    )
    func admissionLimit() throws {
        let handler = GatedHandler()
        let daemon = try pooledDaemon(workers: 1, queue: 1, handler: handler)
        defer {
            handler.gate.open()
            daemon.stop()
        }
        let first = StatusCell()
        let second = StatusCell()
        let running = postInBackground(port: daemon.port, target: "/slow/1", status: first)
        #expect(eventually { handler.started.load(ordering: .relaxed) == 1 })
        let queued = postInBackground(port: daemon.port, target: "/slow/2", status: second)
        #expect(eventually { daemon.inFlightRequestCount == 2 })

        let refused = try RawHTTPConnection(port: daemon.port).request(method: "POST", target: "/slow/3")
        #expect(refused.status == 503)
        #expect(refused.header("Retry-After") == "1")
        let inline = try RawHTTPConnection(port: daemon.port).request(target: "/health")
        #expect(inline.status == 200)
        #expect(handler.started.load(ordering: .relaxed) == 1, "the queued request must wait for the worker")

        handler.gate.open()
        running.join()
        queued.join()
        #expect(first.value == 200)
        #expect(second.value == 200)
        // Capacity is free again.
        #expect(try RawHTTPConnection(port: daemon.port).request(method: "POST", target: "/slow/4").status == 200)
    }

    @Test("a refusal for overload is held back for the overload delay; stop() sends held refusals at once")
    func overloadHold() throws {
        let handler = GatedHandler()
        let daemon = try pooledDaemon(workers: 1, queue: 0, handler: handler, overloadHold: .milliseconds(400))
        defer {
            handler.gate.open()
            daemon.stop()
        }
        let first = StatusCell()
        let running = postInBackground(port: daemon.port, target: "/slow/1", status: first)
        #expect(eventually { handler.started.load(ordering: .relaxed) == 1 })

        // Held: the 503 comes no sooner than the delay, and the I/O threads still answer others meanwhile.
        let clock = ContinuousClock()
        let sent = clock.now
        let heldStatus = StatusCell()
        let held = postInBackground(port: daemon.port, target: "/slow/2", status: heldStatus)
        #expect(eventually { daemon.inFlightRequestCount == 2 })
        #expect(try RawHTTPConnection(port: daemon.port).request(target: "/health").status == 200)
        held.join()
        #expect(heldStatus.value == 503)
        #expect(clock.now - sent >= .milliseconds(400))
        #expect(handler.started.load(ordering: .relaxed) == 1, "a refused request must not run")

        // A refusal held for a minute does not hold the stop: it is answered when the stop begins.
        handler.gate.open()
        running.join()
        let blocker = GatedHandler()
        let blocked = try pooledDaemon(workers: 1, queue: 0, handler: blocker, overloadHold: .seconds(60))
        let blockerStatus = StatusCell()
        let blockerThread = postInBackground(port: blocked.port, target: "/slow/1", status: blockerStatus)
        #expect(eventually { blocker.started.load(ordering: .relaxed) == 1 })
        let parkedStatus = StatusCell()
        let parked = postInBackground(port: blocked.port, target: "/slow/2", status: parkedStatus)
        #expect(eventually { blocked.inFlightRequestCount == 2 })
        blocker.gate.open()
        blockerThread.join()
        let stopStarted = clock.now
        blocked.stop(drainTimeout: .seconds(30))
        parked.join()
        #expect(clock.now - stopStarted < .seconds(20))
        #expect(parkedStatus.value == 503)
        #expect(blockerStatus.value == 200)
    }

    @Test("keep-alive connections carry pooled requests one after another")
    func keepAliveThroughPool() throws {
        let handler = GatedHandler()
        handler.gate.open()
        let daemon = try pooledDaemon(workers: 2, queue: 0, handler: handler)
        defer { daemon.stop() }
        let connection = try RawHTTPConnection(port: daemon.port)
        for index in 0..<20 {
            let response = try connection.request(method: "POST", target: "/slow/\(index)")
            #expect(response.status == 200 && response.text == "/slow/\(index)")
        }
    }

    @Test("stop() answers queued requests 503, lets the running one finish, and returns")
    func stopWithQueuedWork() throws {
        let handler = GatedHandler()
        let daemon = try pooledDaemon(workers: 1, queue: 4, handler: handler)
        let first = StatusCell()
        let second = StatusCell()
        let running = postInBackground(port: daemon.port, target: "/slow/1", status: first)
        #expect(eventually { handler.started.load(ordering: .relaxed) == 1 })
        let queued = postInBackground(port: daemon.port, target: "/slow/2", status: second)
        #expect(eventually { daemon.inFlightRequestCount == 2 })
        let stopped = TestLatch()
        let stopper = TestThread {
            daemon.stop(drainTimeout: .milliseconds(50))
            stopped.open()
        }
        // The queued request is cancelled as soon as the drain deadline passes, while the running one still runs.
        #expect(eventually { second.value != 0 })
        #expect(second.value == 503)
        #expect(!stopped.hasOpened, "stop() must wait for the running request")
        handler.gate.open()
        stopper.join()
        running.join()
        queued.join()
        #expect(first.value == 200)
        #expect(!daemon.isRunning)
    }
}

@Suite("Live server: overload, slow and idle clients, connection caps")
struct LiveResilienceTests {
    /// A request that keeps the synthetic model busy for a while (800 000 passes: the engine ran 200 000 in well under
    /// the time this test needs since the first stochastic layer subtracts dropped rows).
    static let slowBody = Array(
        #"{"instances": [\#((0..<100).map { pixelsJSON(testPixels(seed: UInt64($0))) }.joined(separator: ","))], "samples": 8000, "seed": 1}"#
            .utf8)

    @Test(
        "with the only worker busy and no queue, inference gets a JSON 503 with Retry-After and /health still answers")
    func overloadIs503() throws {
        let server = try startServer(paths: [try writeSyntheticModel()]) {
            $0.transport.workerThreadCount = 1
            $0.transport.maxQueuedRequests = 0
            $0.maxTotalPasses = 2_000_000
        }
        defer { server.shutdown(drainTimeout: .seconds(60)) }
        let slowStatus = StatusCell()
        let slow = TestThread {
            let connection = try? RawHTTPConnection(port: server.port, timeout: .seconds(120))
            let response = try? connection?.request(method: "POST", target: "/predict", body: Self.slowBody)
            slowStatus.store(response?.status ?? -1)
        }
        #expect(eventually { server.service.metrics.inFlight.value == 1 })
        let refused = try RawHTTPConnection(port: server.port).request(
            method: "POST", target: "/predict", body: Array(#"{"pixels": \#(pixelsJSON(testPixels()))}"#.utf8))
        let health = try RawHTTPConnection(port: server.port).request(target: "/health")
        let stillRunning = slowStatus.value == 0
        slow.join()
        #expect(stillRunning, "the slow request finished too early for this test to mean anything")
        #expect(refused.status == 503)
        #expect(refused.header("Retry-After") == "1")
        #expect(refused.json?["error"]?.stringValue?.contains("capacity") == true)
        #expect(health.status == 200)
        #expect(slowStatus.value == 200)
        // Counted under the route it was sent to, not "other".
        #expect(server.service.metrics.requestCount(route: .predict, status: 503) == 1)
        #expect(server.service.metrics.requestCount(route: .notFound, status: 503) == 0)
    }

    @Test("200 idle connections do not stop /health, and the idle timeout closes them all")
    func idleConnections() throws {
        let server = try startServer(paths: [try writeSyntheticModel()]) { $0.transport.connectionTimeoutSeconds = 1 }
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let idle = try (0..<200).map { _ in try RawHTTPConnection(port: server.port, timeout: .seconds(20)) }
        // A half-sent request line is as idle as a silent connection once it stops.
        try idle[0].send("GET /hea")
        let health = try RawHTTPConnection(port: server.port).request(target: "/health")
        #expect(health.status == 200)
        let endings = idle.map { $0.waitForEnding() }
        #expect(endings.allSatisfy { $0 == .closed }, "\(Set(endings.map { "\($0)" }))")
    }

    @Test("a slowloris client trickling its headers does not stop other clients")
    func slowloris() throws {
        let server = try startServer(paths: [try writeSyntheticModel()]) {
            $0.transport.connectionTimeoutSeconds = 2
            $0.transport.ioThreadCount = 1
        }
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let tricklers = try (0..<20).map { _ in try RawHTTPConnection(port: server.port, timeout: .seconds(20)) }
        let request = Array("POST /predict HTTP/1.1\r\nHost: t\r\nX-Slow: ".utf8)
        for byte in request.prefix(30) {
            for trickler in tricklers { try trickler.send([byte]) }
            let health = try RawHTTPConnection(port: server.port).request(target: "/health")
            #expect(health.status == 200)
            pause(.milliseconds(20))
        }
        // Once they stop trickling, the idle timeout reclaims them.
        #expect(tricklers.map { $0.waitForEnding() }.allSatisfy { $0 == .closed })
    }

    @Test("beyond the connection cap new clients wait unserved in the backlog; closing one lets the next in")
    func connectionCap() throws {
        let server = try startServer(paths: [try writeSyntheticModel()]) {
            $0.transport.ioThreadCount = 1  // one thread holds the whole cap, so it is exact
            $0.transport.connectionLimit = 4
        }
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let open = try (0..<4).map { _ in try RawHTTPConnection(port: server.port) }
        for connection in open { #expect(try connection.request(target: "/health").status == 200) }
        // libmicrohttpd stops accepting at the cap: the kernel completes the handshake, nobody reads the request.
        let extra = try RawHTTPConnection(port: server.port, timeout: .seconds(2))
        try extra.send(RawHTTPConnection.requestBytes(target: "/health"))
        #expect(throws: RawHTTPClientError.timedOut) { _ = try extra.readResponse() }
        open[0].close()
        #expect(eventually(timeout: .seconds(20)) { (try? extra.readResponse().status) == 200 })
    }

    @Test("the per-IP cap refuses a third connection from 127.0.0.1")
    func perIPCap() throws {
        let server = try startServer(paths: [try writeSyntheticModel()]) { $0.transport.perIPConnectionLimit = 2 }
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let first = try RawHTTPConnection(port: server.port)
        let second = try RawHTTPConnection(port: server.port)
        #expect(try first.request(target: "/health").status == 200)
        #expect(try second.request(target: "/health").status == 200)
        let third = try RawHTTPConnection(port: server.port)
        #expect(throws: RawHTTPClientError.self) { _ = try third.request(target: "/health") }
    }
}
