import HTTPTransport
import MCDropoutJSON

/// One HTTP route, declared once: method, path pattern, metrics label, who may call it, and its handler.
///
/// Routing, the 404/405 answers (with `Allow`), the metrics labels, the route list of `GET /` and the test that holds
/// the OpenAPI document to the server all derive from ``table``. A new route is one more entry there (plus its
/// OpenAPI description, which the test then demands).
struct Route: Sendable {
    /// Who may call a route when the server has API keys.
    enum Access: Sendable {
        /// Needs a key only when the keys cover every route (`--auth-scope all`).
        case open
        /// Always needs a key (inference).
        case keyRequired
    }

    /// Answers a matched request; `parameters` holds the pattern's `{name}` segments, percent-decoded.
    typealias Handler = @Sendable (InferenceService, HTTPRequest, RouteParameters) throws(HTTPError) -> HTTPResponse

    /// "GET" (which answers HEAD too) or "POST".
    let method: String
    let pattern: RoutePattern
    /// The `route` label of the request metrics; several routes may share one.
    let label: String
    let access: Access
    let handler: Handler

    init(_ method: String, _ pattern: String, label: String, access: Access = .open, handler: @escaping Handler) {
        self.method = method
        self.pattern = RoutePattern(pattern)
        self.label = label
        self.access = access
        self.handler = handler
    }

    /// The methods a request may use for this route: GET routes answer HEAD too.
    var allowedMethods: [String] { method == "GET" ? ["GET", "HEAD"] : [method] }
}

extension Route {
    static let index = Route("GET", "/", label: "/") { service, request, _ in service.index(request) }
    static let openAPI = Route("GET", "/openapi.json", label: "/openapi.json") { service, _, _ in
        service.staticResponse(StaticContent.openAPIDocument, type: "application/json")
    }
    static let predict = Route("POST", "/predict", label: "/predict", access: .keyRequired) {
        service, request, _ throws(HTTPError) in
        try service.requireStarted()
        return try service.predict(request)
    }
    static let health = Route("GET", "/health", label: "/health") { service, _, _ in service.health() }
    static let metrics = Route("GET", "/metrics", label: "/metrics") { service, _, _ in service.metricsResponse() }
    static let v2Server = Route("GET", "/v2", label: "/v2/models/{model}") { service, _, _ in
        service.serverMetadata()
    }
    static let v2Live = Route("GET", "/v2/health/live", label: "/v2/health") { service, _, _ in
        service.jsonResponse {
            $0.key("live")
            $0.bool(true)
        }
    }
    static let v2Ready = Route("GET", "/v2/health/ready", label: "/v2/health") { service, _, _ in
        let ready = service.phase == .ready
        return service.jsonResponse(status: ready ? 200 : 503) {
            $0.key("ready")
            $0.bool(ready)
        }
    }
    static let v2Model = Route("GET", "/v2/models/{model}[/versions/{version}]", label: "/v2/models/{model}") {
        service, _, parameters throws(HTTPError) in
        service.modelMetadata(try service.resolveModel(parameters))
    }
    static let v2ModelReady = Route(
        "GET", "/v2/models/{model}[/versions/{version}]/ready", label: "/v2/models/{model}"
    ) { service, _, parameters throws(HTTPError) in
        let model = try service.resolveModel(parameters)
        let ready = service.phase == .ready
        return service.jsonResponse(status: ready ? 200 : 503) {
            $0.key("name")
            $0.string(model.name)
            $0.key("ready")
            $0.bool(ready)
        }
    }
    static let v2Infer = Route(
        "POST", "/v2/models/{model}[/versions/{version}]/infer", label: "/v2/models/{model}/infer",
        access: .keyRequired
    ) { service, request, parameters throws(HTTPError) in
        let model = try service.resolveModel(parameters)
        try service.requireStarted()
        let started = ContinuousClock.now
        do throws(HTTPError) {
            return try service.infer(request, model: model)
        } catch {
            service.statistics.models[model.name]?.recordFailure(since: started)
            throw error
        }
    }
    // Triton's extensions (TritonExtensions.swift). The all-models statistics route comes before the model routes in
    // ``table``, so "/v2/models/stats" is never read as a model named "stats" (as in Triton).
    static let v2AllStatistics = Route("GET", "/v2/models/stats", label: "/v2/models/{model}") { service, _, _ in
        service.statisticsResponse(for: nil)
    }
    static let v2ModelStatistics = Route(
        "GET", "/v2/models/{model}[/versions/{version}]/stats", label: "/v2/models/{model}"
    ) { service, _, parameters throws(HTTPError) in
        service.statisticsResponse(for: try service.resolveModel(parameters))
    }
    static let v2ModelConfiguration = Route(
        "GET", "/v2/models/{model}[/versions/{version}]/config", label: "/v2/models/{model}"
    ) { service, _, parameters throws(HTTPError) in
        service.modelConfigurationResponse(try service.resolveModel(parameters))
    }
    static let v2RepositoryIndex = Route("POST", "/v2/repository/index", label: "/v2/repository") {
        service, request, _ throws(HTTPError) in
        try service.repositoryIndexResponse(request)
    }
    static let v2RepositoryLoad = Route("POST", "/v2/repository/models/{model}/load", label: "/v2/repository") {
        _, _, _ throws(HTTPError) in
        throw InferenceService.modelControlRefusal
    }
    static let v2RepositoryUnload = Route("POST", "/v2/repository/models/{model}/unload", label: "/v2/repository") {
        _, _, _ throws(HTTPError) in
        throw InferenceService.modelControlRefusal
    }
    /// What no route matches: 404, counted under "other".
    static let notFound = Route("GET", "/*", label: "other") { _, request, _ throws(HTTPError) in
        throw .notFound("no route for \(request.method) \(request.path)")
    }

    /// Every route, in the order `GET /` lists them.
    static let table: [Route] = [
        index, openAPI, predict, health, metrics, v2Server, v2Live, v2Ready, v2AllStatistics, v2Model, v2ModelReady,
        v2Infer, v2ModelStatistics, v2ModelConfiguration, v2RepositoryIndex, v2RepositoryLoad, v2RepositoryUnload,
    ]

    /// The metrics labels: those of ``table`` in order, then "other".
    static let labels: [String] = {
        var labels: [String] = []
        for route in table where !labels.contains(route.label) { labels.append(route.label) }
        return labels + [notFound.label]
    }()

    /// The route for a request: the matched route and its parameters, or an error (400 for a malformed path, 405
    /// with `Allow` when the path matches only routes of other methods, 404 when it matches none) together with the
    /// route it is counted under.
    static func match(_ request: HTTPRequest) -> (route: Route, result: Result<RouteParameters, HTTPError>) {
        let segments: [String]
        do {
            segments = try pathSegments(request.path)
        } catch {
            return (notFound, .failure(error))
        }
        let method = request.method == "HEAD" ? "GET" : request.method
        var firstMatch: Route?
        var allowed: [String] = []
        for route in table {
            guard let parameters = route.pattern.match(segments) else { continue }
            if route.method == method { return (route, .success(parameters)) }
            firstMatch = firstMatch ?? route
            allowed += route.allowedMethods.filter { !allowed.contains($0) }
        }
        guard let firstMatch else {
            return (notFound, .failure(.notFound("no route for \(request.method) \(request.path)")))
        }
        return (firstMatch, .failure(.methodNotAllowed(request.method, allowed: allowed)))
    }
}

/// A path pattern such as `/v2/models/{model}[/versions/{version}]/ready`: literal segments, `{name}` parameters that
/// match any one segment, and at most one optional `[…]` group.
struct RoutePattern: Sendable {
    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    /// The concrete forms: without the optional group first, then with it.
    let forms: [[Segment]]

    init(_ text: String) {
        func segments(_ text: Substring) -> [Segment] {
            text.split(separator: "/").map { part in
                part.hasPrefix("{") && part.hasSuffix("}")
                    ? .parameter(String(part.dropFirst().dropLast())) : .literal(String(part))
            }
        }
        guard let open = text.firstIndex(of: "["), let close = text.firstIndex(of: "]") else {
            forms = [segments(text[...])]
            return
        }
        let before = segments(text[..<open])
        let optional = segments(text[text.index(after: open)..<close])
        let after = segments(text[text.index(after: close)...])
        forms = [before + after, before + optional + after]
    }

    /// The paths this pattern matches, in OpenAPI notation (`/v2/models/{model}`), one per form.
    var paths: [String] {
        forms.map { form in
            "/"
                + form.map { segment in
                    switch segment {
                    case .literal(let text): text
                    case .parameter(let name): "{\(name)}"
                    }
                }.joined(separator: "/")
        }
    }

    /// The parameters when `segments` (percent-decoded path segments) match one of the forms.
    func match(_ segments: [String]) -> RouteParameters? {
        for form in forms where form.count == segments.count {
            var parameters = RouteParameters()
            var isMatch = true
            for (segment, value) in zip(form, segments) {
                switch segment {
                case .literal(let text) where text != value:
                    isMatch = false
                case .literal:
                    break
                case .parameter(let name):
                    parameters.values.append((name: name, value: value))
                }
                if !isMatch { break }
            }
            if isMatch { return parameters }
        }
        return nil
    }
}

/// The `{name}` segments of a matched path.
struct RouteParameters: Sendable {
    var values: [(name: String, value: String)] = []

    subscript(name: String) -> String? { values.first { $0.name == name }?.value }
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
