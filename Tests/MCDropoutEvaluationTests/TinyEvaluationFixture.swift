import Foundation
import MCDropout
import MCDropoutData

/// A temporary directory holding a tiny hand-built model (16-8-3, 4×4 images) and tiny IDX data sets written as real
/// files: `data/tiny` (three classes, every fifth image ambiguous between two of them) and `data/noise` (uniform noise,
/// the out-of-distribution set). Removed by ``remove()``.
struct TinyEvaluationFixture {
    let directory: URL
    var modelPath: String { directory.appendingPathComponent("tiny.safetensors").path }
    var dataDirectory: String { directory.appendingPathComponent("data/tiny").path }
    var oodDirectory: String { directory.appendingPathComponent("data/noise").path }

    init(testCount: Int = 60, trainCount: Int = 30) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("eval-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Self.writeSet(Self.classes(count: testCount), to: dataDirectory, split: "t10k")
        try Self.writeSet(Self.classes(count: trainCount), to: dataDirectory, split: "train")
        try Self.writeSet(Self.noise(count: testCount), to: oodDirectory, split: "t10k")
        try Data(ModelFile(model: Self.model, metadata: Self.metadata).encoded())
            .write(to: URL(fileURLWithPath: modelPath))
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }

    static let metadata = ModelMetadata(
        layerSizes: [16, 8, 3], dropoutProbabilities: [0, 0.2], labels: ["a", "b", "c"], dataset: "tiny", seed: 1,
        inputScale: 255, inputShape: [4, 4])

    /// Hidden unit `h < 3` sums the five pixels of region `h`; output `c` reads hidden unit `c`.
    static let model: DropoutMLP = {
        var first = Matrix(rows: 8, columns: 16)
        for unit in 0..<3 {
            for pixel in (unit * 5)..<(unit * 5 + 5) { first[unit, pixel] = 1 }
        }
        var second = Matrix(rows: 3, columns: 8)
        for unit in 0..<3 { second[unit, unit] = 2 }
        return DropoutMLP(
            layers: [
                Dense(weight: first, bias: Array(repeating: 0, count: 8)), Dense(weight: second, bias: [0, 0, 0]),
            ],
            dropoutProbabilities: [0, 0.2])
    }()

    /// Image `i` has label `i % 3` and its region bright; every fifth image also lights the next class's region.
    static func classes(count: Int) -> LabeledImages {
        var pixels: [UInt8] = []
        var labels: [UInt8] = []
        for index in 0..<count {
            let label = index % 3
            var image = [UInt8](repeating: 10, count: 16)
            for pixel in (label * 5)..<(label * 5 + 5) { image[pixel] = 200 }
            if index % 5 == 0 {
                let other = (label + 1) % 3
                for pixel in (other * 5)..<(other * 5 + 5) { image[pixel] = 200 }
            }
            pixels += image
            labels.append(UInt8(label))
        }
        return LabeledImages(pixels: pixels, labels: labels, pixelCount: 16)
    }

    /// Uniform noise from a fixed generator.
    static func noise(count: Int) -> LabeledImages {
        var generator = RandomSource(seed: 7)
        let pixels = (0..<(count * 16)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        return LabeledImages(pixels: pixels, labels: (0..<count).map { UInt8($0 % 3) }, pixelCount: 16)
    }

    static func writeSet(_ set: LabeledImages, to directory: String, split: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let images = IDXArray(dimensions: [set.count, 4, 4], bytes: set.pixels)
        let labels = IDXArray(dimensions: [set.count], bytes: set.labels)
        try Data(images.serialized()).write(to: URL(fileURLWithPath: "\(directory)/\(split)-images-idx3-ubyte"))
        try Data(labels.serialized()).write(to: URL(fileURLWithPath: "\(directory)/\(split)-labels-idx1-ubyte"))
    }
}
