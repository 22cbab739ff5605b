import MCDropout
import Testing

@testable import MCDropoutTraining

/// The general step's mean loss with the dropout masks of `seed`.
func generalLoss(_ model: DropoutMLP, input: Matrix, targets: TrainingTargets, seed: UInt64) -> Double {
    var workspace = GeneralTrainingWorkspace(for: model)
    var gradients = Gradients(like: model)
    var generator = RandomSource(seed: seed)
    return model.trainingStep(
        input: input, targets: targets, workspace: &workspace, gradients: &gradients, using: &generator
    ).meanLoss
}

@Suite("Tabular training: any activation, regression losses, CSV")
struct TabularTrainingTests {
    @Test(
        "general backpropagation matches finite differences for every activation and loss",
        arguments: [
            HiddenActivation.relu, .leakyReLU(negativeSlope: 0.1), .gelu, .geluTanh, .tanh, .sigmoid, .silu,
        ], [OutputHead.classification, .regression, .meanLogVariance])
    func gradientCheck(activation: HiddenActivation, head: OutputHead) {
        var generator = RandomSource(seed: 5)
        let outputs = head == .classification ? 3 : head == .regression ? 1 : 2
        var model = DropoutMLP(
            layerSizes: [4, 6, 5, outputs], dropoutProbabilities: [0.2, 0.3, 0.1], initialization: .xavier,
            activation: activation, using: &generator)
        for layer in model.layers.indices {
            model.layers[layer].bias = model.layers[layer].bias.map { _ in generator.nextUnitFloat() * 0.4 - 0.2 }
        }
        let input = Matrix(rows: 5, columns: 4, storage: (0..<20).map { _ in generator.nextUnitFloat() * 2 - 1 })
        let values = Matrix(rows: 5, columns: 1, storage: (0..<5).map { _ in generator.nextUnitFloat() * 2 - 1 })
        let targets: TrainingTargets =
            switch head {
            case .classification: .classes([0, 2, 1, 2, 0])
            case .regression: .meanSquaredError(values)
            case .meanLogVariance: .gaussianNegativeLogLikelihood(values)
            }
        var workspace = GeneralTrainingWorkspace(for: model)
        var gradients = Gradients(like: model)
        var masks = RandomSource(seed: 77)
        _ = model.trainingStep(
            input: input, targets: targets, workspace: &workspace, gradients: &gradients, using: &masks)
        let epsilon: Float = 1e-3
        for layer in 0..<model.layers.count {
            for index in model.layers[layer].weight.storage.indices {
                var plus = model
                var minus = model
                plus.layers[layer].weight.storage[index] += epsilon
                minus.layers[layer].weight.storage[index] -= epsilon
                let numeric =
                    (generalLoss(plus, input: input, targets: targets, seed: 77)
                        - generalLoss(minus, input: input, targets: targets, seed: 77)) / Double(2 * epsilon)
                let analytic = Double(gradients.weights[layer].storage[index])
                #expect(
                    abs(numeric - analytic) < 3e-3 + 3e-2 * abs(numeric),
                    "\(activation) \(head) layer \(layer) weight \(index): \(analytic) vs \(numeric)")
            }
        }
    }

    @Test("CSV: header, numeric rows, a named target; classes map to sorted values; clear errors")
    func csvParsing() throws {
        let table = try TabularDataset(
            csv: "a, b ,label\n1,2,5\n3,4,2\r\n5,6,5\n", target: "label", isClassification: true)
        #expect(table.featureNames == ["a", "b"])
        #expect(table.features == [1, 2, 3, 4, 5, 6])
        #expect(table.classNames == ["2", "5"])
        #expect(table.targets == [1, 0, 1])
        #expect(throws: TabularDataError.missingTarget("y", available: ["a", "label"])) {
            try TabularDataset(csv: "a,label\n1,2\n", target: "y", isClassification: false)
        }
        #expect(throws: TabularDataError.ragged(line: 3, expected: 2, found: 3)) {
            try TabularDataset(csv: "a,y\n1,2\n1,2,3\n", target: "y", isClassification: false)
        }
        #expect(throws: TabularDataError.nonNumeric(line: 2, column: "a", value: "x")) {
            try TabularDataset(csv: "a,y\nx,2\n", target: "y", isClassification: false)
        }
        let (training, test) = table.split(testFraction: 0.34, seed: 1)
        #expect(training.count == 2 && test.count == 1)
    }

    @Test("training fits a noisy regression in target units; the heteroscedastic head learns the noise level")
    func fitsRegression() {
        var generator = RandomSource(seed: 9)
        var features: [Float] = []
        var targets: [Float] = []
        for _ in 0..<400 {
            let x = generator.nextUnitFloat() * 6 - 3
            let noise = Float(generator.nextStandardNormal()) * (x > 0 ? 2 : 0.5)
            features += [x * 10 + 50]  // unnormalised input: the trainer standardises it
            targets.append(100 + 3 * x + noise)
        }
        let data = TabularDataset(featureNames: ["x"], features: features, targets: targets, classNames: [])
        var configuration = TabularTrainingConfiguration(hiddenSizes: [32], dropoutProbabilities: [0, 0.05])
        configuration.activation = .tanh
        configuration.head = .meanLogVariance
        configuration.epochs = 150
        configuration.learningRate = 3e-3
        let (model, mean, std, losses) = TabularTrainer.train(configuration, on: data)
        #expect(losses.last! < losses.first!)
        var metadata = ModelMetadata(
            layerSizes: model.layerSizes, dropoutProbabilities: model.dropoutProbabilities, labels: [], dataset: "t",
            seed: 1, inputScale: 1)
        metadata.head = .meanLogVariance
        metadata.activation = .tanh
        metadata.inputMean = mean
        metadata.inputStd = std
        let predictor = MonteCarloPredictor(model: model, head: .meanLogVariance)
        for (x, noise) in [(Float(-2), Float(0.5)), (2, 2)] {
            var input: [Float] = []
            metadata.appendNetworkInputs([x * 10 + 50], to: &input)
            let summary = predictor.predict(input, sampleCount: 200, seed: 3)
            #expect(abs(summary.regressionMean(0) - (100 + 3 * x)) < 0.5, "mean at \(x)")
            let sigma = summary.aleatoricVariance(0).squareRoot()
            #expect(sigma > noise / 2 && sigma < noise * 2, "σ at \(x): \(sigma) vs \(noise)")
        }
    }
}
