import ArgumentParser
import Foundation
import MCDropout
import MCDropoutCommandLine
import MCDropoutEvaluation
import MCDropoutJSON
import MCDropoutData
import MCDropoutTraining

/// `mcdropout-eval experiment NAME`: the seeds' experiments, trained with the library ``Trainer``.
struct ExperimentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment",
        abstract: "Run one of the seeds' experiments and write <output-dir>/experiments/<name>.json (--force replaces).",
        discussion: """
            overfitting   300 MNIST training images, 784-100x6-10, SGD lr 0.01, batch 100, 301 epochs: no
                          dropout, dropout 0.2 on the hidden layers, L2 weight decay (--weight-decay); train
                          and test accuracy (both dropout off) every --evaluate-every epochs.
            small-net     the same net on all 60,000 MNIST training images for --epochs epochs (default 5),
                          with and without dropout 0.2; test accuracy per epoch and MC N=100 at the end.
            deep          784-512x4-10, dropout 0.3, Xavier, Adam 1e-3, batch 100, 15 epochs on MNIST.
            mc-vs-scaling test error of MC averaging vs weight scaling as N grows, several mask seeds, for the
                          model given by --model (first --limit test images).
            """)

    @Argument(help: "overfitting, small-net, deep or mc-vs-scaling.")
    var name: String
    @OptionGroup var data: DataDirectoryOptions
    @Option(help: "Directory for the JSON result (the file goes to <output-dir>/experiments/).")
    var outputDir: String = "docs/evaluation"
    @Option(help: "overfitting: evaluate train and test accuracy every this many epochs.")
    var evaluateEvery: Int = 5
    @Option(help: "overfitting: the L2 weight-decay coefficient of the third run.")
    var weightDecay: Float = 0.01
    @Option(help: "Epochs (default: the experiment's own: 301, 5, 15).")
    var epochs: Int?
    @OptionGroup var seedOptions: SeedOptions<ExperimentSeed>
    @Option(help: "mc-vs-scaling: the model file.")
    var model: String = "models/mnist.safetensors"
    @Option(help: "mc-vs-scaling: sample counts.")
    var sampleCounts: String = "1,2,5,10,20,50,100"
    @Option(help: "mc-vs-scaling: mask seeds per N.")
    var repeats: Int = 3
    @Option(help: "mc-vs-scaling: test images (0 = all).")
    var limit: Int = 5000
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var forceOptions: ForceOptions

    var seed: UInt64 { seedOptions.seed }

    func validate() throws {
        guard ["overfitting", "small-net", "deep", "mc-vs-scaling"].contains(name) else {
            throw ValidationError("unknown experiment '\(name)'")
        }
        guard evaluateEvery >= 1, repeats >= 1, (epochs ?? 1) >= 1 else {
            throw ValidationError("--evaluate-every, --repeats and --epochs must be ≥ 1")
        }
    }

    func run() throws {
        let path = "\(outputDir)/experiments/\(name).json"
        try OutputFile.check(path, force: forceOptions.force)
        threadOptions.apply()
        let result: JSONValue
        switch name {
        case "overfitting": result = try overfitting()
        case "small-net": result = try smallNet()
        case "deep": result = try deep()
        default: result = try monteCarloVersusScaling()
        }
        try OutputFile.write(result.serialized(), to: path)
        log("wrote \(path)")
    }

    private var mnistDirectory: String { data.directory(for: "mnist") }

    // MARK: - Experiments

    private func overfitting() throws -> JSONValue {
        let training = try DatasetLoader.load(directory: mnistDirectory, split: .train).subset(0..<300)
        let test = try DatasetLoader.load(directory: mnistDirectory, split: .test)
        let variants: [(label: String, dropout: Float, decay: Float)] = [
            ("no dropout", 0, 0), ("dropout 0.2", 0.2, 0), ("L2 \(weightDecay), no dropout", 0, weightDecay),
        ]
        let runs = variants.map { variant in
            var configuration = TrainingConfiguration(
                layerSizes: [784] + Array(repeating: 100, count: 6) + [10],
                dropoutProbabilities: [0] + Array(repeating: variant.dropout, count: 6))
            configuration.optimizer = .sgd(momentum: 0, nesterov: false)
            configuration.learningRate = 0.01
            configuration.batchSize = 100
            configuration.epochs = epochs ?? 301
            configuration.weightDecay = variant.decay
            configuration.seed = seed
            return train(variant.label, configuration, on: training, test: test, every: evaluateEvery, trainEvaluation: training)
        }
        return object([
            ("name", .string("overfitting")),
            ("description", .string("300 MNIST training images, 784-100x6-10 ReLU, He init, plain SGD lr 0.01, batch 100")),
            ("runs", .array(runs)),
        ])
    }

    private func smallNet() throws -> JSONValue {
        let training = try DatasetLoader.load(directory: mnistDirectory, split: .train)
        let test = try DatasetLoader.load(directory: mnistDirectory, split: .test)
        let runs = [Float(0), 0.2].map { dropout in
            var configuration = TrainingConfiguration(
                layerSizes: [784] + Array(repeating: 100, count: 6) + [10],
                dropoutProbabilities: [0] + Array(repeating: dropout, count: 6))
            configuration.optimizer = .sgd(momentum: 0, nesterov: false)
            configuration.learningRate = 0.01
            configuration.batchSize = 100
            configuration.epochs = epochs ?? 5
            configuration.seed = seed
            return train(dropout == 0 ? "no dropout" : "dropout 0.2", configuration, on: training, test: test, every: 1,
                trainEvaluation: nil, monteCarloSamples: dropout > 0 ? 100 : nil)
        }
        return object([
            ("name", .string("small-net")),
            ("description", .string("784-100x6-10 ReLU, He init, plain SGD lr 0.01, batch 100, all 60,000 MNIST training images")),
            ("runs", .array(runs)),
        ])
    }

    private func deep() throws -> JSONValue {
        let training = try DatasetLoader.load(directory: mnistDirectory, split: .train)
        let test = try DatasetLoader.load(directory: mnistDirectory, split: .test)
        var configuration = TrainingConfiguration(
            layerSizes: [784, 512, 512, 512, 512, 10], dropoutProbabilities: [0, 0.3, 0.3, 0.3, 0.3])
        configuration.initialization = .xavier
        configuration.optimizer = .adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
        configuration.learningRate = 1e-3
        configuration.batchSize = 100
        configuration.epochs = epochs ?? 15
        configuration.seed = seed
        let run = train("784-512x4-10 dropout 0.3", configuration, on: training, test: test, every: 1,
            trainEvaluation: nil, monteCarloSamples: 100)
        return object([
            ("name", .string("deep")),
            ("description", .string("784-512x4-10 ReLU, dropout 0.3 on hidden inputs, Xavier, Adam 1e-3, batch 100, all 60,000 MNIST training images")),
            ("runs", .array([run])),
        ])
    }

    private func monteCarloVersusScaling() throws -> JSONValue {
        let file = try ModelFile(decoding: readModelBytes(model))
        var test = try DatasetLoader.load(directory: data.directory(for: file.metadata.dataset), split: .test)
        if limit > 0 { test = test.subset(0..<min(limit, test.count)) }
        let labels = test.labels.map(Int.init)
        let scale = file.metadata.inputScale
        let counts = sampleCounts.split(separator: ",").compactMap { Int($0) }
        let deterministic = PredictionSet.deterministic(file.model, on: test, inputScale: scale)
        let deterministicError = 1 - Scoring.accuracy(deterministic.probabilities, labels: labels)
        log(String(format: "weight scaling: error %.3f%%", deterministicError * 100))
        var points: [JSONValue] = []
        for count in counts {
            var errors: [Double] = []
            var losses: [Double] = []
            for repeatIndex in 0..<repeats {
                let set = PredictionSet.monteCarlo(
                    file.model, on: test, inputScale: scale, sampleCount: count,
                    firstSeed: seed &* 1_000_003 &+ UInt64(repeatIndex) << 40)
                errors.append(1 - Scoring.accuracy(set.probabilities, labels: labels))
                losses.append(Scoring.negativeLogLikelihood(set.probabilities, labels: labels))
            }
            let mean = errors.reduce(0, +) / Double(errors.count)
            let spread = (errors.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(errors.count - 1, 1))).squareRoot()
            log(String(format: "N=%d: error %.3f%% ± %.3f", count, mean * 100, spread * 100))
            points.append(object([
                ("samples", .number(Double(count))), ("errors", .array(errors.map(number))),
                ("mean_error", number(mean)), ("std_error", number(spread)),
                ("mean_nll", number(losses.reduce(0, +) / Double(losses.count))),
            ]))
        }
        return object([
            ("name", .string("mc-vs-scaling")), ("model", .string(model)), ("images", .number(Double(test.count))),
            ("repeats", .number(Double(repeats))),
            ("deterministic_error", number(deterministicError)),
            ("deterministic_nll", number(Scoring.negativeLogLikelihood(deterministic.probabilities, labels: labels))),
            ("points", .array(points)),
        ])
    }

    // MARK: - Training with per-epoch measurements

    private func train(
        _ label: String, _ configuration: TrainingConfiguration, on training: LabeledImages, test: LabeledImages,
        every: Int, trainEvaluation: LabeledImages?, monteCarloSamples: Int? = nil
    ) -> JSONValue {
        log("\(label): \(configuration.layerSizes.map(String.init).joined(separator: "-")) on \(training.count) images, \(configuration.epochs) epochs")
        var epochs: [JSONValue] = []
        let clock = ContinuousClock()
        let start = clock.now
        let (model, history) = Trainer(configuration: configuration).train(
            on: training, validation: nil,
            afterEpoch: { model, record in
                guard record.epoch == 1 || record.epoch % every == 0 || record.epoch == configuration.epochs else { return }
                let testResult = Evaluator.deterministic(model, on: test, inputScale: configuration.inputScale)
                var members: [JSONObject.Member] = [
                    ("epoch", .number(Double(record.epoch))),
                    ("train_loss_running", number(record.trainLoss)),
                    ("train_accuracy_running", number(record.trainAccuracy)),
                    ("test_accuracy", number(testResult.accuracy)),
                    ("test_loss", number(testResult.meanLoss)),
                ]
                if let trainEvaluation {
                    let trainResult = Evaluator.deterministic(model, on: trainEvaluation, inputScale: configuration.inputScale)
                    members.append(("train_accuracy", number(trainResult.accuracy)))
                    members.append(("train_loss", number(trainResult.meanLoss)))
                }
                epochs.append(object(members))
                if record.epoch == 1 || record.epoch % max(every * 10, 1) == 0 || record.epoch == configuration.epochs {
                    log(String(format: "  epoch %d: running train acc %.2f%%, test acc %.2f%%", record.epoch,
                        record.trainAccuracy * 100, testResult.accuracy * 100))
                }
            },
            progress: { _ in })
        let seconds = Double((clock.now - start).components.seconds)
        let final = Evaluator.deterministic(model, on: test, inputScale: configuration.inputScale)
        var finalMembers: [JSONObject.Member] = [
            ("test_accuracy", number(final.accuracy)), ("test_nll", number(final.meanLoss)),
        ]
        if let monteCarloSamples {
            let mc = Evaluator.monteCarlo(
                model, on: test, inputScale: configuration.inputScale, sampleCount: monteCarloSamples, seed: 2026)
            finalMembers.append(("mc_samples", .number(Double(monteCarloSamples))))
            finalMembers.append(("mc_test_accuracy", number(mc.accuracy)))
            finalMembers.append(("mc_test_nll", number(mc.meanLoss)))
            log(String(format: "  final: weight scaling %.2f%%, MC N=%d %.2f%%", final.accuracy * 100, monteCarloSamples, mc.accuracy * 100))
        } else {
            log(String(format: "  final: test %.2f%%", final.accuracy * 100))
        }
        return object([
            ("label", .string(label)),
            ("layer_sizes", .array(configuration.layerSizes.map { .number(Double($0)) })),
            ("dropout", .array(configuration.dropoutProbabilities.map { .number(shortestDecimal($0)) })),
            ("hyperparameters", .object(configuration.hyperparametersJSON)),
            ("training_images", .number(Double(training.count))),
            ("seed", .number(Double(configuration.seed))),
            ("train_seconds", .number(seconds)),
            ("history_epochs", .number(Double(history.count))),
            ("epochs", .array(epochs)),
            ("final", object(finalMembers)),
        ])
    }
}

/// JSON helpers.
private func number(_ value: Double) -> JSONValue { value.isFinite ? .number(value) : .null }
private func object(_ members: [JSONObject.Member]) -> JSONValue { .object(JSONObject(members)) }

/// `experiment --seed`.
enum ExperimentSeed: SeedDefault {
    static let seed: UInt64 = 1
    static let help = "Training seed (mc-vs-scaling: mask seeds derive from it)."
}
