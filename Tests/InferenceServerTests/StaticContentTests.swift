import Foundation
import HTTPTransport
import MCDropout
import MCDropoutJSON
import Testing

@testable import InferenceServer

@Suite("The demo page and the OpenAPI document over a live server")
struct StaticContentTests {
    /// The repository's copy of the document, which the EmbedResources plugin compiles in.
    static let documentPath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appending(path: "Sources/InferenceServer/Resources/openapi.json").path

    @Test("GET / is the self-contained HTML demo with the shipped test digits; JSON clients get the route list")
    func demoPage() throws {
        let server = try startServer(paths: [try writeSyntheticModel()])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let connection = try RawHTTPConnection(port: server.port)
        let browserAccept = "text/html,application/xhtml+xml,*/*;q=0.8"
        let page = try connection.request(target: "/", headers: [("Accept", browserAccept)])
        #expect(page.status == 200)
        #expect(page.header("Content-Type") == "text/html; charset=utf-8")
        let html = page.text
        #expect(html.hasPrefix("<!doctype html>"))
        #expect(html.contains(#"<canvas id="pad""#))
        #expect(html.contains(#""mnist-test-0000-label-7": {"pixels":[0,"#))
        #expect(!html.contains("/*EXAMPLES*/"))
        #expect(!html.contains("batch"), "the batch example is not a single digit")
        // Nothing is loaded from elsewhere: no absolute URLs at all (the API link is relative).
        #expect(!html.contains("://"))
        // Without an Accept header (curl, probes) the page is HTML too; asking for JSON gives the route list.
        #expect(try connection.request(target: "/").header("Content-Type") == "text/html; charset=utf-8")
        let index = try connection.request(target: "/", headers: [("Accept", "application/json")])
        #expect(index.header("Content-Type") == "application/json")
        #expect(index.json?["version"] == .string(serverVersion))
        #expect(index.json?["endpoints"]?.arrayValue?.contains(.string("GET /openapi.json")) == true)
        #expect(try connection.request(method: "POST", target: "/", body: Array("{}".utf8)).status == 405)
    }

    @Test("GET /openapi.json serves the repository's OpenAPI 3.1 document, which lists every route")
    func openAPIDocument() throws {
        let server = try startServer(paths: [try writeSyntheticModel()])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let connection = try RawHTTPConnection(port: server.port)
        let response = try connection.request(target: "/openapi.json")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "application/json")
        let file = try #require(FileManager.default.contents(atPath: Self.documentPath))
        #expect(response.body == Array(file), "the embedded document is stale: rebuild")
        let document = try #require(response.json)
        #expect(document["openapi"] == .string("3.1.0"))
        #expect(document["info"]?["version"] == .string(serverVersion))
        let paths = try #require(document["paths"]?.objectValue)
        let index = try connection.request(target: "/", headers: [("Accept", "application/json")])
        for endpoint in index.json?["endpoints"]?.arrayValue?.compactMap(\.stringValue) ?? [] {
            let parts = endpoint.split(separator: " ")
            let method = parts[0].lowercased()
            let path = String(parts[1])
            #expect(paths[path]?[method] != nil, "\(endpoint) is not documented")
        }
        for path in ["/v2/models/{model}/versions/{version}", "/v2/models/{model}/versions/{version}/infer"] {
            #expect(paths[path] != nil)
        }
    }

    @Test("a wrong method on a V2 model route is 405 even for an unknown model")
    func methodBeforeModel() throws {
        let service = try makeService(paths: [try writeSyntheticModel()])
        for target in ["/v2/models/nope", "/v2/models/nope/ready", "/v2/models/nope/versions/3/infer"] {
            let method = target.hasSuffix("infer") ? "GET" : "DELETE"
            let response = service.handle(HTTPRequest(method: method, path: target, headers: [], body: []))
            #expect(response.status == 405, "\(method) \(target)")
            #expect(response.header("Allow") != nil)
        }
        let missing = service.handle(HTTPRequest(method: "GET", path: "/v2/models/nope", headers: [], body: []))
        #expect(missing.status == 404)
    }
}
