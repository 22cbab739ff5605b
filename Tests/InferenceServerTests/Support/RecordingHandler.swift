import HTTPTransport
import InferenceServer
import Synchronization

/// An `HTTPHandler` for tests: records every request and rejection, then answers with `respond`.
final class RecordingHandler: HTTPHandler {
    private let handled = Mutex<[HTTPRequest]>([])
    private let rejected = Mutex<[(RequestRejection, HTTPRequest)]>([])
    private let respond: @Sendable (HTTPRequest) -> HTTPResponse

    /// Answers with `respond`; by default echoes the request (see `echo`).
    init(respond: @escaping @Sendable (HTTPRequest) -> HTTPResponse = RecordingHandler.echo) {
        self.respond = respond
    }

    func handle(_ request: HTTPRequest) -> HTTPResponse {
        handled.withLock { $0.append(request) }
        return respond(request)
    }

    func reject(_ rejection: RequestRejection, request: HTTPRequest) -> HTTPResponse {
        rejected.withLock { $0.append((rejection, request)) }
        return HTTPResponse(
            status: 413, headers: [(name: "X-Rejected", value: "body-too-large")], body: Array("too large".utf8))
    }

    /// Requests passed to `handle`, in order.
    var requests: [HTTPRequest] {
        handled.withLock { $0 }
    }

    /// Rejections passed to `reject`, in order.
    var rejections: [RequestRejection] {
        rejected.withLock { $0.map(\.0) }
    }

    /// 200 with the request body as body, and the method and path in `X-Method` and `X-Path`.
    @Sendable static func echo(_ request: HTTPRequest) -> HTTPResponse {
        HTTPResponse(
            status: 200,
            headers: [(name: "X-Method", value: request.method), (name: "X-Path", value: request.path)],
            body: request.body)
    }
}

extension DaemonConfiguration {
    /// Loopback, a kernel-chosen port, two I/O threads running the handler, generous limits: what most tests need.
    static func testing(
        maxBodyBytes: Int = 1024 * 1024,
        connectionTimeoutSeconds: Int = 30,
        perIPConnectionLimit: Int = 0,
        connectionMemoryLimitBytes: Int = 32 * 1024
    ) -> DaemonConfiguration {
        DaemonConfiguration(
            host: "127.0.0.1", port: 0, ioThreadCount: 2, workerThreadCount: 0,
            connectionTimeoutSeconds: connectionTimeoutSeconds,
            connectionLimit: 64, perIPConnectionLimit: perIPConnectionLimit,
            connectionMemoryLimitBytes: connectionMemoryLimitBytes, maxBodyBytes: maxBodyBytes, listenBacklog: 64)
    }
}
