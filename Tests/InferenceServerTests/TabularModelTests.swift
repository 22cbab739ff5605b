import Foundation
import HTTPTransport
import MCDropout
import MCDropoutJSON
import Testing

@testable import InferenceServer

/// A tabular model written to a temporary file: `sizes`, tanh, dropout on the hidden inputs, normalisation.
func writeTabularModel(name: String, sizes: [Int], head: OutputHead, labels: [String] = []) throws -> String {
    var generator = RandomSource(seed: 12)
    let dropout = [Float(0)] + Array(repeating: 0.2, count: sizes.count - 2)
    let model = DropoutMLP(
        layerSizes: sizes, dropoutProbabilities: dropout, initialization: .xavier, activation: .tanh,
        using: &generator)
    var metadata = ModelMetadata(
        layerSizes: sizes, dropoutProbabilities: dropout, labels: labels, dataset: "tabular", seed: 12, inputScale: 1)
    metadata.activation = .tanh
    metadata.head = head
    metadata.inputMean = (0..<sizes[0]).map { Float($0) }
    metadata.inputStd = [Float](repeating: 2, count: sizes[0])
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mcd-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let url = folder.appendingPathComponent("\(name).safetensors")
    try Data(ModelFile(model: model, metadata: metadata).encoded()).write(to: url)
    return url.path
}

/// The numbers of a JSON array (empty when it is not one).
func numbers(_ value: JSONValue?) -> [Double] { value?.arrayValue?.compactMap(\.doubleValue) ?? [] }

@Suite("Tabular models: features, regression answers, clear 400s")
struct TabularModelTests {
    let service: InferenceService
    let paths: [String]

    init() throws {
        paths = [
            try writeTabularModel(name: "reg", sizes: [10, 32, 1], head: .regression),
            try writeTabularModel(name: "het", sizes: [10, 32, 4], head: .meanLogVariance),
            try writeTabularModel(name: "cls", sizes: [13, 16, 3], head: .classification, labels: ["a", "b", "c"]),
            try writeSyntheticModel(name: "mnist"),
        ]
        service = try makeService(paths: paths)
    }

    func post(_ body: String) -> HTTPResponse {
        service.handle(HTTPRequest(method: "POST", path: "/predict", body: jsonBody(body)))
    }

    let features = "[0.5, -1, 2, 3.25, 4, 5, -6, 7, 8, 9]"

    @Test("a regression model answers mean and variance that match the predictor on normalised inputs")
    func regression() throws {
        let response = post(#"{"model": "reg", "features": \#(features), "samples": 50, "seed": 9}"#)
        #expect(response.status == 200, "\(response.errorMessage ?? "")")
        let json = response.json
        #expect(json?["probabilities"] == nil && json?["label"] == nil && json?["aleatoric_variance"] == nil)
        let mean = numbers(json?["mean"])
        let variance = numbers(json?["variance"])
        #expect(mean.count == 1 && variance.count == 1 && variance[0] > 0)
        let file = try ModelFile(decoding: Array(try Data(contentsOf: URL(fileURLWithPath: paths[0]))))
        let raw: [Float] = [0.5, -1, 2, 3.25, 4, 5, -6, 7, 8, 9]
        let input = (0..<10).map { (raw[$0] - Float($0)) / 2 }
        let expected = MonteCarloPredictor(model: file.model, head: .regression).predict(
            input, sampleCount: 50, seed: 9)
        #expect(Float(mean[0]) == expected.meanProbabilities[0])
        #expect(Float(variance[0]) == expected.variance[0])
    }

    @Test("a mean_logvar head adds aleatoric and predictive variance; a batch repeats single answers")
    func heteroscedastic() throws {
        let single = post(#"{"model": "het", "features": \#(features), "samples": 30, "seed": 2}"#)
        #expect(single.status == 200, "\(single.errorMessage ?? "")")
        let json = single.json
        let variance = numbers(json?["variance"])
        let aleatoric = numbers(json?["aleatoric_variance"])
        let predictive = numbers(json?["predictive_variance"])
        #expect(variance.count == 2 && aleatoric.count == 2 && predictive.count == 2)
        for index in 0..<2 {
            #expect(aleatoric[index] > 0)
            #expect(abs(predictive[index] - variance[index] - aleatoric[index]) < 1e-6 * max(1, predictive[index]))
        }
        let batch = post(
            #"{"model": "het", "instances": [{"features": \#(features)}, {"features": \#(features)}], "samples": 30, "seed": 2}"#
        )
        let predictions = try #require(batch.json?["predictions"]?.arrayValue)
        #expect(predictions.count == 2)
        #expect(
            predictions[1]["mean"] == json?["mean"]
                && predictions[0]["predictive_variance"] == json?["predictive_variance"])
    }

    @Test("the uncertainty rule can use predictive variance; classification scores are refused for regression")
    func regressionRule() {
        let flagged = post(
            #"{"model": "het", "features": \#(features), "seed": 1, "uncertainty_threshold": 0, "uncertainty_score": "predictive_variance"}"#
        )
        #expect(flagged.status == 200)
        #expect(flagged.json?["uncertain"] == .bool(true))
        #expect(flagged.json?["uncertainty_score"] == .string("predictive_variance"))
        let byDefault = post(#"{"model": "reg", "features": \#(features), "uncertainty_threshold": 1e9}"#)
        #expect(byDefault.json?["uncertain"] == .bool(false))
        #expect(byDefault.json?["uncertainty_score"] == .string("predictive_variance"))
        let wrong = post(
            #"{"model": "reg", "features": \#(features), "uncertainty_threshold": 1, "uncertainty_score": "mutual_information"}"#
        )
        #expect(wrong.status == 400)
        #expect(wrong.errorMessage?.contains("regression") == true)
        let wrongWay = post(
            #"{"model": "mnist", "pixels": \#(pixelsJSON(testPixels())), "uncertainty_threshold": 1, "uncertainty_score": "predictive_variance"}"#
        )
        #expect(wrongWay.status == 400)
    }

    @Test("classification on features keeps the classification answer")
    func tabularClassification() throws {
        let response = post(#"{"model": "cls", "features": [1,2,3,4,5,6,7,8,9,10,11,12,13], "seed": 4}"#)
        #expect(response.status == 200, "\(response.errorMessage ?? "")")
        #expect(response.json?["label"]?.stringValue != nil)
        let sum = response.json?["probabilities"]?.arrayValue?.compactMap(\.doubleValue).reduce(0, +) ?? 0
        #expect(abs(sum - 1) < 1e-5)
        // Features also work for an image model: raw 0–255 values, scaled by the model.
        let image = post(#"{"model": "mnist", "features": \#(pixelsJSON(testPixels())), "seed": 4}"#)
        let pixels = post(#"{"model": "mnist", "pixels": \#(pixelsJSON(testPixels())), "seed": 4}"#)
        #expect(image.status == 200 && image.body == pixels.body)
    }

    @Test(
        "clear 400s: width, non-finite or non-numeric features, pixels to a tabular model, mixed instances",
        arguments: [
            (#"{"model": "reg", "features": [1, 2, 3]}"#, "'features' has 3 values; model 'reg' expects 10"),
            (#"{"model": "reg", "features": [1e39, 2, 3]}"#, "'features[0]' is"),
            (#"{"model": "reg", "features": [1, "2", 3]}"#, "'features[1]' must be a number"),
            (#"{"model": "reg", "features": []}"#, "'features' must be a non-empty array"),
            (#"{"model": "reg", "pixels": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}"#, "not an image model; send 'features'"),
            (
                #"{"model": "reg", "instances": [{"features": [1,2,3,4,5,6,7,8,9,10]}, [1,2,3,4,5,6,7,8,9,10]]}"#,
                "mix 'pixels' and 'features'"
            ),
            (#"{"model": "reg", "instances": [{"features": [1,2,3,4,5,6,7,8,9]}]}"#, "'instances[0]' has 9 values"),
            (#"{"model": "reg", "features": [1], "pixels": [1]}"#, "give one of 'pixels', 'features' or 'instances'"),
        ])
    func rejections(body: String, message: String) {
        let response = post(body)
        #expect(response.status == 400)
        #expect(response.errorMessage?.contains(message) == true, "\(response.errorMessage ?? "")")
    }

    func v2(_ model: String, _ body: String) -> HTTPResponse {
        service.handle(HTTPRequest(method: "POST", path: "/v2/models/\(model)/infer", body: jsonBody(body)))
    }

    @Test("V2: metadata names input 'features' and the regression outputs; infer returns mean and variances")
    func kserveRegression() throws {
        let metadata = service.handle(HTTPRequest(method: "GET", path: "/v2/models/het", body: []))
        let inputs = metadata.json?["inputs"]?.arrayValue ?? []
        #expect(inputs.first?["name"] == .string("features"))
        let names = (metadata.json?["outputs"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        #expect(names == ["mean", "variance", "aleatoric_variance", "predictive_variance"])
        #expect(metadata.json?["parameters"]?["task"] == .string("regression"))
        let plain = service.handle(HTTPRequest(method: "GET", path: "/v2/models/reg", body: []))
        #expect(
            (plain.json?["outputs"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue } == ["mean", "variance"])

        let infer = v2(
            "het",
            #"{"inputs": [{"name": "features", "shape": [2, 10], "datatype": "FP32", "data": [\#(features), \#(features)]}], "parameters": {"samples": 30, "seed": 2}}"#
        )
        #expect(infer.status == 200, "\(infer.errorMessage ?? "")")
        let outputs = infer.json?["outputs"]?.arrayValue ?? []
        let mean = try #require(outputs.first { $0["name"] == .string("mean") })
        #expect(mean["shape"] == .array([.number(2), .number(2)]))
        let single = post(#"{"model": "het", "features": \#(features), "samples": 30, "seed": 2}"#)
        #expect(numbers(mean["data"]).prefix(2).elementsEqual(numbers(single.json?["mean"])))
        let predictive = try #require(outputs.first { $0["name"] == .string("predictive_variance") })
        #expect(numbers(predictive["data"]).prefix(2).elementsEqual(numbers(single.json?["predictive_variance"])))
    }

    @Test(
        "V2 rejections: pixels to a tabular model, UINT8 features, non-finite features, classification outputs",
        arguments: [
            (
                #"{"inputs": [{"name": "pixels", "shape": [1, 10], "datatype": "FP32", "data": [1,2,3,4,5,6,7,8,9,10]}]}"#,
                "this model takes 'features'"
            ),
            (
                #"{"inputs": [{"name": "features", "shape": [1, 10], "datatype": "UINT8", "data": [1,2,3,4,5,6,7,8,9,10]}]}"#,
                "use FP32"
            ),
            (
                #"{"inputs": [{"name": "features", "shape": [1, 10], "datatype": "FP32", "data": [1e39,2,3,4,5,6,7,8,9,10]}]}"#,
                "features must be finite"
            ),
            (
                #"{"inputs": [{"name": "features", "shape": [1, 10], "datatype": "FP32", "data": [1,2,3,4,5,6,7,8,9,10]}], "outputs": [{"name": "probabilities"}]}"#,
                "unknown output 'probabilities'"
            ),
        ])
    func kserveRejections(body: String, message: String) {
        let response = v2("reg", body)
        #expect(response.status == 400)
        #expect(response.errorMessage?.contains(message) == true, "\(response.errorMessage ?? "")")
    }
}
