/// A strict RFC 8259 JSON parser that works on raw UTF-8 bytes.
///
/// The parser is built for hostile input: it never traps on any input, nests containers on an explicit stack rather
/// than by recursion (so deep input cannot overflow the call stack), runs in time linear in the input, and reports the
/// first problem as a ``JSONParseError`` with its byte offset.
///
/// It rejects everything RFC 8259 does not allow: comments, trailing commas, single quotes, `NaN` and `Infinity`,
/// leading zeros and `+` signs in numbers, unescaped control characters in strings, ill-formed UTF-8 anywhere, unpaired
/// surrogate escapes, data after the top-level value, and empty input. Any value may be at the top level.
///
/// Numbers become correctly rounded `Double`s; a number too large for `Double` (such as `1e400`) is an error, while one
/// too small for it becomes zero of the same sign.
///
/// ```swift
/// let request = try JSONParser.parse(body)
/// let samples = request["samples"]?.intValue ?? 100
/// ```
public enum JSONParser {
    /// Limits and policies for parsing.
    public struct Options: Sendable, Equatable {
        /// The largest ``maxDepth`` the parser accepts.
        ///
        /// Parsing itself needs no recursion, but destroying, comparing and serializing a ``JSONValue`` recurse once
        /// per nesting level; this cap keeps those safe on small thread stacks.
        public static let maximumSupportedDepth = 1024

        /// The deepest nesting of arrays and objects allowed: `[[1]]` has depth 2, a scalar depth 0.
        ///
        /// Must be in `0...maximumSupportedDepth`; the default is 64.
        public var maxDepth: Int

        /// Whether an object with two members of the same key is an error (the default) rather than kept as is.
        public var rejectDuplicateKeys: Bool

        /// Creates options.
        public init(maxDepth: Int = 64, rejectDuplicateKeys: Bool = true) {
            self.maxDepth = maxDepth
            self.rejectDuplicateKeys = rejectDuplicateKeys
        }
    }

    /// Parses one JSON value from UTF-8 bytes.
    ///
    /// - Precondition: `options.maxDepth` is in `0...Options.maximumSupportedDepth`.
    public static func parse(_ bytes: [UInt8], options: Options = Options()) throws(JSONParseError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { (buffer) throws(JSONParseError) -> JSONValue in
            try parse(UnsafeRawBufferPointer(buffer), options: options)
        }
    }

    /// Parses one JSON value from UTF-8 bytes in memory the caller keeps valid for the duration of the call.
    ///
    /// - Precondition: `options.maxDepth` is in `0...Options.maximumSupportedDepth`.
    public static func parse(
        _ buffer: UnsafeRawBufferPointer,
        options: Options = Options()
    ) throws(JSONParseError) -> JSONValue {
        precondition(
            (0...Options.maximumSupportedDepth).contains(options.maxDepth),
            "JSONParser.Options.maxDepth must be in 0...\(Options.maximumSupportedDepth)"
        )
        guard let base = buffer.baseAddress, !buffer.isEmpty else {
            throw JSONParseError(.emptyInput, at: 0)
        }
        // Reading raw bytes through a `UInt8` pointer is what the standard library itself does for byte buffers; the
        // parser only reads, and only within `buffer`.
        var parser = RawJSONParser(
            start: base.assumingMemoryBound(to: UInt8.self),
            count: buffer.count,
            options: options
        )
        return try parser.parseDocument()
    }

    /// Parses one JSON value from a string's UTF-8 encoding.
    public static func parse(_ text: String, options: Options = Options()) throws(JSONParseError) -> JSONValue {
        let result = text.utf8.withContiguousStorageIfAvailable { buffer in
            Result { () throws(JSONParseError) -> JSONValue in
                try parse(UnsafeRawBufferPointer(buffer), options: options)
            }
        }
        if let result {
            return try result.get()
        }
        return try parse(Array(text.utf8), options: options)
    }
}
