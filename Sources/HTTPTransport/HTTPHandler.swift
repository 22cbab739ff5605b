/// Turns requests into responses; the daemon's only link to application logic.
///
/// Both methods run synchronously on a daemon worker thread, so a slow handler occupies that worker (and the
/// connection it serves) until it returns. They may run concurrently on different workers.
public protocol HTTPHandler: Sendable {
    /// Answers a complete request.
    func handle(_ request: HTTPRequest) -> HTTPResponse

    /// Answers a request the transport refused by itself. `request` has its head fields; its body is empty.
    func reject(_ rejection: RequestRejection, request: HTTPRequest) -> HTTPResponse

    /// Whether `request` (complete, body included) should run on the daemon's worker pool, and count against its
    /// admission limit, rather than on the I/O thread that read it. Only consulted when the daemon has a worker pool
    /// (`DaemonConfiguration.workerThreadCount` > 0); cheap requests answered inline keep health checks fast while
    /// every worker computes.
    func needsWorker(_ request: HTTPRequest) -> Bool
}

extension HTTPHandler {
    /// Answers with a plain-text status response: 413 for `.bodyTooLarge`, 503 with `Retry-After` otherwise.
    public func reject(_ rejection: RequestRejection, request: HTTPRequest) -> HTTPResponse {
        switch rejection {
        case .bodyTooLarge(let limit):
            HTTPResponse(
                status: 413,
                headers: [(name: "Content-Type", value: "text/plain; charset=utf-8")],
                body: Array("request body exceeds \(limit) bytes\n".utf8)
            )
        case .overloaded, .shuttingDown, .bodyMemoryExhausted:
            HTTPResponse(
                status: 503,
                headers: [
                    (name: "Content-Type", value: "text/plain; charset=utf-8"), (name: "Retry-After", value: "1"),
                ],
                body: Array("server busy, retry later\n".utf8)
            )
        }
    }

    /// Every request runs on the worker pool (when there is one).
    public func needsWorker(_ request: HTTPRequest) -> Bool { true }
}
