/// The byte-level parser behind ``JSONParser``.
///
/// It reads a buffer through an unsafe pointer and checks every index against `end` before reading it. Containers
/// are kept on an explicit stack of ``Frame``s instead of the call stack, so nesting depth is limited only by
/// ``JSONParser/Options/maxDepth``, which is checked before each container opens.
///
/// Performance notes: array elements of all open arrays share one ``ValueStack`` and move out of it with a single
/// `memcpy` when their array closes (growing a `[JSONValue]` element by element costs more than parsing the numbers);
/// the innermost open container lives in a local variable rather than in the frame stack; and arrays of numbers —
/// the inference server's request bodies — take a tight loop that skips the general value dispatch.
struct RawJSONParser {
    /// An array or object that has been opened and not yet closed, or the document itself.
    private struct Frame {
        /// What a frame holds.
        enum Kind {
            /// The document: holds the single top-level value.
            case document
            /// An array.
            case array
            /// An object.
            case object
        }

        /// What this frame holds.
        let kind: Kind
        /// Where this array's elements start on the value stack.
        var firstElement = 0
        /// The members so far, for an object.
        var members: [JSONObject.Member] = []
        /// The key whose value is being parsed, for an object.
        var pendingKey = ""
        /// Each key's position in `members`, once the object has more than `JSONObject.indexThreshold` members.
        var keyPositions: [String: Int]?
    }

    let start: UnsafePointer<UInt8>
    let end: Int
    let options: JSONParser.Options
    /// The offset of the next byte to read.
    var index = 0
    /// Reused storage for strings that contain escapes.
    var scratch: [UInt8] = []

    /// Creates a parser over `count` readable bytes at `start`.
    init(start: UnsafePointer<UInt8>, count: Int, options: JSONParser.Options) {
        self.start = start
        self.end = count
        self.options = options
    }

    // MARK: - Document structure

    /// Parses the whole input as one value surrounded by optional whitespace.
    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        skipWhitespace()
        guard index < end else { throw JSONParseError(.emptyInput, at: index) }

        // `current` is the innermost open container; `parents` holds the ones around it, the document at the bottom.
        var current = Frame(kind: .document)
        var parents: [Frame] = []
        // An input of n bytes holds at most n / 2 + 1 array elements ("[1,1,1]"), so bodies up to 8 KB never grow the
        // stack; the cap keeps a large input from reserving more than about 100 KB up front.
        var elements = ValueStack(capacity: Swift.min(end / 2 + 1, 4096))
        var value = JSONValue.null
        parsing: while true {
            // Parse one value, or open a container and go round again for its first element.
            guard index < end else { throw JSONParseError(.unexpectedEndOfInput, at: index) }
            switch start[index] {
            case UInt8(ascii: "["):
                guard parents.count < options.maxDepth else {
                    throw JSONParseError(.nestingTooDeep(maxDepth: options.maxDepth), at: index)
                }
                index += 1
                skipWhitespace()
                if index < end, start[index] == UInt8(ascii: "]") {
                    index += 1
                    value = .array([])
                } else {
                    parents.append(current)
                    current = Frame(kind: .array)
                    current.firstElement = elements.count
                    continue parsing
                }
            case UInt8(ascii: "{"):
                guard parents.count < options.maxDepth else {
                    throw JSONParseError(.nestingTooDeep(maxDepth: options.maxDepth), at: index)
                }
                index += 1
                skipWhitespace()
                if index < end, start[index] == UInt8(ascii: "}") {
                    index += 1
                    value = .object(JSONObject())
                } else {
                    parents.append(current)
                    current = Frame(kind: .object)
                    try parseKey(into: &current)
                    continue parsing
                }
            case UInt8(ascii: "\""):
                value = .string(try parseString())
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                value = .number(try parseNumber())
            case UInt8(ascii: "t"):
                try expectLiteral("true")
                value = .bool(true)
            case UInt8(ascii: "f"):
                try expectLiteral("false")
                value = .bool(false)
            case UInt8(ascii: "n"):
                try expectLiteral("null")
                value = .null
            default:
                throw errorForUnexpectedByte(orElse: .expectedValue)
            }

            // Hand the finished value to its container, closing containers as their brackets arrive.
            while true {
                switch current.kind {
                case .document:
                    break parsing
                case .array:
                    elements.push(value)
                    while true {
                        skipWhitespace()
                        guard index < end else { throw JSONParseError(.unexpectedEndOfInput, at: index) }
                        let byte = start[index]
                        if byte == UInt8(ascii: ",") {
                            let commaOffset = index
                            index += 1
                            skipWhitespace()
                            guard index < end else { throw JSONParseError(.unexpectedEndOfInput, at: index) }
                            let next = start[index]
                            if next &- UInt8(ascii: "0") <= 9 || next == UInt8(ascii: "-") {
                                elements.push(.number(try parseNumber()))
                                continue
                            }
                            if next == UInt8(ascii: "]") { throw JSONParseError(.trailingComma, at: commaOffset) }
                            continue parsing
                        }
                        guard byte == UInt8(ascii: "]") else {
                            throw errorForUnexpectedByte(orElse: .expectedCommaOrArrayEnd)
                        }
                        index += 1
                        value = .array(elements.popArray(from: current.firstElement))
                        current = parents.removeLast()
                        break
                    }
                case .object:
                    current.members.append((key: current.pendingKey, value: value))
                    recordLastKey(in: &current)
                    skipWhitespace()
                    guard index < end else { throw JSONParseError(.unexpectedEndOfInput, at: index) }
                    let byte = start[index]
                    if byte == UInt8(ascii: ",") {
                        let commaOffset = index
                        index += 1
                        skipWhitespace()
                        if index < end, start[index] == UInt8(ascii: "}") {
                            throw JSONParseError(.trailingComma, at: commaOffset)
                        }
                        try parseKey(into: &current)
                        continue parsing
                    }
                    guard byte == UInt8(ascii: "}") else {
                        throw errorForUnexpectedByte(orElse: .expectedCommaOrObjectEnd)
                    }
                    index += 1
                    value = .object(JSONObject(members: current.members, keyPositions: current.keyPositions))
                    current = parents.removeLast()
                }
            }
        }

        skipWhitespace()
        guard index == end else { throw errorForUnexpectedByte(orElse: .trailingCharacters) }
        return value
    }

    /// Parses an object key and the colon after it, leaving `index` at the member's value.
    private mutating func parseKey(into frame: inout Frame) throws(JSONParseError) {
        guard index < end else { throw JSONParseError(.unexpectedEndOfInput, at: index) }
        guard start[index] == UInt8(ascii: "\"") else { throw errorForUnexpectedByte(orElse: .expectedKey) }
        let keyOffset = index
        let key = try parseString()
        if options.rejectDuplicateKeys {
            let isDuplicate: Bool
            if let keyPositions = frame.keyPositions {
                isDuplicate = keyPositions[key] != nil
            } else {
                isDuplicate = frame.members.contains { $0.key == key }
            }
            if isDuplicate { throw JSONParseError(.duplicateKey(key), at: keyOffset) }
        }
        skipWhitespace()
        guard index < end else { throw JSONParseError(.unexpectedEndOfInput, at: index) }
        guard start[index] == UInt8(ascii: ":") else { throw errorForUnexpectedByte(orElse: .expectedColon) }
        index += 1
        skipWhitespace()
        frame.pendingKey = key
    }

    /// Keeps an object's key index up to date after a member was appended, building it once the object grows large.
    @inline(__always)
    private func recordLastKey(in frame: inout Frame) {
        let count = frame.members.count
        if frame.keyPositions != nil {
            frame.keyPositions![frame.members[count - 1].key] = count - 1
        } else if count > JSONObject.indexThreshold {
            frame.keyPositions = JSONObject.makePositions(frame.members)
        }
    }

    /// Skips spaces, tabs, line feeds and carriage returns.
    @inline(__always)
    private mutating func skipWhitespace() {
        while index < end {
            switch start[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    /// Consumes `literal` (`true`, `false` or `null`) at `index`.
    @inline(__always)
    private mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        guard end - index >= count else { throw JSONParseError(.invalidLiteral, at: index) }
        let expected = literal.utf8Start
        for offset in 0..<count where start[index + offset] != expected[offset] {
            throw JSONParseError(.invalidLiteral, at: index)
        }
        index += count
    }

    /// The most helpful error for the byte at `index`, which cannot appear there: common non-JSON syntax gets its own
    /// reason, ill-formed UTF-8 is reported as such, and anything else gets `fallback`.
    private func errorForUnexpectedByte(orElse fallback: JSONParseError.Reason) -> JSONParseError {
        let byte = start[index]
        let reason: JSONParseError.Reason
        switch byte {
        case UInt8(ascii: "/"):
            reason = .comment
        case UInt8(ascii: "'"):
            reason = .singleQuotedString
        case UInt8(ascii: "+") where fallback == .expectedValue:
            reason = .leadingPlusSign
        case UInt8(ascii: "N") where hasPrefix("NaN"), UInt8(ascii: "I") where hasPrefix("Infinity"):
            reason = fallback == .expectedValue ? .nonFiniteNumber : fallback
        case 0x80...:
            reason =
                UTF8Validation.sequenceLength(at: start + index, available: end - index) == nil
                ? .invalidUTF8 : fallback
        default:
            reason = fallback
        }
        return JSONParseError(reason, at: index)
    }

    /// Whether the input at `index` starts with `prefix`.
    private func hasPrefix(_ prefix: StaticString) -> Bool {
        let count = prefix.utf8CodeUnitCount
        guard end - index >= count else { return false }
        for offset in 0..<count where start[index + offset] != prefix.utf8Start[offset] {
            return false
        }
        return true
    }

    // MARK: - Numbers

    /// Parses a number at `index` (which holds `-` or a digit), leaving `index` after it.
    ///
    /// The scan validates the grammar and gathers the significant digits; integers and numbers within Clinger's fast
    /// path (``DecimalConversion``) are converted directly, the rest by the standard library's correctly rounded
    /// `Double(_:)`. (Every number in the shipped request bodies, examples/, is an integer: the 25 912 of them all take
    /// the first branch, so an Eisel–Lemire path for long significands, tried before, was removed as unmeasured.)
    @inline(__always)
    private mutating func parseNumber() throws(JSONParseError) -> Double {
        let numberStart = index
        var position = index
        let isNegative = start[position] == UInt8(ascii: "-")
        if isNegative {
            position += 1
            guard position < end else { throw JSONParseError(.expectedDigit, at: position) }
            if start[position] == UInt8(ascii: "I"), hasPrefix("-Infinity") {
                throw JSONParseError(.nonFiniteNumber, at: numberStart)
            }
        }

        // Gather the significant digits (those after any leading zeros) into `significand`. Past 19 digits it wraps,
        // which is harmless: numbers with more than 15 significant digits take the slow path, which rereads the text.
        var significand: UInt64 = 0
        var digitCount = 0
        var exponent = 0  // minus the number of fraction digits, plus the explicit exponent

        // Integer part: a single 0, or a non-zero digit and more digits.
        let integerStart = position
        guard position < end, start[position] &- UInt8(ascii: "0") <= 9 else {
            throw JSONParseError(.expectedDigit, at: position)
        }
        if start[position] == UInt8(ascii: "0") {
            position += 1
            if position < end, start[position] &- UInt8(ascii: "0") <= 9 {
                throw JSONParseError(.leadingZero, at: integerStart)
            }
        } else {
            accumulateDigits(into: &significand, at: &position)
            digitCount = position - integerStart
        }

        // Fraction: zeros right after "0." are not significant but still scale the value.
        if position < end, start[position] == UInt8(ascii: ".") {
            position += 1
            let fractionStart = position
            if significand == 0 {
                while position < end, start[position] == UInt8(ascii: "0") { position += 1 }
            }
            let significantStart = position
            accumulateDigits(into: &significand, at: &position)
            if position == fractionStart { throw JSONParseError(.expectedDigit, at: position) }
            digitCount += position - significantStart
            exponent = fractionStart - position
        }

        // Exponent, saturated far beyond any Double so that huge exponents cannot overflow an Int.
        if position < end, start[position] | 0x20 == UInt8(ascii: "e") {
            position += 1
            var isExponentNegative = false
            if position < end, start[position] == UInt8(ascii: "-") || start[position] == UInt8(ascii: "+") {
                isExponentNegative = start[position] == UInt8(ascii: "-")
                position += 1
            }
            let exponentStart = position
            var explicitExponent = 0
            while position < end {
                let digit = start[position] &- UInt8(ascii: "0")
                if digit > 9 { break }
                if explicitExponent < 1_000_000 { explicitExponent = explicitExponent * 10 + Int(digit) }
                position += 1
            }
            if position == exponentStart { throw JSONParseError(.expectedDigit, at: position) }
            exponent += isExponentNegative ? -explicitExponent : explicitExponent
        }
        index = position

        let magnitude: Double
        if exponent == 0, digitCount <= DecimalConversion.maxFastDigitCount {
            // An integer below 10^15: exact as a Double.
            magnitude = Double(Int64(truncatingIfNeeded: significand))
        } else if let exact = DecimalConversion.exactMagnitude(
            significand: significand, digitCount: digitCount, exponent: exponent)
        {
            magnitude = exact
        } else {
            return try slowNumber(from: numberStart, to: position)
        }
        return isNegative ? -magnitude : magnitude
    }

    /// Appends the decimal digits at `position` to `significand` (wrapping past 19 digits) and moves past them.
    ///
    /// A SWAR variant (eight digits per step, as in simdjson) was measured: it avoided the mispredicted loop exit but
    /// cost more instructions than that saved on the one- to four-digit numbers of typical request bodies, so this
    /// stays scalar.
    @inline(__always)
    private func accumulateDigits(into significand: inout UInt64, at position: inout Int) {
        while position < end {
            let digit = start[position] &- UInt8(ascii: "0")
            if digit > 9 { return }
            significand = significand &* 10 &+ UInt64(digit)
            position += 1
        }
    }

    /// Converts an already validated number with the standard library's correctly rounded parser.
    private func slowNumber(from numberStart: Int, to numberEnd: Int) throws(JSONParseError) -> Double {
        let text = String(
            decoding: UnsafeBufferPointer(start: start + numberStart, count: numberEnd - numberStart),
            as: UTF8.self
        )
        guard let value = Double(text), value.isFinite else {
            throw JSONParseError(.numberOutOfRange, at: numberStart)
        }
        return value
    }
}

/// A growable stack of values in manually managed memory, from which a finished array's elements move out at once.
///
/// Invariant: `base` holds `capacity` slots, of which the first `count` are initialized. Everything else is private
/// to this type; the deinitializer releases whatever is still on the stack (after an error, for instance).
private struct ValueStack: ~Copyable {
    private var base: UnsafeMutablePointer<JSONValue>
    private var capacity: Int
    /// How many values are on the stack.
    private(set) var count = 0

    /// Creates an empty stack with room for `capacity` values (at least one).
    init(capacity: Int) {
        self.capacity = Swift.max(capacity, 1)
        base = .allocate(capacity: self.capacity)
    }

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }

    /// Pushes a value.
    @inline(__always)
    mutating func push(_ value: JSONValue) {
        if count == capacity { grow() }
        (base + count).initialize(to: value)
        count += 1
    }

    /// Removes the values from position `start` to the top and returns them as an array, in order.
    mutating func popArray(from start: Int) -> [JSONValue] {
        precondition(start >= 0 && start <= count)
        let popped = count - start
        guard popped > 0 else { return [] }
        let array = [JSONValue](unsafeUninitializedCapacity: popped) { buffer, initializedCount in
            buffer.baseAddress!.moveInitialize(from: base + start, count: popped)
            initializedCount = popped
        }
        count = start
        return array
    }

    /// Doubles the capacity, moving the values to new memory.
    private mutating func grow() {
        let newCapacity = capacity * 2
        let newBase = UnsafeMutablePointer<JSONValue>.allocate(capacity: newCapacity)
        newBase.moveInitialize(from: base, count: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }
}
