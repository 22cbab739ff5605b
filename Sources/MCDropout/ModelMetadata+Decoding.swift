public import MCDropoutJSON

/// Non-negative integers up to `maximum`, or nil if any element is not one.
func integers(_ values: [JSONValue], maximum: Int) -> [Int]? {
    var result: [Int] = []
    for value in values {
        guard case .number(let number) = value, number >= 0, number <= Double(maximum), number.rounded() == number
        else {
            return nil
        }
        result.append(Int(number))
    }
    return result
}

extension ModelMetadata {
    /// Validates and reads the `mcdropout` metadata object.
    public init(decoding value: JSONValue) throws(ModelFileError) {
        guard case .object(let object) = value else {
            throw .invalidMetadata(field: "mcdropout", reason: "must be a JSON object")
        }
        func field(_ name: String) throws(ModelFileError) -> JSONValue {
            guard let value = object[name] else { throw .missingMetadata(field: name) }
            return value
        }
        guard case .number(let version) = try field("format_version"), version == Double(Self.currentFormatVersion)
        else {
            throw .invalidMetadata(
                field: "format_version", reason: "only version \(Self.currentFormatVersion) is supported")
        }
        guard case .object(let architecture) = try field("architecture") else {
            throw .invalidMetadata(field: "architecture", reason: "must be an object")
        }
        guard case .array(let sizeValues)? = architecture["layer_sizes"] else {
            throw .missingMetadata(field: "architecture.layer_sizes")
        }
        guard let sizes = integers(sizeValues, maximum: 1 << 20), sizes.count >= 2, sizes.allSatisfy({ $0 > 0 }) else {
            throw .invalidMetadata(field: "architecture.layer_sizes", reason: "must be at least two positive integers")
        }
        guard case .string(let activation)? = architecture["activation"] else {
            throw .missingMetadata(field: "architecture.activation")
        }
        guard activation == "relu" else {
            throw .invalidMetadata(
                field: "architecture.activation", reason: "'\(activation)' is not supported (relu only)")
        }
        guard case .array(let dropoutValues) = try field("dropout"), dropoutValues.count == sizes.count - 1 else {
            throw .invalidMetadata(
                field: "dropout", reason: "must hold one probability per dense layer (\(sizes.count - 1))")
        }
        var dropout: [Float] = []
        for value in dropoutValues {
            guard case .number(let p) = value, p >= 0, p < 1 else {
                throw .invalidMetadata(field: "dropout", reason: "probabilities must be in [0, 1)")
            }
            dropout.append(Float(p))
        }
        guard case .object(let input) = try field("input") else {
            throw .invalidMetadata(field: "input", reason: "must be an object")
        }
        guard case .number(let scale)? = input["scale"], scale.isFinite, scale > 0 else {
            throw .invalidMetadata(field: "input.scale", reason: "must be a positive number")
        }
        var shape: [Int]?
        if let shapeValue = input["shape"] {
            guard case .array(let values) = shapeValue, let dimensions = integers(values, maximum: 1 << 20),
                dimensions.reduce(1, *) == sizes[0]
            else {
                throw .invalidMetadata(field: "input.shape", reason: "must be integers whose product is \(sizes[0])")
            }
            shape = dimensions
        }
        guard case .array(let labelValues) = try field("labels"), labelValues.count == sizes[sizes.count - 1] else {
            throw .invalidMetadata(field: "labels", reason: "must hold one name per output (\(sizes[sizes.count - 1]))")
        }
        var labels: [String] = []
        for value in labelValues {
            guard case .string(let label) = value else {
                throw .invalidMetadata(field: "labels", reason: "must be strings")
            }
            labels.append(label)
        }
        guard case .string(let dataset) = try field("dataset") else {
            throw .invalidMetadata(field: "dataset", reason: "must be a string")
        }
        guard case .number(let seed) = try field("seed"), seed >= 0, seed.rounded() == seed, seed < 0x1p64 else {
            throw .invalidMetadata(field: "seed", reason: "must be a non-negative integer")
        }
        var hyperparameters = JSONObject()
        if let value = object["hyperparameters"] {
            guard case .object(let inner) = value else {
                throw .invalidMetadata(field: "hyperparameters", reason: "must be an object")
            }
            hyperparameters = inner
        }
        guard case .object(let metrics) = try field("metrics") else {
            throw .invalidMetadata(field: "metrics", reason: "must be an object")
        }
        let known: Set<String> = [
            "format_version", "architecture", "dropout", "input", "labels", "dataset", "seed", "hyperparameters",
            "metrics",
        ]
        let extensions = JSONObject(object.members.filter { !known.contains($0.key) })
        self.init(
            layerSizes: sizes, dropoutProbabilities: dropout, labels: labels, dataset: dataset, seed: UInt64(seed),
            inputScale: Float(scale), inputShape: shape, hyperparameters: hyperparameters, metrics: metrics,
            extensions: extensions)
    }
}
