// TEMPORARY: replaced by the transport branch.
public struct HTTPRequest: Sendable {
    public var method: String
    public var path: String
    public var query: [(name: String, value: String)]
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public var remoteAddress: String
    public init(method: String, path: String, query: [(name: String, value: String)] = [], headers: [(name: String, value: String)] = [], body: [UInt8] = [], remoteAddress: String = "127.0.0.1") {
        self.method = method; self.path = path; self.query = query; self.headers = headers; self.body = body; self.remoteAddress = remoteAddress
    }
    public func header(_ name: String) -> String? { headers.first { $0.name == name.lowercased() }?.value }
}
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) { self.status = status; self.headers = headers; self.body = body }
}
public enum RequestRejection: Sendable { case bodyTooLarge(limit: Int) }
public protocol HTTPHandler: Sendable {
    func handle(_ request: HTTPRequest) -> HTTPResponse
    func reject(_ rejection: RequestRejection, request: HTTPRequest) -> HTTPResponse
}
