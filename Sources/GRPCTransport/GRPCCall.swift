/// A gRPC status code (grpc/status.h), the one a call ends with.
public enum GRPCStatusCode: Int32, Sendable, CaseIterable {
    case ok = 0
    case cancelled = 1
    case unknown = 2
    case invalidArgument = 3
    case deadlineExceeded = 4
    case notFound = 5
    case alreadyExists = 6
    case permissionDenied = 7
    case resourceExhausted = 8
    case failedPrecondition = 9
    case aborted = 10
    case outOfRange = 11
    case unimplemented = 12
    case `internal` = 13
    case unavailable = 14
    case dataLoss = 15
    case unauthenticated = 16
}

/// How a unary call ends: a status, its message, and for `.ok` the response message's bytes.
public struct GRPCResponse: Sendable, Equatable {
    public var status: GRPCStatusCode
    /// The status message (`grpc-message`), shown to the client; empty for success.
    public var message: String
    /// The serialized response message; `nil` for a failed call.
    public var payload: [UInt8]?

    /// A successful answer carrying `payload`.
    public static func ok(_ payload: [UInt8]) -> GRPCResponse {
        GRPCResponse(status: .ok, message: "", payload: payload)
    }
    /// A failed call with no response message.
    public static func failure(_ status: GRPCStatusCode, _ message: String) -> GRPCResponse {
        GRPCResponse(status: status, message: message, payload: nil)
    }
}

/// One incoming unary call with its request message, to be answered exactly once with ``respond(_:)``, on any
/// thread; a call not answered keeps ``GRPCServer/stop(drainTimeout:)`` waiting.
public struct GRPCCall: Sendable {
    /// The full method path, e.g. `/inference.GRPCInferenceService/ModelInfer`.
    public let method: String
    /// The serialized request message; `nil` when the client closed its side without sending one.
    public let message: [UInt8]?
    /// The `authorization` metadata entry, if any (e.g. `Bearer <token>`).
    public let authorization: String?
    /// When the client stops waiting (its `grpc-timeout`, read when the call arrived); `nil` when it set none. The
    /// core ends the call with DEADLINE_EXCEEDED by itself then; the handler may skip work whose answer nobody awaits.
    public let deadline: ContinuousClock.Instant?
    let responder: @Sendable (GRPCResponse) -> Void

    /// Creates a call answered through `responder` (the server's, or a test's).
    public init(
        method: String, message: [UInt8]?, authorization: String?, deadline: ContinuousClock.Instant? = nil,
        responder: @escaping @Sendable (GRPCResponse) -> Void
    ) {
        self.method = method
        self.message = message
        self.authorization = authorization
        self.deadline = deadline
        self.responder = responder
    }

    /// Sends the status and, for success, the response message. Later calls for the same call are ignored.
    public func respond(_ response: GRPCResponse) { responder(response) }
}

/// The application behind a ``GRPCServer``.
public protocol GRPCHandler: Sendable {
    /// Takes one call. Runs on the server's completion-queue thread, so it must not block: cheap calls are answered
    /// here, costly ones handed to other threads that answer later.
    func handle(_ call: GRPCCall)
}

/// Where and how a ``GRPCServer`` listens.
public struct GRPCServerConfiguration: Sendable, Hashable {
    /// Numeric IPv4 or IPv6 address, as for the HTTP daemon.
    public var host: String
    /// TCP port; 0 lets the kernel choose (read it back from ``GRPCServer/port``).
    public var port: Int
    /// Largest request message accepted; the gRPC core answers larger ones RESOURCE_EXHAUSTED by itself.
    public var maxReceiveMessageBytes: Int
    /// What one client may hold: streams per connection, handshake, idle and receive timeouts, keepalive, PINGs.
    public var limits: GRPCConnectionLimits

    /// Creates a configuration.
    public init(
        host: String = "127.0.0.1", port: Int = 8081, maxReceiveMessageBytes: Int = 4 << 20,
        limits: GRPCConnectionLimits = GRPCConnectionLimits()
    ) {
        self.host = host
        self.port = port
        self.maxReceiveMessageBytes = maxReceiveMessageBytes
        self.limits = limits
    }

    /// The listening address in the form the core takes: `host:port`, IPv6 hosts in brackets.
    var address: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Why a ``GRPCServer`` could not start.
public enum GRPCServerError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidConfiguration(setting: String, value: Int)
    case bindFailed(address: String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let setting, let value): return "invalid gRPC setting \(setting): \(value)"
        case .bindFailed(let address): return "the gRPC server could not listen on \(address)"
        }
    }
}
