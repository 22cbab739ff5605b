/// Settings for `MicroHTTPDaemon`: where to listen and how much any one client may consume.
///
/// The defaults suit a service behind a proxy on one host; every limit is enforced by libmicrohttpd except
/// `maxBodyBytes`, which the daemon enforces itself.
public struct DaemonConfiguration: Sendable, Hashable {
    /// Numeric IPv4 or IPv6 address to bind: "127.0.0.1" (default), "0.0.0.0" (every IPv4 interface), "::1", or
    /// "::" (every IPv6 interface; IPv6 only). Host names such as "localhost" are not resolved.
    public var host: String
    /// TCP port; 0 lets the kernel pick a free one (read it back from `MicroHTTPDaemon.port`).
    public var port: Int
    /// Worker threads. Each runs its own event loop and the handlers of the connections it owns, so this is also
    /// the number of requests computed at once.
    public var threadCount: Int
    /// Seconds a connection may stay idle (no bytes either way) before it is closed; 0 means never.
    public var connectionTimeoutSeconds: Int
    /// Most connections open at once (split evenly across workers); further clients are closed on accept.
    public var connectionLimit: Int
    /// Most connections open at once from one IP address; 0 means no per-address limit (the right choice behind a
    /// proxy, where every connection comes from the proxy's address).
    public var perIPConnectionLimit: Int
    /// Memory each connection may use for buffering; bounds the request line plus headers. A longer URL is answered
    /// with 414 and oversized headers with 431 by libmicrohttpd, without calling the handler.
    public var connectionMemoryLimitBytes: Int
    /// Largest request body accepted; larger ones are answered through `HTTPHandler.reject(_:request:)`.
    public var maxBodyBytes: Int
    /// Connections the kernel may queue before the daemon accepts them.
    public var listenBacklog: Int
    /// Threads that run handlers for requests the handler says need a worker (`HTTPHandler.needsWorker`), while the
    /// `threadCount` I/O threads keep reading, writing and answering cheap requests. 0 (the default) runs every
    /// handler on the I/O thread that read the request.
    public var workerThreadCount: Int = 0
    /// Requests that may wait for a worker beyond one running per worker thread; further ones are refused at once
    /// through `HTTPHandler.reject(_:request:)` with `.overloaded`. Ignored without workers.
    public var maxQueuedRequests: Int = 64

    /// Creates a configuration; every argument has a production-minded default.
    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        threadCount: Int = 4,
        connectionTimeoutSeconds: Int = 30,
        connectionLimit: Int = 1024,
        perIPConnectionLimit: Int = 0,
        connectionMemoryLimitBytes: Int = 32 * 1024,
        maxBodyBytes: Int = 1024 * 1024,
        listenBacklog: Int = 128
    ) {
        self.host = host
        self.port = port
        self.threadCount = threadCount
        self.connectionTimeoutSeconds = connectionTimeoutSeconds
        self.connectionLimit = connectionLimit
        self.perIPConnectionLimit = perIPConnectionLimit
        self.connectionMemoryLimitBytes = connectionMemoryLimitBytes
        self.maxBodyBytes = maxBodyBytes
        self.listenBacklog = listenBacklog
    }

    /// Checks every numeric setting against what libmicrohttpd accepts; the host is checked when binding.
    func validate() throws(DaemonError) {
        let unsignedMax = Int(UInt32.max)
        try Self.require(port, in: 0...65_535, setting: "port")
        try Self.require(threadCount, in: 1...1024, setting: "threadCount")
        try Self.require(connectionTimeoutSeconds, in: 0...unsignedMax, setting: "connectionTimeoutSeconds")
        try Self.require(connectionLimit, in: threadCount...unsignedMax, setting: "connectionLimit")
        try Self.require(perIPConnectionLimit, in: 0...unsignedMax, setting: "perIPConnectionLimit")
        try Self.require(connectionMemoryLimitBytes, in: 4096...Int.max, setting: "connectionMemoryLimitBytes")
        try Self.require(maxBodyBytes, in: 0...(Int.max / 4), setting: "maxBodyBytes")
        try Self.require(listenBacklog, in: 1...unsignedMax, setting: "listenBacklog")
        try Self.require(workerThreadCount, in: 0...1024, setting: "workerThreadCount")
        try Self.require(maxQueuedRequests, in: 0...1_000_000, setting: "maxQueuedRequests")
    }

    private static func require(_ value: Int, in range: ClosedRange<Int>, setting: String) throws(DaemonError) {
        guard range.contains(value) else {
            throw .invalidConfiguration(
                setting: setting, value: value, requirement: "\(range.lowerBound)...\(range.upperBound)")
        }
    }
}
