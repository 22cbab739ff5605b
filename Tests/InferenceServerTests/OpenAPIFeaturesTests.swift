import Foundation
import HTTPTransport
import MCDropout
import MCDropoutJSON
import TestSupport
import Testing

@testable import InferenceServer

/// Whether the test Python has jsonschema (it comes with scripts/python/requirements-api.txt).
let testPythonHasJSONSchema: Bool = {
    guard let testPython, let child = try? ChildProcess(URL(fileURLWithPath: testPython), ["-c", "import jsonschema"])
    else { return false }
    return child.exits(within: .seconds(60)) && child.status == 0
}()

/// The OpenAPI document describes features models: their real V2 and /predict requests and responses validate against
/// its schemas (with jsonschema, JSON Schema 2020-12 as OpenAPI 3.1), and what the server refuses does not.
@Suite(
    "OpenAPI document: features models validate",
    .enabled(if: testPythonHasJSONSchema, "needs MCDROPOUT_PYTHON with jsonschema (requirements-api.txt)"))
struct OpenAPIFeaturesTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/checks/openapi-instances.py").path

    /// (valid, error) for each (schema name, instance).
    func validate(_ cases: [(String, JSONValue)]) throws -> [(valid: Bool, error: String)] {
        let input = JSONValue.array(
            cases.map { .object(JSONObject([("schema", .string($0.0)), ("instance", $0.1)])) })
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cases-\(UUID().uuidString).json")
        try Data(input.serialized()).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let child = try ChildProcess(
            URL(fileURLWithPath: "/bin/sh"),
            [
                "-c", "exec \"$0\" \"$1\" \"$2\" < \"$3\"", testPython!, Self.script, StaticContentTests.documentPath,
                file.path,
            ])
        #expect(child.exits(within: .seconds(60)))
        #expect(child.status == 0, "\(child.standardError)")
        let results = try JSONParser.parse(child.standardOutput).arrayValue ?? []
        return results.map { ($0["valid"]?.boolValue ?? false, $0["error"]?.stringValue ?? "") }
    }

    @Test("V2 features requests, metadata and answers; /predict features and regression answers; refusals invalid")
    func featuresModels() throws {
        let service = try makeService(paths: [
            try writeTabularModel(name: "het", sizes: [10, 32, 2], head: .meanLogVariance),
            try writeTabularModel(name: "cls", sizes: [13, 16, 3], head: .classification, labels: ["a", "b", "c"]),
            try writeSyntheticModel(name: "mnist"),
        ])
        func json(_ method: String, _ path: String, _ body: String = "") throws -> JSONValue {
            let response = service.handle(HTTPRequest(method: method, path: path, body: Array(body.utf8)))
            #expect(response.status == 200, "\(method) \(path): \(response.errorMessage ?? "")")
            return try #require(response.json)
        }
        let features = "[0.5, -1, 2, 3.25, 4, 5, -6, 7, 8, 9]"
        let inferBody =
            #"{"inputs": [{"name": "features", "shape": [2, 10], "datatype": "FP32", "#
            + #""data": [\#(features), \#(features)]}], "parameters": {"samples": 20, "seed": 2}}"#
        let flatBody =
            #"{"inputs": [{"name": "features", "shape": [1, 13], "datatype": "FP32", "#
            + #""data": [1,2,3,4,5,6,7,8,9,10,11,12,1e-3]}]}"#
        let predictBody = #"{"model": "het", "features": \#(features), "samples": 20, "seed": 1}"#
        let batchBody = #"{"model": "het", "instances": [{"features": \#(features)}], "samples": 20, "seed": 1}"#
        let pixelsBody =
            #"{"inputs": [{"name": "pixels", "shape": [1, 784], "datatype": "UINT8", "#
            + #""data": [\#([String](repeating: "0", count: 784).joined(separator: ","))]}]}"#
        let parse = { (text: String) in try JSONParser.parse(Array(text.utf8)) }
        let valid: [(String, JSONValue)] = [
            ("InferRequest", try parse(inferBody)),
            ("InferRequest", try parse(flatBody)),
            ("InferRequest", try parse(pixelsBody)),
            ("InferResponse", try json("POST", "/v2/models/het/infer", inferBody)),
            ("InferResponse", try json("POST", "/v2/models/cls/infer", flatBody)),
            ("ModelMetadata", try json("GET", "/v2/models/het")),
            ("ModelMetadata", try json("GET", "/v2/models/cls")),
            ("PredictRequest", try parse(predictBody)),
            ("PredictRequest", try parse(batchBody)),
            ("PredictResponse", try json("POST", "/predict", predictBody)),
            ("PredictBatchResponse", try json("POST", "/predict", batchBody)),
        ]
        for ((schema, _), result) in zip(valid, try validate(valid)) {
            #expect(result.valid, "\(schema): \(result.error)")
        }
        // What the schema must refuse: UINT8 features, pixels of a tabular width, a features shape of rank 3.
        let tenValues = #""data": [1,2,3,4,5,6,7,8,9,10]}]}"#
        let invalid: [(String, JSONValue)] = [
            (
                "InferRequest",
                try parse(#"{"inputs": [{"name": "features", "shape": [1, 10], "datatype": "UINT8", "# + tenValues)
            ),
            (
                "InferRequest",
                try parse(#"{"inputs": [{"name": "pixels", "shape": [1, 10], "datatype": "FP32", "# + tenValues)
            ),
            (
                "InferRequest",
                try parse(#"{"inputs": [{"name": "features", "shape": [1, 2, 5], "datatype": "FP32", "data": []}]}"#)
            ),
            ("PredictRequest", try parse(#"{"features": [1, "a"]}"#)),
        ]
        for ((schema, instance), result) in zip(invalid, try validate(invalid)) {
            #expect(!result.valid, "\(schema) accepted \(instance)")
        }
        // The server refuses those V2 requests too (400), so document and server agree.
        for (_, instance) in invalid.prefix(2) {
            let body = instance.serialized()
            let response = service.handle(HTTPRequest(method: "POST", path: "/v2/models/het/infer", body: body))
            #expect(response.status == 400)
        }
    }
}
