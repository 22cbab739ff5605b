/// Settings for `MicroHTTPDaemon`: where to listen and how much any one client may consume.
///
/// The defaults suit a service behind a proxy on one host, and are the inference server's defaults (it composes this
/// type rather than copying it); every limit is enforced by libmicrohttpd except `maxBodyBytes`, which the daemon
/// enforces itself.
public struct DaemonConfiguration: Sendable, Hashable {
    /// Numeric IPv4 or IPv6 address to bind: "127.0.0.1" (default), "0.0.0.0" (every IPv4 interface), "::1", or
    /// "::" (every IPv6 interface; IPv6 only). Host names such as "localhost" are not resolved.
    public var host: String
    /// TCP port; 0 lets the kernel pick a free one (read it back from `MicroHTTPDaemon.port`).
    public var port: Int
    /// I/O threads. Each runs its own event loop over the connections it owns: it reads requests, writes responses
    /// and runs the handler itself for requests that do not need a worker (all of them when `workerThreadCount` is 0).
    public var ioThreadCount: Int
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
    /// Most bytes of request bodies held at once, over all connections: bodies still arriving plus complete ones
    /// waiting for or being computed by a worker. A body that would go over it is read and dropped, and answered
    /// through `HTTPHandler.reject(_:request:)` with `.bodyMemoryExhausted` (503). Without it the worst case is
    /// `connectionLimit` × `maxBodyBytes` (1 GiB with the defaults); with it, memory for bodies stays within this
    /// budget whatever the number of connections, so the server fits a container limit.
    public var maxBufferedBodyBytes = 256 * 1024 * 1024
    /// Connections the kernel may queue before the daemon accepts them.
    public var listenBacklog: Int
    /// Worker threads that run handlers for requests the handler says need a worker (`HTTPHandler.needsWorker`),
    /// while the `ioThreadCount` I/O threads keep reading, writing and answering cheap requests; the inference server's
    /// workers. 0 runs every handler on the I/O thread that read the request.
    public var workerThreadCount: Int
    /// Requests that may wait for a worker beyond one running per worker thread; further ones are refused at once
    /// through `HTTPHandler.reject(_:request:)` with `.overloaded`. Ignored without workers.
    public var maxQueuedRequests: Int
    /// How long a request refused for overload waits, its connection suspended, before its 503 is sent; zero sends it
    /// at once. Clients that resend the moment they read a 503 can then refuse at most once per this interval each,
    /// instead of spinning the I/O threads and starving the workers (see `OverloadHold`). Ignored without workers.
    public var overloadedResponseDelay: Duration = .milliseconds(250)
    /// Most refusals for overload sent per second while they are held (see `overloadedResponseDelay`): with many
    /// clients retrying, holds last longer rather than refusals costing more CPU. Ignored without a delay.
    public var maxOverloadedResponsesPerSecond = 500

    /// Creates a configuration; every argument has a production-minded default.
    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        ioThreadCount: Int = 2,
        workerThreadCount: Int = 2,
        maxQueuedRequests: Int = 64,
        connectionTimeoutSeconds: Int = 30,
        connectionLimit: Int = 1024,
        perIPConnectionLimit: Int = 0,
        connectionMemoryLimitBytes: Int = 64 * 1024,
        maxBodyBytes: Int = 1024 * 1024,
        listenBacklog: Int = 128
    ) {
        self.host = host
        self.port = port
        self.ioThreadCount = ioThreadCount
        self.workerThreadCount = workerThreadCount
        self.maxQueuedRequests = maxQueuedRequests
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
        try Self.require(ioThreadCount, in: 1...1024, setting: "ioThreadCount")
        try Self.require(connectionTimeoutSeconds, in: 0...unsignedMax, setting: "connectionTimeoutSeconds")
        try Self.require(connectionLimit, in: ioThreadCount...unsignedMax, setting: "connectionLimit")
        try Self.require(perIPConnectionLimit, in: 0...unsignedMax, setting: "perIPConnectionLimit")
        try Self.require(connectionMemoryLimitBytes, in: 4096...Int.max, setting: "connectionMemoryLimitBytes")
        try Self.require(maxBodyBytes, in: 0...(Int.max / 4), setting: "maxBodyBytes")
        try Self.require(maxBufferedBodyBytes, in: maxBodyBytes...(Int.max / 4), setting: "maxBufferedBodyBytes")
        try Self.require(listenBacklog, in: 1...unsignedMax, setting: "listenBacklog")
        try Self.require(workerThreadCount, in: 0...1024, setting: "workerThreadCount")
        try Self.require(maxQueuedRequests, in: 0...1_000_000, setting: "maxQueuedRequests")
        let delayMilliseconds =
            Int(overloadedResponseDelay.components.seconds) * 1000
            + Int(overloadedResponseDelay.components.attoseconds / 1_000_000_000_000_000)
        try Self.require(delayMilliseconds, in: 0...60_000, setting: "overloadedResponseDelay (milliseconds)")
        try Self.require(maxOverloadedResponsesPerSecond, in: 1...1_000_000, setting: "maxOverloadedResponsesPerSecond")
    }

    private static func require(_ value: Int, in range: ClosedRange<Int>, setting: String) throws(DaemonError) {
        guard range.contains(value) else {
            throw .invalidConfiguration(
                setting: setting, value: value, requirement: "\(range.lowerBound)...\(range.upperBound)")
        }
    }
}
