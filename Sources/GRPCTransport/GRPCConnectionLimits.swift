/// How much of a ``GRPCServer`` one client can hold, and for how long: calls per connection, the handshake, idle
/// connections, calls that never deliver their request, dead peers and abusive PINGs.
///
/// Each limit but ``receiveTimeout`` is a channel argument of the gRPC core (named in its documentation), so the core
/// enforces it on the wire. The defaults follow what gRPC servers commonly run with and leave well-behaved clients
/// (tritonclient.grpc, grpcio) untouched: they honour the stream limit by queueing, reconnect after an idle GOAWAY,
/// answer PINGs and send none of their own unless configured to.
public struct GRPCConnectionLimits: Sendable, Hashable {
    /// Most calls open at once on one connection (`GRPC_ARG_MAX_CONCURRENT_STREAMS`, announced as HTTP/2
    /// SETTINGS_MAX_CONCURRENT_STREAMS). Clients queue further calls until one ends; libgrpc 1.51 closes the
    /// connection of a client that opens more than it acknowledged (a connection error, not a REFUSED_STREAM).
    public var maxConcurrentStreams: Int
    /// Time from accepting a connection to the client's HTTP/2 preface and SETTINGS
    /// (`GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS`); a connection that sends nothing or half a preface gets a GOAWAY and
    /// is closed then.
    public var handshakeTimeout: Duration
    /// Time a connection may have no call open before it gets a GOAWAY and is closed
    /// (`GRPC_ARG_MAX_CONNECTION_IDLE_MS`); `.zero` for never. Clients reconnect on their next call.
    public var idleTimeout: Duration
    /// Time from a call's headers to its complete request message; a call still without one is ended with
    /// DEADLINE_EXCEEDED (the shim's timer: the core has no such limit for servers). Ends streaming calls that never
    /// send (ModelStreamInfer) and uploads that stall, freeing their stream; `.zero` for never.
    public var receiveTimeout: Duration
    /// Interval of the server's keepalive PINGs on connections with calls open (`GRPC_ARG_KEEPALIVE_TIME_MS`);
    /// `.zero` for none.
    public var keepaliveInterval: Duration
    /// How long a keepalive PING waits for its acknowledgement before the connection is closed as dead
    /// (`GRPC_ARG_KEEPALIVE_TIMEOUT_MS`).
    public var keepaliveTimeout: Duration
    /// Shortest interval between a client's PINGs while the server sends no data
    /// (`GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS`); a faster PING is a strike. With no call open the
    /// core allows one PING per two hours whatever this says.
    public var minPingInterval: Duration
    /// Strikes after which the connection gets GOAWAY ENHANCE_YOUR_CALM ("too_many_pings") and is closed
    /// (`GRPC_ARG_HTTP2_MAX_PING_STRIKES`); 0 for never.
    public var maxPingStrikes: Int

    /// Creates limits; every argument has a production-minded default.
    public init(
        maxConcurrentStreams: Int = 100,
        handshakeTimeout: Duration = .seconds(10),
        idleTimeout: Duration = .seconds(300),
        receiveTimeout: Duration = .seconds(30),
        keepaliveInterval: Duration = .seconds(60),
        keepaliveTimeout: Duration = .seconds(20),
        minPingInterval: Duration = .seconds(300),
        maxPingStrikes: Int = 2
    ) {
        self.maxConcurrentStreams = maxConcurrentStreams
        self.handshakeTimeout = handshakeTimeout
        self.idleTimeout = idleTimeout
        self.receiveTimeout = receiveTimeout
        self.keepaliveInterval = keepaliveInterval
        self.keepaliveTimeout = keepaliveTimeout
        self.minPingInterval = minPingInterval
        self.maxPingStrikes = maxPingStrikes
    }

    /// The settings in the core's units (milliseconds; `Int32.max` for "never"), checked.
    func coreValues() throws(GRPCServerError) -> CoreValues {
        let never = Int(Int32.max)
        func milliseconds(_ duration: Duration, _ setting: String, zeroMeans zero: Int? = nil) throws(GRPCServerError)
            -> Int32
        {
            let value = Int((duration / .milliseconds(1)).rounded(.up))
            if value == 0, let zero { return Int32(zero) }
            guard (1...never).contains(value) else { throw .invalidConfiguration(setting: setting, value: value) }
            return Int32(value)
        }
        guard (1...never).contains(maxConcurrentStreams) else {
            throw .invalidConfiguration(setting: "maxConcurrentStreams", value: maxConcurrentStreams)
        }
        guard (0...never).contains(maxPingStrikes) else {
            throw .invalidConfiguration(setting: "maxPingStrikes", value: maxPingStrikes)
        }
        return CoreValues(
            maxConcurrentStreams: Int32(maxConcurrentStreams),
            handshakeTimeout: try milliseconds(handshakeTimeout, "handshakeTimeout"),
            idleTimeout: try milliseconds(idleTimeout, "idleTimeout", zeroMeans: never),
            receiveTimeout: try milliseconds(receiveTimeout, "receiveTimeout", zeroMeans: 0),
            keepaliveInterval: try milliseconds(keepaliveInterval, "keepaliveInterval", zeroMeans: never),
            keepaliveTimeout: try milliseconds(keepaliveTimeout, "keepaliveTimeout"),
            minPingInterval: try milliseconds(minPingInterval, "minPingInterval", zeroMeans: 0),
            maxPingStrikes: Int32(maxPingStrikes))
    }

    /// ``GRPCConnectionLimits`` as the shim takes them.
    struct CoreValues {
        var maxConcurrentStreams: Int32
        var handshakeTimeout: Int32
        var idleTimeout: Int32
        var receiveTimeout: Int32
        var keepaliveInterval: Int32
        var keepaliveTimeout: Int32
        var minPingInterval: Int32
        var maxPingStrikes: Int32
    }
}
