public import HTTPTransport
public import Logging
import MCDropout
import MCDropoutJSON
import Synchronization

/// The application: routes HTTP requests to the prediction, KServe V2, health and metrics endpoints.
///
/// It knows nothing of sockets; ``MicroHTTPDaemon`` calls ``handle(_:)`` on its worker threads, and tests call it
/// directly. All failures become ``HTTPError`` responses here, in one place.
public final class InferenceService: HTTPHandler {
    /// The server's lifecycle as clients see it through the health routes.
    public enum Phase: Int, Sendable {
        case starting = 0, ready, draining
    }

    let configuration: ServerConfiguration
    let registry: ModelRegistry
    let metrics = ServerMetrics()
    let logger: Logger
    private let phaseValue = Atomic<Int>(Phase.starting.rawValue)
    private let requestCounter = Atomic<UInt64>(0)
    private let workers: ThreadLocal<WorkerState>
    let limits: RequestLimits
    let authenticator: Authenticator

    /// Creates the service over loaded models; it starts in ``Phase/starting`` until ``markReady()``.
    public init(configuration: ServerConfiguration, registry: ModelRegistry, logger: Logger) {
        self.configuration = configuration
        self.registry = registry
        self.logger = logger
        limits = RequestLimits(
            maxSamples: configuration.maxSamples, maxBatchSize: configuration.maxBatchSize,
            maxTotalPasses: configuration.maxTotalPasses)
        authenticator = Authenticator(keys: configuration.apiKeys, coversAllRoutes: configuration.requiresKeyForAllRoutes)
        workers = ThreadLocal { [registry] in WorkerState(snapshot: registry.snapshot) }
    }

    /// The current phase.
    public var phase: Phase { Phase(rawValue: phaseValue.load(ordering: .acquiring)) ?? .starting }
    /// Marks the server ready: health routes answer 200 and inference is accepted.
    public func markReady() { phaseValue.store(Phase.ready.rawValue, ordering: .releasing) }
    /// Marks the server draining: readiness answers 503 so balancers stop sending traffic, while inference requests
    /// that still arrive on open connections are served. By then the daemon accepts no new connections and asks each
    /// client to close after its response, so the remaining work is bounded; refusing it would fail requests that
    /// clients sent before they could know of the shutdown.
    public func markDraining() { phaseValue.store(Phase.draining.rawValue, ordering: .releasing) }

    /// Reloads every model file, logging and counting each outcome.
    @discardableResult
    public func reloadModels() -> [ModelRegistry.ReloadOutcome] {
        let outcomes = registry.reload()
        for outcome in outcomes {
            switch outcome {
            case .reloaded(let name, let version):
                metrics.reloadSuccesses.add(1)
                logger.info("reloaded model", metadata: ["model": "\(name)", "version": "\(version)"])
            case .kept(let name, let error):
                metrics.reloadFailures.add(1)
                logger.error("reload failed; keeping the loaded model", metadata: ["model": "\(name)", "reason": "\(error)"])
            }
        }
        return outcomes
    }

    // MARK: HTTPHandler

    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        let clock = ContinuousClock()
        let start = clock.now
        metrics.inFlight.add(1)
        defer { metrics.inFlight.add(-1) }
        let requestID = Self.clientRequestID(request) ?? String(requestCounter.add(1, ordering: .relaxed).newValue)
        var route = Route.notFound
        var response: HTTPResponse
        do {
            response = try dispatch(request, route: &route)
        } catch {
            response = error.response
        }
        response.headers.append((name: "X-Request-ID", value: requestID))
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        metrics.record(route: route, status: response.status, seconds: seconds)
        if logger.logLevel <= .debug || response.status >= 500 {
            logger.log(
                level: response.status >= 500 ? .error : .debug, "request",
                metadata: [
                    "request_id": "\(requestID)", "method": "\(request.method)", "path": "\(request.path)",
                    "status": "\(response.status)", "microseconds": "\(Int(seconds * 1e6))",
                ])
        }
        return response
    }

    /// The client's `X-Request-ID` when it is a usable token (1–128 visible ASCII characters), so a caller's trace id
    /// shows up in our logs and comes back on the response; otherwise the server numbers the request itself.
    static func clientRequestID(_ request: HTTPRequest) -> String? {
        guard let value = request.header("X-Request-ID"), (1...128).contains(value.utf8.count),
            value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else { return nil }
        return value
    }

    public func reject(_ rejection: RequestRejection, request: HTTPRequest) -> HTTPResponse {
        let error: HTTPError
        switch rejection {
        case .bodyTooLarge(let limit): error = .payloadTooLarge(limit: limit)
        case .overloaded: error = .unavailable("the server is at capacity; retry shortly")
        case .shuttingDown: error = .unavailable("the server is shutting down")
        }
        metrics.record(route: Route.notFound, status: error.status, seconds: 0)
        return error.response
    }

    /// Inference (any POST) runs on the worker pool; health, metrics and metadata are answered on the I/O thread.
    public func needsWorker(_ request: HTTPRequest) -> Bool { request.method == "POST" }

    // MARK: Routing

    private func dispatch(_ request: HTTPRequest, route: inout Route) throws(HTTPError) -> HTTPResponse {
        if authenticator.coversAllRoutes { try authenticator.authenticate(request) }
        let segments = try pathSegments(request.path)
        let method = request.method == "HEAD" ? "GET" : request.method
        func allow(_ allowed: String) throws(HTTPError) {
            guard method == allowed else {
                throw .methodNotAllowed(request.method, allowed: allowed == "GET" ? ["GET", "HEAD"] : [allowed])
            }
        }
        switch segments.count {
        case 0:
            route = .index
            try allow("GET")
            if prefersJSON(request) { return index() }
            return staticResponse(StaticContent.demoPage, type: "text/html; charset=utf-8")
        case 1 where segments[0] == "openapi.json":
            route = .openAPI
            try allow("GET")
            return staticResponse(StaticContent.openAPIDocument, type: "application/json")
        case 1 where segments[0] == "health":
            route = .health
            try allow("GET")
            return health()
        case 1 where segments[0] == "metrics":
            route = .metrics
            try allow("GET")
            // This scrape is itself counted in flight while it renders; the gauge reports the other requests.
            let text = metrics.render(models: registry.snapshot, isReady: phase == .ready, uncountedInFlight: 1)
            return HTTPResponse(
                status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                body: Array(text.utf8))
        case 1 where segments[0] == "predict":
            route = .predict
            try allow("POST")
            try authenticator.authenticate(request)
            try requireStarted()
            return try predict(request)
        default:
            break
        }
        guard segments[0] == "v2" else { throw .notFound("no route for \(request.method) \(request.path)") }
        let rest = Array(segments.dropFirst())
        switch rest.count {
        case 0:
            route = .v2Metadata
            try allow("GET")
            return serverMetadata()
        case 2 where rest[0] == "health" && (rest[1] == "live" || rest[1] == "ready"):
            route = .v2Health
            try allow("GET")
            if rest[1] == "live" { return jsonResponse { $0.key("live"); $0.bool(true) } }
            let ready = phase == .ready
            return jsonResponse(status: ready ? 200 : 503) { $0.key("ready"); $0.bool(ready) }
        default:
            break
        }
        // /v2/models/{model}[/versions/{version}][/ready|/infer]
        guard rest.count >= 2, rest[0] == "models" else { throw .notFound("no route for \(request.method) \(request.path)") }
        let name = rest[1]
        var tail = Array(rest.dropFirst(2))
        var requestedVersion: String?
        if tail.count >= 2, tail[0] == "versions" {
            requestedVersion = tail[1]
            tail.removeFirst(2)
        }
        route = tail == ["infer"] ? .v2Infer : .v2Metadata
        guard tail.count <= 1, [nil, "ready", "infer"].contains(tail.first) else {
            throw .notFound("no route for \(request.method) \(request.path)")
        }
        // The route's shape decides the method before the model is looked up: a wrong method is 405 whatever the name.
        try allow(tail.first == "infer" ? "POST" : "GET")
        let model = try resolveModel(name, version: requestedVersion, in: workers.value.models(from: registry))
        switch tail.first {
        case nil:
            return modelMetadata(model)
        case "ready":
            let ready = phase == .ready
            return jsonResponse(status: ready ? 200 : 503) {
                $0.key("name"); $0.string(model.name); $0.key("ready"); $0.bool(ready)
            }
        case "infer":
            try authenticator.authenticate(request)
            try requireStarted()
            return try infer(request, model: model)
        default:
            throw .notFound("no route for \(request.method) \(request.path)")
        }
    }

    /// Inference waits for readiness, but continues while draining (see ``markDraining()``).
    private func requireStarted() throws(HTTPError) {
        if phase == .starting { throw .unavailable("the server is starting") }
    }

    /// The model a request names, or the only one loaded.
    func resolveModel(_ name: String?, version: String? = nil, in snapshot: ModelSnapshot) throws(HTTPError) -> LoadedModel {
        let model: LoadedModel
        if let name {
            guard let found = snapshot.models[name] else {
                throw .notFound("model '\(name)' is not loaded; available: \(snapshot.names.joined(separator: ", "))")
            }
            model = found
        } else {
            guard let sole = snapshot.soleModel else {
                throw .badRequest("several models are loaded (\(snapshot.names.joined(separator: ", "))); name one with 'model'")
            }
            model = sole
        }
        if let version, version != String(model.version) {
            throw .notFound("model '\(model.name)' has version \(model.version), not '\(version)'")
        }
        return model
    }

    // MARK: Small endpoints

    /// `GET /` for API clients: the server's name, version and routes.
    private func index() -> HTTPResponse {
        jsonResponse { writer in
            writer.key("name"); writer.string("mcdropout")
            writer.key("version"); writer.string(serverVersion)
            writer.key("endpoints")
            writer.beginArray()
            for endpoint in [
                "GET /", "GET /openapi.json", "POST /predict", "GET /health", "GET /metrics", "GET /v2",
                "GET /v2/health/live", "GET /v2/health/ready", "GET /v2/models/{model}", "GET /v2/models/{model}/ready",
                "POST /v2/models/{model}/infer",
            ] { writer.string(endpoint) }
            writer.endArray()
        }
    }

    /// Whether the client asked for JSON and not HTML (`Accept: application/json`): `GET /` then lists the routes
    /// instead of serving the demo page. Browsers always accept `text/html`; a missing header means HTML.
    private func prefersJSON(_ request: HTTPRequest) -> Bool {
        guard let accept = request.header("accept")?.lowercased() else { return false }
        return accept.contains("application/json") && !accept.contains("text/html")
    }

    /// A fixed document, cacheable for a short while (it changes only with the binary).
    private func staticResponse(_ body: [UInt8], type: String) -> HTTPResponse {
        HTTPResponse(status: 200, headers: [("Content-Type", type), ("Cache-Control", "max-age=300")], body: body)
    }

    private func health() -> HTTPResponse {
        let snapshot = registry.snapshot
        let status: String
        switch phase {
        case .ready: status = "ok"
        case .starting: status = "starting"
        case .draining: status = "draining"
        }
        return jsonResponse(status: phase == .ready ? 200 : 503) { writer in
            writer.key("status"); writer.string(status)
            writer.key("models")
            writer.beginArray()
            for name in snapshot.names {
                guard let model = snapshot.models[name] else { continue }
                writer.beginObject()
                writer.key("name"); writer.string(name)
                writer.key("version"); writer.integer(model.version)
                writer.key("dataset"); writer.string(model.file.metadata.dataset)
                writer.key("layer_sizes")
                writer.beginArray()
                for size in model.file.model.layerSizes { writer.integer(size) }
                writer.endArray()
                writer.endObject()
            }
            writer.endArray()
        }
    }

    /// A JSON response whose top-level object's members `body` writes.
    func jsonResponse(status: Int = 200, _ body: (inout JSONWriter) -> Void) -> HTTPResponse {
        var writer = JSONWriter(capacity: 256)
        writer.beginObject()
        body(&writer)
        writer.endObject()
        return HTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: writer.bytes)
    }

    /// The worker state of the calling thread.
    var worker: WorkerState { workers.value }
}

/// Splits a raw path into percent-decoded segments, ignoring empty ones (`//`, trailing `/`).
func pathSegments(_ path: String) throws(HTTPError) -> [String] {
    var segments: [String] = []
    for raw in path.utf8.split(separator: UInt8(ascii: "/")) {
        var bytes: [UInt8] = []
        var index = raw.startIndex
        while index < raw.endIndex {
            let byte = raw[index]
            if byte == UInt8(ascii: "%") {
                let first = raw.index(after: index)
                guard first < raw.endIndex, raw.index(after: first) < raw.endIndex,
                    let high = hexValue(raw[first]), let low = hexValue(raw[raw.index(after: first)])
                else { throw .badRequest("malformed percent-encoding in the path") }
                bytes.append(high << 4 | low)
                index = raw.index(index, offsetBy: 3)
            } else {
                bytes.append(byte)
                index = raw.index(after: index)
            }
        }
        guard let segment = String(validating: bytes, as: UTF8.self) else {
            throw .badRequest("the path is not valid UTF-8 after percent-decoding")
        }
        segments.append(segment)
    }
    return segments
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
}
