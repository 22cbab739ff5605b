import Foundation
import HTTPTransport
import Logging
import MCDropout
import MCDropoutJSON
import Testing

@testable import InferenceServer

@Suite("Routing and handlers without sockets")
struct RouterTests {
    let path: String
    let service: InferenceService

    init() throws {
        path = try writeSyntheticModel()
        service = try makeService(paths: [path])
    }

    func post(_ path: String, _ body: String, headers: [(name: String, value: String)] = []) -> HTTPResponse {
        service.handle(HTTPRequest(method: "POST", path: path, headers: headers, body: jsonBody(body)))
    }

    @Test("predict returns the documented fields with consistent statistics")
    func predict() throws {
        let response = post("/predict", #"{"pixels": \#(pixelsJSON(testPixels())), "samples": 50, "seed": 7}"#)
        #expect(response.status == 200)
        guard case .object(let object)? = response.json else {
            Issue.record("not JSON")
            return
        }
        #expect(object["model"] == .string("synthetic"))
        #expect(object["samples"] == .number(50))
        #expect(object["seed"] == .number(7))
        let probabilities = object["probabilities"]?.arrayValue?.compactMap(\.doubleValue) ?? []
        #expect(probabilities.count == 10)
        #expect(abs(probabilities.reduce(0, +) - 1) < 1e-5)
        let entropy = object["predictive_entropy"]?.doubleValue ?? -1
        let information = object["mutual_information"]?.doubleValue ?? -1
        let expected = object["expected_entropy"]?.doubleValue ?? -1
        #expect(information >= 0 && information <= entropy + 1e-6 && entropy <= log(10.0) + 1e-6)
        #expect(abs(entropy - expected - information) < 1e-5)
        let prediction = object["prediction"]?.doubleValue.map(Int.init) ?? -1
        #expect(prediction == probabilities.indices.max { probabilities[$0] < probabilities[$1] })
        #expect(object["label"] == .string("class \(prediction)"))
        #expect(object["variance"]?.arrayValue?.count == 10)
    }

    @Test("same seed → identical bytes; another seed → another variance; unseeded requests report their seed")
    func seeds() throws {
        let body = #"{"pixels": \#(pixelsJSON(testPixels())), "seed": 11}"#
        let first = post("/predict", body)
        #expect(first.body == post("/predict", body).body)
        let other = post("/predict", body.replacingOccurrences(of: "11}", with: "12}"))
        #expect(first.json?["variance"] != other.json?["variance"])
        let unseeded = post("/predict", #"{"pixels": \#(pixelsJSON(testPixels()))}"#)
        let seed = unseeded.json?["seed"]?.doubleValue ?? -1
        #expect(seed >= 0 && seed < 0x1p53)
        let replay = post("/predict", #"{"pixels": \#(pixelsJSON(testPixels())), "seed": \#(UInt64(seed))}"#)
        #expect(replay.body == unseeded.body)
    }

    @Test("a batch gives the same results as single requests; 28×28 rows equal the flat form")
    func batch() throws {
        let a = testPixels(seed: 1)
        let b = testPixels(seed: 2)
        let batch = post(
            "/predict", #"{"instances": [{"pixels": \#(pixelsJSON(a))}, \#(pixelsJSON(b))], "samples": 20, "seed": 5}"#)
        #expect(batch.status == 200)
        let predictions = batch.json?["predictions"]?.arrayValue ?? []
        #expect(predictions.count == 2)
        for (index, pixels) in [a, b].enumerated() {
            let single = post("/predict", #"{"pixels": \#(pixelsJSON(pixels)), "samples": 20, "seed": 5}"#)
            #expect(single.json?["probabilities"] == predictions[index]["probabilities"])
            #expect(single.json?["variance"] == predictions[index]["variance"])
        }
        let rows = stride(from: 0, to: 784, by: 28).map { pixelsJSON(Array(a[$0..<($0 + 28)])) }.joined(separator: ",")
        let nested = post("/predict", #"{"pixels": [\#(rows)], "samples": 20, "seed": 5}"#)
        #expect(nested.json?["probabilities"] == predictions[0]["probabilities"])
    }

    @Test(
        "bad input gets the right 4xx and a JSON error",
        arguments: [
            ("{", 400), ("", 400), ("[1,2]", 400), (#"{"pixels": [1,2,3]}"#, 400), (#"{"pixels": "abc"}"#, 400),
            (#"{"pixels": [256\#(String(repeating: ",0", count: 783))]}"#, 400),
            (#"{"pixels": [-1\#(String(repeating: ",0", count: 783))]}"#, 400),
            (#"{"pixels": [null\#(String(repeating: ",0", count: 783))]}"#, 400),
            (#"{"pixels": [0\#(String(repeating: ",0", count: 784))]}"#, 400),
            (#"{"pixels": [0\#(String(repeating: ",0", count: 783))], "samples": 0}"#, 400),
            (#"{"pixels": [0\#(String(repeating: ",0", count: 783))], "samples": 1.5}"#, 400),
            (#"{"pixels": [0\#(String(repeating: ",0", count: 783))], "samples": "100"}"#, 400),
            (#"{"pixels": [0\#(String(repeating: ",0", count: 783))], "samples": 1e12}"#, 400),
            (#"{"pixels": [0\#(String(repeating: ",0", count: 783))], "seed": -1}"#, 400),
            (#"{"pixels": [0\#(String(repeating: ",0", count: 783))], "model": "nope"}"#, 404),
            (#"{"pixels": [0\#(String(repeating: ",0", count: 783))], "sample": 3}"#, 400),
            (#"{"instances": []}"#, 400),
            (#"{"pixels": [NaN\#(String(repeating: ",0", count: 783))]}"#, 400),
        ])
    func badInput(body: String, status: Int) {
        let response = post("/predict", body)
        #expect(response.status == status, "\(body.prefix(60)) → \(response.status) \(response.errorMessage ?? "")")
        #expect(response.errorMessage != nil)
        #expect(response.header("Content-Type") == "application/json")
    }

    @Test("unknown routes are 404, wrong methods 405 with Allow")
    func routes() {
        let missing = service.handle(HTTPRequest(method: "GET", path: "/nope/../etc"))
        #expect(missing.status == 404 && missing.errorMessage != nil)
        let wrong = service.handle(HTTPRequest(method: "GET", path: "/predict"))
        #expect(wrong.status == 405 && wrong.header("Allow") == "POST")
        let put = service.handle(HTTPRequest(method: "PUT", path: "/health"))
        #expect(put.status == 405 && put.header("Allow") == "GET, HEAD")
        let nul = service.handle(HTTPRequest(method: "GET", path: "/v2/models/synthetic%00"))
        #expect(nul.status == 404)
        let badEscape = service.handle(HTTPRequest(method: "GET", path: "/v2/models/%zz"))
        #expect(badEscape.status == 400)
    }

    @Test("health and readiness follow the lifecycle")
    func lifecycle() throws {
        let starting = InferenceService(
            configuration: ServerConfiguration(), registry: try ModelRegistry(paths: [path]), logger: .init(label: "t"))
        #expect(starting.handle(HTTPRequest(method: "GET", path: "/health")).status == 503)
        let early = starting.handle(HTTPRequest(method: "POST", path: "/predict", body: jsonBody("{}")))
        #expect(early.status == 503 && early.header("Retry-After") != nil)
        starting.markReady()
        let ok = starting.handle(HTTPRequest(method: "GET", path: "/health"))
        #expect(ok.status == 200 && ok.json?["status"] == .string("ok"))
        #expect(ok.json?["models"]?[0]?["name"] == .string("synthetic"))
        starting.markDraining()
        #expect(starting.handle(HTTPRequest(method: "GET", path: "/health")).status == 503)
        #expect(starting.handle(HTTPRequest(method: "GET", path: "/v2/health/ready")).status == 503)
        #expect(starting.handle(HTTPRequest(method: "GET", path: "/v2/health/live")).status == 200)
        // Draining still serves requests arriving on open connections: the daemon has stopped accepting new ones.
        let body = jsonBody(#"{"pixels": \#(pixelsJSON(testPixels()))}"#)
        let late = starting.handle(HTTPRequest(method: "POST", path: "/predict", body: body))
        #expect(late.status == 200)
    }

    @Test("metrics count requests by route and status, and MC passes")
    func metrics() {
        _ = post("/predict", #"{"pixels": \#(pixelsJSON(testPixels())), "samples": 30, "seed": 1}"#)
        _ = post("/predict", "{")
        let text = String(decoding: service.handle(HTTPRequest(method: "GET", path: "/metrics")).body, as: UTF8.self)
        #expect(text.contains(#"mcdropout_requests_total{route="/predict",status="200"} 1"#))
        #expect(text.contains(#"mcdropout_requests_total{route="/predict",status="400"} 1"#))
        #expect(text.contains("mcdropout_mc_passes_total 30"))
        #expect(text.contains("mcdropout_models_loaded 1"))
        #expect(text.contains(#"mcdropout_request_duration_seconds_count{route="/predict"} 2"#))
    }
}
