import HTTPTransport
import MCDropout
import MCDropoutJSON

/// Encoding the V2 infer response: JSON outputs, or the binary tensor extension.
extension InferenceService {
    func encodeInferResponse(_ result: InferResult) -> HTTPResponse {
        let (model, id, samples, totalSamples, isAutomatic, seed) = (
            result.model, result.id, result.samples, result.totalSamples, result.isAutomatic, result.seed
        )
        let (rule, summaries, density, outputs) = (result.rule, result.summaries, result.density, result.outputs)
        let classes = model.outputWidth
        var writer = JSONWriter(capacity: 512 + summaries.count * 256)
        var binary: [UInt8] = []
        writer.beginObject()
        writer.key("model_name")
        writer.string(model.name)
        writer.key("model_version")
        writer.string(String(model.version))
        if let id {
            writer.key("id")
            writer.string(id)
        }
        writer.key("parameters")
        writer.beginObject()
        writer.key("samples")
        writer.integer(samples)
        if isAutomatic {
            writer.key("samples_total")
            writer.integer(totalSamples)
        }
        writer.key("seed")
        writer.integer(seed)
        if let rule, rule.conditions.count == 1 {
            writer.key("uncertainty_score")
            writer.string(rule.conditions[0].score.rawValue)
            writer.key("uncertainty_threshold")
            writer.number(rule.conditions[0].threshold)
        } else if let rule {
            writer.key("uncertainty_rules")
            writer.beginArray()
            for condition in rule.conditions {
                writer.beginObject()
                writer.key("score")
                writer.string(condition.score.rawValue)
                writer.key("threshold")
                writer.number(condition.threshold)
                writer.endObject()
            }
            writer.endArray()
        }
        writer.endObject()
        writer.key("outputs")
        writer.beginArray()
        for (output, isBinary) in outputs {
            let width = output.width(classes: classes, conditions: rule?.conditions.count ?? 0)
            writer.beginObject()
            writer.key("name")
            writer.string(output.rawValue)
            writer.key("datatype")
            writer.string(output.datatype)
            writer.key("shape")
            writer.beginArray()
            writer.integer(summaries.count)
            if output.isMatrix { writer.integer(width) }
            writer.endArray()
            var binarySize: Int?
            if isBinary {
                let start = binary.count
                appendTensorBytes(output, of: result, to: &binary)
                binarySize = binary.count - start
            } else {
                writer.key("data")
                writer.beginArray()
                for (index, summary) in summaries.enumerated() {
                    switch output {
                    case .prediction: writer.integer(summary.prediction)
                    case .uncertain: writer.bool(rule?.isUncertain(summary, density: density[index]) == true)
                    case .uncertaintyTriggered:
                        for condition in rule?.conditions.indices ?? 0..<0 {
                            writer.bool(rule?.isExceeded(condition, summary: summary, density: density[index]) == true)
                        }
                    default: for value in values(of: output, summary, density[index]) { writer.number(value) }
                    }
                }
                writer.endArray()
            }
            if binarySize != nil || output == .uncertaintyTriggered {
                writer.key("parameters")
                writer.beginObject()
                if let binarySize {
                    writer.key("binary_data_size")
                    writer.integer(binarySize)
                }
                if output == .uncertaintyTriggered, let rule {
                    // The columns' scores, in order.
                    writer.key("scores")
                    writer.beginArray()
                    for condition in rule.conditions { writer.string(condition.score.rawValue) }
                    writer.endArray()
                }
                writer.endObject()
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

    /// Appends an output tensor's raw little-endian bytes (FP32: 4, INT64: 8, BOOL: 1 per element), row-major: the
    /// binary tensor extension's section over HTTP, `raw_output_contents` over gRPC.
    func appendTensorBytes(_ output: InferenceOutput, of result: InferResult, to buffer: inout [UInt8]) {
        let (rule, density) = (result.rule, result.density)
        for (index, summary) in result.summaries.enumerated() {
            switch output {
            case .prediction: appendLittleEndian(UInt64(summary.prediction), to: &buffer)
            case .uncertain: buffer.append(rule?.isUncertain(summary, density: density[index]) == true ? 1 : 0)
            case .uncertaintyTriggered:
                for condition in rule?.conditions.indices ?? 0..<0 {
                    let holds = rule?.isExceeded(condition, summary: summary, density: density[index])
                    buffer.append(holds == true ? 1 : 0)
                }
            default:
                for value in values(of: output, summary, density[index]) {
                    appendLittleEndian(UInt64(value.bitPattern), bytes: 4, to: &buffer)
                }
            }
        }
    }

    /// The values of an FP32 output.
    func values(of output: InferenceOutput, _ summary: PredictiveSummary, _ density: DensityValues) -> [Float] {
        switch output {
        case .probabilities: return summary.meanProbabilities
        case .variance:
            let targets = summary.regressionTargetCount
            return targets == 0 ? summary.variance : Array(summary.variance[0..<targets])
        case .predictiveEntropy: return [summary.predictiveEntropy]
        case .expectedEntropy: return [summary.expectedEntropy]
        case .mutualInformation: return [summary.mutualInformation]
        case .reconstructionError: return [Float(density.reconstructionError ?? .nan)]
        case .featureDistance: return [Float(density.featureDistance ?? .nan)]
        case .inkDeviation: return [Float(density.inkDeviation ?? .nan)]
        case .rotationInstability: return [Float(density.rotationInstability ?? .nan)]
        case .mean: return (0..<summary.regressionTargetCount).map { summary.regressionMean($0) }
        case .aleatoricVariance: return (0..<summary.regressionTargetCount).map { summary.aleatoricVariance($0) }
        case .predictiveVariance:
            return (0..<summary.regressionTargetCount).map {
                summary.epistemicVariance($0) + summary.aleatoricVariance($0)
            }
        case .prediction, .uncertain, .uncertaintyTriggered:
            preconditionFailure("'\(output.rawValue)' is not an FP32 output")
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
