import MCDropout
import MCDropoutData
import MCDropoutEvaluation
import Testing

@testable import MCDropoutTraining

/// The mean loss of `model` on one batch with the dropout masks drawn from `seed`.
func loss(_ model: DropoutMLP, input: Matrix, labels: [Int], seed: UInt64) -> Double {
    var workspace = TrainingWorkspace(for: model)
    var gradients = Gradients(like: model)
    var generator = RandomSource(seed: seed)
    return model.trainingStep(
        input: input, labels: labels, workspace: &workspace, gradients: &gradients, using: &generator
    ).meanLoss
}

@Suite("Backpropagation and optimisation")
struct GradientTests {
    @Test(
        "analytic gradients match central finite differences with a fixed dropout mask",
        arguments: [[Float(0), 0.5, 0.5], [0.3, 0.5, 0.2]])
    func gradientCheck(dropout: [Float]) {
        var generator = RandomSource(seed: 21)
        var model = DropoutMLP(
            layerSizes: [6, 8, 7, 4], dropoutProbabilities: dropout, initialization: .xavier, using: &generator)
        // Non-zero biases: with zero biases a row whose inputs are all dropped sits exactly on the ReLU kink, where
        // a central difference measures ½ instead of the derivative 0 that backpropagation (rightly) uses.
        for layer in model.layers.indices {
            model.layers[layer].bias = model.layers[layer].bias.map { _ in generator.nextUnitFloat() * 0.4 - 0.2 }
        }
        let input = Matrix(rows: 5, columns: 6, storage: (0..<30).map { _ in generator.nextUnitFloat() * 2 - 1 })
        let labels = [0, 3, 1, 2, 3]
        var workspace = TrainingWorkspace(for: model)
        var gradients = Gradients(like: model)
        var masks = RandomSource(seed: 77)
        _ = model.trainingStep(
            input: input, labels: labels, workspace: &workspace, gradients: &gradients, using: &masks)

        let epsilon: Float = 1e-3
        var checked = 0
        for layer in 0..<model.layers.count {
            for index in stride(from: 0, to: model.layers[layer].weight.storage.count, by: 1) {
                var plus = model
                var minus = model
                plus.layers[layer].weight.storage[index] += epsilon
                minus.layers[layer].weight.storage[index] -= epsilon
                let numeric =
                    (loss(plus, input: input, labels: labels, seed: 77)
                        - loss(minus, input: input, labels: labels, seed: 77)) / Double(2 * epsilon)
                let analytic = Double(gradients.weights[layer].storage[index])
                #expect(
                    abs(numeric - analytic) < 2e-3 + 2e-2 * abs(numeric),
                    "layer \(layer) weight \(index): \(analytic) vs \(numeric)")
                checked += 1
            }
            for index in 0..<model.layers[layer].bias.count {
                var plus = model
                var minus = model
                plus.layers[layer].bias[index] += epsilon
                minus.layers[layer].bias[index] -= epsilon
                let numeric =
                    (loss(plus, input: input, labels: labels, seed: 77)
                        - loss(minus, input: input, labels: labels, seed: 77)) / Double(2 * epsilon)
                #expect(
                    abs(numeric - Double(gradients.biases[layer][index])) < 2e-3 + 2e-2 * abs(numeric),
                    "layer \(layer) bias \(index): \(gradients.biases[layer][index]) vs \(numeric)")
            }
        }
        #expect(checked > 20)
    }

    @Test("max-norm rescales only rows above the limit")
    func maxNorm() {
        var weight = Matrix(rows: 2, columns: 2, storage: [3, 4, 0.3, 0.4])
        Optimizer.constrainRows(of: &weight, maxNorm: 2)
        #expect(abs(weight[0, 0] - 1.2) < 1e-6 && abs(weight[0, 1] - 1.6) < 1e-6)
        #expect(weight[1, 0] == 0.3 && weight[1, 1] == 0.4)
    }

    @Test("learning-rate schedules")
    func schedules() {
        #expect(LearningRateSchedule.constant.learningRate(base: 0.1, epoch: 7, epochCount: 10) == 0.1)
        #expect(
            abs(LearningRateSchedule.exponential(gamma: 0.5).learningRate(base: 1, epoch: 3, epochCount: 10) - 0.25)
                < 1e-12)
        #expect(
            abs(LearningRateSchedule.step(every: 2, factor: 0.1).learningRate(base: 1, epoch: 5, epochCount: 10) - 0.01)
                < 1e-12)
        let cosine = LearningRateSchedule.cosine(finalFraction: 0.1)
        #expect(abs(cosine.learningRate(base: 1, epoch: 1, epochCount: 11) - 1) < 1e-12)
        #expect(abs(cosine.learningRate(base: 1, epoch: 6, epochCount: 11) - 0.55) < 1e-12)
        #expect(abs(cosine.learningRate(base: 1, epoch: 11, epochCount: 11) - 0.1) < 1e-12)
    }
}

/// Three separable classes of 8×8 "images": a bright block in one of three places, with noise.
func blobs(count: Int, seed: UInt64) -> LabeledImages {
    var generator = RandomSource(seed: seed)
    var pixels: [UInt8] = []
    var labels: [UInt8] = []
    for index in 0..<count {
        let label = index % 3
        for position in 0..<64 {
            let inBlock = position / 8 / 3 == label
            let noise = Int(generator.next() % 60)
            pixels.append(UInt8(min(255, (inBlock ? 180 : 20) + noise)))
        }
        labels.append(UInt8(label))
    }
    return LabeledImages(pixels: pixels, labels: labels, pixelCount: 64)
}

@Suite("Training loop")
struct TrainerTests {
    func configuration(optimizer: OptimizerKind, seed: UInt64 = 5) -> TrainingConfiguration {
        var configuration = TrainingConfiguration(layerSizes: [64, 32, 3], dropoutProbabilities: [0, 0.5])
        configuration.optimizer = optimizer
        configuration.learningRate = optimizer == .sgd(momentum: 0.9, nesterov: true) ? 0.05 : 0.003
        configuration.epochs = 8
        configuration.batchSize = 16
        configuration.seed = seed
        configuration.imageSide = 8
        configuration.maximumShift = 1
        configuration.weightDecay = 1e-4
        configuration.maxNorm = 3
        return configuration
    }

    @Test(
        "loss falls and a tiny problem is learned",
        arguments: [OptimizerKind.sgd(momentum: 0.9, nesterov: true), .adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8)])
    func learns(optimizer: OptimizerKind) {
        let data = blobs(count: 300, seed: 1)
        let validation = blobs(count: 90, seed: 2)
        var batches = 0
        let (model, history) = Trainer(configuration: configuration(optimizer: optimizer)).train(
            on: data, validation: validation
        ) { event in
            if case .batch = event { batches += 1 }
        }
        #expect(history.count == 8)
        #expect(batches == 8 * 19)
        #expect(history.last!.trainLoss < history.first!.trainLoss * 0.5)
        #expect((history.last!.validationAccuracy ?? 0) > 0.95)
        let test = Evaluator.deterministic(model, on: validation, input: InputPreparation(scale: 255))
        #expect(test.accuracy == history.last!.validationAccuracy)
        let monteCarlo = Evaluator.monteCarlo(
            model, on: validation, input: InputPreparation(scale: 255), sampleCount: 20, seed: 3)
        #expect(monteCarlo.accuracy > 0.9)
    }

    @Test("same seed → identical weights; another seed → different weights")
    func reproducible() {
        let data = blobs(count: 120, seed: 1)
        let trainer = Trainer(configuration: configuration(optimizer: .sgd(momentum: 0.9, nesterov: true)))
        let first = trainer.train(on: data, validation: nil) { _ in }.model
        let second = trainer.train(on: data, validation: nil) { _ in }.model
        let other = Trainer(configuration: configuration(optimizer: .sgd(momentum: 0.9, nesterov: true), seed: 6))
            .train(on: data, validation: nil) { _ in }.model
        #expect(
            first.layers.map(\.weight.storage).flatMap { $0 }.map(\.bitPattern)
                == second.layers.map(\.weight.storage).flatMap { $0 }.map(\.bitPattern))
        #expect(first != other)
    }
}
