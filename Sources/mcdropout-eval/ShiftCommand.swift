import ArgumentParser
import Foundation
import MCDropout
import MCDropoutCommandLine
import MCDropoutData
import MCDropoutEvaluation

/// `mcdropout-eval shift`: the shift and out-of-distribution benchmark of one model.
struct ShiftCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shift",
        abstract: "Rotated test images and out-of-distribution sets: accuracy, calibration, flags and OOD detection.",
        discussion: """
            Evaluates the model with dropout off and with --samples passes on its test set rotated from 0° to 180°
            in 15° steps, on six milder shifts of it (moved 2 px right and down, moved 4 px left, ink × 0.5, 3 × 3
            dilation, 3 × 3 blur, Gaussian noise σ = 0.1 of the pixel range), on the other data set's test images
            and on uniform noise, and writes shift-NAME.json,
            shift-NAME.svg and shift-NAME.md (the report section) into --output-dir.

            Example:
              mcdropout-eval shift --model models/mnist.safetensors --limit 2000
            """)

    @Option(help: "The model file.")
    var model: String
    @OptionGroup var data: DataDirectoryOptions
    @Option(help: "Out-of-distribution data set (default: fashion-mnist for mnist and vice versa).")
    var oodDataset: String?
    @Option(help: "Out-of-distribution test set directory (default data/<ood-dataset>).", completion: .directory)
    var oodDataDir: String?
    /// The spelling before `--data-dir`: the directory holding both `<dataset>` directories. Kept, hidden, so that
    /// older command lines run unchanged.
    @Option(help: .hidden)
    var dataRoot: String?
    @Option(help: "Images per set (0 = the whole test set).")
    var limit = 2000
    @Option(help: "Rotation step in degrees (0 … 180).")
    var rotationStep = 15.0
    @Option(help: "Monte-Carlo passes per image.")
    var samples = 100
    @Option(help: "First per-image seed (the noise images use it too).")
    var seed: UInt64 = 2026
    @Option(help: "OpenBLAS threads.")
    var threads = 1
    @Option(help: "Directory for the results.")
    var outputDir = "docs/evaluation"
    @Option(help: "Name of the results (default: the model's dataset).")
    var name: String?

    func validate() throws {
        guard limit >= 0, samples >= 1, threads >= 1 else {
            throw ValidationError("--limit ≥ 0, --samples, --threads ≥ 1")
        }
        guard dataRoot == nil || (data.dataDir == nil && oodDataDir == nil) else {
            throw ValidationError(
                "--data-root (the older spelling) cannot be combined with --data-dir or --ood-data-dir")
        }
        guard rotationStep > 0, rotationStep <= 180 else {
            throw ValidationError("--rotation-step must be in (0, 180]")
        }
    }

    func run() throws {
        BLAS.setThreadCount(threads)
        let file = try ModelFile(decoding: InputFile.bytes(model))
        let dataset = file.metadata.dataset
        let classes = file.model.outputSize
        let oodName = oodDataset ?? (dataset == "mnist" ? "fashion-mnist" : "mnist")
        let testDirectory = dataRoot.map { "\($0)/\(dataset)" } ?? data.directory(for: dataset)
        let oodDirectory = dataRoot.map { "\($0)/\(oodName)" } ?? oodDataDir ?? "data/\(oodName)"
        let test = try DatasetLoader.load(directory: testDirectory, split: .test, classCount: classes)
        let ood = try DatasetLoader.load(directory: oodDirectory, split: .test, classCount: 10)
        let count = limit == 0 ? test.count : min(limit, test.count)
        let clean = test.subset(0..<count)
        let side = Int(Double(test.pixelCount).squareRoot())
        guard side * side == test.pixelCount else { throw ValidationError("the images are not square") }
        let labels = clean.labels.map(Int.init)
        var sets: [ShiftBenchmark.ImageSet] = []
        for angle in stride(from: 0.0, through: 180.0, by: rotationStep) {
            let pixels =
                angle == 0
                ? clean.pixels : ImageShift.rotated(clean.pixels, height: side, width: side, degrees: angle)
            sets.append(.init(name: "rotated \(Int(angle))°", pixels: pixels, labels: labels, rotation: angle))
        }
        // Other shifts that keep the images recognisable (issue 12's "mild shift"), labelled like the clean set.
        let mild: [(String, [UInt8])] = [
            ("moved 2 px", ImageShift.translated(clean.pixels, height: side, width: side, right: 2, down: 2)),
            ("moved 4 px", ImageShift.translated(clean.pixels, height: side, width: side, right: -4, down: 0)),
            ("faint ink ×0.5", ImageShift.inkScaled(clean.pixels, factor: 0.5)),
            ("bold strokes", ImageShift.dilated(clean.pixels, height: side, width: side)),
            ("blurred 3×3", ImageShift.blurred(clean.pixels, height: side, width: side)),
            ("gaussian noise σ 0.1", ImageShift.gaussianNoise(clean.pixels, deviation: 0.1, seed: seed)),
        ]
        for (name, pixels) in mild { sets.append(.init(name: name, pixels: pixels, labels: labels)) }
        sets.append(.init(name: oodName, pixels: ood.subset(0..<min(count, ood.count)).pixels, labels: nil))
        sets.append(
            .init(
                name: "uniform noise",
                pixels: ImageShift.uniformNoise(count: count, pixelCount: test.pixelCount, seed: seed),
                labels: nil))
        log("shift benchmark of \(model): \(sets.count) sets of \(count) images, dropout off and N=\(samples)")
        let report = try ShiftBenchmark.run(file: file, sets: sets, sampleCount: samples, firstSeed: seed)
        let stem = "\(outputDir)/shift-\(name ?? dataset)"
        try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(report).write(to: URL(fileURLWithPath: "\(stem).json"))
        try ShiftFigure.svg(report).write(toFile: "\(stem).svg", atomically: true, encoding: .utf8)
        let markdown = ShiftReport.markdown(
            report, model: model, figure: "shift-\(name ?? dataset).svg", command: command)
        try markdown.write(toFile: "\(stem).md", atomically: true, encoding: .utf8)
        log("wrote \(stem).json, .svg and .md")
    }

    /// The command that regenerates these results, for the report.
    var command: String {
        var parts = ["mcdropout-eval shift --model \(model) --limit \(limit)"]
        if samples != 100 { parts.append("--samples \(samples)") }
        if seed != 2026 { parts.append("--seed \(seed)") }
        if let oodDataset { parts.append("--ood-dataset \(oodDataset)") }
        return parts.joined(separator: " ")
    }
}
