import Foundation
import HTTPTransport
import MCDropout
import MCDropoutJSON
import Synchronization

/// Per-model counters behind Triton's statistics extension (`GET /v2/models/{model}/stats`), kept with atomics only so
/// that recording an inference takes no lock and allocates nothing.
final class ModelStatistics: Sendable {
    /// Requests whose passes ran, and the nanoseconds they took (decoding to encoding, queueing excluded).
    let successCount = Atomic<Int>(0)
    let successNanoseconds = Atomic<Int>(0)
    /// V2 infer requests for this model refused after it was found (bad tensors, limits), and their nanoseconds.
    let failureCount = Atomic<Int>(0)
    let failureNanoseconds = Atomic<Int>(0)
    /// Inputs predicted (a batch of B counts B), and executions (one per request, as Triton counts without batching).
    let inferenceCount = Atomic<Int>(0)
    let executionCount = Atomic<Int>(0)
    /// Milliseconds since the Unix epoch of the last successful inference; 0 before the first.
    let lastInferenceMilliseconds = Atomic<Int>(0)

    func recordSuccess(inputs: Int, since start: ContinuousClock.Instant) {
        successCount.add(1, ordering: .relaxed)
        successNanoseconds.add(Self.nanoseconds(since: start), ordering: .relaxed)
        inferenceCount.add(inputs, ordering: .relaxed)
        executionCount.add(1, ordering: .relaxed)
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        lastInferenceMilliseconds.store(now.tv_sec * 1000 + now.tv_nsec / 1_000_000, ordering: .relaxed)
    }

    func recordFailure(since start: ContinuousClock.Instant) {
        failureCount.add(1, ordering: .relaxed)
        failureNanoseconds.add(Self.nanoseconds(since: start), ordering: .relaxed)
    }

    private static func nanoseconds(since start: ContinuousClock.Instant) -> Int {
        let elapsed = ContinuousClock.now - start
        return Int(elapsed.components.seconds) * 1_000_000_000 + Int(elapsed.components.attoseconds / 1_000_000_000)
    }
}

/// The statistics of every served model, by name (names are fixed at start-up; a reload keeps a model's counters).
struct InferenceStatistics: Sendable {
    let models: [String: ModelStatistics]

    init(names: [String]) {
        models = Dictionary(uniqueKeysWithValues: names.map { ($0, ModelStatistics()) })
    }
}

/// Triton's model configuration of a served model: the one description that `GET …/config` renders as JSON and the
/// gRPC `ModelConfig` RPC as `inference.ModelConfig`.
struct ModelConfiguration {
    /// An input or output: its V2 datatype name (`FP32`; Triton's configuration spells it `TYPE_FP32`) and its dims
    /// without the batch dimension. Inputs have `FORMAT_NONE`.
    struct Tensor: Equatable {
        var name: String
        var datatype: String
        var dims: [Int]
    }

    var name: String
    var platform: String
    var backend: String
    /// `version_policy { latest { num_versions } }`: one file, one version.
    var latestVersionCount: Int
    var maxBatchSize: Int
    var inputs: [Tensor]
    var outputs: [Tensor]
    /// String-valued model parameters (dataset, model version, sample defaults and limit), in this order.
    var parameters: [(key: String, value: String)]
}

/// One model's entry of Triton's statistics extension, read from its ``ModelStatistics`` counters.
struct ModelStatisticsReport: Equatable {
    /// A `StatisticDuration`: how many, and their total nanoseconds.
    struct Duration: Equatable {
        var count: Int
        var nanoseconds: Int
    }

    var name: String
    var version: String
    /// Milliseconds since the Unix epoch of the last successful inference; 0 before the first.
    var lastInference: Int
    var inferenceCount: Int
    var executionCount: Int
    var success: Duration
    var fail: Duration
}

/// One model of the read-only repository index.
struct RepositoryIndexEntry: Equatable {
    var name: String
    var version: String
    /// `READY`, or `UNAVAILABLE` while the server starts or drains.
    var state: String
}

/// The Triton extensions of the V2 protocol that make sense for a server of fixed model files: model configuration,
/// statistics and a read-only repository index, computed here once for HTTP (rendered as JSON below) and gRPC
/// (`TritonExtensionMessages`). Explicit model control (load/unload) is refused with a reason: models are the files
/// given at start-up, reloaded by SIGHUP.
extension InferenceService {
    /// The extensions `GET /v2` and the gRPC `ServerMetadata` announce.
    static let protocolExtensions = ["binary_tensor_data", "model_configuration", "statistics", "model_repository"]

    /// The answer to a load or unload request, over both protocols (a 400 / INVALID_ARGUMENT).
    static let modelControlRefusal = HTTPError.badRequest(
        "explicit model control is not supported: the server serves the model files given at start-up (--model); "
            + "replace a file and send SIGHUP to reload it")

    /// Triton's model configuration of `model`; dims leave out the batch dimension, as Triton's do when
    /// `max_batch_size` > 0.
    func modelConfiguration(_ model: LoadedModel) -> ModelConfiguration {
        let conditions = model.uncertaintyRule?.conditions.count ?? 0
        let outputs = InferenceOutput.available(
            rule: model.uncertaintyRule, density: model.file.density, head: model.file.metadata.head
        ).map { output in
            ModelConfiguration.Tensor(
                name: output.rawValue, datatype: output.datatype,
                dims: [output.width(classes: model.outputWidth, conditions: conditions)])
        }
        return ModelConfiguration(
            name: model.name, platform: "mcdropout", backend: "mcdropout", latestVersionCount: 1,
            maxBatchSize: configuration.maxBatchSize,
            inputs: [ModelConfiguration.Tensor(name: Self.inputName(model), datatype: "FP32", dims: [model.inputSize])],
            outputs: outputs,
            parameters: [
                ("dataset", model.file.metadata.dataset), ("model_version", String(model.version)),
                ("default_samples", String(configuration.defaultSamples)),
                ("max_samples", String(configuration.maxSamples)),
            ])
    }

    /// The statistics of `model`, or of every served model (in the registry's order) when `nil`.
    func statisticsReports(for model: LoadedModel?) -> [ModelStatisticsReport] {
        let snapshot = registry.snapshot
        return (model.map { [$0.name] } ?? snapshot.names).compactMap { name in
            guard let loaded = snapshot.models[name], let counters = statistics.models[name] else { return nil }
            return ModelStatisticsReport(
                name: name, version: String(loaded.version),
                lastInference: counters.lastInferenceMilliseconds.load(ordering: .relaxed),
                inferenceCount: counters.inferenceCount.load(ordering: .relaxed),
                executionCount: counters.executionCount.load(ordering: .relaxed),
                success: .init(
                    count: counters.successCount.load(ordering: .relaxed),
                    nanoseconds: counters.successNanoseconds.load(ordering: .relaxed)),
                fail: .init(
                    count: counters.failureCount.load(ordering: .relaxed),
                    nanoseconds: counters.failureNanoseconds.load(ordering: .relaxed)))
        }
    }

    /// Every served model, `READY` while the server is (read-only: the repository is the model files); with
    /// `readyOnly` (Triton's `ready` filter) only the ready ones, so none while the server starts or drains.
    func repositoryIndex(readyOnly: Bool) -> [RepositoryIndexEntry] {
        let snapshot = registry.snapshot
        let isReady = phase == .ready
        if readyOnly && !isReady { return [] }
        let state = isReady ? "READY" : "UNAVAILABLE"
        return snapshot.names.compactMap { name in
            snapshot.models[name].map { RepositoryIndexEntry(name: name, version: String($0.version), state: state) }
        }
    }
}

// MARK: JSON (HTTP)

extension InferenceService {
    /// `GET /v2/models/{model}/config`: the configuration in Triton's JSON form, for `tritonclient`'s
    /// `get_model_config`.
    func modelConfigurationResponse(_ model: LoadedModel) -> HTTPResponse {
        let configuration = modelConfiguration(model)
        return jsonResponse { writer in
            writer.key("name")
            writer.string(configuration.name)
            writer.key("platform")
            writer.string(configuration.platform)
            writer.key("backend")
            writer.string(configuration.backend)
            writer.key("version_policy")
            writer.beginObject()
            writer.key("latest")
            writer.beginObject()
            writer.key("num_versions")
            writer.integer(configuration.latestVersionCount)
            writer.endObject()
            writer.endObject()
            writer.key("max_batch_size")
            writer.integer(configuration.maxBatchSize)
            for (key, tensors) in [("input", configuration.inputs), ("output", configuration.outputs)] {
                writer.key(key)
                writer.beginArray()
                for tensor in tensors {
                    writer.beginObject()
                    writer.key("name")
                    writer.string(tensor.name)
                    writer.key("data_type")
                    writer.string("TYPE_" + tensor.datatype)
                    if key == "input" {
                        writer.key("format")
                        writer.string("FORMAT_NONE")
                    }
                    writer.key("dims")
                    writer.beginArray()
                    for dimension in tensor.dims { writer.integer(dimension) }
                    writer.endArray()
                    writer.endObject()
                }
                writer.endArray()
            }
            writer.key("parameters")
            writer.beginObject()
            for (key, value) in configuration.parameters {
                writer.key(key)
                writer.beginObject()
                writer.key("string_value")
                writer.string(value)
                writer.endObject()
            }
            writer.endObject()
        }
    }

    /// `GET /v2/models/stats` (every model) or `GET /v2/models/{model}/stats`: Triton's statistics extension.
    func statisticsResponse(for model: LoadedModel?) -> HTTPResponse {
        jsonResponse { writer in
            writer.key("model_stats")
            writer.beginArray()
            for report in statisticsReports(for: model) {
                writer.beginObject()
                writer.key("name")
                writer.string(report.name)
                writer.key("version")
                writer.string(report.version)
                writer.key("last_inference")
                writer.integer(report.lastInference)
                writer.key("inference_count")
                writer.integer(report.inferenceCount)
                writer.key("execution_count")
                writer.integer(report.executionCount)
                writer.key("inference_stats")
                writer.beginObject()
                for (key, duration) in [("success", report.success), ("fail", report.fail)] {
                    writer.key(key)
                    writer.beginObject()
                    writer.key("count")
                    writer.integer(duration.count)
                    writer.key("ns")
                    writer.integer(duration.nanoseconds)
                    writer.endObject()
                }
                writer.endObject()
                writer.key("batch_stats")
                writer.beginArray()
                writer.endArray()
                writer.endObject()
            }
            writer.endArray()
        }
    }

    /// `POST /v2/repository/index`. The body may be empty or a JSON object (Triton's `{"ready": true}`).
    func repositoryIndexResponse(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        var readyOnly = false
        if !request.body.isEmpty {
            guard case .object(let object) = try? JSONParser.parse(request.body) else {
                throw .badRequest("the body of POST /v2/repository/index must be empty or a JSON object")
            }
            switch object["ready"] {
            case nil: break
            case .bool(let value): readyOnly = value
            default: throw .badRequest("'ready' in the body of POST /v2/repository/index must be true or false")
            }
        }
        var writer = JSONWriter(capacity: 128)
        writer.beginArray()
        for entry in repositoryIndex(readyOnly: readyOnly) {
            writer.beginObject()
            writer.key("name")
            writer.string(entry.name)
            writer.key("version")
            writer.string(entry.version)
            writer.key("state")
            writer.string(entry.state)
            writer.endObject()
        }
        writer.endArray()
        return HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: writer.bytes)
    }
}
