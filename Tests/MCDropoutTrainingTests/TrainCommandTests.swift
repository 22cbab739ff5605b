import Foundation
import MCDropout
import MCDropoutData
import TestSupport
import Testing

/// `mcdropout-train` run as the built executable on tiny IDX files: outputs are checked before the first epoch.
@Suite("mcdropout-train checks its outputs and data before training")
struct TrainCommandTests {
    static let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("mcdropout-train")

    /// A temporary directory with 4×4 train and test files whose labels start as `leading` (then cycle 0…9).
    static func makeData(leading: [UInt8] = []) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("train-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (split, count) in [("train", 60), ("t10k", 30)] {
            let labels = (0..<count).map { $0 < leading.count ? leading[$0] : UInt8($0 % 10) }
            let pixels = labels.flatMap { label in (0..<16).map { UInt8(($0 == Int(label) ? 200 : 10)) } }
            try Data(IDXArray(dimensions: [count, 4, 4], bytes: pixels).serialized())
                .write(to: directory.appendingPathComponent("\(split)-images-idx3-ubyte"))
            try Data(IDXArray(dimensions: [count], bytes: labels).serialized())
                .write(to: directory.appendingPathComponent("\(split)-labels-idx1-ubyte"))
        }
        return directory
    }

    func train(_ data: URL, _ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
        let child = try ChildProcess(
            Self.executable,
            ["--data-dir", data.path, "--hidden", "8", "--epochs", "1", "--validation-count", "0", "--mc-samples", "2"]
                + arguments)
        #expect(child.exits(within: .seconds(60)))
        return (child.status, String(decoding: child.standardOutput, as: UTF8.self), child.standardError)
    }

    @Test("--output is required, and a tiny run writes the model and its history")
    func writes() throws {
        let data = try Self.makeData()
        defer { try? FileManager.default.removeItem(at: data) }
        let missing = try train(data, [])
        #expect(missing.status != 0)
        #expect(missing.error.contains("--output"))
        let output = data.appendingPathComponent("out/tiny.safetensors").path
        let result = try train(data, ["--output", output])
        #expect(result.status == 0, "\(result.error)")
        let file = try ModelFile(decoding: [UInt8](Data(contentsOf: URL(fileURLWithPath: output))))
        #expect(file.model.layerSizes == [16, 8, 10])
        #expect(FileManager.default.fileExists(atPath: data.appendingPathComponent("out/tiny.history.json").path))
    }

    @Test("--ensemble 2 writes both members in one file: member k is the network a run with seed SEED + k trains")
    func ensemble() throws {
        let data = try Self.makeData()
        defer { try? FileManager.default.removeItem(at: data) }
        func model(_ name: String, _ arguments: [String]) throws -> ModelFile {
            let path = data.appendingPathComponent("\(name).safetensors").path
            let result = try train(data, ["--output", path] + arguments)
            #expect(result.status == 0, "\(result.error)")
            return try ModelFile(decoding: [UInt8](Data(contentsOf: URL(fileURLWithPath: path))))
        }
        let pair = try model("pair", ["--ensemble", "2", "--seed", "5"])
        #expect(pair.members.count == 2)
        #expect(pair.members[0] == (try model("five", ["--seed", "5"])).model)
        #expect(pair.members[1] == (try model("six", ["--seed", "6"])).model)
        #expect(pair.metadata.seed == 5)
    }

    @Test("an existing model is replaced only with --force")
    func refusesToReplace() throws {
        let data = try Self.makeData()
        defer { try? FileManager.default.removeItem(at: data) }
        let output = data.appendingPathComponent("model.safetensors").path
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: output))
        let refused = try train(data, ["--output", output])
        #expect(refused.status != 0)
        #expect(refused.error.contains("\(output) exists; pass --force"))
        #expect(!refused.output.contains("epoch"), "refused before training")
        #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == Data("keep me".utf8))
        let forced = try train(data, ["--output", output, "--force"])
        #expect(forced.status == 0, "\(forced.error)")
        #expect(
            try ModelFile(decoding: [UInt8](Data(contentsOf: URL(fileURLWithPath: output)))).model.layerSizes
                == [16, 8, 10])
    }

    @Test("a directory or an unwritable folder as --output fails in one line before the first epoch")
    func badOutputs() throws {
        let data = try Self.makeData()
        defer { try? FileManager.default.removeItem(at: data) }
        let directory = try train(data, ["--output", data.path])
        #expect(directory.status != 0)
        #expect(directory.error.contains("\(data.path): is a directory"))
        #expect(!directory.output.contains("training"))
        #expect(!directory.error.contains("NSCocoaErrorDomain"))
        let locked = data.appendingPathComponent("locked")
        try FileManager.default.createDirectory(at: locked, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o500], ofItemAtPath: locked.path)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: locked.path) }
        // root may write anywhere; the check only means something for other users.
        guard !FileManager.default.isWritableFile(atPath: locked.path) else { return }
        let unwritable = try train(data, ["--output", locked.appendingPathComponent("m.safetensors").path])
        #expect(unwritable.status != 0)
        #expect(unwritable.error.contains("\(locked.path): permission denied"))
    }

    @Test("Fashion-MNIST training on digit files is refused; unknown data passes")
    func otherDataset() throws {
        // The first 20 labels of MNIST's published training and test files.
        let digits: [UInt8] = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4, 3, 5, 3, 6, 1, 7, 2, 8, 6, 9]
        let data = try Self.makeData(leading: digits)
        defer { try? FileManager.default.removeItem(at: data) }
        let output = data.appendingPathComponent("m.safetensors").path
        let refused = try train(data, ["--dataset", "fashion-mnist", "--output", output])
        #expect(refused.status != 0)
        #expect(refused.error.contains("holds mnist, not fashion-mnist"))
        #expect(!FileManager.default.fileExists(atPath: output))
        let accepted = try train(data, ["--dataset", "mnist", "--output", output])
        #expect(accepted.status == 0, "\(accepted.error)")
    }

    @Test(
        "negative numbers are read as values and refused by name, before any data is read",
        arguments: [
            (["--dropout", "-0.1"], "--dropout values must be in [0, 1), got -0.1"),
            (["--dropout", "0,0.5,0.5"], "--dropout needs one value, or one per dense layer (2)"),
            (["--weight-decay", "-1"], "--weight-decay and --max-norm must be ≥ 0"),
            (["--learning-rate", "-0.5"], "--learning-rate must be > 0"),
            (["--threads", "-2"], "--threads must be ≥ 1"),
        ])
    func negativeValues(arguments: [String], message: String) throws {
        // No data directory at all: the numbers must be refused first.
        let nowhere = FileManager.default.temporaryDirectory.appendingPathComponent("absent-\(UUID().uuidString)")
        let result = try train(nowhere, arguments + ["--hidden", "8", "--output", nowhere.path + "/m.safetensors"])
        #expect(result.status != 0)
        #expect(result.error.contains(message), "\(result.error)")
        #expect(!result.error.contains("Missing value"))
    }
}
