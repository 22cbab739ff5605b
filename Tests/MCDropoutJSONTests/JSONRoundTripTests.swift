import MCDropoutJSON
import Testing

@Suite("Round trips between the writer and the parser")
struct JSONRoundTripTests {
    /// A random value up to `depth` levels deep, with awkward strings and numbers.
    private static func randomValue(depth: Int, using generator: inout SplitMix64) -> JSONValue {
        let kind = Int.random(in: 0..<(depth > 0 ? 7 : 5), using: &generator)
        switch kind {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &generator))
        case 2:
            switch Int.random(in: 0..<3, using: &generator) {
            case 0: return .number(Double(Int.random(in: -1_000...1_000, using: &generator)))
            case 1: return .number(Double.random(in: -1...1, using: &generator))
            default:
                let value = Double(bitPattern: generator.next())
                return .number(value.isFinite ? value : 0)
            }
        case 3, 4: return .string(randomString(using: &generator))
        case 5:
            let count = Int.random(in: 0...5, using: &generator)
            return .array((0..<count).map { _ in randomValue(depth: depth - 1, using: &generator) })
        default:
            var object = JSONObject()
            for _ in 0..<Int.random(in: 0...25, using: &generator) {
                object[randomString(using: &generator)] = randomValue(depth: depth - 1, using: &generator)
            }
            return .object(object)
        }
    }

    private static func randomString(using generator: inout SplitMix64) -> String {
        let alphabet: [Unicode.Scalar] = [
            "a", "b", "\"", "\\", "/", "\n", "\u{0}", "\u{1F}", "\u{7F}", "é", "€", "😀", " ",
        ]
        let count = Int.random(in: 0...8, using: &generator)
        var text = ""
        for _ in 0..<count {
            text.unicodeScalars.append(alphabet.randomElement(using: &generator)!)
        }
        return text
    }

    @Test func randomValuesRoundTrip() throws {
        var generator = SplitMix64(seed: 2024)
        for _ in 0..<500 {
            let value = Self.randomValue(depth: 4, using: &generator)
            let bytes = value.serialized()
            let parsed = try JSONParser.parse(bytes)
            #expect(parsed == value)
            #expect(parsed.serialized() == bytes, "serialization is not deterministic")
        }
    }

    @Test func documentRoundTripsByteForByte() throws {
        let text =
            #"{"b":[1,-0,2.5,1e-05,1.7976931348623157e+308,"x\"\\\n\u0001é😀"],"a":{"z":null,"y":true},"c":[]}"#
        let value = try JSONParser.parse(text)
        #expect(value.description == text)
        #expect(value.serialized() == Array(text.utf8))
    }

    @Test func reformatsEquivalentInput() throws {
        let value = try JSONParser.parse(" { \"a\" : [ 1.0 , 2E1 , \"\\u00e9\\/\" ] } ")
        #expect(value.description == #"{"a":[1,20,"é/"]}"#)
    }

    @Test func literalsBuildTheSameValuesAsParsing() throws {
        let built: JSONValue = ["pixels": [0, 12.5, 255], "samples": 100, "ok": true, "none": nil, "name": "mlp"]
        let parsed = try JSONParser.parse(#"{"pixels":[0,12.5,255],"samples":100,"ok":true,"none":null,"name":"mlp"}"#)
        #expect(built == parsed)
    }

    @Test func objectsCompareInOrder() {
        let ab: JSONValue = ["a": 1, "b": 2]
        let ba: JSONValue = ["b": 2, "a": 1]
        #expect(ab != ba)
        #expect(ab["a"] == ba["a"])
    }

    @Test func objectMutation() {
        var object: JSONObject = ["a": 1, "b": 2]
        object["a"] = 3
        object["c"] = "x"
        #expect(JSONValue.object(object).description == #"{"a":3,"b":2,"c":"x"}"#)
        object["b"] = nil
        #expect(object.keys == ["a", "c"])
        #expect(!object.contains(key: "b"))
        for position in 0..<30 { object["k\(position)"] = .number(Double(position)) }
        #expect(object["k29"] == 29)
        object["k10"] = nil
        #expect(object["k10"] == nil)
        #expect(object["k11"] == 11)
        #expect(object.count == 31)
        object.append(key: "a", value: 99)
        #expect(object["a"] == 99)
        #expect(object.first?.key == "a")
        #expect(object.first?.value == 3)
    }
}
