/// The result of a training experiment (`mcdropout-eval experiment overfitting | small-net | deep`): the file
/// `experiments/<name>.json` that `report` draws from.
public struct TrainingExperiment: Codable, Sendable, Equatable {
    public var name: String
    public var description: String
    public var runs: [ExperimentRun]

    public init(name: String, description: String, runs: [ExperimentRun]) {
        self.name = name
        self.description = description
        self.runs = runs
    }
}

/// One training run of an experiment, with the measurements taken after some epochs and at the end.
public struct ExperimentRun: Codable, Sendable, Equatable {
    public var label: String
    public var layerSizes: [Int]
    public var dropout: [Double]
    public var hyperparameters: ExperimentHyperparameters
    public var trainingImages: Int
    public var seed: UInt64
    public var trainSeconds: Double
    public var historyEpochs: Int
    public var epochs: [EpochMeasurement]
    public var final: FinalMeasurement

    enum CodingKeys: String, CodingKey {
        case label, dropout, hyperparameters, seed, epochs, final
        case layerSizes = "layer_sizes"
        case trainingImages = "training_images"
        case trainSeconds = "train_seconds"
        case historyEpochs = "history_epochs"
    }

    public init(
        label: String, layerSizes: [Int], dropout: [Double], hyperparameters: ExperimentHyperparameters,
        trainingImages: Int, seed: UInt64, trainSeconds: Double, historyEpochs: Int, epochs: [EpochMeasurement],
        final: FinalMeasurement
    ) {
        self.label = label
        self.layerSizes = layerSizes
        self.dropout = dropout
        self.hyperparameters = hyperparameters
        self.trainingImages = trainingImages
        self.seed = seed
        self.trainSeconds = trainSeconds
        self.historyEpochs = historyEpochs
        self.epochs = epochs
        self.final = final
    }
}

/// The training hyper-parameters, as the model metadata stores them (`TrainingConfiguration.hyperparametersJSON`).
public struct ExperimentHyperparameters: Codable, Sendable, Equatable {
    public var optimizer: String
    public var momentum: Double?
    public var beta1: Double?
    public var beta2: Double?
    public var epsilon: Double?
    public var learningRate: Double
    public var schedule: String
    public var weightDecay: Double
    public var maxNorm: Double?
    public var epochs: Int
    public var batchSize: Int
    public var initialization: String
    public var augmentationShift: Int
    public var augmentationFlip: Bool

    enum CodingKeys: String, CodingKey {
        case optimizer, momentum, beta1, beta2, epsilon, schedule, epochs, initialization
        case learningRate = "learning_rate"
        case weightDecay = "weight_decay"
        case maxNorm = "max_norm"
        case batchSize = "batch_size"
        case augmentationShift = "augmentation_shift"
        case augmentationFlip = "augmentation_flip"
    }
}

/// Measurements after one epoch: the running training loss and accuracy (dropout on) and, with dropout off, the
/// test set's (and for the overfitting runs the training set's) accuracy and loss.
public struct EpochMeasurement: Codable, Sendable, Equatable {
    public var epoch: Int
    public var trainLossRunning: Double
    public var trainAccuracyRunning: Double
    public var testAccuracy: Double
    public var testLoss: Double
    public var trainAccuracy: Double?
    public var trainLoss: Double?

    enum CodingKeys: String, CodingKey {
        case epoch
        case trainLossRunning = "train_loss_running"
        case trainAccuracyRunning = "train_accuracy_running"
        case testAccuracy = "test_accuracy"
        case testLoss = "test_loss"
        case trainAccuracy = "train_accuracy"
        case trainLoss = "train_loss"
    }

    public init(
        epoch: Int, trainLossRunning: Double, trainAccuracyRunning: Double, testAccuracy: Double, testLoss: Double,
        trainAccuracy: Double? = nil, trainLoss: Double? = nil
    ) {
        self.epoch = epoch
        self.trainLossRunning = trainLossRunning
        self.trainAccuracyRunning = trainAccuracyRunning
        self.testAccuracy = testAccuracy
        self.testLoss = testLoss
        self.trainAccuracy = trainAccuracy
        self.trainLoss = trainLoss
    }
}

/// The test set after training: dropout off and, when measured, Monte-Carlo dropout.
public struct FinalMeasurement: Codable, Sendable, Equatable {
    public var testAccuracy: Double
    public var testNll: Double
    public var mcSamples: Int?
    public var mcTestAccuracy: Double?
    public var mcTestNll: Double?

    enum CodingKeys: String, CodingKey {
        case testAccuracy = "test_accuracy"
        case testNll = "test_nll"
        case mcSamples = "mc_samples"
        case mcTestAccuracy = "mc_test_accuracy"
        case mcTestNll = "mc_test_nll"
    }

    public init(
        testAccuracy: Double, testNll: Double, mcSamples: Int? = nil, mcTestAccuracy: Double? = nil,
        mcTestNll: Double? = nil
    ) {
        self.testAccuracy = testAccuracy
        self.testNll = testNll
        self.mcSamples = mcSamples
        self.mcTestAccuracy = mcTestAccuracy
        self.mcTestNll = mcTestNll
    }
}

/// `experiment mc-vs-scaling`: test error of MC averaging against weight scaling as N grows, several mask seeds.
public struct ScalingExperiment: Codable, Sendable, Equatable {
    public var name: String
    public var model: String
    public var images: Int
    public var repeats: Int
    public var deterministicError: Double
    public var deterministicNll: Double
    public var points: [Point]

    public struct Point: Codable, Sendable, Equatable {
        public var samples: Int
        public var errors: [Double]
        public var meanError: Double
        public var stdError: Double
        public var meanNll: Double

        enum CodingKeys: String, CodingKey {
            case samples, errors
            case meanError = "mean_error"
            case stdError = "std_error"
            case meanNll = "mean_nll"
        }
    }

    enum CodingKeys: String, CodingKey {
        case name, model, images, repeats, points
        case deterministicError = "deterministic_error"
        case deterministicNll = "deterministic_nll"
    }
}
