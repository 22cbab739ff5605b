// The only file that talks to libmicrohttpd (through CMicroHTTPD); the rest of the server sees plain Swift values.
// It translates: MHD's callbacks become events for a request's `RequestStateMachine`, which decides, and the actions
// it returns become MHD calls here. Counters, limits and the drain live in `DaemonCore` (DaemonCore.swift).
internal import CMicroHTTPD
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

    /// What the C callbacks reach (the handler, limits, counters, the worker pool).
    let core: DaemonCore
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
        let core = DaemonCore(configuration: configuration, handler: handler, logger: logger)
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
            core.pool?.shutdown()
            core.hold?.shutdown()
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
            core.drain(until: ContinuousClock.now.advanced(by: drainTimeout))
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

// MARK: - Callbacks from C

extension DaemonCore {
    private static func core(_ context: UnsafeMutableRawPointer?) -> DaemonCore {
        guard let context else {
            fatalError("libmicrohttpd passed no callback context")
        }
        return Unmanaged<DaemonCore>.fromOpaque(context).takeUnretainedValue()
    }

    /// MHD_LogCallback, already formatted by the shim.
    static func log(context: UnsafeMutableRawPointer?, message: UnsafePointer<CChar>?) {
        guard let message else {
            return
        }
        let core = core(context)
        let text = String(cString: message)
        core.recordStartupMessage(text)
        core.logger.notice("\(text)", metadata: ["source": "libmicrohttpd"])
    }

    /// MHD_AccessHandlerCallback: called once when the headers are in, once per piece of body, and once at the end
    /// (and again after a deferral or a resume).
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
                machine: core.makeStateMachine())
            // Released exactly once, in `requestCompleted`, which MHD calls for every request it showed us.
            requestContext.pointee = Unmanaged.passRetained(exchange).toOpaque()
            core.inFlightRequests.wrappingAdd(1, ordering: .acquiringAndReleasing)
            core.receivingRequests.wrappingAdd(1, ordering: .acquiringAndReleasing)
            core.uploadProgress.wrappingAdd(1, ordering: .relaxed)
            return core.headArrived(exchange, on: connection)
        }
        let exchange = Unmanaged<RequestExchange>.fromOpaque(existing).takeUnretainedValue()
        let size = uploadDataSize.pointee
        if size > 0 {
            uploadDataSize.pointee = 0
            core.uploadProgress.wrappingAdd(1, ordering: .relaxed)
            return core.bodyArrived(UnsafeRawBufferPointer(start: uploadData, count: size), for: exchange)
        }
        return core.calledWithoutData(exchange, on: connection)
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
        if request.takeUnretainedValue().machine.isReceiving {
            core.receivingRequests.wrappingSubtract(1, ordering: .acquiringAndReleasing)
        }
        core.releaseBodyMemory(of: request.takeUnretainedValue())
        request.release()
        core.inFlightRequests.wrappingSubtract(1, ordering: .acquiringAndReleasing)
    }

    // MARK: Events in, actions out

    private func headArrived(_ exchange: RequestExchange, on connection: OpaquePointer) -> MHD_Result {
        let declaredLength = mcd_connection_header(connection, "Content-Length").flatMap { value in
            ASCII.contentLength(String(cString: value))
        }
        switch exchange.machine.headArrived(declaredLength: declaredLength) {
        case .reject(let rejection):
            receivingRequests.wrappingSubtract(1, ordering: .acquiringAndReleasing)
            return queue(handler.reject(rejection, request: exchange.request), on: connection)
        case .receiveBody(let capacity):
            if capacity > 0 {
                exchange.request.body.reserveCapacity(capacity)
            }
            return .YES
        }
    }

    private func bodyArrived(_ data: UnsafeRawBufferPointer, for exchange: RequestExchange) -> MHD_Result {
        switch exchange.machine.bodyArrived(byteCount: data.count) {
        case .append:
            guard reserveBodyMemory(data.count, for: exchange) else {
                exchange.machine.budgetExhausted()
                exchange.request.body = []
                releaseBodyMemory(of: exchange)
                return .YES
            }
            exchange.request.body.append(contentsOf: data)
        case .drop:
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

    private func calledWithoutData(_ exchange: RequestExchange, on connection: OpaquePointer) -> MHD_Result {
        if exchange.machine.isReceiving {
            receivingRequests.wrappingSubtract(1, ordering: .acquiringAndReleasing)
        }
        var step = exchange.machine.calledWithoutData()
        // The handler and the job are asked outside the machine's mutations (see `calledWithoutData()`).
        if case .askWhereToRun = step {
            let onWorker = handler.needsWorker(exchange.request)
            step = exchange.machine.placed(onWorker: onWorker)
        } else if case .collect(let job) = step {
            let response = job.takeResponse()
            step = exchange.machine.collected(response)
        }
        switch step {
        case .wait, .deferToNextCall, .askWhereToRun, .collect:
            return .YES
        case .handleInline:
            let request = exchange.request
            exchange.request.body = []
            return queue(handler.handle(request), on: connection)
        case .reject(let rejection):
            return queue(handler.reject(rejection, request: exchange.request), on: connection)
        case .askForWorker:
            return offload(exchange, on: connection)
        case .respond(let response):
            return queue(response, on: connection)
        }
    }

    /// Admits a complete request to the worker pool, or refuses it (503) when the pool is full: after the overload
    /// delay, its connection suspended meanwhile, or at once without one.
    private func offload(_ exchange: RequestExchange, on connection: OpaquePointer) -> MHD_Result {
        var request = exchange.request
        exchange.request.body = []
        let admission: RequestStateMachine<OffloadedRequest>.Admission =
            pool?.reserve() == true ? .admitted : hold == nil ? .refused : .refusedWithHold
        if admission != .admitted {
            request.body = []
        }
        let action = exchange.machine.offload(admission)
        if case .reject(let rejection) = action {
            return queue(handler.reject(rejection, request: request), on: connection)
        }
        let job = OffloadedRequest(connection: connection, request: request, handler: handler)
        exchange.machine.suspended(for: job)
        // Suspended before the job is queued or held, so that its resume can never come first.
        mcd_connection_suspend(connection)
        if action == .suspendAndEnqueue {
            pool?.enqueue(WorkerPool.Job(run: { job.run() }, cancel: { job.refuse(.shuttingDown) }))
        } else if hold?.hold({ job.refuse(.overloaded) }) != true {
            job.refuse(.overloaded)
        }
        return .YES
    }

    /// Checks `response` (`ResponseHead`) and hands it to MHD; returns MHD_NO (close the connection) if MHD refuses it.
    private func queue(_ response: HTTPResponse, on connection: OpaquePointer) -> MHD_Result {
        let head = ResponseHead(response, closesConnection: isDraining.load(ordering: .acquiring), logger: logger)
        var rejectedHeaders = 0
        let result = head.packedHeaders.withUnsafeBytes { headerBytes in
            head.body.withUnsafeBytes { bodyBytes in
                mcd_queue_response(
                    connection, UInt32(head.status), headerBytes.baseAddress?.assumingMemoryBound(to: CChar.self),
                    head.headerCount, bodyBytes.baseAddress, bodyBytes.count, &rejectedHeaders)
            }
        }
        if rejectedHeaders > 0 {
            logger.warning("libmicrohttpd refused response headers", metadata: ["count": "\(rejectedHeaders)"])
        }
        guard result == MCD_QUEUE_OK else {
            logger.error(
                "libmicrohttpd refused the response; closing connection", metadata: ["status": "\(head.status)"])
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
                    let name = DaemonCore.bytes(name, nameSize).map(ASCII.lowercased)
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
}

/// A request computed on a pool worker, or a refusal held back for overload, while MHD keeps its connection suspended.
///
/// `@unchecked Sendable` because of `connection`, a C pointer: it is only dereferenced by MHD, and only inside
/// `mcd_connection_resume`, which MHD documents as callable from any thread. The pointer stays valid until then
/// because a suspended connection is neither timed out nor closed by MHD, and `MicroHTTPDaemon.stop` shuts the
/// overload hold and the pool down (every connection resumed) before `MHD_stop_daemon`. `run` or `refuse` is called
/// exactly once, so the connection is resumed exactly once; the response crosses threads under a `Mutex`, and MHD's
/// resume lock orders it before the access-handler call that takes it.
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
