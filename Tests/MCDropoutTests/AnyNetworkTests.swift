import Foundation
import MCDropoutJSON
import Testing

@testable import MCDropout

/// The activations in `Double`, written from their textbook definitions (not from the engine's code).
func referenceActivation(_ activation: HiddenActivation, _ x: Double) -> Double {
    switch activation {
    case .relu: return max(x, 0)
    case .leakyReLU(let slope): return x > 0 ? x : Double(slope) * x
    case .gelu: return x * 0.5 * (1 + erf(x / 2.0.squareRoot()))
    case .geluTanh: return 0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
    case .tanh: return Foundation.tanh(x)
    case .sigmoid: return 1 / (1 + Foundation.exp(-x))
    case .silu: return x / (1 + Foundation.exp(-x))
    }
}

/// Reference implementation: N separate forward passes in Double, each unit's mask taken from the keep decision of
/// ``MaskStream/isKept(pass:layer:unit:dropout:)`` one unit at a time; each row the pass's outputs after the head's
/// transform (softmax, identity, or `exp` of the log variances).
func naivePassOutputs(
    model: DropoutMLP, head: OutputHead, input: [Float], sampleCount: Int, seed: UInt64
) -> Matrix {
    let stream = MaskStream(seed: seed)
    let first = model.dropouts.firstIndex { !$0.isIdentity } ?? model.layers.count
    var masks: [[Float]] = model.layers.map { [Float](repeating: 1, count: sampleCount * $0.inputSize) }
    for pass in 0..<sampleCount {
        for (index, layer) in model.layers.enumerated() where index >= first && !model.dropouts[index].isIdentity {
            let dropout = model.dropouts[index]
            for unit in 0..<layer.inputSize {
                let isKept = stream.isKept(pass: pass, layer: index, unit: unit, dropout: dropout)
                masks[index][pass * layer.inputSize + unit] = isKept ? dropout.keepScale : 0
            }
        }
    }
    var result = Matrix(rows: sampleCount, columns: model.outputSize)
    for pass in 0..<sampleCount {
        var x = input.map(Double.init)
        for (index, layer) in model.layers.enumerated() {
            let width = layer.inputSize
            x = (0..<width).map { x[$0] * Double(masks[index][pass * width + $0]) }
            var y = [Double](repeating: 0, count: layer.outputSize)
            for row in 0..<layer.outputSize {
                var sum = Double(layer.bias[row])
                for column in 0..<width { sum += Double(layer.weight[row, column]) * x[column] }
                y[row] = index < model.layers.count - 1 ? referenceActivation(model.activation, sum) : sum
            }
            x = y
        }
        switch head {
        case .classification:
            let exps = x.map { Foundation.exp($0 - x.max()!) }
            x = exps.map { $0 / exps.reduce(0, +) }
        case .regression: break
        case .meanLogVariance:
            for index in (x.count / 2)..<x.count { x[index] = Foundation.exp(x[index]) }
        }
        for column in 0..<model.outputSize { result[pass, column] = Float(x[column]) }
    }
    return result
}

let allActivations: [HiddenActivation] = [
    .relu, .leakyReLU(negativeSlope: 0.2), .gelu, .geluTanh, .tanh, .sigmoid, .silu,
]

func tabularModel(sizes: [Int], dropout: [Float], activation: HiddenActivation, seed: UInt64 = 8) -> DropoutMLP {
    var generator = RandomSource(seed: seed)
    var model = DropoutMLP(
        layerSizes: sizes, dropoutProbabilities: dropout, initialization: .xavier, activation: activation,
        using: &generator)
    for index in model.layers.indices {
        model.layers[index].bias = model.layers[index].bias.map { _ in generator.nextUnitFloat() - 0.5 }
    }
    return model
}

@Suite("Any dropout MLP: activations, regression heads, normalisation")
struct AnyNetworkTests {
    @Test("activations match their definitions and PyTorch's values at a few points")
    func activationValues() {
        // gelu(1) = Φ(1) = 0.8413447; gelu_tanh(1) = 0.8411920; silu(1) = 0.7310586; sigmoid(0) = ½.
        #expect(abs(HiddenActivation.gelu(1) - 0.8413447) < 1e-6)
        #expect(abs(HiddenActivation.geluTanh(1) - 0.8411920) < 1e-6)
        #expect(abs(HiddenActivation.silu(1) - 0.7310586) < 1e-6)
        #expect(HiddenActivation.sigmoid(0) == 0.5)
        #expect(HiddenActivation.leakyReLU(negativeSlope: 0.01)(-2) == -0.02)
        for activation in allActivations {
            for x in stride(from: -4.0, through: 4.0, by: 0.37) {
                #expect(abs(Double(activation(Float(x))) - referenceActivation(activation, x)) < 2e-6)
                let step = 1e-3
                let slope =
                    (referenceActivation(activation, x + step) - referenceActivation(activation, x - step)) / (2 * step)
                #expect(abs(Double(activation.derivative(Float(x))) - slope) < 1e-3, "\(activation) at \(x)")
            }
            #expect(HiddenActivation(name: activation.name, negativeSlope: 0.2) == activation)
        }
    }

    @Test(
        "the engine equals N naive passes for every activation, with and without input dropout",
        arguments: allActivations, [[Float(0), 0.5, 0.3], [0.2, 0.5, 0.3], [0, 0, 0.1]])
    func classificationEqualsNaive(activation: HiddenActivation, dropout: [Float]) {
        let model = tabularModel(sizes: [13, 64, 64, 3], dropout: dropout, activation: activation)
        var generator = RandomSource(seed: 5)
        let input = (0..<13).map { _ in generator.nextUnitFloat() * 4 - 2 }
        let summary = MonteCarloPredictor(model: model).predict(input, sampleCount: 40, seed: 11)
        let reference = PredictiveSummary(
            passProbabilities: naivePassOutputs(
                model: model, head: .classification, input: input, sampleCount: 40, seed: 11))
        for column in 0..<3 {
            #expect(abs(summary.meanProbabilities[column] - reference.meanProbabilities[column]) < 1e-5)
            #expect(abs(summary.variance[column] - reference.variance[column]) < 1e-5)
        }
        #expect(abs(summary.mutualInformation - reference.mutualInformation) < 1e-5)
        #expect(summary.variance.contains { $0 > 1e-7 })
    }

    @Test("non-ReLU models run the dense path; ReLU keeps skipping inactive units")
    func activeUnitsOnlyForReLU() {
        for activation in allActivations {
            let model = tabularModel(sizes: [13, 64, 64, 3], dropout: [0, 0.5, 0.3], activation: activation)
            #expect(MonteCarloPredictor(model: model).usesActiveUnits == activation.isReLU)
        }
    }

    @Test(
        "regression heads: mean and variance of the outputs over passes, σ² = exp(log σ²) averaged",
        arguments: [OutputHead.regression, .meanLogVariance], [[Float(0), 0.2], [0, 0]])
    func regressionEqualsNaive(head: OutputHead, dropout: [Float]) {
        let outputs = head == .meanLogVariance ? 2 : 1
        let model = tabularModel(sizes: [10, 128, outputs], dropout: dropout, activation: .tanh)
        var generator = RandomSource(seed: 6)
        let input = (0..<10).map { _ in generator.nextUnitFloat() * 2 - 1 }
        var workspace = MonteCarloWorkspace()
        var batch: [PredictiveSummary] = []
        let predictor = MonteCarloPredictor(model: model, head: head)
        let twice = input + input
        twice.withUnsafeBufferPointer {
            predictor.predictBatch(
                $0, instanceCount: 2, sampleCount: 30, seed: 4, workspace: &workspace, into: &batch)
        }
        let passes = naivePassOutputs(model: model, head: head, input: input, sampleCount: 30, seed: 4)
        for column in 0..<outputs {
            let values = (0..<30).map { Double(passes[$0, column]) }
            let mean = values.reduce(0, +) / 30
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 30
            #expect(abs(Double(batch[0].meanProbabilities[column]) - mean) < 1e-5 * max(1, abs(mean)))
            #expect(abs(Double(batch[0].variance[column]) - variance) < 1e-5)
            #expect(batch[0] == batch[1])
        }
        #expect((batch[0].variance[0] > 1e-7) == (dropout.last! > 0))
    }

    @Test("metadata round trip: activation, slope, task, head, normalisation; old files read as ReLU classifiers")
    func metadataRoundTrip() throws {
        let model = tabularModel(sizes: [3, 8, 2], dropout: [0, 0.1], activation: .leakyReLU(negativeSlope: 0.2))
        var metadata = ModelMetadata(
            layerSizes: [3, 8, 2], dropoutProbabilities: [0, 0.1], labels: [], dataset: "t", seed: 1, inputScale: 1)
        metadata.activation = model.activation
        metadata.head = .meanLogVariance
        metadata.inputMean = [1, 2, 3]
        metadata.inputStd = [0.5, 1, 2]
        let file = ModelFile(model: model, metadata: metadata)
        let decoded = try ModelFile(decoding: file.encoded())
        #expect(decoded == file)
        #expect(decoded.model.activation == .leakyReLU(negativeSlope: 0.2))
        let old = try ModelFile(decoding: sampleModelFile().encoded())
        #expect(old.metadata.head == .classification && old.model.activation == .relu)
        #expect(old.metadata.inputMean == nil)
        var inputs: [Float] = []
        decoded.metadata.appendNetworkInputs([2, 2, 2, 1, 4, 7], to: &inputs)
        #expect(inputs == [2, 0, -0.5, 0, 2, 2])
    }

    @Test(
        "bad architecture metadata is a typed error naming the field",
        arguments: [
            ("\"activation\":\"relu\"", "\"activation\":\"swish\"", "architecture.activation"),
            (
                "\"activation\":\"relu\"", "\"activation\":\"relu\",\"negative_slope\":0.1",
                "architecture.negative_slope"
            ),
            ("\"scale\":255", "\"scale\":255,\"mean\":[1,2]", "input.mean"),
            ("\"scale\":255", "\"scale\":255,\"mean\":[],\"std\":[]", "input.mean"),
            ("\"labels\"", "\"task\":\"regression\",\"labels\"", "labels"),
            ("\"labels\"", "\"task\":\"ranking\",\"labels\"", "task"),
            ("\"labels\"", "\"outputs\":\"mean_logvar\",\"labels\"", "outputs"),
        ])
    func rejections(find: String, replace: String, field: String) {
        let bytes = withHeader(sampleModelFile().encoded()) {
            $0.replacingOccurrences(
                of: find.replacingOccurrences(of: "\"", with: "\\\""),
                with: replace.replacingOccurrences(of: "\"", with: "\\\""))
        }
        #expect(bytes != sampleModelFile().encoded())
        #expect {
            _ = try ModelFile(decoding: bytes)
        } throws: { error in
            guard case .invalidMetadata(let name, _) = error as? ModelFileError else { return false }
            return name == field
        }
    }
}
