// Live tests: a real daemon on a kernel-chosen loopback port, driven by raw sockets.
// Timeouts are generous and no test asserts how fast anything is: the machine may be shared and loaded.
import Glibc
import HTTPTransport
import Testing

/// Starts a daemon, runs `body`, and stops the daemon however `body` ends.
func withDaemon(
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
