import Foundation
import HTTPTransport
import Logging
import MCDropout
import MCDropoutJSON

@testable import InferenceServer

/// A small random 784-16-10 model with dropout, written to a temporary file.
func writeSyntheticModel(
    name: String = "synthetic", seed: UInt64 = 1, hidden: Int = 16, directory: URL? = nil,
    labels: [String] = (0..<10).map { "class \($0)" }, dataset: String = "synthetic"
) throws -> String {
    var generator = RandomSource(seed: seed)
    let model = DropoutMLP(
        layerSizes: [784, hidden, 10], dropoutProbabilities: [0, 0.5], initialization: .he, using: &generator)
    let metadata = ModelMetadata(
        layerSizes: model.layerSizes, dropoutProbabilities: [0, 0.5], labels: labels,
        dataset: dataset, seed: seed, inputScale: 255, inputShape: [28, 28])
    let folder = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("mcd-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let url = folder.appendingPathComponent("\(name).safetensors")
    try Data(ModelFile(model: model, metadata: metadata).encoded()).write(to: url)
    return url.path
}

/// A ready service over the given model files, without sockets.
func makeService(paths: [String], configure: (inout ServerConfiguration) -> Void = { _ in }) throws -> InferenceService
{
    var configuration = ServerConfiguration()
    configuration.modelPaths = paths
    configure(&configuration)
    let service = InferenceService(
        configuration: configuration, registry: try ModelRegistry(paths: paths), logger: Logger(label: "test"))
    service.markReady()
    return service
}

/// A deterministic 784-pixel test image.
func testPixels(seed: UInt64 = 3) -> [Int] {
    var generator = RandomSource(seed: seed)
    return (0..<784).map { _ in Int(generator.next() % 256) }
}

func jsonBody(_ text: String) -> [UInt8] { Array(text.utf8) }

func pixelsJSON(_ pixels: [Int]) -> String { "[" + pixels.map(String.init).joined(separator: ",") + "]" }

extension HTTPResponse {
    var json: JSONValue? { try? JSONParser.parse(body) }
    var errorMessage: String? {
        guard case .object(let object)? = json, case .string(let message)? = object["error"] else { return nil }
        return message
    }
    func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }
}
