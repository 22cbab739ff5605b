import ArgumentParser
import Foundation
import MCDropout
import MCDropoutCommandLine
import MCDropoutData
import MCDropoutEvaluation
import MCDropoutJSON
import MCDropoutTraining

/// `mcdropout-train`: trains a dropout MLP on MNIST or Fashion-MNIST and writes a safetensors model.
@main
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcdropout-train",
        abstract: "Train a dropout MLP on MNIST or Fashion-MNIST and write a safetensors model.",
        discussion: """
            Data comes from IDX files (raw or .gz) in --data-dir, which
            scripts/fetch-data.sh creates; files of the other known data set are
            refused. The model is written to --output (required; an existing file
            is replaced only with --force), its per-epoch history beside it as
            <stem>.history.json. Both paths are checked before training starts.
            The same seed and --threads give byte-identical weights. A terminal
            shows a live progress bar; otherwise one line per epoch.

            Examples:
              # a quick smoke run on 2 000 images
              mcdropout-train --limit 2000 --epochs 2 --validation-count 0 \\
                --output /tmp/smoke.safetensors
              # p = 0.5 after each hidden layer, 60 epochs
              mcdropout-train --dataset mnist --hidden 512,512 \\
                --dropout 0,0.5,0.5 --epochs 60 --output my-mnist.safetensors
              # Fashion-MNIST with Adam, a cosine schedule, shifts and flips
              mcdropout-train --dataset fashion-mnist --optimizer adam \\
                --learning-rate 0.001 --schedule cosine:0.01 --shift 2 --flip \\
                --output my-fashion.safetensors

            The committed models' exact commands are in models/README.md.

            Shell completion (bash, zsh or fish):
              mcdropout-train --generate-completion-script zsh > _mcdropout-train
            """,
        version: mcdropoutVersion)

    @Option(help: "Data set: mnist or fashion-mnist.", completion: .list(["mnist", "fashion-mnist"]))
    var dataset: String = "mnist"
    @OptionGroup var data: DataDirectoryOptions
    @Option(help: "Hidden layer widths, comma-separated.")
    var hidden: String = "512,512"
    @Option(
        parsing: .unconditional,
        help:
            "Dropout probability per dense layer input, comma-separated; the first applies to the pixels. A single value applies to every hidden layer with input dropout 0."
    )
    var dropout: String = "0.5"
    @Option(help: "Weight initialisation: he or xavier.", completion: .list(["he", "xavier"]))
    var initialization: String = "he"
    @Option(
        help: "Optimizer: sgd, momentum, nesterov or adam.", completion: .list(["sgd", "momentum", "nesterov", "adam"]))
    var optimizer: String = "nesterov"
    @Option(parsing: .unconditional, help: "Base learning rate.")
    var learningRate: Double = 0.05
    @Option(parsing: .unconditional, help: "Momentum for momentum/nesterov.")
    var momentum: Float = 0.9
    @Option(parsing: .unconditional, help: "Adam β1.")
    var beta1: Float = 0.9
    @Option(parsing: .unconditional, help: "Adam β2.")
    var beta2: Float = 0.999
    @Option(parsing: .unconditional, help: "Adam ε.")
    var epsilon: Float = 1e-8
    @Option(parsing: .unconditional, help: "L2 weight decay coefficient.")
    var weightDecay: Float = 0
    @Option(parsing: .unconditional, help: "Max-norm constraint on each unit's incoming weights (0 = off).")
    var maxNorm: Float = 0
    @Option(help: "Learning-rate schedule: constant, exponential:G, step:N:F or cosine:F.")
    var schedule: String = "constant"
    @Option(parsing: .unconditional, help: "Epochs.")
    var epochs: Int = 10
    @Option(parsing: .unconditional, help: "Mini-batch size.")
    var batchSize: Int = 128
    @OptionGroup var seedOptions: SeedOptions<TrainingSeed>
    @OptionGroup var threadOptions: ThreadOptions
    @Option(
        parsing: .unconditional,
        help: "Training images held out (from the end of the training set) for per-epoch validation.")
    var validationCount: Int = 5000
    @Option(parsing: .unconditional, help: "Use only the first N training images (for quick runs; 0 = all).")
    var limit: Int = 0
    @Option(parsing: .unconditional, help: "Random translation augmentation of up to this many pixels (0 = off).")
    var shift: Int = 0
    @Option(
        parsing: .unconditional,
        help: "Random rotation augmentation, uniform in ± this many degrees (0 = off; digits tolerate about 15).")
    var rotate: Float = 0
    @Flag(help: "Random left–right flips (clothing, not digits).")
    var flip = false
    @Option(
        help: """
            The model's input step, stored in the file (input.transform) and applied by the server before every \
            prediction; training and the test metrics see it too: center_of_mass moves each image so that its \
            centre of mass is at the centre (MNIST-style digits) (default: none).
            """,
        completion: .list(InputTransform.names))
    var inputTransform: String?
    @Option(
        parsing: .unconditional,
        help: """
            Train a deep ensemble of this many networks, member k with seed SEED + k (member 0 is the network \
            --ensemble 1 trains), into one file; the server spreads a request's passes over them.
            """)
    var ensemble: Int = 1
    @Option(
        parsing: .unconditional, help: "Monte-Carlo passes for the final test-set evaluation stored in the metadata.")
    var mcSamples: Int = 100
    @Option(
        help: "Output model path; <stem>.history.json goes beside it.", completion: .file(extensions: ["safetensors"]))
    var output: String
    @OptionGroup var forceOptions: ForceOptions
    @OptionGroup(title: "Tabular data (--csv)") var tabular: TabularOptions

    var seed: UInt64 { seedOptions.seed }
    var threads: Int { threadOptions.threads }
    /// The history file beside the model.
    var historyPath: String {
        URL(fileURLWithPath: output).deletingPathExtension().appendingPathExtension("history.json").path
    }

    func validate() throws {
        guard KnownDataset(rawValue: dataset) != nil else {
            throw ValidationError("--dataset must be mnist or fashion-mnist")
        }
        guard epochs >= 1, batchSize >= 1, mcSamples >= 1, ensemble >= 1 else {
            throw ValidationError("--epochs, --batch-size, --mc-samples and --ensemble must be ≥ 1")
        }
        guard LearningRateSchedule(name: schedule) != nil else {
            throw ValidationError("--schedule '\(schedule)' is not understood")
        }
        guard WeightInitialization(rawValue: initialization) != nil else {
            throw ValidationError("--initialization must be he or xavier")
        }
        // Numbers are checked here, before any data is read: a typo must not cost a training run.
        let widths = try parseList(hidden, name: "--hidden", as: Int.self)
        guard !widths.isEmpty, widths.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--hidden widths must be positive")
        }
        let probabilities = try parseList(dropout, name: "--dropout", as: Float.self)
        if let bad = probabilities.first(where: { !($0 >= 0 && $0 < 1) }) {
            throw ValidationError("--dropout values must be in [0, 1), got \(bad)")
        }
        guard probabilities.count == 1 || probabilities.count == widths.count + 1 else {
            throw ValidationError("--dropout needs one value, or one per dense layer (\(widths.count + 1))")
        }
        guard learningRate > 0, learningRate.isFinite else { throw ValidationError("--learning-rate must be > 0") }
        guard weightDecay >= 0, maxNorm >= 0 else { throw ValidationError("--weight-decay and --max-norm must be ≥ 0") }
        guard (0..<1).contains(momentum), (0..<1).contains(beta1), (0..<1).contains(beta2), epsilon > 0 else {
            throw ValidationError("--momentum, --beta1 and --beta2 must be in [0, 1), --epsilon > 0")
        }
        guard validationCount >= 0, limit >= 0, shift >= 0 else {
            throw ValidationError("--validation-count, --limit and --shift must be ≥ 0")
        }
        guard rotate >= 0, rotate <= 180 else { throw ValidationError("--rotate must be in [0, 180] degrees") }
        if let inputTransform, InputTransform(rawValue: inputTransform) == nil {
            throw ValidationError(
                "--input-transform must be one of \(InputTransform.names.joined(separator: ", "))")
        }
    }

    func run() throws {
        if let csv = tabular.csv { return try runTabular(path: csv) }
        let known = KnownDataset(rawValue: dataset)!
        let directory = data.directory(for: dataset)
        // Everything that can fail is checked before the first epoch.
        try OutputFile.check(output, force: forceOptions.force)
        try OutputFile.check(historyPath, force: forceOptions.force)
        threadOptions.apply()
        var training = try DatasetLoader.load(directory: directory, split: .train)
        let test = try DatasetLoader.load(directory: directory, split: .test)
        try KnownDataset.check(training, split: .train, from: directory, expected: dataset)
        try KnownDataset.check(test, split: .test, from: directory, expected: dataset)
        if limit > 0 { training = training.subset(0..<min(limit, training.count)) }
        var validation: LabeledImages?
        if validationCount > 0 {
            guard validationCount < training.count else {
                throw ValidationError("--validation-count leaves no training data")
            }
            validation = training.subset((training.count - validationCount)..<training.count)
            training = training.subset(0..<(training.count - validationCount))
        }

        let widths = try parseList(hidden, name: "--hidden", as: Int.self)
        guard widths.allSatisfy({ $0 > 0 }) else { throw ValidationError("--hidden widths must be positive") }
        let sizes = [training.pixelCount] + widths + [known.labels.count]
        var probabilities = try parseList(dropout, name: "--dropout", as: Float.self)
        if probabilities.count == 1 { probabilities = [0] + Array(repeating: probabilities[0], count: widths.count) }
        guard probabilities.count == sizes.count - 1 else {
            throw ValidationError("--dropout needs one value, or one per dense layer (\(sizes.count - 1))")
        }
        guard probabilities.allSatisfy({ $0 >= 0 && $0 < 1 }) else {
            throw ValidationError("dropout must be in [0, 1)")
        }

        var configuration = TrainingConfiguration(layerSizes: sizes, dropoutProbabilities: probabilities)
        configuration.initialization = WeightInitialization(rawValue: initialization)!
        switch optimizer {
        case "sgd": configuration.optimizer = .sgd(momentum: 0, nesterov: false)
        case "momentum": configuration.optimizer = .sgd(momentum: momentum, nesterov: false)
        case "nesterov": configuration.optimizer = .sgd(momentum: momentum, nesterov: true)
        case "adam": configuration.optimizer = .adam(beta1: beta1, beta2: beta2, epsilon: epsilon)
        default: throw ValidationError("--optimizer must be sgd, momentum, nesterov or adam")
        }
        configuration.learningRate = learningRate
        configuration.schedule = LearningRateSchedule(name: schedule)!
        configuration.weightDecay = weightDecay
        configuration.maxNorm = maxNorm > 0 ? maxNorm : nil
        configuration.epochs = epochs
        configuration.batchSize = batchSize
        configuration.seed = seed
        configuration.maximumShift = shift
        configuration.horizontalFlip = flip
        configuration.maximumRotation = rotate
        if let inputTransform {
            guard InputTransform.squareSide(of: imageShape(pixelCount: training.pixelCount)) == configuration.imageSide
            else {
                throw ValidationError(
                    "--input-transform needs \(configuration.imageSide)×\(configuration.imageSide) images")
            }
            configuration.inputTransform = InputTransform(rawValue: inputTransform)
        }

        print(
            "training \(sizes.map(String.init).joined(separator: "-")) dropout \(probabilities) on \(training.count) \(dataset) images (validation \(validation?.count ?? 0)), \(threads) BLAS thread(s)"
        )
        let clock = ContinuousClock()
        let start = clock.now
        var members: [DropoutMLP] = []
        var histories: [[EpochRecord]] = []
        for member in 0..<ensemble {
            // Member k is exactly the network a single run with seed SEED + k trains.
            var memberConfiguration = configuration
            memberConfiguration.seed = seed &+ UInt64(member)
            if ensemble > 1 { print("member \(member + 1)/\(ensemble), seed \(memberConfiguration.seed)") }
            let progress = ProgressReporter(epochs: epochs, isTerminal: isatty(STDOUT_FILENO) != 0)
            let (model, history) = Trainer(configuration: memberConfiguration).train(
                on: training, validation: validation, progress: progress.report)
            members.append(model)
            histories.append(history)
        }
        let trainingSeconds = seconds(clock.now - start)

        let deterministic = Evaluator.deterministic(members, on: test, input: configuration.inputPreparation)
        let monteCarlo = Evaluator.monteCarlo(
            members, on: test, input: configuration.inputPreparation, sampleCount: mcSamples, seed: seed)
        print(
            String(
                format: "test (%d images): dropout off %.2f%% (NLL %.4f), MC N=%d %.2f%% (NLL %.4f); trained in %.1f s",
                test.count, deterministic.accuracy * 100, deterministic.meanLoss, mcSamples, monteCarlo.accuracy * 100,
                monteCarlo.meanLoss, trainingSeconds))

        let metrics = JSONObject([
            ("test_count", .number(Double(test.count))),
            ("deterministic", .object(deterministic.jsonObject)),
            (
                "monte_carlo",
                .object(
                    JSONObject(
                        monteCarlo.jsonObject.members + [
                            ("samples", .number(Double(mcSamples))), ("seed", .number(Double(seed))),
                        ]))
            ),
            ("validation_count", .number(Double(validation?.count ?? 0))),
            ("training_count", .number(Double(training.count))),
        ])
        var hyperparameters = configuration.hyperparametersJSON
        if ensemble > 1 { hyperparameters["ensemble"] = .number(Double(ensemble)) }
        var metadata = ModelMetadata(
            layerSizes: sizes, dropoutProbabilities: probabilities, labels: known.labels, dataset: dataset, seed: seed,
            inputScale: configuration.inputScale, inputShape: imageShape(pixelCount: training.pixelCount),
            hyperparameters: hyperparameters, metrics: metrics)
        metadata.inputTransform = configuration.inputTransform
        try OutputFile.write(ModelFile(members: members, metadata: metadata).encoded(), to: output)
        var history = historyJSON(histories[0], totalSeconds: trainingSeconds, blasThreads: threads)
        if ensemble > 1 {
            // One history per member, each with its seed.
            history = .object(
                JSONObject([
                    (
                        "members",
                        .array(
                            histories.enumerated().map { member, records -> JSONValue in
                                let epochs = historyJSON(records, totalSeconds: 0, blasThreads: threads)["epochs"]
                                return .object(
                                    JSONObject([
                                        ("seed", .number(Double(seed &+ UInt64(member)))), ("epochs", epochs ?? .null),
                                    ]))
                            })
                    ),
                    ("total_seconds", .number(trainingSeconds)), ("blas_threads", .number(Double(threads))),
                ]))
        }
        try OutputFile.write(history.serialized(), to: historyPath)
        print("wrote \(output) and \(historyPath)")
    }

    private func parseList<T: LosslessStringConvertible>(_ text: String, name: String, as: T.Type) throws -> [T] {
        let values = text.split(separator: ",").map { T(String($0).trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else {
            throw ValidationError("\(name): cannot parse '\(text)'")
        }
        return values.map { $0! }
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
}

/// `[side, side]` for square images (28 × 28 for MNIST), else the flat pixel count — never a shape the pixels do not
/// fill, which would make the model file unreadable.
func imageShape(pixelCount: Int) -> [Int] {
    let side = Int(Double(pixelCount).squareRoot().rounded())
    return side * side == pixelCount ? [side, side] : [pixelCount]
}

/// The trainer's `--seed`.
enum TrainingSeed: SeedDefault {
    static let seed: UInt64 = 1
    static let help = "Seed for initialisation, shuffling, augmentation and dropout masks (< 2^53)."
}
