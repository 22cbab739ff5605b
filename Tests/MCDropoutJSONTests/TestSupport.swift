import MCDropoutJSON

/// A small deterministic generator (SplitMix64) so randomized tests see the same inputs on every run.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Parses `text`, returning the error it throws, or `nil` if it parses.
func parseError(_ text: String, options: JSONParser.Options = .init()) -> JSONParseError? {
    parseError(Array(text.utf8), options: options)
}

/// Parses `bytes`, returning the error it throws, or `nil` if they parse.
func parseError(_ bytes: [UInt8], options: JSONParser.Options = .init()) -> JSONParseError? {
    do {
        _ = try JSONParser.parse(bytes, options: options)
        return nil
    } catch {
        return error
    }
}

extension JSONValue {
    /// The serialized bytes as a string, for readable expectations.
    var json: String {
        String(decoding: serialized(), as: UTF8.self)
    }
}
