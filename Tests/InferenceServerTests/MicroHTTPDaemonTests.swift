// Live tests: a real daemon on a kernel-chosen loopback port, driven by raw sockets.
// Timeouts are generous and no test asserts how fast anything is: the machine may be shared and loaded.
import Glibc
import HTTPTransport
import InferenceServer
import Testing

/// Starts a daemon, runs `body`, and stops the daemon however `body` ends.
private func withDaemon(
    _ configuration: DaemonConfiguration = .testing(),
    handler: RecordingHandler = RecordingHandler(),
    _ body: (MicroHTTPDaemon, RecordingHandler) throws -> Void
) throws {
    let daemon = try MicroHTTPDaemon(configuration: configuration, handler: handler)
    defer { daemon.stop() }
    try body(daemon, handler)
}

@Suite("MicroHTTPDaemon over loopback")
struct MicroHTTPDaemonTests {
    @Test("port 0 binds a real port that answers")
    func portZeroGivesRealPort() throws {
        try withDaemon { daemon, _ in
            #expect(daemon.port > 0 && daemon.port <= 65_535)
            #expect(daemon.isRunning)
            let response = try RawHTTPConnection(port: daemon.port).request(target: "/")
            #expect(response.status == 200)
        }
    }

    @Test("any worker count serves keep-alive requests", arguments: [1, 3])
    func workerCounts(threadCount: Int) throws {
        var configuration = DaemonConfiguration.testing()
        configuration.ioThreadCount = threadCount
        try withDaemon(configuration) { daemon, handler in
            let connections = try (0..<4).map { _ in try RawHTTPConnection(port: daemon.port) }
            for round in 0..<3 {
                for (index, connection) in connections.enumerated() {
                    let response = try connection.request(target: "/\(round)/\(index)")
                    #expect(response.header("X-Path") == "/\(round)/\(index)")
                }
            }
            #expect(handler.requests.count == 12)
        }
    }

    @Test("GET passes method, raw path, decoded query, headers and client address to the handler")
    func getEchoesRequestHead() throws {
        try withDaemon { daemon, handler in
            let connection = try RawHTTPConnection(port: daemon.port)
            let response = try connection.request(
                target: "/v2/models/a%20b/x%00y%2Fz?x=1&y=a%20b+c&flag&%FF=z&empty=",
                headers: [("X-Custom", "Value 1"), ("X-Dup", "first"), ("x-dup", "second")])
            #expect(response.status == 200)
            #expect(response.header("X-Method") == "GET")
            #expect(response.header("X-Path") == "/v2/models/a%20b/x%00y%2Fz")

            let request = try #require(handler.requests.first)
            #expect(request.method == "GET")
            #expect(request.path == "/v2/models/a%20b/x%00y%2Fz")
            #expect(request.query.map(\.name) == ["x", "y", "flag", "\u{FFFD}", "empty"])
            #expect(request.query.map(\.value) == ["1", "a b c", "", "z", ""])
            #expect(request.queryValue("y") == "a b c")
            #expect(request.header("x-custom") == "Value 1")
            #expect(request.header("X-CUSTOM") == "Value 1")
            #expect(request.headers.filter { $0.name == "x-dup" }.map(\.value) == ["first", "second"])
            #expect(request.headers.allSatisfy { $0.name == $0.name.lowercased() })
            #expect(request.body.isEmpty)
            #expect(request.version == "HTTP/1.1")
            #expect(request.remoteAddress == "127.0.0.1")
        }
    }

    @Test("POST body with every byte value arrives intact and is echoed")
    func postEchoesBody() throws {
        try withDaemon { daemon, handler in
            let body = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let response = try RawHTTPConnection(port: daemon.port).request(
                method: "POST", target: "/predict", headers: [("Content-Type", "application/octet-stream")],
                body: body)
            #expect(response.status == 200)
            #expect(response.header("X-Method") == "POST")
            #expect(response.body == body)
            #expect(handler.requests.first?.body == body)
            #expect(handler.requests.first?.header("content-length") == "10000")
        }
    }

    @Test("a form-encoded POST body is passed through raw, not parsed")
    func formBodyIsRaw() throws {
        try withDaemon { daemon, handler in
            let body = Array("a=1&b=%20x".utf8)
            let response = try RawHTTPConnection(port: daemon.port).request(
                method: "POST", target: "/form", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: body)
            #expect(response.status == 200)
            #expect(response.body == body)
            #expect(handler.requests.first?.query.isEmpty == true)
        }
    }

    @Test("keep-alive: several requests on one connection")
    func keepAliveReusesConnection() throws {
        try withDaemon { daemon, handler in
            let connection = try RawHTTPConnection(port: daemon.port)
            for index in 0..<5 {
                let body = Array("request \(index)".utf8)
                let response = try connection.request(method: "PUT", target: "/item/\(index)", body: body)
                #expect(response.status == 200)
                #expect(response.header("X-Path") == "/item/\(index)")
                #expect(response.body == body)
                #expect(response.header("Connection")?.lowercased() != "close")
            }
            #expect(handler.requests.map(\.path) == (0..<5).map { "/item/\($0)" })
            #expect(Set(handler.requests.map(\.remoteAddress)) == ["127.0.0.1"])
        }
    }

    @Test("HTTP/1.0 and 'Connection: close' requests are answered, then the connection is closed")
    func connectionClose() throws {
        try withDaemon { daemon, handler in
            let old = try RawHTTPConnection(port: daemon.port)
            try old.send(RawHTTPConnection.requestBytes(target: "/old", version: "HTTP/1.0"))
            let oldResponse = try old.readResponse()
            #expect(oldResponse.status == 200)
            #expect(oldResponse.header("X-Path") == "/old")
            #expect(old.waitForEnding() == .closed)

            let closing = try RawHTTPConnection(port: daemon.port)
            let response = try closing.request(target: "/close", headers: [("Connection", "close")])
            #expect(response.status == 200)
            #expect(closing.waitForEnding() == .closed)
            #expect(handler.requests.map(\.version) == ["HTTP/1.0", "HTTP/1.1"])
        }
    }

    @Test("pipelined requests sent in one write are answered in order")
    func pipelinedRequests() throws {
        try withDaemon { daemon, _ in
            let connection = try RawHTTPConnection(port: daemon.port)
            try connection.send(
                RawHTTPConnection.requestBytes(target: "/one")
                    + RawHTTPConnection.requestBytes(method: "POST", target: "/two", body: Array("2".utf8)))
            let first = try connection.readResponse()
            let second = try connection.readResponse()
            #expect(first.header("X-Path") == "/one")
            #expect(second.header("X-Path") == "/two")
            #expect(second.text == "2")
        }
    }

    @Test("chunked upload is reassembled within the limit")
    func chunkedUploadIsReassembled() throws {
        try withDaemon(.testing(maxBodyBytes: 4096)) { daemon, handler in
            let chunks: [[UInt8]] = [
                Array(repeating: 0x41, count: 1000), Array("bc".utf8), Array(repeating: 0, count: 3000),
            ]
            let connection = try RawHTTPConnection(port: daemon.port)
            try connection.send(
                RawHTTPConnection.requestBytes(
                    method: "POST", target: "/chunked", headers: [("Transfer-Encoding", "chunked")],
                    body: RawHTTPConnection.chunkedBody(chunks)))
            let response = try connection.readResponse()
            #expect(response.status == 200)
            #expect(response.body == chunks.flatMap { $0 })
            #expect(handler.requests.first?.body == chunks.flatMap { $0 })
            // The connection stays usable after a chunked request.
            #expect(try connection.request(target: "/after").status == 200)
        }
    }

    @Test("chunked upload split across many small writes")
    func chunkedUploadInSmallWrites() throws {
        try withDaemon { daemon, handler in
            let body = (0..<2000).map { UInt8(truncatingIfNeeded: $0) }
            let encoded = RawHTTPConnection.chunkedBody(
                stride(from: 0, to: body.count, by: 333).map {
                    Array(body[$0..<min($0 + 333, body.count)])
                })
            let connection = try RawHTTPConnection(port: daemon.port)
            try connection.send(
                RawHTTPConnection.requestBytes(
                    method: "POST", target: "/slow", headers: [("Transfer-Encoding", "chunked")]))
            for start in stride(from: 0, to: encoded.count, by: 100) {
                try connection.send(Array(encoded[start..<min(start + 100, encoded.count)]))
                pause(.milliseconds(2))
            }
            let response = try connection.readResponse()
            #expect(response.status == 200)
            #expect(response.body == body)
            #expect(handler.requests.first?.body == body)
        }
    }

    @Test("a body exactly at the limit is accepted")
    func bodyAtLimitIsAccepted() throws {
        try withDaemon(.testing(maxBodyBytes: 1024)) { daemon, handler in
            let body = [UInt8](repeating: 7, count: 1024)
            let response = try RawHTTPConnection(port: daemon.port).request(method: "POST", target: "/", body: body)
            #expect(response.status == 200)
            #expect(response.body == body)
            #expect(handler.rejections.isEmpty)
        }
    }

    @Test("Content-Length over the limit is rejected with 413 before the body is sent")
    func declaredBodyOverLimitIs413() throws {
        try withDaemon(.testing(maxBodyBytes: 1024)) { daemon, handler in
            let connection = try RawHTTPConnection(port: daemon.port)
            // Only the head: the 413 must come without the server waiting for (or reading) the body.
            try connection.send(
                RawHTTPConnection.requestBytes(method: "POST", target: "/big", headers: [("Content-Length", "1025")]))
            let response = try connection.readResponse()
            #expect(response.status == 413)
            #expect(response.header("X-Rejected") == "body-too-large")
            #expect(handler.rejections == [.bodyTooLarge(limit: 1024)])
            #expect(handler.requests.isEmpty)
            #expect(connection.waitForEnding() == .closed)
        }
    }

    @Test("chunked body over the limit is rejected with 413 and the handler never sees it")
    func chunkedBodyOverLimitIs413() throws {
        try withDaemon(.testing(maxBodyBytes: 1024)) { daemon, handler in
            let connection = try RawHTTPConnection(port: daemon.port)
            let chunks = Array(repeating: [UInt8](repeating: 1, count: 600), count: 3)
            try connection.send(
                RawHTTPConnection.requestBytes(
                    method: "POST", target: "/big", headers: [("Transfer-Encoding", "chunked")],
                    body: RawHTTPConnection.chunkedBody(chunks)))
            let response = try connection.readResponse()
            #expect(response.status == 413)
            #expect(handler.rejections == [.bodyTooLarge(limit: 1024)])
            #expect(handler.requests.isEmpty)
            // The daemon keeps serving.
            #expect(try RawHTTPConnection(port: daemon.port).request(target: "/ok").status == 200)
        }
    }

    @Test("a chunked body far over the limit gets the connection closed, and the daemon keeps serving")
    func chunkedBodyFarOverLimitClosesConnection() throws {
        try withDaemon(.testing(maxBodyBytes: 1024)) { daemon, handler in
            let connection = try RawHTTPConnection(port: daemon.port)
            try connection.send(
                RawHTTPConnection.requestBytes(
                    method: "POST", target: "/huge", headers: [("Transfer-Encoding", "chunked")]))
            var outcome: ConnectionEnding?
            // 128 KiB: past the limit plus the 64 KiB the daemon is willing to read and discard.
            for _ in 0..<128 {
                do {
                    try connection.send(Array("400\r\n".utf8) + [UInt8](repeating: 2, count: 1024) + Array("\r\n".utf8))
                } catch {
                    outcome = .reset
                    break
                }
            }
            if outcome == nil {
                outcome = connection.waitForEnding()
            }
            #expect(outcome == .closed || outcome == .reset)
            #expect(handler.requests.isEmpty)
            #expect(try RawHTTPConnection(port: daemon.port).request(target: "/ok").status == 200)
        }
    }

    @Test("Expect: 100-continue gets an interim 100, then the final response")
    func expectContinue() throws {
        try withDaemon { daemon, handler in
            let connection = try RawHTTPConnection(port: daemon.port)
            let body = Array("{\"inputs\":[1,2,3]}".utf8)
            try connection.send(
                RawHTTPConnection.requestBytes(
                    method: "POST", target: "/predict",
                    headers: [("Content-Length", "\(body.count)"), ("Expect", "100-continue")]))
            let interim = try connection.readResponse(requestMethod: "POST")
            #expect(interim.status == 100)
            try connection.send(body)
            let response = try connection.readResponse(requestMethod: "POST")
            #expect(response.status == 200)
            #expect(response.body == body)
            #expect(handler.requests.first?.body == body)
        }
    }

    @Test("Expect: 100-continue with an oversized Content-Length gets 413 instead of 100")
    func expectContinueOverLimit() throws {
        try withDaemon(.testing(maxBodyBytes: 100)) { daemon, handler in
            let connection = try RawHTTPConnection(port: daemon.port)
            try connection.send(
                RawHTTPConnection.requestBytes(
                    method: "POST", target: "/predict",
                    headers: [("Content-Length", "101"), ("Expect", "100-continue")]))
            let response = try connection.readResponse(requestMethod: "POST")
            #expect(response.status == 413)
            #expect(handler.requests.isEmpty)
        }
    }

    @Test("HEAD gets the headers of the GET response but no body, and the connection stays in sync")
    func headHasNoBody() throws {
        let handler = RecordingHandler { request in
            HTTPResponse(status: 200, headers: [(name: "X-Method", value: request.method)], body: Array("hello".utf8))
        }
        try withDaemon(handler: handler) { daemon, handler in
            let connection = try RawHTTPConnection(port: daemon.port)
            let head = try connection.request(method: "HEAD", target: "/resource")
            #expect(head.status == 200)
            #expect(head.header("X-Method") == "HEAD")
            #expect(head.header("Content-Length") == "5")
            #expect(head.body.isEmpty)
            // Had the server sent a body, it would be read here as a broken status line.
            let get = try connection.request(target: "/resource")
            #expect(get.status == 200)
            #expect(get.text == "hello")
            #expect(handler.requests.map(\.method) == ["HEAD", "GET"])
        }
    }

    @Test("empty bodies: 200 has Content-Length 0, 204 has no body")
    func emptyResponses() throws {
        let handler = RecordingHandler { request in
            HTTPResponse(status: request.path == "/none" ? 204 : 200)
        }
        try withDaemon(handler: handler) { daemon, _ in
            let connection = try RawHTTPConnection(port: daemon.port)
            let empty = try connection.request(target: "/empty")
            #expect(empty.status == 200)
            #expect(empty.header("Content-Length") == "0")
            #expect(empty.body.isEmpty)
            let none = try connection.request(target: "/none")
            #expect(none.status == 204)
            #expect(none.body.isEmpty)
            #expect(try connection.request(target: "/empty").status == 200)
        }
    }

    @Test("a 4 MiB response arrives intact")
    func largeResponse() throws {
        let payload = (0..<(4 * 1024 * 1024)).map { UInt8(truncatingIfNeeded: $0 ^ ($0 >> 8)) }
        let handler = RecordingHandler { _ in HTTPResponse(status: 200, body: payload) }
        try withDaemon(handler: handler) { daemon, _ in
            let connection = try RawHTTPConnection(port: daemon.port)
            let response = try connection.request(target: "/big")
            #expect(response.header("Content-Length") == "\(payload.count)")
            #expect(response.body == payload)
            #expect(try connection.request(target: "/again").body.count == payload.count)
        }
    }

    @Test("header bytes that are not UTF-8 reach the handler as U+FFFD, never a crash")
    func nonUTF8HeaderBytes() throws {
        try withDaemon { daemon, handler in
            let connection = try RawHTTPConnection(port: daemon.port)
            let head =
                Array("GET /bytes HTTP/1.1\r\nHost: test\r\nX-Binary: a".utf8) + [0xFF, 0xFE, 0xC3]
                + Array("z\r\nX-\u{E9}: 1\r\n\r\n".utf8)
            try connection.send(head)
            let response = try connection.readResponse()
            #expect(response.status == 200)
            let request = try #require(handler.requests.first)
            #expect(request.header("x-binary") == "a\u{FFFD}\u{FFFD}\u{FFFD}z")
        }
    }

    @Test("a URL longer than the connection memory is refused by libmicrohttpd without calling the handler")
    func veryLongURL() throws {
        try withDaemon(.testing(connectionMemoryLimitBytes: 8192)) { daemon, handler in
            let connection = try RawHTTPConnection(port: daemon.port)
            let target = "/" + String(repeating: "a", count: 64 * 1024)
            let response = try connection.request(target: target)
            #expect(response.status == 414 || response.status == 431)
            #expect(handler.requests.isEmpty)
            #expect(try RawHTTPConnection(port: daemon.port).request(target: "/short").status == 200)
        }
    }

    @Test("oversized headers are refused by libmicrohttpd without calling the handler")
    func oversizedHeaders() throws {
        try withDaemon(.testing(connectionMemoryLimitBytes: 8192)) { daemon, handler in
            let connection = try RawHTTPConnection(port: daemon.port)
            let headers = (0..<40).map { ("X-Filler-\($0)", String(repeating: "v", count: 400)) }
            let response = try connection.request(target: "/", headers: headers)
            #expect(response.status == 431 || response.status == 413)
            #expect(handler.requests.isEmpty)
        }
    }

    @Test("invalid status codes become 500; framing and malformed headers from the handler are dropped")
    func responseSanitising() throws {
        let handler = RecordingHandler { request in
            if request.path == "/bad-status" {
                return HTTPResponse(status: 42, body: Array("secret".utf8))
            }
            return HTTPResponse(
                status: 201,
                headers: [
                    (name: "Content-Length", value: "999"), (name: "X-Injected", value: "a\r\nSet-Cookie: x=1"),
                    (name: "Bad Name", value: "v"), (name: "X-Empty", value: ""), (name: "X-Good", value: "yes"),
                ],
                body: Array("abc".utf8))
        }
        try withDaemon(handler: handler) { daemon, _ in
            let connection = try RawHTTPConnection(port: daemon.port)
            let bad = try connection.request(target: "/bad-status")
            #expect(bad.status == 500)
            #expect(bad.body.isEmpty)
            let sanitised = try connection.request(target: "/headers")
            #expect(sanitised.status == 201)
            #expect(sanitised.header("Content-Length") == "3")
            #expect(sanitised.text == "abc")
            #expect(sanitised.header("X-Good") == "yes")
            #expect(sanitised.header("X-Injected") == nil)
            #expect(sanitised.header("Set-Cookie") == nil)
            #expect(sanitised.header("X-Empty") == nil)
        }
    }

    @Test("concurrent clients on several threads each get their own answers")
    func concurrentRequests() throws {
        try withDaemon { daemon, handler in
            let port = daemon.port
            let failures = FailureLog()
            TestThread.run(6) { client in
                do {
                    let connection = try RawHTTPConnection(port: port)
                    for index in 0..<10 {
                        let body = Array("client \(client) request \(index)".utf8)
                        let response = try connection.request(
                            method: "POST", target: "/c\(client)/\(index)", body: body)
                        if response.status != 200 || response.body != body
                            || response.header("X-Path") != "/c\(client)/\(index)"
                        {
                            failures.record("client \(client) request \(index): \(response.status) \(response.text)")
                        }
                    }
                } catch {
                    failures.record("client \(client): \(error)")
                }
            }
            #expect(failures.entries.isEmpty)
            #expect(handler.requests.count == 60)
            #expect(eventually { daemon.inFlightRequestCount == 0 })
        }
    }

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

    @Test("binds and serves on IPv6 loopback", .enabled(if: isIPv6LoopbackAvailable()))
    func ipv6Loopback() throws {
        var configuration = DaemonConfiguration.testing()
        configuration.host = "::1"
        try withDaemon(configuration) { daemon, handler in
            let response = try RawHTTPConnection(host: "::1", port: daemon.port).request(target: "/six")
            #expect(response.status == 200)
            #expect(handler.requests.first?.remoteAddress == "::1")
        }
    }
}

@Suite("MicroHTTPDaemon start-up errors")
struct MicroHTTPDaemonStartTests {
    @Test(
        "host names and malformed addresses are refused before binding", arguments: ["localhost", "1.2.3", "::g", ""])
    func invalidAddress(host: String) {
        var configuration = DaemonConfiguration.testing()
        configuration.host = host
        #expect(throws: DaemonError.invalidAddress(host)) {
            _ = try MicroHTTPDaemon(configuration: configuration, handler: RecordingHandler())
        }
    }

    @Test("out-of-range settings are refused with the setting's name")
    func invalidConfiguration() {
        var configuration = DaemonConfiguration.testing()
        configuration.ioThreadCount = 0
        #expect(throws: DaemonError.invalidConfiguration(setting: "ioThreadCount", value: 0, requirement: "1...1024")) {
            _ = try MicroHTTPDaemon(configuration: configuration, handler: RecordingHandler())
        }
        configuration = .testing()
        configuration.port = 70_000
        #expect(throws: DaemonError.invalidConfiguration(setting: "port", value: 70_000, requirement: "0...65535")) {
            _ = try MicroHTTPDaemon(configuration: configuration, handler: RecordingHandler())
        }
    }

    @Test("a port already in use gives startFailed with libmicrohttpd's reason")
    func portInUse() throws {
        let first = try MicroHTTPDaemon(configuration: .testing(), handler: RecordingHandler())
        defer { first.stop() }
        var configuration = DaemonConfiguration.testing()
        configuration.port = first.port
        do {
            _ = try MicroHTTPDaemon(configuration: configuration, handler: RecordingHandler())
            Issue.record("a second daemon started on the same port")
        } catch {
            guard case .startFailed(let host, let port, let reason) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(host == "127.0.0.1")
            #expect(port == first.port)
            #expect(!reason.isEmpty)
            #expect(error.description.contains("\(first.port)"))
        }
    }
}

/// Whether this machine can bind the IPv6 loopback address (containers sometimes disable IPv6).
private func isIPv6LoopbackAvailable() -> Bool {
    let socket = Glibc.socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
    guard socket >= 0 else {
        return false
    }
    defer { close(socket) }
    var address = sockaddr_in6()
    address.sin6_family = sa_family_t(AF_INET6)
    address.sin6_addr = in6addr_loopback
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0
        }
    }
}
