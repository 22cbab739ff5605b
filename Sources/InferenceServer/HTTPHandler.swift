/// Turns requests into responses; the daemon's only link to application logic.
///
/// Both methods run synchronously on a daemon worker thread, so a slow handler occupies that worker (and the
/// connection it serves) until it returns. They may run concurrently on different workers.
public protocol HTTPHandler: Sendable {
    /// Answers a complete request.
    func handle(_ request: HTTPRequest) -> HTTPResponse

    /// Answers a request the transport refused by itself. `request` has its head fields; its body is empty.
    func reject(_ rejection: RequestRejection, request: HTTPRequest) -> HTTPResponse
}

extension HTTPHandler {
    /// Answers with a plain-text status response: 413 for `.bodyTooLarge`.
    public func reject(_ rejection: RequestRejection, request: HTTPRequest) -> HTTPResponse {
        switch rejection {
        case .bodyTooLarge(let limit):
            HTTPResponse(
                status: 413,
                headers: [(name: "Content-Type", value: "text/plain; charset=utf-8")],
                body: Array("request body exceeds \(limit) bytes\n".utf8)
            )
        }
    }
}
