import MCDropout
import MCDropoutJSON
import Testing

@testable import InferenceServer

/// The outcome of decoding a body, comparable across the two paths: the request and the pixels' bit patterns, or the
/// error.
private enum Outcome: Equatable {
    case decoded(PredictRequest, values: [UInt32], counts: [Int])
    case rejected(HTTPError)
}

private let limits = RequestLimits(maxSamples: 10_000, maxBatchSize: 3, maxTotalPasses: 1_000_000)

private func decode(_ body: [UInt8], fast: Bool) -> Outcome {
    var pixels = PixelBuffer()
    do {
        let request = try PredictRequest(body: body, limits: limits, pixels: &pixels, allowsFastPath: fast)
        return .decoded(request, values: pixels.values.map(\.bitPattern), counts: pixels.counts)
    } catch {
        return .rejected(error)
    }
}

/// Random `/predict` bodies, mostly well-formed, with every kind of JSON edge mixed in.
private struct BodyGenerator {
    var random: RandomSource
    /// Per mille chance that a number or a piece of whitespace is unusual, chosen per body (often 0).
    var oddity: UInt64 = 0

    mutating func pick<T>(_ choices: [T]) -> T { choices[Int(random.next() % UInt64(choices.count))] }
    mutating func chance(_ percent: UInt64) -> Bool { random.next() % 100 < percent }

    mutating func space() -> String {
        if random.next() % 1000 < oddity { return pick(["\u{0B}", "\u{A0}", "\u{FEFF}", "\u{0C}"]) }
        return chance(70) ? "" : pick([" ", "\n", "\t", "\r\n  ", "  "])
    }

    mutating func number() -> String {
        if random.next() % 1000 >= oddity {
            let value = random.next() % 256
            return chance(80) ? "\(value)" : "\(value % 255).\(random.next() % 1000)"
        }
        return pick([
            "0", "255", "255.0", "255.00000000001", "256", "-0", "-0.0", "-1", "007", "00", "0.", ".5", "5.", "+1",
            "1e2", "1E2", "2.5e-1", "1e400", "0.0000000000000000000000001", "1.2345678901234567", "123456789012345678",
            "0.1234567890123456", "12.50", "NaN", "-NaN", "Infinity", "-Infinity", "0x10", "1_0", "null", "true",
            "\"5\"",
            "[]", "{}", "1.5.2", "1-2", "１",
        ])
    }

    mutating func numbers(_ count: Int) -> String {
        (0..<count).map { _ in space() + number() + space() }.joined(separator: chance(2) ? ",," : ",")
    }

    mutating func pixels() -> String {
        switch random.next() % 10 {
        case 0...5: return "[" + numbers(chance(90) ? 784 : pick([0, 1, 783, 785])) + "]"
        case 6, 7:
            let rows = chance(85) ? 28 : pick([0, 27, 29])
            return "["
                + (0..<rows).map { row in
                    "[" + numbers(chance(97) ? 28 : pick([0, 27, 29])) + "]" + (row == 3 && chance(5) ? ",5" : "")
                }.joined(separator: ",") + "]"
        case 8: return "[" + numbers(392) + ",[" + numbers(392) + "]]"
        default: return pick(["[]", "[[]]", "\"abc\"", "null", "{}", "[[[1]]]", "[1,2,3]"])
        }
    }

    mutating func key(_ name: String) -> String {
        if chance(95) { return "\"\(name)\"" }
        return pick([
            "\"pi\\u0078els\"", "\"pixel\"", "\"p\u{EF}xels\"", "\"\\u0070ixels\"", "\"\(name)\\\"\"", "'\(name)'",
        ])
    }

    mutating func instance() -> String {
        if chance(50) { return pixels() }
        var members = [key("pixels") + space() + ":" + space() + pixels()]
        if chance(5) { members.append("\"x\": 1") }
        if chance(3) { members = [] }
        return "{" + space() + members.joined(separator: ",") + space() + "}"
    }

    mutating func body() -> String {
        oddity = chance(60) ? 0 : pick([1, 3, 10, 100])
        var members: [String] = []
        if chance(75) {
            members.append(key("pixels") + space() + ":" + space() + pixels())
        } else {
            let count = chance(85) ? Int(random.next() % 3) + 1 : pick([0, 4])
            members.append(key("instances") + ":[" + (0..<count).map { _ in instance() }.joined(separator: ",") + "]")
        }
        if chance(50) {
            members.append(
                key("samples") + ":"
                    + pick([
                        "100", "1", "\"auto\"", "\"Auto\"", "\"100\"", "1.5", "0", "1e2", "-1", "null", "10000",
                        "10001",
                    ]))
        }
        if chance(40) {
            members.append(
                key("seed") + ":" + pick(["42", "0", "-1", "1.5", "9007199254740991", "9007199254740992", "true"]))
        }
        if chance(30) {
            members.append(key("model") + ":" + pick(["\"synthetic\"", "\"m\\u00e9\"", "\"m\u{E9}\"", "5", "\"\""]))
        }
        if chance(15) { members.append(key("min_samples") + ":" + pick(["16", "1", "2", "2000", "1.5"])) }
        if chance(15) { members.append(key("max_samples") + ":" + pick(["1000", "10", "20000", "3"])) }
        if chance(15) {
            members.append(key("tolerance") + ":" + pick(["0.01", "0.001", "0", "1", "2", "1e-3", "\"x\""]))
        }
        if chance(15) {
            members.append(
                key("uncertainty_threshold") + ":"
                    + pick(["0.25", "0", "3", "-0.1", "1e-2", "null", "\"0.2\"", "true"]))
        }
        if chance(10) {
            members.append(
                key("uncertainty_score") + ":"
                    + pick([
                        "\"mutual_information\"", "\"max_probability\"", "\"predictive_entropy\"", "\"total_variance\"",
                        "\"vibes\"", "\"mutual\\u005finformation\"", "1", "null",
                    ]))
        }
        if chance(5) { members.append(members[0]) }  // duplicate key
        if chance(5) { members.append("\"unknown\": 1") }
        if chance(3) {
            members.append("\"nested\": " + String(repeating: "[", count: 70) + String(repeating: "]", count: 70))
        }
        members.shuffle(using: &random)
        var text =
            space() + "{" + space() + members.joined(separator: space() + "," + space()) + space() + "}" + space()
        if chance(3) { text += pick(["x", "{}", ",", "\u{0}"]) }
        if chance(2) { text = "[" + text + "]" }
        if chance(2) { text += "," }
        return text
    }

    /// The body's bytes, sometimes damaged: truncated, or one byte replaced, deleted or duplicated.
    mutating func bytes() -> [UInt8] {
        var bytes = Array(body().utf8)
        guard chance(15), !bytes.isEmpty else { return bytes }
        let position = Int(random.next() % UInt64(bytes.count))
        switch random.next() % 4 {
        case 0: bytes.removeSubrange(position...)
        case 1: bytes[position] = pick([0x00, 0x22, 0x2C, 0x5D, 0x7D, 0x20, 0x80, 0xFF, 0xC3, 0x5C, 0x65, 0x2D])
        case 2: bytes.remove(at: position)
        default: bytes.insert(bytes[position], at: position)
        }
        return bytes
    }
}

@Suite("The /predict body scanner decides exactly like the JSON parser")
struct PredictBodyScannerTests {
    @Test("generated good and bad bodies: same request, same pixels, or the same 4xx message")
    func agreesWithTreePath() {
        var generator = BodyGenerator(random: RandomSource(seed: 2024))
        var fastAccepted = 0
        var accepted = 0
        for _ in 0..<3000 {
            let body = generator.bytes()
            let fast = decode(body, fast: true)
            let tree = decode(body, fast: false)
            #expect(fast == tree, "\(String(decoding: body.prefix(200), as: UTF8.self))")
            if case .decoded = tree { accepted += 1 }
            var scratch = PixelBuffer()
            if PredictBodyScanner.scan(body, maxBatchSize: limits.maxBatchSize, into: &scratch) != nil {
                fastAccepted += 1
            }
        }
        // The generator must exercise both paths substantially.
        #expect(accepted > 150)
        #expect(fastAccepted > 300)
    }

    @Test(
        "hand-picked edges",
        arguments: [
            #"{"pixels": [1e2, 0]}"#, #"{"pixels": [0.5, 255]}"#, #"{"pixels": [-0, 1]}"#, #"{"pixels": [01]}"#,
            #"{"pi\u0078els": [1, 2]}"#, #"{"pixels": [1], "pixels": [2]}"#, #"{"pixels": [NaN]}"#,
            #"{"pixels": [Infinity]}"#,
            #"{"pixels": [[1, 2], [3]]}"#, #"{"pixels": [[1, 2], 3]}"#, #"{"pixels": [1, [2]]}"#,
            #"{"pixels": [[[1]]]}"#,
            #"{"pixels": [1,]}"#, #"{"pixels": [1]} x"#, "{\"pixels\":\u{0B}[1]}",
            #"{"pixels": [1], "samples": "auto"}"#,
            #"{"pixels": [1], "samples": "auto", "min_samples": 8, "max_samples": 64, "tolerance": 0.005}"#,
            #"{"pixels": [1], "tolerance": 0.01}"#, #"{"pixels": [1], "samples": "auto", "min_samples": 1}"#,
            #"{"pixels": [1], "samples": "auto", "min_samples": 100, "max_samples": 10}"#,
            #"{"instances": [[1], {"pixels": [2]}, [[3, 4]]], "seed": 3}"#, #"{"instances": [[1], [1], [1], [1]]}"#,
            #"{"instances": [{"pixels": [1], "pixels": [2]}]}"#, #"{"pixels": [1.00000000000000001]}"#,
            #"{"pixels": [0.1, 0.2, 0.30000000000000004, 254.99999999999997]}"#,
            #"{"model": "m\u00e9", "pixels": [1]}"#,
            #"{"pixels": [1], "uncertainty_threshold": 0.125}"#, #"{"pixels": [1], "uncertainty_threshold": -1}"#,
            #"{"pixels": [1], "uncertainty_threshold": 0.2, "uncertainty_score": "total_variance"}"#,
            #"{"pixels": [1], "uncertainty_score": "total_variance"}"#,
            #"{"pixels": [1], "uncertainty_threshold": null}"#,
            #"{"pixels": [1], "uncertainty_threshold": 0.2, "uncertainty_score": "vibes"}"#,
            #"{"pixels": [1], "uncertainty_threshold": 1, "uncertainty_threshold": 2}"#,
        ])
    func edges(body: String) {
        #expect(decode(Array(body.utf8), fast: true) == decode(Array(body.utf8), fast: false))
    }

    @Test("the common body shapes take the fast path")
    func commonShapesAreScanned() {
        let flat =
            "{\"pixels\": [" + (0..<784).map { String($0 % 256) }.joined(separator: ", ")
            + "], \"samples\": 100, \"seed\": 7}"
        let rows =
            "{\"pixels\": ["
            + (0..<28).map { _ in "[" + Array(repeating: "0.5", count: 28).joined(separator: ",") + "]" }
            .joined(separator: ",\n") + "], \"model\": \"mnist\", \"samples\": \"auto\", \"tolerance\": 0.02}"
        let batch = "{\"instances\": [{\"pixels\": [1, 2]}, [3, 4]], \"seed\": 1}"
        let flagged =
            "{\"pixels\": [1, 2], \"uncertainty_threshold\": 0.05, \"uncertainty_score\": \"mutual_information\"}"
        for body in [flat, rows, batch, flagged] {
            var pixels = PixelBuffer()
            #expect(PredictBodyScanner.scan(Array(body.utf8), maxBatchSize: 3, into: &pixels) != nil)
        }
    }
}
