import MCDropoutJSON
import Testing

@Suite("Parsing valid JSON")
struct JSONParserTests {
    @Test func scalarsAtTopLevel() throws {
        #expect(try JSONParser.parse("null") == .null)
        #expect(try JSONParser.parse("true") == .bool(true))
        #expect(try JSONParser.parse("false") == .bool(false))
        #expect(try JSONParser.parse("42") == .number(42))
        #expect(try JSONParser.parse("\"hi\"") == .string("hi"))
        #expect(try JSONParser.parse("[]") == .array([]))
        #expect(try JSONParser.parse("{}") == .object(JSONObject()))
    }

    @Test func allWhitespaceFormsAreAccepted() throws {
        let text = " \t\n\r{ \t\n\r\"a\" \t\n\r: \t\n\r[ \t\n\r1 \t\n\r, \t\n\r2 \t\n\r] \t\n\r} \t\n\r"
        #expect(try JSONParser.parse(text) == ["a": [1, 2]])
    }

    @Test func inferenceRequestBody() throws {
        let pixels = (0..<784).map { String($0 % 256) }.joined(separator: ",")
        let body = "{\"pixels\":[\(pixels)], \"samples\":100, \"seed\":42}"
        let request = try JSONParser.parse(body)
        #expect(request["samples"]?.intValue == 100)
        #expect(request["seed"]?.intValue == 42)
        let values = try #require(request["pixels"]?.arrayValue)
        #expect(values.count == 784)
        #expect(values.map { $0.doubleValue } == (0..<784).map { Double($0 % 256) })
        #expect(request["pixels"]?.doubleArrayValue == (0..<784).map { Double($0 % 256) })
        #expect(request["missing"] == nil)
        #expect(try JSONParser.parse("[1,\"2\"]").doubleArrayValue == nil)
        #expect(try JSONParser.parse("[]").doubleArrayValue == [])
        #expect(try JSONParser.parse("{}").doubleArrayValue == nil)
    }

    @Test func nestedStructuresKeepMemberOrder() throws {
        let value = try JSONParser.parse(#"{"z":1,"a":{"y":[true,null,{"k":"v"}],"b":[]},"m":-2.5}"#)
        let object = try #require(value.objectValue)
        #expect(object.keys == ["z", "a", "m"])
        #expect(value["a"]?["y"]?[2]?["k"]?.stringValue == "v")
        #expect(value["a"]?["y"]?[1]?.isNull == true)
        #expect(value["a"]?["y"]?[3] == nil)
        #expect(value["m"]?.doubleValue == -2.5)
        #expect(value["a"]?["b"]?.arrayValue?.isEmpty == true)
    }

    @Test func parsesFromUnsafeBufferAndString() throws {
        let bytes = Array(#"[1,"é",{"k":null}]"#.utf8)
        let fromBuffer = try bytes.withUnsafeBytes { try JSONParser.parse($0) }
        #expect(fromBuffer == [1, "é", ["k": nil]])
        #expect(try JSONParser.parse(String(decoding: bytes, as: UTF8.self)) == fromBuffer)
        #expect(throws: JSONParseError(.emptyInput, at: 0)) {
            try JSONParser.parse(UnsafeRawBufferPointer(start: nil, count: 0))
        }
    }

    @Test func stringEscapesDecode() throws {
        let value = try JSONParser.parse(#""a\"b\\c\/d\be\ff\ng\rh\ti\u0041\u00e9\u20AC\u0000""#)
        #expect(value == .string("a\"b\\c/d\u{8}e\u{C}f\ng\rh\tiAé€\u{0}"))
    }

    @Test func surrogatePairsDecodeToOneScalar() throws {
        #expect(try JSONParser.parse(#""\ud83d\ude00""#) == .string("😀"))
        #expect(try JSONParser.parse(#""x\uD834\uDD1Ey""#) == .string("x𝄞y"))
        #expect(try JSONParser.parse(#""\uDBFF\uDFFF""#) == .string("\u{10FFFF}"))
    }

    @Test func rawNonASCIIPassesThrough() throws {
        #expect(try JSONParser.parse("\"héllo wörld 日本 😀\"") == .string("héllo wörld 日本 😀"))
        #expect(try JSONParser.parse("[\"\u{7F}\"]") == ["\u{7F}"])
    }

    @Test func depthLimitIsInclusive() throws {
        let options = JSONParser.Options(maxDepth: 3)
        #expect(try JSONParser.parse("[[[1]]]", options: options) == [[[1]]])
        #expect(try JSONParser.parse(#"{"a":{"b":[]}}"#, options: options) == ["a": ["b": []]])
        #expect(parseError("[[[[1]]]]", options: options) == JSONParseError(.nestingTooDeep(maxDepth: 3), at: 3))
        #expect(parseError(#"[{"a":[{}]}]"#, options: options) == JSONParseError(.nestingTooDeep(maxDepth: 3), at: 7))
        #expect(try JSONParser.parse("7", options: JSONParser.Options(maxDepth: 0)) == 7)
        #expect(parseError("[]", options: JSONParser.Options(maxDepth: 0))?.reason == .nestingTooDeep(maxDepth: 0))
    }

    @Test func defaultDepthIs64() throws {
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(try JSONParser.parse(ok).arrayValue != nil)
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(parseError(deep) == JSONParseError(.nestingTooDeep(maxDepth: 64), at: 64))
    }

    @Test func hundredThousandOpenBracketsFailWithoutCrashing() {
        let brackets = [UInt8](repeating: UInt8(ascii: "["), count: 100_000)
        #expect(parseError(brackets) == JSONParseError(.nestingTooDeep(maxDepth: 64), at: 64))
        let deepest = JSONParser.Options(maxDepth: JSONParser.Options.maximumSupportedDepth)
        #expect(parseError(brackets, options: deepest)?.reason == .nestingTooDeep(maxDepth: 1024))
        let objects = Array(String(repeating: #"{"a":"#, count: 100_000).utf8)
        #expect(parseError(objects) == JSONParseError(.nestingTooDeep(maxDepth: 64), at: 64 * 5))
    }

    @Test func maximumSupportedDepthParsesComparesAndSerializes() throws {
        let depth = JSONParser.Options.maximumSupportedDepth
        let text = String(repeating: "[", count: depth) + "0" + String(repeating: "]", count: depth)
        let value = try JSONParser.parse(text, options: JSONParser.Options(maxDepth: depth))
        #expect(value.json == text)
        #expect(value == (try JSONParser.parse(text, options: JSONParser.Options(maxDepth: depth))))
    }

    @Test func duplicateKeysAreRejectedByDefault() {
        #expect(parseError(#"{"a":1,"b":2,"a":3}"#) == JSONParseError(.duplicateKey("a"), at: 13))
        #expect(parseError(#"{"a":{"x":1,"x":2}}"#)?.reason == .duplicateKey("x"))
        // Escapes are decoded before comparing: "\u0061" is "a".
        #expect(parseError(#"{"a":1,"\u0061":2}"#)?.reason == .duplicateKey("a"))
        // The same key in different objects is fine.
        #expect(parseError(#"[{"a":1},{"a":2}]"#) == nil)
    }

    @Test func duplicateKeysInLargeObjectsAreFoundThroughTheIndex() {
        let members = (0..<1_000).map { "\"k\($0)\":\($0)" }
        #expect(parseError("{" + members.joined(separator: ",") + "}") == nil)
        let text = "{" + members.joined(separator: ",") + ",\"k500\":0}"
        #expect(parseError(text) == JSONParseError(.duplicateKey("k500"), at: text.utf8.count - 9))
    }

    @Test func duplicateKeysCanBeKeptWithLastOneWinning() throws {
        let options = JSONParser.Options(rejectDuplicateKeys: false)
        let value = try JSONParser.parse(#"{"a":1,"b":2,"a":3}"#, options: options)
        #expect(value["a"] == 3)
        #expect(value.objectValue?.keys == ["a", "b", "a"])
        #expect(value.json == #"{"a":1,"b":2,"a":3}"#)

        let many = (0..<40).map { "\"k\($0 % 20)\":\($0)" }.joined(separator: ",")
        let large = try JSONParser.parse("{\(many)}", options: options)
        #expect(large.objectValue?.count == 40)
        #expect(large["k3"] == 23)
    }

    @Test func largeObjectLookupMatchesMembers() throws {
        let text = "{" + (0..<100).map { "\"key\($0)\":\($0 * 2)" }.joined(separator: ",") + "}"
        let object = try #require(try JSONParser.parse(text).objectValue)
        for position in 0..<100 {
            #expect(object["key\(position)"] == .number(Double(position * 2)))
        }
        #expect(object["key100"] == nil)
        #expect(object.count == 100)
    }
}
