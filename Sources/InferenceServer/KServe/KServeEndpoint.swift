import HTTPTransport
import MCDropout
import MCDropoutJSON

/// The outputs of `POST /v2/models/{model}/infer`, in the order they are returned by default.
enum InferenceOutput: String, CaseIterable {
    case probabilities, variance
    case predictiveEntropy = "predictive_entropy"
    case expectedEntropy = "expected_entropy"
    case mutualInformation = "mutual_information"
    case prediction
    /// Whether the prediction's uncertainty score exceeds the threshold; offered only when a threshold applies (the
    /// model's stored one, or `parameters.uncertainty_threshold`).
    case uncertain
    /// The density scores, offered for a model whose file holds their statistics.
    case reconstructionError = "reconstruction_error"
    case featureDistance = "feature_distance"

    var datatype: String {
        switch self {
        case .prediction: return "INT64"
        case .uncertain: return "BOOL"
        default: return "FP32"
        }
    }
    /// Values per input: one per class, or one.
    func width(classes: Int) -> Int { self == .probabilities || self == .variance ? classes : 1 }

    /// The outputs available: `uncertain` only when a rule applies, each density score only when the model has it.
    static func available(rule: UncertaintyRule?, density: DensityModel?) -> [InferenceOutput] {
        let scores = density?.scores ?? []
        return allCases.filter { output in
            switch output {
            case .uncertain: return rule != nil
            case .reconstructionError: return scores.contains(.reconstructionError)
            case .featureDistance: return scores.contains(.featureDistance)
            default: return true
            }
        }
    }
}

/// KServe V2 / Open Inference Protocol, with the binary tensor data extension that `tritonclient` uses by default.
extension InferenceService {
    static let inputName = "pixels"

    /// `GET /v2`.
    func serverMetadata() -> HTTPResponse {
        jsonResponse { writer in
            writer.key("name"); writer.string("mcdropout")
            writer.key("version"); writer.string(serverVersion)
            writer.key("extensions")
            writer.beginArray()
            for name in Self.protocolExtensions { writer.string(name) }
            writer.endArray()
        }
    }

    /// `GET /v2/models/{model}`.
    func modelMetadata(_ model: LoadedModel) -> HTTPResponse {
        let classes = model.file.model.outputSize
        return jsonResponse { writer in
            writer.key("name"); writer.string(model.name)
            writer.key("versions"); writer.beginArray(); writer.string(String(model.version)); writer.endArray()
            writer.key("platform"); writer.string("mcdropout")
            writer.key("inputs")
            writer.beginArray()
            writer.beginObject()
            writer.key("name"); writer.string(Self.inputName)
            writer.key("datatype"); writer.string("FP32")
            writer.key("shape"); writer.beginArray(); writer.integer(-1); writer.integer(model.inputSize); writer.endArray()
            writer.endObject()
            writer.endArray()
            writer.key("outputs")
            writer.beginArray()
            for output in InferenceOutput.available(rule: model.uncertaintyRule, density: model.file.density) {
                writer.beginObject()
                writer.key("name"); writer.string(output.rawValue)
                writer.key("datatype"); writer.string(output.datatype)
                writer.key("shape")
                writer.beginArray()
                writer.integer(-1)
                if output.width(classes: classes) > 1 { writer.integer(classes) }
                writer.endArray()
                writer.endObject()
            }
            writer.endArray()
            writer.key("parameters")
            writer.beginObject()
            writer.key("dataset"); writer.string(model.file.metadata.dataset)
            writer.key("labels"); writer.beginArray(); for label in model.labels { writer.string(label) }; writer.endArray()
            writer.key("dropout"); writer.beginArray(); for p in model.file.model.dropoutProbabilities { writer.number(p) }; writer.endArray()
            writer.key("input_scale"); writer.number(model.inputScale)
            writer.key("default_samples"); writer.integer(configuration.defaultSamples)
            writer.key("max_samples"); writer.integer(configuration.maxSamples)
            if let rule = model.uncertaintyRule { writer.key("uncertainty"); writer.value(rule.jsonValue) }
            writer.endObject()
        }
    }

    /// `POST /v2/models/{model}/infer`.
    func infer(_ request: HTTPRequest, model: LoadedModel) throws(HTTPError) -> HTTPResponse {
        let body = request.body
        var jsonEnd = body.count
        if let header = request.header("inference-header-content-length") {
            guard let length = Int(header.trimmingSpaces), length >= 0, length <= body.count else {
                throw .badRequest("Inference-Header-Content-Length '\(header)' does not fit the \(body.count)-byte body")
            }
            jsonEnd = length
        }
        let object = try parseObject(Array(body[0..<jsonEnd]))
        var binary = BinaryReader(bytes: body, offset: jsonEnd)
        for key in object.keys where !["id", "parameters", "inputs", "outputs"].contains(key) {
            throw .badRequest("unknown field '\(key)'; an inference request holds id, parameters, inputs and outputs")
        }
        var identifier: String?
        if let value = object["id"] {
            guard case .string(let id) = value else { throw .badRequest("'id' must be a string") }
            identifier = id
        }
        var samples = SampleSetting.fixed(configuration.defaultSamples)
        var seed: UInt64?
        var uncertainty = UncertaintyOverride()
        var binaryOutputByDefault = false
        if let value = object["parameters"] {
            guard case .object(let parameters) = value else { throw .badRequest("'parameters' must be an object") }
            // samples (an integer or "auto"), min_samples, max_samples, tolerance, seed, uncertainty_threshold and
            // uncertainty_score, as for /predict.
            let scalars = PredictScalars(
                samples: parameters["samples"], seed: parameters["seed"], minimumSamples: parameters["min_samples"],
                maximumSamples: parameters["max_samples"], tolerance: parameters["tolerance"],
                uncertaintyThreshold: parameters["uncertainty_threshold"], uncertaintyScore: parameters["uncertainty_score"])
            let (_, setting, seedValue, override) = try scalars.validated(limits: limits, prefix: "parameters.")
            if let setting { samples = setting }
            seed = seedValue
            uncertainty = override
            for (key, value) in parameters.members {
                switch key {
                case "binary_data_output":
                    guard case .bool(let flag) = value else { throw .badRequest("'parameters.binary_data_output' must be a boolean") }
                    binaryOutputByDefault = flag
                default: break  // Other parameters (e.g. client hints) are ignored, as KServe servers do.
                }
            }
        }
        guard case .array(let inputs)? = object["inputs"] else { throw .badRequest("'inputs' must be an array") }
        guard inputs.count == 1 else {
            throw .badRequest("expected exactly one input named '\(Self.inputName)', got \(inputs.count)")
        }
        let (batch, pixels) = try decodeInput(inputs[0], model: model, binary: &binary)
        guard binary.isAtEnd else { throw .badRequest("\(binary.remaining) bytes of binary data were not claimed by any input") }
        guard batch <= configuration.maxBatchSize else {
            throw .badRequest("batch of \(batch) inputs exceeds the limit of \(configuration.maxBatchSize)")
        }
        try checkTotalPasses(instances: batch, samples: samples.maximumSamples)
        try uncertainty.check(against: model, prefix: "parameters.")
        let rule = uncertainty.resolved(stored: model.uncertaintyRule)

        var requested: [(output: InferenceOutput, binary: Bool)] = []
        if let value = object["outputs"] {
            guard case .array(let outputs) = value else { throw .badRequest("'outputs' must be an array") }
            for output in outputs {
                guard case .object(let spec) = output, case .string(let name)? = spec["name"] else {
                    throw .badRequest("each entry of 'outputs' must be an object with a 'name'")
                }
                let available = InferenceOutput.available(rule: rule, density: model.file.density)
                guard let kind = InferenceOutput(rawValue: name), available.contains(kind) else {
                    var message = "unknown output '\(name)'; available: \(available.map(\.rawValue).joined(separator: ", "))"
                    if name == InferenceOutput.uncertain.rawValue {
                        message = "output 'uncertain' needs a threshold: model '\(model.name)' stores none; "
                            + "pass parameters.uncertainty_threshold"
                    }
                    throw .badRequest(message)
                }
                var isBinary = binaryOutputByDefault
                if case .object(let parameters)? = spec["parameters"], let flag = parameters["binary_data"] {
                    guard case .bool(let value) = flag else { throw .badRequest("'binary_data' of output '\(name)' must be a boolean") }
                    isBinary = value
                }
                requested.append((kind, isBinary))
            }
        } else {
            requested = InferenceOutput.available(rule: rule, density: model.file.density).map { ($0, binaryOutputByDefault) }
        }

        let seedValue = seed ?? worker.drawSeed()
        let worker = self.worker
        worker.request.removeAll()
        worker.request.values.append(contentsOf: pixels)
        for _ in 0..<batch { worker.request.counts.append(model.inputSize) }
        let passes = run(model, samples: samples, seed: seedValue, worker: worker)
        metrics.passes.add(passes)
        if configuration.recordsDriftMetrics {
            model.drift.record(worker.summaries, density: worker.densityValues, count: batch, rule: rule)
        }
        let summaries = Array(worker.summaries.prefix(batch))
        let density = Array(worker.densityValues.prefix(batch))
        // "samples" reports the passes used: N when fixed; with "auto", the most any input used (exact for one
        // input), and "samples_total" the passes over the whole batch.
        let reported = summaries.map(\.sampleCount).max() ?? 0
        return encodeInferResponse(
            model: model, id: identifier, samples: reported, totalSamples: passes, isAutomatic: samples != .fixed(reported),
            seed: seedValue, rule: rule, summaries: summaries, density: density, outputs: requested)
    }

    /// Reads the one input tensor: `[B, inputSize]` (or `[B, rows, columns]`), FP32 0–255 or UINT8.
    private func decodeInput(
        _ value: JSONValue, model: LoadedModel, binary: inout BinaryReader
    ) throws(HTTPError) -> (batch: Int, pixels: [Float]) {
        guard case .object(let input) = value else { throw .badRequest("each input must be an object") }
        guard case .string(let name)? = input["name"] else { throw .badRequest("the input has no 'name'") }
        guard name == Self.inputName else { throw .badRequest("unknown input '\(name)'; this model takes '\(Self.inputName)'") }
        guard case .string(let datatype)? = input["datatype"] else { throw .badRequest("input '\(name)' has no 'datatype'") }
        guard datatype == "FP32" || datatype == "UINT8" else {
            throw .badRequest("input '\(name)' has datatype \(datatype); use FP32 (values 0–255) or UINT8")
        }
        guard case .array(let shapeValues)? = input["shape"] else { throw .badRequest("input '\(name)' has no 'shape'") }
        var shape: [Int] = []
        for dimension in shapeValues {
            guard case .number(let number) = dimension, number >= 0, number <= 1e9, number.rounded(.towardZero) == number else {
                throw .badRequest("input '\(name)' shape must hold non-negative integers")
            }
            shape.append(Int(number))
        }
        let width = model.inputSize
        let validShape =
            (shape.count == 2 && shape[1] == width)
            || (shape.count == 3 && shape[1] * shape[2] == width && model.file.metadata.inputShape.map { $0 == [shape[1], shape[2]] } ?? true)
        guard validShape, shape[0] >= 1 else {
            throw .badRequest("input '\(name)' has shape \(shape); expected [batch, \(width)] with batch ≥ 1")
        }
        let batch = shape[0]
        guard batch <= configuration.maxBatchSize else {
            throw .badRequest("batch of \(batch) inputs exceeds the limit of \(configuration.maxBatchSize)")
        }
        let count = batch * width
        var pixels: [Float] = []
        pixels.reserveCapacity(count)
        var binarySize: Int?
        if case .object(let parameters)? = input["parameters"], let size = parameters["binary_data_size"] {
            guard case .number(let number) = size, number >= 0, number.rounded(.towardZero) == number, number <= 1e12 else {
                throw .badRequest("input '\(name)' binary_data_size must be a non-negative integer")
            }
            binarySize = Int(number)
        }
        if let binarySize {
            guard input["data"] == nil else { throw .badRequest("input '\(name)' has both 'data' and binary_data_size") }
            let elementSize = datatype == "FP32" ? 4 : 1
            guard binarySize == count * elementSize else {
                throw .badRequest("input '\(name)' binary_data_size is \(binarySize) bytes; shape \(shape) of \(datatype) needs \(count * elementSize)")
            }
            guard let bytes = binary.read(binarySize) else {
                throw .badRequest("input '\(name)' claims \(binarySize) bytes of binary data; only \(binary.remaining) remain")
            }
            if elementSize == 1 {
                for byte in bytes { pixels.append(Float(byte)) }
            } else {
                for index in 0..<count {
                    let bits = UInt32(bytes[4 * index]) | UInt32(bytes[4 * index + 1]) << 8
                        | UInt32(bytes[4 * index + 2]) << 16 | UInt32(bytes[4 * index + 3]) << 24
                    let value = Float(bitPattern: bits)
                    guard value >= 0, value <= 255 else {
                        throw .badRequest("input '\(name)' element \(index) is \(format(Double(value))); pixel values must be from 0 to 255")
                    }
                    pixels.append(value)
                }
            }
        } else {
            guard let data = input["data"] else { throw .badRequest("input '\(name)' has no 'data'") }
            try flatten(data, into: &pixels, limit: count, datatype: datatype, name: name)
            guard pixels.count == count else {
                throw .badRequest("input '\(name)' has \(pixels.count) values; shape \(shape) needs \(count)")
            }
        }
        return (batch, pixels)
    }

    private func flatten(
        _ value: JSONValue, into pixels: inout [Float], limit: Int, datatype: String, name: String, depth: Int = 0
    ) throws(HTTPError) {
        switch value {
        case .number(let number):
            guard pixels.count < limit else { throw .badRequest("input '\(name)' has more values than its shape allows") }
            guard number >= 0, number <= 255 else {
                throw .badRequest("input '\(name)' element \(pixels.count) is \(format(number)); pixel values must be from 0 to 255")
            }
            if datatype == "UINT8", number.rounded(.towardZero) != number {
                throw .badRequest("input '\(name)' element \(pixels.count) is \(format(number)); UINT8 values must be integers")
            }
            pixels.append(Float(number))
        case .array(let items) where depth < 3:
            for item in items { try flatten(item, into: &pixels, limit: limit, datatype: datatype, name: name, depth: depth + 1) }
        default:
            throw .badRequest("input '\(name)' data must be numbers (flat, or nested as the shape), got \(kind(of: value))")
        }
    }

    private func encodeInferResponse(
        model: LoadedModel, id: String?, samples: Int, totalSamples: Int, isAutomatic: Bool, seed: UInt64,
        rule: UncertaintyRule?, summaries: [PredictiveSummary], density: [DensityValues],
        outputs: [(output: InferenceOutput, binary: Bool)]
    ) -> HTTPResponse {
        let classes = model.file.model.outputSize
        var writer = JSONWriter(capacity: 512 + summaries.count * 256)
        var binary: [UInt8] = []
        writer.beginObject()
        writer.key("model_name"); writer.string(model.name)
        writer.key("model_version"); writer.string(String(model.version))
        if let id { writer.key("id"); writer.string(id) }
        writer.key("parameters")
        writer.beginObject()
        writer.key("samples"); writer.integer(samples)
        if isAutomatic { writer.key("samples_total"); writer.integer(totalSamples) }
        writer.key("seed"); writer.integer(seed)
        if let rule, rule.conditions.count == 1 {
            writer.key("uncertainty_score"); writer.string(rule.conditions[0].score.rawValue)
            writer.key("uncertainty_threshold"); writer.number(rule.conditions[0].threshold)
        } else if let rule {
            writer.key("uncertainty_rules")
            writer.beginArray()
            for condition in rule.conditions {
                writer.beginObject()
                writer.key("score"); writer.string(condition.score.rawValue)
                writer.key("threshold"); writer.number(condition.threshold)
                writer.endObject()
            }
            writer.endArray()
        }
        writer.endObject()
        writer.key("outputs")
        writer.beginArray()
        for (output, isBinary) in outputs {
            let width = output.width(classes: classes)
            writer.beginObject()
            writer.key("name"); writer.string(output.rawValue)
            writer.key("datatype"); writer.string(output.datatype)
            writer.key("shape")
            writer.beginArray()
            writer.integer(summaries.count)
            if width > 1 { writer.integer(width) }
            writer.endArray()
            if isBinary {
                let start = binary.count
                for (index, summary) in summaries.enumerated() {
                    switch output {
                    case .prediction: appendLittleEndian(UInt64(summary.prediction), to: &binary)
                    case .uncertain:  // BOOL: one byte.
                        binary.append(rule?.isUncertain(summary, density: density[index]) == true ? 1 : 0)
                    default:
                        for value in values(of: output, summary, density[index]) { appendLittleEndian(UInt64(value.bitPattern), bytes: 4, to: &binary) }
                    }
                }
                writer.key("parameters")
                writer.beginObject()
                writer.key("binary_data_size"); writer.integer(binary.count - start)
                writer.endObject()
            } else {
                writer.key("data")
                writer.beginArray()
                for (index, summary) in summaries.enumerated() {
                    switch output {
                    case .prediction: writer.integer(summary.prediction)
                    case .uncertain: writer.bool(rule?.isUncertain(summary, density: density[index]) == true)
                    default: for value in values(of: output, summary, density[index]) { writer.number(value) }
                    }
                }
                writer.endArray()
            }
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        if binary.isEmpty {
            return HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: writer.bytes)
        }
        return HTTPResponse(
            status: 200,
            headers: [
                ("Content-Type", "application/octet-stream"),
                ("Inference-Header-Content-Length", String(writer.bytes.count)),
            ],
            body: writer.bytes + binary)
    }

    /// The values of an FP32 output.
    private func values(of output: InferenceOutput, _ summary: PredictiveSummary, _ density: DensityValues) -> [Float] {
        switch output {
        case .probabilities: return summary.meanProbabilities
        case .variance: return summary.variance
        case .predictiveEntropy: return [summary.predictiveEntropy]
        case .expectedEntropy: return [summary.expectedEntropy]
        case .mutualInformation: return [summary.mutualInformation]
        case .reconstructionError: return [Float(density.reconstructionError ?? .nan)]
        case .featureDistance: return [Float(density.featureDistance ?? .nan)]
        case .prediction, .uncertain: preconditionFailure("'\(output.rawValue)' is not an FP32 output")
        }
    }
}

private func appendLittleEndian(_ value: UInt64, bytes count: Int = 8, to buffer: inout [UInt8]) {
    var remaining = value
    for _ in 0..<count {
        buffer.append(UInt8(truncatingIfNeeded: remaining))
        remaining >>= 8
    }
}

/// Reads consecutive slices of the binary section that follows the JSON header.
struct BinaryReader {
    let bytes: [UInt8]
    var offset: Int

    var remaining: Int { bytes.count - offset }
    var isAtEnd: Bool { offset == bytes.count }

    mutating func read(_ count: Int) -> [UInt8]? {
        guard count <= remaining else { return nil }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }
}

extension String {
    /// The string without leading and trailing spaces and tabs.
    var trimmingSpaces: Substring {
        let trimmed = drop { $0 == " " || $0 == "\t" }
        return trimmed.dropLast(trimmed.reversed().prefix { $0 == " " || $0 == "\t" }.count)
    }
}

/// The server's version, reported by `GET /v2`, `GET /` and `--version`; the package's ``mcdropoutVersion``.
public let serverVersion = mcdropoutVersion
