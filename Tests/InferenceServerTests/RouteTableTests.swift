import Foundation
import HTTPTransport
import MCDropoutJSON
import Testing

@testable import InferenceServer

@Suite("The route table is the one list of routes")
struct RouteTableTests {
    /// Values for the `{name}` segments of a pattern: the synthetic model, its version 1.
    static func concrete(_ path: String) -> String {
        path.replacingOccurrences(of: "{model}", with: "synthetic").replacingOccurrences(of: "{version}", with: "1")
    }

    @Test("the OpenAPI document describes exactly the table's routes, methods and security")
    func openAPIMatchesTable() throws {
        let document = try JSONParser.parse(StaticContent.openAPIDocument)
        let paths = try #require(document["paths"]?.objectValue)
        var documented: Set<String> = []
        for (path, item) in paths {
            for method in ["get", "post", "put", "delete", "patch", "head", "options"] where item[method] != nil {
                documented.insert("\(method.uppercased()) \(path)")
            }
        }
        var served: Set<String> = []
        for route in Route.table {
            for path in route.pattern.paths {
                served.insert("\(route.method) \(path)")
                let operation = paths[path]?[route.method.lowercased()]
                let schemes = operation?["security"]?.arrayValue?.compactMap { $0.objectValue?.keys.first } ?? []
                #expect(
                    schemes.contains("bearerAuth") == (route.access == .keyRequired),
                    "\(route.method) \(path): security \(schemes) for access \(route.access)")
            }
        }
        #expect(
            documented == served,
            "documented only: \(documented.subtracting(served)); served only: \(served.subtracting(documented))")
    }

    @Test("every route answers its own method, and any other with 405 and the table's Allow")
    func methodsFromTable() throws {
        let service = try makeService(paths: [try writeSyntheticModel()])
        for route in Route.table {
            for path in route.pattern.paths {
                let target = Self.concrete(path)
                let body = Array(#"{"pixels": \#(pixelsJSON(testPixels())), "samples": 2}"#.utf8)
                let answered = service.handle(HTTPRequest(method: route.method, path: target, body: body))
                #expect(answered.status != 404 && answered.status != 405, "\(route.method) \(target)")
                let wrong = route.method == "GET" ? "POST" : "GET"
                let refused = service.handle(HTTPRequest(method: wrong, path: target))
                #expect(refused.status == 405, "\(wrong) \(target)")
                #expect(refused.header("Allow") == route.allowedMethods.joined(separator: ", "), "\(wrong) \(target)")
            }
        }
        let unknown = service.handle(HTTPRequest(method: "GET", path: "/v2/models/synthetic/bogus"))
        #expect(unknown.status == 404)
    }

    @Test("metrics are labelled with the table's labels, and unmatched requests with other")
    func metricsLabels() throws {
        let service = try makeService(paths: [try writeSyntheticModel()])
        for route in Route.table {
            _ = service.handle(HTTPRequest(method: route.method, path: Self.concrete(route.pattern.paths[0])))
        }
        _ = service.handle(HTTPRequest(method: "GET", path: "/nowhere"))
        let text = String(decoding: service.handle(HTTPRequest(method: "GET", path: "/metrics")).body, as: UTF8.self)
        for label in Set(Route.table.map(\.label)).union(["other"]) {
            #expect(text.contains(#"mcdropout_requests_total{route="\#(label)""#), "\(label)")
        }
        #expect(Route.labels.last == "other")
    }

    @Test("a body over the limit is counted under its route and carries X-Request-ID")
    func payloadTooLarge() throws {
        let service = try makeService(paths: [try writeSyntheticModel()])
        let request = HTTPRequest(method: "POST", path: "/predict", headers: [("X-Request-ID", "trace-413")])
        let response = service.reject(.bodyTooLarge(limit: 10), request: request)
        #expect(response.status == 413)
        #expect(response.header("X-Request-ID") == "trace-413")
        #expect(service.metrics.requestCount(route: .predict, status: 413) == 1)
        #expect(service.metrics.requestCount(route: .notFound, status: 413) == 0)
    }

    @Test("GET / lists each route once, in table order, in its short form")
    func indexListsTable() throws {
        let service = try makeService(paths: [try writeSyntheticModel()])
        let index = service.handle(HTTPRequest(method: "GET", path: "/", headers: [("Accept", "application/json")]))
        let listed = index.json?["endpoints"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(listed == Route.table.map { "\($0.method) \($0.pattern.paths[0])" })
        #expect(listed.contains("POST /v2/models/{model}/infer") && !listed.contains { $0.contains("{version}") })
    }
}
