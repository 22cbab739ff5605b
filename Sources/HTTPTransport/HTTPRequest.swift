/// One HTTP request as the transport received it: head fields plus the complete body.
///
/// Text fields are decoded from the wire leniently: bytes that are not valid UTF-8 become U+FFFD, so hostile input
/// can never trap. The path is kept exactly as sent (percent-escapes included) because decoding belongs to routing:
/// a decoded "%2F" or "%00" would change the meaning of the path.
public struct HTTPRequest: Sendable {
    /// The request method as sent, for example "GET" or "POST" (case-sensitive, as HTTP defines it).
    public var method: String
    /// The request target's path, undecoded and without the query, for example "/v2/models/m%20x/infer".
    public var path: String
    /// Query arguments in URL order; names and values are percent-decoded and '+' reads as a space (the
    /// `application/x-www-form-urlencoded` rules browsers use). An argument without '=' has an empty value.
    public var query: [(name: String, value: String)]
    /// Header fields in arrival order, names lowercased (ASCII); repeated fields stay separate entries.
    public var headers: [(name: String, value: String)]
    /// The request body, complete (chunked uploads are already reassembled); empty when there is none.
    public var body: [UInt8]
    /// The protocol version from the request line, for example "HTTP/1.1".
    public var version: String
    /// The client's numeric IP address, for example "127.0.0.1" or "::1"; empty if unknown.
    public var remoteAddress: String

    /// Creates a request; the transport builds these, and routers' tests may too. Header names are lowercased.
    public init(
        method: String,
        path: String,
        query: [(name: String, value: String)] = [],
        headers: [(name: String, value: String)] = [],
        body: [UInt8] = [],
        version: String = "HTTP/1.1",
        remoteAddress: String = ""
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers.map { (name: $0.name.lowercased(), value: $0.value) }
        self.body = body
        self.version = version
        self.remoteAddress = remoteAddress
    }

    /// The value of the first header field called `name` (compared case-insensitively), or `nil`.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name == wanted }?.value
    }

    /// The value of the first query argument called `name` (compared exactly), or `nil`.
    public func queryValue(_ name: String) -> String? {
        query.first { $0.name == name }?.value
    }
}
