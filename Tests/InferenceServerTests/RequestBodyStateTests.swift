import Testing

@testable import HTTPTransport
@testable import InferenceServer

@Suite("RequestBodyState")
struct RequestBodyStateTests {
    @Test("a body within the limit is appended piece by piece and handled")
    func withinLimit() {
        var state = RequestBodyState(limit: 10)
        #expect(state.start(declaredLength: 10) == nil)
        #expect(state.receive(byteCount: 4) == .append)
        #expect(state.receive(byteCount: 6) == .append)
        #expect(state.phase == .receiving(byteCount: 10))
        #expect(state.finish() == .handle)
        #expect(state.phase == .answered)
    }

    @Test("a declared length over the limit is rejected at once")
    func declaredOverLimit() {
        var state = RequestBodyState(limit: 10)
        #expect(state.start(declaredLength: 11) == .bodyTooLarge(limit: 10))
        #expect(state.phase == .answered)
        #expect(state.receive(byteCount: 5) == .discard)
        #expect(state.finish() == .none)
    }

    @Test("a declared length beyond Int is still just too large")
    func hugeDeclaredLength() {
        var state = RequestBodyState(limit: 10)
        #expect(state.start(declaredLength: .max) == .bodyTooLarge(limit: 10))
    }

    @Test("undeclared data over the limit is discarded, then rejected; far over it, the connection is closed")
    func streamedOverLimit() {
        var state = RequestBodyState(limit: 10)
        #expect(state.start(declaredLength: nil) == nil)
        #expect(state.receive(byteCount: 8) == .append)
        #expect(state.receive(byteCount: 3) == .discard)
        #expect(state.phase == .discarding(byteCount: 11))
        #expect(state.receive(byteCount: 64 * 1024 - 1) == .discard)
        #expect(state.phase == .discarding(byteCount: 10 + 64 * 1024))
        #expect(state.receive(byteCount: 1) == .closeConnection)

        var rejected = RequestBodyState(limit: 10)
        _ = rejected.receive(byteCount: 12)
        #expect(rejected.finish() == .reject(.bodyTooLarge(limit: 10)))
    }

    @Test("a body the memory budget cannot hold is shed: the rest is discarded and the request refused with 503's case")
    func shedForMemory() {
        var state = RequestBodyState(limit: 100, memoryBudget: 1000)
        #expect(state.start(declaredLength: nil) == nil)
        #expect(state.receive(byteCount: 30) == .append)
        state.shed()
        #expect(state.phase == .shedding(byteCount: 30))
        #expect(state.receive(byteCount: 50) == .discard)
        #expect(state.finish() == .reject(.bodyMemoryExhausted(limit: 1000)))

        var flooding = RequestBodyState(limit: 100, memoryBudget: 1000)
        _ = flooding.receive(byteCount: 10)
        flooding.shed()
        #expect(flooding.receive(byteCount: 64 * 1024 + 90) == .discard)
        #expect(flooding.receive(byteCount: 1) == .closeConnection)
    }

    @Test("a zero limit accepts only empty bodies")
    func zeroLimit() {
        var empty = RequestBodyState(limit: 0)
        #expect(empty.start(declaredLength: 0) == nil)
        #expect(empty.finish() == .handle)

        var nonEmpty = RequestBodyState(limit: 0)
        #expect(nonEmpty.start(declaredLength: nil) == nil)
        #expect(nonEmpty.receive(byteCount: 1) == .discard)
        #expect(nonEmpty.finish() == .reject(.bodyTooLarge(limit: 0)))
    }
}

@Suite("PercentDecoding")
struct PercentDecodingTests {
    @Test("valid escapes decode to bytes, including NUL and non-UTF-8")
    func validEscapes() {
        #expect(PercentDecoding.bytes("a%20b%2Fc") == Array("a b/c".utf8))
        #expect(PercentDecoding.bytes("%00%ff%FF") == [0, 0xFF, 0xFF])
        #expect(PercentDecoding.string("caf%C3%A9") == "café")
        #expect(PercentDecoding.string("%FF") == "\u{FFFD}")
    }

    @Test("invalid or truncated escapes stay literal; '+' is not special here")
    func invalidEscapes() {
        #expect(PercentDecoding.string("%zz%4") == "%zz%4")
        #expect(PercentDecoding.string("100%") == "100%")
        #expect(PercentDecoding.string("a+b") == "a+b")
        #expect(PercentDecoding.string("") == "")
    }
}

@Suite("HTTP values")
struct HTTPValueTests {
    @Test("header lookup ignores case and returns the first of repeated fields")
    func headerLookup() {
        let request = HTTPRequest(
            method: "GET", path: "/", headers: [("Accept", "a"), ("ACCEPT", "b"), ("X-Other", "c")])
        #expect(request.headers.map(\.name) == ["accept", "accept", "x-other"])
        #expect(request.header("accept") == "a")
        #expect(request.header("Accept") == "a")
        #expect(request.header("missing") == nil)
    }

    @Test("the default rejection is a plain-text 413 naming the limit")
    func defaultRejection() {
        struct Minimal: HTTPHandler {
            func handle(_ request: HTTPRequest) -> HTTPResponse { HTTPResponse(status: 200) }
        }
        let response = Minimal().reject(.bodyTooLarge(limit: 42), request: HTTPRequest(method: "POST", path: "/"))
        #expect(response.status == 413)
        #expect(String(decoding: response.body, as: UTF8.self).contains("42"))
        #expect(response.headers.contains { $0.name == "Content-Type" })
    }

    @Test("errors describe themselves with their context")
    func errorDescriptions() {
        #expect(DaemonError.invalidAddress("localhost").description.contains("localhost"))
        #expect(
            DaemonError.startFailed(host: "0.0.0.0", port: 80, reason: "Permission denied").description
                == "cannot start HTTP daemon on 0.0.0.0 port 80: Permission denied")
    }
}
