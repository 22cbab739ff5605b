public import GRPCTransport
public import HTTPTransport

/// Everything the server needs to start; the executable fills it from flags and `MCDROPOUT_*` variables.
///
/// The HTTP side (address, I/O threads, inference workers, admission queue, connection and body limits) is the
/// transport's own `DaemonConfiguration`, composed rather than copied, so each setting has one name and one default.
public struct ServerConfiguration: Sendable {
    /// Address, port, threads and limits of the HTTP transport. `transport.workerThreadCount` is the number of
    /// inference workers (each runs one request at a time with OpenBLAS pinned to one thread); the
    /// `transport.ioThreadCount` I/O threads read requests and answer health, metrics and metadata, never computing,
    /// so those stay fast while every worker is busy. `transport.maxQueuedRequests` inference requests may wait for
    /// a worker; further ones get 503 with `Retry-After` at once, which bounds both latency and the memory held by
    /// queued request bodies.
    public var transport = DaemonConfiguration()
    /// The port of the KServe V2 gRPC service, on `transport.host`; its largest request message is
    /// `transport.maxBodyBytes`.
    public var grpcPort = GRPCPortSetting.automatic
    /// What one gRPC client may hold (streams per connection, handshake, idle and receive timeouts, keepalive and
    /// PING policing); the gRPC counterpart of the transport's connection limits.
    public var grpcLimits = GRPCConnectionLimits()
    /// Model files; each model is named after its file stem (`models/mnist.safetensors` → `mnist`).
    public var modelPaths: [String] = ["models/mnist.safetensors"]
    /// Passes per request when the request does not say.
    public var defaultSamples = 100
    /// The largest `samples` a request may ask for.
    public var maxSamples = 10_000
    /// The largest number of instances in one batch request.
    public var maxBatchSize = 256
    /// The largest total passes (instances × samples) of one request, bounding its compute time.
    public var maxTotalPasses = 1_000_000
    /// How long a graceful stop waits for in-flight requests.
    public var drainTimeoutSeconds = 30
    /// Bearer tokens accepted by `POST /predict` and V2 infer; empty (the default) turns authentication off.
    public var apiKeys: [String] = []
    /// Whether health, metrics and metadata routes require a key too (only when `apiKeys` is not empty). Off by
    /// default so that load balancers and Prometheus can probe without credentials.
    public var requiresKeyForAllRoutes = false
    /// Whether a reload (SIGHUP) may replace a model by a file with other labels or another dataset under the same
    /// name (`--reload-allow-changes`); refused by default, since clients would get other answers' meanings.
    public var allowsModelContractChanges = false
    /// Whether predictions feed the per-model drift metrics (score histograms, per-class and flag counters) on
    /// `/metrics`; `--no-drift-metrics` stops the recording (the series stay, at zero). For measuring their cost.
    public var recordsDriftMetrics = true
    /// Whether a single-input request with a fixed `N` may run half its passes on another worker that is idle at that
    /// moment (``MonteCarloPredictor``'s split; the answer is the same bytes either way). Off by default since
    /// 2026-12-02: on the 2-core hosts measured, waking the idle worker costs more than half the passes save — quiet
    /// machine, one connection, p50 0.54 ms with it vs 0.48 ms without, 8 connections 4,428 vs 5,032 req/s
    /// (BENCHMARKS.md); `--split-passes` turns it on, to compare.
    public var splitsPasses = false
    /// A CPU wake-up latency in microseconds to ask Linux for while the server runs (``CPULatencyRequest``; `nil`, the
    /// default: none). 0 keeps idle CPUs polling: on the quiet 2-core VMs measured, a one-connection request's median
    /// latency is then mostly its compute instead of waking the CPUs (BENCHMARKS.md). System-wide and costs idle CPU;
    /// needs write access to `/dev/cpu_dma_latency` (root). When the request cannot be made the server logs a warning
    /// and serves without it.
    public var cpuLatencyLimitMicroseconds: Int?

    /// The gRPC port to bind (see ``GRPCPortSetting``); `nil` when gRPC is off.
    public var resolvedGRPCPort: Int? {
        switch grpcPort {
        case .automatic: return transport.port == 0 ? 0 : 8081
        case .off: return nil
        case .port(let port): return port
        }
    }

    /// Creates the default configuration.
    public init() {}
}

/// Where the gRPC service listens: `auto` (8081, or a free port when the HTTP port is 0, so that servers started on
/// free ports, as tests and scripts do, never collide on 8081; when 8081 cannot be bound, gRPC stays off with a
/// warning instead of failing the start), `off`, or a port number (0: a free one; a port that cannot be bound fails
/// the start).
public enum GRPCPortSetting: Sendable, Hashable, LosslessStringConvertible {
    case automatic
    case off
    case port(Int)

    /// Parses `auto`, `off` or a port from 0 to 65535.
    public init?(_ description: String) {
        switch description {
        case "auto": self = .automatic
        case "off": self = .off
        default:
            guard let port = Int(description), (0...65_535).contains(port) else { return nil }
            self = .port(port)
        }
    }

    public var description: String {
        switch self {
        case .automatic: return "auto"
        case .off: return "off"
        case .port(let port): return String(port)
        }
    }
}
