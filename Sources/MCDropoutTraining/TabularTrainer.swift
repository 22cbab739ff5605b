import Foundation
public import MCDropout

/// Why a CSV table could not be used.
public enum TabularDataError: Error, Sendable, Equatable, CustomStringConvertible {
    case noRows
    case missingTarget(String, available: [String])
    case ragged(line: Int, expected: Int, found: Int)
    case nonNumeric(line: Int, column: String, value: String)

    public var description: String {
        switch self {
        case .noRows: return "the CSV has a header but no data rows"
        case .missingTarget(let name, let available):
            return "no column '\(name)'; columns: \(available.joined(separator: ", "))"
        case .ragged(let line, let expected, let found):
            return "line \(line) has \(found) fields, the header \(expected)"
        case .nonNumeric(let line, let column, let value):
            return "line \(line), column '\(column)': '\(value)' is not a finite number"
        }
    }
}

/// A numeric table: a header, then one row per example; one column is the target.
public struct TabularDataset: Sendable, Equatable {
    /// The feature columns' names, in order.
    public var featureNames: [String]
    /// `count × featureNames.count` values, row after row.
    public var features: [Float]
    /// One target per row: the value (regression) or the class index into ``classNames``.
    public var targets: [Float]
    /// For classification: the distinct target values, sorted numerically; empty for regression.
    public var classNames: [String]

    /// The number of rows.
    public var count: Int { targets.count }
    /// The number of features.
    public var width: Int { featureNames.count }

    /// Parses comma-separated text with a header line; every field must be a finite number.
    public init(csv text: String, target: String, isClassification: Bool) throws(TabularDataError) {
        var lines = text.split(whereSeparator: \.isNewline).map { $0.trimmedField() }.filter { !$0.isEmpty }
        guard !lines.isEmpty else { throw .noRows }
        let header = lines.removeFirst().split(separator: ",", omittingEmptySubsequences: false).map {
            String($0).trimmedField()
        }
        guard let targetIndex = header.firstIndex(of: target) else {
            throw .missingTarget(target, available: header)
        }
        guard !lines.isEmpty else { throw .noRows }
        var features: [Float] = []
        var rawTargets: [Float] = []
        for (offset, line) in lines.enumerated() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == header.count else {
                throw .ragged(line: offset + 2, expected: header.count, found: fields.count)
            }
            for (column, field) in fields.enumerated() {
                let text = String(field).trimmedField()
                guard let value = Float(text), value.isFinite else {
                    throw .nonNumeric(line: offset + 2, column: header[column], value: text)
                }
                if column == targetIndex { rawTargets.append(value) } else { features.append(value) }
            }
        }
        featureNames = header.enumerated().filter { $0.offset != targetIndex }.map(\.element)
        self.features = features
        if isClassification {
            let distinct = Array(Set(rawTargets)).sorted()
            classNames = distinct.map { $0 == $0.rounded() ? String(Int($0)) : String($0) }
            targets = rawTargets.map { Float(distinct.firstIndex(of: $0)!) }
        } else {
            classNames = []
            targets = rawTargets
        }
    }

    init(featureNames: [String], features: [Float], targets: [Float], classNames: [String]) {
        self.featureNames = featureNames
        self.features = features
        self.targets = targets
        self.classNames = classNames
    }

    /// The rows at `indices`, in that order.
    public func subset(_ indices: [Int]) -> TabularDataset {
        var rows: [Float] = []
        rows.reserveCapacity(indices.count * width)
        for index in indices { rows += features[(index * width)..<((index + 1) * width)] }
        return TabularDataset(
            featureNames: featureNames, features: rows, targets: indices.map { targets[$0] }, classNames: classNames)
    }

    /// A seeded random split: `testFraction` of the rows (at least one) for testing, the rest for training.
    public func split(testFraction: Double, seed: UInt64) -> (training: TabularDataset, test: TabularDataset) {
        var order = Array(0..<count)
        var generator = RandomSource(seed: seed, stream: 7)
        order.shuffle(using: &generator)
        let testCount = max(1, min(count - 1, Int((Double(count) * testFraction).rounded())))
        return (subset(Array(order[testCount...])), subset(Array(order[..<testCount])))
    }

    /// Per-feature mean and standard deviation (population; 1 where a column is constant).
    public func featureStatistics() -> (mean: [Float], std: [Float]) {
        var mean = [Double](repeating: 0, count: width)
        var square = [Double](repeating: 0, count: width)
        for row in 0..<count {
            for column in 0..<width {
                let value = Double(features[row * width + column])
                mean[column] += value
                square[column] += value * value
            }
        }
        let n = Double(count)
        let means = mean.map { $0 / n }
        let deviations = zip(square, means).map { (s, m) -> Float in
            let variance = max(s / n - m * m, 0)
            return variance > 1e-12 ? Float(variance.squareRoot()) : 1
        }
        return (means.map(Float.init), deviations)
    }
}

/// A tabular training run: architecture, loss and Adam settings.
public struct TabularTrainingConfiguration: Sendable, Equatable {
    public var hiddenSizes: [Int]
    /// One dropout probability per dense layer input.
    public var dropoutProbabilities: [Float]
    public var activation: HiddenActivation = .relu
    /// Classification, regression (MSE) or a mean–log-variance head (Gaussian NLL).
    public var head: OutputHead = .classification
    public var epochs = 200
    public var batchSize = 32
    public var learningRate: Double = 1e-3
    public var weightDecay: Float = 0
    public var seed: UInt64 = 1

    public init(hiddenSizes: [Int], dropoutProbabilities: [Float]) {
        self.hiddenSizes = hiddenSizes
        self.dropoutProbabilities = dropoutProbabilities
    }
}

/// Trains a dropout MLP on a ``TabularDataset`` with Adam.
///
/// Features are standardised with the training set's mean and standard deviation (returned, for the model file's
/// `input.mean` / `input.std`); regression targets are standardised too while training, and the scaling is then folded
/// into the last layer (`y = σ_y·z + μ_y`; a log variance gains `2 ln σ_y`), so the network answers in target units.
public enum TabularTrainer {
    /// The trained network, the input statistics and the mean training loss per epoch.
    public static func train(
        _ configuration: TabularTrainingConfiguration, on data: TabularDataset
    ) -> (model: DropoutMLP, inputMean: [Float], inputStd: [Float], losses: [Double]) {
        let outputs: Int
        switch configuration.head {
        case .classification: outputs = data.classNames.count
        case .regression: outputs = 1
        case .meanLogVariance: outputs = 2
        }
        let sizes = [data.width] + configuration.hiddenSizes + [outputs]
        var initializer = RandomSource(seed: configuration.seed, stream: 1)
        var model = DropoutMLP(
            layerSizes: sizes, dropoutProbabilities: configuration.dropoutProbabilities,
            initialization: configuration.activation.isReLU ? .he : .xavier, activation: configuration.activation,
            using: &initializer)
        let (mean, std) = data.featureStatistics()
        var normalised = data.features
        for index in normalised.indices {
            normalised[index] = (normalised[index] - mean[index % data.width]) / std[index % data.width]
        }
        var targetMean: Double = 0
        var targetDeviation: Double = 1
        if !configuration.head.isClassification {
            targetMean = data.targets.reduce(0) { $0 + Double($1) } / Double(data.count)
            let variance = data.targets.reduce(0) { $0 + (Double($1) - targetMean) * (Double($1) - targetMean) }
            targetDeviation = max((variance / Double(data.count)).squareRoot(), 1e-12)
        }
        var optimizer = Optimizer(
            kind: .adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8), weightDecay: configuration.weightDecay, for: model)
        var shuffler = RandomSource(seed: configuration.seed, stream: 2)
        var dropoutSource = RandomSource(seed: configuration.seed, stream: 4)
        var workspace = GeneralTrainingWorkspace(for: model)
        var gradients = Gradients(like: model)
        var order = Array(0..<data.count)
        var losses: [Double] = []
        for _ in 0..<configuration.epochs {
            order.shuffle(using: &shuffler)
            var total: Double = 0
            var lower = 0
            while lower < data.count {
                let rows = Array(order[lower..<min(lower + configuration.batchSize, data.count)])
                lower += rows.count
                var batch = Matrix(rows: rows.count, columns: data.width)
                for (row, example) in rows.enumerated() {
                    for column in 0..<data.width {
                        batch[row, column] = normalised[example * data.width + column]
                    }
                }
                let targets: TrainingTargets
                if configuration.head.isClassification {
                    targets = .classes(rows.map { Int(data.targets[$0]) })
                } else {
                    let values = rows.map { Float((Double(data.targets[$0]) - targetMean) / targetDeviation) }
                    let matrix = Matrix(rows: rows.count, columns: 1, storage: values)
                    targets =
                        configuration.head == .regression
                        ? .meanSquaredError(matrix) : .gaussianNegativeLogLikelihood(matrix)
                }
                let step = model.trainingStep(
                    input: batch, targets: targets, workspace: &workspace, gradients: &gradients,
                    using: &dropoutSource)
                optimizer.update(&model, with: gradients, learningRate: Float(configuration.learningRate))
                total += step.meanLoss * Double(rows.count)
            }
            losses.append(total / Double(data.count))
        }
        if !configuration.head.isClassification {
            // Back to target units: the mean output scales and shifts, a log variance shifts by 2 ln σ_y.
            let last = model.layers.count - 1
            let scale = Float(targetDeviation)
            for column in 0..<model.layers[last].inputSize { model.layers[last].weight[0, column] *= scale }
            model.layers[last].bias[0] = model.layers[last].bias[0] * scale + Float(targetMean)
            if configuration.head == .meanLogVariance {
                model.layers[last].bias[1] += Float(2 * log(targetDeviation))
            }
        }
        return (model, mean, std, losses)
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs and carriage returns.
    fileprivate func trimmedField() -> String {
        String(
            drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed().drop { $0 == " " || $0 == "\t" || $0 == "\r" }
                .reversed())
    }
}
