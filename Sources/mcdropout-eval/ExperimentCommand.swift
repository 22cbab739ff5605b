import ArgumentParser
import MCDropout
import MCDropoutCommandLine
import MCDropoutData
import MCDropoutEvaluation
import MCDropoutTraining

/// `mcdropout-eval experiment NAME`: the seeds' experiments, trained with the library ``Trainer``.
struct ExperimentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment",
        abstract:
            "Run one of the seeds' experiments and write <output-dir>/experiments/<name>.json (--force replaces).",
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
        let bytes: [UInt8]
        if name == "mc-vs-scaling" {
            let file = try ModelFile(decoding: InputFile.bytes(model))
            let directory = data.directory(for: file.metadata.dataset)
            let test = try DatasetLoader.load(directory: directory, split: .test)
            try KnownDataset.check(test, split: .test, from: directory, expected: file.metadata.dataset)
            let counts = sampleCounts.split(separator: ",").compactMap { Int($0) }
            bytes = try ScalingExperiment.run(
                file, modelPath: model, test: test.prefix(limit), sampleCounts: counts, repeats: repeats,
                seed: seedOptions.seed, log: log
            ).encoded()
        } else {
            let directory = data.directory(for: "mnist")
            let training = try DatasetLoader.load(directory: directory, split: .train)
            let test = try DatasetLoader.load(directory: directory, split: .test)
            try KnownDataset.check(training, split: .train, from: directory, expected: "mnist")
            let experiments = TrainingExperiments(
                epochs: epochs, seed: seedOptions.seed, evaluateEvery: evaluateEvery, weightDecay: weightDecay,
                log: log)
            let result: TrainingExperiment
            switch name {
            case "overfitting": result = try experiments.overfitting(training: training, test: test)
            case "small-net": result = try experiments.smallNet(training: training, test: test)
            default: result = try experiments.deep(training: training, test: test)
            }
            bytes = try result.encoded()
        }
        try OutputFile.write(bytes, to: path)
        log("wrote \(path)")
    }
}

/// `experiment --seed`.
enum ExperimentSeed: SeedDefault {
    static let seed: UInt64 = 1
    static let help = "Training seed (mc-vs-scaling: mask seeds derive from it)."
}
