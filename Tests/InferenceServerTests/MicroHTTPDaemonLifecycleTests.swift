// Live tests: a real daemon on a kernel-chosen loopback port, driven by raw sockets.
// Timeouts are generous and no test asserts how fast anything is: the machine may be shared and loaded.
import Glibc
import HTTPTransport
import Testing

@Suite("MicroHTTPDaemon: concurrency, stop, quiesce, connection limits and timeouts")
struct MicroHTTPDaemonLifecycleTests {
    @Test("stop() while a slow request is in flight lets it finish, then stops")
    func stopDrainsInFlightRequest() throws {
        let entered = TestLatch()
        let release = TestLatch()
        let handler = RecordingHandler { request in
            if request.path == "/slow" {
                entered.open()
                release.wait()
            }
            return HTTPResponse(status: 200, body: Array("finished \(request.path)".utf8))
        }
        let daemon = try MicroHTTPDaemon(configuration: .testing(), handler: handler)
        let port = daemon.port
        let slowResult = ResultBox()
        let client = TestThread {
            do {
                let response = try RawHTTPConnection(port: port).request(target: "/slow")
                slowResult.set("\(response.status) \(response.text) \(response.header("Connection") ?? "")")
            } catch {
                slowResult.set("error \(error)")
            }
        }
        #expect(entered.wait())
        #expect(daemon.inFlightRequestCount == 1)
        let stopped = TestLatch()
        let stopper = TestThread {
            daemon.stop(drainTimeout: .seconds(60))
            stopped.open()
        }
        // Give a wrong stop() every chance to return before the handler does.
        pause(.milliseconds(300))
        #expect(!stopped.hasOpened)
        // New connections are refused while draining (polled: on a loaded machine the stopper may start late).
        #expect(eventually { (try? RawHTTPConnection(port: port)) == nil })
        release.open()
        client.join()
        stopper.join()
        #expect(slowResult.value == "200 finished /slow close")
        #expect(!daemon.isRunning)
        #expect(daemon.inFlightRequestCount == 0)
        #expect(handler.requests.map(\.path) == ["/slow"])
    }

    @Test("stop() is idempotent and concurrent calls all return once stopped")
    func stopIsIdempotent() throws {
        let daemon = try MicroHTTPDaemon(configuration: .testing(), handler: RecordingHandler())
        let port = daemon.port
        #expect(try RawHTTPConnection(port: port).request(target: "/").status == 200)
        TestThread.run(3) { _ in daemon.stop() }
        daemon.stop()
        #expect(!daemon.isRunning)
        #expect(throws: RawHTTPClientError.connectFailed(errno: ECONNREFUSED)) {
            _ = try RawHTTPConnection(port: port)
        }
    }

    @Test("dropping the last reference stops the daemon")
    func deinitStops() throws {
        var daemon: MicroHTTPDaemon? = try MicroHTTPDaemon(configuration: .testing(), handler: RecordingHandler())
        let port = try #require(daemon?.port)
        #expect(try RawHTTPConnection(port: port).request(target: "/").status == 200)
        daemon = nil
        #expect(throws: RawHTTPClientError.connectFailed(errno: ECONNREFUSED)) {
            _ = try RawHTTPConnection(port: port)
        }
    }

    @Test("quiesce refuses new connections while open ones keep being served")
    func quiesceRefusesNewConnections() throws {
        try withDaemon { daemon, _ in
            let existing = try RawHTTPConnection(port: daemon.port)
            #expect(try existing.request(target: "/before").status == 200)
            daemon.quiesce()
            daemon.quiesce()
            #expect(throws: RawHTTPClientError.connectFailed(errno: ECONNREFUSED)) {
                _ = try RawHTTPConnection(port: daemon.port)
            }
            #expect(daemon.isRunning)
            #expect(try existing.request(target: "/after").status == 200)
        }
    }

    @Test("the per-IP connection limit closes connections over it")
    func perIPConnectionLimit() throws {
        try withDaemon(.testing(perIPConnectionLimit: 2)) { daemon, handler in
            let first = try RawHTTPConnection(port: daemon.port)
            let second = try RawHTTPConnection(port: daemon.port)
            // A served request proves the daemon has accepted (and counts) each connection.
            #expect(try first.request(target: "/1").status == 200)
            #expect(try second.request(target: "/2").status == 200)
            let third = try RawHTTPConnection(port: daemon.port)
            #expect(throws: RawHTTPClientError.self) {
                _ = try third.request(target: "/3")
            }
            #expect(handler.requests.map(\.path) == ["/1", "/2"])
            // Once a slot frees up, a new connection is served again.
            first.close()
            #expect(
                eventually {
                    (try? RawHTTPConnection(port: daemon.port).request(target: "/4").status) == 200
                })
        }
    }

    @Test("an idle connection is closed after the connection timeout")
    func idleConnectionTimesOut() throws {
        try withDaemon(.testing(connectionTimeoutSeconds: 1)) { daemon, _ in
            let used = try RawHTTPConnection(port: daemon.port, timeout: .seconds(30))
            #expect(try used.request(target: "/").status == 200)
            let silent = try RawHTTPConnection(port: daemon.port, timeout: .seconds(30))
            #expect(used.waitForEnding() == .closed)
            #expect(silent.waitForEnding() == .closed)
        }
    }
}
