public import HTTPTransport
import MCDropoutJSON

/// A client-visible failure: an HTTP status and a message, sent as `{"error": "…"}`.
///
/// Every error path of the server ends here, so the mapping from failures to statuses lives in one place: the
/// static constructors below.
public struct HTTPError: Error, Sendable, Equatable {
    /// The HTTP status code, 4xx or 5xx.
    public var status: Int
    /// A human-readable explanation, safe to show to the client.
    public var message: String
    /// Extra response headers such as `Allow` or `Retry-After`.
    public var headers: [Header]
    /// Whether a configured limit (batch, samples, passes) refused the request: still 400 over HTTP, but
    /// RESOURCE_EXHAUSTED over gRPC (see `grpcStatus`).
    public var isLimit = false

    /// A response header.
    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String
    }

    /// Creates an error.
    public init(status: Int, message: String, headers: [Header] = []) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    /// 400: the request is syntactically or semantically invalid.
    public static func badRequest(_ message: String) -> HTTPError { HTTPError(status: 400, message: message) }
    /// 400 for a request over a configured limit (batch size, samples, total passes).
    public static func limitExceeded(_ message: String) -> HTTPError {
        var error = HTTPError(status: 400, message: message)
        error.isLimit = true
        return error
    }
    /// 401: authentication is required and was missing or wrong.
    public static func unauthorized(_ message: String) -> HTTPError {
        HTTPError(status: 401, message: message, headers: [Header(name: "WWW-Authenticate", value: "Bearer")])
    }
    /// 404: no such route or model.
    public static func notFound(_ message: String) -> HTTPError { HTTPError(status: 404, message: message) }
    /// 405: the route exists but not for this method.
    public static func methodNotAllowed(_ method: String, allowed: [String]) -> HTTPError {
        HTTPError(
            status: 405, message: "method \(method) is not allowed here; use \(allowed.joined(separator: " or "))",
            headers: [Header(name: "Allow", value: allowed.joined(separator: ", "))])
    }
    /// 413: the body exceeds the configured limit.
    public static func payloadTooLarge(limit: Int) -> HTTPError {
        HTTPError(status: 413, message: "request body exceeds the limit of \(limit) bytes")
    }
    /// 415: the body's content type cannot be handled.
    public static func unsupportedMediaType(_ message: String) -> HTTPError { HTTPError(status: 415, message: message) }
    /// 503: the server is not ready, draining or overloaded; retry later.
    public static func unavailable(_ message: String, retryAfterSeconds: Int = 1) -> HTTPError {
        HTTPError(
            status: 503, message: message, headers: [Header(name: "Retry-After", value: String(retryAfterSeconds))])
    }

    /// The JSON response for this error.
    public var response: HTTPResponse {
        var writer = JSONWriter(capacity: message.utf8.count + 16)
        writer.beginObject()
        writer.key("error")
        writer.string(message)
        writer.endObject()
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
        headers += self.headers.map { ($0.name, $0.value) }
        return HTTPResponse(status: status, headers: headers, body: writer.bytes)
    }
}
