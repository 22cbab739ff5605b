/// A problem the transport detects on its own, before a request reaches `HTTPHandler.handle(_:)`.
///
/// The handler still chooses the response (through `HTTPHandler.reject(_:request:)`), so error bodies keep one format.
public enum RequestRejection: Sendable, Hashable {
    /// The body is larger than `DaemonConfiguration.maxBodyBytes`, either as declared by `Content-Length` (detected
    /// before any of it is read) or as counted while a chunked upload arrived.
    case bodyTooLarge(limit: Int)
    /// The bodies being received or waiting to be computed already fill
    /// `DaemonConfiguration.maxBufferedBodyBytes`; this one was read and dropped. The client should retry after a
    /// moment (it is an overload, not a fault of the request).
    case bodyMemoryExhausted(limit: Int)
    /// Every worker is busy and the admission queue is full (`DaemonConfiguration.maxQueuedRequests`); the client
    /// should retry after a moment.
    case overloaded
    /// The daemon is stopping and the request was still waiting for a worker.
    case shuttingDown
}
