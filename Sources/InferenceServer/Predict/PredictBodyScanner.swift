import MCDropoutJSON

/// A direct scanner for the common shapes of a `/predict` body: it reads the pixel numbers straight into a
/// ``PixelBuffer`` instead of building a ``JSONValue`` tree of 784 numbers.
///
/// It only ever *accepts*: it returns `nil` as soon as the body leaves the subset it handles, and the caller then
/// runs the full ``JSONParser``, which accepts or rejects and words the error. The subset is chosen so that whatever
/// the scanner accepts, the parser accepts too, with the same values:
/// - whitespace is JSON's four characters; the top level is one object and nothing but whitespace follows it;
/// - keys and string values are printable ASCII without escapes (so no `\u` tricks, no UTF-8 to validate);
///   keys must be known ones, each at most once (duplicates are left to the parser, which rejects them);
/// - numbers have no sign, no exponent, no leading zero, at most 15 significant digits and 22 fraction digits, so
///   `significand / 10^fractionDigits` is exact-then-correctly-rounded, exactly the parser's fast path
///   (`DecimalConversion`);
/// - pixels are a non-empty flat array of numbers in 0…255 or non-empty rows of equal, non-zero width; an
///   instance is such an array or `{"pixels": …}`; scalars are numbers (or `"auto"` for `samples`, a string for
///   `model` and `uncertainty_score`); `true`, `false`, `null`, other nesting, out-of-range pixels and other
///   surprises all fall back.
struct PredictBodyScanner {
    /// What the scanner found besides the pixels.
    struct Result {
        var scalars = PredictScalars()
        var isBatch = false
    }

    private let bytes: UnsafePointer<UInt8>
    private let end: Int
    private var index = 0

    private init(bytes: UnsafePointer<UInt8>, end: Int) {
        self.bytes = bytes
        self.end = end
    }

    /// Scans `body`, appending pixels to `pixels`; `nil` means "use the full parser" (`pixels` is then garbage).
    static func scan(_ body: [UInt8], maxBatchSize: Int, into pixels: inout PixelBuffer) -> Result? {
        body.withUnsafeBufferPointer { buffer -> Result? in
            guard let base = buffer.baseAddress, !buffer.isEmpty else { return nil }
            var scanner = PredictBodyScanner(bytes: base, end: buffer.count)
            return scanner.document(maxBatchSize: maxBatchSize, into: &pixels)
        }
    }

    // MARK: Structure

    private enum Key: UInt8 {
        case pixels, instances, samples, seed, model, minimumSamples, maximumSamples, tolerance
        case uncertaintyThreshold, uncertaintyScore
    }

    private mutating func document(maxBatchSize: Int, into pixels: inout PixelBuffer) -> Result? {
        var result = Result()
        var seen: UInt16 = 0
        skipWhitespace()
        guard consume(UInt8(ascii: "{")) else { return nil }
        skipWhitespace()
        repeat {
            skipWhitespace()
            guard let key = key() else { return nil }
            let bit: UInt16 = 1 << key.rawValue
            guard seen & bit == 0 else { return nil }
            seen |= bit
            skipWhitespace()
            guard consume(UInt8(ascii: ":")) else { return nil }
            skipWhitespace()
            switch key {
            case .pixels:
                guard pixelArray(into: &pixels) else { return nil }
            case .instances:
                guard instances(maxBatchSize: maxBatchSize, into: &pixels) else { return nil }
                result.isBatch = true
            case .samples:
                if peek == UInt8(ascii: "\"") {
                    guard let text = string(), text == "auto" else { return nil }
                    result.scalars.samples = .string(text)
                } else {
                    guard let number = number() else { return nil }
                    result.scalars.samples = .number(number)
                }
            case .model:
                guard let name = string() else { return nil }
                result.scalars.model = .string(name)
            case .uncertaintyScore:
                guard let name = string() else { return nil }
                result.scalars.uncertaintyScore = .string(name)
            case .seed, .minimumSamples, .maximumSamples, .tolerance, .uncertaintyThreshold:
                guard let number = number() else { return nil }
                switch key {
                case .seed: result.scalars.seed = .number(number)
                case .minimumSamples: result.scalars.minimumSamples = .number(number)
                case .maximumSamples: result.scalars.maximumSamples = .number(number)
                case .uncertaintyThreshold: result.scalars.uncertaintyThreshold = .number(number)
                default: result.scalars.tolerance = .number(number)
                }
            }
            skipWhitespace()
        } while consume(UInt8(ascii: ","))
        guard consume(UInt8(ascii: "}")) else { return nil }
        skipWhitespace()
        guard index == end else { return nil }
        // Exactly one of pixels and instances; anything else is the parser's to explain.
        let hasPixels = seen & (1 << Key.pixels.rawValue) != 0
        let hasInstances = seen & (1 << Key.instances.rawValue) != 0
        guard hasPixels != hasInstances else { return nil }
        return result
    }

    /// `[` instance (`,` instance)* `]`, where an instance is a pixel array or `{"pixels": pixel array}`.
    private mutating func instances(maxBatchSize: Int, into pixels: inout PixelBuffer) -> Bool {
        guard consume(UInt8(ascii: "[")) else { return false }
        var count = 0
        repeat {
            skipWhitespace()
            count += 1
            guard count <= maxBatchSize else { return false }
            if consume(UInt8(ascii: "{")) {
                skipWhitespace()
                guard key() == .pixels else { return false }
                skipWhitespace()
                guard consume(UInt8(ascii: ":")) else { return false }
                skipWhitespace()
                guard pixelArray(into: &pixels) else { return false }
                skipWhitespace()
                guard consume(UInt8(ascii: "}")) else { return false }
            } else {
                guard pixelArray(into: &pixels) else { return false }
            }
            skipWhitespace()
        } while consume(UInt8(ascii: ","))
        return consume(UInt8(ascii: "]"))
    }

    /// A flat array of pixel numbers or rows of equal width; appends the values and their count.
    private mutating func pixelArray(into pixels: inout PixelBuffer) -> Bool {
        guard consume(UInt8(ascii: "[")) else { return false }
        let start = pixels.values.count
        skipWhitespace()
        if peek == UInt8(ascii: "[") {
            var width = -1
            repeat {
                skipWhitespace()
                guard consume(UInt8(ascii: "[")) else { return false }
                let rowStart = pixels.values.count
                guard numbers(into: &pixels.values), consume(UInt8(ascii: "]")) else { return false }
                let rowWidth = pixels.values.count - rowStart
                if width < 0 { width = rowWidth } else if rowWidth != width { return false }
                skipWhitespace()
            } while consume(UInt8(ascii: ","))
        } else {
            guard numbers(into: &pixels.values) else { return false }
        }
        guard consume(UInt8(ascii: "]")) else { return false }
        pixels.counts.append(pixels.values.count - start)
        return true
    }

    /// `number (, number)*` of pixel values 0…255, stopping before the closing bracket.
    @inline(__always)
    private mutating func numbers(into values: inout [Float]) -> Bool {
        repeat {
            skipWhitespace()
            guard let value = number(), value <= 255 else { return false }
            values.append(Float(value))
            skipWhitespace()
        } while consume(UInt8(ascii: ","))
        return peek == UInt8(ascii: "]")
    }

    // MARK: Tokens

    private var peek: UInt8 { index < end ? bytes[index] : 0 }

    @inline(__always)
    private mutating func consume(_ byte: UInt8) -> Bool {
        guard index < end, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    @inline(__always)
    private mutating func skipWhitespace() {
        while index < end {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    /// A string of printable ASCII without escapes; `nil` for anything else.
    private mutating func string() -> String? {
        guard consume(UInt8(ascii: "\"")) else { return nil }
        let start = index
        while index < end {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return String(
                    decoding: UnsafeBufferPointer(start: bytes + start, count: index - 1 - start), as: UTF8.self)
            }
            guard byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "\\") else { return nil }
            index += 1
        }
        return nil
    }

    /// A known key, compared byte for byte without building a string.
    private mutating func key() -> Key? {
        guard consume(UInt8(ascii: "\"")) else { return nil }
        let start = index
        while index < end, bytes[index] != UInt8(ascii: "\"") {
            let byte = bytes[index]
            guard byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "\\") else { return nil }
            index += 1
        }
        guard index < end else { return nil }
        let key = UnsafeBufferPointer(start: bytes + start, count: index - start)
        index += 1
        func matches(_ name: StaticString) -> Bool {
            name.utf8CodeUnitCount == key.count && memcmpEqual(name.utf8Start, key.baseAddress!, key.count)
        }
        if matches("pixels") { return .pixels }
        if matches("instances") { return .instances }
        if matches("samples") { return .samples }
        if matches("seed") { return .seed }
        if matches("model") { return .model }
        if matches("min_samples") { return .minimumSamples }
        if matches("max_samples") { return .maximumSamples }
        if matches("tolerance") { return .tolerance }
        if matches("uncertainty_threshold") { return .uncertaintyThreshold }
        if matches("uncertainty_score") { return .uncertaintyScore }
        return nil
    }

    /// 10^0 … 10^22, exact as `Double`s.
    private static let powersOfTen: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ]

    /// A non-negative number without exponent whose value the parser's exact fast path would give; `nil` otherwise.
    @inline(__always)
    private mutating func number() -> Double? {
        var significand: UInt64 = 0
        var significantDigits = 0
        guard index < end else { return nil }
        let first = bytes[index] &- UInt8(ascii: "0")
        guard first <= 9 else { return nil }
        if first == 0 {
            index += 1
            if index < end, bytes[index] &- UInt8(ascii: "0") <= 9 { return nil }  // leading zero
        } else {
            while index < end {
                let digit = bytes[index] &- UInt8(ascii: "0")
                if digit > 9 { break }
                significand = significand &* 10 &+ UInt64(digit)
                significantDigits += 1
                index += 1
            }
        }
        var fractionDigits = 0
        if index < end, bytes[index] == UInt8(ascii: ".") {
            index += 1
            while index < end {
                let digit = bytes[index] &- UInt8(ascii: "0")
                if digit > 9 { break }
                if significand != 0 || digit != 0 { significantDigits += 1 }
                significand = significand &* 10 &+ UInt64(digit)
                fractionDigits += 1
                index += 1
            }
            guard fractionDigits > 0 else { return nil }
        }
        if index < end, bytes[index] | 0x20 == UInt8(ascii: "e") { return nil }
        guard significantDigits <= 15, fractionDigits <= 22 else { return nil }
        if fractionDigits == 0 { return Double(significand) }
        return Double(significand) / Self.powersOfTen[fractionDigits]
    }
}

@inline(__always)
private func memcmpEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
    for offset in 0..<count where a[offset] != b[offset] { return false }
    return true
}
