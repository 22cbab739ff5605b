import HTTPTransport
import MCDropoutJSON

/// A V2 tensor element type this server reads.
enum TensorDatatype: String {
    case fp32 = "FP32"
    case uint8 = "UINT8"

    /// Bytes per element in the binary tensor extension.
    var elementSize: Int { self == .fp32 ? 4 : 1 }
}

/// Where an input tensor's values are, as the request carried them.
enum TensorValues {
    /// HTTP: the JSON `data` member (numbers, flat or nested).
    case json(JSONValue)
    /// HTTP binary tensor extension (`parameters.binary_data_size`): this many bytes of the binary section after the
    /// JSON header.
    case binary(size: Int)
    /// gRPC `raw_input_contents`: the tensor's little-endian bytes.
    case raw([UInt8])
    /// gRPC typed `contents` (`fp32_contents`, or `uint_contents` for UINT8).
    case numbers([Double])
    /// HTTP: neither `data` nor a binary size.
    case missing
}

/// A decoded V2 infer request, from HTTP JSON (`POST /v2/models/{model}/infer`) or gRPC (`ModelInfer`): every
/// member typed and checked for what does not depend on the model (names, types, integer shapes and sizes).
/// ``InferenceService/runInference(_:model:binary:)`` then checks it against the model and reads the tensor data,
/// the same way for both protocols.
struct InferRequest {
    /// One input tensor, its data not yet read.
    struct Input {
        var name: String
        /// The element type as sent; which ones a model takes is checked against the model.
        var datatype: String
        var shape: [Int]
        var values: TensorValues
    }

    /// One requested output.
    struct Output {
        var name: String
        /// `parameters.binary_data`, when given.
        var binaryData: Bool?
    }

    static let fields = ["id", "parameters", "inputs", "outputs"]

    var id: String?
    /// `parameters.samples`, `seed`, … as for `/predict`, validated later against the server's limits.
    var scalars = PredictScalars()
    /// `parameters.binary_data_output`: return outputs as binary data unless an output says otherwise.
    var binaryDataOutput = false
    var inputs: [Input] = []
    /// The outputs asked for; `nil` means all available.
    var outputs: [Output]?

    /// A request built by another decoder (gRPC).
    init(id: String?, scalars: PredictScalars, inputs: [Input], outputs: [Output]?) {
        self.id = id
        self.scalars = scalars
        self.inputs = inputs
        self.outputs = outputs
    }

    init(_ object: JSONObject) throws(HTTPError) {
        for key in object.keys where !Self.fields.contains(key) {
            throw .badRequest("unknown field '\(key)'; an inference request holds id, parameters, inputs and outputs")
        }
        if let value = object["id"] {
            guard case .string(let id) = value else { throw .badRequest("'id' must be a string") }
            self.id = id
        }
        if let value = object["parameters"] {
            guard case .object(let parameters) = value else { throw .badRequest("'parameters' must be an object") }
            // Other parameters (e.g. client hints) are ignored, as KServe servers do.
            scalars = PredictScalars(
                samples: parameters["samples"], seed: parameters["seed"], minimumSamples: parameters["min_samples"],
                maximumSamples: parameters["max_samples"], tolerance: parameters["tolerance"],
                uncertaintyThreshold: parameters["uncertainty_threshold"],
                uncertaintyScore: parameters["uncertainty_score"])
            if let flag = parameters["binary_data_output"] {
                guard case .bool(let value) = flag else {
                    throw .badRequest("'parameters.binary_data_output' must be a boolean")
                }
                binaryDataOutput = value
            }
        }
        guard case .array(let inputs)? = object["inputs"] else { throw .badRequest("'inputs' must be an array") }
        self.inputs = try inputs.map { (value: JSONValue) throws(HTTPError) -> Input in try Input(value) }
        if let value = object["outputs"] {
            guard case .array(let outputs) = value else { throw .badRequest("'outputs' must be an array") }
            self.outputs = try outputs.map { (value: JSONValue) throws(HTTPError) -> Output in try Output(value) }
        }
    }
}

extension InferRequest.Input {
    init(_ value: JSONValue) throws(HTTPError) {
        guard case .object(let input) = value else { throw .badRequest("each input must be an object") }
        guard case .string(let name)? = input["name"] else { throw .badRequest("the input has no 'name'") }
        self.name = name
        guard case .string(let datatype)? = input["datatype"] else {
            throw .badRequest("input '\(name)' has no 'datatype'")
        }
        self.datatype = datatype
        guard case .array(let shapeValues)? = input["shape"] else {
            throw .badRequest("input '\(name)' has no 'shape'")
        }
        shape = try shapeValues.map { (dimension: JSONValue) throws(HTTPError) -> Int in
            guard case .number(let number) = dimension, number >= 0, number <= 1e9,
                number.rounded(.towardZero) == number
            else {
                throw .badRequest("input '\(name)' shape must hold non-negative integers")
            }
            return Int(number)
        }
        var binaryDataSize: Int?
        if case .object(let parameters)? = input["parameters"], let size = parameters["binary_data_size"] {
            guard case .number(let number) = size, number >= 0, number.rounded(.towardZero) == number, number <= 1e12
            else {
                throw .badRequest("input '\(name)' binary_data_size must be a non-negative integer")
            }
            binaryDataSize = Int(number)
        }
        switch (input["data"], binaryDataSize) {
        case (.some, .some): throw .badRequest("input '\(name)' has both 'data' and binary_data_size")
        case (.some(let data), nil): values = .json(data)
        case (nil, .some(let size)): values = .binary(size: size)
        case (nil, nil): values = .missing
        }
    }
}

extension InferRequest.Output {
    init(_ value: JSONValue) throws(HTTPError) {
        guard case .object(let spec) = value, case .string(let name)? = spec["name"] else {
            throw .badRequest("each entry of 'outputs' must be an object with a 'name'")
        }
        self.name = name
        if case .object(let parameters)? = spec["parameters"], let flag = parameters["binary_data"] {
            guard case .bool(let value) = flag else {
                throw .badRequest("'binary_data' of output '\(name)' must be a boolean")
            }
            binaryData = value
        }
    }
}
