// swift-tools-version:6.1
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "mcdropout",
    products: [
        .executable(name: "mcdropout-train", targets: ["mcdropout-train"]),
        .executable(name: "mcdropout-serve", targets: ["mcdropout-serve"]),
        .executable(name: "mcdropout-bench", targets: ["mcdropout-bench"]),
        .executable(name: "mcdropout-eval", targets: ["mcdropout-eval"]),
        .library(name: "MCDropout", targets: ["MCDropout"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // OpenBLAS through its pkg-config file ("openblas"; Debian's generic "blas" .pc lacks openblas_* symbols).
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        // zlib, to read gzip-compressed IDX data sets.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // libmicrohttpd plus thin prefixed wrappers for its C-variadic entry points.
        .target(
            name: "CMicroHTTPD",
            linkerSettings: [.linkedLibrary("microhttpd")]
        ),
        // The gRPC C core (Debian's libgrpc-dev) behind a few prefixed functions that run unary calls; see CGRPC.h.
        .target(
            name: "CGRPC",
            linkerSettings: [.linkedLibrary("grpc"), .linkedLibrary("gpr")]
        ),
        // mcdropout's own vector kernels (C, so that AVX-512 / AVX2 variants can be chosen at run time from a build
        // for baseline x86-64); MCDropout's RowKernels.swift is their only caller.
        .target(name: "CKernels"),
        // Minimal, Foundation-free JSON reader/writer shared by the model codec and the server.
        .target(name: "MCDropoutJSON", swiftSettings: strictSettings),
        // The numeric core: no Foundation, no I/O.
        .target(
            name: "MCDropout", dependencies: ["CBLAS", "CKernels", "MCDropoutJSON"], swiftSettings: strictSettings
        ),
        // Labelled image data sets: IDX parsing, gzip (the only importer of CZlib), the known data sets' names.
        .target(name: "MCDropoutData", dependencies: ["CZlib"], swiftSettings: strictSettings),
        .target(
            name: "MCDropoutTraining",
            dependencies: ["MCDropout", "MCDropoutJSON", "MCDropoutData", "MCDropoutEvaluation"],
            swiftSettings: strictSettings
        ),
        // Evaluation: the one prediction loop over a labelled set, the metrics (calibration, OOD detection, selective
        // prediction; pure functions), the Codable result files, the report and its figures. mcdropout-eval fronts it.
        .target(
            name: "MCDropoutEvaluation", dependencies: ["MCDropout", "MCDropoutData"],
            swiftSettings: strictSettings
        ),
        // A general HTTP/1.1 server over libmicrohttpd: the daemon, request/response values, body limits, worker pool.
        // Knows nothing of dropout; the only importer of CMicroHTTPD.
        .target(
            name: "HTTPTransport",
            dependencies: ["CMicroHTTPD", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        // A unary gRPC server over the C core plus the protobuf wire format; knows nothing of inference. The only
        // importer of CGRPC.
        .target(
            name: "GRPCTransport",
            dependencies: ["CGRPC", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        .target(
            name: "InferenceServer",
            dependencies: [
                "MCDropout", "MCDropoutJSON", "HTTPTransport", "GRPCTransport",
                .product(name: "Logging", package: "swift-log"),
            ],
            // Resources/ (the OpenAPI document, the demo page) and examples/*.json are compiled in by EmbedResources.
            exclude: ["Resources"],
            swiftSettings: strictSettings,
            plugins: ["EmbedResources"]
        ),
        // Build-time embedding of text files as Swift string literals (no Bundle, no files beside the binary). Both
        // live under Sources/ so that a build context holding Package.swift and Sources/ (deploy/Dockerfile) has them.
        .executableTarget(name: "EmbedResourcesTool"),
        .plugin(
            name: "EmbedResources", capability: .buildTool(), dependencies: ["EmbedResourcesTool"],
            path: "Sources/EmbedResources"),
        // The options train and eval share (threads, data directory, seed) and safe output files (--force).
        .target(
            name: "MCDropoutCommandLine",
            dependencies: ["MCDropout", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "mcdropout-train",
            dependencies: [
                "MCDropout", "MCDropoutCommandLine", "MCDropoutData", "MCDropoutEvaluation", "MCDropoutTraining",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "mcdropout-serve",
            dependencies: [
                "InferenceServer", "HTTPTransport", "GRPCTransport", "MCDropout",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "mcdropout-bench",
            dependencies: [
                "MCDropout", "MCDropoutCommandLine", "MCDropoutData", "InferenceServer", "HTTPTransport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // libFuzzer harness over request decoding and validation; see scripts/reliability/fuzz.sh. A normal build
        // replays files.
        .executableTarget(
            name: "mcdropout-fuzz",
            dependencies: [
                "InferenceServer", "HTTPTransport", "MCDropout", "MCDropoutJSON",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "mcdropout-eval",
            dependencies: [
                "MCDropout", "MCDropoutCommandLine", "MCDropoutJSON", "MCDropoutData", "MCDropoutTraining",
                "MCDropoutEvaluation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "MCDropoutEvaluationTests",
            dependencies: ["MCDropoutEvaluation", "MCDropout", "MCDropoutData", "TestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "GRPCTransportTests", dependencies: ["GRPCTransport"], swiftSettings: strictSettings),
        .testTarget(name: "MCDropoutJSONTests", dependencies: ["MCDropoutJSON"], swiftSettings: strictSettings),
        // Child processes for tests, with file-backed output (see ChildProcess for why not Pipe).
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: strictSettings),
        .testTarget(name: "MCDropoutTests", dependencies: ["MCDropout", "TestSupport"], swiftSettings: strictSettings),
        .testTarget(name: "MCDropoutDataTests", dependencies: ["MCDropoutData"], swiftSettings: strictSettings),
        .testTarget(
            name: "MCDropoutTrainingTests",
            dependencies: ["MCDropoutTraining", "MCDropoutData", "MCDropoutEvaluation", "MCDropout", "TestSupport"],
            swiftSettings: strictSettings
        ),
        // mcdropout-serve's option table (flags, defaults, MCDROPOUT_* variables), tested in process.
        .testTarget(
            name: "ServeCommandTests",
            dependencies: ["mcdropout-serve", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "InferenceServerTests",
            dependencies: [
                "InferenceServer", "HTTPTransport", "GRPCTransport", "MCDropout", "MCDropoutJSON", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
    ]
)
