internal import Synchronization

/// The daemon's load and its worker pool as other code sees them; nothing here calls libmicrohttpd.
extension MicroHTTPDaemon {
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
}
