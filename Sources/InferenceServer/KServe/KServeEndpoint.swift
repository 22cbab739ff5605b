import HTTPTransport
import MCDropout
import MCDropoutJSON

/// The outputs of `POST /v2/models/{model}/infer`, in the order they are returned by default.
enum InferenceOutput: String, CaseIterable {
    /// Classification: the mean probabilities; regression: the mean per target (``mean``).
    case probabilities
    case mean
    case variance
    case predictiveEntropy = "predictive_entropy"
    case expectedEntropy = "expected_entropy"
    case mutualInformation = "mutual_information"
    case prediction
    /// Whether the prediction's uncertainty score exceeds the threshold; offered only when a threshold applies (the
    /// model's stored one, or `parameters.uncertainty_threshold`).
    case uncertain
    /// Which conditions of the rule hold: BOOL `[B, K]`, one column per condition in the rule's order (the response's
    /// `parameters.uncertainty_rules` or `uncertainty_score`, and the output's own `parameters.scores`); offered
    /// with ``uncertain``.
    case uncertaintyTriggered = "uncertainty_triggered"
    /// The density scores, offered for a model whose file holds their statistics.
    case reconstructionError = "reconstruction_error"
    case featureDistance = "feature_distance"
    case inkDeviation = "ink_deviation"
    case rotationInstability = "rotation_instability"
    /// Regression outputs beside ``mean`` and ``variance`` (epistemic) for a `mean_logvar` head: the aleatoric and
    /// predictive variance per target.
    case aleatoricVariance = "aleatoric_variance"
    case predictiveVariance = "predictive_variance"

    var datatype: String {
        switch self {
        case .prediction: return "INT64"
        case .uncertain, .uncertaintyTriggered: return "BOOL"
        default: return "FP32"
        }
    }
    /// Values per input: one per class (or regression target), one per rule condition, or one.
    func width(classes: Int, conditions: Int) -> Int {
        switch self {
        case .probabilities, .variance, .mean, .aleatoricVariance, .predictiveVariance: return classes
        case .uncertaintyTriggered: return conditions
        default: return 1
        }
    }
    /// Whether the tensor has a second dimension (`[B, width]`); the others are `[B]`.
    var isMatrix: Bool { self == .probabilities || self == .variance || self == .uncertaintyTriggered || isRegression }
    /// Whether only regression models have it.
    var isRegression: Bool { self == .mean || self == .aleatoricVariance || self == .predictiveVariance }
    /// Whether only classification models have it.
    var isClassification: Bool {
        [.probabilities, .predictiveEntropy, .expectedEntropy, .mutualInformation, .prediction].contains(self)
    }

    /// The outputs available: those of the model's task (the two extra variances for a `mean_logvar` head only),
    /// `uncertain` only when a rule applies, each density score only when the model has it.
    static func available(rule: UncertaintyRule?, density: DensityModel?, head: OutputHead) -> [InferenceOutput] {
        let scores = density?.scores ?? []
        return allCases.filter { output in
            if head.isClassification ? output.isRegression : output.isClassification { return false }
            switch output {
            case .aleatoricVariance, .predictiveVariance: return head == .meanLogVariance
            case .uncertain, .uncertaintyTriggered: return rule != nil
            case .reconstructionError: return scores.contains(.reconstructionError)
            case .featureDistance: return scores.contains(.featureDistance)
            case .inkDeviation: return scores.contains(.inkDeviation)
            case .rotationInstability: return scores.contains(.rotationInstability)
            default: return true
            }
        }
    }
}

/// KServe V2 / Open Inference Protocol, with the binary tensor data extension that `tritonclient` uses by default.
extension InferenceService {
    /// The input tensor's name: `pixels` (0–255) for image models, `features` (any finite FP32) for the others.
    static func inputName(_ model: LoadedModel) -> String {
        model.file.metadata.inputShape == nil ? "features" : "pixels"
    }

    /// `GET /v2`.
    func serverMetadata() -> HTTPResponse {
        jsonResponse { writer in
            writer.key("name")
            writer.string("mcdropout")
            writer.key("version")
            writer.string(serverVersion)
            writer.key("extensions")
            writer.beginArray()
            for name in Self.protocolExtensions { writer.string(name) }
            writer.endArray()
        }
    }

    /// The model's input and output tensors as V2 metadata lists them (over HTTP and gRPC): the one input
    /// `[-1, inputSize]`, then every available output.
    static func tensorMetadata(_ model: LoadedModel) -> (inputs: [TensorMetadata], outputs: [TensorMetadata]) {
        let conditions = model.uncertaintyRule?.conditions.count ?? 0
        let outputs = InferenceOutput.available(
            rule: model.uncertaintyRule, density: model.file.density, head: model.file.metadata.head
        ).map { output in
            TensorMetadata(
                name: output.rawValue, datatype: output.datatype,
                shape: output.isMatrix ? [-1, output.width(classes: model.outputWidth, conditions: conditions)] : [-1])
        }
        return ([TensorMetadata(name: inputName(model), datatype: "FP32", shape: [-1, model.inputSize])], outputs)
    }

    /// `GET /v2/models/{model}`.
    func modelMetadata(_ model: LoadedModel) -> HTTPResponse {
        jsonResponse { writer in
            writer.key("name")
            writer.string(model.name)
            writer.key("versions")
            writer.beginArray()
            writer.string(String(model.version))
            writer.endArray()
            writer.key("platform")
            writer.string("mcdropout")
            let (inputs, outputs) = Self.tensorMetadata(model)
            for (key, tensors) in [("inputs", inputs), ("outputs", outputs)] {
                writer.key(key)
                writer.beginArray()
                for tensor in tensors {
                    writer.beginObject()
                    writer.key("name")
                    writer.string(tensor.name)
                    writer.key("datatype")
                    writer.string(tensor.datatype)
                    writer.key("shape")
                    writer.beginArray()
                    for dimension in tensor.shape { writer.integer(dimension) }
                    writer.endArray()
                    writer.endObject()
                }
                writer.endArray()
            }
            writer.key("parameters")
            writer.beginObject()
            writer.key("dataset")
            writer.string(model.file.metadata.dataset)
            writer.key("task")
            writer.string(model.file.metadata.head.isClassification ? "classification" : "regression")
            writer.key("labels")
            writer.beginArray()
            for label in model.labels { writer.string(label) }
            writer.endArray()
            writer.key("dropout")
            writer.beginArray()
            for p in model.file.model.dropoutProbabilities { writer.number(p) }
            writer.endArray()
            writer.key("input_scale")
            writer.number(model.inputScale)
            if let transform = model.file.metadata.inputTransform {
                // Applied by the server to every input before the passes, the density scores and the probe.
                writer.key("input_transform")
                writer.string(transform.rawValue)
            }
            // A deep ensemble's networks; a request's passes are spread over them (1 for a single network).
            writer.key("members")
            writer.integer(model.predictor.memberCount)
            writer.key("default_samples")
            writer.integer(configuration.defaultSamples)
            writer.key("max_samples")
            writer.integer(configuration.maxSamples)
            if let rule = model.uncertaintyRule {
                writer.key("uncertainty")
                writer.value(rule.jsonValue)
            }
            writer.endObject()
        }
    }

    /// `POST /v2/models/{model}/infer`.
    func infer(_ request: HTTPRequest, model: LoadedModel) throws(HTTPError) -> HTTPResponse {
        let body = request.body
        var jsonEnd = body.count
        if let header = request.header("inference-header-content-length") {
            guard let length = Int(header.trimmingSpaces), length >= 0, length <= body.count else {
                throw .badRequest(
                    "Inference-Header-Content-Length '\(header)' does not fit the \(body.count)-byte body")
            }
            jsonEnd = length
        }
        let inference = try InferRequest(parseObject(Array(body[0..<jsonEnd])))
        var binary = BinaryReader(bytes: body, offset: jsonEnd)
        return encodeInferResponse(try runInference(inference, model: model, binary: &binary))
    }

    /// Runs a decoded V2 inference (HTTP or gRPC) on this worker: validates it against the model and the limits,
    /// reads the input, computes, records the drift metrics and returns what the response encoders need.
    func runInference(
        _ inference: InferRequest, model: LoadedModel, binary: inout BinaryReader
    ) throws(HTTPError) -> InferResult {
        let (_, setting, seed, uncertainty) = try inference.scalars.validated(limits: limits, prefix: "parameters.")
        let samples = setting ?? .fixed(configuration.defaultSamples)
        guard inference.inputs.count == 1 else {
            throw .badRequest(
                "expected exactly one input named '\(Self.inputName(model))', got \(inference.inputs.count)")
        }
        let (batch, pixels) = try decodeInput(inference.inputs[0], model: model, binary: &binary)
        guard binary.isAtEnd else {
            throw .badRequest("\(binary.remaining) bytes of binary data were not claimed by any input")
        }
        try checkTotalPasses(instances: batch, samples: samples.maximumSamples)
        try uncertainty.check(against: model, prefix: "parameters.")
        let rule = uncertainty.resolved(stored: model.uncertaintyRule, head: model.file.metadata.head)
        let available = InferenceOutput.available(
            rule: rule, density: model.file.density, head: model.file.metadata.head)
        let requested = try (inference.outputs ?? available.map { InferRequest.Output(name: $0.rawValue) }).map {
            (output: InferRequest.Output) throws(HTTPError) -> (output: InferenceOutput, binary: Bool) in
            guard let kind = InferenceOutput(rawValue: output.name), available.contains(kind) else {
                if [InferenceOutput.uncertain, .uncertaintyTriggered].map(\.rawValue).contains(output.name) {
                    throw .badRequest(
                        "output '\(output.name)' needs a threshold: model '\(model.name)' stores none; "
                            + "pass parameters.uncertainty_threshold")
                }
                throw .badRequest(
                    "unknown output '\(output.name)'; available: \(available.map(\.rawValue).joined(separator: ", "))")
            }
            return (kind, output.binaryData ?? inference.binaryDataOutput)
        }

        let seedValue = seed ?? worker.drawSeed()
        let worker = self.worker
        worker.request.removeAll()
        worker.request.values.append(contentsOf: pixels)
        for _ in 0..<batch { worker.request.counts.append(model.inputSize) }
        let passes = run(model, samples: samples, seed: seedValue, rule: rule, worker: worker)
        metrics.passes.add(passes)
        if configuration.recordsDriftMetrics {
            model.drift.record(worker.summaries, density: worker.densityValues, count: batch, rule: rule)
        }
        let summaries = Array(worker.summaries.prefix(batch))
        // "samples" reports the passes used: N when fixed; with "auto", the most any input used (exact for one
        // input), and "samples_total" the passes over the whole batch.
        let reported = summaries.map(\.sampleCount).max() ?? 0
        return InferResult(
            model: model, id: inference.id, samples: reported, totalSamples: passes,
            isAutomatic: samples != .fixed(reported), seed: seedValue, rule: rule, summaries: summaries,
            density: Array(worker.densityValues.prefix(batch)), outputs: requested)
    }
}

/// A V2 inference's outcome before encoding: JSON (+ binary tensors) over HTTP, protobuf over gRPC.
struct InferResult {
    var model: LoadedModel
    var id: String?
    /// The passes reported as `samples` (with `"auto"`, the most any input used).
    var samples: Int
    /// The passes over the whole batch.
    var totalSamples: Int
    /// Whether the passes were chosen adaptively (`samples_total` is then reported too).
    var isAutomatic: Bool
    var seed: UInt64
    var rule: UncertaintyRule?
    var summaries: [PredictiveSummary]
    var density: [DensityValues]
    /// The outputs to return, in order; `binary` is the HTTP binary tensor extension's choice.
    var outputs: [(output: InferenceOutput, binary: Bool)]
}

/// The server's version, reported by `GET /v2`, `GET /` and `--version`; the package's ``mcdropoutVersion``.
public let serverVersion = mcdropoutVersion
