import GRPCTransport
import MCDropout
import MCDropoutJSON

/// `ModelInferRequest` as read off the wire; ``inferRequest()`` turns it into the typed request HTTP decodes into.
struct ModelInferRequestMessage {
    /// `InferInputTensor`: name = 1, datatype = 2, shape = 3, parameters = 4, contents = 5.
    struct InputTensor {
        var name = ""
        var datatype = ""
        var shape: [Int64] = []
        var contents: TensorContents?
    }

    /// `InferTensorContents`: the two kinds an input of this server can use (`fp32_contents` = 6, `uint_contents`
    /// = 4), and the names of any other kind present.
    struct TensorContents {
        var fp32: [Float] = []
        /// Read as 64-bit, so an out-of-range value is reported rather than truncated.
        var uint: [UInt64] = []
        var otherKinds: [String] = []
    }

    var modelName = ""
    var modelVersion = ""
    var id = ""
    var parameters: [(key: String, value: InferParameter)] = []
    var inputs: [InputTensor] = []
    /// The requested outputs' names (`InferRequestedOutputTensor.name`; their parameters are not used).
    var outputs: [String] = []
    var rawInputContents: [[UInt8]] = []

    init(decoding bytes: [UInt8]) throws(ProtobufError) {
        var reader = ProtobufReader(bytes)
        while let (field, wireType) = try reader.nextField() {
            switch field {
            case 1, 2, 3:
                try reader.expect(wireType, is: .lengthDelimited, field: field)
                let value = try reader.readString()
                if field == 1 { modelName = value } else if field == 2 { modelVersion = value } else { id = value }
            case 4:
                try reader.expect(wireType, is: .lengthDelimited, field: field)
                try decodeParameterEntry(&reader, into: &parameters)
            case 5:
                try reader.expect(wireType, is: .lengthDelimited, field: field)
                var message = try reader.readMessage()
                inputs.append(try InputTensor(decoding: &message))
            case 6:
                try reader.expect(wireType, is: .lengthDelimited, field: field)
                var message = try reader.readMessage()
                var name = ""
                while let (field, wireType) = try message.nextField() {
                    if field == 1, wireType == .lengthDelimited {
                        name = try message.readString()
                    } else {
                        try message.skip(wireType)
                    }
                }
                outputs.append(name)
            case 7:
                try reader.expect(wireType, is: .lengthDelimited, field: field)
                rawInputContents.append(try reader.readBytes())
            default: try reader.skip(wireType)
            }
        }
    }

    /// The typed request, checked for what does not depend on the model, as ``InferRequest/init(_:)`` checks JSON.
    func inferRequest() throws(HTTPError) -> InferRequest {
        guard rawInputContents.isEmpty || rawInputContents.count == inputs.count else {
            throw .badRequest("raw_input_contents has \(rawInputContents.count) entries for \(inputs.count) inputs")
        }
        let inputs = try inputs.enumerated().map { (index, tensor) throws(HTTPError) -> InferRequest.Input in
            let name = tensor.name
            guard tensor.shape.allSatisfy({ (0...1_000_000_000).contains($0) }) else {
                throw .badRequest("input '\(name)' shape must hold non-negative integers")
            }
            let values: TensorValues
            if !rawInputContents.isEmpty {
                guard tensor.contents == nil else {
                    throw .badRequest("input '\(name)' has both contents and raw_input_contents")
                }
                values = .raw(rawInputContents[index])
            } else if let contents = tensor.contents {
                // UINT8 values come in uint_contents; FP32 (and any other datatype, refused later) in fp32_contents.
                let isUInt8 = tensor.datatype == "UINT8"
                var stray = contents.otherKinds
                if isUInt8 ? !contents.fp32.isEmpty : !contents.uint.isEmpty {
                    stray.append(isUInt8 ? "fp32_contents" : "uint_contents")
                }
                guard stray.isEmpty else {
                    throw .badRequest(
                        "input '\(name)' of datatype \(tensor.datatype) takes "
                            + "\(isUInt8 ? "uint_contents" : "fp32_contents"), not \(stray.joined(separator: ", "))")
                }
                values = .numbers(isUInt8 ? contents.uint.map { Double($0) } : contents.fp32.map { Double($0) })
            } else {
                throw .badRequest("input '\(name)' has neither contents nor raw_input_contents")
            }
            return InferRequest.Input(
                name: name, datatype: tensor.datatype, shape: tensor.shape.map { Int($0) }, values: values)
        }
        func parameter(_ key: String) -> JSONValue? { parameters.last { $0.key == key }?.value.jsonValue }
        let scalars = PredictScalars(
            samples: parameter("samples"), seed: parameter("seed"), minimumSamples: parameter("min_samples"),
            maximumSamples: parameter("max_samples"), tolerance: parameter("tolerance"),
            uncertaintyThreshold: parameter("uncertainty_threshold"), uncertaintyScore: parameter("uncertainty_score"))
        return InferRequest(
            id: id.isEmpty ? nil : id, scalars: scalars, inputs: inputs,
            outputs: outputs.isEmpty ? nil : outputs.map { InferRequest.Output(name: $0) })
    }
}

extension ModelInferRequestMessage.InputTensor {
    init(decoding reader: inout ProtobufReader) throws(ProtobufError) {
        while let (field, wireType) = try reader.nextField() {
            switch field {
            case 1, 2:
                try reader.expect(wireType, is: .lengthDelimited, field: field)
                let value = try reader.readString()
                if field == 1 { name = value } else { datatype = value }
            case 3:
                try reader.readRepeated(wireType, elementType: .varint, into: &shape) { reader throws(ProtobufError) in
                    Int64(bitPattern: try reader.readVarint())
                }
            case 5:
                try reader.expect(wireType, is: .lengthDelimited, field: field)
                var message = try reader.readMessage()
                contents = try ModelInferRequestMessage.TensorContents(decoding: &message)
            default: try reader.skip(wireType)  // parameters (4): none is used for inputs
            }
        }
    }
}

extension ModelInferRequestMessage.TensorContents {
    static let kindNames = [
        1: "bool_contents", 2: "int_contents", 3: "int64_contents", 5: "uint64_contents", 7: "fp64_contents",
        8: "bytes_contents",
    ]

    init(decoding reader: inout ProtobufReader) throws(ProtobufError) {
        while let (field, wireType) = try reader.nextField() {
            switch field {
            case 6:
                try reader.readRepeated(wireType, elementType: .fixed32, into: &fp32) { reader throws(ProtobufError) in
                    Float(bitPattern: try reader.readFixed32())
                }
            case 4:
                try reader.readRepeated(wireType, elementType: .varint, into: &uint) { reader throws(ProtobufError) in
                    try reader.readVarint()
                }
            default:
                try reader.skip(wireType)
                if let name = Self.kindNames[field], !otherKinds.contains(name) { otherKinds.append(name) }
            }
        }
    }
}

extension InferParameter {
    /// The value as the JSON request would carry it, for the shared parameter validation.
    var jsonValue: JSONValue {
        switch self {
        case .bool(let value): return .bool(value)
        case .int64(let value): return .number(Double(value))
        case .uint64(let value): return .number(Double(value))
        case .double(let value): return .number(value)
        case .string(let value): return .string(value)
        }
    }
}

extension KServeMessages {
    /// `ModelInferResponse` with every output in `raw_output_contents` (as Triton answers, and as
    /// `tritonclient.grpc`'s `as_numpy` reads), and the response parameters of the HTTP answer: `samples`,
    /// `samples_total` (with `"auto"`), `seed`, and the rule (`uncertainty_score` + `uncertainty_threshold`, or
    /// `uncertainty_rules` as JSON text); `uncertainty_triggered` names its columns in `scores`, comma-separated.
    static func encodeInferResponse(_ result: InferResult, service: InferenceService) -> [UInt8] {
        let model = result.model
        let conditions = result.rule?.conditions ?? []
        var writer = ProtobufWriter(capacity: 512 + result.summaries.count * 128)
        writer.writeString(1, model.name)
        writer.writeString(2, String(model.version))
        if let id = result.id { writer.writeString(3, id) }
        var parameters: [(key: String, value: InferParameter)] = [("samples", .int64(Int64(result.samples)))]
        if result.isAutomatic { parameters.append(("samples_total", .int64(Int64(result.totalSamples)))) }
        parameters.append(("seed", .int64(Int64(result.seed))))
        if conditions.count == 1 {
            parameters.append(("uncertainty_score", .string(conditions[0].score.rawValue)))
            parameters.append(("uncertainty_threshold", .double(conditions[0].threshold)))
        } else if let rule = result.rule {
            parameters.append(("uncertainty_rules", .string(rule.jsonValue.description)))
        }
        encodeParameters(parameters, field: 4, to: &writer)
        for (output, _) in result.outputs {
            writer.writeMessage(5) { tensor in
                tensor.writeString(1, output.rawValue)
                tensor.writeString(2, output.datatype)
                var shape = [Int64(result.summaries.count)]
                if output.isMatrix {
                    shape.append(Int64(output.width(classes: model.outputWidth, conditions: conditions.count)))
                }
                tensor.writePackedInt64(3, shape)
                if output == .uncertaintyTriggered {
                    let scores = conditions.map(\.score.rawValue).joined(separator: ",")
                    encodeParameters([("scores", .string(scores))], field: 4, to: &tensor)
                }
            }
        }
        var bytes: [UInt8] = []
        for (output, _) in result.outputs {
            bytes.removeAll(keepingCapacity: true)
            service.appendTensorBytes(output, of: result, to: &bytes)
            writer.writeBytes(6, bytes)
        }
        return writer.bytes
    }
}
