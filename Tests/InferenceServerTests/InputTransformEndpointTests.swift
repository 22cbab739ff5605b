import Foundation
import GRPCTransport
import MCDropout
import MCDropoutJSON
import Testing

@testable import InferenceServer

@Suite("A model's input transform as served: /predict and V2 over real HTTP, gRPC ModelInfer in process")
struct InputTransformEndpointTests {
    /// The committed MNIST network written twice into a temporary directory: `recentred.safetensors` with
    /// `input.transform` center_of_mass, `plain.safetensors` without.
    static func writeModels() throws -> (recentred: String, plain: String) {
        var file = try ModelFile(
            decoding: [UInt8](Data(contentsOf: repositoryRoot.appendingPathComponent("models/mnist.safetensors"))))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mcd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var paths: [String] = []
        for (name, transform) in [("recentred", InputTransform.centerOfMass), ("plain", nil)] {
            file.metadata.inputTransform = transform
            let url = folder.appendingPathComponent("\(name).safetensors")
            try Data(file.encoded()).write(to: url)
            paths.append(url.path)
        }
        return (paths[0], paths[1])
    }

    /// The first MNIST test digit (a 7, centred by its centre of mass as all of MNIST is).
    static func digit() throws -> [Int] {
        let body = try JSONParser.parse(
            [UInt8](Data(contentsOf: repositoryRoot.appendingPathComponent("examples/mnist-test-0000-label-7.json"))))
        return body["pixels"]?.arrayValue?.compactMap { $0.doubleValue.map(Int.init) } ?? []
    }

    /// `pixels` (28 × 28) moved `rows` down and `columns` right; the caller keeps the ink inside.
    static func moved(_ pixels: [Int], rows: Int, columns: Int) -> [Int] {
        var out = [Int](repeating: 0, count: 784)
        for y in 0..<28 {
            for x in 0..<28 where (0..<28).contains(y - rows) && (0..<28).contains(x - columns) {
                out[y * 28 + x] = pixels[(y - rows) * 28 + x - columns]
            }
        }
        return out
    }

    @Test("/predict and V2 infer answer a moved digit exactly as the centred one; the model info shows the transform")
    func movedDigit() throws {
        let (recentred, plain) = try Self.writeModels()
        let server = try startServer(paths: [recentred, plain])
        defer { server.shutdown(drainTimeout: .seconds(5)) }
        let connection = try RawHTTPConnection(port: server.port)
        let centred = try Self.digit()
        #expect(centred.count == 784 && centred.reduce(0, +) > 0)
        // The 7 spans rows 7-26 and columns 6-21: these moves keep all of its ink inside.
        let moves = [(-3, -4), (1, 2), (-6, 5)].map { Self.moved(centred, rows: $0.0, columns: $0.1) }
        for image in moves { #expect(image.reduce(0, +) == centred.reduce(0, +)) }

        func predict(_ model: String, _ pixels: [Int]) throws -> RawHTTPResponse {
            let body = #"{"model": "\#(model)", "pixels": \#(pixelsJSON(pixels)), "samples": 30, "seed": 11}"#
            return try connection.request(method: "POST", target: "/predict", body: Array(body.utf8))
        }
        func infer(_ model: String, _ pixels: [Int]) throws -> RawHTTPResponse {
            let body =
                #"{"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 784], "#
                + #""data": \#(pixelsJSON(pixels))}], "parameters": {"samples": 30, "seed": 11}}"#
            return try connection.request(method: "POST", target: "/v2/models/\(model)/infer", body: Array(body.utf8))
        }
        let reference = try predict("recentred", centred)
        #expect(reference.status == 200 && reference.json?["prediction"]?.doubleValue == 7)
        let referenceV2 = try infer("recentred", centred)
        #expect(referenceV2.status == 200)
        for image in moves {
            // The same network inputs, so the same bytes: summary, density scores, rotation probe and flag.
            #expect(try predict("recentred", image).body == reference.body)
            #expect(try infer("recentred", image).body == referenceV2.body)
        }
        // Without the transform the moved digits reach the network as they are, and the answers differ.
        let plainReference = try predict("plain", centred)
        for image in moves { #expect(try predict("plain", image).body != plainReference.body) }

        let models = try connection.request(target: "/health").json?["models"]?.arrayValue ?? []
        #expect(models.map { $0["input_transform"] } == [.string("center_of_mass"), nil])
        let metadata = try connection.request(target: "/v2/models/recentred").json
        #expect(metadata?["parameters"]?["input_transform"] == .string("center_of_mass"))
        #expect(try connection.request(target: "/v2/models/plain").json?["parameters"]?["input_transform"] == nil)
    }

    @Test("gRPC ModelInfer answers a moved digit with the centred one's bytes too (same runInference as V2 HTTP)")
    func movedDigitOverGRPC() throws {
        let (recentred, plain) = try Self.writeModels()
        let service = try makeService(paths: [recentred, plain])
        let endpoint = GRPCEndpoint(service: service) { work, _ in
            work()
            return true
        }
        let centred = try Self.digit()
        func infer(_ model: String, _ pixels: [Int]) -> [UInt8]? {
            var writer = ProtobufWriter()
            writer.writeString(1, model)
            encodeParameters([("samples", .int64(30)), ("seed", .int64(11))], field: 4, to: &writer)
            writer.writeMessage(5) { input in
                input.writeString(1, "pixels")
                input.writeString(2, "FP32")
                input.writePackedInt64(3, [1, 784])
                input.writeMessage(5) { $0.writePackedFloats(6, pixels.map(Float.init)) }
            }
            let response = grpcAnswer(endpoint, "ModelInfer", writer.bytes)
            #expect(response?.status == .ok, "\(response?.message ?? "no answer")")
            return response?.payload
        }
        let reference = try #require(infer("recentred", centred))
        let plainReference = infer("plain", centred)
        for (rows, columns) in [(-3, -4), (1, 2)] {
            let image = Self.moved(centred, rows: rows, columns: columns)
            #expect(infer("recentred", image) == reference)
            #expect(infer("plain", image) != plainReference)
        }
    }
}
