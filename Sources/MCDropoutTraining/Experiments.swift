import Foundation
import MCDropout
public import MCDropoutData
public import MCDropoutEvaluation
import MCDropoutJSON

/// The seeds' training experiments (`mcdropout-eval experiment overfitting | small-net | deep`): training runs with
/// the library ``Trainer`` measured after some epochs with ``Evaluator``.
public struct TrainingExperiments {
    /// Epochs, when not each experiment's own (301, 5, 15).
    public var epochs: Int?
    /// The training seed.
    public var seed: UInt64
    /// overfitting: measure every this many epochs.
    public var evaluateEvery: Int
    /// overfitting: the L2 weight-decay coefficient of the third run.
    public var weightDecay: Float
    /// Progress lines.
    public var log: (String) -> Void

    public init(epochs: Int?, seed: UInt64, evaluateEvery: Int, weightDecay: Float, log: @escaping (String) -> Void) {
        self.epochs = epochs
        self.seed = seed
        self.evaluateEvery = evaluateEvery
        self.weightDecay = weightDecay
        self.log = log
    }

    /// 300 MNIST training images, 784-100x6-10, SGD: no dropout, dropout 0.2, L2 weight decay.
    public func overfitting(training: LabeledImages, test: LabeledImages) throws -> TrainingExperiment {
        let training = training.subset(0..<min(300, training.count))
        let variants: [(label: String, dropout: Float, decay: Float)] = [
            ("no dropout", 0, 0), ("dropout 0.2", 0.2, 0), ("L2 \(weightDecay), no dropout", 0, weightDecay),
        ]
        let runs = try variants.map { variant in
            var configuration = smallNetConfiguration(dropout: variant.dropout, epochs: epochs ?? 301)
            configuration.weightDecay = variant.decay
            return try train(
                variant.label, configuration, on: training, test: test, every: evaluateEvery,
                trainEvaluation: training)
        }
        return TrainingExperiment(
            name: "overfitting",
            description: "300 MNIST training images, 784-100x6-10 ReLU, He init, plain SGD lr 0.01, batch 100",
            runs: runs)
    }

    /// The same net on all training images, with and without dropout 0.2.
    public func smallNet(training: LabeledImages, test: LabeledImages) throws -> TrainingExperiment {
        let runs = try [Float(0), 0.2].map { dropout in
            try train(
                dropout == 0 ? "no dropout" : "dropout 0.2",
                smallNetConfiguration(dropout: dropout, epochs: epochs ?? 5),
                on: training, test: test, every: 1, trainEvaluation: nil, monteCarloSamples: dropout > 0 ? 100 : nil)
        }
        return TrainingExperiment(
            name: "small-net",
            description: "784-100x6-10 ReLU, He init, plain SGD lr 0.01, batch 100, all 60,000 MNIST training images",
            runs: runs)
    }

    /// 784-512x4-10, dropout 0.3, Xavier, Adam 1e-3.
    public func deep(training: LabeledImages, test: LabeledImages) throws -> TrainingExperiment {
        var configuration = TrainingConfiguration(
            layerSizes: [784, 512, 512, 512, 512, 10], dropoutProbabilities: [0, 0.3, 0.3, 0.3, 0.3])
        configuration.initialization = .xavier
        configuration.optimizer = .adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
        configuration.learningRate = 1e-3
        configuration.batchSize = 100
        configuration.epochs = epochs ?? 15
        configuration.seed = seed
        let run = try train(
            "784-512x4-10 dropout 0.3", configuration, on: training, test: test, every: 1, trainEvaluation: nil,
            monteCarloSamples: 100)
        return TrainingExperiment(
            name: "deep",
            description: "784-512x4-10 ReLU, dropout 0.3 on hidden inputs, Xavier, Adam 1e-3, batch 100, all 60,000 "
                + "MNIST training images",
            runs: [run])
    }

    private func smallNetConfiguration(dropout: Float, epochs: Int) -> TrainingConfiguration {
        var configuration = TrainingConfiguration(
            layerSizes: [784] + Array(repeating: 100, count: 6) + [10],
            dropoutProbabilities: [0] + Array(repeating: dropout, count: 6))
        configuration.optimizer = .sgd(momentum: 0, nesterov: false)
        configuration.learningRate = 0.01
        configuration.batchSize = 100
        configuration.epochs = epochs
        configuration.seed = seed
        return configuration
    }

    /// Trains one run, measuring after epoch 1, every `every` epochs and the last.
    private func train(
        _ label: String, _ configuration: TrainingConfiguration, on training: LabeledImages, test: LabeledImages,
        every: Int, trainEvaluation: LabeledImages?, monteCarloSamples: Int? = nil
    ) throws -> ExperimentRun {
        let sizes = configuration.layerSizes.map(String.init).joined(separator: "-")
        log("\(label): \(sizes) on \(training.count) images, \(configuration.epochs) epochs")
        var epochs: [EpochMeasurement] = []
        let clock = ContinuousClock()
        let start = clock.now
        let input = configuration.inputPreparation
        let (model, history) = Trainer(configuration: configuration).train(
            on: training, validation: nil,
            afterEpoch: { model, record in
                guard record.epoch == 1 || record.epoch % every == 0 || record.epoch == configuration.epochs else {
                    return
                }
                let testResult = Evaluator.deterministic(model, on: test, input: input)
                let trainResult = trainEvaluation.map { Evaluator.deterministic(model, on: $0, input: input) }
                epochs.append(
                    EpochMeasurement(
                        epoch: record.epoch, trainLossRunning: record.trainLoss,
                        trainAccuracyRunning: record.trainAccuracy, testAccuracy: testResult.accuracy,
                        testLoss: testResult.meanLoss, trainAccuracy: trainResult?.accuracy,
                        trainLoss: trainResult?.meanLoss))
                if record.epoch == 1 || record.epoch % max(every * 10, 1) == 0 || record.epoch == configuration.epochs {
                    log(
                        String(
                            format: "  epoch %d: running train acc %.2f%%, test acc %.2f%%", record.epoch,
                            record.trainAccuracy * 100, testResult.accuracy * 100))
                }
            },
            progress: { _ in })
        let seconds = Double((clock.now - start).components.seconds)
        let deterministic = Evaluator.deterministic(model, on: test, input: input)
        var final = FinalMeasurement(testAccuracy: deterministic.accuracy, testNll: deterministic.meanLoss)
        if let monteCarloSamples {
            let mc = Evaluator.monteCarlo(
                model, on: test, input: input, sampleCount: monteCarloSamples, seed: 2026)
            final.mcSamples = monteCarloSamples
            final.mcTestAccuracy = mc.accuracy
            final.mcTestNll = mc.meanLoss
            log(
                String(
                    format: "  final: weight scaling %.2f%%, MC N=%d %.2f%%", deterministic.accuracy * 100,
                    monteCarloSamples, mc.accuracy * 100))
        } else {
            log(String(format: "  final: test %.2f%%", deterministic.accuracy * 100))
        }
        // The hyper-parameters' one definition is the model metadata's JSON; read it into the typed result.
        let hyperparameters = try JSONDecoder().decode(
            ExperimentHyperparameters.self,
            from: Data(JSONValue.object(configuration.hyperparametersJSON).serialized()))
        return ExperimentRun(
            label: label, layerSizes: configuration.layerSizes,
            dropout: configuration.dropoutProbabilities.map(shortestDecimal), hyperparameters: hyperparameters,
            trainingImages: training.count, seed: configuration.seed, trainSeconds: seconds,
            historyEpochs: history.count, epochs: epochs, final: final)
    }
}
