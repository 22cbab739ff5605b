import Foundation
import HTTPTransport
import MCDropout
import MCDropoutJSON
import Testing

@testable import InferenceServer

/// Density scores and composite rules in /predict and KServe V2 responses.
@Suite("Density scores and composite rules over the endpoints")
struct DensityScoreEndpointTests {
    let service: InferenceService
    /// The constant uniform model (max-probability score 0.9) with a one-direction principal subspace through the
    /// all-zero image along pixel 0: an image's reconstruction error is the mean of its squared scaled pixels
    /// except pixel 0; ink statistics with cut 0.5 and median share 0.5; a rotation probe (±30°), which scores
    /// 1 − 0.1 = 0.9 for every image of this constant model.
    init() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mcd-\(UUID().uuidString)")
        let path = try writeConstantModel(name: "dense", outputBias: uniformBias, directory: folder)
        var file = try ModelFile(decoding: [UInt8](Data(contentsOf: URL(fileURLWithPath: path))))
        var direction = Matrix(rows: 1, columns: 784)
        direction[0, 0] = 1
        file.density = DensityModel(
            subspace: PrincipalSubspace(mean: [Float](repeating: 0, count: 784), components: direction),
            ink: InkStatistics(cut: 0.5, medianShare: 0.5),
            rotation: RotationProbe(angles: [-30, 30], side: 28, model: file.model), trainingCount: 1)
        file.setUncertaintyRule(
            UncertaintyRule(conditions: [
                .init(score: .uncertainty(.maxProbability), threshold: 0.95),
                .init(score: .density(.reconstructionError), threshold: 0.1),
            ]))
        try Data(file.encoded()).write(to: URL(fileURLWithPath: path))
        service = try makeService(paths: [
            path, try writeConstantModel(name: "plain", outputBias: uniformBias, directory: folder),
        ])
    }

    /// An image whose pixels other than pixel 0 are `value` (scaled `value / 255`), pixel 0 being 255.
    func body(_ value: Int, model: String = "dense", extra: String = "") -> [UInt8] {
        let pixels = [255] + [Int](repeating: value, count: 783)
        return jsonBody(#"{"pixels": \#(pixels), "samples": 4, "seed": 1, "model": "\#(model)"\#(extra)}"#)
    }

    @Test("\"auto\": an input the rule's density conditions flag before any pass runs the rule's N; others stop early")
    func automaticUnfamiliar() throws {
        func passes(_ value: Int, extra: String = "") throws -> Int {
            let pixels = [255] + [Int](repeating: value, count: 783)
            let response = service.handle(
                HTTPRequest(
                    method: "POST", path: "/predict",
                    body: jsonBody(#"{"pixels": \#(pixels), "samples": "auto", "seed": 1, "model": "dense"\#(extra)}"#))
            )
            #expect(response.status == 200, "\(response.errorMessage ?? "")")
            // The density scores computed before sampling are reused, and equal a fixed-N request's.
            let fixed = service.handle(HTTPRequest(method: "POST", path: "/predict", body: body(value))).json
            for score in ["reconstruction_error", "ink_deviation", "rotation_instability"] {
                #expect(response.json?[score] != nil && response.json?[score] == fixed?[score], "\(score)")
            }
            return Int(try #require(response.json?["samples"]?.doubleValue))
        }
        // The constant model's passes agree: a familiar input stops at the minimum, …
        #expect(try passes(51) == AdaptiveSampling.decisive(uncertainty: nil).minimumSamples)
        // … one the stored rule flags by its reconstruction error (0.25 > 0.1) runs the rule's N (100: none stored).
        #expect(try passes(128) == 100)
        // A request's own rule decides instead: a max-probability threshold alone flags nothing before sampling.
        #expect(try passes(128, extra: #", "uncertainty_threshold": 0.5"#) == 16)
        // A request naming a tolerance keeps the precision rule, which has no decision test.
        #expect(try passes(128, extra: #", "tolerance": 0.01"#) == 16)
    }

    @Test("/predict returns the reconstruction error, which condition fired, and the composite rule")
    func predict() throws {
        let quiet = service.handle(HTTPRequest(method: "POST", path: "/predict", body: body(51))).json
        // (51/255)² = 0.04 ≤ 0.1 and 1 − 0.1 = 0.9 ≤ 0.95: not uncertain.
        #expect(abs((quiet?["reconstruction_error"]?.doubleValue ?? 0) - 0.04 * 783 / 784) < 1e-6)
        #expect(quiet?["uncertain"] == .bool(false))
        // Only pixel 0 is above the cut: share 1/784, plus the floor 1/784.
        #expect(abs((quiet?["ink_deviation"]?.doubleValue ?? 0) - log(0.5 * 784 / 2)) < 1e-9)
        #expect(abs((quiet?["rotation_instability"]?.doubleValue ?? 0) - 0.9) < 1e-6)
        #expect(quiet?["uncertainty_triggered"] == .array([]))
        #expect(quiet?["uncertainty_rules"]?.arrayValue?.count == 2)
        #expect(quiet?["uncertainty_score"] == nil)
        let loud = service.handle(HTTPRequest(method: "POST", path: "/predict", body: body(128))).json
        #expect(loud?["uncertain"] == .bool(true))
        #expect(abs((loud?["ink_deviation"]?.doubleValue ?? 0) - log((1 + 1.0 / 784) / 0.5)) < 1e-9)
        #expect(loud?["uncertainty_triggered"] == .array([.string("reconstruction_error")]))
        // A request override replaces the whole rule; density scores can be named in it.
        let overridden = service.handle(
            HTTPRequest(method: "POST", path: "/predict", body: body(128, extra: #", "uncertainty_threshold": 0.5"#))
        ).json
        #expect(overridden?["uncertainty_triggered"] == .array([.string("max_probability")]))
        #expect(overridden?["uncertainty_score"] == .string("max_probability"))
        let byDensity = service.handle(
            HTTPRequest(
                method: "POST", path: "/predict",
                body: body(
                    51, extra: #", "uncertainty_threshold": 0.01, "uncertainty_score": "reconstruction_error""#))
        ).json
        #expect(byDensity?["uncertainty_triggered"] == .array([.string("reconstruction_error")]))
        // A model without statistics has no density fields and refuses a density score by name.
        let plain = service.handle(HTTPRequest(method: "POST", path: "/predict", body: body(51, model: "plain")))
        #expect(plain.status == 200 && plain.json?["reconstruction_error"] == nil)
        #expect(plain.json?["ink_deviation"] == nil)
        let refused = service.handle(
            HTTPRequest(
                method: "POST", path: "/predict",
                body: body(
                    51, model: "plain",
                    extra: #", "uncertainty_threshold": 0.01, "uncertainty_score": "reconstruction_error""#)))
        #expect(refused.status == 400)
    }

    @Test("KServe V2 offers the density score as an FP32 output and flags with the composite rule")
    func kserve() throws {
        let pixels = ([255] + [Int](repeating: 128, count: 783)).map(String.init).joined(separator: ",")
        let request =
            #"{"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 784], "data": [\#(pixels)]}], "parameters": {"samples": 4, "seed": 1}}"#
        let response = service.handle(
            HTTPRequest(method: "POST", path: "/v2/models/dense/infer", body: jsonBody(request)))
        #expect(response.status == 200)
        let outputs = response.json?["outputs"]?.arrayValue ?? []
        let named = Dictionary(
            uniqueKeysWithValues: outputs.compactMap { output in output["name"]?.stringValue.map { ($0, output) } })
        let error = named["reconstruction_error"]?["data"]?.arrayValue?.first?.doubleValue ?? 0
        #expect(abs(error - pow(128.0 / 255, 2) * 783 / 784) < 1e-5)
        let ink = named["ink_deviation"]?["data"]?.arrayValue?.first?.doubleValue ?? 0
        #expect(named["ink_deviation"]?["datatype"] == .string("FP32"))
        let turned = named["rotation_instability"]?["data"]?.arrayValue?.first?.doubleValue ?? 0
        #expect(abs(turned - 0.9) < 1e-6)
        #expect(abs(ink - log((1 + 1.0 / 784) / 0.5)) < 1e-5)
        #expect(named["uncertain"]?["data"] == .array([.bool(true)]))
        #expect(response.json?["parameters"]?["uncertainty_rules"]?.arrayValue?.count == 2)
        // Which condition raised the flag: one BOOL column per condition, named in the output's parameters.
        let triggered = named["uncertainty_triggered"]
        #expect(triggered?["datatype"] == .string("BOOL"))
        #expect(triggered?["shape"] == .array([.number(1), .number(2)]))
        #expect(triggered?["data"] == .array([.bool(false), .bool(true)]))
        #expect(
            triggered?["parameters"]?["scores"]
                == .array([.string("max_probability"), .string("reconstruction_error")]))
        let metadata = service.handle(HTTPRequest(method: "GET", path: "/v2/models/dense")).json
        let names = metadata?["outputs"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(names.contains("reconstruction_error") && names.contains("ink_deviation"))
        #expect(names.contains("rotation_instability"))
        #expect(!names.contains("feature_distance"))
        let column = metadata?["outputs"]?.arrayValue?.first { $0["name"] == .string("uncertainty_triggered") }
        #expect(column?["shape"] == .array([.number(-1), .number(2)]))
    }

    @Test("KServe V2 binary output says which condition fired, and a one-condition override gives one column")
    func kserveTriggeredBinaryAndOverride() throws {
        let pixels = ([255] + [Int](repeating: 51, count: 783)).map(String.init).joined(separator: ",")
        let request =
            #"{"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 784], "data": [\#(pixels)]}], "#
            + #""parameters": {"samples": 4, "seed": 1, "uncertainty_threshold": 0.5}, "#
            + #""outputs": [{"name": "uncertainty_triggered", "parameters": {"binary_data": true}}]}"#
        let response = service.handle(
            HTTPRequest(method: "POST", path: "/v2/models/dense/infer", body: jsonBody(request)))
        #expect(response.status == 200)
        let headerLength = Int(response.headers.first { $0.0 == "Inference-Header-Content-Length" }?.1 ?? "") ?? 0
        let header = try JSONParser.parse(Array(response.body.prefix(headerLength)))
        let output = header["outputs"]?.arrayValue?.first
        #expect(output?["shape"] == .array([.number(1), .number(1)]))
        #expect(output?["parameters"]?["scores"] == .array([.string("max_probability")]))
        #expect(output?["parameters"]?["binary_data_size"] == .number(1))
        // 1 − 0.1 = 0.9 > 0.5: the max-probability condition holds.
        #expect(Array(response.body.dropFirst(headerLength)) == [1])
        // Without any rule (no stored one, no override) the output does not exist.
        let withoutRule = request.replacingOccurrences(of: #", "uncertainty_threshold": 0.5"#, with: "")
        let plain = service.handle(
            HTTPRequest(method: "POST", path: "/v2/models/plain/infer", body: jsonBody(withoutRule)))
        #expect(plain.status == 400)
    }
}
