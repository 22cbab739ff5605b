/// The life of one request as libmicrohttpd delivers it, as decisions: given what happened (the head arrived, a piece
/// of body, the budget for bodies ran out, MHD called with nothing more, a worker finished), it says what to do
/// (receive, append, drop, close, answer inline, reject with a rejection, suspend and queue or hold, respond).
///
/// Pure Swift and free of C, so that every decision is testable without a socket; `MicroHTTPDaemon.swift` turns
/// MHD's callbacks into these events and the actions into C calls, and keeps the counters. Body sizes are decided by
/// the `RequestBodyState` the machine holds while the body arrives.
///
/// MHD calls the access handler once when the head is in, once per piece of body, then without data: at the end of
/// the body, and again each time it gets back to the connection (after a deferral, after a resume). That last call
/// means something different in each state, which is why the state is kept here and not in flags.
///
/// Generic over the job that computes (or refuses) a request while its connection is suspended, so that tests can
/// stand in for the daemon's `OffloadedRequest`, which resumes a real connection.
struct RequestStateMachine<Job: SuspendedWork> {
    /// Where the request is between MHD's calls.
    enum State {
        /// Head in, body still arriving; the body's size state.
        case receiving(RequestBodyState)
        /// The body is complete (or was refused): answered on the I/O thread, or already answered.
        case complete
        /// Complete and bound for the worker pool, on MHD's next call (see `bodyEnded`).
        case deferred
        /// Computing on a worker, or its refusal held back for overload, while the connection is suspended.
        case offloaded(Job)
    }

    /// What to do when the head has arrived.
    enum HeadAction: Equatable {
        /// Wait for the body; reserve this many bytes for it first (0: none).
        case receiveBody(reservingCapacity: Int)
        /// Answer with the handler's rejection at once, before any of the body is read (MHD then skips
        /// `100 Continue`, discards the body and closes the connection afterwards).
        case reject(RequestRejection)
    }

    /// What to do with a piece of body (its bytes are not the machine's business, only their count).
    enum BodyAction: Equatable {
        /// Append it, once its bytes are taken from the daemon's budget for bodies (else `budgetExhausted()`).
        case append
        /// Drop it, and whatever of the body is kept (giving its budget back).
        case drop
        /// Close the connection: the client keeps sending far past the limit.
        case closeConnection
    }

    /// What to do when MHD calls without data.
    enum Step {
        /// Nothing to send now: let MHD carry on (a response is queued already, or comes later).
        case wait
        /// Run the handler now, on this I/O thread, and queue its response.
        case handleInline
        /// Answer with the handler's rejection now.
        case reject(RequestRejection)
        /// Return without a response, so that MHD calls again at once; the request is offloaded then.
        case deferToNextCall
        /// Ask the worker pool for a slot and report the answer to `offload(_:job:)`.
        case askForWorker
        /// Queue the response the worker (or the overload hold) produced.
        case respond(HTTPResponse)
    }

    /// The worker pool's answer to a request bound for it.
    enum Admission: Equatable {
        /// A slot was reserved: exactly one job must be queued for it.
        case admitted
        /// Every slot is taken (or the pool is stopping), and refusals are sent at once.
        case refused
        /// Every slot is taken (or the pool is stopping), and refusals are held back (`OverloadHold`).
        case refusedWithHold
    }

    /// How a request bound for the pool goes on.
    enum OffloadAction {
        /// Answer with the handler's rejection at once.
        case reject(RequestRejection)
        /// Suspend the connection, then queue `Job` for the reserved slot. Suspended first, so that the job's resume
        /// can never come before the suspension.
        case suspendAndEnqueue(Job)
        /// Suspend the connection, then hold `Job`'s refusal for overload (or refuse now if the hold is stopping).
        case suspendAndHold(Job)
    }

    /// Where the request is now.
    private(set) var state: State
    /// Whether handlers may run on a worker pool; without one, every request is handled inline.
    let hasWorkers: Bool

    /// A request whose head has just arrived, with the body limit and the budget for all bodies (named in a refusal
    /// when it runs out).
    init(bodyLimit: Int, memoryBudget: Int, hasWorkers: Bool) {
        state = .receiving(RequestBodyState(limit: bodyLimit, memoryBudget: memoryBudget))
        self.hasWorkers = hasWorkers
    }

    /// Whether the body is still arriving (the drain waits for such requests only while they make progress).
    var isReceiving: Bool {
        if case .receiving = state { true } else { false }
    }

    /// The head has arrived, declaring `declaredLength` bytes of body (`Content-Length`, if any and valid).
    mutating func headArrived(declaredLength: UInt64?) -> HeadAction {
        guard case .receiving(var body) = state else { return .receiveBody(reservingCapacity: 0) }
        if let rejection = body.start(declaredLength: declaredLength) {
            state = .complete
            return .reject(rejection)
        }
        state = .receiving(body)
        guard let declaredLength, declaredLength > 0 else { return .receiveBody(reservingCapacity: 0) }
        // Capped: a client could otherwise make every open connection reserve the full limit by declaring it and
        // then sending nothing. Larger bodies grow geometrically, a handful of reallocations at most. (The length is
        // within the limit here, so it fits an Int.)
        return .receiveBody(reservingCapacity: min(Int(declaredLength), Self.initialBodyCapacity))
    }

    /// Most bytes reserved for a body before any of it arrives.
    static var initialBodyCapacity: Int { 64 * 1024 }

    /// A piece of `byteCount` bytes of body has arrived.
    mutating func bodyArrived(byteCount: Int) -> BodyAction {
        guard case .receiving(var body) = state else { return .drop }
        let action = body.receive(byteCount: byteCount)
        state = .receiving(body)
        switch action {
        case .append: return .append
        case .discard: return .drop
        case .closeConnection: return .closeConnection
        }
    }

    /// The daemon's budget for bodies cannot hold the piece just accepted (`.append`): the daemon drops the body
    /// and gives its budget back, the rest is read and discarded, and the request is refused at the end
    /// (`.bodyMemoryExhausted`, 503).
    mutating func budgetExhausted() {
        guard case .receiving(var body) = state else { return }
        body.shed()
        state = .receiving(body)
    }

    /// MHD called without data: the body is complete, or MHD is back after a deferral or a resume.
    ///
    /// - Parameter needsWorker: whether the complete request should run on the pool (`HTTPHandler.needsWorker`);
    ///   asked only when there is a pool and the request is to be handled.
    mutating func calledWithoutData(needsWorker: () -> Bool) -> Step {
        switch state {
        case .receiving(var body):
            state = .complete
            switch body.finish() {
            case .handle:
                guard hasWorkers, needsWorker() else { return .handleInline }
                // Not suspended in this call: libmicrohttpd 0.9.75 suspends a connection without updating what its
                // event loop waits for, which is still "read" after a body, and marks a resumed connection readable.
                // Suspended here, the resumed connection would read once more before the response is queued; a
                // client that half-closed after sending (shutdown(SHUT_WR): `nc -N`, proxies, health checkers)
                // makes that read return end-of-file, and MHD then closes the connection with the computed answer
                // unsent. Returning without a response lets MHD mark the connection "blocked" and call again at
                // once (one more zero-timeout turn of its loop); suspended then, it reads nothing when resumed.
                state = .deferred
                return .deferToNextCall
            case .reject(let rejection):
                return .reject(rejection)
            case .none:
                return .wait
            }
        case .complete:
            return .wait
        case .deferred:
            return .askForWorker
        case .offloaded(let job):
            // Called again after the job resumed the connection: send what it produced.
            guard let response = job.takeResponse() else { return .wait }
            state = .complete
            return .respond(response)
        }
    }

    /// The pool answered `admission` for a request that `.askForWorker`; `job` makes the job to suspend for.
    mutating func offload(_ admission: Admission, job: () -> Job) -> OffloadAction {
        precondition(isDeferred, "offload(_:job:) without .askForWorker")
        switch admission {
        case .admitted:
            let job = job()
            state = .offloaded(job)
            return .suspendAndEnqueue(job)
        case .refused:
            state = .complete
            return .reject(.overloaded)
        case .refusedWithHold:
            let job = job()
            state = .offloaded(job)
            return .suspendAndHold(job)
        }
    }

    private var isDeferred: Bool {
        if case .deferred = state { true } else { false }
    }
}

/// A request's work done away from its I/O thread while the connection is suspended: a computation on a worker, or
/// a refusal held back for overload. Its response is taken once it is ready.
protocol SuspendedWork {
    /// The response, once; `nil` before it is ready.
    func takeResponse() -> HTTPResponse?
}
