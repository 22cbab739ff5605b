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

/// The Triton extensions of the V2 protocol that make sense for a server of fixed model files: model configuration,
/// statistics and a read-only repository index. Explicit model control (load/unload) is refused with a reason:
/// models are the files given at start-up, reloaded by SIGHUP.
extension InferenceService {
    /// The extensions `GET /v2` announces.
    static let protocolExtensions = ["binary_tensor_data", "model_configuration", "statistics", "model_repository"]

    /// `GET /v2/models/{model}/config`: Triton's model configuration (its JSON form) for `tritonclient`'s
    /// `get_model_config`; dims leave out the batch dimension, as Triton's do when `max_batch_size` > 0.
    func modelConfiguration(_ model: LoadedModel) -> HTTPResponse {
        let classes = model.outputWidth
        return jsonResponse { writer in
            writer.key("name")
            writer.string(model.name)
            writer.key("platform")
            writer.string("mcdropout")
            writer.key("backend")
            writer.string("mcdropout")
            writer.key("version_policy")
            writer.beginObject()
            writer.key("latest")
            writer.beginObject()
            writer.key("num_versions")
            writer.integer(1)
            writer.endObject()
            writer.endObject()
            writer.key("max_batch_size")
            writer.integer(configuration.maxBatchSize)
            writer.key("input")
            writer.beginArray()
            writer.beginObject()
            writer.key("name")
            writer.string(Self.inputName(model))
            writer.key("data_type")
            writer.string("TYPE_FP32")
            writer.key("format")
            writer.string("FORMAT_NONE")
            writer.key("dims")
            writer.beginArray()
            writer.integer(model.inputSize)
            writer.endArray()
            writer.endObject()
            writer.endArray()
            writer.key("output")
            writer.beginArray()
            for output in InferenceOutput.available(
                rule: model.uncertaintyRule, density: model.file.density, head: model.file.metadata.head)
            {
                writer.beginObject()
                writer.key("name")
                writer.string(output.rawValue)
                writer.key("data_type")
                writer.string("TYPE_" + output.datatype)
                writer.key("dims")
                writer.beginArray()
                let conditions = model.uncertaintyRule?.conditions.count ?? 0
                writer.integer(output.width(classes: classes, conditions: conditions))
                writer.endArray()
                writer.endObject()
            }
            writer.endArray()
            writer.key("parameters")
            writer.beginObject()
            for (key, value) in [
                ("dataset", model.file.metadata.dataset), ("model_version", String(model.version)),
                ("default_samples", String(configuration.defaultSamples)),
                ("max_samples", String(configuration.maxSamples)),
            ] {
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
        let snapshot = registry.snapshot
        let names = model.map { [$0.name] } ?? snapshot.names
        return jsonResponse { writer in
            writer.key("model_stats")
            writer.beginArray()
            for name in names {
                guard let loaded = snapshot.models[name], let counters = statistics.models[name] else { continue }
                writer.beginObject()
                writer.key("name")
                writer.string(name)
                writer.key("version")
                writer.string(String(loaded.version))
                writer.key("last_inference")
                writer.integer(counters.lastInferenceMilliseconds.load(ordering: .relaxed))
                writer.key("inference_count")
                writer.integer(counters.inferenceCount.load(ordering: .relaxed))
                writer.key("execution_count")
                writer.integer(counters.executionCount.load(ordering: .relaxed))
                func duration(_ key: String, count: Int, nanoseconds: Int) {
                    writer.key(key)
                    writer.beginObject()
                    writer.key("count")
                    writer.integer(count)
                    writer.key("ns")
                    writer.integer(nanoseconds)
                    writer.endObject()
                }
                writer.key("inference_stats")
                writer.beginObject()
                duration(
                    "success", count: counters.successCount.load(ordering: .relaxed),
                    nanoseconds: counters.successNanoseconds.load(ordering: .relaxed))
                duration(
                    "fail", count: counters.failureCount.load(ordering: .relaxed),
                    nanoseconds: counters.failureNanoseconds.load(ordering: .relaxed))
                writer.endObject()
                writer.key("batch_stats")
                writer.beginArray()
                writer.endArray()
                writer.endObject()
            }
            writer.endArray()
        }
    }

    /// `POST /v2/repository/index`: every served model, `READY` (read-only: the repository is the model files).
    /// The body may be empty or a JSON object (Triton's `{"ready": true}` filter changes nothing here: all are ready).
    func repositoryIndex(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        if !request.body.isEmpty {
            guard case .object = try? JSONParser.parse(request.body) else {
                throw .badRequest("the body of POST /v2/repository/index must be empty or a JSON object")
            }
        }
        let snapshot = registry.snapshot
        var writer = JSONWriter(capacity: 128)
        writer.beginArray()
        for name in snapshot.names {
            guard let model = snapshot.models[name] else { continue }
            writer.beginObject()
            writer.key("name")
            writer.string(name)
            writer.key("version")
            writer.string(String(model.version))
            writer.key("state")
            writer.string(phase == .ready ? "READY" : "UNAVAILABLE")
            writer.endObject()
        }
        writer.endArray()
        return HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: writer.bytes)
    }
}
