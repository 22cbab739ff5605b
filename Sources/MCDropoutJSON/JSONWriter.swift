/// Writes compact JSON into a byte array, inserting commas and colons itself.
///
/// ```swift
/// var writer = JSONWriter(capacity: 512)
/// writer.beginObject()
/// writer.key("mean")
/// writer.beginArray()
/// for probability in meanProbabilities { writer.number(probability) }
/// writer.endArray()
/// writer.key("samples")
/// writer.integer(100)
/// writer.endObject()
/// send(writer.bytes)
/// ```
///
/// Output is byte-deterministic and has no whitespace:
/// - Numbers use the shortest decimal that reads back as the same value (Swift's `description`), such as `0.1`,
///   `1e-05` or `1.7976931348623157e+308`. Integral values of magnitude up to 2^53 (2^24 for `Float`) are written
///   without a fraction: `3`, not `3.0`; negative zero is written `-0`. JSON has no infinity or NaN, so non-finite
///   values are written as `null`.
/// - Strings escape `"` and `\` with a backslash, U+0008, U+0009, U+000A, U+000C and U+000D as `\b`, `\t`, `\n`,
///   `\f` and `\r`, and the other control characters below U+0020 as `\u00XX` (lowercase hex). Everything else,
///   including `/` and non-ASCII characters, is written as UTF-8.
///
/// The writer does not check that calls are balanced or that keys and values alternate in release builds; debug
/// builds assert it.
public struct JSONWriter: Sendable {
    /// The JSON written so far.
    public private(set) var bytes: [UInt8]

    /// Whether the next value, key or container needs a comma before it.
    private var needsComma = false

    /// The kinds of the outermost 64 open containers, innermost in the lowest bit: 1 for an object, 0 for an array.
    /// Only read by assertions.
    private var containerBits: UInt64 = 0
    /// How many containers are open.
    private var depth = 0
    /// Whether a key has been written whose value has not.
    private var isAwaitingValue = false

    /// Creates an empty writer whose buffer can hold `capacity` bytes before it grows.
    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Whether every container that was opened has been closed.
    public var isBalanced: Bool {
        depth == 0 && !isAwaitingValue
    }

    /// Clears the output so the writer can be reused, keeping its buffer by default.
    public mutating func removeAll(keepingCapacity: Bool = true) {
        bytes.removeAll(keepingCapacity: keepingCapacity)
        needsComma = false
        containerBits = 0
        depth = 0
        isAwaitingValue = false
    }

    // MARK: - Containers

    /// Opens an object.
    public mutating func beginObject() {
        beginValue()
        bytes.append(UInt8(ascii: "{"))
        push(isObject: true)
    }

    /// Closes the innermost object.
    public mutating func endObject() {
        assert(depth > 0 && isInnermost(object: true) && !isAwaitingValue, "endObject() without beginObject()")
        bytes.append(UInt8(ascii: "}"))
        pop()
    }

    /// Opens an array.
    public mutating func beginArray() {
        beginValue()
        bytes.append(UInt8(ascii: "["))
        push(isObject: false)
    }

    /// Closes the innermost array.
    public mutating func endArray() {
        assert(depth > 0 && isInnermost(object: false), "endArray() without beginArray()")
        bytes.append(UInt8(ascii: "]"))
        pop()
    }

    /// Writes an object member's key; the next call writes its value.
    public mutating func key(_ name: String) {
        assert(depth > 0 && isInnermost(object: true) && !isAwaitingValue, "key(_:) outside an object or after a key")
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        appendQuoted(name)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
        isAwaitingValue = true
    }

    // MARK: - Scalars

    /// Writes a string, escaping it as needed.
    public mutating func string(_ value: String) {
        beginValue()
        appendQuoted(value)
        needsComma = true
    }

    /// Writes a number in its shortest round-trip form, or `null` if it is infinite or NaN.
    public mutating func number(_ value: Double) {
        beginValue()
        if !value.isFinite {
            appendLiteral("null")
        } else if value.magnitude <= 0x1p53, value.rounded(.towardZero) == value {
            appendIntegral(value.sign == .minus, UInt64(value.magnitude))
        } else {
            bytes.append(contentsOf: value.description.utf8)
        }
        needsComma = true
    }

    /// Writes a number in its shortest round-trip form as a `Float`, or `null` if it is infinite or NaN.
    ///
    /// The digits are the shortest that read back as the same `Float` (`0.1` for `Float(0.1)`), which a reader that
    /// converts to `Double` and then to `Float` recovers exactly.
    public mutating func number(_ value: Float) {
        beginValue()
        if !value.isFinite {
            appendLiteral("null")
        } else if value.magnitude <= 0x1p24, value.rounded(.towardZero) == value {
            appendIntegral(value.sign == .minus, UInt64(value.magnitude))
        } else {
            bytes.append(contentsOf: value.description.utf8)
        }
        needsComma = true
    }

    /// Writes an integer exactly.
    ///
    /// Readers that store numbers as `Double` (including ``JSONParser``) round integers beyond ±2^53.
    public mutating func integer(_ value: Int) {
        beginValue()
        appendIntegral(value < 0, UInt64(value.magnitude))
        needsComma = true
    }

    /// Writes an unsigned integer exactly.
    ///
    /// Readers that store numbers as `Double` (including ``JSONParser``) round integers beyond 2^53.
    public mutating func integer(_ value: UInt64) {
        beginValue()
        appendIntegral(false, value)
        needsComma = true
    }

    /// Writes `true` or `false`.
    public mutating func bool(_ value: Bool) {
        beginValue()
        appendLiteral(value ? "true" : "false")
        needsComma = true
    }

    /// Writes `null`.
    public mutating func null() {
        beginValue()
        appendLiteral("null")
        needsComma = true
    }

    /// Writes a whole value, recursing into arrays and objects.
    public mutating func value(_ value: JSONValue) {
        switch value {
        case .null:
            null()
        case .bool(let flag):
            bool(flag)
        case .number(let number):
            self.number(number)
        case .string(let text):
            string(text)
        case .array(let elements):
            beginArray()
            for element in elements { self.value(element) }
            endArray()
        case .object(let object):
            beginObject()
            for member in object.members {
                key(member.key)
                self.value(member.value)
            }
            endObject()
        }
    }

    // MARK: - Internals

    /// Whether the innermost open container is an object (if `object`) or an array; always true beyond the 64 levels
    /// that `containerBits` tracks.
    private func isInnermost(object: Bool) -> Bool {
        depth > 64 || (containerBits & 1 == 1) == object
    }

    /// Writes the comma that separates this value from the previous one, if any.
    @inline(__always)
    private mutating func beginValue() {
        assert(depth > 0 || !needsComma, "only one top-level value can be written")
        assert(depth == 0 || isInnermost(object: false) || isAwaitingValue, "a value in an object needs a key first")
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        isAwaitingValue = false
    }

    /// Records a newly opened container.
    private mutating func push(isObject: Bool) {
        if depth < 64 { containerBits = containerBits << 1 | (isObject ? 1 : 0) }
        depth += 1
        needsComma = false
    }

    /// Records a closed container, which is a finished value of its parent.
    private mutating func pop() {
        depth -= 1
        if depth < 64 { containerBits >>= 1 }
        needsComma = true
    }

    /// Appends an ASCII literal.
    @inline(__always)
    private mutating func appendLiteral(_ literal: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    /// Appends an integer given as a sign and a magnitude.
    private mutating func appendIntegral(_ isNegative: Bool, _ magnitude: UInt64) {
        if isNegative { bytes.append(UInt8(ascii: "-")) }
        if magnitude < 10 {
            bytes.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: magnitude))
            return
        }
        // Digits are produced last first, so fill a small buffer from its end (UInt64.max has 20 digits).
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var first = digits.count
            var remaining = magnitude
            while remaining > 0 {
                let (quotient, digit) = remaining.quotientAndRemainder(dividingBy: 10)
                first -= 1
                digits[first] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: digit)
                remaining = quotient
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[first...]))
        }
    }

    /// Appends `text` in double quotes, escaped.
    private mutating func appendQuoted(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        let wasContiguous = text.utf8.withContiguousStorageIfAvailable { appendEscaped($0) } != nil
        if !wasContiguous {
            var copy = text
            copy.withUTF8 { appendEscaped($0) }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends UTF-8 string content, escaping quotes, backslashes and control characters.
    private mutating func appendEscaped(_ utf8: UnsafeBufferPointer<UInt8>) {
        var runStart = 0
        for position in utf8.indices {
            let byte = utf8[position]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<position]))
            runStart = position + 1
            bytes.append(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
            case 0x08: bytes.append(UInt8(ascii: "b"))
            case 0x09: bytes.append(UInt8(ascii: "t"))
            case 0x0A: bytes.append(UInt8(ascii: "n"))
            case 0x0C: bytes.append(UInt8(ascii: "f"))
            case 0x0D: bytes.append(UInt8(ascii: "r"))
            default:
                let hexDigits: StaticString = "0123456789abcdef"
                bytes.append(UInt8(ascii: "u"))
                bytes.append(UInt8(ascii: "0"))
                bytes.append(UInt8(ascii: "0"))
                bytes.append(hexDigits.utf8Start[Int(byte >> 4)])
                bytes.append(hexDigits.utf8Start[Int(byte & 0xF)])
            }
        }
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
    }
}
