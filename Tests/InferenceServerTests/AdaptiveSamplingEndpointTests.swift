import Foundation
import HTTPTransport
import MCDropout
import MCDropoutJSON
import Testing

@testable import InferenceServer

@Suite("\"samples\": \"auto\" on /predict and KServe V2")
struct AdaptiveSamplingEndpointTests {
    let service: InferenceService

    init() throws {
        service = try makeService(paths: [try writeSyntheticModel()])
    }

    func post(_ path: String, _ body: String) -> HTTPResponse {
        service.handle(HTTPRequest(method: "POST", path: path, body: jsonBody(body)))
    }

    @Test("reports the passes used: a multiple of the block after the minimum, within the bounds")
    func reportsPasses() throws {
        let response = post("/predict", #"{"pixels": \#(pixelsJSON(testPixels())), "samples": "auto", "seed": 3}"#)
        #expect(response.status == 200, "\(response.errorMessage ?? "")")
        let samples = try #require(response.json?["samples"]?.doubleValue).rounded()
        #expect(samples >= 16 && samples <= 200 && Int(samples - 16) % 8 == 0)
        #expect(
            abs((response.json?["probabilities"]?.arrayValue?.compactMap(\.doubleValue).reduce(0, +) ?? 0) - 1) < 1e-5)
        // A loose tolerance stops at the minimum; min = max forces the count.
        let loose = post(
            "/predict",
            #"{"pixels": \#(pixelsJSON(testPixels())), "samples": "auto", "tolerance": 0.9, "min_samples": 24}"#)
        #expect(loose.json?["samples"] == .number(24))
        let forced = post(
            "/predict",
            #"{"pixels": \#(pixelsJSON(testPixels())), "samples": "auto", "min_samples": 40, "max_samples": 40, "tolerance": 1e-9}"#
        )
        #expect(forced.json?["samples"] == .number(40))
        // A tolerance no run can meet stops at the maximum, even when it is not a whole number of blocks.
        let capped = post(
            "/predict",
            #"{"pixels": \#(pixelsJSON(testPixels())), "samples": "auto", "max_samples": 50, "tolerance": 1e-9}"#)
        #expect(capped.json?["samples"] == .number(50))
        // The same seed gives the same bytes.
        let again = post("/predict", #"{"pixels": \#(pixelsJSON(testPixels())), "samples": "auto", "seed": 3}"#)
        #expect(again.body == response.body)
    }

    /// The largest standard error `√(s²/n)` of a mean probability, from a response's population variances.
    func maximumStandardError(_ response: HTTPResponse) throws -> Double {
        let count = try #require(response.json?["samples"]?.doubleValue)
        let variances = (response.json?["variance"]?.arrayValue ?? []).compactMap(\.doubleValue)
        #expect(variances.count == 10)
        return variances.map { ($0 / (count - 1)).squareRoot() }.max() ?? .infinity
    }

    @Test("stops at the first block whose standard error is below the tolerance", arguments: [0.03, 0.01, 0.004])
    func honoursTolerance(tolerance: Double) throws {
        let pixels = pixelsJSON(testPixels(seed: 7))
        var passesUsed: [Int] = []
        for seed in 1...4 {
            let members = #""samples": "auto", "tolerance": \#(tolerance), "max_samples": 400, "seed": \#(seed)"#
            let response = post("/predict", #"{"pixels": \#(pixels), \#(members)}"#)
            #expect(response.status == 200, "\(response.errorMessage ?? "")")
            let passes = Int(try #require(response.json?["samples"]?.doubleValue))
            passesUsed.append(passes)
            #expect(passes >= 16 && passes <= 400 && (passes - 16) % 16 == 0)
            // Stopped early only because the rule was met.
            if passes < 400 { #expect(try maximumStandardError(response) < tolerance * 1.0001) }
            // One block fewer was not enough: the first passes of a seed are the same whatever N is, so a fixed
            // request for those passes reproduces the state the rule saw (up to float rounding).
            if passes > 16 {
                let earlier = post("/predict", #"{"pixels": \#(pixels), "samples": \#(passes - 16), "seed": \#(seed)}"#)
                #expect(try maximumStandardError(earlier) >= tolerance * 0.9999)
            }
        }
        if tolerance < 0.005 {
            #expect(passesUsed.contains { $0 > 16 }, "a tight tolerance needs more than the minimum")
        }
    }

    /// The settled-decision test of `"auto"` (``AdaptiveSampling/decisive(uncertainty:)``) on a response's mean
    /// probabilities and population variances, with `threshold` as the max-probability verdict to settle.
    func isSettled(_ response: HTTPResponse, threshold: Double) throws -> (settled: Bool, precise: Bool) {
        let n = try #require(response.json?["samples"]?.doubleValue)
        let means = (response.json?["probabilities"]?.arrayValue ?? []).compactMap(\.doubleValue)
        let variances = (response.json?["variance"]?.arrayValue ?? []).compactMap(\.doubleValue)
        #expect(means.count == 10 && variances.count == 10)
        let sums = means.map { $0 * n }
        let squares = zip(means, variances).map { n * ($1 + $0 * $0) }
        let decision = SettledDecision(
            confidence: 3, uncertainty: UncertaintyThreshold(score: .maxProbability, value: threshold), precision: 0.02)
        return sums.withUnsafeBufferPointer { sums in
            squares.withUnsafeBufferPointer { squares in
                (
                    decision.isSettled(sums: sums, squares: squares, count: Int(n), tolerance: 0.01),
                    AdaptiveSampling.maximumStandardError(sums: sums, squares: squares, count: Int(n)) < 0.01
                )
            }
        }
    }

    @Test("without a tolerance, \"auto\" stops at the first block of 8 whose decision is settled, at most 200 passes")
    func settlesDecision() throws {
        var stoppedByDecision = 0
        var capped = 0
        for (input, seed) in [(3, 1), (7, 2), (11, 3), (13, 4), (17, 5), (19, 6)] {
            let pixels = pixelsJSON(testPixels(seed: UInt64(input)))
            let rule = #""uncertainty_score": "max_probability", "uncertainty_threshold": 0.5"#
            let response = post("/predict", #"{"pixels": \#(pixels), "samples": "auto", "seed": \#(seed), \#(rule)}"#)
            #expect(response.status == 200, "\(response.errorMessage ?? "")")
            let passes = Int(try #require(response.json?["samples"]?.doubleValue))
            #expect(passes >= 16 && passes <= 200 && (passes - 16) % 8 == 0)
            if passes == 200 {
                capped += 1
                continue
            }
            // Stopped early only because the decision was settled (or every probability precise), …
            let state = try isSettled(response, threshold: 0.5)
            #expect(state.settled || state.precise, "stopped at \(passes) passes unsettled")
            if state.settled && !state.precise { stoppedByDecision += 1 }
            // … and one block fewer was not enough (the first passes of a seed are the same whatever N is).
            if passes > 16 {
                let earlier = post(
                    "/predict", #"{"pixels": \#(pixels), "samples": \#(passes - 8), "seed": \#(seed), \#(rule)}"#)
                let before = try isSettled(earlier, threshold: 0.5)
                #expect(!before.settled && !before.precise, "\(passes - 8) passes were already enough")
            }
        }
        // The precision rule alone (what a request naming a tolerance gets) would have run on for these.
        #expect(stoppedByDecision > 0, "no input stopped on the decision (capped: \(capped))")
    }

    @Test("a batch reports \"auto\" at the top and each input's passes, equal to single requests")
    func batch() throws {
        let a = testPixels(seed: 1)
        let b = testPixels(seed: 2)
        let batch = post(
            "/predict", #"{"instances": [\#(pixelsJSON(a)), \#(pixelsJSON(b))], "samples": "auto", "seed": 5}"#)
        #expect(batch.json?["samples"] == .string("auto"))
        let predictions = batch.json?["predictions"]?.arrayValue ?? []
        #expect(predictions.count == 2)
        for (index, pixels) in [a, b].enumerated() {
            let single = post("/predict", #"{"pixels": \#(pixelsJSON(pixels)), "samples": "auto", "seed": 5}"#)
            #expect(single.json?["samples"] == predictions[index]["samples"])
            #expect(single.json?["probabilities"] == predictions[index]["probabilities"])
        }
    }

    @Test(
        "bad adaptive settings are 400s with a message",
        arguments: [
            #""tolerance": 0.01"#, #""samples": 100, "min_samples": 10"#, #""samples": "Auto""#,
            #""samples": "auto", "min_samples": 1"#, #""samples": "auto", "min_samples": 50, "max_samples": 20"#,
            #""samples": "auto", "tolerance": 0"#, #""samples": "auto", "tolerance": "x""#,
            #""samples": "auto", "max_samples": 20000"#,
        ])
    func badSettings(members: String) throws {
        let response = post("/predict", #"{"pixels": \#(pixelsJSON(testPixels())), \#(members)}"#)
        #expect(response.status == 400)
        #expect(response.header("Content-Type") == "application/json")
        let message = try #require(response.errorMessage)
        #expect(["samples", "min_samples", "max_samples", "tolerance"].contains { message.contains($0) }, "\(message)")
    }

    @Test("KServe V2 accepts parameters.samples = \"auto\" and reports the passes used")
    func kserve() throws {
        let body = #"""
            {"parameters": {"samples": "auto", "tolerance": 0.9, "min_samples": 32, "seed": 1},
             "inputs": [{"name": "pixels", "shape": [1, 784], "datatype": "UINT8", "data": \#(pixelsJSON(testPixels()))}]}
            """#
        let response = post("/v2/models/synthetic/infer", body)
        #expect(response.status == 200, "\(response.errorMessage ?? "")")
        #expect(response.json?["parameters"]?["samples"] == .number(32))
        let bad = post("/v2/models/synthetic/infer", body.replacingOccurrences(of: "\"auto\"", with: "\"many\""))
        #expect(bad.status == 400 && bad.errorMessage?.contains("parameters.samples") == true)
    }
}
