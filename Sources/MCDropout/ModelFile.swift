public import MCDropoutJSON

/// Why a model file was rejected; every case names the tensor or metadata field at fault.
public enum ModelFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Fewer than the 8 bytes of the safetensors header length.
    case tooShort(byteCount: Int)
    /// The declared header length does not fit the file.
    case headerLengthOutOfRange(declared: UInt64, fileSize: Int)
    /// The header is not valid JSON, or not a JSON object.
    case invalidHeader(reason: String)
    /// A tensor entry lacks `dtype`, `shape` or `data_offsets`, or they are malformed.
    case malformedTensorEntry(tensor: String, reason: String)
    /// A tensor is not `F32`.
    case unsupportedDataType(tensor: String, dataType: String)
    /// A tensor's byte range lies outside the data section, disagrees with its shape, or overlaps another.
    case invalidDataOffsets(tensor: String, reason: String)
    /// A tensor the architecture needs is absent.
    case missingTensor(String)
    /// A tensor the architecture does not know is present.
    case unexpectedTensor(String)
    /// A tensor's shape differs from what the architecture requires.
    case shapeMismatch(tensor: String, expected: [Int], found: [Int])
    /// A required metadata field is absent.
    case missingMetadata(field: String)
    /// A metadata field has the wrong type or an invalid value.
    case invalidMetadata(field: String, reason: String)
    /// A weight is NaN or infinite.
    case nonFiniteWeight(tensor: String, index: Int)

    public var description: String {
        switch self {
        case .tooShort(let count): return "model file too short (\(count) bytes): not a safetensors file"
        case .headerLengthOutOfRange(let declared, let size):
            return "safetensors header length \(declared) does not fit a file of \(size) bytes"
        case .invalidHeader(let reason): return "invalid safetensors header: \(reason)"
        case .malformedTensorEntry(let tensor, let reason): return "tensor '\(tensor)': \(reason)"
        case .unsupportedDataType(let tensor, let type):
            return "tensor '\(tensor)': dtype \(type) is not supported (F32 only)"
        case .invalidDataOffsets(let tensor, let reason): return "tensor '\(tensor)': invalid data_offsets: \(reason)"
        case .missingTensor(let name): return "tensor '\(name)' is missing"
        case .unexpectedTensor(let name): return "unexpected tensor '\(name)'"
        case .shapeMismatch(let tensor, let expected, let found):
            return "tensor '\(tensor)' has shape \(found), expected \(expected)"
        case .missingMetadata(let field): return "metadata field '\(field)' is missing"
        case .invalidMetadata(let field, let reason): return "metadata field '\(field)': \(reason)"
        case .nonFiniteWeight(let tensor, let index): return "tensor '\(tensor)' holds a non-finite value at \(index)"
        }
    }
}

/// The `mcdropout` metadata of a model file: what the weights are and how they were made.
public struct ModelMetadata: Sendable, Equatable {
    /// The newest metadata layout version this code reads; it reads every older one too.
    ///
    /// A file is written with the lowest version that holds what it uses (``formatVersion``), so that a server too
    /// old to apply a part refuses the file ("only version 1 is supported") instead of serving it without that part:
    /// version 2 adds `input.transform` (it changes what the network sees), the density statistics (the `density`
    /// extension and `density.*` tensors, which the uncertainty rule's conditions read) and deep-ensemble members
    /// (`members.{k}.*`; an older reader would serve member 0 alone).
    public static let currentFormatVersion = 2

    /// The version this metadata is written with on its own: 2 when it declares an input transform or carries
    /// density statistics, else 1 (readable by every release since the format began). A file with deep-ensemble
    /// members is written as 2 whatever this says (``ModelFile/encoded()``).
    public var formatVersion: Int { inputTransform != nil || extensions[DensityModel.metadataKey] != nil ? 2 : 1 }

    /// Widths of input and every layer output, e.g. `[784, 512, 512, 10]`.
    public var layerSizes: [Int]
    /// The hidden activation (`architecture.activation`, with `architecture.negative_slope` for leaky ReLU).
    public var activation: HiddenActivation = .relu
    /// What the outputs are: `task` `"classification"` (the default) or `"regression"`, the latter with
    /// `"outputs": "mean_logvar"` for a heteroscedastic head.
    public var head: OutputHead = .classification
    /// Per-input means and standard deviations (`input.mean`, `input.std`): the network sees
    /// `(x / inputScale − mean) / std`. Both or neither.
    public var inputMean: [Float]?
    public var inputStd: [Float]?
    /// Probability of dropping, one per dense layer input (the first applies to the input pixels).
    public var dropoutProbabilities: [Float]
    /// Pixels (0–255) are divided by this before the first layer.
    public var inputScale: Float = 255
    /// The input's image shape, e.g. `[28, 28]`, when it is an image.
    public var inputShape: [Int]?
    /// The step applied to each image before the network (`input.transform`; nil: none). Needs a square
    /// single-channel ``inputShape`` (``InputTransform/squareSide(of:)``); decoding refuses a file without one.
    public var inputTransform: InputTransform?
    /// One class name per output; empty for regression.
    public var labels: [String]
    /// The training data set's name.
    public var dataset: String
    /// The training seed.
    public var seed: UInt64
    /// Training hyper-parameters, free-form.
    public var hyperparameters: JSONObject
    /// Test-set metrics, free-form.
    public var metrics: JSONObject
    /// Any further top-level fields, kept verbatim so tools can add to a file without this code knowing them
    /// (for example recommended uncertainty thresholds).
    public var extensions: JSONObject

    /// Creates metadata for a network.
    public init(
        layerSizes: [Int], dropoutProbabilities: [Float], labels: [String], dataset: String, seed: UInt64,
        inputScale: Float = 255, inputShape: [Int]? = nil, hyperparameters: JSONObject = JSONObject(),
        metrics: JSONObject = JSONObject(), extensions: JSONObject = JSONObject()
    ) {
        self.layerSizes = layerSizes
        self.dropoutProbabilities = dropoutProbabilities
        self.labels = labels
        self.dataset = dataset
        self.seed = seed
        self.inputScale = inputScale
        self.inputShape = inputShape
        self.hyperparameters = hyperparameters
        self.metrics = metrics
        self.extensions = extensions
    }
}

/// A trained network with its metadata, stored as safetensors.
///
/// Layout: tensors `layers.{i}.weight` (`[out, in]`) and `layers.{i}.bias` (`[out]`), float32 little-endian, in
/// forward order; `__metadata__.mcdropout` holds the ``ModelMetadata`` as a JSON string. Files open with Python's
/// `safetensors.numpy.load_file` and load into a PyTorch `nn.Linear` stack unchanged.
public struct ModelFile: Sendable, Equatable {
    /// The network.
    public var model: DropoutMLP
    /// What the network is.
    public var metadata: ModelMetadata
    /// The other networks of a deep ensemble (``model`` is the first member); empty for one network. See
    /// `ModelFile+Ensemble.swift` for the layout.
    public var additionalMembers: [DropoutMLP] = []
    /// Training-set statistics for the density scores (tensors `density.*`, metadata extension `"density"`), if any.
    public var density: DensityModel?

    /// Pairs a network with its metadata; the metadata's architecture must describe the network.
    public init(model: DropoutMLP, metadata: ModelMetadata, density: DensityModel? = nil) {
        precondition(metadata.layerSizes == model.layerSizes, "metadata layer sizes must match the model")
        precondition(metadata.dropoutProbabilities == model.dropoutProbabilities, "metadata dropout must match")
        precondition(metadata.activation == model.activation, "metadata activation must match")
        if let density { density.checkShapes(against: model) }
        self.model = model
        self.metadata = metadata
        self.density = density
    }
}

// MARK: - Encoding

extension ModelMetadata {
    /// The metadata as a JSON object, field order fixed so the encoding is deterministic.
    public var jsonValue: JSONValue { jsonValue(formatVersion: formatVersion) }

    /// The metadata as a JSON object written as `formatVersion`.
    func jsonValue(formatVersion: Int) -> JSONValue {
        var members: [JSONObject.Member] = [
            ("format_version", .number(Double(formatVersion))),
            (
                "architecture",
                .object(
                    JSONObject(architectureMembers))
            ),
            ("dropout", .array(dropoutProbabilities.map { .number(shortestDecimal($0)) })),
        ]
        var input: [JSONObject.Member] = [("scale", .number(shortestDecimal(inputScale)))]
        if let inputShape { input.append(("shape", .array(inputShape.map { .number(Double($0)) }))) }
        if let inputMean { input.append(("mean", .array(inputMean.map { .number(shortestDecimal($0)) }))) }
        if let inputStd { input.append(("std", .array(inputStd.map { .number(shortestDecimal($0)) }))) }
        if let inputTransform { input.append(("transform", .string(inputTransform.rawValue))) }
        members.append(("input", .object(JSONObject(input))))
        switch head {
        case .classification: members.append(("labels", .array(labels.map { .string($0) })))
        case .regression: members.append(("task", .string("regression")))
        case .meanLogVariance:
            members.append(("task", .string("regression")))
            members.append(("outputs", .string("mean_logvar")))
        }
        members.append(("dataset", .string(dataset)))
        members.append(("seed", .number(Double(seed))))
        members.append(("hyperparameters", .object(hyperparameters)))
        members.append(("metrics", .object(metrics)))
        for (key, value) in extensions.members { members.append((key, value)) }
        return .object(JSONObject(members))
    }
}

extension ModelMetadata {
    /// `layer_sizes`, `activation` and, for leaky ReLU, `negative_slope`.
    private var architectureMembers: [JSONObject.Member] {
        var members: [JSONObject.Member] = [
            ("layer_sizes", .array(layerSizes.map { .number(Double($0)) })),
            ("activation", .string(activation.name)),
        ]
        if case .leakyReLU(let slope) = activation {
            members.append(("negative_slope", .number(shortestDecimal(slope))))
        }
        return members
    }
}

extension ModelFile {
    /// Encodes the model as safetensors bytes; equal models give equal bytes.
    public func encoded() -> [UInt8] {
        var stored = metadata
        stored.extensions[DensityModel.metadataKey] = density?.jsonValue
        let version = additionalMembers.isEmpty ? stored.formatVersion : 2
        let metadataJSON = String(decoding: stored.jsonValue(formatVersion: version).serialized(), as: UTF8.self)
        var entries: [JSONObject.Member] = [
            (
                "__metadata__",
                .object(
                    JSONObject([("mcdropout", .string(metadataJSON))])
                )
            )
        ]
        var offset = 0
        var tensors: [(name: String, shape: [Int], values: [Float])] = []
        tensors += networkTensors
        tensors += density?.tensors ?? []
        for tensor in tensors {
            let count = tensor.values.count
            entries.append(
                (
                    tensor.name,
                    .object(
                        JSONObject([
                            ("dtype", .string("F32")),
                            ("shape", .array(tensor.shape.map { .number(Double($0)) })),
                            ("data_offsets", .array([.number(Double(offset)), .number(Double(offset + 4 * count))])),
                        ]))
                ))
            offset += 4 * count
        }
        var header = JSONValue.object(JSONObject(entries)).serialized()
        // Pad with spaces to an 8-byte boundary, as the reference implementation does, so data is aligned.
        while (8 + header.count) % 8 != 0 { header.append(0x20) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + header.count + offset)
        var length = UInt64(header.count)
        for _ in 0..<8 {
            bytes.append(UInt8(truncatingIfNeeded: length))
            length >>= 8
        }
        bytes.append(contentsOf: header)
        for tensor in tensors {
            for value in tensor.values {
                var bits = value.bitPattern
                for _ in 0..<4 {
                    bytes.append(UInt8(truncatingIfNeeded: bits))
                    bits >>= 8
                }
            }
        }
        return bytes
    }
}

// MARK: - Decoding

extension ModelFile {
    /// Decodes and validates safetensors bytes written by ``encoded()`` or by Python's `safetensors`.
    public init(decoding bytes: [UInt8]) throws(ModelFileError) {
        guard bytes.count >= 8 else { throw .tooShort(byteCount: bytes.count) }
        var declared: UInt64 = 0
        for index in (0..<8).reversed() { declared = declared << 8 | UInt64(bytes[index]) }
        guard declared <= UInt64(bytes.count - 8) else {
            throw .headerLengthOutOfRange(declared: declared, fileSize: bytes.count)
        }
        let headerEnd = 8 + Int(declared)
        let header: JSONValue
        do {
            header = try JSONParser.parse(Array(bytes[8..<headerEnd]))
        } catch {
            throw .invalidHeader(reason: error.description)
        }
        guard case .object(let entries) = header else {
            throw .invalidHeader(reason: "the header is not a JSON object")
        }

        guard case .object(let stringMetadata)? = entries["__metadata__"] else {
            throw .missingMetadata(field: "__metadata__")
        }
        guard case .string(let text)? = stringMetadata["mcdropout"] else { throw .missingMetadata(field: "mcdropout") }
        let metadataValue: JSONValue
        do {
            metadataValue = try JSONParser.parse(Array(text.utf8))
        } catch {
            throw .invalidMetadata(field: "mcdropout", reason: "not valid JSON: \(error.description)")
        }
        let metadata = try ModelMetadata(decoding: metadataValue)

        let dataSize = bytes.count - headerEnd
        var tensors: [String: (shape: [Int], range: Range<Int>)] = [:]
        for (name, value) in entries.members where name != "__metadata__" {
            tensors[name] = try Self.tensorEntry(name: name, value: value, dataSize: dataSize)
        }
        let ranges = tensors.values.map(\.range).sorted { $0.lowerBound < $1.lowerBound }
        for (previous, next) in zip(ranges, ranges.dropFirst()) where next.lowerBound < previous.upperBound {
            let name = tensors.first { $0.value.range == next }!.key
            throw .invalidDataOffsets(tensor: name, reason: "overlaps another tensor")
        }

        var networks: [DropoutMLP] = []
        let sizes = metadata.layerSizes
        for prefix in Self.networkPrefixes(in: tensors.keys) {
            var layers: [Dense] = []
            for index in 0..<(sizes.count - 1) {
                let weightName = "\(prefix)layers.\(index).weight"
                let biasName = "\(prefix)layers.\(index).bias"
                guard let weight = tensors.removeValue(forKey: weightName) else { throw .missingTensor(weightName) }
                guard let bias = tensors.removeValue(forKey: biasName) else { throw .missingTensor(biasName) }
                guard weight.shape == [sizes[index + 1], sizes[index]] else {
                    throw .shapeMismatch(
                        tensor: weightName, expected: [sizes[index + 1], sizes[index]], found: weight.shape)
                }
                guard bias.shape == [sizes[index + 1]] else {
                    throw .shapeMismatch(tensor: biasName, expected: [sizes[index + 1]], found: bias.shape)
                }
                let weights = try Self.floats(bytes, range: weight.range, offset: headerEnd, tensor: weightName)
                let biases = try Self.floats(bytes, range: bias.range, offset: headerEnd, tensor: biasName)
                layers.append(
                    Dense(weight: Matrix(rows: sizes[index + 1], columns: sizes[index], storage: weights), bias: biases)
                )
            }
            networks.append(
                DropoutMLP(
                    layers: layers, dropoutProbabilities: metadata.dropoutProbabilities,
                    activation: metadata.activation))
        }
        let model = networks[0]
        var metadataWithoutDensity = metadata
        metadataWithoutDensity.extensions[DensityModel.metadataKey] = nil
        let density = try metadata.extensions[DensityModel.metadataKey].map { (value) throws(ModelFileError) in
            try DensityModel(decoding: value, model: model) { (name) throws(ModelFileError) in
                guard let entry = tensors.removeValue(forKey: name) else { throw .missingTensor(name) }
                return (entry.shape, try Self.floats(bytes, range: entry.range, offset: headerEnd, tensor: name))
            }
        }
        if let extra = tensors.keys.sorted().first { throw .unexpectedTensor(extra) }
        self.init(members: networks, metadata: metadataWithoutDensity, density: density)
    }

    private static func tensorEntry(
        name: String, value: JSONValue, dataSize: Int
    ) throws(ModelFileError) -> (shape: [Int], range: Range<Int>) {
        guard case .object(let entry) = value else {
            throw .malformedTensorEntry(tensor: name, reason: "not an object")
        }
        guard case .string(let type)? = entry["dtype"] else {
            throw .malformedTensorEntry(tensor: name, reason: "missing dtype")
        }
        guard type == "F32" else { throw .unsupportedDataType(tensor: name, dataType: type) }
        guard case .array(let shapeValues)? = entry["shape"], let shape = integers(shapeValues, maximum: 1 << 28) else {
            throw .malformedTensorEntry(tensor: name, reason: "shape must be an array of non-negative integers")
        }
        guard case .array(let offsetValues)? = entry["data_offsets"],
            let offsets = integers(offsetValues, maximum: dataSize),
            offsets.count == 2
        else {
            throw .invalidDataOffsets(
                tensor: name, reason: "must be two integers within the \(dataSize)-byte data section")
        }
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= 1 << 28 else {
                throw .malformedTensorEntry(tensor: name, reason: "shape \(shape) is too large")
            }
            count = product
        }
        guard offsets[0] <= offsets[1], offsets[1] - offsets[0] == 4 * count else {
            throw .invalidDataOffsets(
                tensor: name, reason: "[\(offsets[0]), \(offsets[1])] does not hold \(count) float32 values")
        }
        return (shape, offsets[0]..<offsets[1])
    }

    private static func floats(
        _ bytes: [UInt8], range: Range<Int>, offset: Int, tensor: String
    ) throws(ModelFileError) -> [Float] {
        var values = [Float](repeating: 0, count: range.count / 4)
        var nonFinite: Int?
        bytes.withUnsafeBytes { raw in
            for index in values.indices {
                let bits = raw.loadUnaligned(fromByteOffset: offset + range.lowerBound + 4 * index, as: UInt32.self)
                values[index] = Float(bitPattern: UInt32(littleEndian: bits))
                if nonFinite == nil, !values[index].isFinite { nonFinite = index }
            }
        }
        if let nonFinite { throw .nonFiniteWeight(tensor: tensor, index: nonFinite) }
        return values
    }
}

/// The `Double` nearest the shortest decimal that round-trips `value`, so `0.3` is written as `0.3`, not as
/// `0.30000001192092896`; converting it back to `Float` gives `value` again.
public func shortestDecimal(_ value: Float) -> Double {
    Double(value.description) ?? Double(value)
}
