// A deliberately small HTTP/1.1 client over raw Glibc sockets, for tests that must control every byte on the wire
// (malformed requests, partial bodies, pipelining, keep-alive reuse) and observe exactly how the server reacts.
import Glibc
import HTTPTransport

/// What can go wrong talking to a server through `RawHTTPConnection`.
enum RawHTTPClientError: Error, Equatable, CustomStringConvertible {
    /// The host is not a numeric IPv4 or IPv6 address.
    case invalidAddress(String)
    /// `connect` failed (ECONNREFUSED when nothing listens).
    case connectFailed(errno: Int32)
    /// `send` failed (EPIPE or ECONNRESET when the server closed the connection).
    case sendFailed(errno: Int32)
    /// `recv` failed with something other than a timeout or a reset.
    case receiveFailed(errno: Int32)
    /// Nothing arrived within the connection's timeout.
    case timedOut
    /// The server closed the connection before a complete response arrived.
    case closedByPeer
    /// The server reset the connection.
    case connectionReset
    /// The bytes received are not an HTTP/1.x response.
    case malformedResponse(String)

    var description: String {
        switch self {
        case .invalidAddress(let host): "invalid address \(host)"
        case .connectFailed(let code): "connect failed: \(String(cString: strerror(code)))"
        case .sendFailed(let code): "send failed: \(String(cString: strerror(code)))"
        case .receiveFailed(let code): "recv failed: \(String(cString: strerror(code)))"
        case .timedOut: "timed out"
        case .closedByPeer: "connection closed by peer"
        case .connectionReset: "connection reset by peer"
        case .malformedResponse(let detail): "malformed response: \(detail)"
        }
    }
}

/// One parsed HTTP response.
struct RawHTTPResponse {
    /// "HTTP/1.1" or "HTTP/1.0".
    var version: String
    var status: Int
    var reason: String
    /// Header fields in arrival order, names as sent.
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    /// The first header called `name` (case-insensitive), or `nil`.
    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// The body as UTF-8 text (invalid bytes become U+FFFD).
    var text: String {
        String(decoding: body, as: UTF8.self)
    }
}

/// How a connection ended when the test waited for it to end.
enum ConnectionEnding: Equatable {
    /// Orderly close (EOF).
    case closed
    /// Reset (RST).
    case reset
    /// Still open when the timeout ran out.
    case stillOpen
    /// The server sent data instead.
    case receivedData
}

/// A blocking HTTP/1.1 client connection with timeouts; not thread-safe (use one per thread).
///
/// Sends arbitrary bytes, parses responses framed by Content-Length, chunked encoding or connection close, and can
/// be reused for several requests (keep-alive). Every blocking call gives up after `timeout`.
final class RawHTTPConnection {
    private var socket: Int32
    private var pending: [UInt8] = []
    let host: String
    let port: Int

    /// Connects to `host` (numeric IPv4 or IPv6) on `port`.
    init(host: String = "127.0.0.1", port: Int, timeout: Duration = .seconds(20)) throws(RawHTTPClientError) {
        self.host = host
        self.port = port
        var address4 = sockaddr_in()
        var address6 = sockaddr_in6()
        let family: Int32
        if inet_pton(AF_INET, host, &address4.sin_addr) == 1 {
            family = AF_INET
            address4.sin_family = sa_family_t(AF_INET)
            address4.sin_port = UInt16(port).bigEndian
        } else if inet_pton(AF_INET6, host, &address6.sin6_addr) == 1 {
            family = AF_INET6
            address6.sin6_family = sa_family_t(AF_INET6)
            address6.sin6_port = UInt16(port).bigEndian
        } else {
            throw .invalidAddress(host)
        }
        socket = Glibc.socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else {
            throw .connectFailed(errno: errno)
        }
        let seconds = timeout.components.seconds
        let microseconds = timeout.components.attoseconds / 1_000_000_000_000
        var interval = timeval(tv_sec: Int(seconds), tv_usec: Int(microseconds))
        _ = setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        _ = setsockopt(socket, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let result: Int32
        if family == AF_INET {
            result = withUnsafePointer(to: &address4) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        } else {
            result = withUnsafePointer(to: &address6) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        }
        guard result == 0 else {
            let code = errno
            Glibc.close(socket)
            throw .connectFailed(errno: code)
        }
    }

    deinit {
        close()
    }

    /// Closes the connection (idempotent).
    func close() {
        if socket >= 0 {
            Glibc.close(socket)
            socket = -1
        }
    }

    // MARK: Sending

    /// Sends all of `bytes`.
    func send(_ bytes: [UInt8]) throws(RawHTTPClientError) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes {
                Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if sent < 0 {
                let code = errno
                if code == EINTR {
                    continue
                }
                throw code == EAGAIN || code == EWOULDBLOCK ? .timedOut : .sendFailed(errno: code)
            }
            offset += sent
        }
    }

    /// Half-closes the connection (`shutdown(SHUT_WR)`, as `nc -N` and some proxies do): the server reads end-of-file,
    /// and the response can still be read.
    func finishSending() {
        _ = shutdown(socket, Int32(SHUT_WR))
    }

    /// Sends the UTF-8 bytes of `text`.
    func send(_ text: String) throws(RawHTTPClientError) {
        try send(Array(text.utf8))
    }

    /// Builds a request: adds `Host` and, when there is a body, `Content-Length`, unless `headers` has them.
    static func requestBytes(
        method: String = "GET",
        target: String,
        headers: [(String, String)] = [],
        body: [UInt8] = [],
        version: String = "HTTP/1.1"
    ) -> [UInt8] {
        var head = "\(method) \(target) \(version)\r\n"
        let names = Set(headers.map { $0.0.lowercased() })
        if !names.contains("host") {
            head += "Host: test\r\n"
        }
        if !body.isEmpty, !names.contains("content-length"), !names.contains("transfer-encoding") {
            head += "Content-Length: \(body.count)\r\n"
        }
        for (name, value) in headers {
            head += "\(name): \(value)\r\n"
        }
        head += "\r\n"
        return Array(head.utf8) + body
    }

    /// Sends one request and reads its response (skipping nothing: a 1xx interim response is returned as is).
    func request(
        method: String = "GET",
        target: String,
        headers: [(String, String)] = [],
        body: [UInt8] = []
    ) throws(RawHTTPClientError) -> RawHTTPResponse {
        try send(Self.requestBytes(method: method, target: target, headers: headers, body: body))
        return try readResponse(requestMethod: method)
    }

    /// Encodes `chunks` with chunked transfer coding, including the final zero-size chunk.
    static func chunkedBody(_ chunks: [[UInt8]]) -> [UInt8] {
        var encoded: [UInt8] = []
        for chunk in chunks where !chunk.isEmpty {
            encoded += Array("\(String(chunk.count, radix: 16))\r\n".utf8) + chunk + Array("\r\n".utf8)
        }
        return encoded + Array("0\r\n\r\n".utf8)
    }

    // MARK: Receiving

    /// Reads the next response. Bodies of HEAD responses, 1xx, 204 and 304 are empty by definition.
    func readResponse(requestMethod: String = "GET") throws(RawHTTPClientError) -> RawHTTPResponse {
        let head = try readHead()
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw .malformedResponse("status line \(statusLine.debugDescription)")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else {
                throw .malformedResponse("header line \(line.debugDescription)")
            }
            let value = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
            headers.append((name: String(line[..<colon]), value: String(value)))
        }
        var response = RawHTTPResponse(
            version: String(parts[0]), status: status, reason: parts.count > 2 ? String(parts[2]) : "",
            headers: headers, body: [])
        if requestMethod == "HEAD" || (100..<200).contains(status) || status == 204 || status == 304 {
            return response
        }
        if response.header("Transfer-Encoding")?.lowercased() == "chunked" {
            response.body = try readChunkedBody()
        } else if let lengthText = response.header("Content-Length") {
            guard let length = Int(lengthText), length >= 0 else {
                throw .malformedResponse("Content-Length \(lengthText)")
            }
            response.body = try readExactly(length)
        } else {
            response.body = try readUntilClosed()
        }
        return response
    }

    /// Reads until the server closes the connection and returns everything received.
    func readUntilClosed() throws(RawHTTPClientError) -> [UInt8] {
        while try fill() {}
        defer { pending = [] }
        return pending
    }

    /// Reads exactly `count` bytes (for binary protocols such as HTTP/2 frames); on a timeout nothing is consumed.
    func receive(exactly count: Int) throws(RawHTTPClientError) -> [UInt8] {
        try readExactly(count)
    }

    /// The next `count` bytes, left unread; waits for them as ``receive(exactly:)`` does.
    func peek(_ count: Int) throws(RawHTTPClientError) -> [UInt8] {
        while pending.count < count {
            guard try fill() else { throw .closedByPeer }
        }
        return Array(pending[..<count])
    }

    /// Waits for the server to end the connection, consuming nothing that it sends.
    func waitForEnding() -> ConnectionEnding {
        if !pending.isEmpty {
            return .receivedData
        }
        do {
            return try fill() ? .receivedData : .closed
        } catch .connectionReset {
            return .reset
        } catch .timedOut {
            return .stillOpen
        } catch {
            return .reset
        }
    }

    private func readHead() throws(RawHTTPClientError) -> String {
        let terminator: [UInt8] = Array("\r\n\r\n".utf8)
        var searchFrom = 0
        while true {
            if pending.count >= searchFrom + 4 {
                for index in searchFrom...(pending.count - 4)
                where pending[index..<index + 4].elementsEqual(terminator) {
                    let head = String(decoding: pending[..<index], as: UTF8.self)
                    pending.removeFirst(index + 4)
                    return head
                }
                searchFrom = pending.count - 3
            }
            guard try fill() else {
                throw .closedByPeer
            }
        }
    }

    private func readExactly(_ count: Int) throws(RawHTTPClientError) -> [UInt8] {
        while pending.count < count {
            guard try fill() else {
                throw .closedByPeer
            }
        }
        let bytes = Array(pending[..<count])
        pending.removeFirst(count)
        return bytes
    }

    private func readLine() throws(RawHTTPClientError) -> String {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                var line = pending[..<newline]
                if line.last == UInt8(ascii: "\r") {
                    line = line.dropLast()
                }
                let text = String(decoding: line, as: UTF8.self)
                pending.removeFirst(newline + 1)
                return text
            }
            guard try fill() else {
                throw .closedByPeer
            }
        }
    }

    private func readChunkedBody() throws(RawHTTPClientError) -> [UInt8] {
        var body: [UInt8] = []
        while true {
            let sizeLine = try readLine()
            let sizeText = sizeLine.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: " \t"), radix: 16), size >= 0 else {
                throw .malformedResponse("chunk size \(sizeLine.debugDescription)")
            }
            if size == 0 {
                while try !readLine().isEmpty {}  // trailers, then the empty line
                return body
            }
            body += try readExactly(size)
            guard try readLine().isEmpty else {
                throw .malformedResponse("missing CRLF after chunk")
            }
        }
    }

    /// Receives more bytes into `pending`; returns false at EOF.
    private func fill() throws(RawHTTPClientError) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let received = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            if received > 0 {
                pending += chunk[..<received]
                return true
            }
            if received == 0 {
                return false
            }
            let code = errno
            switch code {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: throw .timedOut
            case ECONNRESET: throw .connectionReset
            default: throw .receiveFailed(errno: code)
            }
        }
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        let blank = Set(set)
        return String(drop { blank.contains($0) }.reversed().drop { blank.contains($0) }.reversed())
    }
}
