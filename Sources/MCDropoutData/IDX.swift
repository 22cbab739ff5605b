/// Why a data set file could not be used. Each case names the file (when known) and what was wrong.
public enum DatasetError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The first bytes are not an IDX header `00 00 <type> <rank>`.
    case badMagic(file: String, found: [UInt8])
    /// The element type byte is not `0x08` (unsigned byte), the only one MNIST-style sets use.
    case unsupportedElementType(file: String, type: UInt8)
    /// The header promises more bytes than the file holds.
    case truncated(file: String, expectedBytes: Int, foundBytes: Int)
    /// The file holds bytes after the last element.
    case trailingBytes(file: String, count: Int)
    /// Images are not `[count, 28, 28]`-like (rank 3) or labels not rank 1.
    case unexpectedShape(file: String, dimensions: [Int])
    /// The image and label files disagree on the number of examples.
    case countMismatch(images: Int, labels: Int)
    /// A label is not below the number of classes.
    case labelOutOfRange(index: Int, label: Int, classCount: Int)
    /// The file could not be read or decompressed.
    case unreadable(file: String, reason: String)
    /// The directory holds another known data set than the one asked for (e.g. MNIST digits for Fashion-MNIST).
    case otherDataset(directory: String, expected: String, found: String)

    public var description: String {
        switch self {
        case .badMagic(let file, let found):
            return "\(file): not an IDX file (magic bytes \(found.map { String($0, radix: 16) }))"
        case .unsupportedElementType(let file, let type):
            return "\(file): IDX element type 0x\(String(type, radix: 16)) is not supported (only 0x08 unsigned byte)"
        case .truncated(let file, let expected, let found):
            return "\(file): truncated IDX data, header promises \(expected) bytes but \(found) are present"
        case .trailingBytes(let file, let count):
            return "\(file): \(count) unexpected bytes after the IDX data"
        case .unexpectedShape(let file, let dimensions):
            return "\(file): unexpected IDX dimensions \(dimensions)"
        case .countMismatch(let images, let labels):
            return "image/label count mismatch: \(images) images but \(labels) labels"
        case .labelOutOfRange(let index, let label, let classCount):
            return "label \(label) of example \(index) is outside 0..<\(classCount)"
        case .unreadable(let file, let reason):
            return "\(file): \(reason)"
        case .otherDataset(let directory, let expected, let found):
            return "\(directory) holds \(found), not \(expected) (its labels are \(found)'s); "
                + "use --data-dir data/\(expected) or the matching --dataset"
        }
    }
}

/// A tensor of unsigned bytes read from an IDX file (the MNIST distribution format).
public struct IDXArray: Sendable, Equatable {
    /// The dimensions, outermost first, e.g. `[60000, 28, 28]`.
    public var dimensions: [Int]
    /// The elements in row-major order.
    public var bytes: [UInt8]

    /// Creates an array; `bytes.count` must equal the product of the dimensions.
    public init(dimensions: [Int], bytes: [UInt8]) {
        precondition(dimensions.reduce(1, *) == bytes.count, "element count does not match the dimensions")
        self.dimensions = dimensions
        self.bytes = bytes
    }

    /// Parses uncompressed IDX bytes; `file` only names the source in errors.
    public init(parsing data: [UInt8], file: String = "<memory>") throws(DatasetError) {
        guard data.count >= 4, data[0] == 0, data[1] == 0 else {
            throw .badMagic(file: file, found: Array(data.prefix(4)))
        }
        guard data[2] == 0x08 else { throw .unsupportedElementType(file: file, type: data[2]) }
        let rank = Int(data[3])
        guard rank >= 1 else { throw .badMagic(file: file, found: Array(data.prefix(4))) }
        let headerSize = 4 + 4 * rank
        guard data.count >= headerSize else {
            throw .truncated(file: file, expectedBytes: headerSize, foundBytes: data.count)
        }
        var dimensions: [Int] = []
        var elementCount = 1
        for index in 0..<rank {
            let offset = 4 + 4 * index
            let value =
                Int(data[offset]) << 24 | Int(data[offset + 1]) << 16 | Int(data[offset + 2]) << 8
                | Int(data[offset + 3])
            dimensions.append(value)
            let (product, overflow) = elementCount.multipliedReportingOverflow(by: value)
            guard !overflow, product <= Int(Int32.max) else {
                throw .unexpectedShape(file: file, dimensions: dimensions)
            }
            elementCount = product
        }
        let available = data.count - headerSize
        guard available >= elementCount else {
            throw .truncated(file: file, expectedBytes: headerSize + elementCount, foundBytes: data.count)
        }
        guard available == elementCount else { throw .trailingBytes(file: file, count: available - elementCount) }
        self.init(dimensions: dimensions, bytes: Array(data[headerSize...]))
    }

    /// Encodes the array as uncompressed IDX bytes.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = [0, 0, 0x08, UInt8(dimensions.count)]
        for dimension in dimensions {
            out += [
                UInt8(truncatingIfNeeded: dimension >> 24), UInt8(truncatingIfNeeded: dimension >> 16),
                UInt8(truncatingIfNeeded: dimension >> 8), UInt8(truncatingIfNeeded: dimension),
            ]
        }
        return out + bytes
    }
}

/// Images and their class labels, one byte per pixel (0–255) and per label.
public struct LabeledImages: Sendable, Equatable {
    /// The number of examples.
    public let count: Int
    /// Pixels per image (784 for 28×28).
    public let pixelCount: Int
    /// All pixels, image after image.
    public let pixels: [UInt8]
    /// One label per image.
    public let labels: [UInt8]

    /// Pairs an image array `[N, rows, columns]` with a label array `[N]`.
    public init(images: IDXArray, labels: IDXArray, classCount: Int = 10, file: String = "<memory>")
        throws(DatasetError)
    {
        guard images.dimensions.count == 3 else { throw .unexpectedShape(file: file, dimensions: images.dimensions) }
        guard labels.dimensions.count == 1 else { throw .unexpectedShape(file: file, dimensions: labels.dimensions) }
        guard images.dimensions[0] == labels.dimensions[0] else {
            throw .countMismatch(images: images.dimensions[0], labels: labels.dimensions[0])
        }
        if let bad = labels.bytes.firstIndex(where: { Int($0) >= classCount }) {
            throw .labelOutOfRange(index: bad, label: Int(labels.bytes[bad]), classCount: classCount)
        }
        self.init(pixels: images.bytes, labels: labels.bytes, pixelCount: images.dimensions[1] * images.dimensions[2])
    }

    /// Creates a set from raw arrays.
    public init(pixels: [UInt8], labels: [UInt8], pixelCount: Int) {
        precondition(pixels.count == labels.count * pixelCount, "pixel count must equal labels × pixels per image")
        self.count = labels.count
        self.pixelCount = pixelCount
        self.pixels = pixels
        self.labels = labels
    }

    /// The examples in `range`.
    public func subset(_ range: Range<Int>) -> LabeledImages {
        LabeledImages(
            pixels: Array(pixels[(range.lowerBound * pixelCount)..<(range.upperBound * pixelCount)]),
            labels: Array(labels[range]), pixelCount: pixelCount)
    }

    /// The image at `index` as floats divided by `scale`.
    public func image(_ index: Int, scale: Float) -> [Float] {
        pixels[(index * pixelCount)..<((index + 1) * pixelCount)].map { Float($0) / scale }
    }
}
