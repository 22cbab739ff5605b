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
    /// The Monte-Carlo engine over the network.
    public let predictor: MonteCarloPredictor
    /// Starts at 1 and grows by one with every successful reload of this name.
    public let version: Int
    /// The recommended threshold stored in the metadata (`mcdropout-eval evaluate --write-threshold`), which sets
    /// `"uncertain"` in responses; `nil` when the file has none (the registry refuses a file whose threshold is
    /// invalid).
    public let uncertaintyThreshold: UncertaintyThreshold?

    init(name: String, path: String, file: ModelFile, version: Int) {
        self.name = name
        self.path = path
        self.file = file
        self.predictor = MonteCarloPredictor(model: file.model)
        self.version = version
        self.uncertaintyThreshold = (try? file.metadata.uncertaintyThreshold()) ?? nil
    }

    /// Pixels are divided by this before the first layer.
    public var inputScale: Float { file.metadata.inputScale }
    /// The number of input values.
    public var inputSize: Int { file.model.inputSize }
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

    /// Loads every file; fails on the first file that cannot be used or on duplicate names.
    public init(paths: [String]) throws(ModelLoadError) {
        var models: [String: LoadedModel] = [:]
        var names: [String] = []
        for path in paths {
            let name = Self.name(of: path)
            guard models[name] == nil else { throw ModelLoadError(path: path, reason: "another model is named '\(name)'") }
            models[name] = LoadedModel(name: name, path: path, file: try Self.read(path), version: 1)
            names.append(name)
        }
        guard !names.isEmpty else { throw ModelLoadError(path: "", reason: "no model files given") }
        self.paths = paths
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

    /// Reads every model file again. A file that cannot be read or decoded, or whose input width or class count
    /// differs from the model it would replace, leaves that model as it was.
    public func reload() -> [ReloadOutcome] {
        let old = snapshot
        var models = old.models
        var outcomes: [ReloadOutcome] = []
        for path in paths {
            let name = Self.name(of: path)
            guard let previous = old.models[name] else { continue }
            do {
                let file = try Self.read(path)
                guard file.model.inputSize == previous.inputSize, file.model.outputSize == previous.file.model.outputSize
                else {
                    throw ModelLoadError(
                        path: path,
                        reason: "shape \(file.model.layerSizes) changes the input or output width of \(previous.file.model.layerSizes)")
                }
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

    static func name(of path: String) -> String {
        let file = path.split(separator: "/").last.map(String.init) ?? path
        if let dot = file.firstIndex(of: ".") , dot != file.startIndex { return String(file[..<dot]) }
        return file
    }

    static func read(_ path: String) throws(ModelLoadError) -> ModelFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelLoadError(path: path, reason: "cannot read the file")
        }
        do {
            let file = try ModelFile(decoding: [UInt8](data))
            _ = try file.metadata.uncertaintyThreshold()  // An unusable threshold fails the load, not each request.
            return file
        } catch {
            throw ModelLoadError(path: path, reason: error.description)
        }
    }
}
