extension RawJSONParser {
    // MARK: - Strings

    /// Parses a string whose opening quote is at `index`, leaving `index` after the closing quote.
    mutating func parseString() throws(JSONParseError) -> String {
        let contentStart = index + 1
        var position = contentStart
        while position < end {
            let byte = start[position]
            if byte == UInt8(ascii: "\"") {
                index = position + 1
                return String(
                    decoding: UnsafeBufferPointer(start: start + contentStart, count: position - contentStart),
                    as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") {
                return try parseEscapedString(contentStart: contentStart, firstEscape: position)
            }
            if byte < 0x20 {
                throw JSONParseError(.unescapedControlCharacter(byte), at: position)
            }
            if byte < 0x80 {
                position += 1
            } else {
                position += try utf8SequenceLength(at: position)
            }
        }
        throw JSONParseError(.unterminatedString, at: end)
    }

    /// Finishes a string that contains escapes, decoding it into `scratch`.
    mutating func parseEscapedString(contentStart: Int, firstEscape: Int) throws(JSONParseError) -> String {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(start: start + contentStart, count: firstEscape - contentStart))
        var position = firstEscape
        while position < end {
            let byte = start[position]
            switch byte {
            case UInt8(ascii: "\""):
                index = position + 1
                return String(decoding: scratch, as: UTF8.self)
            case UInt8(ascii: "\\"):
                position = try decodeEscape(at: position)
            case 0..<0x20:
                throw JSONParseError(.unescapedControlCharacter(byte), at: position)
            case 0x80...:
                let length = try utf8SequenceLength(at: position)
                scratch.append(contentsOf: UnsafeBufferPointer(start: start + position, count: length))
                position += length
            default:
                // Copy the run of plain ASCII in one go.
                let runStart = position
                position += 1
                while position < end {
                    let next = start[position]
                    if next < 0x20 || next >= 0x80 || next == UInt8(ascii: "\"") || next == UInt8(ascii: "\\") { break }
                    position += 1
                }
                scratch.append(contentsOf: UnsafeBufferPointer(start: start + runStart, count: position - runStart))
            }
        }
        throw JSONParseError(.unterminatedString, at: end)
    }

    /// Decodes the escape whose backslash is at `position` into `scratch` and returns the offset after it.
    mutating func decodeEscape(at position: Int) throws(JSONParseError) -> Int {
        guard position + 1 < end else { throw JSONParseError(.unterminatedString, at: end) }
        let decoded: UInt8
        switch start[position + 1] {
        case UInt8(ascii: "\""): decoded = UInt8(ascii: "\"")
        case UInt8(ascii: "\\"): decoded = UInt8(ascii: "\\")
        case UInt8(ascii: "/"): decoded = UInt8(ascii: "/")
        case UInt8(ascii: "b"): decoded = 0x08
        case UInt8(ascii: "f"): decoded = 0x0C
        case UInt8(ascii: "n"): decoded = 0x0A
        case UInt8(ascii: "r"): decoded = 0x0D
        case UInt8(ascii: "t"): decoded = 0x09
        case UInt8(ascii: "u"): return try decodeUnicodeEscape(at: position)
        default: throw JSONParseError(.invalidEscape, at: position)
        }
        scratch.append(decoded)
        return position + 2
    }

    /// Decodes `\uXXXX`, or a `\uXXXX\uXXXX` surrogate pair, at `position` into `scratch` as UTF-8.
    mutating func decodeUnicodeEscape(at position: Int) throws(JSONParseError) -> Int {
        let first = try hexQuad(at: position + 2, escapeOffset: position)
        var scalarValue = first
        var next = position + 6
        switch first {
        case 0xD800...0xDBFF:
            guard end - next >= 2, start[next] == UInt8(ascii: "\\"), start[next + 1] == UInt8(ascii: "u") else {
                throw JSONParseError(.unpairedSurrogate, at: position)
            }
            let second = try hexQuad(at: next + 2, escapeOffset: next)
            guard (0xDC00...0xDFFF).contains(second) else { throw JSONParseError(.unpairedSurrogate, at: position) }
            scalarValue = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            next += 6
        case 0xDC00...0xDFFF:
            throw JSONParseError(.unpairedSurrogate, at: position)
        default:
            break
        }
        appendUTF8(scalarValue)
        return next
    }

    /// Reads four hexadecimal digits at `position`; errors point at the escape's backslash at `escapeOffset`.
    @inline(__always)
    private func hexQuad(at position: Int, escapeOffset: Int) throws(JSONParseError) -> UInt32 {
        guard end - position >= 4 else { throw JSONParseError(.invalidUnicodeEscape, at: escapeOffset) }
        var value: UInt32 = 0
        for offset in 0..<4 {
            let byte = start[position + offset]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte &- UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte &- UInt8(ascii: "a") &+ 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte &- UInt8(ascii: "A") &+ 10
            default: throw JSONParseError(.invalidUnicodeEscape, at: escapeOffset)
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// Appends a Unicode scalar value (not a surrogate) to `scratch` as UTF-8.
    @inline(__always)
    mutating func appendUTF8(_ value: UInt32) {
        switch value {
        case 0..<0x80:
            scratch.append(UInt8(value))
        case 0x80..<0x800:
            scratch.append(UInt8(0xC0 | value >> 6))
            scratch.append(UInt8(0x80 | value & 0x3F))
        case 0x800..<0x10000:
            scratch.append(UInt8(0xE0 | value >> 12))
            scratch.append(UInt8(0x80 | value >> 6 & 0x3F))
            scratch.append(UInt8(0x80 | value & 0x3F))
        default:
            scratch.append(UInt8(0xF0 | value >> 18))
            scratch.append(UInt8(0x80 | value >> 12 & 0x3F))
            scratch.append(UInt8(0x80 | value >> 6 & 0x3F))
            scratch.append(UInt8(0x80 | value & 0x3F))
        }
    }

    /// The length of the well-formed UTF-8 sequence at `position`, whose first byte is not ASCII.
    @inline(__always)
    private func utf8SequenceLength(at position: Int) throws(JSONParseError) -> Int {
        guard let length = UTF8Validation.sequenceLength(at: start + position, available: end - position) else {
            throw JSONParseError(.invalidUTF8, at: position)
        }
        return length
    }
}
