import Foundation
import HTTPTransport
import MCDropoutJSON
import Testing

@testable import InferenceServer

/// Who writes the answer to a hostile request.
enum Answerer: Sendable {
    /// The service: the body is JSON `{"error": …}`.
    case service
    /// libmicrohttpd itself, before any handler runs (request line or headers it cannot accept). Its body is a fixed
    /// HTML page that libmicrohttpd 0.9.75 offers no hook to replace; the status is what the contract fixes.
    case transport
    /// libmicrohttpd closes the connection without any answer (it cannot even parse a request line, or runs out of
    /// connection memory while splitting the query); `status` is 0.
    case closes
}

/// One hostile request: raw bytes on a fresh connection and the answer they must get.
struct HostileCase: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: [UInt8]
    var status: Int
    var answerer: Answerer = .service
    /// Headers that must be present with these values (case-insensitive names).
    var headers: [(String, String)] = []
    /// Send only the head and at most this many body bytes, then read (for bodies the server refuses unread).
    var sendLimit: Int?

    var testDescription: String { name }

    /// A request built from parts: `Host` and `Content-Length` are added unless `headers` has them.
    init(
        _ name: String, method: String = "POST", target: String = "/predict", headers: [(String, String)] = [],
        body: [UInt8] = [], status: Int = 400, answerer: Answerer = .service, expect: [(String, String)] = [],
        sendLimit: Int? = nil
    ) {
        self.name = name
        self.bytes = RawHTTPConnection.requestBytes(method: method, target: target, headers: headers, body: body)
        self.status = status
        self.answerer = answerer
        self.headers = expect
        self.sendLimit = sendLimit
    }

    /// A request given byte for byte.
    init(_ name: String, raw: [UInt8], status: Int, answerer: Answerer = .service) {
        self.name = name
        self.bytes = raw
        self.status = status
        self.answerer = answerer
    }

    /// A `/predict` request with `json` as its body.
    static func predict(_ name: String, _ json: String, status: Int = 400) -> HostileCase {
        HostileCase(name, body: Array(json.utf8), status: status)
    }

    /// A V2 infer request for the model `m` with `json` as its body.
    static func infer(_ name: String, _ json: String, status: Int = 400, model: String = "m") -> HostileCase {
        HostileCase(name, target: "/v2/models/\(model)/infer", body: Array(json.utf8), status: status)
    }
}

private let pixels784 = pixelsJSON(testPixels())
private func pixels(count: Int, value: String = "1") -> String {
    "[" + Array(repeating: value, count: count).joined(separator: ",") + "]"
}
private func rows(_ widths: [Int]) -> String {
    "[" + widths.map { pixels(count: $0) }.joined(separator: ",") + "]"
}
private func predictBody(pixels value: String, extra: String = "") -> String {
    #"{"pixels": \#(value)\#(extra)}"#
}
private func v2Input(shape: String = "[1, 784]", datatype: String = "FP32", data: String = pixels(count: 784)) -> String
{
    #"{"inputs": [{"name": "pixels", "shape": \#(shape), "datatype": "\#(datatype)", "data": \#(data)}]}"#
}

/// Every hostile case; each runs on its own connection against one shared live server.
let hostileCases: [HostileCase] = {
    var cases: [HostileCase] = []
    // Malformed and truncated JSON.
    for (name, body) in [
        ("not JSON", "hello"),
        ("truncated object", #"{"pixels": [1, 2, 3"#),
        ("truncated string", #"{"pixels"#),
        ("unterminated literal", #"{"pixels": tru"#),
        ("trailing comma", #"{"pixels": [1, 2,]}"#),
        ("single quotes", #"{'pixels': [1]}"#),
        ("trailing garbage after the object", #"{"pixels": [1]} x"#),
        ("two objects", #"{} {}"#),
        ("comment", #"{"pixels": [1] /* c */}"#),
        ("byte order mark", "\u{FEFF}{\"pixels\": [1]}"),
        ("lone high surrogate escape", #"{"model": "\ud800"}"#),
        ("control character in a string", "{\"model\": \"a\u{01}b\"}"),
        ("leading zero", #"{"samples": 01, "pixels": [1]}"#),
        ("hex number", #"{"samples": 0x10, "pixels": [1]}"#),
        ("plus sign", #"{"samples": +5, "pixels": [1]}"#),
        ("bare minus", #"{"samples": -, "pixels": [1]}"#),
        ("NaN literal", predictBody(pixels: "[NaN]")),
        ("Infinity literal", predictBody(pixels: "[Infinity]")),
        ("-Infinity literal", predictBody(pixels: "[-Infinity]")),
        ("top-level array", "[1, 2, 3]"),
        ("top-level string", #""pixels""#),
        ("top-level null", "null"),
        ("whitespace only", "   \n\t "),
    ] {
        cases.append(.predict(name, body))
    }
    cases.append(.predict("100 000 nested brackets", String(repeating: "[", count: 100_000)))
    cases.append(
        .predict(
            "100 000 nested brackets, closed",
            String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)))
    cases.append(.predict("100 000 nested objects", String(repeating: #"{"a":"#, count: 100_000)))
    cases.append(
        .predict(
            "pixels nested 100 deep",
            predictBody(pixels: String(repeating: "[", count: 100) + "1" + String(repeating: "]", count: 100))))

    // Numbers out of range or of the wrong kind.
    var outOfRange = testPixels().map(String.init)
    outOfRange[17] = "1e39"
    cases.append(.predict("pixel 1e39", predictBody(pixels: "[" + outOfRange.joined(separator: ",") + "]")))
    outOfRange[17] = "-1e-50"
    cases.append(.predict("pixel -1e-50", predictBody(pixels: "[" + outOfRange.joined(separator: ",") + "]")))
    outOfRange[17] = String(repeating: "9", count: 300)
    cases.append(.predict("pixel of 300 digits", predictBody(pixels: "[" + outOfRange.joined(separator: ",") + "]")))
    outOfRange[17] = "1e400"
    cases.append(
        .predict("pixel 1e400 (overflows a double)", predictBody(pixels: "[" + outOfRange.joined(separator: ",") + "]"))
    )
    outOfRange[17] = "255.0001"
    cases.append(.predict("pixel just above 255", predictBody(pixels: "[" + outOfRange.joined(separator: ",") + "]")))
    outOfRange[17] = "-1"
    cases.append(.predict("pixel -1", predictBody(pixels: "[" + outOfRange.joined(separator: ",") + "]")))
    for (name, value) in [("string", #""7""#), ("boolean", "true"), ("null", "null"), ("object", "{}")] {
        var items = testPixels().map(String.init)
        items[3] = value
        cases.append(
            .predict("a \(name) among the pixels", predictBody(pixels: "[" + items.joined(separator: ",") + "]")))
    }
    cases.append(.predict("pixels is a string", predictBody(pixels: #""0,0,0""#)))
    cases.append(.predict("pixels is null", predictBody(pixels: "null")))
    cases.append(.predict("pixels is an object", predictBody(pixels: #"{"0": 1}"#)))

    // Pixel counts and shapes.
    cases.append(.predict("0 pixels", predictBody(pixels: "[]")))
    cases.append(.predict("783 pixels", predictBody(pixels: pixels(count: 783))))
    cases.append(.predict("785 pixels", predictBody(pixels: pixels(count: 785))))
    cases.append(.predict("784×2 pixels", predictBody(pixels: pixels(count: 1568))))
    cases.append(
        .predict("ragged 28×28 (one row of 27)", predictBody(pixels: rows(Array(repeating: 28, count: 27) + [27]))))
    cases.append(.predict("27 rows of 28", predictBody(pixels: rows(Array(repeating: 28, count: 27)))))
    cases.append(.predict("28 rows of 29", predictBody(pixels: rows(Array(repeating: 29, count: 28)))))
    cases.append(.predict("rows mixed with numbers", predictBody(pixels: "[[1, 2], 3]")))
    cases.append(.predict("numbers mixed with rows", predictBody(pixels: "[1, [2, 3]]")))

    // Fields.
    cases.append(.predict("empty object", "{}"))
    cases.append(.predict("unknown field", predictBody(pixels: pixels784, extra: #", "temperature": 1"#)))
    cases.append(.predict("duplicate key", #"{"pixels": \#(pixels784), "pixels": \#(pixels784)}"#))
    cases.append(
        .predict("duplicate samples key", predictBody(pixels: pixels784, extra: #", "samples": 5, "samples": 6"#)))
    cases.append(.predict("both pixels and instances", predictBody(pixels: pixels784, extra: #", "instances": []"#)))
    for (name, value) in [
        ("0", "0"), ("-1", "-1"), ("1.5", "1.5"), (#""100""#, #""100""#), ("10^12", "1000000000000"),
        ("1e400", "1e400"), ("null", "null"), ("true", "true"), ("-0", "-0"),
    ] {
        cases.append(.predict("samples \(name)", predictBody(pixels: pixels784, extra: #", "samples": \#(value)"#)))
    }
    for (name, value) in [("-1", "-1"), ("2^53", "9007199254740992"), ("0.5", "0.5"), ("string", #""42""#)] {
        cases.append(.predict("seed \(name)", predictBody(pixels: pixels784, extra: #", "seed": \#(value)"#)))
    }
    cases.append(.predict("model is a number", predictBody(pixels: pixels784, extra: #", "model": 7"#)))
    cases.append(.predict("unknown model", predictBody(pixels: pixels784, extra: #", "model": "nope""#), status: 404))
    cases.append(
        .predict("model named ../m", predictBody(pixels: pixels784, extra: #", "model": "../m""#), status: 404))
    cases.append(.predict("empty instances", #"{"instances": []}"#))
    cases.append(.predict("instances is an object", #"{"instances": {"pixels": \#(pixels784)}}"#))
    cases.append(.predict("instance with an unknown field", #"{"instances": [{"pixels": \#(pixels784), "x": 1}]}"#))
    cases.append(.predict("instance without pixels", #"{"instances": [{}]}"#))
    cases.append(.predict("instance is a number", #"{"instances": [7]}"#))
    cases.append(
        .predict(
            "257 instances (over the batch limit)",
            #"{"instances": [\#(Array(repeating: "[]", count: 257).joined(separator: ","))]}"#))
    cases.append(
        .predict(
            "101 inputs × 10 000 samples over the pass limit",
            #"{"instances": [\#(Array(repeating: pixels784, count: 101).joined(separator: ","))], "samples": 10000}"#))
    cases.append(.predict("second instance of the wrong width", #"{"instances": [\#(pixels784), [1, 2]]}"#))

    // Bodies and framing.
    cases.append(HostileCase("empty body", body: [], status: 400))
    cases.append(
        HostileCase(
            "invalid UTF-8 in the body", body: Array(#"{"model": ""#.utf8) + [0xC3, 0x28, 0xFF] + Array(#""}"#.utf8)))
    cases.append(HostileCase("NUL bytes in the body", body: Array(#"{"pixels": [1"#.utf8) + [0, 0] + Array("]}".utf8)))
    cases.append(
        HostileCase(
            "10 MB body (declared)", body: [UInt8](repeating: 0x20, count: 10_000_000), status: 413, sendLimit: 0))
    cases.append(
        HostileCase(
            "2 MB body sent in full", body: [UInt8](repeating: 0x20, count: 2_000_000), status: 413))
    cases.append(
        HostileCase(
            "10 MB declared with Expect: 100-continue", headers: [("Expect", "100-continue")],
            body: [UInt8](repeating: 0x20, count: 10_000_000), status: 413, sendLimit: 0))
    cases.append(
        HostileCase(
            "chunked upload of malformed JSON", headers: [("Transfer-Encoding", "chunked")],
            body: RawHTTPConnection.chunkedBody([Array(#"{"pixels": "#.utf8), Array("[1,".utf8)])))
    cases.append(
        HostileCase(
            "chunked upload over the body limit", headers: [("Transfer-Encoding", "chunked")],
            body: RawHTTPConnection.chunkedBody(Array(repeating: [UInt8](repeating: 0x20, count: 300_000), count: 4)),
            status: 413))
    cases.append(
        HostileCase(
            "chunked upload with an invalid chunk size",
            raw: Array(
                "POST /predict HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n".utf8),
            status: 400, answerer: .transport))
    cases.append(
        HostileCase(
            "chunk size of 2^64",
            raw: Array(
                "POST /predict HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nabc\r\n0\r\n\r\n"
                    .utf8),
            status: 413, answerer: .transport))
    cases.append(
        HostileCase(
            "missing Content-Length: the body is not read",
            raw: Array("POST /predict HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".utf8),
            status: 400))
    cases.append(
        HostileCase(
            "Content-Length shorter than the body", headers: [("Content-Length", "10"), ("Connection", "close")],
            body: Array(predictBody(pixels: pixels784).utf8)))
    cases.append(
        HostileCase(
            "Content-Length not a number", headers: [("Content-Length", "abc")], body: Array("{}".utf8), status: 400,
            answerer: .transport))
    cases.append(
        HostileCase(
            "negative Content-Length", headers: [("Content-Length", "-5")], body: Array("{}".utf8), status: 400,
            answerer: .transport))
    cases.append(
        HostileCase(
            "Content-Length of 2^64", headers: [("Content-Length", "18446744073709551616")], body: Array("{}".utf8),
            status: 413, answerer: .transport, sendLimit: 0))

    // Methods and paths.
    cases.append(HostileCase("GET /predict", method: "GET", status: 405, expect: [("Allow", "POST")]))
    cases.append(HostileCase("DELETE /predict", method: "DELETE", status: 405, expect: [("Allow", "POST")]))
    cases.append(
        HostileCase("PUT /predict", method: "PUT", body: Array(predictBody(pixels: pixels784).utf8), status: 405))
    cases.append(HostileCase("lowercase post", method: "post", status: 405))
    cases.append(
        HostileCase(
            "POST /health", target: "/health", body: Array("{}".utf8), status: 405, expect: [("Allow", "GET, HEAD")]))
    cases.append(HostileCase("GET /v2/models/m/infer", method: "GET", target: "/v2/models/m/infer", status: 405))
    cases.append(HostileCase("POST /metrics", target: "/metrics", status: 405))
    cases.append(HostileCase("unknown path", method: "GET", target: "/nowhere", status: 404))
    cases.append(HostileCase("../ traversal", method: "GET", target: "/../../etc/passwd", status: 404))
    cases.append(HostileCase("encoded ../ traversal", method: "GET", target: "/%2e%2e/%2e%2e/etc/passwd", status: 404))
    cases.append(HostileCase("/v2/../health is not normalized", method: "GET", target: "/v2/../health", status: 404))
    cases.append(HostileCase("%00 after health", method: "GET", target: "/health%00", status: 404))
    cases.append(
        HostileCase("%00 as the model name", target: "/v2/models/%00/infer", body: Array("{}".utf8), status: 404))
    cases.append(HostileCase("truncated percent escape", method: "GET", target: "/health%4", status: 400))
    cases.append(HostileCase("invalid percent escape", method: "GET", target: "/%zz", status: 400))
    cases.append(HostileCase("percent-encoded invalid UTF-8", method: "GET", target: "/%C3%28", status: 400))
    cases.append(
        HostileCase("8 KB URL", method: "GET", target: "/" + String(repeating: "a", count: 8 * 1024), status: 404))
    cases.append(
        HostileCase(
            "8 KB query", method: "GET", target: "/nowhere?q=" + String(repeating: "x", count: 8192), status: 404))
    cases.append(
        HostileCase(
            "2 048 query arguments", method: "GET", target: "/health?" + String(repeating: "q=1&", count: 2048),
            status: 0,
            answerer: .closes))
    cases.append(
        HostileCase(
            "8 KB model name", target: "/v2/models/\(String(repeating: "m", count: 8192))/infer",
            body: Array("{}".utf8), status: 404))
    cases.append(
        HostileCase(
            "100 KB URL (over the connection memory)", method: "GET",
            target: "/" + String(repeating: "a", count: 100_000), status: 414, answerer: .transport))
    cases.append(
        HostileCase(
            "a 100 KB header", method: "GET", target: "/health",
            headers: [("X-Big", String(repeating: "h", count: 100_000))],
            status: 431, answerer: .transport))
    cases.append(
        HostileCase(
            "2 000 headers", method: "GET", target: "/health", headers: (0..<2000).map { ("X-H\($0)", "value-\($0)") },
            status: 431, answerer: .transport))
    cases.append(
        HostileCase(
            "invalid UTF-8 in the request line",
            raw: Array("GET /he".utf8) + [0xFF, 0xFE] + Array("alth HTTP/1.1\r\nHost: t\r\n\r\n".utf8), status: 404))
    cases.append(
        HostileCase("garbage request line", raw: Array("\u{01}\u{02}\u{03}\r\n\r\n".utf8), status: 0, answerer: .closes)
    )
    cases.append(
        HostileCase(
            "unknown HTTP version", raw: Array("GET /health HTTP/9.9\r\nHost: t\r\n\r\n".utf8), status: 505,
            answerer: .transport))
    cases.append(
        HostileCase(
            "header without a colon", raw: Array("GET /health HTTP/1.1\r\nHost: t\r\nbroken header\r\n\r\n".utf8),
            status: 400, answerer: .transport))

    // KServe V2.
    cases.append(.infer("V2 unknown model", v2Input(), status: 404, model: "nope"))
    cases.append(
        HostileCase(
            "V2 wrong version", target: "/v2/models/m/versions/99/infer", body: Array(v2Input().utf8), status: 404))
    cases.append(.infer("V2 shape [1, 783]", v2Input(shape: "[1, 783]", data: pixels(count: 783))))
    cases.append(.infer("V2 shape [784]", v2Input(shape: "[784]")))
    cases.append(.infer("V2 shape [0, 784]", v2Input(shape: "[0, 784]", data: "[]")))
    cases.append(.infer("V2 shape [-1, 784]", v2Input(shape: "[-1, 784]")))
    cases.append(.infer("V2 shape [1.5, 784]", v2Input(shape: "[1.5, 784]")))
    cases.append(.infer("V2 shape [1e18, 784]", v2Input(shape: "[1e18, 784]")))
    cases.append(.infer("V2 shape [1, 28, 29]", v2Input(shape: "[1, 28, 29]")))
    cases.append(.infer("V2 shape of strings", v2Input(shape: #"["1", "784"]"#)))
    cases.append(.infer("V2 datatype FP64", v2Input(datatype: "FP64")))
    cases.append(.infer("V2 datatype BYTES", v2Input(datatype: "BYTES")))
    cases.append(
        .infer(
            "V2 UINT8 with a fraction",
            v2Input(datatype: "UINT8", data: "[1.5" + String(repeating: ",1", count: 783) + "]")))
    cases.append(.infer("V2 data one short", v2Input(data: pixels(count: 783))))
    cases.append(.infer("V2 data one long", v2Input(data: pixels(count: 785))))
    cases.append(.infer("V2 data of strings", v2Input(data: pixels(count: 784, value: #""1""#))))
    cases.append(
        .infer(
            "V2 data nested 30 deep",
            v2Input(data: String(repeating: "[", count: 30) + "1" + String(repeating: "]", count: 30))))
    cases.append(.infer("V2 pixel 1e39", v2Input(data: "[1e39" + String(repeating: ",1", count: 783) + "]")))
    cases.append(.infer("V2 missing inputs", #"{"id": "x"}"#))
    cases.append(.infer("V2 empty inputs", #"{"inputs": []}"#))
    cases.append(.infer("V2 two inputs", #"{"inputs": [\#(v2Input()), \#(v2Input())]}"#))
    cases.append(
        .infer("V2 input without data", #"{"inputs": [{"name": "pixels", "shape": [1, 784], "datatype": "FP32"}]}"#))
    cases.append(
        .infer(
            "V2 unknown output", #"{"inputs": \#(v2Input().dropFirst(11).dropLast()), "outputs": [{"name": "logits"}]}"#
        ))
    cases.append(
        .infer("V2 samples 0", #"{"parameters": {"samples": 0}, "inputs": \#(v2Input().dropFirst(11).dropLast())}"#))
    cases.append(.infer("V2 id is a number", #"{"id": 5, "inputs": \#(v2Input().dropFirst(11).dropLast())}"#))
    cases.append(
        HostileCase(
            "V2 binary size larger than the body", target: "/v2/models/m/infer",
            headers: [("Inference-Header-Content-Length", "\(binaryHeader(size: 3136).count)")],
            body: binaryHeader(size: 3136) + [UInt8](repeating: 0, count: 100)))
    cases.append(
        HostileCase(
            "V2 binary NaN pixels", target: "/v2/models/m/infer",
            headers: [("Inference-Header-Content-Length", "\(binaryHeader(size: 3136).count)")],
            body: binaryHeader(size: 3136) + [UInt8](repeating: 0xFF, count: 3136)))
    cases.append(
        HostileCase(
            "V2 unclaimed binary bytes", target: "/v2/models/m/infer",
            headers: [("Inference-Header-Content-Length", "\(binaryHeader(size: 3136).count)")],
            body: binaryHeader(size: 3136) + [UInt8](repeating: 0, count: 3137)))
    cases.append(
        HostileCase(
            "V2 header length past the body", target: "/v2/models/m/infer",
            headers: [("Inference-Header-Content-Length", "999999")], body: Array(v2Input().utf8)))
    cases.append(
        HostileCase(
            "V2 header length negative", target: "/v2/models/m/infer",
            headers: [("Inference-Header-Content-Length", "-1")], body: Array(v2Input().utf8)))
    return cases
}()

/// A V2 JSON header announcing one FP32 [1, 784] input of `size` binary bytes.
private func binaryHeader(size: Int) -> [UInt8] {
    Array(
        #"{"inputs": [{"name": "pixels", "shape": [1, 784], "datatype": "FP32", "parameters": {"binary_data_size": \#(size)}}]}"#
            .utf8)
}

/// The live server the hostile suite shares: one synthetic model `m`, default limits, a short idle timeout.
let hostileServer: Result<Server, any Error> = Result {
    try startServer(paths: [try writeSyntheticModel(name: "m")]) { configuration in
        configuration.transport.connectionTimeoutSeconds = 3
        configuration.defaultSamples = 5
    }
}

/// The port the hostile suite attacks: `MCDROPOUT_HOSTILE_PORT` when set, else the in-process ``hostileServer``.
///
/// scripts/reliability/sanitize.sh points the suite at a sanitizer build of `mcdropout-serve` on 127.0.0.1 this way,
/// started like the in-process one (a model named `m`, `--connection-timeout 3 --default-samples 5`).
let hostilePort: Result<Int, any Error> = Result {
    if let text = ProcessInfo.processInfo.environment["MCDROPOUT_HOSTILE_PORT"], let port = Int(text) {
        return port
    }
    return try hostileServer.get().port
}

@Suite("Hostile input against the live server")
struct HostileInputTests {
    @Test("the suite is large enough")
    func caseCount() {
        #expect(hostileCases.count >= 60)
        #expect(Set(hostileCases.map(\.name)).count == hostileCases.count, "case names must be unique")
    }

    @Test(
        "answers with the exact status, a JSON error (or libmicrohttpd's page), and stays healthy",
        arguments: hostileCases)
    func hostile(_ item: HostileCase) throws {
        let port = try hostilePort.get()
        let connection = try RawHTTPConnection(port: port, timeout: .seconds(30))
        if let limit = item.sendLimit {
            let head =
                item.bytes.firstRange(of: Array("\r\n\r\n".utf8)).map { item.bytes[..<$0.upperBound] }
                ?? item.bytes[...]
            try connection.send(Array(head) + Array(item.bytes[head.endIndex...].prefix(limit)))
        } else {
            // The server may answer and close before it has read everything (413): a failed send is fine then.
            do { try connection.send(item.bytes) } catch {}
        }
        let method = String(decoding: item.bytes.prefix { $0 != UInt8(ascii: " ") }, as: UTF8.self)
        if item.answerer == .closes {
            #expect(throws: RawHTTPClientError.closedByPeer) { _ = try connection.readResponse(requestMethod: method) }
            let health = try RawHTTPConnection(port: port, timeout: .seconds(10)).request(target: "/health")
            #expect(health.status == 200, "\(item.name): /health afterwards")
            return
        }
        let outcome = Result { () throws(RawHTTPClientError) in try connection.readResponse(requestMethod: method) }
        if case .failure(.closedByPeer) = outcome, item.answerer == .transport, item.bytes.count > 65_536 {
            // libmicrohttpd answers an oversized head before reading the rest and closes; with unread bytes still
            // arriving, the kernel resets the connection and may drop that answer from the client's receive buffer
            // (no lingering close in 0.9.75). Seen under heavy load; the server must still be healthy.
            let health = try RawHTTPConnection(port: port, timeout: .seconds(10)).request(target: "/health")
            #expect(health.status == 200, "\(item.name): /health after the reset")
            return
        }
        let response = try outcome.get()
        #expect(response.status == item.status, "\(item.name): \(response.text.prefix(300))")
        switch item.answerer {
        case .service:
            #expect(response.header("Content-Type") == "application/json", "\(item.name)")
            let message = response.json?["error"]?.stringValue
            #expect(message?.isEmpty == false, "\(item.name): body \(response.text.prefix(300))")
        case .transport, .closes:
            #expect((400..<600).contains(response.status))
        }
        for (name, value) in item.headers {
            #expect(response.header(name) == value, "\(item.name): header \(name)")
        }
        let health = try RawHTTPConnection(port: port, timeout: .seconds(10)).request(target: "/health")
        #expect(health.status == 200, "\(item.name): /health afterwards")
    }

    @Test("a Content-Length longer than the body sent gets the connection closed by the idle timeout, no answer")
    func lyingContentLength() throws {
        let port = try hostilePort.get()
        let connection = try RawHTTPConnection(port: port, timeout: .seconds(30))
        try connection.send(
            RawHTTPConnection.requestBytes(
                method: "POST", target: "/predict", headers: [("Content-Length", "5000")], body: Array("{}".utf8)))
        #expect(connection.waitForEnding() == .closed)
        #expect(try RawHTTPConnection(port: port).request(target: "/health").status == 200)
    }

    @Test("after every hostile case the server still predicts, and it never answered 500")
    func stillServes() throws {
        let port = try hostilePort.get()
        let body = Array(#"{"pixels": \#(pixels784), "samples": 5, "seed": 1}"#.utf8)
        let response = try RawHTTPConnection(port: port).request(method: "POST", target: "/predict", body: body)
        #expect(response.status == 200)
        let metrics = try RawHTTPConnection(port: port).request(target: "/metrics").text
        #expect(metrics.contains("mcdropout_requests_total{"))
        #expect(!metrics.contains(#"status="500""#), "a hostile request got a 500")
    }
}
