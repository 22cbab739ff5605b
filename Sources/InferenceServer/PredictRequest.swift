import MCDropoutJSON

/// A decoded `POST /predict` body: one input or a batch, and the sampling settings.
struct PredictRequest {
    /// The model named in the request, if any.
    var modelName: String?
    /// The inputs' raw pixels (0–255), each flattened; one element unless ``isBatch``.
    var instances: [[Float]]
    /// Whether the body used `instances` (and the response lists `predictions`).
    var isBatch: Bool
    /// Passes per input, when given.
    var samples: Int?
    /// The seed, when given.
    var seed: UInt64?

    static let fields = ["pixels", "instances", "samples", "seed", "model"]

    /// Parses and validates everything that does not depend on the model.
    init(body: [UInt8], limits: RequestLimits) throws(HTTPError) {
        let object = try parseObject(body)
        for key in object.keys where !Self.fields.contains(key) {
            throw .badRequest("unknown field '\(key)'; expected one of: \(Self.fields.joined(separator: ", "))")
        }
        modelName = try object["model"].map { (value: JSONValue) throws(HTTPError) -> String in
            guard case .string(let name) = value else { throw .badRequest("'model' must be a string") }
            return name
        }
        samples = try object["samples"].map { (value: JSONValue) throws(HTTPError) -> Int in
            try sampleCount(value, field: "samples", limits: limits)
        }
        seed = try object["seed"].map { (value: JSONValue) throws(HTTPError) -> UInt64 in try seedValue(value, field: "seed") }
        switch (object["pixels"], object["instances"]) {
        case (let pixels?, nil):
            instances = [try pixelValues(pixels, field: "pixels")]
            isBatch = false
        case (nil, .array(let items)?):
            guard !items.isEmpty else { throw .badRequest("'instances' must not be empty") }
            guard items.count <= limits.maxBatchSize else {
                throw .badRequest("'instances' holds \(items.count) inputs; the limit is \(limits.maxBatchSize)")
            }
            var decoded: [[Float]] = []
            decoded.reserveCapacity(items.count)
            for (index, item) in items.enumerated() {
                let field = "instances[\(index)]"
                switch item {
                case .object(let instance):
                    for key in instance.keys where key != "pixels" {
                        throw .badRequest("unknown field '\(key)' in \(field); an instance holds only 'pixels'")
                    }
                    guard let pixels = instance["pixels"] else { throw .badRequest("\(field) has no 'pixels'") }
                    decoded.append(try pixelValues(pixels, field: "\(field).pixels"))
                case .array:
                    decoded.append(try pixelValues(item, field: field))
                default:
                    throw .badRequest("\(field) must be an object with 'pixels' or an array of pixel values")
                }
            }
            instances = decoded
            isBatch = true
        case (nil, _?):
            throw .badRequest("'instances' must be an array")
        case (_?, _?):
            throw .badRequest("give either 'pixels' or 'instances', not both")
        case (nil, nil):
            throw .badRequest("missing 'pixels' (one input) or 'instances' (a batch)")
        }
    }
}

/// The request-size limits that validation enforces.
struct RequestLimits: Sendable {
    var maxSamples: Int
    var maxBatchSize: Int
    var maxTotalPasses: Int
}

/// Parses a JSON body that must be an object.
func parseObject(_ body: [UInt8]) throws(HTTPError) -> JSONObject {
    guard !body.isEmpty else { throw .badRequest("empty request body; send a JSON object") }
    let value: JSONValue
    do {
        value = try JSONParser.parse(body)
    } catch {
        throw .badRequest("malformed JSON: \(error.description)")
    }
    guard case .object(let object) = value else { throw .badRequest("the request body must be a JSON object") }
    return object
}

/// A `samples` value: an integer in `1 ... maxSamples`.
func sampleCount(_ value: JSONValue, field: String, limits: RequestLimits) throws(HTTPError) -> Int {
    guard case .number(let number) = value, number.rounded(.towardZero) == number else {
        throw .badRequest("'\(field)' must be an integer from 1 to \(limits.maxSamples)")
    }
    guard number >= 1, number <= Double(limits.maxSamples) else {
        throw .badRequest("'\(field)' must be from 1 to \(limits.maxSamples), got \(format(number))")
    }
    return Int(number)
}

/// A `seed` value: an integer in `0 ..< 2⁵³` (exactly representable in JSON numbers).
func seedValue(_ value: JSONValue, field: String) throws(HTTPError) -> UInt64 {
    guard case .number(let number) = value, number.rounded(.towardZero) == number, number >= 0, number < 0x1p53 else {
        throw .badRequest("'\(field)' must be an integer from 0 to 2^53 - 1")
    }
    return UInt64(number)
}

/// Pixel values 0–255, as a flat array or as rows of equal length; returned flattened.
func pixelValues(_ value: JSONValue, field: String) throws(HTTPError) -> [Float] {
    guard case .array(let items) = value else { throw .badRequest("'\(field)' must be an array of numbers 0–255") }
    var pixels: [Float] = []
    pixels.reserveCapacity(items.count > 0 && items.count < 64 ? items.count * items.count : items.count)
    var rowWidth: Int?
    for (index, item) in items.enumerated() {
        switch item {
        case .number(let number):
            guard rowWidth == nil else { throw .badRequest("'\(field)' mixes numbers and rows") }
            pixels.append(try pixel(number, field: field, index: index))
        case .array(let row):
            guard pixels.count == index * (rowWidth ?? row.count) else {
                throw .badRequest("'\(field)' mixes numbers and rows")
            }
            if let width = rowWidth, width != row.count {
                throw .badRequest("'\(field)' is ragged: row \(index) has \(row.count) values, row 0 has \(width)")
            }
            rowWidth = row.count
            for (column, element) in row.enumerated() {
                guard case .number(let number) = element else {
                    throw .badRequest("'\(field)[\(index)][\(column)]' must be a number 0–255, got \(kind(of: element))")
                }
                pixels.append(try pixel(number, field: "\(field)[\(index)]", index: column))
            }
        default:
            throw .badRequest("'\(field)[\(index)]' must be a number 0–255, got \(kind(of: item))")
        }
    }
    return pixels
}

private func pixel(_ number: Double, field: String, index: Int) throws(HTTPError) -> Float {
    guard number >= 0, number <= 255 else {
        throw .badRequest("'\(field)[\(index)]' is \(format(number)); pixel values must be from 0 to 255")
    }
    return Float(number)
}

/// The JSON type name of a value, for error messages.
func kind(of value: JSONValue) -> String {
    switch value {
    case .null: return "null"
    case .bool: return "a boolean"
    case .number: return "a number"
    case .string: return "a string"
    case .array: return "an array"
    case .object: return "an object"
    }
}

/// A number for an error message, short.
func format(_ number: Double) -> String {
    let text = "\(number)"
    return text.count > 24 ? String(text.prefix(24)) + "…" : text
}
