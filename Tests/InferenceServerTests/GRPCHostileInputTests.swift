// gRPC in the hostile-input, slow-client, drain and overload tests (issue 17, item 5): malformed protobuf messages
// from grpcio (Tests/python/grpc_hostile_check.py), raw HTTP/2 bytes for clients that never finish, SIGTERM with
// calls in flight, and more calls than the queue holds. Only outcomes are asserted, except the bounds the fixes are
// about (a stop within a second, a fast refusal).
import Foundation
import GRPCTransport
import Glibc
import HTTPTransport
import MCDropoutJSON
import TestSupport
import Testing

@testable import InferenceServer

/// Runs Tests/python/grpc_hostile_check.py; the child is returned running (read its output once it exits).
private func startHostileClient(port: Int, model: String = "m", _ arguments: [String]) throws -> ChildProcess {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("python/grpc_hostile_check.py")
    return try ChildProcess(
        URL(fileURLWithPath: testPython!), [script.path, "127.0.0.1:\(port)", model] + arguments)
}

/// Runs a scenario of the hostile client to its end and returns the JSON it printed last.
private func runHostileClient(port: Int, model: String = "m", _ arguments: [String]) throws -> JSONValue {
    let client = try startHostileClient(port: port, model: model, arguments)
    #expect(client.exits(within: .seconds(120)))
    #expect(client.status == 0, "\(arguments): \(client.standardError)")
    return try lastJSONLine(of: client)
}

private func lastJSONLine(of client: ChildProcess) throws -> JSONValue {
    let lines = client.standardOutput.split(separator: UInt8(ascii: "\n"))
    return try JSONParser.parse(Array(lines.last ?? []))
}

/// Bytes of an HTTP/2 client connection written by hand, for clients that stop in the middle.
enum RawHTTP2 {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    static func frame(type: UInt8, flags: UInt8, stream: UInt32, _ payload: [UInt8]) -> [UInt8] {
        let length = UInt32(payload.count)
        return [UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF), type, flags]
            + [UInt8(stream >> 24), UInt8(stream >> 16 & 0xFF), UInt8(stream >> 8 & 0xFF), UInt8(stream & 0xFF)]
            + payload
    }

    /// HPACK "literal without indexing" with an indexed name (index < 15) and a short, plain value.
    private static func literal(nameIndex: UInt8, _ value: String) -> [UInt8] {
        [nameIndex, UInt8(value.utf8.count)] + Array(value.utf8)
    }

    /// The preface, an empty SETTINGS, and a ModelInfer call on stream 1 whose HEADERS end but whose DATA (when
    /// `dataBytes` > 0: a message prefix announcing 100 bytes and then only some) never finishes.
    static func unfinishedCall(dataBytes: Int) -> [UInt8] {
        let headers: [UInt8] =
            [0x83, 0x86]  // :method POST, :scheme http
            + literal(nameIndex: 4, "/inference.GRPCInferenceService/ModelInfer") + literal(nameIndex: 1, "localhost")
            + [0x0F, 0x10, 16] + Array("application/grpc".utf8)  // content-type (static index 31)
            + [0x00, 2] + Array("te".utf8) + [8] + Array("trailers".utf8)
        var bytes = preface + frame(type: 4, flags: 0, stream: 0, []) + frame(type: 1, flags: 4, stream: 1, headers)
        if dataBytes > 0 {
            let partial = [0, 0, 0, 0, 100] + [UInt8](repeating: 0x0A, count: dataBytes)
            bytes += frame(type: 0, flags: 0, stream: 1, partial)
        }
        return bytes
    }
}

/// Connections that stall in every place an HTTP/2 client can: half a preface, a preface and nothing more, a call
/// with headers only, and calls with part of their message.
private func stalledGRPCClients(port: Int) throws -> [RawHTTPConnection] {
    var connections: [RawHTTPConnection] = []
    for _ in 0..<5 {
        let half = try RawHTTPConnection(port: port, timeout: .seconds(30))
        try half.send(Array(RawHTTP2.preface.prefix(10)))
        let prefaceOnly = try RawHTTPConnection(port: port, timeout: .seconds(30))
        try prefaceOnly.send(RawHTTP2.preface)
        connections += [half, prefaceOnly]
        for dataBytes in [0, 20] {
            let unfinished = try RawHTTPConnection(port: port, timeout: .seconds(30))
            try unfinished.send(RawHTTP2.unfinishedCall(dataBytes: dataBytes))
            connections.append(unfinished)
        }
    }
    return connections
}

/// The gRPC port a `mcdropout-serve` child printed ("… gRPC (KServe V2) on HOST:PORT").
func grpcPort(of server: ServeProcess) -> Int? {
    let deadline = ContinuousClock.now.advanced(by: .seconds(30))
    while ContinuousClock.now < deadline {
        let text = String(decoding: server.child.standardOutput, as: UTF8.self)
        if let line = text.split(separator: "\n").first(where: { $0.contains("gRPC") }),
            let port = line.split(separator: ":").last.flatMap({ Int($0) })
        {
            return port
        }
        pause(.milliseconds(20))
    }
    return nil
}

@Suite(
    "gRPC: hostile messages, stalled clients, drain and overload",
    .enabled(if: testPython != nil, "needs MCDROPOUT_PYTHON with grpcio"))
struct GRPCHostileInputTests {
    @Test("malformed, truncated, oversized and ill-typed messages get client-fault statuses; the server serves on")
    func hostileMessages() throws {
        let server = try startServer(paths: [try writeSyntheticModel(name: "m")])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let result = try runHostileClient(port: try #require(server.grpcPort), ["hostile"])
        let cases = try #require(result.objectValue)
        #expect(cases.members.count > 70)
        let expected: [String: String] = [
            "valid_with_unknown_fields": "OK", "valid_uint8_contents": "OK", "live_garbage": "OK",
            "oversized": "RESOURCE_EXHAUSTED", "thousand_inputs": "RESOURCE_EXHAUSTED",
            "unknown_method": "UNIMPLEMENTED", "valid_after": "OK", "live_after": "OK",
            "truncated_at_20": "INVALID_ARGUMENT", "varint_too_long": "INVALID_ARGUMENT",
            "shape_overflowing_product": "INVALID_ARGUMENT", "fp32_nan": "INVALID_ARGUMENT",
            "datatype_bytes": "INVALID_ARGUMENT", "raw_ragged": "INVALID_ARGUMENT",
        ]
        let clientFaults: Set<String> = ["INVALID_ARGUMENT", "NOT_FOUND", "RESOURCE_EXHAUSTED"]
        for (name, answer) in cases.members {
            let status = answer["status"]?.stringValue ?? "?"
            if let wanted = expected[name] {
                #expect(status == wanted, "\(name): \(answer)")
            } else {
                #expect(clientFaults.contains(status), "\(name): \(answer)")
            }
            #expect((answer["seconds"]?.doubleValue ?? 99) < 10, "\(name) took \(answer)")
            if status != "OK" { #expect(answer["message"]?.stringValue?.isEmpty == false, "\(name)") }
        }
        #expect(cases["shape_mismatching_contents"]?["message"]?.stringValue?.contains("needs 1568") == true)
        #expect(cases["garbage_0"]?["message"]?.stringValue?.contains("malformed protobuf") == true)
        // Never a server fault, and HTTP serves on.
        let metrics = try RawHTTPConnection(port: server.port).request(target: "/metrics").text
        #expect(!metrics.contains(#"code="INTERNAL""#) && !metrics.contains(#"code="UNKNOWN""#))
        #expect(try RawHTTPConnection(port: server.port).request(target: "/health").status == 200)
    }

    @Test("stalled HTTP/2 clients neither block other calls nor hold a stop past a second")
    func stalledClients() throws {
        let server = try startServer(paths: [try writeSyntheticModel(name: "m")])
        let port = try #require(server.grpcPort)
        let stalled = try stalledGRPCClients(port: port)
        defer { for connection in stalled { connection.close() } }
        #expect(eventually(timeout: .seconds(10)) { server.grpc?.inFlightCallCount == 0 })
        let live = try runHostileClient(port: port, ["live"])
        #expect(live["status"] == .string("OK"))
        let start = ContinuousClock.now
        server.shutdown(drainTimeout: .seconds(30))
        let stopTime = ContinuousClock.now - start
        #expect(stopTime < .seconds(1), "the stop took \(stopTime)")
        #expect(stalled.allSatisfy { $0.waitForEnding() != .stillOpen })
    }

    @Test("more concurrent calls than the queue holds: the excess is refused at once, UNAVAILABLE; no pile-up")
    func overload() throws {
        let server = try startServer(paths: [try writeSyntheticModel(name: "m", hidden: 64)]) {
            $0.transport.workerThreadCount = 1
            $0.transport.maxQueuedRequests = 1
            $0.maxTotalPasses = 4_000_000
        }
        defer { server.shutdown(drainTimeout: .seconds(60)) }
        let result = try runHostileClient(port: try #require(server.grpcPort), ["flood", "12", "3000"])
        let calls = result["calls"]?.arrayValue ?? []
        #expect(calls.count == 12)
        let succeeded = calls.filter { $0["status"] == .string("OK") }
        let refused = calls.filter { $0["status"] != .string("OK") }
        #expect((1...2).contains(succeeded.count), "\(calls)")
        let slowestAnswer = succeeded.compactMap { $0["seconds"]?.doubleValue }.max() ?? 0
        for call in refused {
            #expect(call["status"] == .string("UNAVAILABLE"), "\(call)")
            #expect(call["message"]?.stringValue?.contains("capacity") == true, "\(call)")
            // Refused while the admitted calls were still computing, not after them.
            #expect((call["seconds"]?.doubleValue ?? 99) < slowestAnswer / 2, "\(call), slowest OK \(slowestAnswer)")
        }
        #expect(result["after"]?["status"] == .string("OK"))
    }

    @Test("SIGTERM with calls in flight and stalled clients: the calls are answered, later ones UNAVAILABLE, exit 0")
    func sigtermWithCallsInFlight() throws {
        guard FileManager.default.isExecutableFile(atPath: serveExecutable.path) else { return }
        let path = try writeSyntheticModel(name: "m", hidden: 64)
        let server = try ServeProcess(arguments: [
            "--model", path, "--grpc-port", "0", "--threads", "1", "--max-total-passes", "4000000",
        ])
        let port = try #require(grpcPort(of: server))
        let stalled = try stalledGRPCClients(port: port)
        defer { for connection in stalled { connection.close() } }
        let client = try startHostileClient(port: port, ["flood", "3", "8000"])
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        while !client.standardOutput.starts(with: Array("started".utf8)), ContinuousClock.now < deadline {
            pause(.milliseconds(10))
        }
        pause(.milliseconds(300))
        let signalled = Date().timeIntervalSince1970
        server.signal(SIGTERM)
        #expect(client.exits(within: .seconds(120)))
        let answered = ContinuousClock.now
        #expect(server.exits(within: .seconds(60)))
        let exitTime = ContinuousClock.now - answered
        #expect(server.process.terminationReason == .exit && server.process.terminationStatus == 0)
        #expect(exitTime < .seconds(1), "exited \(exitTime) after the client had its answers")
        let result = try lastJSONLine(of: client)
        let statuses = result["calls"]?.arrayValue?.compactMap { $0["status"]?.stringValue } ?? []
        #expect(statuses == ["OK", "OK", "OK"], "\(result)")
        // The stop came while calls were computing, or the test proves nothing.
        let lastEnd = result["calls"]?.arrayValue?.compactMap { $0["ended"]?.doubleValue }.max() ?? 0
        #expect(lastEnd > signalled, "every call had ended before the SIGTERM")
        #expect(result["after"]?["status"] == .string("UNAVAILABLE"))
    }
}
