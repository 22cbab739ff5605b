// The only file that talks to the gRPC C core (through CGRPC); the rest of the server sees plain Swift values.
internal import CGRPC
internal import Dispatch
internal import Foundation
public import Logging
internal import Synchronization

/// A unary-call gRPC server (HTTP/2 without TLS) over the gRPC C core, handing each call to a ``GRPCHandler``.
///
/// One thread waits on the core's completion queue and gives each call whose request message has arrived to the
/// handler; the handler answers it with ``GRPCCall/respond(_:)`` from any thread. The server runs from `init` until
/// ``stop(drainTimeout:)``; dropping the last reference stops it too, without draining.
public final class GRPCServer: Sendable {
    /// The configuration the server was started with.
    public let configuration: GRPCServerConfiguration
    /// The bound port; the kernel's choice when `configuration.port` was 0.
    public let port: Int
    private let core: GRPCServerCore
    /// Whether ``stop(drainTimeout:)`` has run; the lock also serializes concurrent stops.
    private let isStopped = Mutex(false)

    /// Starts listening at once.
    ///
    /// - Throws: ``GRPCServerError/invalidConfiguration(setting:value:)`` before touching the network,
    ///   ``GRPCServerError/bindFailed(address:)`` when the address cannot be bound.
    public init(
        configuration: GRPCServerConfiguration, handler: some GRPCHandler,
        logger: Logger = Logger(label: "mcdropout.grpc")
    ) throws(GRPCServerError) {
        guard (0...65_535).contains(configuration.port) else {
            throw .invalidConfiguration(setting: "port", value: configuration.port)
        }
        guard (0...Int(Int32.max)).contains(configuration.maxReceiveMessageBytes) else {
            throw .invalidConfiguration(setting: "maxReceiveMessageBytes", value: configuration.maxReceiveMessageBytes)
        }
        let limits = try configuration.limits.coreValues()
        var options = mcgrpc_server_options(
            max_receive_message_bytes: Int32(configuration.maxReceiveMessageBytes),
            max_concurrent_streams: limits.maxConcurrentStreams,
            handshake_timeout_milliseconds: limits.handshakeTimeout,
            idle_timeout_milliseconds: limits.idleTimeout,
            keepalive_time_milliseconds: limits.keepaliveInterval,
            keepalive_timeout_milliseconds: limits.keepaliveTimeout,
            min_ping_interval_milliseconds: limits.minPingInterval,
            max_ping_strikes: limits.maxPingStrikes,
            receive_timeout_milliseconds: limits.receiveTimeout,
            // A few calls requested ahead, so that a burst of clients does not wait for the loop to ask for each one.
            pending_calls: 16)
        var boundPort: Int32 = 0
        let pointer = mcgrpc_server_start(configuration.address, &options, &boundPort)
        guard let pointer else { throw .bindFailed(address: configuration.address) }
        self.configuration = configuration
        port = Int(boundPort)
        core = GRPCServerCore(server: pointer, handler: handler, logger: logger)
        let thread = Thread { [core] in core.run() }
        thread.name = "mcdropout-grpc"
        thread.start()
        logger.info("gRPC server listening", metadata: ["host": "\(configuration.host)", "port": "\(port)"])
    }

    deinit {
        stop(drainTimeout: .zero)
    }

    /// Calls handed to the handler and not yet answered.
    public var inFlightCallCount: Int { core.outstanding.load(ordering: .acquiring) }

    /// Calls the server ended by itself, before they reached the handler, for its limits; readable after a stop.
    public var limitCounts: GRPCLimitCounts {
        core.finalLimitCounts.withLock { $0 ?? GRPCLimitCounts(core.server.pointer) }
    }

    /// Stops gracefully and waits for it. Idempotent.
    ///
    /// New calls are refused by the core (UNAVAILABLE) at once, and so are calls whose request message has not fully
    /// arrived (a client that never finishes one must not hold the stop). Calls handed to the handler are answered
    /// and their answers sent, for up to `drainTimeout`, after which the core cancels those still on the wire; calls
    /// already handed out are always waited for (their compute is bounded), since their answer must reach a live
    /// completion queue. Connections alone do not hold the stop: the core closes them after its GOAWAY, which takes
    /// up to about 20 s for a client that never reads it, so once no call is left, the loop thread finishes that
    /// shutdown and frees the core by itself. Not to be called from the handler's own threads.
    public func stop(drainTimeout: Duration) {
        isStopped.withLock { isStopped in
            guard !isStopped else { return }
            isStopped = true
            let server = core.server.pointer
            mcgrpc_server_shutdown(server)
            let deadline = ContinuousClock.now.advanced(by: drainTimeout)
            if !core.waitUntilAnswered(deadline: deadline) {
                core.logger.warning("gRPC drain timed out; cancelling the remaining calls")
                mcgrpc_server_cancel_all_calls(server)
                _ = core.waitUntilAnswered(deadline: nil)
            }
            let isShutDown = core.shutdownState.withLock { state in
                guard state == .notified else {
                    state = .detached
                    return false
                }
                return true
            }
            guard isShutDown else {
                core.logger.info(
                    "gRPC server stopped; idle connections close in the background", metadata: ["port": "\(port)"])
                return
            }
            mcgrpc_server_shutdown_queue(server)
            core.loopFinished.wait()
            core.destroy()
            core.logger.info("gRPC server stopped", metadata: ["port": "\(port)"])
        }
    }
}

/// The C server handle. `@unchecked Sendable`: the pointer never changes, and every function called on it from
/// several threads is thread-safe in the core (shutdown, cancel, start_batch on distinct calls); `next` is called
/// only from the loop thread, and `destroy` only after that thread ended.
struct ServerPointer: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// One handed-out call. `@unchecked Sendable`: the pointer is used by exactly one ``GRPCCall/respond(_:)`` (the
/// atomic flag lets only the first through); the shim frees it after that.
final class CallPointer: @unchecked Sendable {
    let pointer: OpaquePointer
    let isAnswered = Atomic(false)

    init(_ pointer: OpaquePointer) { self.pointer = pointer }
}

/// What the loop thread and the responders share. Checked `Sendable`: immutable, atomic or thread-safe members.
final class GRPCServerCore: Sendable {
    let server: ServerPointer
    let handler: any GRPCHandler
    let logger: Logger
    let outstanding = Atomic(0)
    /// Where the core's shutdown is, between ``GRPCServer/stop(drainTimeout:)`` and the loop thread.
    enum ShutdownState {
        /// The core has not reported its shutdown complete.
        case running
        /// It has; `stop` tears down.
        case notified
        /// `stop` returned before it had (only connections were left); the loop thread tears down when it comes.
        case detached
    }
    let shutdownState = Mutex(ShutdownState.running)
    /// Signalled when the loop thread has drained the queue and returned (not after a detached teardown).
    let loopFinished = DispatchSemaphore(value: 0)
    /// The limit counts once the C server is freed (`nil` before); its lock keeps a reader of the live counts from
    /// racing the freeing.
    let finalLimitCounts = Mutex<GRPCLimitCounts?>(nil)

    init(server: OpaquePointer, handler: some GRPCHandler, logger: Logger) {
        self.server = ServerPointer(pointer: server)
        self.handler = handler
        self.logger = logger
    }

    /// The completion-queue loop, until the queue shuts down.
    func run() {
        while true {
            var call: OpaquePointer?
            let result = mcgrpc_server_next(server.pointer, -1, &call)
            if result == MCGRPC_NEXT_CALL, let call {
                dispatch(call)
            } else if result == MCGRPC_NEXT_SERVER_SHUT_DOWN {
                let isDetached = shutdownState.withLock { state in
                    defer { if state == .running { state = .notified } }
                    return state == .detached
                }
                if isDetached { mcgrpc_server_shutdown_queue(server.pointer) }
            } else if result == MCGRPC_NEXT_QUEUE_SHUT_DOWN {
                if shutdownState.withLock({ $0 == .detached }) {
                    destroy()
                    logger.debug("gRPC core shut down after its last connection closed")
                } else {
                    loopFinished.signal()
                }
                return
            }
        }
    }

    private func dispatch(_ pointer: OpaquePointer) {
        var length = 0
        let methodBytes = mcgrpc_call_method(pointer, &length)
        let method = methodBytes.map { String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self) }
        let authorizationBytes = mcgrpc_call_metadata(pointer, "authorization", &length)
        let authorization = authorizationBytes.map {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
        var message: [UInt8]?
        if mcgrpc_call_has_message(pointer) != 0 {
            let count = mcgrpc_call_message_length(pointer)
            message = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                if let base = buffer.baseAddress { mcgrpc_call_copy_message(pointer, base) }
                initialized = count
            }
        }
        let milliseconds = mcgrpc_call_deadline_milliseconds(pointer)
        let deadline = milliseconds < 0 ? nil : ContinuousClock.now.advanced(by: .milliseconds(milliseconds))
        outstanding.add(1, ordering: .acquiringAndReleasing)
        let handle = CallPointer(pointer)
        let call = GRPCCall(
            method: method ?? "", message: message, authorization: authorization, deadline: deadline
        ) { [self] response in
            respond(handle, with: response)
        }
        handler.handle(call)
    }

    private func respond(_ call: CallPointer, with response: GRPCResponse) {
        guard !call.isAnswered.exchange(true, ordering: .acquiringAndReleasing) else { return }
        // Empty arrays may have no storage; the shim wants non-NULL pointers (a NULL message means "no message").
        let details = response.message.isEmpty ? [0] : Array(response.message.utf8)
        let detailsCount = response.message.utf8.count
        let error = details.withUnsafeBufferPointer { details in
            details.withMemoryRebound(to: CChar.self) { details in
                guard let payload = response.payload else {
                    return mcgrpc_call_respond(
                        call.pointer, response.status.rawValue, details.baseAddress, detailsCount, nil, 0)
                }
                return (payload.isEmpty ? [0] : payload).withUnsafeBufferPointer { bytes in
                    mcgrpc_call_respond(
                        call.pointer, response.status.rawValue, details.baseAddress, detailsCount, bytes.baseAddress,
                        payload.count)
                }
            }
        }
        if error != 0 {
            logger.warning("gRPC answer could not be started", metadata: ["grpc_call_error": "\(error)"])
        }
        outstanding.add(-1, ordering: .acquiringAndReleasing)
    }

    /// Frees the C server, keeping its last count for readers, once no handed-out call is left unanswered (a call
    /// handed out while the queue drained is answered by the handler, and cancelled by the shim, first).
    func destroy() {
        while outstanding.load(ordering: .acquiring) != 0 {
            var pause = timespec(tv_sec: 0, tv_nsec: 1_000_000)
            _ = nanosleep(&pause, nil)
        }
        finalLimitCounts.withLock { counts in
            counts = GRPCLimitCounts(server.pointer)
            mcgrpc_server_destroy(server.pointer)
        }
    }

    /// Waits until every handed-out call has been answered and its answer sent (or only answered, once the core has
    /// shut down completely: its connections are gone, so are the answers' batches), polling every millisecond;
    /// `false` when `deadline` passed first (`nil`: no deadline). A call handed out is always answered before this
    /// returns `true`: the core's shutdown can complete while the handler still holds one (its client went away).
    func waitUntilAnswered(deadline: ContinuousClock.Instant?) -> Bool {
        while true {
            if outstanding.load(ordering: .acquiring) == 0 {
                if shutdownState.withLock({ $0 == .notified }) { return true }
                if mcgrpc_server_answering_count(server.pointer) == 0 { return true }
            }
            if let deadline, ContinuousClock.now >= deadline { return false }
            var pause = timespec(tv_sec: 0, tv_nsec: 1_000_000)
            _ = nanosleep(&pause, nil)
        }
    }
}

/// Calls a ``GRPCServer`` ended by itself for its ``GRPCConnectionLimits``, never handing them to the handler.
public struct GRPCLimitCounts: Sendable, Equatable {
    /// Ended DEADLINE_EXCEEDED: the request message had not arrived within the receive timeout.
    public var receiveTimeouts: Int
    /// Refused RESOURCE_EXHAUSTED: the connection already had `maxConcurrentStreams` calls open (a client that
    /// never acknowledged the stream limit; the core closes the connection of one that did).
    public var refusedCalls: Int

    /// Creates counts.
    public init(receiveTimeouts: Int = 0, refusedCalls: Int = 0) {
        self.receiveTimeouts = receiveTimeouts
        self.refusedCalls = refusedCalls
    }

    /// The live counts of a running C server.
    init(_ server: OpaquePointer) {
        self.init(
            receiveTimeouts: mcgrpc_server_receive_timeout_count(server),
            refusedCalls: mcgrpc_server_refused_call_count(server))
    }
}
