import Foundation
import MCDropoutJSON
import TestSupport
import Testing

@testable import MCDropout

/// The Python interpreter of the test environment: `MCDROPOUT_PYTHON` (set by scripts/test.sh), else `python3`
/// when it can import safetensors.
let interopPython: String? = {
    if let configured = ProcessInfo.processInfo.environment["MCDROPOUT_PYTHON"] { return configured }
    let probe = Process()
    probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    probe.arguments = ["python3", "-c", "import numpy, safetensors"]
    probe.standardError = FileHandle.nullDevice
    guard (try? probe.run()) != nil else { return nil }
    probe.waitUntilExit()
    return probe.terminationStatus == 0 ? "python3" : nil
}()

/// The repository root, found from this file's location.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Runs a Python script of the repository and returns its standard output.
func runPython(_ arguments: [String]) throws -> (status: Int32, output: [UInt8], error: String) {
    let child = try ChildProcess(URL(fileURLWithPath: "/usr/bin/env"), [interopPython ?? "python3"] + arguments)
    let exited = child.exits(within: .seconds(120))
    return (exited ? child.status : -1, child.standardOutput, child.standardError)
}

@Suite("Python interoperability", .enabled(if: interopPython != nil, "needs Python with numpy and safetensors"))
struct PythonInteropTests {
    /// Writes `file` and `inputs` (pixel lists) to a temporary directory, runs `check-model.py MODEL --inputs FILE`
    /// and returns its summary (it must exit 0).
    /// A 784-24-10 image model (dropout 0 / 0.5, He init from `generator`) and its metadata, recording `seed`.
    static func smallImageModel(seed: UInt64, using generator: inout RandomSource) -> (DropoutMLP, ModelMetadata) {
        let model = DropoutMLP(
            layerSizes: [784, 24, 10], dropoutProbabilities: [0, 0.5], initialization: .he, using: &generator)
        let metadata = ModelMetadata(
            layerSizes: model.layerSizes, dropoutProbabilities: [0, 0.5], labels: (0..<10).map(String.init),
            dataset: "synthetic", seed: seed, inputShape: [28, 28])
        return (model, metadata)
    }

    static func checkModel(_ file: ModelFile, inputs: [[Int]]) throws -> JSONValue {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("interop-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let modelURL = directory.appendingPathComponent("m.safetensors")
        try Data(file.encoded()).write(to: modelURL)
        let inputsURL = directory.appendingPathComponent("inputs.json")
        try Data("[\(inputs.map { "[\($0.map(String.init).joined(separator: ","))]" }.joined(separator: ","))]".utf8)
            .write(to: inputsURL)
        let result = try runPython([
            repositoryRoot.appendingPathComponent("scripts/checks/check-model.py").path, modelURL.path,
            "--inputs", inputsURL.path,
        ])
        #expect(result.status == 0, "\(result.error)")
        return try JSONParser.parse(result.output)
    }

    @Test("a file written by Swift reads in Python's safetensors with the same layout and the same outputs")
    func pythonReadsSwiftFile() throws {
        var generator = RandomSource(seed: 5)
        let (model, metadata) = Self.smallImageModel(seed: 5, using: &generator)
        let file = ModelFile(model: model, metadata: metadata)
        let inputs = (0..<3).map { _ in (0..<784).map { _ in Int(generator.next() % 256) } }
        let summary = try Self.checkModel(file, inputs: inputs)
        #expect(summary["layer_sizes"] == .array([.number(784), .number(24), .number(10)]))
        #expect(summary["dropout"] == .array([.number(0), .number(0.5)]))
        let swift = model.deterministicProbabilities(
            for: Matrix(rows: 3, columns: 784, storage: inputs.flatMap { $0.map { Float($0) / 255 } }))
        for row in 0..<3 {
            for column in 0..<10 {
                let python = summary["probabilities"]?[row]?[column]?.doubleValue ?? -1
                #expect(abs(python - Double(swift[row, column])) < 1e-5)
            }
        }
    }

    @Test("the model checker prepares inputs as the server does: the centre-of-mass move of a declared transform")
    func checkerAppliesTheTransform() throws {
        var generator = RandomSource(seed: 9)
        let (model, plain) = Self.smallImageModel(seed: 9, using: &generator)
        var metadata = plain
        metadata.inputTransform = .centerOfMass
        // Blobs of ink off the centre by various amounts (one moves by half a pixel exactly: it stays), and an empty
        // image.
        func blob(row: Int, column: Int, width: Int) -> [Int] {
            (0..<784).map { index in
                let y = index / 28
                let x = index % 28
                return (row..<(row + 3)).contains(y) && (column..<(column + width)).contains(x) ? 200 + x : 0
            }
        }
        let inputs = [
            blob(row: 2, column: 3, width: 4), blob(row: 20, column: 18, width: 6), blob(row: 13, column: 13, width: 2),
            [Int](repeating: 0, count: 784),
        ]
        let summary = try Self.checkModel(ModelFile(model: model, metadata: metadata), inputs: inputs)
        #expect(summary["input_transform"] == .string("center_of_mass"))
        let prepared = metadata.inputPreparation.prepared(ArraySlice(inputs.flatMap { $0.map(UInt8.init) }), width: 784)
        let swift = model.deterministicProbabilities(for: Matrix(rows: inputs.count, columns: 784, storage: prepared))
        let unmoved = model.deterministicProbabilities(
            for: Matrix(rows: inputs.count, columns: 784, storage: inputs.flatMap { $0.map { Float($0) / 255 } }))
        for row in inputs.indices {
            for column in 0..<10 {
                let python = summary["probabilities"]?[row]?[column]?.doubleValue ?? -1
                #expect(abs(python - Double(swift[row, column])) < 1e-5, "input \(row), class \(column)")
            }
        }
        // The move matters for the off-centre blobs: without it the answers differ.
        #expect((0..<10).contains { abs(Double(unmoved[0, $0]) - Double(swift[0, $0])) > 1e-3 })
    }

    @Test("a file Python's safetensors writes in our layout loads in Swift; a wrong shape is a typed error")
    func swiftReadsPythonFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("interop-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = """
            import json, sys, numpy as np
            from safetensors.numpy import save_file
            rng = np.random.default_rng(0)
            meta = {"format_version": 1, "architecture": {"layer_sizes": [4, 3, 2], "activation": "relu"},
                    "dropout": [0.0, 0.5], "input": {"scale": 255}, "labels": ["no", "yes"], "dataset": "py",
                    "seed": 0, "metrics": {}}
            tensors = {"layers.0.weight": rng.standard_normal((3, 4)).astype(np.float32),
                       "layers.0.bias": np.arange(3, dtype=np.float32),
                       "layers.1.weight": rng.standard_normal((2, 3)).astype(np.float32),
                       "layers.1.bias": np.zeros(2, dtype=np.float32)}
            save_file(tensors, sys.argv[1] + "/good.safetensors", metadata={"mcdropout": json.dumps(meta)})
            tensors["layers.1.weight"] = rng.standard_normal((3, 2)).astype(np.float32)
            save_file(tensors, sys.argv[1] + "/bad.safetensors", metadata={"mcdropout": json.dumps(meta)})
            """
        let result = try runPython(["-c", script, directory.path])
        #expect(result.status == 0, "\(result.error)")
        let good = try ModelFile(
            decoding: [UInt8](try Data(contentsOf: directory.appendingPathComponent("good.safetensors"))))
        #expect(good.model.layerSizes == [4, 3, 2])
        #expect(good.model.layers[0].bias == [0, 1, 2])
        #expect(good.metadata.labels == ["no", "yes"])
        #expect(throws: ModelFileError.shapeMismatch(tensor: "layers.1.weight", expected: [2, 3], found: [3, 2])) {
            try ModelFile(decoding: [UInt8](try Data(contentsOf: directory.appendingPathComponent("bad.safetensors"))))
        }
        // The model checker agrees: it passes the good file and refuses the bad one, naming the layer at fault.
        let checker = repositoryRoot.appendingPathComponent("scripts/checks/check-model.py").path
        let goodCheck = try runPython([checker, directory.appendingPathComponent("good.safetensors").path])
        #expect(goodCheck.status == 0, "\(goodCheck.error)")
        let badCheck = try runPython([checker, directory.appendingPathComponent("bad.safetensors").path])
        #expect(badCheck.status == 1)
        #expect(badCheck.error.contains("check-model:") && badCheck.error.contains("'layers.1."))
    }
}
