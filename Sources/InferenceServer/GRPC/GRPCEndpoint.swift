public import GRPCTransport
import MCDropout

/// The RPCs of `inference.GRPCInferenceService` this server answers; any other method is UNIMPLEMENTED.
enum GRPCMethod: String, CaseIterable, Sendable {
    case serverLive = "ServerLive"
    case serverReady = "ServerReady"
    case modelReady = "ModelReady"
    case serverMetadata = "ServerMetadata"
    case modelMetadata = "ModelMetadata"
    case modelInfer = "ModelInfer"
    case modelConfig = "ModelConfig"
    case modelStatistics = "ModelStatistics"
    case repositoryIndex = "RepositoryIndex"
    case repositoryModelLoad = "RepositoryModelLoad"
    case repositoryModelUnload = "RepositoryModelUnload"

    static let service = "inference.GRPCInferenceService"

    /// The method a call's path (`/inference.GRPCInferenceService/ModelInfer`) names.
    init?(path: String) {
        let prefix = "/\(Self.service)/"
        guard path.hasPrefix(prefix), let method = GRPCMethod(rawValue: String(path.dropFirst(prefix.count))) else {
            return nil
        }
        self = method
    }

    /// The UNIMPLEMENTED message for a method not in this list (Triton's shared-memory, trace, log and streaming
    /// RPCs, or anything else).
    static func notServed(_ path: String) -> String {
        "method '\(path)' is not served here; this server serves \(service)'s "
            + allCases.map(\.rawValue).joined(separator: ", ")
    }

    /// Whether the call computes (on the inference workers) rather than being answered on the gRPC thread.
    var needsWorker: Bool { self == .modelInfer }
}

/// KServe V2 over gRPC: the same service as the HTTP V2 routes (same models, limits, keys, metrics and answers),
/// behind the ``GRPCServer``.
///
/// Cheap RPCs are answered on the gRPC thread; `ModelInfer` runs on the HTTP daemon's inference workers through
/// `submit`, so both protocols share one admission limit and each worker's per-thread buffers.
public final class GRPCEndpoint: GRPCHandler {
    /// Runs a job on the inference workers (``HTTPTransport/MicroHTTPDaemon/submit(_:cancelled:)``): `false` when
    /// full or stopping, running nothing; the second closure runs instead of the first when the pool stops first.
    public typealias Submit =
        @Sendable (_ work: @escaping @Sendable () -> Void, _ cancelled: @escaping @Sendable () -> Void) -> Bool

    let service: InferenceService
    let submit: Submit

    /// An endpoint over `service` whose inference runs through `submit`.
    public init(service: InferenceService, submit: @escaping Submit) {
        self.service = service
        self.submit = submit
    }

    public func handle(_ call: GRPCCall) {
        let clock = ContinuousClock()
        let start = clock.now
        let method = GRPCMethod(path: call.method)
        let finish: @Sendable (GRPCResponse) -> Void = { [service] response in
            let elapsed = clock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            service.grpcMetrics.record(method: method, code: response.status, seconds: seconds)
            call.respond(response)
        }
        guard let method else {
            finish(.failure(.unimplemented, GRPCMethod.notServed(call.method)))
            return
        }
        guard method.needsWorker else {
            finish(answer(method, call))
            return
        }
        let accepted = submit(
            { [self] in
                // The client's deadline passed while the call waited for a worker: nobody awaits the answer any more,
                // so it is not computed.
                if let deadline = call.deadline, ContinuousClock.now >= deadline {
                    finish(.failure(.deadlineExceeded, "the deadline passed while the call waited for a worker"))
                } else {
                    finish(answer(method, call))
                }
            },
            {
                finish(.failure(.unavailable, "the server is shutting down"))
            })
        if !accepted { finish(.failure(.unavailable, "the server is at capacity; retry shortly")) }
    }

    /// Runs one RPC; every failure becomes a status here, through ``HTTPError/grpcStatus``.
    private func answer(_ method: GRPCMethod, _ call: GRPCCall) -> GRPCResponse {
        do throws(HTTPError) {
            if method == .modelInfer || service.authenticator.coversAllRoutes {
                try service.authenticator.authenticate(authorization: call.authorization)
            }
            guard let message = call.message else { throw .badRequest("the call carried no request message") }
            return .ok(try payload(method, message))
        } catch {
            return .failure(error.grpcStatus, error.message)
        }
    }

    private func payload(_ method: GRPCMethod, _ message: [UInt8]) throws(HTTPError) -> [UInt8] {
        switch method {
        case .serverLive: return KServeMessages.encodeFlag(true)
        case .serverReady: return KServeMessages.encodeFlag(service.phase == .ready)
        case .serverMetadata:
            return KServeMessages.encodeServerMetadata(
                name: "mcdropout", version: serverVersion, extensions: InferenceService.protocolExtensions)
        case .modelReady:
            let reference = try decoded { () throws(ProtobufError) in try ModelReference(decoding: message) }
            // An unknown model is "not ready" rather than an error, so `is_model_ready` answers False as over HTTP.
            let isKnown = (try? service.resolveGRPCModel(reference, in: service.registry.snapshot)) != nil
            return KServeMessages.encodeFlag(isKnown && service.phase == .ready)
        case .modelMetadata:
            let reference = try decoded { () throws(ProtobufError) in try ModelReference(decoding: message) }
            let model = try service.resolveGRPCModel(reference, in: service.registry.snapshot)
            let (inputs, outputs) = InferenceService.tensorMetadata(model)
            return KServeMessages.encodeModelMetadata(
                name: model.name, versions: [String(model.version)], platform: "mcdropout", inputs: inputs,
                outputs: outputs)
        case .modelInfer:
            let request = try decoded { () throws(ProtobufError) in try ModelInferRequestMessage(decoding: message) }
            let reference = ModelReference(name: request.modelName, version: request.modelVersion)
            let model = try service.resolveGRPCModel(reference, in: service.worker.models(from: service.registry))
            try service.requireStarted()
            let started = ContinuousClock.now
            do throws(HTTPError) {
                var noBinarySection = BinaryReader(bytes: [], offset: 0)
                let result = try service.runInference(request.inferRequest(), model: model, binary: &noBinarySection)
                return KServeMessages.encodeInferResponse(result, service: service)
            } catch {
                service.statistics.models[model.name]?.recordFailure(since: started)
                throw error
            }
        case .modelConfig:
            let reference = try decoded { () throws(ProtobufError) in try ModelReference(decoding: message) }
            let model = try service.resolveGRPCModel(reference, in: service.registry.snapshot)
            return TritonExtensionMessages.encodeModelConfig(service.modelConfiguration(model))
        case .modelStatistics:
            // An empty name asks for every model, as in Triton (and `GET /v2/models/stats`).
            let reference = try decoded { () throws(ProtobufError) in try ModelReference(decoding: message) }
            let model =
                reference.name.isEmpty ? nil : try service.resolveGRPCModel(reference, in: service.registry.snapshot)
            return TritonExtensionMessages.encodeModelStatistics(service.statisticsReports(for: model))
        case .repositoryIndex:
            let request = try decoded { () throws(ProtobufError) in
                try RepositoryIndexRequestMessage(decoding: message)
            }
            try Self.requireNoRepositoryName(request.repositoryName)
            return TritonExtensionMessages.encodeRepositoryIndex(
                service.repositoryIndex(readyOnly: request.isReadyOnly))
        case .repositoryModelLoad, .repositoryModelUnload:
            let request = try decoded { () throws(ProtobufError) in
                try RepositoryModelRequestMessage(decoding: message)
            }
            try Self.requireNoRepositoryName(request.repositoryName)
            throw InferenceService.modelControlRefusal
        }
    }

    /// The server has one repository (its model files), which has no name: naming one is UNIMPLEMENTED, as Triton
    /// answers.
    private static func requireNoRepositoryName(_ name: String) throws(HTTPError) {
        guard name.isEmpty else {
            throw HTTPError(
                status: 501,
                message: "'repository_name' is not supported: the server has one repository, its model files")
        }
    }
}

/// Runs a protobuf decoding step; malformed bytes are the client's fault (INVALID_ARGUMENT).
func decoded<Value>(_ decode: () throws(ProtobufError) -> Value) throws(HTTPError) -> Value {
    do {
        return try decode()
    } catch {
        throw .badRequest(error.description)
    }
}

extension InferenceService {
    /// The model a gRPC request names (empty name: the only one loaded; empty version: any).
    func resolveGRPCModel(_ reference: ModelReference, in snapshot: ModelSnapshot) throws(HTTPError) -> LoadedModel {
        try resolveModel(
            reference.name.isEmpty ? nil : reference.name, version: reference.version.isEmpty ? nil : reference.version,
            in: snapshot)
    }
}

extension HTTPError {
    /// The gRPC status of this failure: the one mapping from the server's errors to gRPC codes.
    var grpcStatus: GRPCStatusCode {
        if isLimit { return .resourceExhausted }
        switch status {
        case 400, 405, 415: return .invalidArgument
        case 401: return .unauthenticated
        case 404: return .notFound
        case 413: return .resourceExhausted
        case 501: return .unimplemented
        case 503: return .unavailable
        default: return .internal
        }
    }
}
