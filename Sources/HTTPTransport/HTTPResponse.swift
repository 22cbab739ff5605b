/// One HTTP response for the transport to send.
///
/// The transport owns framing: it sets `Content-Length` itself (and drops any `Content-Length` or
/// `Transfer-Encoding` given here), omits the body for `HEAD` requests and for 204/304 statuses, and adds `Date`.
/// Header fields whose name is not an HTTP token, or whose value is empty or contains CR, LF or NUL, are dropped
/// with a warning rather than sent.
public struct HTTPResponse: Sendable {
    /// The status code; values outside 200...599 are replaced by 500 when sent.
    public var status: Int
    /// Header fields in the order they should be sent.
    public var headers: [(name: String, value: String)]
    /// The body bytes; may be empty.
    public var body: [UInt8]

    /// Creates a response.
    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}
