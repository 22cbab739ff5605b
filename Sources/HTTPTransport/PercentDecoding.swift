/// Percent-decoding (RFC 3986 "%HH" escapes) for request targets.
public enum PercentDecoding {
    /// The bytes of `text` with every valid "%HH" escape replaced by the byte it encodes. Invalid escapes ("%zz",
    /// a trailing "%") are kept literally, as WHATWG URL parsing does; no byte, including "%00", is special.
    public static func bytes(_ text: some StringProtocol) -> [UInt8] {
        decode(Array(text.utf8))
    }

    /// `bytes(_:)` read as UTF-8, with invalid sequences replaced by U+FFFD.
    public static func string(_ text: some StringProtocol) -> String {
        String(decoding: bytes(text), as: UTF8.self)
    }

    /// Decodes raw bytes, which need not be valid UTF-8 (query arguments straight from the wire).
    static func decode(_ source: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(source.count)
        var index = 0
        while index < source.count {
            let byte = source[index]
            if byte == UInt8(ascii: "%"), index + 2 < source.count,
                let high = hexValue(source[index + 1]), let low = hexValue(source[index + 2])
            {
                result.append(high << 4 | low)
                index += 3
            } else {
                result.append(byte)
                index += 1
            }
        }
        return result
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
