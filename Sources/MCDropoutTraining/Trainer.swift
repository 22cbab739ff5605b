public import MCDropout
public import MCDropoutData
import MCDropoutEvaluation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Everything that defines a training run; with the same configuration and BLAS thread count the resulting weights
/// are byte-identical.
public struct TrainingConfiguration: Sendable, Equatable {
    /// Widths of the network, e.g. `[784, 512, 512, 10]`.
    public var layerSizes: [Int]
    /// One dropout probability per dense layer input (the first applies to the pixels).
    public var dropoutProbabilities: [Float]
    /// Weight initialisation.
    public var initialization: WeightInitialization = .he
    /// The update rule.
    public var optimizer: OptimizerKind = .sgd(momentum: 0.9, nesterov: false)
    /// The base learning rate.
    public var learningRate: Double = 0.05
    /// How the learning rate changes over epochs.
    public var schedule: LearningRateSchedule = .constant
    /// L2 weight decay.
    public var weightDecay: Float = 0
    /// Max-norm constraint on each unit's incoming weights.
    public var maxNorm: Float?
    /// Number of passes over the training set.
    public var epochs: Int = 10
    /// Examples per mini-batch.
    public var batchSize: Int = 128
    /// Seeds initialisation, shuffling, augmentation and dropout masks (separate streams of one seed).
    public var seed: UInt64 = 1
    /// Pixels are divided by this before the first layer.
    public var inputScale: Float = 255
    /// Random translations of up to this many pixels in each direction (0 disables).
    public var maximumShift: Int = 0
    /// Mirror images left–right with probability ½ (for Fashion-MNIST, not digits).
    public var horizontalFlip: Bool = false
    /// Random rotations about the image centre, uniform in ±this many degrees, with bilinear interpolation
    /// (0 disables; then the augmentation stream and the batches are exactly those of earlier versions).
    public var maximumRotation: Float = 0
    /// Image side length, for augmentation and the input transform (28 for MNIST-style sets).
    public var imageSide: Int = 28
    /// The model's input step (`input.transform`), applied to every training image after augmentation and to the
    /// validation images, as the server will apply it; nil: none.
    public var inputTransform: InputTransform?

    /// Creates a configuration with the given architecture and defaults for the rest.
    public init(layerSizes: [Int], dropoutProbabilities: [Float]) {
        self.layerSizes = layerSizes
        self.dropoutProbabilities = dropoutProbabilities
    }

    /// How the trained model's pixels become its inputs (``inputScale`` and ``inputTransform``), as its file will say.
    public var inputPreparation: InputPreparation {
        InputPreparation(scale: inputScale, transform: inputTransform, imageSide: inputTransform == nil ? 0 : imageSide)
    }
}

/// One epoch's numbers, as saved in the training history.
public struct EpochRecord: Sendable, Equatable {
    public var epoch: Int
    public var learningRate: Double
    public var trainLoss: Double
    public var trainAccuracy: Double
    /// Dropout-off loss and accuracy on the validation split, when there is one.
    public var validationLoss: Double?
    public var validationAccuracy: Double?
    public var seconds: Double
}

/// What the training loop reports while it runs.
public enum TrainingEvent: Sendable {
    /// A mini-batch finished: running means over the epoch so far and throughput.
    case batch(epoch: Int, batch: Int, batchCount: Int, loss: Double, accuracy: Double, imagesPerSecond: Double)
    /// An epoch finished.
    case epoch(EpochRecord)
}

/// The mini-batch training loop.
public struct Trainer: Sendable {
    /// The run's configuration.
    public let configuration: TrainingConfiguration

    /// Creates a trainer.
    public init(configuration: TrainingConfiguration) {
        precondition(configuration.batchSize >= 1 && configuration.epochs >= 1, "batch size and epochs must be ≥ 1")
        self.configuration = configuration
    }

    /// Named sub-streams of the seed.
    enum Stream: UInt64 {
        case initialization = 1
        case shuffling, augmentation, dropout
    }

    /// Trains a fresh network on `training`, evaluating on `validation` (dropout off) after each epoch.
    ///
    /// `afterEpoch` sees the network as it stands after each epoch, before the `.epoch` event is reported, so that
    /// experiments can measure more than the history holds (for example test accuracy per epoch).
    public func train(
        on training: LabeledImages, validation: LabeledImages?,
        afterEpoch: (_ model: DropoutMLP, _ record: EpochRecord) -> Void = { _, _ in },
        progress: (TrainingEvent) -> Void
    ) -> (model: DropoutMLP, history: [EpochRecord]) {
        let configuration = self.configuration
        var initializer = RandomSource(seed: configuration.seed, stream: Stream.initialization.rawValue)
        var model = DropoutMLP(
            layerSizes: configuration.layerSizes, dropoutProbabilities: configuration.dropoutProbabilities,
            initialization: configuration.initialization, using: &initializer)
        var optimizer = Optimizer(
            kind: configuration.optimizer, weightDecay: configuration.weightDecay, maxNorm: configuration.maxNorm,
            for: model)
        var shuffler = RandomSource(seed: configuration.seed, stream: Stream.shuffling.rawValue)
        var augmenter = RandomSource(seed: configuration.seed, stream: Stream.augmentation.rawValue)
        var dropoutSource = RandomSource(seed: configuration.seed, stream: Stream.dropout.rawValue)
        var workspace = TrainingWorkspace(for: model)
        var gradients = Gradients(like: model)
        var batch = Matrix(rows: 0, columns: training.pixelCount)
        var labels: [Int] = []
        var order = Array(0..<training.count)
        var history: [EpochRecord] = []
        let batchCount = (training.count + configuration.batchSize - 1) / configuration.batchSize
        let clock = ContinuousClock()

        for epoch in 1...configuration.epochs {
            let start = clock.now
            let rate = configuration.schedule.learningRate(
                base: configuration.learningRate, epoch: epoch, epochCount: configuration.epochs)
            order.shuffle(using: &shuffler)
            var lossSum: Double = 0
            var correct = 0
            var seen = 0
            for batchIndex in 0..<batchCount {
                let lower = batchIndex * configuration.batchSize
                let upper = min(lower + configuration.batchSize, training.count)
                fillBatch(&batch, labels: &labels, from: training, indices: order[lower..<upper], using: &augmenter)
                let evaluation = model.trainingStep(
                    input: batch, labels: labels, workspace: &workspace, gradients: &gradients,
                    using: &dropoutSource)
                optimizer.update(&model, with: gradients, learningRate: Float(rate))
                lossSum += evaluation.meanLoss * Double(labels.count)
                correct += evaluation.correctCount
                seen += labels.count
                let elapsed = Self.seconds(clock.now - start)
                progress(
                    .batch(
                        epoch: epoch, batch: batchIndex + 1, batchCount: batchCount, loss: lossSum / Double(seen),
                        accuracy: Double(correct) / Double(seen), imagesPerSecond: Double(seen) / max(elapsed, 1e-9)))
            }
            var record = EpochRecord(
                epoch: epoch, learningRate: rate, trainLoss: lossSum / Double(seen),
                trainAccuracy: Double(correct) / Double(seen), validationLoss: nil, validationAccuracy: nil,
                seconds: 0)
            if let validation, validation.count > 0 {
                let evaluation = Evaluator.deterministic(
                    model, on: validation, input: configuration.inputPreparation)
                record.validationLoss = evaluation.meanLoss
                record.validationAccuracy = evaluation.accuracy
            }
            record.seconds = Self.seconds(clock.now - start)
            history.append(record)
            afterEpoch(model, record)
            progress(.epoch(record))
        }
        return (model, history)
    }

    /// Copies the selected examples into `batch`, scaled, (optionally) augmented, then moved by the input transform.
    func fillBatch(
        _ batch: inout Matrix, labels: inout [Int], from data: LabeledImages, indices: ArraySlice<Int>,
        using generator: inout RandomSource
    ) {
        let width = data.pixelCount
        let scale = 1 / configuration.inputScale
        batch.resize(rows: indices.count, columns: width)
        labels.removeAll(keepingCapacity: true)
        let side = configuration.imageSide
        let shift = configuration.maximumShift
        let rotation = configuration.maximumRotation
        let augment = (shift > 0 || configuration.horizontalFlip || rotation > 0) && side * side == width
        let recenters = configuration.inputTransform == .centerOfMass
        precondition(!recenters || side * side == width, "the input transform needs square images of imageSide")
        batch.storage.withUnsafeMutableBufferPointer { out in
            data.pixels.withUnsafeBufferPointer { pixels in
                for (row, example) in indices.enumerated() {
                    labels.append(Int(data.labels[example]))
                    let source = example * width
                    let target = row * width
                    // After the augmentation, so the network trains on what the server will feed it.
                    defer {
                        if recenters {
                            CenterOfMass.recenter(
                                UnsafeMutableBufferPointer(rebasing: out[target..<(target + width)]), side: side)
                        }
                    }
                    guard augment else {
                        for column in 0..<width { out[target + column] = Float(pixels[source + column]) * scale }
                        continue
                    }
                    let dx = shift > 0 ? Int(generator.next() % UInt64(2 * shift + 1)) - shift : 0
                    let dy = shift > 0 ? Int(generator.next() % UInt64(2 * shift + 1)) - shift : 0
                    let flip = configuration.horizontalFlip && generator.next() & 1 == 1
                    if rotation > 0 {
                        let degrees = (2 * generator.nextUnitFloat() - 1) * rotation
                        Self.rotate(
                            pixels.baseAddress! + source, side: side, degrees: degrees, shift: (dx, dy), flip: flip,
                            scale: scale, into: out.baseAddress! + target)
                        continue
                    }
                    for y in 0..<side {
                        let sy = y - dy
                        for x in 0..<side {
                            var sx = x - dx
                            if flip { sx = side - 1 - sx }
                            let inside = sy >= 0 && sy < side && sx >= 0 && sx < side
                            out[target + y * side + x] = inside ? Float(pixels[source + sy * side + sx]) * scale : 0
                        }
                    }
                }
            }
        }
    }

    /// Writes one `side × side` image rotated by `degrees` (counter-clockwise, about the centre, bilinear, zero
    /// outside), then shifted by `shift` pixels and optionally mirrored, scaled by `scale` — the same geometry as the
    /// shift benchmark's ``ImageShift/rotated(_:height:width:degrees:)`` for a pure rotation.
    static func rotate(
        _ image: UnsafePointer<UInt8>, side: Int, degrees: Float, shift: (x: Int, y: Int), flip: Bool, scale: Float,
        into output: UnsafeMutablePointer<Float>
    ) {
        let radians = degrees * Float.pi / 180
        let (cosine, sine) = (Float(cos(Double(radians))), Float(sin(Double(radians))))
        let centre = Float(side - 1) / 2
        func pixel(_ y: Int, _ x: Int) -> Float {
            guard y >= 0, y < side, x >= 0, x < side else { return 0 }
            return Float(image[y * side + x])
        }
        for y in 0..<side {
            for x in 0..<side {
                // Undo the mirror and the shift, then the rotation.
                let unflipped = flip ? side - 1 - x : x
                let dy = Float(y - shift.y) - centre
                let dx = Float(unflipped - shift.x) - centre
                let sourceY = centre + cosine * dy - sine * dx
                let sourceX = centre + sine * dy + cosine * dx
                let y0 = Int(sourceY.rounded(.down))
                let x0 = Int(sourceX.rounded(.down))
                let fy = sourceY - Float(y0)
                let fx = sourceX - Float(x0)
                let value =
                    (1 - fy) * ((1 - fx) * pixel(y0, x0) + fx * pixel(y0, x0 + 1))
                    + fy * ((1 - fx) * pixel(y0 + 1, x0) + fx * pixel(y0 + 1, x0 + 1))
                output[y * side + x] = value * scale
            }
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
    }
}
