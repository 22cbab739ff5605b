import MCDropoutJSON
import Testing

@Suite("Writing JSON")
struct JSONWriterTests {
    /// The text a writer produces after `body` runs.
    private func written(_ body: (inout JSONWriter) -> Void) -> String {
        var writer = JSONWriter()
        body(&writer)
        #expect(writer.isBalanced)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    @Test func commasAndColonsAreInsertedAutomatically() {
        let text = written { writer in
            writer.beginObject()
            writer.key("a")
            writer.beginArray()
            writer.integer(1)
            writer.number(2.5)
            writer.beginArray()
            writer.endArray()
            writer.beginObject()
            writer.endObject()
            writer.string("s")
            writer.bool(true)
            writer.bool(false)
            writer.null()
            writer.endArray()
            writer.key("b")
            writer.number(Float(0.1))
            writer.key("c")
            writer.beginObject()
            writer.key("d")
            writer.null()
            writer.endObject()
            writer.endObject()
        }
        #expect(text == #"{"a":[1,2.5,[],{},"s",true,false,null],"b":0.1,"c":{"d":null}}"#)
    }

    @Test(arguments: [
        (0.0, "0"), (-0.0, "-0"), (3.0, "3"), (-3.0, "-3"), (0.1, "0.1"), (-2.5, "-2.5"), (1e-5, "1e-05"),
        (100.0, "100"), (1e15, "1000000000000000"), (9_007_199_254_740_991.0, "9007199254740991"),
        (9_007_199_254_740_992.0, "9007199254740992"), (9_007_199_254_740_994.0, "9.007199254740994e+15"),
        (1e16, "1e+16"), (1e300, "1e+300"),
        (Double.greatestFiniteMagnitude, "1.7976931348623157e+308"), (Double.leastNonzeroMagnitude, "5e-324"),
        (1.0 / 3.0, "0.3333333333333333"), (123_456.789, "123456.789"),
        (Double.infinity, "null"), (-Double.infinity, "null"), (Double.nan, "null"),
    ])
    func doubles(_ value: Double, _ expected: String) {
        #expect(written { $0.number(value) } == expected)
    }

    @Test(arguments: [
        (Float(0.1), "0.1"), (Float(3), "3"), (Float(-0.0), "-0"), (Float(12.5), "12.5"),
        (Float(16_777_215), "16777215"),
        (Float(16_777_216), "16777216"), (Float(16_777_218), "1.6777218e+07"), (Float(1e-5), "1e-05"),
        (Float.greatestFiniteMagnitude, "3.4028235e+38"),
        (Float.nan, "null"), (Float.infinity, "null"),
    ])
    func floats(_ value: Float, _ expected: String) {
        #expect(written { $0.number(value) } == expected)
    }

    @Test func floatDigitsReadBackAsTheSameFloat() throws {
        var generator = SplitMix64(seed: 3)
        for _ in 0..<2_000 {
            let value = Float(bitPattern: UInt32(truncatingIfNeeded: generator.next()))
            guard value.isFinite else { continue }
            var writer = JSONWriter()
            writer.number(value)
            let parsed = try #require(try JSONParser.parse(writer.bytes).doubleValue)
            #expect(Float(parsed).bitPattern == value.bitPattern, "\(value)")
        }
    }

    @Test func integers() {
        #expect(written { $0.integer(0) } == "0")
        #expect(written { $0.integer(7) } == "7")
        #expect(written { $0.integer(-7) } == "-7")
        #expect(written { $0.integer(1_234_567_890) } == "1234567890")
        #expect(written { $0.integer(Int.max) } == "9223372036854775807")
        #expect(written { $0.integer(Int.min) } == "-9223372036854775808")
        #expect(written { $0.integer(UInt64.max) } == "18446744073709551615")
    }

    @Test func stringEscapes() {
        #expect(written { $0.string("plain") } == #""plain""#)
        #expect(written { $0.string("q\"b\\s/") } == #""q\"b\\s/""#)
        #expect(written { $0.string("\u{8}\u{C}\n\r\t") } == #""\b\f\n\r\t""#)
        #expect(written { $0.string("\u{0}\u{1}\u{1F}\u{7F}") } == "\"\\u0000\\u0001\\u001f\u{7F}\"")
        #expect(written { $0.string("é日本😀\u{2028}") } == "\"é日本😀\u{2028}\"")
        #expect(written { $0.string("") } == #""""#)
        #expect(written { $0.string("\"") } == #""\"""#)
    }

    @Test func keysAreEscapedToo() {
        let text = written { writer in
            writer.beginObject()
            writer.key("a\"b\n")
            writer.integer(1)
            writer.endObject()
        }
        #expect(text == #"{"a\"b\n":1}"#)
    }

    @Test func bridgedStringsAreEscaped() {
        // A string that is not stored contiguously in UTF-8 (a lazily bridged or substring-built one) takes the
        // copying path; a Substring-derived String exercises the same API.
        let base = "xx\"yy\u{1}zz"
        let text = String(base.dropFirst())
        #expect(written { $0.string(text) } == #""x\"yy\u0001zz""#)
    }

    @Test func removeAllMakesTheWriterReusable() {
        var writer = JSONWriter(capacity: 64)
        writer.beginArray()
        writer.integer(1)
        writer.endArray()
        #expect(writer.bytes == Array("[1]".utf8))
        writer.removeAll()
        #expect(writer.bytes.isEmpty)
        #expect(writer.bytes.capacity >= 64)
        writer.integer(2)
        #expect(writer.bytes == Array("2".utf8))
        writer.removeAll(keepingCapacity: false)
        writer.beginObject()
        writer.key("k")
        writer.bool(true)
        writer.endObject()
        #expect(writer.bytes == Array(#"{"k":true}"#.utf8))
    }

    @Test func balanceIsTracked() {
        var writer = JSONWriter()
        #expect(writer.isBalanced)
        writer.beginObject()
        #expect(!writer.isBalanced)
        writer.key("a")
        #expect(!writer.isBalanced)
        writer.beginArray()
        writer.endArray()
        writer.endObject()
        #expect(writer.isBalanced)
    }

    @Test func deepNestingBeyondTrackedDepthStillWrites() {
        var writer = JSONWriter()
        for _ in 0..<100 { writer.beginArray() }
        for _ in 0..<100 { writer.endArray() }
        #expect(writer.bytes == Array((String(repeating: "[", count: 100) + String(repeating: "]", count: 100)).utf8))
        #expect(writer.isBalanced)

        // Objects outside more than 64 levels still take keys after the inner levels close.
        writer.removeAll()
        for _ in 0..<70 {
            writer.beginObject()
            writer.key("k")
        }
        writer.beginArray()
        writer.endArray()
        for _ in 0..<70 { writer.endObject() }
        let expected = String(repeating: #"{"k":"#, count: 70) + "[]" + String(repeating: "}", count: 70)
        #expect(String(decoding: writer.bytes, as: UTF8.self) == expected)
        #expect(writer.isBalanced)
    }
}
