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
        guard case .number(let version) = try field("format_version"),
            (1...Double(Self.currentFormatVersion)).contains(version), version.rounded() == version
        else {
            throw .invalidMetadata(
                field: "format_version",
                reason:
                    "only versions 1 to \(Self.currentFormatVersion) are supported (a newer mcdropout wrote this file)")
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
        var slope: Float = 0.01
        if let value = architecture["negative_slope"] {
            guard case .number(let number) = value, number.isFinite, activation == "leaky_relu" else {
                throw .invalidMetadata(
                    field: "architecture.negative_slope", reason: "must be a finite number, for leaky_relu only")
            }
            slope = Float(number)
        }
        guard let hiddenActivation = HiddenActivation(name: activation, negativeSlope: slope) else {
            let known = HiddenActivation.names.joined(separator: ", ")
            throw .invalidMetadata(
                field: "architecture.activation", reason: "'\(activation)' is not supported (one of \(known))")
        }
        let head = try Self.head(object, outputSize: sizes[sizes.count - 1])
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
        let inputMean = try Self.perInput(input["mean"], field: "input.mean", width: sizes[0], isPositive: false)
        let inputStd = try Self.perInput(input["std"], field: "input.std", width: sizes[0], isPositive: true)
        guard (inputMean == nil) == (inputStd == nil) else {
            throw .invalidMetadata(field: inputMean == nil ? "input.mean" : "input.std", reason: "give both or neither")
        }
        let transform = try Self.transform(input["transform"], shape: shape)
        var labelValues: [JSONValue] = []
        if head.isClassification {
            guard case .array(let values) = try field("labels"), values.count == sizes[sizes.count - 1] else {
                throw .invalidMetadata(
                    field: "labels", reason: "must hold one name per output (\(sizes[sizes.count - 1]))")
            }
            labelValues = values
        } else if object["labels"] != nil {
            throw .invalidMetadata(field: "labels", reason: "only classification models have labels")
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
            "metrics", "task", "outputs",
        ]
        let extensions = JSONObject(object.members.filter { !known.contains($0.key) })
        self.init(
            layerSizes: sizes, dropoutProbabilities: dropout, labels: labels, dataset: dataset, seed: UInt64(seed),
            inputScale: Float(scale), inputShape: shape, hyperparameters: hyperparameters, metrics: metrics,
            extensions: extensions)
        self.activation = hiddenActivation
        self.head = head
        self.inputMean = inputMean
        self.inputStd = inputStd
        self.inputTransform = transform
    }

    /// Reads `input.transform`: absent (none) or a known transform, which needs a square single-channel `input.shape`.
    private static func transform(_ value: JSONValue?, shape: [Int]?) throws(ModelFileError) -> InputTransform? {
        guard let value else { return nil }
        let known = InputTransform.names.joined(separator: ", ")
        guard case .string(let name) = value else {
            throw .invalidMetadata(field: "input.transform", reason: "must be a string (one of \(known))")
        }
        guard let transform = InputTransform(rawValue: name) else {
            throw .invalidMetadata(field: "input.transform", reason: "'\(name)' is not supported (one of \(known))")
        }
        guard InputTransform.squareSide(of: shape) != nil else {
            let found = shape.map { "\($0)" } ?? "none"
            throw .invalidMetadata(
                field: "input.transform",
                reason:
                    "\(name) needs a square single-channel image (input.shape [side, side]); input.shape is \(found)")
        }
        return transform
    }

    /// Reads `task` (`"classification"`, the default, or `"regression"`) and, for regression, `outputs` (`"mean"`,
    /// the default, or `"mean_logvar"`, which needs an even number of outputs).
    private static func head(_ object: JSONObject, outputSize: Int) throws(ModelFileError) -> OutputHead {
        var task = "classification"
        if let value = object["task"] {
            guard case .string(let name) = value, name == "classification" || name == "regression" else {
                throw .invalidMetadata(field: "task", reason: "must be \"classification\" or \"regression\"")
            }
            task = name
        }
        var outputs = "mean"
        if let value = object["outputs"] {
            guard case .string(let name) = value, name == "mean" || name == "mean_logvar", task == "regression" else {
                throw .invalidMetadata(
                    field: "outputs", reason: "must be \"mean\" or \"mean_logvar\", for regression only")
            }
            outputs = name
        }
        if task == "classification" { return .classification }
        if outputs == "mean" { return .regression }
        guard outputSize % 2 == 0 else {
            throw .invalidMetadata(
                field: "outputs", reason: "mean_logvar needs 2 outputs per target, got \(outputSize)")
        }
        return .meanLogVariance
    }

    /// An optional array of `width` finite numbers (positive ones when `isPositive`).
    private static func perInput(
        _ value: JSONValue?, field: String, width: Int, isPositive: Bool
    ) throws(ModelFileError) -> [Float]? {
        guard let value else { return nil }
        let reason = "must be \(width) finite\(isPositive ? " positive" : "") numbers, one per input"
        guard case .array(let values) = value, values.count == width else {
            throw .invalidMetadata(field: field, reason: reason)
        }
        var result: [Float] = []
        result.reserveCapacity(width)
        for element in values {
            guard case .number(let number) = element, Float(number).isFinite, !isPositive || number > 0 else {
                throw .invalidMetadata(field: field, reason: reason)
            }
            result.append(Float(number))
        }
        return result
    }
}

extension ModelMetadata {
    /// How raw values become the network's inputs: `input.scale`, `input.transform` and `input.mean`/`input.std`.
    public var inputPreparation: InputPreparation {
        InputPreparation(
            scale: inputScale, transform: inputTransform,
            imageSide: inputTransform == nil ? 0 : InputTransform.squareSide(of: inputShape) ?? 0, mean: inputMean,
            std: inputStd)
    }

    /// Appends the network inputs for raw values (pixels or features, row after row, `layerSizes[0]` per row) to
    /// `inputs` (``InputPreparation/append(_:to:)``): `x / inputScale`, moved by the input transform, then
    /// `(· − mean) / std` per column when the file has normalisation constants.
    public func appendNetworkInputs(_ raw: [Float], to inputs: inout [Float]) {
        inputPreparation.append(raw, to: &inputs)
    }
}
