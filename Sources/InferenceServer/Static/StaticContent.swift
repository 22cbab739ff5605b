/// The documents the server serves from memory: the OpenAPI description and the browser demo.
///
/// Their text lives in `Sources/InferenceServer/Resources/` (and `examples/` for the demo's test digits) and is
/// compiled in by the `EmbedResources` build plugin, so the repository files are the one source of truth and the
/// binary needs nothing beside it.
enum StaticContent {
    /// `GET /openapi.json`: the OpenAPI 3.1 document.
    static let openAPIDocument: [UInt8] = Array(resource("openapi.json").utf8)

    /// `GET /`: the demo page, with the shipped single-image examples inserted as a JavaScript object literal
    /// `{"<file stem>": {"pixels": […]}, …}` where the page says `/*EXAMPLES*/{}`.
    static let demoPage: [UInt8] = {
        let examples = EmbeddedResources.files
            .filter { $0.key.hasPrefix("examples/") && !$0.key.contains("batch") }
            .sorted { $0.key < $1.key }
            .map { name, text in
                let stem = name.dropFirst("examples/".count).dropLast(".json".count)
                return "\"\(stem)\": \(text.trimmingWhitespace)"
            }
        var page = resource("demo.html")
        let placeholder = "/*EXAMPLES*/{}"
        guard let range = page.range(of: placeholder) else { preconditionFailure("demo.html lacks \(placeholder)") }
        page.replaceSubrange(range, with: "{\n" + examples.joined(separator: ",\n") + "\n}")
        return Array(page.utf8)
    }()

    private static func resource(_ name: String) -> String {
        guard let text = EmbeddedResources.files[name] else { preconditionFailure("resource \(name) was not embedded") }
        return text
    }
}

extension String {
    /// The string without leading and trailing whitespace and newlines.
    fileprivate var trimmingWhitespace: Substring {
        let trimmed = drop { $0.isWhitespace }
        return trimmed.dropLast(trimmed.reversed().prefix { $0.isWhitespace }.count)
    }

    /// The range of the first occurrence of `other`.
    fileprivate func range(of other: String) -> Range<Index>? {
        var start = startIndex
        while start < endIndex {
            if self[start...].hasPrefix(other) { return start..<index(start, offsetBy: other.count) }
            start = index(after: start)
        }
        return nil
    }
}
