import HTTPTransport
import MCDropoutJSON

/// A V2 tensor element type this server reads.
enum TensorDatatype: String {
    case fp32 = "FP32"
    case uint8 = "UINT8"

    /// Bytes per element in the binary tensor extension.
    var elementSize: Int { self == .fp32 ? 4 : 1 }
}

/// A decoded `POST /v2/models/{model}/infer` request: every member typed and checked for what does not depend on the
/// model (names, types, integer shapes and sizes). ``InferenceService/infer(_:model:)`` then checks it against the
/// model and reads the tensor data.
struct InferRequest {
    /// One input tensor, its data not yet read.
    struct Input {
        var name: String
        /// The element type as sent; which ones a model takes is checked against the model.
        var datatype: String
        var shape: [Int]
        /// The `data` member (numbers, flat or nested); `nil` when the tensor comes as binary data.
        var data: JSONValue?
        /// `parameters.binary_data_size`: the tensor's bytes in the binary section after the JSON header.
        var binaryDataSize: Int?
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
        if case .object(let parameters)? = input["parameters"], let size = parameters["binary_data_size"] {
            guard case .number(let number) = size, number >= 0, number.rounded(.towardZero) == number, number <= 1e12
            else {
                throw .badRequest("input '\(name)' binary_data_size must be a non-negative integer")
            }
            binaryDataSize = Int(number)
        }
        data = input["data"]
        if binaryDataSize != nil, data != nil {
            throw .badRequest("input '\(name)' has both 'data' and binary_data_size")
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
