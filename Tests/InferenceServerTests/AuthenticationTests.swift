import Foundation
import HTTPTransport
import MCDropoutJSON
import Testing

@testable import InferenceServer

@Suite("API keys")
struct AuthenticationTests {
    static let key = "k3y-0123456789abcdef"

    @Test("inference needs the bearer key; health and metrics stay open by default")
    func inferenceRoutes() throws {
        let service = try makeService(paths: [try writeSyntheticModel(name: "m")]) {
            $0.apiKeys = [Self.key, "second-key-000000000"]
        }
        let body = jsonBody(#"{"pixels": \#(pixelsJSON(testPixels())), "samples": 2}"#)
        let v2 = jsonBody(
            #"{"inputs": [{"name": "pixels", "shape": [1, 784], "datatype": "UINT8", "data": \#(pixelsJSON(testPixels()))}]}"#
        )
        for (headers, status) in [
            ([], 401), ([("Authorization", "Bearer wrong-key-0000000000")], 401),
            ([("Authorization", "Basic \(Self.key)")], 401),
            ([("Authorization", "Bearer \(Self.key)x")], 401), ([("Authorization", "Bearer ")], 401),
            ([("Authorization", "Bearer \(Self.key)")], 200), ([("Authorization", "bearer second-key-000000000")], 200),
        ] as [([(name: String, value: String)], Int)] {
            let predict = service.handle(HTTPRequest(method: "POST", path: "/predict", headers: headers, body: body))
            let infer = service.handle(
                HTTPRequest(method: "POST", path: "/v2/models/m/infer", headers: headers, body: v2))
            #expect(predict.status == status, "\(headers)")
            #expect(infer.status == status, "\(headers)")
            if status == 401 {
                #expect(predict.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
                #expect(predict.errorMessage != nil)
            }
        }
        for path in ["/health", "/metrics", "/v2/health/ready", "/v2/models/m"] {
            #expect(service.handle(HTTPRequest(method: "GET", path: path)).status == 200, "\(path)")
        }
        #expect(service.metrics.requestCount(route: .predict, status: 401) == 5)
    }

    @Test("with requiresKeyForAllRoutes, health and metrics need the key too")
    func allRoutes() throws {
        let service = try makeService(paths: [try writeSyntheticModel()]) {
            $0.apiKeys = [Self.key]
            $0.requiresKeyForAllRoutes = true
        }
        for path in ["/health", "/metrics", "/v2/health/live"] {
            #expect(service.handle(HTTPRequest(method: "GET", path: path)).status == 401)
            let authorized = HTTPRequest(method: "GET", path: path, headers: [("Authorization", "Bearer \(Self.key)")])
            #expect(service.handle(authorized).status == 200)
        }
    }

    @Test("without keys nothing needs authentication")
    func disabled() throws {
        let service = try makeService(paths: [try writeSyntheticModel()]) { $0.requiresKeyForAllRoutes = true }
        #expect(service.handle(HTTPRequest(method: "GET", path: "/health")).status == 200)
    }

    @Test("key files: comments and blank lines skipped; empty files and short keys refused")
    func keyFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let good = directory.appendingPathComponent("good").path
        try "# ops team\n\n  \(Self.key)  \nsecond-key-000000000\n".write(
            toFile: good, atomically: true, encoding: .utf8)
        #expect(try Server.readAPIKeys(path: good) == [Self.key, "second-key-000000000"])
        let empty = directory.appendingPathComponent("empty").path
        try "# nothing\n".write(toFile: empty, atomically: true, encoding: .utf8)
        #expect(throws: (any Error).self) { try Server.readAPIKeys(path: empty) }
        let short = directory.appendingPathComponent("short").path
        try "abc\n".write(toFile: short, atomically: true, encoding: .utf8)
        #expect(throws: (any Error).self) { try Server.readAPIKeys(path: short) }
        #expect(throws: (any Error).self) {
            try Server.readAPIKeys(path: directory.appendingPathComponent("missing").path)
        }
    }

    @Test("constant-time comparison agrees with ==")
    func comparison() {
        let key = Array("abcdef".utf8)
        for guess in ["abcdef", "abcdeg", "abcde", "abcdefabcdef", "", "bbcdef", "a"] {
            #expect(constantTimeEquals(Array(guess.utf8), key) == (guess == "abcdef"), "\(guess)")
        }
    }

    @Test("live: 401 over the wire, then 200 with the key")
    func live() throws {
        let server = try startServer(paths: [try writeSyntheticModel()]) { $0.apiKeys = [Self.key] }
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let connection = try RawHTTPConnection(port: server.port)
        let body = Array(#"{"pixels": \#(pixelsJSON(testPixels())), "samples": 2}"#.utf8)
        let denied = try connection.request(method: "POST", target: "/predict", body: body)
        #expect(denied.status == 401 && denied.header("WWW-Authenticate") == "Bearer")
        #expect(denied.json?["error"]?.stringValue != nil)
        let allowed = try connection.request(
            method: "POST", target: "/predict", headers: [("Authorization", "Bearer \(Self.key)")], body: body)
        #expect(allowed.status == 200)
    }
}
