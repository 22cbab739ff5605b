import MCDropout
import MCDropoutJSON

/// How many passes a request asked for.
enum SampleSetting: Equatable {
    /// Exactly this many passes per input.
    case fixed(Int)
    /// Passes in blocks until the decision is settled or the mean probabilities are precise enough
    /// (`"samples": "auto"`); the decision test gets the model's uncertainty rule in ``InferenceService/run``, and an
    /// input that rule flags before sampling gets more passes there.
    case automatic(AdaptiveSampling)

    /// The most passes one input can take.
    var maximumSamples: Int {
        switch self {
        case .fixed(let count): return count
        case .automatic(let rule): return rule.maximumSamples
        }
    }
}

/// The raw pixels of a request's inputs, flattened one after another into buffers a worker reuses.
struct PixelBuffer {
    /// Every input's values, 0–255, one input after another.
    var values: [Float] = []
    /// How many values each input has (validated against the model later).
    var counts: [Int] = []
    /// Whether the inputs came as `features` (any finite numbers) rather than `pixels` (0–255).
    var isFeatures = false

    mutating func removeAll() {
        values.removeAll(keepingCapacity: true)
        counts.removeAll(keepingCapacity: true)
        isFeatures = false
    }
}

/// A decoded `POST /predict` body: one input or a batch, and the sampling settings. The pixels go to a
/// ``PixelBuffer`` the caller owns.
///
/// Bodies are first read by ``PredictBodyScanner``, which handles the common shapes without building a JSON tree;
/// anything it is not sure of (unusual syntax, and every error) goes through ``JSONParser`` and the tree-based
/// decoding below, which decides and words the error. Both paths accept exactly the same bodies with the same values.
struct PredictRequest: Equatable {
    /// The model named in the request, if any.
    var modelName: String?
    /// Whether the body used `instances` (and the response lists `predictions`).
    var isBatch: Bool
    /// Passes per input, when given.
    var samples: SampleSetting?
    /// The seed, when given.
    var seed: UInt64?
    /// The request's uncertainty threshold and score, overriding the model's (empty when not given).
    var uncertainty = UncertaintyOverride()

    static let fields = [
        "pixels", "features", "instances", "samples", "seed", "model", "min_samples", "max_samples", "tolerance",
        "uncertainty_threshold", "uncertainty_score",
    ]

    /// Parses and validates everything that does not depend on the model, writing the pixels into `pixels`.
    ///
    /// - Parameter allowsFastPath: `false` forces the tree-based path (tests compare the two).
    init(body: [UInt8], limits: RequestLimits, pixels: inout PixelBuffer, allowsFastPath: Bool = true) throws(HTTPError)
    {
        pixels.removeAll()
        if allowsFastPath, let scanned = PredictBodyScanner.scan(body, maxBatchSize: limits.maxBatchSize, into: &pixels)
        {
            isBatch = scanned.isBatch
            (modelName, samples, seed, uncertainty) = try scanned.scalars.validated(limits: limits)
            return
        }
        pixels.removeAll()
        let object = try parseObject(body)
        for key in object.keys where !Self.fields.contains(key) {
            throw .badRequest("unknown field '\(key)'; expected one of: \(Self.fields.joined(separator: ", "))")
        }
        let scalars = PredictScalars(
            model: object["model"], samples: object["samples"], seed: object["seed"],
            minimumSamples: object["min_samples"], maximumSamples: object["max_samples"],
            tolerance: object["tolerance"],
            uncertaintyThreshold: object["uncertainty_threshold"], uncertaintyScore: object["uncertainty_score"])
        (modelName, samples, seed, uncertainty) = try scalars.validated(limits: limits)
        if let features = object["features"] {
            guard object["pixels"] == nil, object["instances"] == nil else {
                throw .badRequest("give one of 'pixels', 'features' or 'instances'")
            }
            try appendFeatureValues(features, field: "features", to: &pixels)
            isBatch = false
            return
        }
        switch (object["pixels"], object["instances"]) {
        case (let value?, nil):
            try appendPixelValues(value, field: "pixels", to: &pixels)
            isBatch = false
        case (nil, .array(let items)?):
            guard !items.isEmpty else { throw .badRequest("'instances' must not be empty") }
            guard items.count <= limits.maxBatchSize else {
                throw .limitExceeded("'instances' holds \(items.count) inputs; the limit is \(limits.maxBatchSize)")
            }
            for (index, item) in items.enumerated() {
                let field = "instances[\(index)]"
                switch item {
                case .object(let instance):
                    for key in instance.keys where key != "pixels" && key != "features" {
                        throw .badRequest(
                            "unknown field '\(key)' in \(field); an instance holds 'pixels' or 'features'")
                    }
                    switch (instance["pixels"], instance["features"]) {
                    case (let value?, nil):
                        guard !pixels.isFeatures else { throw .badRequest("'instances' mix 'pixels' and 'features'") }
                        try appendPixelValues(value, field: "\(field).pixels", to: &pixels)
                    case (nil, let value?):
                        guard index == 0 || pixels.isFeatures else {
                            throw .badRequest("'instances' mix 'pixels' and 'features'")
                        }
                        try appendFeatureValues(value, field: "\(field).features", to: &pixels)
                    case (_?, _?): throw .badRequest("\(field) holds both 'pixels' and 'features'")
                    case (nil, nil): throw .badRequest("\(field) has no 'pixels' or 'features'")
                    }
                case .array:
                    guard !pixels.isFeatures else { throw .badRequest("'instances' mix 'pixels' and 'features'") }
                    try appendPixelValues(item, field: field, to: &pixels)
                default:
                    throw .badRequest(
                        "\(field) must be an object with 'pixels' or 'features', or an array of pixel values")
                }
            }
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

/// The scalar members of a `/predict` body, as found by either decoding path, before validation.
struct PredictScalars {
    var model: JSONValue?
    var samples: JSONValue?
    var seed: JSONValue?
    var minimumSamples: JSONValue?
    var maximumSamples: JSONValue?
    var tolerance: JSONValue?
    var uncertaintyThreshold: JSONValue?
    var uncertaintyScore: JSONValue?

    /// Default adaptive rule: the settled-decision test (``AdaptiveSampling/decisive(uncertainty:)``: 16 to 200
    /// passes in blocks of 8, stop once the arg-max and the uncertainty verdict are settled at 3 standard errors
    /// with every mean probability's standard error below 0.02, or all below 0.01; an input the rule's density
    /// conditions flag before sampling first runs the rule's N: ``AdaptiveSampling/forInput``). A request that
    /// names `tolerance` gets the precision rule alone (``AdaptiveSampling/standard``'s blocks of 16), as it asked.
    static let defaultRule = AdaptiveSampling.decisive(uncertainty: nil)

    /// Validates the members in a fixed order, so both decoding paths report the same first error.
    ///
    /// - Parameter prefix: prepended to field names in messages (`"parameters."` for KServe).
    func validated(
        limits: RequestLimits, prefix: String = ""
    ) throws(HTTPError) -> (String?, SampleSetting?, UInt64?, UncertaintyOverride) {
        let name = try model.map { (value: JSONValue) throws(HTTPError) -> String in
            guard case .string(let name) = value else { throw .badRequest("'model' must be a string") }
            return name
        }
        let setting = try sampleSetting(limits: limits, prefix: prefix)
        let validSeed = try seed.map { (value: JSONValue) throws(HTTPError) -> UInt64 in
            try seedValue(value, field: prefix + "seed")
        }
        let uncertainty = try UncertaintyOverride(
            threshold: uncertaintyThreshold, score: uncertaintyScore, prefix: prefix)
        return (name, setting, validSeed, uncertainty)
    }

    private func sampleSetting(limits: RequestLimits, prefix: String) throws(HTTPError) -> SampleSetting? {
        guard case .string(let text)? = samples else {
            for (field, value) in [
                ("min_samples", minimumSamples), ("max_samples", maximumSamples), ("tolerance", tolerance),
            ]
            where value != nil {
                throw .badRequest("'\(prefix)\(field)' applies only with \"samples\": \"auto\"")
            }
            return try samples.map { (value: JSONValue) throws(HTTPError) -> SampleSetting in
                .fixed(try sampleCount(value, field: prefix + "samples", limits: limits))
            }
        }
        guard text == "auto" else {
            throw .badRequest("'\(prefix)samples' must be an integer from 1 to \(limits.maxSamples) or \"auto\"")
        }
        guard limits.maxSamples >= 2 else { throw .badRequest("\"samples\": \"auto\" needs max_samples of at least 2") }
        let maximum =
            try maximumSamples.map { (value: JSONValue) throws(HTTPError) -> Int in
                try sampleCount(value, field: prefix + "max_samples", limits: limits)
            } ?? min(Self.defaultRule.maximumSamples, limits.maxSamples)
        let minimum =
            try minimumSamples.map { (value: JSONValue) throws(HTTPError) -> Int in
                try sampleCount(value, field: prefix + "min_samples", limits: limits)
            } ?? min(Self.defaultRule.minimumSamples, maximum)
        guard minimum >= 2, minimum <= maximum else {
            throw .badRequest("'\(prefix)min_samples' must be from 2 to max_samples (\(maximum)), got \(minimum)")
        }
        guard let tolerance else {
            var rule = Self.defaultRule
            rule.minimumSamples = minimum
            rule.maximumSamples = maximum
            return .automatic(rule)
        }
        guard case .number(let number) = tolerance, number > 0, number <= 1 else {
            throw .badRequest(
                "'\(prefix)tolerance' must be a number in (0, 1], the largest standard error of a mean probability")
        }
        return .automatic(AdaptiveSampling(minimumSamples: minimum, maximumSamples: maximum, tolerance: number))
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
    guard number >= 1 else {
        throw .badRequest("'\(field)' must be from 1 to \(limits.maxSamples), got \(format(number))")
    }
    guard number <= Double(limits.maxSamples) else {
        throw .limitExceeded("'\(field)' must be from 1 to \(limits.maxSamples), got \(format(number))")
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

/// Appends pixel values 0–255, given as a flat array or as rows of equal length, and records their count.
func appendPixelValues(_ value: JSONValue, field: String, to buffer: inout PixelBuffer) throws(HTTPError) {
    guard case .array(let items) = value else { throw .badRequest("'\(field)' must be an array of numbers 0–255") }
    let start = buffer.values.count
    var rowWidth: Int?
    for (index, item) in items.enumerated() {
        switch item {
        case .number(let number):
            guard rowWidth == nil else { throw .badRequest("'\(field)' mixes numbers and rows") }
            buffer.values.append(try pixel(number, field: field, index: index))
        case .array(let row):
            guard buffer.values.count - start == index * (rowWidth ?? row.count) else {
                throw .badRequest("'\(field)' mixes numbers and rows")
            }
            if let width = rowWidth, width != row.count {
                throw .badRequest("'\(field)' is ragged: row \(index) has \(row.count) values, row 0 has \(width)")
            }
            rowWidth = row.count
            for (column, element) in row.enumerated() {
                guard case .number(let number) = element else {
                    throw .badRequest(
                        "'\(field)[\(index)][\(column)]' must be a number 0–255, got \(kind(of: element))")
                }
                buffer.values.append(try pixel(number, field: "\(field)[\(index)]", index: column))
            }
        default:
            throw .badRequest("'\(field)[\(index)]' must be a number 0–255, got \(kind(of: item))")
        }
    }
    buffer.counts.append(buffer.values.count - start)
}

/// Appends feature values (a flat, non-empty array of numbers that are finite as 32-bit floats), records their
/// count and marks the buffer as features.
func appendFeatureValues(_ value: JSONValue, field: String, to buffer: inout PixelBuffer) throws(HTTPError) {
    guard case .array(let items) = value, !items.isEmpty else {
        throw .badRequest("'\(field)' must be a non-empty array of numbers")
    }
    buffer.isFeatures = true
    for (index, item) in items.enumerated() {
        guard case .number(let number) = item else {
            throw .badRequest("'\(field)[\(index)]' must be a number, got \(kind(of: item))")
        }
        let feature = Float(number)
        guard feature.isFinite else {
            throw .badRequest("'\(field)[\(index)]' is \(format(number)); features must be finite 32-bit numbers")
        }
        buffer.values.append(feature)
    }
    buffer.counts.append(items.count)
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
    // Whole numbers as the client wrote them ("got 10001", not "got 10001.0").
    if number == number.rounded(), abs(number) < 1e15 { return String(Int64(number)) }
    let text = "\(number)"
    return text.count > 24 ? String(text.prefix(24)) + "…" : text
}
