import HTTPTransport
import MCDropout
import MCDropoutJSON

/// Decoding the V2 infer request's input tensor (JSON data or the binary tensor extension).
extension InferenceService {
    /// Reads the one input tensor: `[B, inputSize]` (or `[B, rows, columns]`), FP32 0–255 or UINT8 `pixels` for an
    /// image model, FP32 `features` (any finite values) for the others.
    func decodeInput(
        _ input: InferRequest.Input, model: LoadedModel, binary: inout BinaryReader
    ) throws(HTTPError) -> (batch: Int, pixels: [Float]) {
        let (name, shape) = (input.name, input.shape)
        let expectedName = Self.inputName(model)
        guard name == expectedName else {
            throw .badRequest("unknown input '\(name)'; this model takes '\(expectedName)'")
        }
        let isFeatures = expectedName == "features"
        guard let datatype = TensorDatatype(rawValue: input.datatype), datatype == .fp32 || !isFeatures else {
            if isFeatures { throw .badRequest("input '\(name)' has datatype \(input.datatype); use FP32") }
            throw .badRequest("input '\(name)' has datatype \(input.datatype); use FP32 (values 0–255) or UINT8")
        }
        let width = model.inputSize
        let validShape =
            (shape.count == 2 && shape[1] == width)
            || (shape.count == 3 && shape[1] * shape[2] == width
                && model.file.metadata.inputShape.map { $0 == [shape[1], shape[2]] } ?? true)
        guard validShape, shape[0] >= 1 else {
            throw .badRequest("input '\(name)' has shape \(shape); expected [batch, \(width)] with batch ≥ 1")
        }
        let batch = shape[0]
        guard batch <= configuration.maxBatchSize else {
            throw .limitExceeded("batch of \(batch) inputs exceeds the limit of \(configuration.maxBatchSize)")
        }
        let count = batch * width
        var pixels: [Float] = []
        pixels.reserveCapacity(count)
        let elementSize = datatype.elementSize
        switch input.values {
        case .binary(let size):
            guard size == count * elementSize else {
                throw .badRequest(
                    "input '\(name)' binary_data_size is \(size) bytes; "
                        + "shape \(shape) of \(datatype.rawValue) needs \(count * elementSize)")
            }
            guard let bytes = binary.read(size) else {
                throw .badRequest(
                    "input '\(name)' claims \(size) bytes of binary data; only \(binary.remaining) remain")
            }
            try appendRaw(bytes, to: &pixels, datatype: datatype, name: name, isFeatures: isFeatures)
        case .raw(let bytes):
            guard bytes.count == count * elementSize else {
                throw .badRequest(
                    "raw_input_contents of input '\(name)' has \(bytes.count) bytes; "
                        + "shape \(shape) of \(datatype.rawValue) needs \(count * elementSize)")
            }
            try appendRaw(bytes, to: &pixels, datatype: datatype, name: name, isFeatures: isFeatures)
        case .numbers(let numbers):
            guard numbers.count == count else {
                throw .badRequest("input '\(name)' has \(numbers.count) values; shape \(shape) needs \(count)")
            }
            for number in numbers {
                try appendNumber(number, to: &pixels, datatype: datatype, name: name, isFeatures: isFeatures)
            }
        case .json(let data):
            try flatten(data, into: &pixels, limit: count, datatype: datatype, name: name, isFeatures: isFeatures)
            guard pixels.count == count else {
                throw .badRequest("input '\(name)' has \(pixels.count) values; shape \(shape) needs \(count)")
            }
        case .missing: throw .badRequest("input '\(name)' has no 'data'")
        }
        return (batch, pixels)
    }

    /// Appends little-endian tensor bytes (UINT8 bytes, or FP32 checked as ``appendNumber`` checks).
    private func appendRaw(
        _ bytes: [UInt8], to pixels: inout [Float], datatype: TensorDatatype, name: String, isFeatures: Bool
    ) throws(HTTPError) {
        guard datatype.elementSize == 4 else {
            for byte in bytes { pixels.append(Float(byte)) }
            return
        }
        for index in 0..<(bytes.count / 4) {
            let bits =
                UInt32(bytes[4 * index]) | UInt32(bytes[4 * index + 1]) << 8
                | UInt32(bytes[4 * index + 2]) << 16 | UInt32(bytes[4 * index + 3]) << 24
            let value = Float(bitPattern: bits)
            if isFeatures, !value.isFinite {
                throw .badRequest("input '\(name)' element \(index) is not finite")
            }
            guard isFeatures || (value >= 0 && value <= 255) else {
                throw .badRequest(
                    "input '\(name)' element \(index) is \(format(Double(value))); pixel values must be from 0 to 255")
            }
            pixels.append(value)
        }
    }

    /// Appends one value: finite for features, 0–255 for pixels, an integer for UINT8.
    private func appendNumber(
        _ number: Double, to pixels: inout [Float], datatype: TensorDatatype, name: String, isFeatures: Bool
    ) throws(HTTPError) {
        if isFeatures, !Float(number).isFinite {
            throw .badRequest(
                "input '\(name)' element \(pixels.count) is \(format(number)); features must be finite 32-bit numbers")
        }
        guard isFeatures || (number >= 0 && number <= 255) else {
            throw .badRequest(
                "input '\(name)' element \(pixels.count) is \(format(number)); pixel values must be from 0 to 255")
        }
        if datatype == .uint8, number.rounded(.towardZero) != number {
            throw .badRequest(
                "input '\(name)' element \(pixels.count) is \(format(number)); UINT8 values must be integers")
        }
        pixels.append(Float(number))
    }

    func flatten(
        _ value: JSONValue, into pixels: inout [Float], limit: Int, datatype: TensorDatatype, name: String,
        isFeatures: Bool = false, depth: Int = 0
    ) throws(HTTPError) {
        switch value {
        case .number(let number):
            guard pixels.count < limit else {
                throw .badRequest("input '\(name)' has more values than its shape allows")
            }
            try appendNumber(number, to: &pixels, datatype: datatype, name: name, isFeatures: isFeatures)
        case .array(let items) where depth < 3:
            for item in items {
                try flatten(
                    item, into: &pixels, limit: limit, datatype: datatype, name: name, isFeatures: isFeatures,
                    depth: depth + 1)
            }
        default:
            throw .badRequest(
                "input '\(name)' data must be numbers (flat, or nested as the shape), got \(kind(of: value))")
        }
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
