// The only file that talks to libmicrohttpd (through CMicroHTTPD); the rest of the server sees plain Swift values.
internal import CMicroHTTPD
internal import Glibc
public import Logging
internal import Synchronization

/// An HTTP/1.1 server on libmicrohttpd that hands each complete request to an `HTTPHandler`.
///
/// libmicrohttpd owns the sockets, parsing, keep-alive, `Expect: 100-continue`, `HEAD` and the limits in
/// `DaemonConfiguration`; this class adds body accumulation with a size limit, request counting and a graceful stop.
/// Handlers run synchronously on the daemon's I/O threads, or on its worker threads for requests that need one.
///
/// The daemon runs from `init` until `stop()`; dropping the last reference stops it too, without draining.
/// It is `Sendable` without `@unchecked`: its mutable state (the C handle) lives in a `Mutex`, and everything the
/// C callbacks reach lives in `DaemonCore`, which is itself checked `Sendable`.
public final class MicroHTTPDaemon: Sendable {
    /// The configuration the daemon was started with.
    public let configuration: DaemonConfiguration
    /// The TCP port the daemon listens on; the kernel's choice when `configuration.port` was 0.
    public let port: Int

    private let core: DaemonCore
    private let lifecycle: Mutex<Lifecycle>

    /// What `stop()` has to undo; only touched under `lifecycle`'s lock.
    private struct Lifecycle {
        /// The running daemon; `nil` once stopped.
        var daemon: OpaquePointer?
        /// Whether the listening socket has been closed (quiesced); MHD then holds a placeholder in its place.
        var stoppedListening = false
        /// The reference to `core` that the C callbacks use, taken at start and released once, after the stop.
        var callbackReference: Unmanaged<DaemonCore>?
    }

    /// Starts listening at once.
    ///
    /// - Throws: `DaemonError.invalidConfiguration` or `.invalidAddress` before touching the network, and
    ///   `.startFailed` (with libmicrohttpd's reason) if binding or starting the threads fails.
    public init(
        configuration: DaemonConfiguration,
        handler: some HTTPHandler,
        logger: Logger = Logger(label: "mcdropout.http")
    ) throws(DaemonError) {
        try configuration.validate()
        let pool =
            configuration.workerThreadCount > 0
            ? WorkerPool(
                threadCount: configuration.workerThreadCount, queueLength: configuration.maxQueuedRequests,
                name: "mcdropout-worker") : nil
        let hold =
            pool != nil && configuration.overloadedResponseDelay > .zero
            ? OverloadHold(
                delay: configuration.overloadedResponseDelay,
                maxReleasesPerSecond: configuration.maxOverloadedResponsesPerSecond, name: "mcdropout-overload-hold")
            : nil
        let core = DaemonCore(
            handler: handler, logger: logger, maxBodyBytes: configuration.maxBodyBytes,
            maxBufferedBodyBytes: configuration.maxBufferedBodyBytes, pool: pool, hold: hold)
        let callbackReference = Unmanaged.passRetained(core)
        let context = callbackReference.toOpaque()
        var status = MCD_START_OK
        let daemon = configuration.host.withCString { host in
            var settings = mcd_daemon_config(
                host: host,
                port: UInt16(configuration.port),
                thread_count: UInt32(configuration.ioThreadCount),
                connection_timeout_seconds: UInt32(configuration.connectionTimeoutSeconds),
                connection_limit: UInt32(configuration.connectionLimit),
                per_ip_connection_limit: UInt32(configuration.perIPConnectionLimit),
                connection_memory_limit_bytes: configuration.connectionMemoryLimitBytes,
                listen_backlog: UInt32(configuration.listenBacklog)
            )
            return mcd_daemon_start(
                &settings,
                { context, connection, url, method, version, uploadData, uploadDataSize, requestContext in
                    DaemonCore.access(
                        context: context, connection: connection, url: url, method: method, version: version,
                        uploadData: uploadData, uploadDataSize: uploadDataSize, requestContext: requestContext)
                },
                context,
                { context, _, requestContext, _ in
                    DaemonCore.requestCompleted(context: context, requestContext: requestContext)
                },
                context,
                { context, message in
                    DaemonCore.log(context: context, message: message)
                },
                context,
                &status
            )
        }
        let startupMessages = core.finishStartup()
        guard let daemon else {
            pool?.shutdown()
            hold?.shutdown()
            callbackReference.release()
            if status == MCD_START_INVALID_ADDRESS {
                throw .invalidAddress(configuration.host)
            }
            let reason =
                startupMessages.isEmpty ? "libmicrohttpd gave no reason" : startupMessages.joined(separator: "; ")
            throw .startFailed(host: configuration.host, port: configuration.port, reason: reason)
        }
        self.configuration = configuration
        self.port = Int(mcd_daemon_bound_port(daemon))
        self.core = core
        self.lifecycle = Mutex(Lifecycle(daemon: daemon, callbackReference: callbackReference))
        logger.info(
            "HTTP daemon listening",
            metadata: [
                "host": "\(configuration.host)", "port": "\(port)", "io_threads": "\(configuration.ioThreadCount)",
                "workers": "\(configuration.workerThreadCount)",
            ])
    }

    deinit {
        stop(drainTimeout: .zero)
    }

    /// Requests whose headers have arrived and whose response has not yet been fully sent (or abandoned).
    public var inFlightRequestCount: Int {
        core.inFlightRequests.load(ordering: .acquiring)
    }

    /// Bytes of request bodies held now (see `DaemonConfiguration.maxBufferedBodyBytes`).
    public var bufferedBodyByteCount: Int {
        core.bufferedBodyBytes.load(ordering: .relaxed)
    }

    /// Runs `work` on the daemon's workers behind the same admission limit as the HTTP requests that need one, for
    /// another transport's requests (the gRPC server's). Returns `false`, running nothing, when every slot is taken
    /// or the daemon is stopping; `cancelled` runs instead of `work` if the daemon stops before a worker starts it.
    /// Without workers (`workerThreadCount` 0) `work` runs at once on the calling thread.
    public func submit(_ work: @escaping @Sendable () -> Void, cancelled: @escaping @Sendable () -> Void) -> Bool {
        guard let pool = core.pool else {
            work()
            return true
        }
        guard pool.reserve() else { return false }
        pool.enqueue(WorkerPool.Job(run: work, cancel: cancelled))
        return true
    }

    /// Whether the daemon has been started and not yet stopped (it may be quiesced).
    public var isRunning: Bool {
        lifecycle.withLock { $0.daemon != nil }
    }

    /// Stops accepting connections; connections already open keep being served. Idempotent.
    ///
    /// New clients get "connection refused" from the kernel rather than waiting in a backlog nobody drains.
    public func quiesce() {
        lifecycle.withLock { Self.quiesce(&$0, logger: core.logger) }
    }

    /// Stops the daemon gracefully and waits for it. Idempotent; concurrent callers all return once it has stopped.
    ///
    /// Stops accepting connections, lets requests in flight finish (their responses carry `Connection: close`) for
    /// at most `drainTimeout`, then closes every connection and joins the worker threads. Safe to call from any
    /// thread, such as one waiting in `sigwait` or a signal `DispatchSource`, but not from inside an asynchronous
    /// signal handler (it locks and sleeps) nor from a handler's own worker thread (it would wait for itself).
    public func stop(drainTimeout: Duration = .seconds(10)) {
        lifecycle.withLock { state in
            guard let daemon = state.daemon else {
                return
            }
            core.isDraining.store(true, ordering: .releasing)
            Self.quiesce(&state, logger: core.logger)
            // Refusals held back for overload are sent now; the stop need not wait out their delay.
            core.hold?.shutdown()
            core.waitUntilDrained(deadline: ContinuousClock.now.advanced(by: drainTimeout))
            if let pool = core.pool {
                // Requests still waiting for a worker are answered 503 and resumed; running ones finish (their
                // compute is bounded). Suspended connections must all be resumed before MHD_stop_daemon, and no
                // worker may touch a connection after it, so this wait has no deadline.
                pool.shutdown()
                let grace = ContinuousClock.now.advanced(by: .milliseconds(200))
                while core.inFlightRequests.load(ordering: .acquiring) > 0, ContinuousClock.now < grace {
                    var pause = timespec(tv_sec: 0, tv_nsec: 1_000_000)
                    _ = nanosleep(&pause, nil)
                }
            }
            let abandoned = core.inFlightRequests.load(ordering: .acquiring)
            if abandoned > 0 {
                core.logger.warning("HTTP daemon stopping with requests in flight", metadata: ["count": "\(abandoned)"])
            }
            // Joins the workers: after this no callback runs, so the callbacks' reference to `core` can go.
            mcd_daemon_stop(daemon)
            state.callbackReference?.release()
            state = Lifecycle(daemon: nil, callbackReference: nil)
            core.logger.info("HTTP daemon stopped", metadata: ["port": "\(port)"])
        }
    }

    private static func quiesce(_ state: inout Lifecycle, logger: Logger) {
        guard let daemon = state.daemon, !state.stoppedListening else {
            return
        }
        // Closes the listening socket, so the kernel refuses new clients rather than completing handshakes nobody
        // will serve (not MHD_quiesce_daemon, which can abort under load: see the shim).
        if mcd_daemon_stop_listening(daemon) == 0 {
            state.stoppedListening = true
        } else {
            logger.warning("could not close the listening socket; new connections are still accepted")
        }
    }
}

/// What the C callbacks need: the handler, the logger, limits and counters. Shared by all worker threads.
///
/// Checked `Sendable`: every stored property is immutable and `Sendable`, or an atomic, or behind a `Mutex`.
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

    init(
        handler: any HTTPHandler, logger: Logger, maxBodyBytes: Int, maxBufferedBodyBytes: Int, pool: WorkerPool?,
        hold: OverloadHold?
    ) {
        self.handler = handler
        self.logger = logger
        self.maxBodyBytes = maxBodyBytes
        self.maxBufferedBodyBytes = maxBufferedBodyBytes
        self.pool = pool
        self.hold = hold
    }

    /// How long the drain must see no complete request in flight before it considers the daemon drained.
    static let drainSettleTime = Duration.milliseconds(100)
    /// How long an upload may go without a byte before the drain stops waiting for it.
    static let drainUploadStallTime = Duration.milliseconds(300)

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

    /// Ends startup-message capture and returns what was captured.
    func finishStartup() -> [String] {
        startupMessages.withLock { messages in
            defer { messages = nil }
            return messages ?? []
        }
    }

    private static func core(_ context: UnsafeMutableRawPointer?) -> DaemonCore {
        guard let context else {
            fatalError("libmicrohttpd passed no callback context")
        }
        return Unmanaged<DaemonCore>.fromOpaque(context).takeUnretainedValue()
    }

    // MARK: Callbacks from C

    /// MHD_LogCallback, already formatted by the shim.
    static func log(context: UnsafeMutableRawPointer?, message: UnsafePointer<CChar>?) {
        guard let message else {
            return
        }
        let core = core(context)
        let text = String(cString: message)
        core.startupMessages.withLock { $0?.append(text) }
        core.logger.notice("\(text)", metadata: ["source": "libmicrohttpd"])
    }

    /// MHD_AccessHandlerCallback: called once when the headers are in, once per piece of body, and once at the end.
    static func access(
        context: UnsafeMutableRawPointer?,
        connection: OpaquePointer?,
        url: UnsafePointer<CChar>?,
        method: UnsafePointer<CChar>?,
        version: UnsafePointer<CChar>?,
        uploadData: UnsafePointer<CChar>?,
        uploadDataSize: UnsafeMutablePointer<Int>?,
        requestContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
    ) -> MHD_Result {
        guard let connection, let uploadDataSize, let requestContext else {
            return .NO
        }
        let core = core(context)
        guard let existing = requestContext.pointee else {
            let exchange = RequestExchange(
                head: readHead(connection: connection, url: url, method: method, version: version),
                bodyState: RequestBodyState(limit: core.maxBodyBytes, memoryBudget: core.maxBufferedBodyBytes))
            // Released exactly once, in `requestCompleted`, which MHD calls for every request it showed us.
            requestContext.pointee = Unmanaged.passRetained(exchange).toOpaque()
            core.inFlightRequests.wrappingAdd(1, ordering: .acquiringAndReleasing)
            core.receivingRequests.wrappingAdd(1, ordering: .acquiringAndReleasing)
            core.uploadProgress.wrappingAdd(1, ordering: .relaxed)
            return core.begin(exchange, on: connection)
        }
        let exchange = Unmanaged<RequestExchange>.fromOpaque(existing).takeUnretainedValue()
        let size = uploadDataSize.pointee
        if size > 0 {
            uploadDataSize.pointee = 0
            core.uploadProgress.wrappingAdd(1, ordering: .relaxed)
            return core.receive(UnsafeRawBufferPointer(start: uploadData, count: size), for: exchange)
        }
        return core.complete(exchange, on: connection)
    }

    /// MHD_RequestCompletedCallback: the response was sent, or the connection failed or the daemon stopped.
    static func requestCompleted(
        context: UnsafeMutableRawPointer?,
        requestContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
    ) {
        guard let requestContext, let exchange = requestContext.pointee else {
            return
        }
        requestContext.pointee = nil
        let core = core(context)
        let request = Unmanaged<RequestExchange>.fromOpaque(exchange)
        if request.takeUnretainedValue().stage.isReceiving {
            core.receivingRequests.wrappingSubtract(1, ordering: .acquiringAndReleasing)
        }
        core.releaseBodyMemory(of: request.takeUnretainedValue())
        request.release()
        core.inFlightRequests.wrappingSubtract(1, ordering: .acquiringAndReleasing)
    }

    // MARK: Request handling

    private func begin(_ exchange: RequestExchange, on connection: OpaquePointer) -> MHD_Result {
        let declaredLength = mcd_connection_header(connection, "Content-Length").flatMap { value in
            UInt64(String(cString: value).trimmingASCIIWhitespace())
        }
        if let rejection = exchange.bodyState.start(declaredLength: declaredLength) {
            // Queued before the body is read: MHD skips `100 Continue`, discards the body and closes afterwards.
            exchange.stage = .complete
            receivingRequests.wrappingSubtract(1, ordering: .acquiringAndReleasing)
            return queue(handler.reject(rejection, request: exchange.request), on: connection)
        }
        if let declaredLength, declaredLength > 0 {
            // Capped: a client could otherwise make every open connection reserve the full limit by declaring it
            // and then sending nothing. Larger bodies grow geometrically, a handful of reallocations at most.
            exchange.request.body.reserveCapacity(min(Int(declaredLength), 64 * 1024))
        }
        return .YES
    }

    private func receive(_ data: UnsafeRawBufferPointer, for exchange: RequestExchange) -> MHD_Result {
        switch exchange.bodyState.receive(byteCount: data.count) {
        case .append:
            guard reserveBodyMemory(data.count, for: exchange) else {
                exchange.bodyState.shed()
                exchange.request.body = []
                releaseBodyMemory(of: exchange)
                return .YES
            }
            exchange.request.body.append(contentsOf: data)
        case .discard:
            if !exchange.request.body.isEmpty {
                exchange.request.body = []
            }
            releaseBodyMemory(of: exchange)
        case .closeConnection:
            logger.notice(
                "closing connection: request body far over the limit",
                metadata: ["limit": "\(maxBodyBytes)", "remote": "\(exchange.request.remoteAddress)"])
            return .NO
        }
        return .YES
    }

    /// Takes `count` bytes of the body budget for `exchange`; `false` (taking nothing) when they do not fit.
    private func reserveBodyMemory(_ count: Int, for exchange: RequestExchange) -> Bool {
        let total = bufferedBodyBytes.wrappingAdd(count, ordering: .relaxed).newValue
        guard total <= maxBufferedBodyBytes else {
            bufferedBodyBytes.wrappingSubtract(count, ordering: .relaxed)
            return false
        }
        exchange.reservedBodyBytes += count
        return true
    }

    /// Gives back what `exchange` holds of the body budget.
    private func releaseBodyMemory(of exchange: RequestExchange) {
        guard exchange.reservedBodyBytes > 0 else { return }
        bufferedBodyBytes.wrappingSubtract(exchange.reservedBodyBytes, ordering: .relaxed)
        exchange.reservedBodyBytes = 0
    }

    private func complete(_ exchange: RequestExchange, on connection: OpaquePointer) -> MHD_Result {
        switch exchange.stage {
        case .receiving:
            exchange.stage = .complete
            receivingRequests.wrappingSubtract(1, ordering: .acquiringAndReleasing)
        case .complete:
            break
        case .deferred:
            return offload(exchange, on: connection)
        case .offloaded(let job):
            // Called again after the worker resumed the connection: send what it computed.
            guard let response = job.takeResponse() else {
                return .YES
            }
            exchange.stage = .complete
            return queue(response, on: connection)
        }
        switch exchange.bodyState.finish() {
        case .handle:
            guard pool != nil, handler.needsWorker(exchange.request) else {
                let request = exchange.request
                exchange.request.body = []
                return queue(handler.handle(request), on: connection)
            }
            // Not suspended in this call: libmicrohttpd 0.9.75 suspends a connection without updating what its event
            // loop waits for, which is still "read" after a body, and marks a resumed connection readable. Suspended
            // here, the resumed connection would read once more before the response is queued; a client that
            // half-closed after sending (shutdown(SHUT_WR): `nc -N`, proxies, health checkers) makes that read return
            // end-of-file, and MHD then closes the connection with the computed answer unsent. Returning without a
            // response lets MHD mark the connection "blocked" and call again at once (one more zero-timeout turn of
            // its loop); suspended then, it reads nothing when resumed.
            exchange.stage = .deferred
            return .YES
        case .reject(let rejection):
            return queue(handler.reject(rejection, request: exchange.request), on: connection)
        case .none:
            return .YES
        }
    }

    /// Admits a complete request to the worker pool, or refuses it (503) when the pool is full: after the overload
    /// delay, its connection suspended meanwhile, or at once without one.
    private func offload(_ exchange: RequestExchange, on connection: OpaquePointer) -> MHD_Result {
        var request = exchange.request
        exchange.request.body = []
        guard let pool, pool.reserve() else {
            request.body = []
            guard let hold else {
                exchange.stage = .complete
                return queue(handler.reject(.overloaded, request: request), on: connection)
            }
            let job = OffloadedRequest(connection: connection, request: request, handler: handler)
            exchange.stage = .offloaded(job)
            // Suspended before it is held, so that its resume can never come first.
            mcd_connection_suspend(connection)
            if !hold.hold({ job.refuse(.overloaded) }) {
                job.refuse(.overloaded)
            }
            return .YES
        }
        let job = OffloadedRequest(connection: connection, request: request, handler: handler)
        exchange.stage = .offloaded(job)
        // Suspended before the job is queued, so that its resume can never come first.
        mcd_connection_suspend(connection)
        pool.enqueue(WorkerPool.Job(run: { job.run() }, cancel: { job.refuse(.shuttingDown) }))
        return .YES
    }

    /// Validates `response` and hands it to MHD; returns MHD_NO (close the connection) if MHD refuses it.
    private func queue(_ response: HTTPResponse, on connection: OpaquePointer) -> MHD_Result {
        var status = response.status
        var headers = response.headers
        var body = response.body
        if !(200...599).contains(status) {
            logger.error("handler returned an invalid status code; sending 500", metadata: ["status": "\(status)"])
            (status, headers, body) = (500, [], [])
        }
        var headerBlock: [UInt8] = []
        var headerCount = 0
        for header in headers {
            let name = Array(header.name.utf8)
            let value = Array(header.value.utf8)
            let lowercasedName = name.map(Self.asciiLowercased)
            if lowercasedName == Array("content-length".utf8) || lowercasedName == Array("transfer-encoding".utf8) {
                continue
            }
            guard !name.isEmpty, name.allSatisfy(Self.isTokenCharacter), !value.isEmpty,
                !value.contains(where: { $0 == 0 || $0 == 10 || $0 == 13 })
            else {
                logger.warning("dropping invalid response header", metadata: ["name": "\(header.name)"])
                continue
            }
            headerBlock += name + [0] + value + [0]
            headerCount += 1
        }
        if isDraining.load(ordering: .acquiring) {
            headerBlock += Array("Connection\u{0}close\u{0}".utf8)
            headerCount += 1
        }
        var rejectedHeaders = 0
        let status32 = UInt32(status)
        let result = headerBlock.withUnsafeBytes { headerBytes in
            body.withUnsafeBytes { bodyBytes in
                mcd_queue_response(
                    connection, status32, headerBytes.baseAddress?.assumingMemoryBound(to: CChar.self), headerCount,
                    bodyBytes.baseAddress, bodyBytes.count, &rejectedHeaders)
            }
        }
        if rejectedHeaders > 0 {
            logger.warning("libmicrohttpd refused response headers", metadata: ["count": "\(rejectedHeaders)"])
        }
        guard result == MCD_QUEUE_OK else {
            logger.error("libmicrohttpd refused the response; closing connection", metadata: ["status": "\(status)"])
            return .NO
        }
        return .YES
    }

    // MARK: Reading the request head

    private static func readHead(
        connection: OpaquePointer,
        url: UnsafePointer<CChar>?,
        method: UnsafePointer<CChar>?,
        version: UnsafePointer<CChar>?
    ) -> HTTPRequest {
        var headers: [(name: String, value: String)] = []
        withUnsafeMutablePointer(to: &headers) { list in
            mcd_connection_headers(
                connection,
                { list, name, nameSize, value, valueSize in
                    let name = DaemonCore.bytes(name, nameSize).map(DaemonCore.asciiLowercased)
                    let value = DaemonCore.bytes(value, valueSize)
                    list?.assumingMemoryBound(to: [(name: String, value: String)].self).pointee.append(
                        (name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self)))
                },
                list)
        }
        var query: [(name: String, value: String)] = []
        withUnsafeMutablePointer(to: &query) { list in
            mcd_connection_query_arguments(
                connection,
                { list, name, nameSize, value, valueSize in
                    let name = PercentDecoding.decode(DaemonCore.bytes(name, nameSize))
                    let value = PercentDecoding.decode(DaemonCore.bytes(value, valueSize))
                    list?.assumingMemoryBound(to: [(name: String, value: String)].self).pointee.append(
                        (name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self)))
                },
                list)
        }
        var address = [CChar](repeating: 0, count: 64)
        let hasAddress = mcd_connection_client_address(connection, &address, address.count) != 0
        var request = HTTPRequest(
            method: method.map { String(cString: $0) } ?? "",
            path: url.map { String(cString: $0) } ?? "",
            query: query,
            version: version.map { String(cString: $0) } ?? "",
            remoteAddress: hasAddress
                ? String(decoding: address.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        )
        // Assigned directly: the names are lowercased already, the initializer would lowercase them again.
        request.headers = headers
        return request
    }

    private static func bytes(_ pointer: UnsafePointer<CChar>?, _ count: Int) -> [UInt8] {
        guard let pointer, count > 0 else {
            return []
        }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    private static func asciiLowercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
    }

    /// RFC 9110 `tchar`.
    private static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }
}

/// One request in progress, reached from MHD through its per-request `req_cls` pointer.
///
/// Not `Sendable` and needs no lock: MHD calls the access handler and the completion callback for a connection
/// from the one worker thread that owns it, one call at a time.
final class RequestExchange {
    /// Where the request is between MHD's calls.
    enum Stage {
        /// Headers in, body still arriving.
        case receiving
        /// The body is complete (or was refused); answered on the I/O thread, or already answered.
        case complete
        /// Complete and bound for the worker pool, on MHD's next call (see `complete`).
        case deferred
        /// Computing on a worker (or done) while its connection is suspended.
        case offloaded(OffloadedRequest)

        var isReceiving: Bool {
            if case .receiving = self { true } else { false }
        }
    }

    var request: HTTPRequest
    var bodyState: RequestBodyState
    var stage = Stage.receiving
    /// Bytes of `DaemonCore.maxBufferedBodyBytes` this request holds; given back when it completes.
    var reservedBodyBytes = 0

    init(head: HTTPRequest, bodyState: RequestBodyState) {
        self.request = head
        self.bodyState = bodyState
    }
}

/// A request computed on a pool worker, or a refusal held back for overload, while MHD keeps its connection suspended.
///
/// `@unchecked Sendable` because of `connection`, a C pointer: it is only dereferenced by MHD, and only inside
/// `mcd_connection_resume`, which MHD documents as callable from any thread. The pointer stays valid until then
/// because a suspended connection is neither timed out nor closed by MHD, and `MicroHTTPDaemon.stop` shuts the
/// overload hold and the pool down (every connection resumed) before `MHD_stop_daemon`. `run` or `refuse` is called
/// exactly once, so the connection is resumed exactly once; the response crosses threads under a `Mutex`, and MHD's resume lock orders it before the
/// access-handler call that takes it.
final class OffloadedRequest: @unchecked Sendable {
    private let connection: OpaquePointer
    private let request: HTTPRequest
    private let handler: any HTTPHandler
    private let response = Mutex<HTTPResponse?>(nil)

    init(connection: OpaquePointer, request: HTTPRequest, handler: any HTTPHandler) {
        self.connection = connection
        self.request = request
        self.handler = handler
    }

    /// On a worker: computes the response, then wakes the connection.
    func run() {
        finish(with: handler.handle(request))
    }

    /// Answers with the handler's refusal instead of computing: the pool stopped before the job started, or the
    /// request was held back for overload.
    func refuse(_ rejection: RequestRejection) {
        finish(with: handler.reject(rejection, request: request))
    }

    /// The computed response, once; `nil` before it is ready.
    func takeResponse() -> HTTPResponse? {
        response.withLock { value in
            defer { value = nil }
            return value
        }
    }

    private func finish(with value: HTTPResponse) {
        response.withLock { $0 = value }
        mcd_connection_resume(connection)
    }
}

extension String {
    /// The string without leading and trailing spaces and tabs.
    fileprivate func trimmingASCIIWhitespace() -> Substring {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isBlank($0) }), let last = lastIndex(where: { !isBlank($0) }) else {
            return ""
        }
        return self[first...last]
    }
}
