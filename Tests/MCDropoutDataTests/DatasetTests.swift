import Foundation
import Testing

@testable import MCDropoutData

@Suite("IDX data sets")
struct DatasetTests {
    let images = IDXArray(dimensions: [2, 2, 3], bytes: Array(0..<12))
    let labels = IDXArray(dimensions: [2], bytes: [7, 1])

    @Test("round trip of good bytes")
    func roundTrip() throws {
        let parsed = try IDXArray(parsing: images.serialized())
        #expect(parsed == images)
        let set = try LabeledImages(images: parsed, labels: try IDXArray(parsing: labels.serialized()))
        #expect(set.count == 2 && set.pixelCount == 6 && set.labels == [7, 1])
    }

    @Test("corrupt bytes give typed errors")
    func corrupt() {
        var bytes = images.serialized()
        bytes[0] = 0x1F
        #expect(throws: DatasetError.badMagic(file: "x", found: [0x1F, 0, 8, 3])) {
            try IDXArray(parsing: bytes, file: "x")
        }
        bytes = images.serialized()
        bytes[2] = 0x0D
        #expect(throws: DatasetError.unsupportedElementType(file: "x", type: 0x0D)) {
            try IDXArray(parsing: bytes, file: "x")
        }
        bytes = images.serialized()
        #expect(throws: DatasetError.truncated(file: "x", expectedBytes: 28, foundBytes: 27)) {
            try IDXArray(parsing: Array(bytes.dropLast()), file: "x")
        }
        #expect(throws: DatasetError.trailingBytes(file: "x", count: 1)) {
            try IDXArray(parsing: bytes + [0], file: "x")
        }
        #expect(throws: DatasetError.truncated(file: "x", expectedBytes: 16, foundBytes: 6)) {
            try IDXArray(parsing: Array(bytes.prefix(6)), file: "x")
        }
        #expect(throws: DatasetError.countMismatch(images: 2, labels: 3)) {
            try LabeledImages(images: images, labels: IDXArray(dimensions: [3], bytes: [1, 2, 3]))
        }
        #expect(throws: DatasetError.labelOutOfRange(index: 1, label: 12, classCount: 10)) {
            try LabeledImages(images: images, labels: IDXArray(dimensions: [2], bytes: [1, 12]))
        }
    }

    @Test("gzip files are inflated, corrupt gzip is rejected, missing files are named")
    func gzipFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("idx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data(images.serialized()).write(to: directory.appendingPathComponent("t10k-images-idx3-ubyte"))
        try Data(labels.serialized()).write(to: directory.appendingPathComponent("t10k-labels-idx1-ubyte"))
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        gzip.arguments = ["gzip", directory.appendingPathComponent("t10k-images-idx3-ubyte").path]
        try gzip.run()
        gzip.waitUntilExit()
        #expect(gzip.terminationStatus == 0)
        let loaded = try DatasetLoader.load(directory: directory.path, split: .test)
        #expect(loaded.pixels == images.bytes && loaded.labels == labels.bytes)

        let gz = try Data(contentsOf: directory.appendingPathComponent("t10k-images-idx3-ubyte.gz"))
        try gz.prefix(gz.count - 12).write(to: directory.appendingPathComponent("t10k-images-idx3-ubyte.gz"))
        #expect(throws: DatasetError.self) { try DatasetLoader.load(directory: directory.path, split: .test) }
        #expect(throws: DatasetError.self) { try DatasetLoader.load(directory: directory.path, split: .train) }
    }
}
