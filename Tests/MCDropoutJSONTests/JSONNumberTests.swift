import Testing

@testable import MCDropoutJSON

@Suite("Number parsing")
struct JSONNumberTests {
    /// Parses `text` as a number, bit-exactly.
    private func number(_ text: String) throws -> Double {
        let value = try JSONParser.parse(text)
        return try #require(value.doubleValue, "\(text) did not parse as a number")
    }

    @Test func zeroesKeepTheirSign() throws {
        #expect(try number("0").bitPattern == 0.0.bitPattern)
        #expect(try number("-0").bitPattern == (-0.0).bitPattern)
        #expect(try number("-0.0").bitPattern == (-0.0).bitPattern)
        #expect(try number("0e999999999999").bitPattern == 0.0.bitPattern)
        #expect(try number("-0.000e-5").bitPattern == (-0.0).bitPattern)
    }

    @Test func exponentForms() throws {
        #expect(try number("1e2") == 100)
        #expect(try number("1E2") == 100)
        #expect(try number("1E+2") == 100)
        #expect(try number("1e-2") == 0.01)
        #expect(try number("1.5e-3") == 0.0015)
        #expect(try number("-12.5E+1") == -125)
        #expect(try number("1e0") == 1)
        #expect(try number("1e-0") == 1)
        #expect(try number("1e007") == 1e7)
    }

    @Test func extremesOfTheDoubleRange() throws {
        #expect(try number("5e-324") == Double.leastNonzeroMagnitude)
        #expect(try number("-5e-324") == -Double.leastNonzeroMagnitude)
        #expect(try number("2.2250738585072014e-308") == Double.leastNormalMagnitude)
        #expect(try number("1.7976931348623157e308") == Double.greatestFiniteMagnitude)
        #expect(try number("-1.7976931348623157e308") == -Double.greatestFiniteMagnitude)
        #expect(try number("1e-400") == 0)
        #expect(try number("-1e-500").bitPattern == (-0.0).bitPattern)
        #expect(try number("1e-99999999999999999999") == 0)
        #expect(parseError("1e309")?.reason == .numberOutOfRange)
        #expect(parseError("1e99999999999999999999")?.reason == .numberOutOfRange)
    }

    @Test func veryLongNumbers() throws {
        let threeHundredNines = String(repeating: "9", count: 300)
        #expect(try number(threeHundredNines) == Double(threeHundredNines))
        #expect(try number("-" + threeHundredNines) == -Double(threeHundredNines)!)
        #expect(try number("1" + String(repeating: "0", count: 308)) == 1e308)
        #expect(parseError("1" + String(repeating: "0", count: 309))?.reason == .numberOutOfRange)
        #expect(parseError(String(repeating: "9", count: 400))?.reason == .numberOutOfRange)
        // Many leading zeros in the fraction: the significant digits are few, and the fast path still applies.
        let small = "0." + String(repeating: "0", count: 20) + "123"
        #expect(try number(small) == Double(small))
        let tiny = "0." + String(repeating: "0", count: 400) + "1"
        #expect(try number(tiny) == Double(tiny))
        // Many trailing zeros in the fraction.
        let padded = "12.5" + String(repeating: "0", count: 500)
        #expect(try number(padded) == 12.5)
        // 17 significant digits needs the slow path.
        #expect(try number("0.30000000000000004") == 0.1 + 0.2)
        #expect(try number("9007199254740993") == 9_007_199_254_740_992)
    }

    @Test func integersAreExactUpTo2To53() throws {
        #expect(try number("9007199254740992") == 9_007_199_254_740_992)
        #expect(try JSONParser.parse("9007199254740991").intValue == 9_007_199_254_740_991)
        #expect(try JSONParser.parse("-42").intValue == -42)
        #expect(try JSONParser.parse("4.0").intValue == 4)
        #expect(try JSONParser.parse("4.5").intValue == nil)
        #expect(try JSONParser.parse("1e300").intValue == nil)
    }

    @Test func hardRoundingCases() throws {
        let cases = [
            "0.1", "0.2", "0.3", "2.5", "1.1", "3.14159", "123456789012345", "999999999999999",
            "0.000001", "1.000000000000001", "4.35", "8.98846567431158e307", "2.2250738585072011e-308",
            "4.9406564584124654e-324", "2.4703282292062328e-324", "2.4703282292062327e-324",
            "9007199254740993", "1.00000000000000011102230246251565404236316680908203125",
            "7.0e-10",
            ("179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017"
                + "977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273"
                + "854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704"
                + "342711559699508093042880177904174497791"),
            "1e23", "8.589973e9", "1.7e308", "1e22", "123e25", "123456e20", "999999999999999e22",
        ]
        for text in cases {
            #expect(try number(text).bitPattern == Double(text)!.bitPattern, "\(text)")
        }
    }

    /// A random decimal string: an optional sign, 1–18 digits split around an optional point, and an optional
    /// exponent, biased toward the short numbers the fast path handles.
    private static func randomDecimal(using generator: inout SplitMix64) -> String {
        var text = Bool.random(using: &generator) ? "-" : ""
        let digitCount = Int.random(in: 1...18, using: &generator)
        var digits = (0..<digitCount).map { _ in Character(String(Int.random(in: 0...9, using: &generator))) }
        let pointPosition = Int.random(in: 0...digitCount, using: &generator)
        var integerPart = String(digits[..<pointPosition])
        digits.removeFirst(pointPosition)
        while integerPart.count > 1, integerPart.first == "0" { integerPart.removeFirst() }
        text += integerPart.isEmpty ? "0" : integerPart
        if !digits.isEmpty { text += "." + String(digits) }
        switch Int.random(in: 0..<4, using: &generator) {
        case 0: text += "e\(Int.random(in: -30...30, using: &generator))"
        case 1: text += "E+\(Int.random(in: 0...40, using: &generator))"
        case 2: text += "e\(Int.random(in: -330...310, using: &generator))"
        default: break
        }
        return text
    }

    @Test func randomDecimalsRoundLikeTheStandardLibrary() throws {
        var generator = SplitMix64(seed: 0x5EED)
        var fastPathCount = 0
        for _ in 0..<3_000 {
            let text = Self.randomDecimal(using: &generator)
            guard let expected = Double(text), expected.isFinite else {
                #expect(parseError(text)?.reason == .numberOutOfRange, "\(text)")
                continue
            }
            #expect(try number(text).bitPattern == expected.bitPattern, "\(text)")
            if text.filter(\.isNumber).drop(while: { $0 == "0" }).count <= 15 { fastPathCount += 1 }
        }
        #expect(fastPathCount > 1_000)
    }

    @Test func fastPathIsExactWhereItApplies() {
        var generator = SplitMix64(seed: 42)
        var applied = 0
        for _ in 0..<5_000 {
            let digitCount = Int.random(in: 1...15, using: &generator)
            let bound = (0..<digitCount).reduce(UInt64(1)) { product, _ in product * 10 }
            let significand = UInt64.random(in: 0..<bound, using: &generator)
            let exponent = Int.random(in: -30...40, using: &generator)
            let fast = DecimalConversion.exactMagnitude(
                significand: significand, digitCount: digitCount, exponent: exponent)
            guard let fast else { continue }
            applied += 1
            #expect(fast.bitPattern == Double("\(significand)e\(exponent)")!.bitPattern, "\(significand)e\(exponent)")
        }
        #expect(applied > 2_500)
        #expect(DecimalConversion.exactMagnitude(significand: 1, digitCount: 16, exponent: 0) == nil)
        #expect(DecimalConversion.exactMagnitude(significand: 1, digitCount: 1, exponent: -23) == nil)
        #expect(DecimalConversion.exactMagnitude(significand: 123, digitCount: 3, exponent: 34) == 123e34)
        #expect(DecimalConversion.exactMagnitude(significand: 123, digitCount: 3, exponent: 35) == nil)
    }

    @Test func longSignificandsRoundLikeTheStandardLibrary() throws {
        var generator = SplitMix64(seed: 1_234)
        for _ in 0..<3_000 {
            let digits = (0..<Int.random(in: 16...19, using: &generator)).map { _ in
                String(Int.random(in: 0...9, using: &generator))
            }.joined()
            let trimmed = digits.drop { $0 == "0" }
            let text = "0." + digits + "e\(Int.random(in: -300...300, using: &generator))"
            let expected = Double(text)!
            #expect(try number(text).bitPattern == expected.bitPattern, "\(text)")
            if !trimmed.isEmpty {
                let integerText = String(trimmed)
                #expect(try number(integerText).bitPattern == Double(integerText)!.bitPattern, "\(integerText)")
            }
        }
    }

    @Test func randomDoublesSurviveTextRoundTrip() throws {
        var generator = SplitMix64(seed: 7)
        for _ in 0..<2_000 {
            let value = Double(bitPattern: generator.next())
            guard value.isFinite else { continue }
            let parsed = try JSONParser.parse(JSONValue.number(value).serialized())
            #expect(parsed.doubleValue?.bitPattern == value.bitPattern, "\(value)")
        }
    }
}
