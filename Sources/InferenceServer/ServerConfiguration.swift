/// Everything the server needs to start; the executable fills it from flags and `MCDROPOUT_*` variables.
public struct ServerConfiguration: Sendable {
    /// Address to bind, IPv4 or IPv6.
    public var host = "127.0.0.1"
    /// Port to bind; 0 picks a free one.
    public var port = 8080
    /// Model files; each model is named after its file stem (`models/mnist.safetensors` → `mnist`).
    public var modelPaths: [String] = ["models/mnist.safetensors"]
    /// Inference worker threads; each runs one request at a time with OpenBLAS pinned to one thread.
    public var threadCount = 2
    /// Threads that read requests and answer health, metrics and metadata; they never compute, so those stay fast
    /// while every inference worker is busy.
    public var ioThreadCount = 2
    /// Inference requests that may wait for a worker beyond one per worker; further ones get 503 with `Retry-After`
    /// at once, which bounds both latency and the memory held by queued request bodies.
    public var maxQueuedRequests = 64
    /// Passes per request when the request does not say.
    public var defaultSamples = 100
    /// The largest `samples` a request may ask for.
    public var maxSamples = 10_000
    /// The largest number of instances in one batch request.
    public var maxBatchSize = 256
    /// The largest total passes (instances × samples) of one request, bounding its compute time.
    public var maxTotalPasses = 1_000_000
    /// The largest request body in bytes.
    public var maxBodyBytes = 1 << 20
    /// Idle connections are closed after this many seconds.
    public var connectionTimeoutSeconds = 30
    /// Maximum simultaneous connections.
    public var connectionLimit = 1024
    /// Maximum simultaneous connections from one IP address (0 = unlimited).
    public var perIPConnectionLimit = 0
    /// Memory per connection for headers and buffers, bounding header size.
    public var connectionMemoryLimitBytes = 64 * 1024
    /// How long a graceful stop waits for in-flight requests.
    public var drainTimeoutSeconds = 30
    /// Bearer tokens accepted by `POST /predict` and V2 infer; empty (the default) turns authentication off.
    public var apiKeys: [String] = []
    /// Whether health, metrics and metadata routes require a key too (only when `apiKeys` is not empty). Off by
    /// default so that load balancers and Prometheus can probe without credentials.
    public var requiresKeyForAllRoutes = false

    /// Creates the default configuration.
    public init() {}
}
