public import GRPCTransport
public import HTTPTransport
public import Logging
import MCDropout
import MCDropoutJSON

/// A running inference server: the loaded models, the service, and in front of it the libmicrohttpd daemon and the
/// gRPC server (which computes on the daemon's workers).
///
/// The executable and the live tests both start servers through ``start(configuration:logger:)``.
public final class Server: Sendable {
    /// The application behind the socket.
    public let service: InferenceService
    /// The HTTP transport.
    public let daemon: MicroHTTPDaemon
    /// The gRPC transport; `nil` when gRPC is off.
    public let grpc: GRPCServer?
    private let logger: Logger
    /// The CPU latency request held while serving (``ServerConfiguration/cpuLatencyLimitMicroseconds``).
    private let cpuLatency: CPULatencyRequest?

    /// The bound port (the kernel's choice when the configuration asked for 0).
    public var port: Int { daemon.port }
    /// The bound gRPC port; `nil` when gRPC is off.
    public var grpcPort: Int? { grpc?.port }

    /// Whether a CPU latency request is held (it could be made).
    public var holdsCPULatencyRequest: Bool { cpuLatency != nil }

    private init(
        service: InferenceService, daemon: MicroHTTPDaemon, grpc: GRPCServer?, cpuLatency: CPULatencyRequest?,
        logger: Logger
    ) {
        self.service = service
        self.daemon = daemon
        self.grpc = grpc
        self.cpuLatency = cpuLatency
        self.logger = logger
    }

    /// Loads the models, binds the socket and starts answering; readiness turns on once listening.
    ///
    /// OpenBLAS is pinned to one thread: every HTTP worker computes its own request, so BLAS threads would only
    /// compete with them (and results stay bit-identical for a seed).
    public static func start(configuration: ServerConfiguration, logger: Logger) throws -> Server {
        BLAS.setThreadCount(1)
        let registry = try ModelRegistry(
            paths: configuration.modelPaths, allowsContractChanges: configuration.allowsModelContractChanges)
        let service = InferenceService(configuration: configuration, registry: registry, logger: logger)
        var transport = configuration.transport
        // libmicrohttpd needs at least one connection per I/O thread.
        transport.connectionLimit = max(transport.connectionLimit, transport.ioThreadCount)
        let daemon = try MicroHTTPDaemon(configuration: transport, handler: service, logger: logger)
        var grpc: GRPCServer?
        if let grpcPort = configuration.resolvedGRPCPort {
            let endpoint = GRPCEndpoint(service: service) { [daemon] work, cancelled in
                daemon.submit(work, cancelled: cancelled)
            }
            do {
                grpc = try GRPCServer(
                    configuration: GRPCServerConfiguration(
                        host: transport.host, port: grpcPort, maxReceiveMessageBytes: transport.maxBodyBytes,
                        limits: configuration.grpcLimits),
                    handler: endpoint, logger: logger)
            } catch {
                // Nobody asked for this port (e.g. the HTTP port is 8081, as for the second replica behind nginx):
                // serve HTTP rather than fail to start. An explicit --grpc-port still fails hard.
                guard configuration.grpcPort == .automatic, case .bindFailed = error else { throw error }
                logger.warning(
                    "gRPC is off: its automatic port could not be bound; give --grpc-port to choose one",
                    metadata: ["port": "\(grpcPort)", "reason": "\(error)"])
            }
        }
        // Weakly: the server's handler holds the service, whose metrics would otherwise hold the server.
        if let grpc { service.grpcMetrics.attach { [weak grpc] in grpc?.limitCounts ?? GRPCLimitCounts() } }
        let snapshot = registry.snapshot
        for name in snapshot.names {
            guard let model = snapshot.models[name] else { continue }
            logger.info(
                "serving model",
                metadata: [
                    "model": "\(name)", "path": "\(model.path)", "dataset": "\(model.file.metadata.dataset)",
                    "architecture": "\(model.file.model.layerSizes.map(String.init).joined(separator: "-"))",
                    "dropout": "\(model.file.model.dropoutProbabilities)",
                    "metrics": "\(JSONValue.object(model.file.metadata.metrics).description)",
                ])
        }
        var cpuLatency: CPULatencyRequest?
        if let limit = configuration.cpuLatencyLimitMicroseconds {
            do {
                cpuLatency = try CPULatencyRequest(microseconds: limit)
                logger.info("holding a CPU wake-up latency request", metadata: ["microseconds": "\(limit)"])
            } catch {
                logger.warning(
                    "serving without the CPU latency request", metadata: ["reason": "\(error)"])
            }
        }
        service.markReady()
        let host = transport.host.contains(":") ? "[\(transport.host)]" : transport.host
        var addresses: Logger.Metadata = ["address": "http://\(host):\(daemon.port)"]
        if let grpc { addresses["grpc_address"] = "\(host):\(grpc.port)" }
        logger.info("ready", metadata: addresses)
        return Server(service: service, daemon: daemon, grpc: grpc, cpuLatency: cpuLatency, logger: logger)
    }

    /// Reloads every model file (SIGHUP); requests in flight finish on the model they started with.
    @discardableResult
    public func reload() -> [ModelRegistry.ReloadOutcome] { service.reloadModels() }

    /// Graceful stop (SIGTERM): readiness turns 503, no new connections (HTTP) or calls (gRPC, UNAVAILABLE) are
    /// accepted, requests and calls in flight finish (up to `drainTimeout` in all), then the workers stop. gRPC
    /// drains first, while the workers its calls run on still take jobs.
    public func shutdown(drainTimeout: Duration) {
        logger.info(
            "draining",
            metadata: [
                "in_flight": "\(daemon.inFlightRequestCount)", "grpc_in_flight": "\(grpc?.inFlightCallCount ?? 0)",
            ])
        service.markDraining()
        let deadline = ContinuousClock.now.advanced(by: drainTimeout)
        daemon.quiesce()
        grpc?.stop(drainTimeout: drainTimeout)
        daemon.stop(drainTimeout: max(.zero, deadline - ContinuousClock.now))
        cpuLatency?.release()
        logger.info("stopped")
    }
}
