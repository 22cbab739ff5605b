import Foundation
import HTTPTransport
import MCDropout
import MCDropoutJSON
import Testing

@testable import InferenceServer

/// A 784-8-10 model whose hidden weights are all zero, so every pass gives `softmax(outputBias)` whatever the pixels
/// and the dropout masks: the scores are known by hand. Written with `threshold` in its metadata, if given.
func writeConstantModel(
    name: String, outputBias: [Float], threshold: UncertaintyThreshold? = nil, directory: URL? = nil
) throws -> String {
    let layers = [
        Dense(
            weight: Matrix(rows: 8, columns: 784, storage: [Float](repeating: 0, count: 8 * 784)),
            bias: [Float](repeating: 0, count: 8)),
        Dense(weight: Matrix(rows: 10, columns: 8, storage: [Float](repeating: 0, count: 80)), bias: outputBias),
    ]
    let model = DropoutMLP(layers: layers, dropoutProbabilities: [0, 0.5])
    var metadata = ModelMetadata(
        layerSizes: model.layerSizes, dropoutProbabilities: [0, 0.5], labels: (0..<10).map { "class \($0)" },
        dataset: "constant", seed: 0, inputScale: 255, inputShape: [28, 28])
    metadata.setUncertaintyThreshold(threshold)
    let folder = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("mcd-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let url = folder.appendingPathComponent("\(name).safetensors")
    try Data(ModelFile(model: model, metadata: metadata).encoded()).write(to: url)
    return url.path
}

/// Uniform over 10 classes: predictive entropy ln 10 ≈ 2.302585, max-probability score 1 − 0.1 = 0.9, mutual
/// information and variance 0.
let uniformBias = [Float](repeating: 0, count: 10)
/// Class 0 at logit 20: p₀ = 1 / (1 + 9e⁻²⁰) ≈ 1 − 1.9e-8, entropy ≈ 3.6e-7 nats, max-probability score ≈ 2e-8.
let confidentBias: [Float] = [20] + [Float](repeating: 0, count: 9)

/// `"uncertain"` in /predict and KServe V2 responses: from the model's stored threshold or the request's override.
@Suite("Uncertainty flag from model or request thresholds")
struct UncertaintyFlagTests {
    let service: InferenceService

    init() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mcd-\(UUID().uuidString)")
        let stored = UncertaintyThreshold(
            score: .maxProbability, value: 0.5, targetAccuracy: 0.995, coverage: 0.97, sampleCount: 100)
        service = try makeService(paths: [
            try writeSyntheticModel(name: "plain", directory: folder),
            try writeConstantModel(name: "uniform", outputBias: uniformBias, directory: folder),
            try writeConstantModel(name: "confident", outputBias: confidentBias, directory: folder),
            try writeConstantModel(
                name: "flagged-uniform", outputBias: uniformBias, threshold: stored, directory: folder),
            try writeConstantModel(
                name: "flagged-confident", outputBias: confidentBias, threshold: stored, directory: folder),
        ])
    }

    func predict(_ model: String, _ extra: String = "") -> HTTPResponse {
        let body = #"{"pixels": \#(pixelsJSON(testPixels())), "samples": 30, "seed": 4, "model": "\#(model)"\#(extra)}"#
        return service.handle(HTTPRequest(method: "POST", path: "/predict", body: jsonBody(body)))
    }

    @Test("which rule applies: request value and score, else the model's, else none")
    func resolution() throws {
        let stored = UncertaintyRule(UncertaintyThreshold(score: .mutualInformation, value: 0.1, coverage: 0.9))
        #expect(UncertaintyOverride().resolved(stored: nil) == nil)
        #expect(UncertaintyOverride().resolved(stored: stored) == stored)
        func single(_ score: UncertaintyScore, _ value: Double) -> UncertaintyRule {
            UncertaintyRule(conditions: [.init(score: .uncertainty(score), threshold: value)])
        }
        var value = UncertaintyOverride()
        value.value = 0.3
        #expect(value.resolved(stored: nil) == single(.predictiveEntropy, 0.3))
        #expect(value.resolved(stored: stored) == single(.mutualInformation, 0.3))
        value.score = .uncertainty(.totalVariance)
        #expect(value.resolved(stored: stored) == single(.totalVariance, 0.3))
        value.score = .uncertainty(.mutualInformation)
        value.value = 0.1
        #expect(value.resolved(stored: stored) == stored)  // the same rule keeps its provenance
        value.score = .density(.reconstructionError)
        #expect(
            value.resolved(stored: stored)?.conditions == [.init(score: .density(.reconstructionError), threshold: 0.1)]
        )
    }

    @Test("no threshold anywhere → no uncertainty fields, and the rest of the response is unchanged by one")
    func absent() {
        let plain = predict("plain")
        #expect(plain.status == 200)
        #expect(plain.json?["uncertain"] == nil)
        #expect(plain.json?["uncertainty_score"] == nil)
        #expect(plain.json?["uncertainty_threshold"] == nil)
        let flagged = predict("plain", #", "uncertainty_threshold": 1"#)
        for field in ["probabilities", "variance", "predictive_entropy", "mutual_information", "prediction"] {
            #expect(flagged.json?[field] == plain.json?[field], "\(field)")
        }
        #expect(flagged.json?["uncertainty_threshold"] == .number(1))
    }

    @Test(
        "hand-computed: uniform output has entropy ln 10 and max-probability score 0.9",
        arguments: [
            ("predictive_entropy", 2.30, true), ("predictive_entropy", 2.31, false),
            ("max_probability", 0.89, true), ("max_probability", 0.91, false),
            ("mutual_information", 0.0001, false), ("total_variance", 0.0001, false),
        ])
    func uniform(score: String, threshold: Double, isUncertain: Bool) {
        let response = predict(
            "uniform", #", "uncertainty_threshold": \#(threshold), "uncertainty_score": "\#(score)""#)
        #expect(response.status == 200)
        #expect(response.json?["uncertain"] == .bool(isUncertain))
        #expect(response.json?["uncertainty_score"] == .string(score))
        #expect(response.json?["uncertainty_threshold"] == .number(threshold))
    }

    @Test("hand-computed: a confident model is certain under every score at 0.001")
    func confident() {
        for score in UncertaintyScore.allCases {
            let response = predict(
                "confident", #", "uncertainty_threshold": 0.001, "uncertainty_score": "\#(score.rawValue)""#)
            #expect(response.json?["uncertain"] == .bool(false), "\(score)")
        }
        // Without a score the request's threshold compares predictive entropy: ln 10 is above 2.
        #expect(
            predict("uniform", #", "uncertainty_threshold": 2"#).json?["uncertainty_score"]
                == .string("predictive_entropy"))
        #expect(predict("uniform", #", "uncertainty_threshold": 2"#).json?["uncertain"] == .bool(true))
    }

    @Test("the stored threshold (max probability 0.5) applies; a request overrides its value and keeps its score")
    func stored() {
        let uniform = predict("flagged-uniform")
        #expect(uniform.json?["uncertain"] == .bool(true))  // 0.9 > 0.5
        #expect(uniform.json?["uncertainty_score"] == .string("max_probability"))
        #expect(uniform.json?["uncertainty_threshold"] == .number(0.5))
        #expect(predict("flagged-confident").json?["uncertain"] == .bool(false))  // 2e-8 ≤ 0.5
        let overridden = predict("flagged-uniform", #", "uncertainty_threshold": 0.95"#)
        #expect(overridden.json?["uncertain"] == .bool(false))  // 0.9 ≤ 0.95
        #expect(overridden.json?["uncertainty_score"] == .string("max_probability"))
        #expect(overridden.json?["uncertainty_threshold"] == .number(0.95))
        let rescored = predict(
            "flagged-uniform", #", "uncertainty_threshold": 2.31, "uncertainty_score": "predictive_entropy""#)
        #expect(rescored.json?["uncertain"] == .bool(false))
        #expect(rescored.json?["uncertainty_score"] == .string("predictive_entropy"))
    }

    @Test("every prediction of a batch carries its own flag, with fixed and adaptive sampling")
    func batch() {
        for samples in ["10", #""auto""#] {
            let body =
                #"{"instances": [\#(pixelsJSON(testPixels(seed: 1))), \#(pixelsJSON(testPixels(seed: 2)))], "samples": \#(samples), "seed": 3, "model": "flagged-uniform"}"#
            let response = service.handle(HTTPRequest(method: "POST", path: "/predict", body: jsonBody(body)))
            let predictions = response.json?["predictions"]?.arrayValue ?? []
            #expect(predictions.count == 2)
            for prediction in predictions {
                #expect(prediction["uncertain"] == .bool(true))
                #expect(prediction["uncertainty_score"] == .string("max_probability"))
            }
        }
    }

    @Test(
        "an invalid override is a 400 naming the field",
        arguments: [
            (#", "uncertainty_threshold": "0.1""#, "uncertainty_threshold"),
            (#", "uncertainty_threshold": null"#, "uncertainty_threshold"),
            (#", "uncertainty_threshold": [1]"#, "uncertainty_threshold"),
            (#", "uncertainty_threshold": -0.5"#, "uncertainty_threshold"),
            (#", "uncertainty_threshold": true"#, "uncertainty_threshold"),
            (#", "uncertainty_threshold": 1, "uncertainty_score": "vibes""#, "uncertainty_score"),
            (#", "uncertainty_threshold": 1, "uncertainty_score": 3"#, "uncertainty_score"),
            (#", "uncertainty_score": "mutual_information""#, "uncertainty_score"),
            (#", "threshold": 0.1"#, "unknown field 'threshold'"),
        ])
    func invalid(extra: String, mentions: String) {
        let response = predict("flagged-uniform", extra)
        #expect(response.status == 400)
        #expect(response.errorMessage?.contains(mentions) == true, "\(response.errorMessage ?? "")")
    }

    @Test("KServe V2: an 'uncertain' BOOL output and the rule in the response parameters")
    func kserve() throws {
        func infer(_ model: String, _ parameters: String = "", outputs: String? = nil) -> HTTPResponse {
            var body =
                #"{"inputs": [{"name": "pixels", "shape": [2, 784], "datatype": "UINT8", "data": \#(pixelsJSON(testPixels(seed: 1) + testPixels(seed: 2)))}], "parameters": {"samples": 10, "seed": 2\#(parameters)}"#
            if let outputs { body += #", "outputs": \#(outputs)"# }
            body += "}"
            return service.handle(HTTPRequest(method: "POST", path: "/v2/models/\(model)/infer", body: jsonBody(body)))
        }
        func output(_ response: HTTPResponse, _ name: String) -> JSONValue? {
            response.json?["outputs"]?.arrayValue?.first { $0["name"] == .string(name) }
        }
        // Stored threshold: the default outputs include it.
        let stored = infer("flagged-uniform")
        #expect(stored.status == 200)
        #expect(output(stored, "uncertain")?["datatype"] == .string("BOOL"))
        #expect(output(stored, "uncertain")?["shape"] == .array([.number(2)]))
        #expect(output(stored, "uncertain")?["data"] == .array([.bool(true), .bool(true)]))
        #expect(stored.json?["parameters"]?["uncertainty_score"] == .string("max_probability"))
        #expect(stored.json?["parameters"]?["uncertainty_threshold"] == .number(0.5))
        // A model without one: not offered, not in the defaults, asked for → a 400 that says how to get it.
        let plain = infer("uniform")
        #expect(output(plain, "uncertain") == nil)
        #expect(plain.json?["parameters"]?["uncertainty_score"] == nil)
        let refused = infer("uniform", outputs: #"[{"name": "uncertain"}]"#)
        #expect(refused.status == 400)
        #expect(refused.errorMessage?.contains("uncertainty_threshold") == true)
        // A parameter override makes it available.
        let overridden = infer("uniform", #", "uncertainty_threshold": 2.31"#, outputs: #"[{"name": "uncertain"}]"#)
        #expect(output(overridden, "uncertain")?["data"] == .array([.bool(false), .bool(false)]))
        #expect(overridden.json?["parameters"]?["uncertainty_score"] == .string("predictive_entropy"))
        let invalid = infer("uniform", #", "uncertainty_threshold": "high""#)
        #expect(invalid.status == 400)
        #expect(invalid.errorMessage?.contains("parameters.uncertainty_threshold") == true)
        // Model metadata lists the output and the stored rule only where there is one.
        let metadata = service.handle(HTTPRequest(method: "GET", path: "/v2/models/flagged-uniform")).json
        #expect(metadata?["outputs"]?.arrayValue?.contains { $0["name"] == .string("uncertain") } == true)
        #expect(metadata?["parameters"]?["uncertainty"]?["score"] == .string("max_probability"))
        #expect(metadata?["parameters"]?["uncertainty"]?["coverage"] == .number(0.97))
        let plainMetadata = service.handle(HTTPRequest(method: "GET", path: "/v2/models/uniform")).json
        #expect(plainMetadata?["outputs"]?.arrayValue?.contains { $0["name"] == .string("uncertain") } == false)
        #expect(plainMetadata?["parameters"]?["uncertainty"] == nil)
    }

    @Test("a model file whose stored threshold is malformed does not load")
    func malformedStoredThreshold() throws {
        let path = try writeSyntheticModel(name: "broken")
        var file = try ModelFile(decoding: [UInt8](Data(contentsOf: URL(fileURLWithPath: path))))
        var members = file.metadata.extensions.members
        members.append(
            (
                UncertaintyThreshold.metadataKey,
                .object(JSONObject([("score", .string("vibes")), ("threshold", .number(1))]))
            ))
        file.metadata.extensions = JSONObject(members)
        try Data(file.encoded()).write(to: URL(fileURLWithPath: path))
        #expect(throws: ModelLoadError.self) { try ModelRegistry(paths: [path]) }
    }
}

@Suite("Uncertainty flag over real HTTP")
struct UncertaintyFlagLiveTests {
    @Test("a live server on port 0: stored threshold, request override, KServe binary BOOL output")
    func live() throws {
        let stored = UncertaintyThreshold(
            score: .predictiveEntropy, value: 1, targetAccuracy: 0.995, coverage: 0.97, sampleCount: 100)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mcd-\(UUID().uuidString)")
        let server = try startServer(paths: [
            try writeConstantModel(name: "uniform", outputBias: uniformBias, threshold: stored, directory: folder),
            try writeConstantModel(name: "confident", outputBias: confidentBias, threshold: stored, directory: folder),
        ])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let connection = try RawHTTPConnection(port: server.port)
        func predict(_ model: String, _ extra: String = "") throws -> RawHTTPResponse {
            let body = #"{"pixels": \#(pixelsJSON(testPixels())), "samples": 20, "model": "\#(model)"\#(extra)}"#
            return try connection.request(method: "POST", target: "/predict", body: Array(body.utf8))
        }
        let uniform = try predict("uniform")
        #expect(uniform.status == 200)
        #expect(uniform.json?["uncertain"] == .bool(true))  // ln 10 > 1
        #expect(uniform.json?["uncertainty_score"] == .string("predictive_entropy"))
        #expect(uniform.json?["uncertainty_threshold"] == .number(1))
        #expect(try predict("confident").json?["uncertain"] == .bool(false))
        let overridden = try predict("uniform", #", "uncertainty_threshold": 3"#)
        #expect(overridden.json?["uncertain"] == .bool(false))  // ln 10 ≤ 3
        #expect(try predict("uniform", #", "uncertainty_score": "max_probability""#).status == 400)

        // KServe V2 with binary outputs: the BOOL tensor is one byte per input.
        let v2 =
            #"{"inputs": [{"name": "pixels", "shape": [1, 784], "datatype": "UINT8", "data": \#(pixelsJSON(testPixels()))}], "parameters": {"binary_data_output": true}, "outputs": [{"name": "uncertain"}, {"name": "prediction"}]}"#
        for (model, byte) in [("uniform", UInt8(1)), ("confident", UInt8(0))] {
            let response = try connection.request(
                method: "POST", target: "/v2/models/\(model)/infer", body: Array(v2.utf8))
            #expect(response.status == 200)
            let headerLength = try #require(response.header("Inference-Header-Content-Length").flatMap { Int($0) })
            let header = try JSONParser.parse(Array(response.body.prefix(headerLength)))
            #expect(header["outputs"]?[0]?["datatype"] == .string("BOOL"))
            #expect(header["outputs"]?[0]?["parameters"]?["binary_data_size"] == .number(1))
            #expect(response.body.count == headerLength + 1 + 8)
            #expect(response.body[headerLength] == byte, "\(model)")
        }
    }
}
