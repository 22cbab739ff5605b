import ArgumentParser
import Foundation
import MCDropout
import MCDropoutCommandLine
import MCDropoutEvaluation
import MCDropoutJSON
import MCDropoutTraining

/// `mcdropout-train --csv`: the options of training on a numeric CSV table instead of an image data set.
struct TabularOptions: ParsableArguments {
    @Option(help: "Train on this CSV (a header, then numeric rows) instead of --dataset.", completion: .file())
    var csv: String?
    @Option(help: "With --csv: the target column's name.")
    var target: String = "target"
    @Option(help: "With --csv: classification or regression.", completion: .list(["classification", "regression"]))
    var task: String = "classification"
    @Option(help: "With --csv --task regression: mse, or gaussian-nll for a mean and log-variance head.")
    var loss: String = "mse"
    @Option(help: "With --csv: relu, leaky_relu, gelu, gelu_tanh, tanh, sigmoid or silu.")
    var activation: String = "relu"
    @Option(parsing: .unconditional, help: "With --csv and leaky_relu: the negative slope.")
    var negativeSlope: Float = 0.01
    @Option(parsing: .unconditional, help: "With --csv: the fraction of rows held out (seeded) as the test set.")
    var testFraction: Double = 0.2

    /// The output head the options ask for.
    func head() throws -> OutputHead {
        switch (task, loss) {
        case ("classification", _): return .classification
        case ("regression", "mse"): return .regression
        case ("regression", "gaussian-nll"): return .meanLogVariance
        default: throw ValidationError("--task must be classification or regression, --loss mse or gaussian-nll")
        }
    }
}

extension TrainCommand {
    /// Trains on `--csv` with Adam and writes the model with its test metrics (and the input normalisation).
    func runTabular(path: String) throws {
        try OutputFile.check(output, force: forceOptions.force)
        let head = try tabular.head()
        guard let activation = HiddenActivation(name: tabular.activation, negativeSlope: tabular.negativeSlope) else {
            throw ValidationError("--activation must be one of \(HiddenActivation.names.joined(separator: ", "))")
        }
        guard tabular.testFraction > 0, tabular.testFraction < 1 else {
            throw ValidationError("--test-fraction must be in (0, 1)")
        }
        threadOptions.apply()
        let text = try InputFile.text(path)
        let table: TabularDataset
        do {
            table = try TabularDataset(csv: text, target: tabular.target, isClassification: head.isClassification)
        } catch {
            throw ValidationError("\(path): \(error.description)")
        }
        let (training, test) = table.split(testFraction: tabular.testFraction, seed: seed)
        let widths = hidden.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        var probabilities = dropout.split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
        if probabilities.count == 1 { probabilities = [0] + Array(repeating: probabilities[0], count: widths.count) }
        var configuration = TabularTrainingConfiguration(hiddenSizes: widths, dropoutProbabilities: probabilities)
        configuration.activation = activation
        configuration.head = head
        configuration.epochs = epochs
        configuration.batchSize = batchSize
        configuration.learningRate = learningRate
        configuration.weightDecay = weightDecay
        configuration.seed = seed
        print(
            "training \(table.width)-\(hidden)-? \(activation.name) \(tabular.task) on \(training.count) rows of "
                + "\(path) (test \(test.count)), Adam lr \(learningRate), \(epochs) epochs")
        let (model, inputMean, inputStd, losses) = TabularTrainer.train(configuration, on: training)
        print(String(format: "final training loss %.4f", losses.last ?? .nan))

        var metadata = ModelMetadata(
            layerSizes: model.layerSizes, dropoutProbabilities: model.dropoutProbabilities, labels: table.classNames,
            dataset: URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent, seed: seed, inputScale: 1,
            hyperparameters: JSONObject([
                ("optimizer", .string("adam")), ("learning_rate", .number(learningRate)),
                ("epochs", .number(Double(epochs))), ("batch_size", .number(Double(batchSize))),
                ("loss", .string(head.isClassification ? "cross_entropy" : tabular.loss)),
                ("target", .string(tabular.target)), ("test_fraction", .number(tabular.testFraction)),
            ]))
        metadata.activation = activation
        metadata.head = head
        metadata.inputMean = inputMean
        metadata.inputStd = inputStd
        let metrics = TabularMetrics(
            model: model, metadata: metadata, test: test, sampleCount: mcSamples, seed: seed)
        metadata.metrics = metrics.json
        print(metrics.line)
        try OutputFile.write(ModelFile(model: model, metadata: metadata).encoded(), to: output)
        print("wrote \(output)")
    }
}

/// Test-set metrics of a tabular model under MC dropout: accuracy, or ``RegressionMetrics`` (RMSE, Gaussian
/// log-likelihood and interval coverage of the predictive distribution: epistemic plus, for a mean_logvar head,
/// aleatoric variance).
struct TabularMetrics {
    var json: JSONObject
    var line: String

    init(model: DropoutMLP, metadata: ModelMetadata, test: TabularDataset, sampleCount: Int, seed: UInt64) {
        let n = Double(test.count)
        guard metadata.head.isClassification else {
            let predictions = RegressionPredictions(
                model: model, metadata: metadata, features: test.features, sampleCount: sampleCount, seed: seed)
            let metrics = RegressionMetrics(targets: test.targets.map(Double.init), predictions: predictions)
            json = JSONObject([
                ("test_count", .number(n)), ("rmse", .number(metrics.rootMeanSquaredError)),
                ("log_likelihood", .number(metrics.logLikelihood)), ("samples", .number(Double(sampleCount))),
                ("coverage_50", .number(metrics.coverage50)), ("coverage_90", .number(metrics.coverage90)),
                ("coverage_95", .number(metrics.coverage95)),
            ])
            line = "test (\(test.count) rows): MC N=\(sampleCount) " + RegressionBenchmark.line(metrics)
            return
        }
        let predictor = MonteCarloPredictor(model: model, head: metadata.head)
        var correct = 0
        var input: [Float] = []
        for row in 0..<test.count {
            input.removeAll(keepingCapacity: true)
            metadata.appendNetworkInputs(
                Array(test.features[(row * test.width)..<((row + 1) * test.width)]), to: &input)
            let summary = predictor.predict(input, sampleCount: sampleCount, seed: seed &+ UInt64(row))
            if summary.prediction == Int(test.targets[row]) { correct += 1 }
        }
        json = JSONObject([
            ("test_count", .number(n)), ("mc_accuracy", .number(Double(correct) / n)),
            ("samples", .number(Double(sampleCount))),
        ])
        line = String(
            format: "test (%d rows): MC N=%d accuracy %.2f%%", test.count, sampleCount, Double(correct) / n * 100)
    }
}
