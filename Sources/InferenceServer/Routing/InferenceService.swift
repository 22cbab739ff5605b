public import HTTPTransport
public import Logging
import MCDropout
import MCDropoutJSON
import Synchronization

/// The application: routes HTTP requests (``Route/table``) to the prediction, KServe V2, health and metrics endpoints.
///
/// It knows nothing of sockets; ``MicroHTTPDaemon`` calls ``handle(_:)`` on its worker threads, and tests call it
/// directly. All failures become ``HTTPError`` responses here, in one place.
public final class InferenceService: HTTPHandler {
    /// The server's lifecycle as clients see it through the health routes.
    public enum Phase: Int, Sendable {
        case starting = 0
        case ready, draining
    }

    let configuration: ServerConfiguration
    let registry: ModelRegistry
    let metrics = ServerMetrics()
    let grpcMetrics = GRPCMetrics()
    let logger: Logger
    private let phaseValue = Atomic<Int>(Phase.starting.rawValue)
    private let requestCounter = Atomic<UInt64>(0)
    private let workers: ThreadLocal<WorkerState>
    let limits: RequestLimits
    let authenticator: Authenticator
    /// Triton's per-model statistics (``TritonExtensions``).
    let statistics: InferenceStatistics

    /// Creates the service over loaded models; it starts in ``Phase/starting`` until ``markReady()``.
    public init(configuration: ServerConfiguration, registry: ModelRegistry, logger: Logger) {
        self.configuration = configuration
        self.registry = registry
        self.logger = logger
        limits = RequestLimits(
            maxSamples: configuration.maxSamples, maxBatchSize: configuration.maxBatchSize,
            maxTotalPasses: configuration.maxTotalPasses)
        authenticator = Authenticator(
            keys: configuration.apiKeys, coversAllRoutes: configuration.requiresKeyForAllRoutes)
        workers = ThreadLocal { [registry] in WorkerState(snapshot: registry.snapshot) }
        statistics = InferenceStatistics(names: registry.snapshot.names)
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
                logger.error(
                    "reload failed; keeping the loaded model", metadata: ["model": "\(name)", "reason": "\(error)"])
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
        let requestID = requestID(for: request)
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

    /// The client's usable `X-Request-ID` (see ``clientRequestID(_:)``), else the next number of the server's own.
    private func requestID(for request: HTTPRequest) -> String {
        Self.clientRequestID(request) ?? String(requestCounter.add(1, ordering: .relaxed).newValue)
    }

    /// The client's `X-Request-ID` when it is a usable token (1–128 visible ASCII characters), so a caller's trace id
    /// shows up in our logs and comes back on the response; otherwise the server numbers the request itself.
    static func clientRequestID(_ request: HTTPRequest) -> String? {
        guard let value = request.header("X-Request-ID"), (1...128).contains(value.utf8.count),
            value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else { return nil }
        return value
    }

    /// Answers what the transport refused by itself, with an `X-Request-ID` like every other answer. A body over the
    /// limit, an overload or a shutdown refusal is counted under the route it was sent to ("other" when none matches).
    public func reject(_ rejection: RequestRejection, request: HTTPRequest) -> HTTPResponse {
        let error: HTTPError
        switch rejection {
        case .bodyTooLarge(let limit): error = .payloadTooLarge(limit: limit)
        case .overloaded: error = .unavailable("the server is at capacity; retry shortly")
        case .bodyMemoryExhausted(let limit):
            error = .unavailable("request bodies being processed fill the server's \(limit)-byte budget; retry shortly")
        case .shuttingDown: error = .unavailable("the server is shutting down")
        }
        metrics.record(route: Route.match(request).route, status: error.status, seconds: 0)
        var response = error.response
        response.headers.append((name: "X-Request-ID", value: requestID(for: request)))
        return response
    }

    /// Inference (any POST) runs on the worker pool; health, metrics and metadata are answered on the I/O thread.
    public func needsWorker(_ request: HTTPRequest) -> Bool { request.method == "POST" }

    // MARK: Routing

    /// Finds the route (``Route/table``), checks the API key it needs and runs its handler; `route` is set to the
    /// route the request is counted under, even when this throws.
    private func dispatch(_ request: HTTPRequest, route: inout Route) throws(HTTPError) -> HTTPResponse {
        if authenticator.coversAllRoutes { try authenticator.authenticate(request) }
        let match = Route.match(request)
        route = match.route
        let parameters = try match.result.get()
        if route.access == .keyRequired { try authenticator.authenticate(request) }
        return try route.handler(self, request, parameters)
    }

    /// Inference waits for readiness, but continues while draining (see ``markDraining()``).
    func requireStarted() throws(HTTPError) {
        if phase == .starting { throw .unavailable("the server is starting") }
    }

    /// The model a V2 route names (its `{model}` and optional `{version}`), as this worker sees the registry.
    func resolveModel(_ parameters: RouteParameters) throws(HTTPError) -> LoadedModel {
        try resolveModel(parameters["model"], version: parameters["version"], in: workers.value.models(from: registry))
    }

    /// The model a request names, or the only one loaded.
    func resolveModel(_ name: String?, version: String? = nil, in snapshot: ModelSnapshot) throws(HTTPError)
        -> LoadedModel
    {
        let model: LoadedModel
        if let name {
            guard let found = snapshot.models[name] else {
                throw .notFound("model '\(name)' is not loaded; available: \(snapshot.names.joined(separator: ", "))")
            }
            model = found
        } else {
            guard let sole = snapshot.soleModel else {
                throw .badRequest(
                    "several models are loaded (\(snapshot.names.joined(separator: ", "))); name one with 'model'")
            }
            model = sole
        }
        if let version, version != String(model.version) {
            throw .notFound("model '\(model.name)' has version \(model.version), not '\(version)'")
        }
        return model
    }

    // MARK: Small endpoints

    /// `GET /`: the demo page, or for API clients the server's name, version and routes.
    func index(_ request: HTTPRequest) -> HTTPResponse {
        guard prefersJSON(request) else {
            return staticResponse(StaticContent.demoPage, type: "text/html; charset=utf-8")
        }
        return jsonResponse { writer in
            writer.key("name")
            writer.string("mcdropout")
            writer.key("version")
            writer.string(serverVersion)
            writer.key("endpoints")
            writer.beginArray()
            for route in Route.table { writer.string("\(route.method) \(route.pattern.paths[0])") }
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
    func staticResponse(_ body: [UInt8], type: String) -> HTTPResponse {
        HTTPResponse(status: 200, headers: [("Content-Type", type), ("Cache-Control", "max-age=300")], body: body)
    }

    /// `GET /metrics`: the Prometheus text exposition.
    func metricsResponse() -> HTTPResponse {
        // This scrape is itself counted in flight while it renders; the gauge reports the other requests.
        let text =
            metrics.render(models: registry.snapshot, isReady: phase == .ready, uncountedInFlight: 1)
            + grpcMetrics.render()
        return HTTPResponse(
            status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
            body: Array(text.utf8))
    }

    func health() -> HTTPResponse {
        let snapshot = registry.snapshot
        let status: String
        switch phase {
        case .ready: status = "ok"
        case .starting: status = "starting"
        case .draining: status = "draining"
        }
        return jsonResponse(status: phase == .ready ? 200 : 503) { writer in
            writer.key("status")
            writer.string(status)
            writer.key("models")
            writer.beginArray()
            for name in snapshot.names {
                guard let model = snapshot.models[name] else { continue }
                writer.beginObject()
                writer.key("name")
                writer.string(name)
                writer.key("version")
                writer.integer(model.version)
                writer.key("dataset")
                writer.string(model.file.metadata.dataset)
                writer.key("layer_sizes")
                writer.beginArray()
                for size in model.file.model.layerSizes { writer.integer(size) }
                writer.endArray()
                writer.key("members")
                writer.integer(model.predictor.memberCount)
                if let transform = model.file.metadata.inputTransform {
                    writer.key("input_transform")
                    writer.string(transform.rawValue)
                }
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
