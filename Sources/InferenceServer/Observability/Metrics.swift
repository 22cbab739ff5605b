import MCDropout
import Synchronization

/// A monotonically increasing or gauge value, updated with one atomic add.
final class Counter: Sendable {
    private let storage = Atomic<Int>(0)
    func add(_ amount: Int) { storage.add(amount, ordering: .relaxed) }
    var value: Int { storage.load(ordering: .relaxed) }
}

/// Prometheus metrics kept with atomics only, so recording a request takes no lock.
final class ServerMetrics: Sendable {
    static let statuses = [200, 400, 401, 404, 405, 413, 415, 500, 503]
    /// Latency histogram upper bounds, seconds.
    static let buckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    private let requests: [Counter]  // route × (statuses + other)
    private let bucketCounts: [Counter]  // route × (buckets + inf)
    private let latencyMicroseconds: [Counter]  // route
    let passes = Counter()
    /// Single-input requests whose second half of passes ran on another, idle worker.
    let splitRequests = Counter()
    let inFlight = Counter()
    let reloadSuccesses = Counter()
    let reloadFailures = Counter()

    /// The `route` labels (``Route/labels``, from the route table) and their positions in the counter arrays.
    private static let labels = Route.labels
    private static let labelIndices = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })

    init() {
        requests = (0..<(Self.labels.count * (Self.statuses.count + 1))).map { _ in Counter() }
        bucketCounts = (0..<(Self.labels.count * (Self.buckets.count + 1))).map { _ in Counter() }
        latencyMicroseconds = Self.labels.map { _ in Counter() }
    }

    /// The counter position of `route`'s label.
    private func labelIndex(_ route: Route) -> Int {
        guard let index = Self.labelIndices[route.label] else { preconditionFailure("\(route.label) is not a label") }
        return index
    }

    /// Records a finished request.
    func record(route: Route, status: Int, seconds: Double) {
        let statusIndex = Self.statuses.firstIndex(of: status) ?? Self.statuses.count
        let label = labelIndex(route)
        requests[label * (Self.statuses.count + 1) + statusIndex].add(1)
        let bucket = Self.buckets.firstIndex { seconds <= $0 } ?? Self.buckets.count
        bucketCounts[label * (Self.buckets.count + 1) + bucket].add(1)
        latencyMicroseconds[label].add(Int((seconds * 1e6).rounded()))
    }

    /// The number of requests recorded for `route` with `status`.
    func requestCount(route: Route, status: Int) -> Int {
        let statusIndex = Self.statuses.firstIndex(of: status) ?? Self.statuses.count
        return requests[labelIndex(route) * (Self.statuses.count + 1) + statusIndex].value
    }

    /// The Prometheus text exposition (version 0.0.4); `uncountedInFlight` requests (the scrape rendering it) are
    /// left out of `mcdropout_requests_in_flight`.
    func render(models: ModelSnapshot, isReady: Bool, uncountedInFlight: Int = 0) -> String {
        var out = ""
        out += "# HELP mcdropout_requests_total HTTP requests by route and status.\n"
        out += "# TYPE mcdropout_requests_total counter\n"
        for (label, route) in Self.labels.enumerated() {
            for (index, status) in (Self.statuses.map(String.init) + ["other"]).enumerated() {
                let value = requests[label * (Self.statuses.count + 1) + index].value
                guard value > 0 else { continue }
                out += "mcdropout_requests_total{route=\"\(route)\",status=\"\(status)\"} \(value)\n"
            }
        }
        out += "# HELP mcdropout_request_duration_seconds Time from the complete request to the response, by route.\n"
        out += "# TYPE mcdropout_request_duration_seconds histogram\n"
        for (label, route) in Self.labels.enumerated() {
            var cumulative = 0
            for index in 0...Self.buckets.count {
                cumulative += bucketCounts[label * (Self.buckets.count + 1) + index].value
                let bound = index < Self.buckets.count ? "\(Self.buckets[index])" : "+Inf"
                out += "mcdropout_request_duration_seconds_bucket{route=\"\(route)\",le=\"\(bound)\"} \(cumulative)\n"
            }
            let sum = Double(latencyMicroseconds[label].value) / 1e6
            out += "mcdropout_request_duration_seconds_sum{route=\"\(route)\"} \(sum)\n"
            out += "mcdropout_request_duration_seconds_count{route=\"\(route)\"} \(cumulative)\n"
        }
        out += "# HELP mcdropout_mc_passes_total Stochastic forward passes run.\n"
        out += "# TYPE mcdropout_mc_passes_total counter\n"
        out += "mcdropout_mc_passes_total \(passes.value)\n"
        out += "# HELP mcdropout_split_requests_total Requests whose second half of passes ran on an idle worker.\n"
        out += "# TYPE mcdropout_split_requests_total counter\n"
        out += "mcdropout_split_requests_total \(splitRequests.value)\n"
        out += "# HELP mcdropout_requests_in_flight Requests being processed now.\n"
        out += "# TYPE mcdropout_requests_in_flight gauge\n"
        out += "mcdropout_requests_in_flight \(max(inFlight.value - uncountedInFlight, 0))\n"
        out += "# HELP mcdropout_models_loaded Models being served.\n"
        out += "# TYPE mcdropout_models_loaded gauge\n"
        out += "mcdropout_models_loaded \(models.names.count)\n"
        out += "# HELP mcdropout_model_info Served models; the value is the model version (reload count + 1).\n"
        out += "# TYPE mcdropout_model_info gauge\n"
        for name in models.names {
            guard let model = models.models[name] else { continue }
            let sizes = model.file.model.layerSizes.map(String.init).joined(separator: "-")
            out +=
                "mcdropout_model_info{model=\"\(escapeLabel(name))\",dataset=\"\(escapeLabel(model.file.metadata.dataset))\",architecture=\"\(sizes)\"} \(model.version)\n"
        }
        out += renderDrift(models: models)
        out += "# HELP mcdropout_model_reloads_total Model file reloads by result.\n"
        out += "# TYPE mcdropout_model_reloads_total counter\n"
        out += "mcdropout_model_reloads_total{result=\"success\"} \(reloadSuccesses.value)\n"
        out += "mcdropout_model_reloads_total{result=\"failure\"} \(reloadFailures.value)\n"
        out +=
            "# HELP mcdropout_ready Whether the server accepts inference requests (0 while starting or draining; draining still serves open connections).\n"
        out += "# TYPE mcdropout_ready gauge\n"
        out += "mcdropout_ready \(isReady ? 1 : 0)\n"
        return out
    }

    func escapeLabel(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }
}
