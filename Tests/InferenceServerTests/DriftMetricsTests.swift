import Foundation
import HTTPTransport
import MCDropout
import MCDropoutJSON
import Testing

@testable import InferenceServer

/// One prediction as a response reported it.
private struct Answer {
    var label: String
    var scores: [String: Double]
    var uncertain: Bool?

    /// Reads a `/predict` prediction object.
    init(predict object: JSONValue) {
        label = object["label"]?.stringValue ?? ""
        let probabilities = object["probabilities"]?.arrayValue?.compactMap(\.doubleValue) ?? []
        let variance = object["variance"]?.arrayValue?.compactMap(\.doubleValue) ?? []
        scores = [
            "max_probability": 1 - (probabilities.max() ?? 0), "total_variance": variance.reduce(0, +),
        ]
        for name in ["predictive_entropy", "expected_entropy", "mutual_information"] {
            scores[name] = object[name]?.doubleValue
        }
        if case .bool(let flag)? = object["uncertain"] { uncertain = flag }
    }
}

/// The samples of one series in Prometheus text: `name{labels} value` lines whose labels include all of `labels`.
private func samples(
    _ text: String, _ name: String, _ labels: [String: String]
) -> [(labels: [String: String], value: Double)] {
    text.split(separator: "\n").compactMap { line in
        guard line.hasPrefix(name + "{"), let close = line.lastIndex(of: "}") else { return nil }
        var parsed: [String: String] = [:]
        for pair in line[line.index(line.startIndex, offsetBy: name.count + 1)..<close].split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            parsed[String(parts[0])] = String(parts[1].dropFirst().dropLast())
        }
        guard labels.allSatisfy({ parsed[$0.key] == $0.value }),
            let value = Double(line[line.index(after: close)...].trimmingCharacters(in: .whitespaces))
        else { return nil }
        return (parsed, value)
    }
}

@Suite("Drift metrics")
struct DriftMetricsTests {
    @Test("after /predict (single and batch) and V2 infer, /metrics counts every prediction in the right buckets")
    func countsAndBuckets() throws {
        let server = try startServer(paths: [try writeSyntheticModel(name: "digits")])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let connection = try RawHTTPConnection(port: server.port)
        var answers: [Answer] = []

        // One input with a threshold that flags only some of the batch answers below, one without any threshold.
        let single = try connection.request(
            method: "POST", target: "/predict",
            body: Array(#"{"pixels": \#(pixelsJSON(testPixels(seed: 5))), "samples": 20, "seed": 1}"#.utf8))
        #expect(single.status == 200)
        answers.append(Answer(predict: try #require(single.json)))
        let instances = (10..<16).map { pixelsJSON(testPixels(seed: UInt64($0))) }.joined(separator: ",")
        let unthresholded = try connection.request(
            method: "POST", target: "/predict",
            body: Array(#"{"instances": [\#(instances)], "samples": 30, "seed": 2}"#.utf8))
        let batchAnswers = try #require(unthresholded.json?["predictions"]?.arrayValue).map(Answer.init(predict:))
        #expect(batchAnswers.count == 6)
        answers += batchAnswers
        let entropies = batchAnswers.compactMap { $0.scores["predictive_entropy"] }.sorted()
        let threshold = (entropies[2] + entropies[3]) / 2
        let flaggedBatch = try connection.request(
            method: "POST", target: "/predict",
            body: jsonBody(
                #"{"instances": [\#(instances)], "samples": 30, "seed": 2, "#
                    + #""uncertainty_threshold": \#(threshold)}"#))
        let thresholdedAnswers = try #require(flaggedBatch.json?["predictions"]?.arrayValue).map(Answer.init(predict:))
        #expect(thresholdedAnswers.filter { $0.uncertain == true }.count == 3)
        answers += thresholdedAnswers

        // V2: two inputs, scores read from the output tensors.
        let v2 = try connection.request(
            method: "POST", target: "/v2/models/digits/infer",
            body: Array(
                #"""
                {"inputs": [{"name": "pixels", "shape": [2, 784], "datatype": "UINT8",
                  "data": \#(pixelsJSON(testPixels(seed: 21) + testPixels(seed: 22)))}],
                 "parameters": {"samples": 25, "seed": 4, "uncertainty_threshold": 0}}
                """#.utf8))
        #expect(v2.status == 200)
        func output(_ name: String) -> [JSONValue] {
            v2.json?["outputs"]?.arrayValue?.first { $0["name"] == .string(name) }?["data"]?.arrayValue ?? []
        }
        let labels = (0..<10).map { "class \($0)" }
        for index in 0..<2 {
            let probabilities = output("probabilities").compactMap(\.doubleValue)[(index * 10)..<(index * 10 + 10)]
            let variance = output("variance").compactMap(\.doubleValue)[(index * 10)..<(index * 10 + 10)]
            var answer = Answer(predict: .object(JSONObject([])))
            answer.label = labels[try #require(output("prediction")[index].doubleValue.map { Int($0) })]
            answer.scores = [
                "max_probability": 1 - (probabilities.max() ?? 0), "total_variance": variance.reduce(0, +),
            ]
            for name in ["predictive_entropy", "expected_entropy", "mutual_information"] {
                answer.scores[name] = output(name)[index].doubleValue
            }
            if case .bool(let flag) = output("uncertain")[index] { answer.uncertain = flag }
            answers.append(answer)
        }
        #expect(answers.count == 15)

        let text = try connection.request(target: "/metrics").text
        // The synthetic model has no density statistics: the five pass scores, no density series.
        for name in ["reconstruction_error", "feature_distance"] {
            #expect(samples(text, "mcdropout_prediction_score_count", ["score": name]).isEmpty, "\(name)")
        }
        for name in DriftScore.scores(density: nil).map(\.name) {
            let values = answers.compactMap { $0.scores[name] }
            #expect(values.count == answers.count, "\(name) missing from a response")
            let series = ["model": "digits", "score": name]
            let buckets = samples(text, "mcdropout_prediction_score_bucket", series)
            #expect(buckets.count == DriftScore.bucketFractions.count + 1, "\(name)")
            for bucket in buckets {
                let bound = bucket.labels["le"] == "+Inf" ? Double.infinity : Double(bucket.labels["le"] ?? "") ?? .nan
                let expected = values.filter { $0 <= bound }.count
                #expect(Int(bucket.value) == expected, "\(name) le=\(bound)")
            }
            #expect(samples(text, "mcdropout_prediction_score_count", series).first?.value == Double(answers.count))
            let sum = try #require(samples(text, "mcdropout_prediction_score_sum", series).first?.value)
            #expect(abs(sum - values.reduce(0, +)) < 1e-4, "\(name) sum")
        }
        // Entropies end at ln 10, the others at 1.
        let entropyBounds = samples(text, "mcdropout_prediction_score_bucket", ["score": "predictive_entropy"])
        #expect(entropyBounds.compactMap { Double($0.labels["le"] ?? "") }.filter(\.isFinite).max() == log(10.0))
        let probabilityBounds = samples(text, "mcdropout_prediction_score_bucket", ["score": "max_probability"])
        #expect(probabilityBounds.compactMap { Double($0.labels["le"] ?? "") }.filter(\.isFinite).max() == 1)

        for label in labels {
            let count = samples(text, "mcdropout_predictions_total", ["model": "digits", "class": label]).first?.value
            #expect(count == Double(answers.filter { $0.label == label }.count), "\(label)")
        }
        let judged = answers.filter { $0.uncertain != nil }.count
        let flagged = answers.filter { $0.uncertain == true }.count
        #expect(judged == 8 && flagged == 5)
        #expect(samples(text, "mcdropout_predictions_judged_total", ["model": "digits"]).first?.value == Double(judged))
        let flaggedCount = samples(text, "mcdropout_predictions_flagged_total", ["model": "digits"]).first?.value
        #expect(flaggedCount == Double(flagged))
    }

    @Test("a reload starts the reloaded model's drift metrics afresh; a failed request records nothing")
    func reloadAndErrors() throws {
        let path = try writeSyntheticModel(name: "digits")
        let service = try makeService(paths: [path])
        let body = jsonBody(#"{"pixels": \#(pixelsJSON(testPixels())), "samples": 10, "seed": 1}"#)
        #expect(service.handle(HTTPRequest(method: "POST", path: "/predict", body: body)).status == 200)
        let bad = jsonBody(#"{"pixels": [1, 2, 3], "samples": 10}"#)
        #expect(service.handle(HTTPRequest(method: "POST", path: "/predict", body: bad)).status == 400)
        func count() -> Double? {
            let response = service.handle(HTTPRequest(method: "GET", path: "/metrics"))
            let text = String(decoding: response.body, as: UTF8.self)
            return samples(
                text, "mcdropout_prediction_score_count", ["model": "digits", "score": "mutual_information"]
            )
            .first?.value
        }
        #expect(count() == 1)
        service.reloadModels()
        #expect(count() == 0)
    }

    @Test("density scores get histograms from /predict and V2 infer, only for the model that has them")
    func densityScores() throws {
        // The constant model's hidden features are all 0, so with one whitened direction and class means 2 … 11 the
        // feature distance is min (0 − μ_c)² / 1 = 4 for every input; the one-direction subspace along pixel 0 makes
        // the reconstruction error the mean squared scaled pixel except pixel 0.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mcd-\(UUID().uuidString)")
        let path = try writeConstantModel(name: "dense", outputBias: uniformBias, directory: folder)
        var file = try ModelFile(decoding: [UInt8](Data(contentsOf: URL(fileURLWithPath: path))))
        var direction = Matrix(rows: 1, columns: 784)
        direction[0, 0] = 1
        file.density = DensityModel(
            subspace: PrincipalSubspace(mean: [Float](repeating: 0, count: 784), components: direction),
            gaussian: ClassConditionalGaussian(
                layer: 1, whitening: Matrix(rows: 1, columns: 8, storage: [Float](repeating: 1, count: 8)),
                whitenedMeans: Matrix(rows: 10, columns: 1, storage: (2...11).map(Float.init))),
            trainingCount: 1)
        file.setUncertaintyRule(
            UncertaintyRule(
                conditions: [.init(score: .density(.reconstructionError), threshold: 0.1)], validationFlagged: 0.04))
        try Data(file.encoded()).write(to: URL(fileURLWithPath: path))
        let plain = try writeConstantModel(name: "plain", outputBias: uniformBias, directory: folder)
        let server = try startServer(paths: [path, plain])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let connection = try RawHTTPConnection(port: server.port)

        func pixels(_ value: Int) -> String { pixelsJSON([255] + [Int](repeating: value, count: 783)) }
        var errors: [Double] = []
        var distances: [Double] = []
        let predicted = try connection.request(
            method: "POST", target: "/predict",
            body: jsonBody(#"{"pixels": \#(pixels(51)), "samples": 4, "seed": 1, "model": "dense"}"#))
        errors += [try #require(predicted.json?["reconstruction_error"]?.doubleValue)]
        distances += [try #require(predicted.json?["feature_distance"]?.doubleValue)]
        let inferred = try connection.request(
            method: "POST", target: "/v2/models/dense/infer",
            body: jsonBody(
                #"{"inputs": [{"name": "pixels", "datatype": "UINT8", "shape": [2, 784], "#
                    + #""data": [\#(pixels(128)), \#(pixels(10))]}], "parameters": {"samples": 4, "seed": 1}}"#))
        #expect(inferred.status == 200)
        func output(_ name: String) -> [Double] {
            let outputs = inferred.json?["outputs"]?.arrayValue ?? []
            let data = outputs.first { $0["name"] == .string(name) }?["data"]?.arrayValue ?? []
            return data.compactMap(\.doubleValue)
        }
        errors += output("reconstruction_error")
        distances += output("feature_distance")
        #expect(errors.count == 3 && distances == [4, 4, 4])
        // (51/255)² = 0.04, (128/255)² ≈ 0.252, (10/255)² ≈ 0.0015, each × 783/784.
        #expect(abs(errors[0] - 0.04 * 783 / 784) < 1e-6)
        _ = try connection.request(
            method: "POST", target: "/predict",
            body: jsonBody(#"{"pixels": \#(pixels(51)), "samples": 4, "seed": 1, "model": "plain"}"#))

        let text = try connection.request(target: "/metrics").text
        for (name, values) in [("reconstruction_error", errors), ("feature_distance", distances)] {
            let series = ["model": "dense", "score": name]
            let buckets = samples(text, "mcdropout_prediction_score_bucket", series)
            #expect(buckets.count == DriftScore.densityBuckets.count + 1, "\(name)")
            for bucket in buckets {
                let bound = bucket.labels["le"] == "+Inf" ? Double.infinity : Double(bucket.labels["le"] ?? "") ?? .nan
                #expect(Int(bucket.value) == values.filter { $0 <= bound }.count, "\(name) le=\(bound)")
            }
            let sum = try #require(samples(text, "mcdropout_prediction_score_sum", series).first?.value)
            #expect(abs(sum - values.reduce(0, +)) < 1e-6, "\(name) sum")
            #expect(samples(text, "mcdropout_prediction_score_count", ["model": "plain", "score": name]).isEmpty)
        }
        // The buckets that separate the three errors: 0.0015 ≤ 0.002, 0.04 ≤ 0.05, 0.25 ≤ 0.5.
        let errorSeries = ["model": "dense", "score": "reconstruction_error"]
        let cumulative = Dictionary(
            uniqueKeysWithValues: samples(text, "mcdropout_prediction_score_bucket", errorSeries).map {
                ($0.labels["le"] ?? "", $0.value)
            })
        #expect(cumulative["0.001"] == 0 && cumulative["0.002"] == 1 && cumulative["0.05"] == 2)
        #expect(cumulative["0.2"] == 2 && cumulative["0.5"] == 3)
        let plainCount = samples(
            text, "mcdropout_prediction_score_count", ["model": "plain", "score": "mutual_information"])
        #expect(plainCount.first?.value == 1)
        // The rule's validation flag rate is the expected flagged ratio; the plain model has no rule, so no series.
        let expected = samples(text, "mcdropout_model_expected_flagged_ratio", [:])
        #expect(expected.map(\.labels) == [["model": "dense"]] && expected.first?.value == 0.04)
        // The rule (reconstruction error > 0.1) flagged the 0.25 error only.
        #expect(samples(text, "mcdropout_predictions_flagged_total", ["model": "dense"]).first?.value == 1)
        #expect(samples(text, "mcdropout_predictions_judged_total", ["model": "dense"]).first?.value == 3)
    }

    @Test("regression models: per-target histograms of the answered standard deviations from /predict and V2")
    func regressionSpreads() throws {
        let server = try startServer(paths: [
            try writeTabularModel(name: "het", sizes: [10, 32, 4], head: .meanLogVariance),
            try writeTabularModel(name: "reg", sizes: [10, 32, 1], head: .regression),
        ])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let connection = try RawHTTPConnection(port: server.port)
        let rows = ["[0.5, -1, 2, 3.25, 4, 5, -6, 7, 8, 9]", "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]"]
        // Answered variances per target: (epistemic, aleatoric) of every prediction of "het".
        var answered: [[(Double, Double)]] = [[], []]
        let single = try connection.request(
            method: "POST", target: "/predict",
            body: jsonBody(#"{"model": "het", "features": \#(rows[0]), "samples": 20, "seed": 1}"#))
        #expect(single.status == 200)
        for target in 0..<2 {
            answered[target].append(
                (
                    numbers(single.json?["variance"])[target],
                    numbers(single.json?["aleatoric_variance"])[target]
                ))
        }
        let inferred = try connection.request(
            method: "POST", target: "/v2/models/het/infer",
            body: jsonBody(
                #"{"inputs": [{"name": "features", "datatype": "FP32", "shape": [2, 10], "data": [\#(rows[0]), "#
                    + #"\#(rows[1])]}], "parameters": {"samples": 20, "seed": 2}}"#))
        #expect(inferred.status == 200)
        func output(_ name: String) -> [Double] {
            numbers((inferred.json?["outputs"]?.arrayValue ?? []).first { $0["name"] == .string(name) }?["data"])
        }
        let (variance, aleatoric) = (output("variance"), output("aleatoric_variance"))
        for row in 0..<2 {
            for target in 0..<2 {
                answered[target].append((variance[row * 2 + target], aleatoric[row * 2 + target]))
            }
        }
        _ = try connection.request(
            method: "POST", target: "/predict",
            body: jsonBody(#"{"model": "reg", "features": \#(rows[1]), "samples": 20, "seed": 1}"#))

        let text = try connection.request(target: "/metrics").text
        for target in 0..<2 {
            for kind in ["epistemic", "aleatoric", "predictive"] {
                let series = ["model": "het", "target": "\(target)", "kind": kind]
                let values = answered[target].map { pair in
                    switch kind {
                    case "epistemic": return pair.0.squareRoot()
                    case "aleatoric": return pair.1.squareRoot()
                    default: return (pair.0 + pair.1).squareRoot()
                    }
                }
                let buckets = samples(text, "mcdropout_regression_std_bucket", series)
                #expect(buckets.count == RegressionSpread.buckets.count + 1, "\(series)")
                for bucket in buckets {
                    let bound =
                        bucket.labels["le"] == "+Inf" ? Double.infinity : Double(bucket.labels["le"] ?? "") ?? .nan
                    // The answers are rounded to Float: skip a bound that one of them is within rounding of.
                    if values.contains(where: { abs($0 - bound) <= 1e-5 * bound }) { continue }
                    let expected = values.filter { $0 <= bound }.count
                    #expect(bucket.value == Double(expected), "\(series) le=\(bound): \(values)")
                }
                let sum = samples(text, "mcdropout_regression_std_sum", series).first?.value ?? .nan
                #expect(abs(sum - values.reduce(0, +)) < 1e-4 * max(1, sum), "\(series)")
            }
        }
        // A mean-only head keeps the epistemic spread only; regression models have no classification series.
        #expect(
            samples(text, "mcdropout_regression_std_count", ["model": "reg"]).map(\.labels["kind"]) == ["epistemic"])
        #expect(samples(text, "mcdropout_regression_std_count", ["model": "reg"]).first?.value == 1)
        #expect(samples(text, "mcdropout_prediction_score_count", ["model": "het"]).isEmpty)
        #expect(samples(text, "mcdropout_predictions_total", ["model": "het"]).isEmpty)
    }
}
