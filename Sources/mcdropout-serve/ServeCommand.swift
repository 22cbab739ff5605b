import ArgumentParser
import Foundation
import GRPCTransport
import HTTPTransport
import InferenceServer
import Logging

/// `mcdropout-serve`: serves safetensors models with Monte-Carlo dropout uncertainty over HTTP.
@main
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcdropout-serve",
        abstract: "Serve dropout MLPs over HTTP with Monte-Carlo dropout uncertainty.",
        discussion: """
            Endpoints: POST /predict, GET /health, GET /metrics, the KServe V2
            protocol under /v2, the OpenAPI 3.1 document at GET /openapi.json and a
            browser demo at GET / (open http://127.0.0.1:8080/ once it runs).

            Every option can also come from an environment variable: --max-samples
            from MCDROPOUT_MAX_SAMPLES, and so on (MCDROPOUT_MODEL takes a
            comma-separated list). Flags on the command line win over the
            environment.

            Signals: SIGHUP reloads every model file (a bad file keeps the loaded
            model); SIGTERM or SIGINT drain in-flight requests and exit 0.

            Access control: with --api-key-file, POST /predict and POST
            /v2/models/{m}/infer need 'Authorization: Bearer <key>' (401 otherwise);
            /health, /metrics and the V2 metadata and health routes stay open unless
            --auth-scope all. The server speaks plain HTTP: bind it to 127.0.0.1 and
            terminate TLS in a proxy in front of it (the README's "Access control"
            section has an nginx example).

            Examples:
              mcdropout-serve --model models/mnist.safetensors --port 8080
              mcdropout-serve --port 0 --model a.safetensors --model b.safetensors
              MCDROPOUT_MAX_SAMPLES=1000 mcdropout-serve --host 0.0.0.0 --threads 4
              mcdropout-serve --api-key-file keys.txt --auth-scope all
              curl -s localhost:8080/predict -d @examples/mnist-test-0000-label-7.json

            Shell completion (bash, zsh or fish):
              mcdropout-serve --generate-completion-script bash > mcdropout-serve.bash
            """,
        version: serverVersion)

    /// The server's defaults: each option's default is the configuration's, declared there once.
    private static let defaults = ServerConfiguration()

    @Option(help: "Address to bind (IPv4 or IPv6 numeric; 0.0.0.0 for every interface).")
    var host = defaults.transport.host
    @Option(help: "Port; 0 picks a free one and prints it.")
    var port = defaults.transport.port
    @Option(
        help: ArgumentHelp(
            "KServe V2 gRPC port: 'auto' is 8081 (off with a warning if taken), or a free one when --port is 0; "
                + "0 picks a free one and prints it; 'off' turns gRPC off.", valueName: "port|auto|off"))
    var grpcPort = defaults.grpcPort.description
    @Option(
        name: .customLong("model"),
        help: ArgumentHelp("Model file (repeatable); the model's name is the file stem.", valueName: "path"),
        completion: .file(extensions: ["safetensors"]))
    var models = DefaultModel.resolve(defaults.modelPaths)
    @Option(help: "HTTP worker threads; each computes one request at a time with a single BLAS thread.")
    var threads = defaults.transport.workerThreadCount
    @Option(
        help: "Inference requests that may wait for a busy worker; beyond that the server answers 503 + Retry-After.")
    var maxQueued = defaults.transport.maxQueuedRequests
    @Option(
        help: "Milliseconds a 503 for overload is held (connection parked) so clients retrying at once cannot spin.")
    var overloadHoldMs = Int(defaults.transport.overloadedResponseDelay / .milliseconds(1))
    @Option(help: "Most held 503s for overload sent per second; more retrying clients are held longer.")
    var overloadMaxRate = defaults.transport.maxOverloadedResponsesPerSecond
    @Option(help: "Monte-Carlo passes when a request does not give 'samples'.")
    var defaultSamples = defaults.defaultSamples
    @Option(help: "Largest 'samples' a request may ask for.")
    var maxSamples = defaults.maxSamples
    @Option(help: "Most inputs in one batch request.")
    var maxBatch = defaults.maxBatchSize
    @Option(help: "Most passes (inputs × samples) one request may cost.")
    var maxTotalPasses = defaults.maxTotalPasses
    @Option(help: "Largest request body in bytes.")
    var maxBodyBytes = defaults.transport.maxBodyBytes
    @Option(
        help: ArgumentHelp(
            "Most bytes of request bodies held at once, over all connections; beyond it a body is answered 503.",
            discussion: "Bounds memory for bodies whatever the connection count: fit a container limit with it."))
    var maxBufferedBodyBytes = defaults.transport.maxBufferedBodyBytes
    @Option(help: "Seconds before an idle connection is closed.")
    var connectionTimeout = defaults.transport.connectionTimeoutSeconds
    @Option(help: "Most simultaneous connections.")
    var maxConnections = defaults.transport.connectionLimit
    @Option(help: "Most simultaneous connections from one IP address (0 = no limit, right behind a proxy).")
    var maxConnectionsPerIp = defaults.transport.perIPConnectionLimit
    @Option(
        help: "Most gRPC calls open at once on one connection (HTTP/2 max concurrent streams); clients queue the rest.")
    var grpcMaxConcurrentStreams = defaults.grpcLimits.maxConcurrentStreams
    @Option(help: "Seconds a new gRPC connection has to send its HTTP/2 preface and settings before it is closed.")
    var grpcHandshakeTimeout = seconds(defaults.grpcLimits.handshakeTimeout)
    @Option(help: "Seconds a gRPC connection may have no call open before it is closed (GOAWAY; 0 = never).")
    var grpcIdleTimeout = seconds(defaults.grpcLimits.idleTimeout)
    @Option(
        help: ArgumentHelp(
            "Seconds a gRPC call may take to deliver its request message; then DEADLINE_EXCEEDED (0 = no limit).",
            discussion: "Ends calls that never send, such as a ModelStreamInfer stream left open, and stalled uploads."
        ))
    var grpcReceiveTimeout = seconds(defaults.grpcLimits.receiveTimeout)
    @Option(help: "Seconds between the server's keepalive pings on gRPC connections with calls open (0 = none).")
    var grpcKeepalive = seconds(defaults.grpcLimits.keepaliveInterval)
    @Option(help: "Seconds a keepalive ping waits for its answer before the connection is closed as dead.")
    var grpcKeepaliveTimeout = seconds(defaults.grpcLimits.keepaliveTimeout)
    @Option(help: "Shortest interval in seconds between a client's pings without data; a faster ping is a strike.")
    var grpcMinPingInterval = seconds(defaults.grpcLimits.minPingInterval)
    @Option(help: "Ping strikes after which a gRPC connection is closed (GOAWAY too_many_pings; 0 = never).")
    var grpcMaxPingStrikes = defaults.grpcLimits.maxPingStrikes
    @Option(help: "Seconds a graceful stop waits for requests in flight.")
    var drainTimeout = defaults.drainTimeoutSeconds
    @Option(
        help: "File of API keys (one per line, '#' comments); when set, inference needs 'Authorization: Bearer <key>'.",
        completion: .file())
    var apiKeyFile: String?
    @Option(
        help: "What the API keys protect: 'inference' (predict and V2 infer; health and metrics stay open) or 'all'.",
        completion: .list(["inference", "all"]))
    var authScope = "inference"
    @Flag(
        help: "Let SIGHUP replace a model by a file with other labels or another dataset (refused by default).")
    var reloadAllowChanges = defaults.allowsModelContractChanges
    @Flag(
        inversion: .prefixedNo, help: "Per-model drift metrics (uncertainty histograms, per-class and flag counters).")
    var driftMetrics = defaults.recordsDriftMetrics
    @Flag(
        inversion: .prefixedNo,
        help: """
            Let a single-input request run half its passes on an idle worker (same answer bytes either way; off by \
            default: measured slower on 2 cores, BENCHMARKS.md).
            """)
    var splitPasses = defaults.splitsPasses
    @Option(
        help: ArgumentHelp(
            "Ask Linux to keep idle CPUs' wake-up latency within this many microseconds while serving (0 = poll).",
            discussion: """
                Held through /dev/cpu_dma_latency (needs root; otherwise a warning and no request) and dropped on \
                exit. System-wide: idle CPUs spin instead of sleeping, which lowers one-connection latency on quiet \
                machines and VMs at the price of their idle time (BENCHMARKS.md). Off by default.
                """))
    var cpuLatencyLimit: Int?
    @Option(
        help: "Log level: trace, debug, info, notice, warning, error or critical.",
        completion: .list(["trace", "debug", "info", "notice", "warning", "error", "critical"]))
    var logLevel = "info"

    static func main() {
        do {
            var command = try parseAsRoot(
                EnvironmentOptions.apply(to: Array(CommandLine.arguments.dropFirst()), of: ServeCommand.self))
            try command.run()
        } catch {
            exit(withError: error)
        }
    }

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level '\(logLevel)' is unknown")
        }
        guard authScope == "inference" || authScope == "all" else {
            throw ValidationError("--auth-scope must be 'inference' or 'all', not '\(authScope)'")
        }
        guard GRPCPortSetting(grpcPort) != nil else {
            throw ValidationError("--grpc-port must be 'auto', 'off' or a port from 0 to 65535, not '\(grpcPort)'")
        }
        guard threads >= 1, maxQueued >= 0, defaultSamples >= 1, maxSamples >= defaultSamples, maxBatch >= 1,
            maxBodyBytes >= 1
        else {
            throw ValidationError(
                "--threads, --max-batch and --max-body-bytes must be ≥ 1 and --default-samples ≤ --max-samples")
        }
        // The core takes milliseconds as a 32-bit int.
        let grpcTimeouts = [
            grpcHandshakeTimeout, grpcIdleTimeout, grpcReceiveTimeout, grpcKeepalive, grpcKeepaliveTimeout,
            grpcMinPingInterval,
        ]
        guard grpcTimeouts.allSatisfy({ (0...2_147_483).contains($0) }), grpcHandshakeTimeout >= 1,
            grpcKeepaliveTimeout >= 1, grpcMaxConcurrentStreams >= 1, grpcMaxPingStrikes >= 0
        else {
            throw ValidationError(
                "--grpc-max-concurrent-streams, --grpc-handshake-timeout and --grpc-keepalive-timeout must be ≥ 1, "
                    + "--grpc-max-ping-strikes ≥ 0, the other --grpc-* timeouts ≥ 0 (0: none), all below 2147483 s")
        }
        if let cpuLatencyLimit, !CPULatencyRequest.limits.contains(cpuLatencyLimit) {
            throw ValidationError("--cpu-latency-limit must be \(CPULatencyRequest.limits) µs, not \(cpuLatencyLimit)")
        }
        guard maxBufferedBodyBytes >= maxBodyBytes else {
            throw ValidationError(
                "--max-buffered-body-bytes (\(maxBufferedBodyBytes)) must be ≥ --max-body-bytes (\(maxBodyBytes))")
        }
    }

    func run() throws {
        // Before any thread exists, so every thread inherits the mask and no signal can be lost or kill us early.
        let signals = BlockedSignals([SIGHUP, SIGTERM, SIGINT])
        // A peer that goes away must cost a failed write (EPIPE), never the process: libmicrohttpd suppresses
        // SIGPIPE on its own sends, but a closed stdout or stderr pipe (a log collector restarting) would still kill
        // us with the default action. Servers ignore it for that reason (nginx does).
        signal(SIGPIPE, SIG_IGN)
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "mcdropout")
        var configuration = ServerConfiguration()
        configuration.transport.host = host
        configuration.transport.port = port
        configuration.grpcPort = GRPCPortSetting(grpcPort) ?? .automatic  // checked in validate()
        configuration.modelPaths = models
        configuration.transport.workerThreadCount = threads
        configuration.transport.maxQueuedRequests = maxQueued
        configuration.transport.overloadedResponseDelay = .milliseconds(overloadHoldMs)
        configuration.transport.maxOverloadedResponsesPerSecond = overloadMaxRate
        configuration.defaultSamples = defaultSamples
        configuration.maxSamples = maxSamples
        configuration.maxBatchSize = maxBatch
        configuration.maxTotalPasses = maxTotalPasses
        configuration.transport.maxBodyBytes = maxBodyBytes
        configuration.transport.maxBufferedBodyBytes = maxBufferedBodyBytes
        configuration.transport.connectionTimeoutSeconds = connectionTimeout
        configuration.transport.connectionLimit = maxConnections
        configuration.transport.perIPConnectionLimit = maxConnectionsPerIp
        configuration.grpcLimits = GRPCConnectionLimits(
            maxConcurrentStreams: grpcMaxConcurrentStreams, handshakeTimeout: .seconds(grpcHandshakeTimeout),
            idleTimeout: .seconds(grpcIdleTimeout), receiveTimeout: .seconds(grpcReceiveTimeout),
            keepaliveInterval: .seconds(grpcKeepalive), keepaliveTimeout: .seconds(grpcKeepaliveTimeout),
            minPingInterval: .seconds(grpcMinPingInterval), maxPingStrikes: grpcMaxPingStrikes)
        configuration.drainTimeoutSeconds = drainTimeout
        configuration.allowsModelContractChanges = reloadAllowChanges
        configuration.recordsDriftMetrics = driftMetrics
        configuration.splitsPasses = splitPasses
        configuration.cpuLatencyLimitMicroseconds = cpuLatencyLimit
        if let apiKeyFile {
            do {
                configuration.apiKeys = try Server.readAPIKeys(path: apiKeyFile)
            } catch {
                logger.critical("cannot read the API key file", metadata: ["reason": "\(error)"])
                throw ExitCode.failure
            }
            configuration.requiresKeyForAllRoutes = authScope == "all"
        }

        let server: Server
        do {
            server = try Server.start(configuration: configuration, logger: logger)
        } catch {
            logger.critical("cannot start", metadata: ["reason": "\(error)"])
            throw ExitCode.failure
        }
        let address = host.contains(":") ? "[\(host)]" : host
        // The HTTP line first: scripts and tests read the HTTP port from the first line.
        print("mcdropout-serve listening on http://\(address):\(server.port)")
        if let grpcPort = server.grpcPort { print("mcdropout-serve gRPC (KServe V2) on \(address):\(grpcPort)") }
        fflush(nil)

        let drainTimeout = configuration.drainTimeoutSeconds
        while true {
            switch signals.next() {
            case SIGHUP:
                _ = server.reload()
            default:
                server.shutdown(drainTimeout: .seconds(drainTimeout))
                return
            }
        }
    }
}

/// Whole seconds of a default, as an option shows it.
private func seconds(_ duration: Duration) -> Int { Int(duration.components.seconds) }

/// POSIX signals taken synchronously with `sigwait`.
///
/// The signals are blocked in the creating thread, and every thread started afterwards inherits the mask, so a signal
/// that arrives at any moment after `init` stays pending until `next()` takes it. (Dispatch signal sources were used
/// before: they arm asynchronously, and a SIGTERM sent right after start-up was discarded by `SIG_IGN`.)
///
/// Threads that libraries start before `main` runs do not inherit the mask: OpenBLAS's thread pool is one. The
/// kernel hands a process-wide signal to any thread that does not block it, so while the main thread is busy (say,
/// reloading models) a SIGHUP could reach such a thread and, with the default action, kill the process; a burst of
/// SIGHUPs did exactly that. A handler therefore catches the signals in those threads and forwards each to the
/// waiting thread with `pthread_kill`, where it stays pending until `next()`.
struct BlockedSignals {
    private var set = sigset_t()
    /// The thread that calls `next()`; written once in `init`, before the handler that reads it is installed.
    nonisolated(unsafe) private static var waitingThread = pthread_t()

    init(_ numbers: [Int32]) {
        sigemptyset(&set)
        for number in numbers { sigaddset(&set, number) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        Self.waitingThread = pthread_self()
        var action = sigaction()
        // Runs only in threads that do not block the signal; pthread_kill is async-signal-safe.
        action.__sigaction_handler.sa_handler = { number in _ = pthread_kill(BlockedSignals.waitingThread, number) }
        action.sa_flags = SA_RESTART
        sigfillset(&action.sa_mask)
        for number in numbers { sigaction(number, &action, nil) }
    }

    /// Waits for the next of the signals and returns its number.
    func next() -> Int32 {
        var set = self.set
        var number: Int32 = 0
        while sigwait(&set, &number) != 0 {}
        return number
    }
}
