/// Why and where ``JSONParser`` rejected its input.
///
/// The description reads like `invalid JSON at byte 17: expected ',' or ']'`; ``offset`` counts bytes from the start
/// of the input (0-based), and equals the input's length when the input ended too early.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong with the input.
    public enum Reason: Sendable, Equatable, CustomStringConvertible {
        /// The input is empty or only whitespace.
        case emptyInput
        /// The input ended inside a value.
        case unexpectedEndOfInput
        /// A value was expected but something else was found.
        case expectedValue
        /// An object key (a double-quoted string) was expected.
        case expectedKey
        /// A colon was expected after an object key.
        case expectedColon
        /// Inside an array, a comma or `]` was expected after an element.
        case expectedCommaOrArrayEnd
        /// Inside an object, a comma or `}` was expected after a member.
        case expectedCommaOrObjectEnd
        /// A comma is followed by `]` or `}`.
        case trailingComma
        /// Something other than whitespace follows the top-level value.
        case trailingCharacters
        /// A word that is not `true`, `false` or `null`.
        case invalidLiteral
        /// `NaN`, `Infinity` or `-Infinity`, which JSON does not have.
        case nonFiniteNumber
        /// A `//` or `/*` comment.
        case comment
        /// A string in single quotes.
        case singleQuotedString
        /// A number with a leading `+`.
        case leadingPlusSign
        /// A number with a leading zero, such as `01`.
        case leadingZero
        /// A digit was expected (after `-`, `.`, `e` or the exponent's sign).
        case expectedDigit
        /// A number whose magnitude is too large for `Double`.
        case numberOutOfRange
        /// The input ended inside a string.
        case unterminatedString
        /// A control character (below U+0020) appears unescaped inside a string.
        case unescapedControlCharacter(UInt8)
        /// A backslash is followed by a character that is not a valid escape.
        case invalidEscape
        /// `\u` is not followed by four hexadecimal digits.
        case invalidUnicodeEscape
        /// A `\u` escape encodes half of a UTF-16 surrogate pair without its other half.
        case unpairedSurrogate
        /// The bytes are not well-formed UTF-8.
        case invalidUTF8
        /// Arrays and objects nest deeper than ``JSONParser/Options/maxDepth``.
        case nestingTooDeep(maxDepth: Int)
        /// An object has two members with this key while duplicates are rejected.
        case duplicateKey(String)

        /// A short English explanation.
        public var description: String {
            switch self {
            case .emptyInput: "empty input"
            case .unexpectedEndOfInput: "unexpected end of input"
            case .expectedValue: "expected a value"
            case .expectedKey: "expected a string key"
            case .expectedColon: "expected ':' after an object key"
            case .expectedCommaOrArrayEnd: "expected ',' or ']'"
            case .expectedCommaOrObjectEnd: "expected ',' or '}'"
            case .trailingComma: "trailing comma"
            case .trailingCharacters: "unexpected data after the top-level value"
            case .invalidLiteral: "invalid literal (expected true, false or null)"
            case .nonFiniteNumber: "NaN and Infinity are not valid JSON numbers"
            case .comment: "comments are not allowed"
            case .singleQuotedString: "strings must use double quotes"
            case .leadingPlusSign: "numbers must not start with '+'"
            case .leadingZero: "numbers must not have leading zeros"
            case .expectedDigit: "expected a digit"
            case .numberOutOfRange: "number out of range"
            case .unterminatedString: "unterminated string"
            case .unescapedControlCharacter(let byte): "unescaped control character \(Self.hex(byte)) in string"
            case .invalidEscape: "invalid escape sequence"
            case .invalidUnicodeEscape: "expected four hexadecimal digits after \\u"
            case .unpairedSurrogate: "unpaired UTF-16 surrogate in \\u escape"
            case .invalidUTF8: "invalid UTF-8"
            case .nestingTooDeep(let maxDepth): "nesting deeper than \(maxDepth) levels"
            case .duplicateKey(let key): "duplicate key \(Self.quoted(key))"
            }
        }

        /// Formats a byte as `0x0A`.
        private static func hex(_ byte: UInt8) -> String {
            let digits = Array("0123456789ABCDEF".utf8)
            return String(decoding: [0x30, 0x78, digits[Int(byte >> 4)], digits[Int(byte & 0xF)]], as: UTF8.self)
        }

        /// Quotes and escapes a key for a message, shortening keys longer than 64 characters.
        private static func quoted(_ key: String) -> String {
            let shown = key.count > 64 ? String(key.prefix(64)) + "..." : key
            return JSONValue.string(shown).description
        }
    }

    /// What is wrong with the input.
    public let reason: Reason

    /// The 0-based byte offset where the problem was found.
    public let offset: Int

    /// Creates an error for `reason` at byte `offset`.
    public init(_ reason: Reason, at offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    /// A message such as `invalid JSON at byte 17: expected ',' or ']'`.
    public var description: String {
        "invalid JSON at byte \(offset): \(reason)"
    }
}
