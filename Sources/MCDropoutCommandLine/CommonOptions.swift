public import ArgumentParser
import MCDropout

/// `--threads`: the OpenBLAS thread count, shared by `mcdropout-train` and `mcdropout-eval`.
///
/// (`mcdropout-bench --threads` is a comma-separated list of counts to compare, so it keeps its own option.)
public struct ThreadOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "OpenBLAS threads.")
    public var threads: Int = 1

    public init() {}

    public func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be ≥ 1") }
    }

    /// Sets the OpenBLAS thread count.
    public func apply() { BLAS.setThreadCount(threads) }
}

/// `--data-dir`: a directory of IDX files, defaulting to `data/<data set>`.
public struct DataDirectoryOptions: ParsableArguments {
    @Option(
        help: "Directory holding {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (default data/<dataset>).",
        completion: .directory)
    public var dataDir: String?

    public init() {}

    /// The directory for `dataset`: `--data-dir` when given, else `data/<dataset>`.
    public func directory(for dataset: String) -> String { dataDir ?? "data/\(dataset)" }
}

/// A command's default seed and what its seed chooses.
public protocol SeedDefault {
    static var seed: UInt64 { get }
    static var help: String { get }
}

/// `--seed`, with the command's own default and meaning; below 2^53 so that JSON keeps it exact.
public struct SeedOptions<Default: SeedDefault>: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp(Default.help))
    public var seed: UInt64 = Default.seed

    public init() {}

    public func validate() throws {
        guard seed < 1 << 53 else { throw ValidationError("--seed must be below 2^53 so JSON keeps it exact") }
    }
}
