import GRPCTransport
import Synchronization

/// Prometheus counters of gRPC calls by method and status code, and their latency by method; atomics only, like
/// ``ServerMetrics`` (whose buckets they share). Rendered on `/metrics` after the HTTP series.
final class GRPCMetrics: Sendable {
    private static let methods = GRPCMethod.allCases.map(\.rawValue) + ["other"]
    private static let codes = GRPCStatusCode.allCases
    private let calls: [Counter]  // method × code
    private let bucketCounts: [Counter]  // method × (buckets + inf)
    private let latencyMicroseconds: [Counter]  // method
    /// Reads the gRPC server's counts of calls it ended for its limits (they never reach the endpoint); set once the
    /// server runs, read only when rendering.
    private let limitCounts = Mutex<(@Sendable () -> GRPCLimitCounts)?>(nil)

    init() {
        calls = (0..<(Self.methods.count * Self.codes.count)).map { _ in Counter() }
        bucketCounts = (0..<(Self.methods.count * (ServerMetrics.buckets.count + 1))).map { _ in Counter() }
        latencyMicroseconds = Self.methods.map { _ in Counter() }
    }

    private static func methodIndex(_ method: GRPCMethod?) -> Int {
        method.flatMap { GRPCMethod.allCases.firstIndex(of: $0) } ?? GRPCMethod.allCases.count
    }

    /// Records a finished call (`method` `nil` for an unknown one).
    func record(method: GRPCMethod?, code: GRPCStatusCode, seconds: Double) {
        let index = Self.methodIndex(method)
        calls[index * Self.codes.count + Int(code.rawValue)].add(1)
        let bucket = ServerMetrics.buckets.firstIndex { seconds <= $0 } ?? ServerMetrics.buckets.count
        bucketCounts[index * (ServerMetrics.buckets.count + 1) + bucket].add(1)
        latencyMicroseconds[index].add(Int((seconds * 1e6).rounded()))
    }

    /// Makes `render()` report the server's limit counts, read through `counts`.
    func attach(limitCounts counts: @escaping @Sendable () -> GRPCLimitCounts) {
        limitCounts.withLock { $0 = counts }
    }

    /// Calls recorded for `method` ending with `code`.
    func callCount(method: GRPCMethod?, code: GRPCStatusCode) -> Int {
        calls[Self.methodIndex(method) * Self.codes.count + Int(code.rawValue)].value
    }

    /// The series in the Prometheus text format.
    func render() -> String {
        var out = "# HELP mcdropout_grpc_requests_total gRPC calls by method and status code.\n"
        out += "# TYPE mcdropout_grpc_requests_total counter\n"
        for (index, method) in Self.methods.enumerated() {
            for code in Self.codes {
                let value = calls[index * Self.codes.count + Int(code.rawValue)].value
                guard value > 0 else { continue }
                out += "mcdropout_grpc_requests_total{method=\"\(method)\",code=\"\(code.name)\"} \(value)\n"
            }
        }
        out += "# HELP mcdropout_grpc_request_duration_seconds Time from request message to answer, by method.\n"
        out += "# TYPE mcdropout_grpc_request_duration_seconds histogram\n"
        let buckets = ServerMetrics.buckets
        for (index, method) in Self.methods.enumerated() {
            var cumulative = 0
            for bucket in 0...buckets.count {
                cumulative += bucketCounts[index * (buckets.count + 1) + bucket].value
                let bound = bucket < buckets.count ? "\(buckets[bucket])" : "+Inf"
                out += "mcdropout_grpc_request_duration_seconds_bucket{method=\"\(method)\",le=\"\(bound)\"} "
                out += "\(cumulative)\n"
            }
            let sum = Double(latencyMicroseconds[index].value) / 1e6
            out += "mcdropout_grpc_request_duration_seconds_sum{method=\"\(method)\"} \(sum)\n"
            out += "mcdropout_grpc_request_duration_seconds_count{method=\"\(method)\"} \(cumulative)\n"
        }
        if let counts = limitCounts.withLock({ $0 })?() {
            out += "# HELP mcdropout_grpc_receive_timeouts_total gRPC calls ended DEADLINE_EXCEEDED because their "
            out += "request message had not arrived within --grpc-receive-timeout.\n"
            out += "# TYPE mcdropout_grpc_receive_timeouts_total counter\n"
            out += "mcdropout_grpc_receive_timeouts_total \(counts.receiveTimeouts)\n"
            out += "# HELP mcdropout_grpc_refused_calls_total gRPC calls refused RESOURCE_EXHAUSTED because their "
            out += "connection had --grpc-max-concurrent-streams calls open.\n"
            out += "# TYPE mcdropout_grpc_refused_calls_total counter\n"
            out += "mcdropout_grpc_refused_calls_total \(counts.refusedCalls)\n"
        }
        return out
    }
}

extension GRPCStatusCode {
    /// The code's canonical name, as gRPC libraries print it (`INVALID_ARGUMENT`).
    var name: String {
        switch self {
        case .ok: return "OK"
        case .cancelled: return "CANCELLED"
        case .unknown: return "UNKNOWN"
        case .invalidArgument: return "INVALID_ARGUMENT"
        case .deadlineExceeded: return "DEADLINE_EXCEEDED"
        case .notFound: return "NOT_FOUND"
        case .alreadyExists: return "ALREADY_EXISTS"
        case .permissionDenied: return "PERMISSION_DENIED"
        case .resourceExhausted: return "RESOURCE_EXHAUSTED"
        case .failedPrecondition: return "FAILED_PRECONDITION"
        case .aborted: return "ABORTED"
        case .outOfRange: return "OUT_OF_RANGE"
        case .unimplemented: return "UNIMPLEMENTED"
        case .internal: return "INTERNAL"
        case .unavailable: return "UNAVAILABLE"
        case .dataLoss: return "DATA_LOSS"
        case .unauthenticated: return "UNAUTHENTICATED"
        }
    }
}
