/// The body-size state machine for one request, driven by the daemon as MHD delivers the request in pieces.
///
/// MHD calls the access handler once when the headers are in (`start`), once per piece of upload data (`receive`),
/// and once more when the request is complete (`finish`). A body that turns out too large is read and thrown away
/// (up to `discardAllowance` bytes past the limit) so the client can still receive the rejection; past that the
/// connection is closed.
struct RequestBodyState: Sendable, Equatable {
    /// Where the request is.
    enum Phase: Sendable, Equatable {
        /// Headers are in; `byteCount` body bytes kept so far.
        case receiving(byteCount: Int)
        /// The body exceeded the limit; `byteCount` bytes have arrived in total and are being discarded.
        case discarding(byteCount: Int)
        /// The body fits the limit but not the daemon's memory budget for bodies; `byteCount` bytes have arrived in
        /// total and are being discarded.
        case shedding(byteCount: Int)
        /// A response has been queued; nothing more will be accepted.
        case answered
    }

    /// What to do with a piece of upload data.
    enum ChunkAction: Sendable, Equatable {
        /// Append it to the body.
        case append
        /// Drop it: the body is already too large.
        case discard
        /// Close the connection: the client keeps sending far past the limit.
        case closeConnection
    }

    /// What to do once the request is complete.
    enum Completion: Sendable, Equatable {
        /// Pass the request to the handler.
        case handle
        /// Answer with the handler's rejection response.
        case reject(RequestRejection)
        /// Nothing: a response is already queued.
        case none
    }

    /// Largest body accepted, in bytes.
    let limit: Int
    /// Bytes past `limit` that are read and discarded before giving up on the client: the limit again, at least
    /// 64 KiB (so that small limits still answer small overruns properly).
    var discardAllowance: Int { max(limit, 64 * 1024) }
    /// The current phase.
    private(set) var phase: Phase = .receiving(byteCount: 0)

    /// The daemon's budget for all bodies at once, named in the refusal when it runs out.
    let memoryBudget: Int

    init(limit: Int, memoryBudget: Int = .max) {
        self.limit = limit
        self.memoryBudget = memoryBudget
    }

    /// Called when the headers are in; returns a rejection to answer at once if `Content-Length` is over the limit.
    mutating func start(declaredLength: UInt64?) -> RequestRejection? {
        guard let declaredLength, declaredLength > UInt64(limit) else {
            return nil
        }
        phase = .answered
        return .bodyTooLarge(limit: limit)
    }

    /// Called for each piece of upload data.
    mutating func receive(byteCount: Int) -> ChunkAction {
        switch phase {
        case .receiving(let received):
            let total = received + byteCount
            if total <= limit {
                phase = .receiving(byteCount: total)
                return .append
            }
            phase = .discarding(byteCount: total)
            return total - limit <= discardAllowance ? .discard : .closeConnection
        case .discarding(let received):
            let total = received + byteCount
            phase = .discarding(byteCount: total)
            return total - limit <= discardAllowance ? .discard : .closeConnection
        case .shedding(let received):
            let total = received + byteCount
            phase = .shedding(byteCount: total)
            return total - limit <= discardAllowance ? .discard : .closeConnection
        case .answered:
            return .discard
        }
    }

    /// Called when the daemon's memory budget for bodies cannot hold the piece just accepted by
    /// ``receive(byteCount:)``: the body is dropped, the rest read and discarded, and the request refused at the end.
    mutating func shed() {
        if case .receiving(let received) = phase {
            phase = .shedding(byteCount: received)
        }
    }

    /// Called when the request is complete.
    mutating func finish() -> Completion {
        let completion: Completion
        switch phase {
        case .receiving:
            completion = .handle
        case .discarding:
            completion = .reject(.bodyTooLarge(limit: limit))
        case .shedding:
            completion = .reject(.bodyMemoryExhausted(limit: memoryBudget))
        case .answered:
            completion = .none
        }
        phase = .answered
        return completion
    }
}
