// Live tests: a real daemon on a kernel-chosen loopback port, driven by raw sockets.
// Timeouts are generous and no test asserts how fast anything is: the machine may be shared and loaded.
import Glibc
import HTTPTransport
import Testing

@Suite("MicroHTTPDaemon: request bodies, chunked uploads, the body limit and 100-continue")
struct MicroHTTPDaemonBodyTests {
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
}
