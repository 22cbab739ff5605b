import Foundation
public import MCDropout
import Synchronization

/// A model ready to serve: its file, its predictor and its identity.
public final class LoadedModel: Sendable {
    /// The name clients use: the file stem (`models/mnist.safetensors` → `mnist`).
    public let name: String
    /// Where it was loaded from; reloads read this path again.
    public let path: String
    /// The network and metadata.
    public let file: ModelFile
    /// The Monte-Carlo engine over the network, or over all members of a deep ensemble.
    public let predictor: MonteCarloPredictor
    /// Starts at 1 and grows by one with every successful reload of this name.
    public let version: Int
    /// The rule stored in the metadata (`mcdropout-eval fit-rule`, or an older single threshold), which sets
    /// `"uncertain"` in responses; `nil` when the file has none (the registry refuses a file whose rule is invalid).
    public let uncertaintyRule: UncertaintyRule?
    /// Its drift metrics (score histograms, predictions per class, flags); new with every load and reload.
    let drift: DriftMetrics

    init(name: String, path: String, file: ModelFile, version: Int) {
        self.name = name
        self.path = path
        self.file = file
        self.predictor = MonteCarloPredictor(members: file.members, head: file.metadata.head)
        self.version = version
        self.uncertaintyRule = (try? file.uncertaintyRule()) ?? nil
        self.drift = DriftMetrics(
            classCount: file.model.outputSize, density: file.density, head: file.metadata.head)
    }

    /// Pixels are divided by this before the first layer.
    public var inputScale: Float { file.metadata.inputScale }
    /// The number of input values.
    public var inputSize: Int { file.model.inputSize }
    /// Values per input of the per-class (or per-target) outputs: classes, or regression targets.
    public var outputWidth: Int { file.metadata.head.targetCount(outputSize: file.model.outputSize) }
    /// The class names.
    public var labels: [String] { file.metadata.labels }
}

/// Why a model file could not be loaded.
public struct ModelLoadError: Error, Sendable, CustomStringConvertible {
    /// The file at fault.
    public var path: String
    /// What was wrong with it.
    public var reason: String

    public var description: String { "\(path): \(reason)" }
}

/// An immutable view of the loaded models at one moment.
public struct ModelSnapshot: Sendable {
    /// Increases with every change to the set.
    public let generation: Int
    /// The models by name.
    public let models: [String: LoadedModel]
    /// Names in the order they were given on the command line.
    public let names: [String]

    /// The model a request without a `model` field means: the only one loaded.
    public var soleModel: LoadedModel? { names.count == 1 ? models[names[0]] : nil }
}

/// The set of served models, replaced atomically on reload.
///
/// Readers on the hot path compare ``generation`` (one atomic load) with the snapshot they cached and take the lock
/// only when it changed, so steady-state requests never lock.
public final class ModelRegistry: Sendable {
    private let current: Mutex<ModelSnapshot>
    private let generationCounter: Atomic<Int>
    private let paths: [String]
    private let allowsContractChanges: Bool

    /// Loads every file; fails on the first file that cannot be used or on duplicate names.
    ///
    /// - Parameter allowsContractChanges: whether a reload may replace a model by a file with other labels or another
    ///   dataset under the same name (the operator's `--reload-allow-changes`). Input and output widths must match
    ///   either way: a client's tensors are shaped by them.
    public init(paths: [String], allowsContractChanges: Bool = false) throws(ModelLoadError) {
        var models: [String: LoadedModel] = [:]
        var names: [String] = []
        for path in paths {
            let name = Self.name(of: path)
            guard models[name] == nil else {
                throw ModelLoadError(path: path, reason: "another model is named '\(name)'")
            }
            models[name] = LoadedModel(name: name, path: path, file: try Self.read(path), version: 1)
            names.append(name)
        }
        guard !names.isEmpty else { throw ModelLoadError(path: "", reason: "no model files given") }
        self.paths = paths
        self.allowsContractChanges = allowsContractChanges
        current = Mutex(ModelSnapshot(generation: 1, models: models, names: names))
        generationCounter = Atomic(1)
    }

    /// The generation of the current snapshot (one atomic load).
    public var generation: Int { generationCounter.load(ordering: .acquiring) }

    /// The current snapshot.
    public var snapshot: ModelSnapshot { current.withLock { $0 } }

    /// The outcome of reloading one file.
    public enum ReloadOutcome: Sendable {
        case reloaded(name: String, version: Int)
        case kept(name: String, error: ModelLoadError)
    }

    /// Reads every model file again. A file that cannot be read or decoded, whose input width or class count differs
    /// from the model it would replace, or — unless the registry allows contract changes — whose labels or dataset
    /// differ (a Fashion-MNIST file reloaded as "mnist" would answer "Sandal" for a digit), leaves that model as it
    /// was; the outcome says why.
    public func reload() -> [ReloadOutcome] {
        let old = snapshot
        var models = old.models
        var outcomes: [ReloadOutcome] = []
        for path in paths {
            let name = Self.name(of: path)
            guard let previous = old.models[name] else { continue }
            do {
                let file = try Self.read(path)
                guard file.model.inputSize == previous.inputSize,
                    file.model.outputSize == previous.file.model.outputSize
                else {
                    throw ModelLoadError(
                        path: path,
                        reason:
                            "shape \(file.model.layerSizes) changes the input or output width of \(previous.file.model.layerSizes)"
                    )
                }
                try Self.checkContract(of: file, at: path, replacing: previous, allowsChanges: allowsContractChanges)
                let replacement = LoadedModel(name: name, path: path, file: file, version: previous.version + 1)
                models[name] = replacement
                outcomes.append(.reloaded(name: name, version: replacement.version))
            } catch let error as ModelLoadError {
                outcomes.append(.kept(name: name, error: error))
            } catch {
                outcomes.append(.kept(name: name, error: ModelLoadError(path: path, reason: "\(error)")))
            }
        }
        current.withLock { snapshot in
            snapshot = ModelSnapshot(generation: snapshot.generation + 1, models: models, names: old.names)
            generationCounter.store(snapshot.generation, ordering: .releasing)
        }
        return outcomes
    }

    /// Refuses a replacement that would change what a client's answers mean: other labels, another dataset.
    static func checkContract(
        of file: ModelFile, at path: String, replacing previous: LoadedModel, allowsChanges: Bool
    ) throws(ModelLoadError) {
        guard !allowsChanges else { return }
        let old = previous.file.metadata
        let new = file.metadata
        if new.labels != old.labels {
            let changed = zip(old.labels, new.labels).enumerated().first { $0.element.0 != $0.element.1 }
            let example = changed.map { " (class \($0.offset): '\($0.element.0)' → '\($0.element.1)')" } ?? ""
            throw ModelLoadError(
                path: path,
                reason: "its labels differ from the served model's\(example); start the server with "
                    + "--reload-allow-changes to allow that")
        }
        if new.dataset != old.dataset {
            throw ModelLoadError(
                path: path,
                reason: "it was trained on '\(new.dataset)', the served model on '\(old.dataset)'; start the server "
                    + "with --reload-allow-changes to allow that")
        }
    }

    static func name(of path: String) -> String {
        let file = path.split(separator: "/").last.map(String.init) ?? path
        if let dot = file.firstIndex(of: "."), dot != file.startIndex { return String(file[..<dot]) }
        return file
    }

    static func read(_ path: String) throws(ModelLoadError) -> ModelFile {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ModelLoadError(path: path, reason: "no such file")
        }
        guard !isDirectory.boolValue else {
            throw ModelLoadError(path: path, reason: "is a directory, not a model file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelLoadError(path: path, reason: "cannot read the file (permission denied?)")
        }
        do {
            let file = try ModelFile(decoding: [UInt8](data))
            _ = try file.uncertaintyRule()  // An unusable rule fails the load, not each request.
            return file
        } catch {
            throw ModelLoadError(path: path, reason: error.description)
        }
    }
}
