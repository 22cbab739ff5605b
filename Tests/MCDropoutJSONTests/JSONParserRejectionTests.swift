import MCDropoutJSON
import Testing

/// An input the parser must reject, with the reason and byte offset it must report.
struct Rejection: Sendable, CustomTestStringConvertible {
    let bytes: [UInt8]
    let reason: JSONParseError.Reason
    let offset: Int

    init(_ text: String, _ reason: JSONParseError.Reason, at offset: Int) {
        self.init(bytes: Array(text.utf8), reason, at: offset)
    }

    init(bytes: [UInt8], _ reason: JSONParseError.Reason, at offset: Int) {
        self.bytes = bytes
        self.reason = reason
        self.offset = offset
    }

    var testDescription: String {
        String(decoding: bytes, as: UTF8.self).debugDescription + " → \(reason) at \(offset)"
    }
}

@Suite("Rejecting invalid JSON")
struct JSONParserRejectionTests {
    static let structureCases: [Rejection] = [
        Rejection("", .emptyInput, at: 0),
        Rejection(" \n\t\r ", .emptyInput, at: 5),
        Rejection("[", .unexpectedEndOfInput, at: 1),
        Rejection("[1", .unexpectedEndOfInput, at: 2),
        Rejection("[1,", .unexpectedEndOfInput, at: 3),
        Rejection("{", .unexpectedEndOfInput, at: 1),
        Rejection(#"{"a""#, .unexpectedEndOfInput, at: 4),
        Rejection(#"{"a":"#, .unexpectedEndOfInput, at: 5),
        Rejection(#"{"a":1"#, .unexpectedEndOfInput, at: 6),
        Rejection("[1 2]", .expectedCommaOrArrayEnd, at: 3),
        Rejection("[1:2]", .expectedCommaOrArrayEnd, at: 2),
        Rejection(#"{"a":1 "b":2}"#, .expectedCommaOrObjectEnd, at: 7),
        Rejection(#"{"a":1]"#, .expectedCommaOrObjectEnd, at: 6),
        Rejection(#"{"a" 1}"#, .expectedColon, at: 5),
        Rejection("{1:2}", .expectedKey, at: 1),
        Rejection("{a:1}", .expectedKey, at: 1),
        Rejection("[1,]", .trailingComma, at: 2),
        Rejection("[1 , \n ]", .trailingComma, at: 3),
        Rejection(#"{"a":1,}"#, .trailingComma, at: 6),
        Rejection("[,1]", .expectedValue, at: 1),
        Rejection("[1,,2]", .expectedValue, at: 3),
        Rejection(#"{"a":}"#, .expectedValue, at: 5),
        Rejection("]", .expectedValue, at: 0),
        Rejection("1 2", .trailingCharacters, at: 2),
        Rejection("{} {}", .trailingCharacters, at: 3),
        Rejection("nullx", .trailingCharacters, at: 4),
        Rejection("[1]]", .trailingCharacters, at: 3),
        Rejection("tru", .invalidLiteral, at: 0),
        Rejection("[nul]", .invalidLiteral, at: 1),
        Rejection("True", .expectedValue, at: 0),
        Rejection("[falsy]", .invalidLiteral, at: 1),
        Rejection("undefined", .expectedValue, at: 0),
    ]

    static let otherLanguagesCases: [Rejection] = [
        Rejection("NaN", .nonFiniteNumber, at: 0),
        Rejection("Infinity", .nonFiniteNumber, at: 0),
        Rejection("-Infinity", .nonFiniteNumber, at: 0),
        Rejection("[1,NaN]", .nonFiniteNumber, at: 3),
        Rejection("nan", .invalidLiteral, at: 0),
        Rejection("// comment\n1", .comment, at: 0),
        Rejection("/* c */ 1", .comment, at: 0),
        Rejection("[1 /* c */]", .comment, at: 3),
        Rejection("[1, // c\n2]", .comment, at: 4),
        Rejection("1 // c", .comment, at: 2),
        Rejection("'a'", .singleQuotedString, at: 0),
        Rejection("{'a':1}", .singleQuotedString, at: 1),
        Rejection("+1", .leadingPlusSign, at: 0),
        Rejection("[+1]", .leadingPlusSign, at: 1),
    ]

    static let numbersCases: [Rejection] = [
        Rejection("01", .leadingZero, at: 0),
        Rejection("-01", .leadingZero, at: 1),
        Rejection("[00]", .leadingZero, at: 1),
        Rejection("-", .expectedDigit, at: 1),
        Rejection("-a", .expectedDigit, at: 1),
        Rejection("[-]", .expectedDigit, at: 2),
        Rejection("1.", .expectedDigit, at: 2),
        Rejection("1.e5", .expectedDigit, at: 2),
        Rejection("1e", .expectedDigit, at: 2),
        Rejection("1e+", .expectedDigit, at: 3),
        Rejection("1E-x", .expectedDigit, at: 3),
        Rejection(".5", .expectedValue, at: 0),
        Rejection("1.5.3", .trailingCharacters, at: 3),
        Rejection("0x10", .trailingCharacters, at: 1),
        Rejection("1e309", .numberOutOfRange, at: 0),
        Rejection("[1e400]", .numberOutOfRange, at: 1),
        Rejection("-1e400", .numberOutOfRange, at: 0),
        Rejection(String(repeating: "9", count: 400), .numberOutOfRange, at: 0),
        Rejection("1.7976931348623159e308", .numberOutOfRange, at: 0),
    ]

    static let stringsCases: [Rejection] = [
        Rejection("\"abc", .unterminatedString, at: 4),
        Rejection("\"a\\", .unterminatedString, at: 3),
        Rejection(#"["a\"]"#, .unterminatedString, at: 6),
        Rejection("\"a\nb\"", .unescapedControlCharacter(0x0A), at: 2),
        Rejection("\"\t\"", .unescapedControlCharacter(0x09), at: 1),
        Rejection("\"\u{0}\"", .unescapedControlCharacter(0x00), at: 1),
        Rejection("\"\\n\u{1F}\"", .unescapedControlCharacter(0x1F), at: 3),
        Rejection(#""\x41""#, .invalidEscape, at: 1),
        Rejection(#""ab\'""#, .invalidEscape, at: 3),
        Rejection(#""\U0041""#, .invalidEscape, at: 1),
        Rejection(#""\u12""#, .invalidUnicodeEscape, at: 1),
        Rejection(#""\u12G4""#, .invalidUnicodeEscape, at: 1),
        Rejection(#""\u"#, .invalidUnicodeEscape, at: 1),
        Rejection(#""\ud83d""#, .unpairedSurrogate, at: 1),
        Rejection(#""\ud83dx""#, .unpairedSurrogate, at: 1),
        Rejection(#""\ud83d\n""#, .unpairedSurrogate, at: 1),
        Rejection(#""\ud83d\u0041""#, .unpairedSurrogate, at: 1),
        Rejection(#""\ud83d\ud83d""#, .unpairedSurrogate, at: 1),
        Rejection(#""a\ude00""#, .unpairedSurrogate, at: 2),
        Rejection(#""\ud83d\uZZZZ""#, .invalidUnicodeEscape, at: 7),
    ]

    static let invalidUTF8Cases: [Rejection] = [
        Rejection(bytes: [0x22, 0xC3, 0x28, 0x22], .invalidUTF8, at: 1),  // C3 needs a continuation byte
        Rejection(bytes: [0x22, 0xED, 0xA0, 0x80, 0x22], .invalidUTF8, at: 1),  // encoded surrogate U+D800
        Rejection(bytes: [0x22, 0xF5, 0x80, 0x80, 0x80, 0x22], .invalidUTF8, at: 1),  // beyond U+10FFFF
        Rejection(bytes: [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], .invalidUTF8, at: 1),  // U+110000
        Rejection(bytes: [0x22, 0xFF, 0x22], .invalidUTF8, at: 1),
        Rejection(bytes: [0x22, 0x80, 0x22], .invalidUTF8, at: 1),  // lone continuation byte
        Rejection(bytes: [0x22, 0xC0, 0xAF, 0x22], .invalidUTF8, at: 1),  // overlong "/"
        Rejection(bytes: [0x22, 0xE0, 0x80, 0xAF, 0x22], .invalidUTF8, at: 1),  // overlong "/"
        Rejection(bytes: [0x22, 0xF0, 0x80, 0x80, 0xAF, 0x22], .invalidUTF8, at: 1),  // overlong "/"
        Rejection(bytes: [0x22, 0x61, 0xE2, 0x82, 0x22], .invalidUTF8, at: 2),  // truncated "€"
        Rejection(bytes: [0x22, 0xE2, 0x82], .invalidUTF8, at: 1),  // truncated at end of input
        Rejection(bytes: [0x22, 0x5C, 0x6E, 0xC3, 0x28, 0x22], .invalidUTF8, at: 3),  // after an escape
        Rejection(bytes: [0x5B, 0xC3, 0x28, 0x5D], .invalidUTF8, at: 1),  // outside strings
        Rejection(bytes: [0x5B, 0x31, 0x20, 0xFF, 0x5D], .invalidUTF8, at: 3),
        Rejection(bytes: [0x31, 0x20, 0xED, 0xA0, 0x80], .invalidUTF8, at: 2),
        Rejection(bytes: [0xEF, 0xBB, 0xBF, 0x31], .expectedValue, at: 0),  // a byte order mark is valid UTF-8
        Rejection(bytes: [0x5B, 0xC3, 0xA9, 0x5D], .expectedValue, at: 1),  // "é" outside a string
    ]

    @Test(arguments: structureCases)
    func structuralErrors(_ rejection: Rejection) {
        #expect(parseError(rejection.bytes) == JSONParseError(rejection.reason, at: rejection.offset))
    }

    @Test(arguments: otherLanguagesCases)
    func syntaxFromOtherLanguagesErrors(_ rejection: Rejection) {
        #expect(parseError(rejection.bytes) == JSONParseError(rejection.reason, at: rejection.offset))
    }

    @Test(arguments: numbersCases)
    func numberErrors(_ rejection: Rejection) {
        #expect(parseError(rejection.bytes) == JSONParseError(rejection.reason, at: rejection.offset))
    }

    @Test(arguments: stringsCases)
    func stringErrors(_ rejection: Rejection) {
        #expect(parseError(rejection.bytes) == JSONParseError(rejection.reason, at: rejection.offset))
    }

    @Test(arguments: invalidUTF8Cases)
    func invalidUTF8Errors(_ rejection: Rejection) {
        #expect(parseError(rejection.bytes) == JSONParseError(rejection.reason, at: rejection.offset))
    }

    @Test func descriptionNamesOffsetAndReason() {
        #expect(parseError("[1 2]")?.description == "invalid JSON at byte 3: expected ',' or ']'")
        #expect(parseError("1e400")?.description == "invalid JSON at byte 0: number out of range")
        #expect(
            parseError("\"\u{1}\"")?.description == "invalid JSON at byte 1: unescaped control character 0x01 in string"
        )
        #expect(parseError(#"{"a\n":1,"a\n":2}"#)?.description == #"invalid JSON at byte 9: duplicate key "a\n""#)
        let longKey = String(repeating: "k", count: 100)
        let message = parseError("{\"\(longKey)\":1,\"\(longKey)\":2}")?.description
        #expect(message == "invalid JSON at byte 106: duplicate key \"\(String(repeating: "k", count: 64))...\"")
    }

    @Test func everyByteAfterAValidPrefixFailsCleanly() {
        // Each single byte substituted into a valid document either parses or throws; none may trap.
        let template = Array(#"{"a":[1,-2.5e3,"x\u00e9",true,null]}"#.utf8)
        var failures = 0
        for position in template.indices {
            for byte in UInt8.min...UInt8.max {
                var mutated = template
                mutated[position] = byte
                if let error = parseError(mutated) {
                    failures += 1
                    #expect(error.offset >= 0 && error.offset <= mutated.count)
                }
            }
        }
        #expect(failures > template.count)
    }

    @Test func randomTokenSoupNeverTrapsAndWhatParsesRoundTrips() throws {
        let pieces =
            [
                "[", "]", "{", "}", ",", ":", " ", "\"", "\"k\"", "\\", "\\u", "d83d", "\\ude00", "0", "-", "1", "9",
                ".", "e",
                "E", "+", "true", "fals", "null", "\n", "/", "'", "\u{0}", "é", "\u{FFFF}",
            ].map { Array($0.utf8) } + [[0xC3], [0xED, 0xA0, 0x80], [0xF5], [0xFF]]
        var generator = SplitMix64(seed: 77)
        var parsed = 0
        for _ in 0..<20_000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 0...12, using: &generator) {
                bytes += pieces.randomElement(using: &generator)!
            }
            do {
                let value = try JSONParser.parse(bytes)
                parsed += 1
                #expect(try JSONParser.parse(value.serialized()) == value)
            } catch {
                #expect(error.offset >= 0 && error.offset <= bytes.count)
            }
        }
        #expect(parsed > 100)
    }

    @Test func everyTruncationFailsWithOffsetWithinInput() {
        let document = Array(#"{"pixels":[0,12.5,255],"samples":100,"seed":42,"s":"\ud83d\ude00é"}"#.utf8)
        for length in 0..<document.count {
            let error = parseError(Array(document[..<length]))
            #expect(error != nil, "prefix of \(length) bytes parsed")
            #expect((error?.offset ?? -1) <= length)
        }
    }
}
