// The gRPC port's limits on what one client may hold (GRPCConnectionLimits): streams per connection, the handshake,
// idle connections, calls that never deliver their request, keepalive and PING policing. Driven by raw HTTP/2 bytes
// (RawHTTP2, in GRPCHostileInputTests.swift) and by grpcio (Tests/python/grpc_hostile_check.py), with small limits so
// that every test ends within a few seconds.
import Foundation
import GRPCTransport
import Glibc
import MCDropoutJSON
import TestSupport
import Testing

@testable import InferenceServer

/// One HTTP/2 frame as read off the wire.
struct HTTP2Frame: Equatable {
    static let data: UInt8 = 0
    static let headers: UInt8 = 1
    static let resetStream: UInt8 = 3
    static let settings: UInt8 = 4
    static let ping: UInt8 = 6
    static let goAway: UInt8 = 7

    var type: UInt8
    var flags: UInt8
    var stream: UInt32
    var payload: [UInt8]

    var isAcknowledgement: Bool { flags & 1 != 0 }
    /// The error code of a GOAWAY (after the last stream id) or RST_STREAM.
    var errorCode: UInt32? {
        let offset = type == Self.goAway ? 4 : type == Self.resetStream ? 0 : nil
        guard let offset, payload.count >= offset + 4 else { return nil }
        return payload[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }
    /// The value of a SETTINGS parameter (identifier 3 is MAX_CONCURRENT_STREAMS).
    func setting(_ identifier: UInt16) -> UInt32? {
        stride(from: 0, to: payload.count - 5, by: 6).lazy.compactMap { index -> UInt32? in
            let key = UInt16(self.payload[index]) << 8 | UInt16(self.payload[index + 1])
            return key == identifier ? self.payload[index + 2..<index + 6].reduce(0) { $0 << 8 | UInt32($1) } : nil
        }.first
    }
}

/// How a raw HTTP/2 connection went: the frames the server sent, how it ended and when (from the start of reading).
struct HTTP2Transcript {
    var frames: [HTTP2Frame] = []
    var ending: ConnectionEnding = .stillOpen
    var elapsed: Duration = .zero

    func frames(ofType type: UInt8) -> [HTTP2Frame] { frames.filter { $0.type == type } }
}

extension RawHTTP2 {
    /// The HEADERS block of a call to `method` of the inference service (no END_STREAM: the call stays open).
    static func callHeaders(stream: UInt32, method: String = "ModelInfer") -> [UInt8] {
        let value = Array("/inference.GRPCInferenceService/\(method)".utf8)
        let block: [UInt8] =
            [0x83, 0x86, 4, UInt8(value.count)] + value + [1, 9] + Array("localhost".utf8)
            + [0x0F, 0x10, 16] + Array("application/grpc".utf8) + [0x00, 2] + Array("te".utf8) + [8]
            + Array("trailers".utf8)
        return frame(type: HTTP2Frame.headers, flags: 4, stream: stream, block)
    }

    /// The client preface with an empty SETTINGS frame.
    static var clientStart: [UInt8] { preface + frame(type: HTTP2Frame.settings, flags: 0, stream: 0, []) }

    /// Reads one frame; on a timeout nothing is consumed, so a later read starts at the same frame.
    static func readFrame(from connection: RawHTTPConnection) throws(RawHTTPClientError) -> HTTP2Frame {
        let head = try connection.peek(9)
        let length = Int(head[0]) << 16 | Int(head[1]) << 8 | Int(head[2])
        let bytes = try connection.receive(exactly: 9 + length)
        let stream = head[5..<9].reduce(0) { $0 << 8 | UInt32($1) } & 0x7FFF_FFFF
        return HTTP2Frame(type: head[3], flags: head[4], stream: stream, payload: Array(bytes[9...]))
    }

    /// Reads frames from each connection in turn until the server has ended them all or `limit` passes (make the
    /// connections' receive timeouts short: each read waits that long), acknowledging SETTINGS and PINGs on the
    /// connections whose `answers` is true (a client that answers nothing has not sent its preface, or is dead).
    static func readUntilEnd(
        of connections: [RawHTTPConnection], answers: [Bool], limit: Duration
    ) -> [HTTP2Transcript] {
        var transcripts = [HTTP2Transcript](repeating: HTTP2Transcript(), count: connections.count)
        let start = ContinuousClock.now
        while ContinuousClock.now - start < limit, transcripts.contains(where: { $0.ending == .stillOpen }) {
            for (index, connection) in connections.enumerated() where transcripts[index].ending == .stillOpen {
                do {
                    let frame = try readFrame(from: connection)
                    transcripts[index].frames.append(frame)
                    guard answers[index], !frame.isAcknowledgement else { continue }
                    if frame.type == HTTP2Frame.settings || frame.type == HTTP2Frame.ping {
                        try connection.send(self.frame(type: frame.type, flags: 1, stream: 0, frame.payload))
                    }
                } catch .timedOut {
                    continue
                } catch .closedByPeer {
                    transcripts[index].ending = .closed
                } catch {
                    transcripts[index].ending = .reset
                }
                if transcripts[index].ending != .stillOpen { transcripts[index].elapsed = ContinuousClock.now - start }
            }
        }
        for index in transcripts.indices where transcripts[index].ending == .stillOpen {
            transcripts[index].elapsed = ContinuousClock.now - start
        }
        return transcripts
    }

    /// ``readUntilEnd(of:answers:limit:)`` for one connection.
    static func readUntilEnd(
        of connection: RawHTTPConnection, limit: Duration, answers: Bool = true
    ) -> HTTP2Transcript {
        readUntilEnd(of: [connection], answers: [answers], limit: limit)[0]
    }

    /// Starts a connection and reads until the server's SETTINGS (acknowledged) and its acknowledgement of ours.
    static func handshake(_ connection: RawHTTPConnection) throws -> HTTP2Frame {
        try connection.send(clientStart)
        var settings: HTTP2Frame?
        var isAcknowledged = false
        while settings == nil || !isAcknowledged {
            let frame = try readFrame(from: connection)
            guard frame.type == HTTP2Frame.settings else { continue }
            if frame.isAcknowledgement {
                isAcknowledged = true
            } else {
                settings = frame
                try connection.send(self.frame(type: HTTP2Frame.settings, flags: 1, stream: 0, []))
            }
        }
        return settings!
    }
}

/// Runs a scenario of Tests/python/grpc_hostile_check.py and returns the JSON it printed last.
private func grpcioClient(port: Int, _ arguments: [String]) throws -> JSONValue {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("python/grpc_hostile_check.py")
    let client = try ChildProcess(
        URL(fileURLWithPath: testPython!), [script.path, "127.0.0.1:\(port)", "m"] + arguments)
    #expect(client.exits(within: .seconds(30)))
    #expect(client.status == 0, "\(arguments): \(client.standardError)")
    let lines = client.standardOutput.split(separator: UInt8(ascii: "\n"))
    return try JSONParser.parse(Array(lines.last ?? []))
}

private func startLimitedServer(_ limits: GRPCConnectionLimits) throws -> Server {
    try startServer(paths: [try writeSyntheticModel(name: "m")]) { $0.grpcLimits = limits }
}

@Suite("gRPC connection limits: streams, handshake, idle, receive timeout, keepalive, PINGs")
struct GRPCConnectionLimitTests {
    @Test("the stream cap is announced; a connection opening more than it acknowledged is cut, others are served")
    func streamCap() throws {
        let server = try startLimitedServer(GRPCConnectionLimits(maxConcurrentStreams: 2))
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let port = try #require(server.grpcPort)
        let polite = try RawHTTPConnection(port: port, timeout: .milliseconds(200))
        let greedy = try RawHTTPConnection(port: port, timeout: .milliseconds(200))
        #expect(try RawHTTP2.handshake(polite).setting(3) == 2)
        #expect(try RawHTTP2.handshake(greedy).setting(3) == 2)
        try polite.send(RawHTTP2.callHeaders(stream: 1) + RawHTTP2.callHeaders(stream: 3))
        try greedy.send((0..<3).flatMap { RawHTTP2.callHeaders(stream: UInt32(1 + 2 * $0)) })

        // libgrpc 1.51 treats the third stream as a connection error: it ends the two open calls and the connection.
        let cut = RawHTTP2.readUntilEnd(of: greedy, limit: .seconds(3))
        #expect(cut.ending != .stillOpen, "\(cut.frames)")
        #expect(Set(cut.frames(ofType: HTTP2Frame.resetStream).map(\.stream)) == [1, 3], "\(cut.frames)")
        // Within the cap, the calls stay open (their messages may still come) and so does the connection.
        let kept = RawHTTP2.readUntilEnd(of: polite, limit: .milliseconds(600))
        #expect(kept.ending == .stillOpen && kept.frames(ofType: HTTP2Frame.resetStream).isEmpty, "\(kept.frames)")
        // Over another connection, a fresh call is answered.
        let fresh = try RawHTTPConnection(port: port, timeout: .seconds(5))
        _ = try RawHTTP2.handshake(fresh)
        let empty: [UInt8] = [0, 0, 0, 0, 0]
        try fresh.send(
            RawHTTP2.callHeaders(stream: 1, method: "ServerLive")
                + RawHTTP2.frame(type: HTTP2Frame.data, flags: 1, stream: 1, empty))
        var answer: [HTTP2Frame] = []
        while !answer.contains(where: { $0.type == HTTP2Frame.headers && $0.flags & 1 != 0 }) {
            answer.append(try RawHTTP2.readFrame(from: fresh))
        }
        #expect(answer.contains { $0.type == HTTP2Frame.data && $0.stream == 1 }, "\(answer)")
    }

    @Test("a client that never acknowledges the stream cap has its calls beyond twice it refused at once")
    func unacknowledgedStreamCap() throws {
        let server = try startLimitedServer(GRPCConnectionLimits(maxConcurrentStreams: 2))
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let connection = try RawHTTPConnection(port: try #require(server.grpcPort), timeout: .milliseconds(100))
        // libgrpc holds a client to its SETTINGS only once acknowledged; this one never acknowledges them. The shim
        // holds it to twice the cap (the margin keeps polite clients' cancellations in flight from being refused).
        try connection.send(RawHTTP2.clientStart + (0..<6).flatMap { RawHTTP2.callHeaders(stream: UInt32(1 + 2 * $0)) })
        let transcript = RawHTTP2.readUntilEnd(of: connection, limit: .milliseconds(800), answers: false)
        #expect(transcript.ending == .stillOpen)
        let ended = transcript.frames.filter { $0.type == HTTP2Frame.headers && $0.flags & 1 != 0 }.map(\.stream)
        #expect(Set(ended) == [9, 11], "\(transcript.frames)")
        #expect(server.grpc?.limitCounts == GRPCLimitCounts(refusedCalls: 2))
        let metrics = try RawHTTPConnection(port: server.port).request(target: "/metrics").text
        #expect(metrics.contains("mcdropout_grpc_refused_calls_total 2\n"))
    }

    @Test(
        "grpcio keeps to the stream cap: more concurrent calls than it allows all succeed on one channel",
        .enabled(if: testPython != nil, "needs MCDROPOUT_PYTHON with grpcio"))
    func grpcioQueuesAtTheCap() throws {
        let server = try startLimitedServer(GRPCConnectionLimits(maxConcurrentStreams: 2))
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let result = try grpcioClient(port: try #require(server.grpcPort), ["flood", "6", "5"])
        let calls = result["calls"]?.arrayValue ?? []
        #expect(calls.count == 6)
        #expect(calls.allSatisfy { $0["status"] == .string("OK") }, "\(calls)")
    }

    @Test("silent and half-preface connections are closed at the handshake timeout; an idle one at the idle timeout")
    func handshakeAndIdleTimeouts() throws {
        let server = try startLimitedServer(
            GRPCConnectionLimits(handshakeTimeout: .milliseconds(500), idleTimeout: .milliseconds(1500)))
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let port = try #require(server.grpcPort)
        let silent = try RawHTTPConnection(port: port, timeout: .milliseconds(100))
        let half = try RawHTTPConnection(port: port, timeout: .milliseconds(100))
        try half.send(Array(RawHTTP2.preface.prefix(10)))
        let idle = try RawHTTPConnection(port: port, timeout: .milliseconds(100))
        _ = try RawHTTP2.handshake(idle)
        let handshaken = ContinuousClock.now

        for (name, connection) in [("silent", silent), ("half preface", half)] {
            let transcript = RawHTTP2.readUntilEnd(of: connection, limit: .seconds(3), answers: false)
            #expect(transcript.ending != .stillOpen, "\(name)")
            #expect(transcript.elapsed < .milliseconds(1500), "\(name) closed after \(transcript.elapsed)")
            #expect(transcript.frames(ofType: HTTP2Frame.goAway).count == 1, "\(name): \(transcript.frames)")
        }
        // The idle connection finished its handshake: it outlives the handshake timeout, then goes at the idle one.
        let transcript = RawHTTP2.readUntilEnd(of: idle, limit: .seconds(3))
        #expect(transcript.ending != .stillOpen, "\(transcript.frames)")
        #expect(transcript.frames(ofType: HTTP2Frame.goAway).count == 1, "\(transcript.frames)")
        let lifetime = ContinuousClock.now - handshaken
        #expect(lifetime > .milliseconds(1000), "closed \(lifetime) after its handshake")
    }

    @Test("a call that never delivers its message ends DEADLINE_EXCEEDED at the receive timeout; the connection lives")
    func receiveTimeoutOnRawCalls() throws {
        let server = try startLimitedServer(GRPCConnectionLimits(receiveTimeout: .milliseconds(400)))
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let port = try #require(server.grpcPort)
        let connection = try RawHTTPConnection(port: port, timeout: .milliseconds(100))
        _ = try RawHTTP2.handshake(connection)
        let partial = RawHTTP2.frame(type: HTTP2Frame.data, flags: 0, stream: 3, [0, 0, 0, 0, 100, 0x0A, 0x01])
        try connection.send(
            RawHTTP2.callHeaders(stream: 1, method: "ModelStreamInfer") + RawHTTP2.callHeaders(stream: 3) + partial)
        let transcript = RawHTTP2.readUntilEnd(of: connection, limit: .seconds(1))
        // Each stream is closed by the server (trailers, then RST_STREAM NO_ERROR); the connection stays.
        #expect(transcript.ending == .stillOpen)
        for stream: UInt32 in [1, 3] {
            #expect(
                transcript.frames.contains {
                    $0.type == HTTP2Frame.headers && $0.stream == stream && $0.flags & 1 != 0
                },
                "stream \(stream): \(transcript.frames)")
        }
        #expect(server.grpc?.limitCounts == GRPCLimitCounts(receiveTimeouts: 2))
        #expect(server.grpc?.inFlightCallCount == 0)
        let metrics = try RawHTTPConnection(port: server.port).request(target: "/metrics").text
        #expect(metrics.contains("mcdropout_grpc_receive_timeouts_total 2\n"))
    }

    @Test(
        "a stalled ModelStreamInfer frees its stream: grpcio gets DEADLINE_EXCEEDED, its queued call then runs",
        .enabled(if: testPython != nil, "needs MCDROPOUT_PYTHON with grpcio"))
    func stalledStreamFreesItsSlot() throws {
        let server = try startLimitedServer(
            GRPCConnectionLimits(maxConcurrentStreams: 1, receiveTimeout: .milliseconds(700)))
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let result = try grpcioClient(port: try #require(server.grpcPort), ["stalled_stream"])
        #expect(result["stream"]?["status"] == .string("DEADLINE_EXCEEDED"), "\(result)")
        #expect(
            result["stream"]?["message"]?.stringValue?.contains("no complete request message within 700 ms") == true)
        let streamEnded = result["stream"]?["ended"]?.doubleValue ?? 0
        #expect((0.6..<3).contains(streamEnded), "\(result)")
        // One stream per connection: ServerLive, sent at 0.2 s, waited for the stalled stream to end (answered at
        // once, it would end near 0.2 s), then was answered.
        #expect(result["live"]?["status"] == .string("OK"), "\(result)")
        #expect((result["live"]?["ended"]?.doubleValue ?? 0) >= 0.6, "\(result)")
    }

    @Test("a peer that does not answer keepalive PINGs is closed; one that answers keeps its call")
    func keepalive() throws {
        let server = try startLimitedServer(
            GRPCConnectionLimits(
                receiveTimeout: .seconds(30), keepaliveInterval: .milliseconds(300),
                keepaliveTimeout: .milliseconds(300)))
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let port = try #require(server.grpcPort)
        let dead = try RawHTTPConnection(port: port, timeout: .milliseconds(30))
        let alive = try RawHTTPConnection(port: port, timeout: .milliseconds(30))
        for connection in [dead, alive] {
            _ = try RawHTTP2.handshake(connection)
            try connection.send(RawHTTP2.callHeaders(stream: 1))
        }
        let transcripts = RawHTTP2.readUntilEnd(of: [dead, alive], answers: [false, true], limit: .seconds(2))
        #expect(transcripts[0].ending != .stillOpen, "\(transcripts[0].frames)")
        #expect(!transcripts[0].frames(ofType: HTTP2Frame.ping).isEmpty, "\(transcripts[0].frames)")
        #expect(transcripts[0].elapsed < .milliseconds(1500), "closed after \(transcripts[0].elapsed)")
        #expect(transcripts[1].ending == .stillOpen, "\(transcripts[1].frames)")
        #expect(transcripts[1].frames(ofType: HTTP2Frame.ping).count >= 3, "\(transcripts[1].frames)")
    }

    @Test("a client PINGing faster than allowed gets GOAWAY ENHANCE_YOUR_CALM and is closed")
    func pingFlood() throws {
        let server = try startLimitedServer(GRPCConnectionLimits())
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let connection = try RawHTTPConnection(port: try #require(server.grpcPort), timeout: .milliseconds(100))
        _ = try RawHTTP2.handshake(connection)
        let ping = RawHTTP2.frame(type: HTTP2Frame.ping, flags: 0, stream: 0, Array("12345678".utf8))
        for _ in 0..<6 { try? connection.send(ping) }
        let transcript = RawHTTP2.readUntilEnd(of: connection, limit: .seconds(3))
        #expect(transcript.ending != .stillOpen)
        #expect(transcript.frames(ofType: HTTP2Frame.goAway).map(\.errorCode) == [0xB], "\(transcript.frames)")
    }

    @Test("mcdropout-serve's --grpc-* options reach the core: the announced stream cap, the handshake timeout")
    func commandLineOptions() throws {
        guard FileManager.default.isExecutableFile(atPath: serveExecutable.path) else { return }
        let server = try ServeProcess(arguments: [
            "--model", try writeSyntheticModel(name: "m"), "--grpc-port", "0", "--grpc-max-concurrent-streams", "7",
            "--grpc-handshake-timeout", "1",
        ])
        defer {
            server.signal(SIGTERM)
            #expect(server.exits(within: .seconds(10)))
        }
        let port = try #require(grpcPort(of: server))
        let silent = try RawHTTPConnection(port: port, timeout: .milliseconds(100))
        let polite = try RawHTTPConnection(port: port, timeout: .seconds(5))
        #expect(try RawHTTP2.handshake(polite).setting(3) == 7)
        let transcript = RawHTTP2.readUntilEnd(of: silent, limit: .seconds(3), answers: false)
        #expect(transcript.ending != .stillOpen)
        #expect(transcript.frames(ofType: HTTP2Frame.goAway).count == 1, "\(transcript.frames)")
    }

    @Test("limits the core cannot take are refused before listening")
    func invalidLimits() throws {
        let handler = GRPCEndpoint(service: try makeService(paths: [try writeSyntheticModel(name: "m")])) { _, _ in
            false
        }
        let invalid: [(GRPCConnectionLimits, String)] = [
            (GRPCConnectionLimits(maxConcurrentStreams: 0), "maxConcurrentStreams"),
            (GRPCConnectionLimits(handshakeTimeout: .zero), "handshakeTimeout"),
            (GRPCConnectionLimits(idleTimeout: .seconds(-1)), "idleTimeout"),
            (GRPCConnectionLimits(receiveTimeout: .seconds(3_000_000)), "receiveTimeout"),
            (GRPCConnectionLimits(maxPingStrikes: -1), "maxPingStrikes"),
        ]
        for (limits, setting) in invalid {
            #expect {
                _ = try GRPCServer(configuration: GRPCServerConfiguration(port: 0, limits: limits), handler: handler)
            } throws: { error in
                guard case .invalidConfiguration(let name, _) = error as? GRPCServerError else { return false }
                return name == setting
            }
        }
    }
}
