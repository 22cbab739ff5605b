internal import Glibc
internal import Logging
internal import Synchronization

/// What the C callbacks need: the handler, the logger, limits and counters. Shared by all worker threads.
///
/// Free of C: `MicroHTTPDaemon.swift` extends it with the callbacks themselves. Checked `Sendable`: every stored
/// property is immutable and `Sendable`, or an atomic, or behind a `Mutex`.
final class DaemonCore: Sendable {
    let handler: any HTTPHandler
    let logger: Logger
    let maxBodyBytes: Int
    /// Budget for the bodies of all requests in flight (`DaemonConfiguration.maxBufferedBodyBytes`).
    let maxBufferedBodyBytes: Int
    /// Body bytes held now by requests in flight, against `maxBufferedBodyBytes`: taken as pieces are appended,
    /// given back when the body is dropped or the request completes.
    let bufferedBodyBytes = Atomic<Int>(0)
    /// Runs handlers off the I/O threads with bounded admission; `nil` runs them inline.
    let pool: WorkerPool?
    /// Delays the pool's refusals; `nil` refuses at once.
    let hold: OverloadHold?
    /// Requests between their first access-handler call and their completion callback.
    let inFlightRequests = Atomic<Int>(0)
    /// Those of `inFlightRequests` whose body is still being received.
    let receivingRequests = Atomic<Int>(0)
    /// Bumped whenever a request's head or a piece of body arrives, so a drain can tell a live upload from a stalled
    /// one without a clock read on the hot path.
    let uploadProgress = Atomic<Int>(0)
    /// Set once `stop()` begins, so responses ask keep-alive clients to go away.
    let isDraining = Atomic<Bool>(false)
    /// Messages libmicrohttpd logs while starting (they explain a failed start); `nil` once started.
    private let startupMessages = Mutex<[String]?>([])

    /// Starts the worker pool (if `configuration` asks for workers) and the overload hold (if it also asks for a
    /// delay); the daemon shuts them down.
    init(configuration: DaemonConfiguration, handler: any HTTPHandler, logger: Logger) {
        self.handler = handler
        self.logger = logger
        maxBodyBytes = configuration.maxBodyBytes
        maxBufferedBodyBytes = configuration.maxBufferedBodyBytes
        pool =
            configuration.workerThreadCount > 0
            ? WorkerPool(
                threadCount: configuration.workerThreadCount, queueLength: configuration.maxQueuedRequests,
                name: "mcdropout-worker") : nil
        hold =
            pool != nil && configuration.overloadedResponseDelay > .zero
            ? OverloadHold(
                delay: configuration.overloadedResponseDelay,
                maxReleasesPerSecond: configuration.maxOverloadedResponsesPerSecond, name: "mcdropout-overload-hold")
            : nil
    }

    /// How long the drain must see no complete request in flight before it considers the daemon drained.
    static let drainSettleTime = Duration.milliseconds(100)
    /// How long an upload may go without a byte before the drain stops waiting for it.
    static let drainUploadStallTime = Duration.milliseconds(300)

    /// A new request's state machine, with this daemon's limits.
    func makeStateMachine<Job>() -> RequestStateMachine<Job> {
        RequestStateMachine(bodyLimit: maxBodyBytes, memoryBudget: maxBufferedBodyBytes, hasWorkers: pool != nil)
    }

    // MARK: Stopping

    /// The part of `MicroHTTPDaemon.stop` between closing the listening socket and stopping libmicrohttpd: sends the
    /// held refusals, lets requests in flight finish until `deadline`, then stops the worker pool. Afterwards no
    /// connection is suspended, and no worker touches one.
    func drain(until deadline: ContinuousClock.Instant) {
        // Refusals held back for overload are sent now; the stop need not wait out their delay.
        hold?.shutdown()
        waitUntilDrained(deadline: deadline)
        if let pool {
            // Requests still waiting for a worker are answered 503 and resumed; running ones finish (their compute
            // is bounded). Suspended connections must all be resumed before MHD_stop_daemon, and no worker may
            // touch a connection after it, so this wait has no deadline.
            pool.shutdown()
            let grace = ContinuousClock.now.advanced(by: .milliseconds(200))
            while inFlightRequests.load(ordering: .acquiring) > 0, ContinuousClock.now < grace {
                var pause = timespec(tv_sec: 0, tv_nsec: 1_000_000)
                _ = nanosleep(&pause, nil)
            }
        }
        let abandoned = inFlightRequests.load(ordering: .acquiring)
        if abandoned > 0 {
            logger.warning("HTTP daemon stopping with requests in flight", metadata: ["count": "\(abandoned)"])
        }
    }

    /// Waits until nothing is left to drain, or until `deadline`.
    ///
    /// Drained means no complete request in flight for a short unbroken interval, not for one instant: a keep-alive
    /// client may have sent its next request just before its previous response told it to close, and those bytes
    /// take a moment to be read and counted; stopping in that gap would drop a request the client did send.
    /// Uploads still arriving are waited for while they make progress; one that has sent nothing for
    /// `drainUploadStallTime` (a client that went away without closing, or a slowloris) no longer holds the stop, which
    /// otherwise lasted until the connection timeout closed it (30 s by default, a Kubernetes grace period).
    func waitUntilDrained(deadline: ContinuousClock.Instant) {
        var quietSince: ContinuousClock.Instant?
        var lastProgress = uploadProgress.load(ordering: .relaxed)
        var lastProgressAt = ContinuousClock.now
        while true {
            let now = ContinuousClock.now
            guard now < deadline else { return }
            let progress = uploadProgress.load(ordering: .relaxed)
            if progress != lastProgress {
                (lastProgress, lastProgressAt) = (progress, now)
            }
            let receiving = receivingRequests.load(ordering: .acquiring)
            let complete = inFlightRequests.load(ordering: .acquiring) - receiving
            let uploadsLive = receiving > 0 && now - lastProgressAt < Self.drainUploadStallTime
            if complete > 0 || uploadsLive {
                quietSince = nil
            } else if let since = quietSince {
                if now - since >= Self.drainSettleTime { return }
            } else {
                quietSince = now
            }
            var pause = timespec(tv_sec: 0, tv_nsec: 5_000_000)
            _ = nanosleep(&pause, nil)
        }
    }

    // MARK: Startup messages

    /// Keeps `message` if the daemon is still starting (it may explain a failed start).
    func recordStartupMessage(_ message: String) {
        startupMessages.withLock { $0?.append(message) }
    }

    /// Ends startup-message capture and returns what was captured.
    func finishStartup() -> [String] {
        startupMessages.withLock { messages in
            defer { messages = nil }
            return messages ?? []
        }
    }

    // MARK: The budget for bodies

    /// Takes `count` bytes of the body budget for `exchange`; `false` (taking nothing) when they do not fit.
    func reserveBodyMemory(_ count: Int, for exchange: RequestExchange) -> Bool {
        let total = bufferedBodyBytes.wrappingAdd(count, ordering: .relaxed).newValue
        guard total <= maxBufferedBodyBytes else {
            bufferedBodyBytes.wrappingSubtract(count, ordering: .relaxed)
            return false
        }
        exchange.reservedBodyBytes += count
        return true
    }

    /// Gives back what `exchange` holds of the body budget.
    func releaseBodyMemory(of exchange: RequestExchange) {
        guard exchange.reservedBodyBytes > 0 else { return }
        bufferedBodyBytes.wrappingSubtract(exchange.reservedBodyBytes, ordering: .relaxed)
        exchange.reservedBodyBytes = 0
    }
}

/// One request in progress: what has arrived of it, its state machine, and its share of the body budget. The daemon
/// reaches it from MHD through the request's `req_cls` pointer.
///
/// Not `Sendable` and needs no lock: MHD calls the access handler and the completion callback for a connection from
/// the one thread that owns it, one call at a time.
final class RequestExchange {
    /// The head, and the body received so far (emptied once handed on or dropped).
    var request: HTTPRequest
    /// Where the request is; its suspended work is the daemon's `OffloadedRequest`, which resumes the connection.
    var machine: RequestStateMachine<OffloadedRequest>
    /// Bytes of `DaemonCore.maxBufferedBodyBytes` this request holds; given back when it completes.
    var reservedBodyBytes = 0

    init(head: HTTPRequest, machine: RequestStateMachine<OffloadedRequest>) {
        self.request = head
        self.machine = machine
    }
}

extension DaemonCore {
    /// A copy of the `count` bytes at `pointer` (a name or value MHD hands a callback; empty for none).
    static func bytes(_ pointer: UnsafePointer<CChar>?, _ count: Int) -> [UInt8] {
        guard let pointer, count > 0 else {
            return []
        }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }
}
