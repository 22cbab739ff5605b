import Foundation
import MCDropoutJSON
import TestSupport
import Testing

@testable import MCDropout

/// Whether the interop Python (``interopPython``) can import torch.
let interopPythonHasTorch: Bool = {
    guard interopPython != nil, let result = try? runPython(["-c", "import torch"]) else { return false }
    return result.status == 0
}()

/// PyTorch's own MC dropout on a model that scripts/python/torch_mcdropout.py exported, against the Swift engine.
@Suite(
    "PyTorch export and import (any dropout MLP)",
    .enabled(if: interopPythonHasTorch, "needs MCDROPOUT_PYTHON with torch (scripts/python/requirements-torch.txt)"))
struct TorchInteropTests {
    static let samples = 4000

    @Test(
        "exported torch models agree with PyTorch's MC dropout within the MC error, and exactly with dropout 0",
        arguments: ["gelu-classification", "tanh-regression", "silu-heteroscedastic"])
    func agreesWithPyTorch(spec: String) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("torch-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try runPython([
            repositoryRoot.appendingPathComponent("scripts/python/torch_mcdropout.py").path, "selftest", spec,
            directory.path, "--samples", String(Self.samples),
        ])
        #expect(result.status == 0, "\(result.error)")
        let torch = try JSONParser.parse(result.output)
        #expect(torch["roundtrip"] == .bool(true), "importing the exported file must give back the same tensors")

        let file = try ModelFile(
            decoding: Array(try Data(contentsOf: directory.appendingPathComponent("model.safetensors"))))
        let zero = try ModelFile(
            decoding: Array(try Data(contentsOf: directory.appendingPathComponent("model-p0.safetensors"))))
        let raw = try JSONParser.parse(Array(try Data(contentsOf: directory.appendingPathComponent("inputs.json"))))
        let rows = (raw.arrayValue ?? []).map { ($0.arrayValue ?? []).compactMap(\.doubleValue).map(Float.init) }
        #expect(rows.count == 4 && file.metadata.inputMean != nil)
        let expectedHead: OutputHead =
            spec.hasSuffix("classification")
            ? .classification
            : spec.hasSuffix("regression")
                ? .regression
                : .meanLogVariance
        #expect(file.metadata.head == expectedHead)
        let predictor = MonteCarloPredictor(model: file.model, head: file.metadata.head)
        let exact = MonteCarloPredictor(model: zero.model, head: zero.metadata.head)
        let n = Double(Self.samples)
        for (row, values) in rows.enumerated() {
            var input: [Float] = []
            file.metadata.appendNetworkInputs(values, to: &input)
            let ours = predictor.predict(input, sampleCount: Self.samples, seed: UInt64(row + 1))
            let deterministic = exact.predict(input, sampleCount: 1, seed: 0)
            for column in 0..<file.model.outputSize {
                let theirMean = try #require(torch["mean"]?[row]?[column]?.doubleValue)
                let theirVariance = try #require(torch["variance"]?[row]?[column]?.doubleValue)
                let fourth = try #require(torch["fourth_moment"]?[row]?[column]?.doubleValue)
                let mean = Double(ours.meanProbabilities[column])
                let variance = Double(ours.variance[column])
                // Two independent N-pass estimates: their difference has standard error √(s₁²/N + s₂²/N).
                let meanError = ((theirVariance + variance) / n).squareRoot()
                #expect(abs(mean - theirMean) <= 5 * meanError + 1e-6, "\(spec) input \(row) output \(column) mean")
                // The variance estimate's standard error: √((μ₄ − σ⁴)/N), twice over.
                let varianceError = (2 * max(fourth - theirVariance * theirVariance, 0) / n).squareRoot()
                #expect(
                    abs(variance - theirVariance) <= 5 * varianceError + 1e-6,
                    "\(spec) input \(row) output \(column) variance \(variance) vs \(theirVariance)")
                #expect(theirVariance > 1e-8, "dropout must make PyTorch's passes differ")
                let off = try #require(torch["deterministic"]?[row]?[column]?.doubleValue)
                let ourOff = Double(deterministic.meanProbabilities[column])
                #expect(abs(ourOff - off) <= 1e-5 * max(1, abs(off)), "\(spec) dropout 0: \(ourOff) vs \(off)")
                #expect(deterministic.variance[column] == 0)
            }
        }
    }

    @Test("unsupported torch models are refused with a reason")
    func refusals() throws {
        let script = """
            import sys; sys.path.insert(0, sys.argv[1])
            import torch_mcdropout as tm
            from torch import nn
            cases = [
                nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), nn.Softmax(dim=-1)),
                nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 2)),
                nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)),
                nn.Sequential(nn.Conv1d(3, 4, 1)),
            ]
            for model in cases:
                try:
                    tm.describe(model)
                    print("accepted")
                except ValueError as error:
                    print("refused:", error)
            """
        let result = try runPython([
            "-c", script, repositoryRoot.appendingPathComponent("scripts/python").path,
        ])
        #expect(result.status == 0, "\(result.error)")
        let lines = String(decoding: result.output, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 4)
        #expect(lines.allSatisfy { $0.hasPrefix("refused:") }, "\(lines)")
    }
}
