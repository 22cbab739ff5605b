public import Foundation

/// A child process whose standard output and error go to temporary files, with a deadline.
///
/// Why files and not `Pipe`: corelibs Foundation can close a pipe's descriptors twice under concurrency
/// (swiftlang/swift#57827). Every test target runs in one process, so a descriptor number reused meanwhile by a
/// live-server test's socket could be closed under libmicrohttpd ("Close socket failed", then an abort). File handles
/// that we open and close ourselves cannot do that. The deadline turns a child that never exits into a failure
/// instead of a hung suite.
public final class ChildProcess {
    public let process = Process()
    private let outputPath: String
    private let errorPath: String
    private let output: FileHandle
    private let error: FileHandle

    /// Where the child's standard error goes.
    public enum ErrorSink: Sendable {
        /// A temporary file, readable through ``standardError``.
        case file
        /// A pipe whose reading end is already closed, so every write fails with EPIPE (and raises SIGPIPE), as when
        /// a log collector goes away.
        case closedPipe
    }

    /// Starts `executable` with `arguments`; `environment` replaces the inherited one when given.
    public init(
        _ executable: URL, _ arguments: [String], environment: [String: String]? = nil, errorSink: ErrorSink = .file
    ) throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("mcdropout-child-\(UUID().uuidString)")
        outputPath = base.path + ".out"
        errorPath = base.path + ".err"
        for path in [outputPath, errorPath] {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw CocoaError(.fileWriteUnknown)
            }
        }
        output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        error = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        var brokenPipe: [Int32] = [-1, -1]
        switch errorSink {
        case .file:
            process.standardError = error
        case .closedPipe:
            guard pipe(&brokenPipe) == 0 else {
                closeFiles()
                throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            }
            _ = close(brokenPipe[0])
            // Our descriptor, closed once by us below (not a `Pipe`: see the type's comment).
            process.standardError = FileHandle(fileDescriptor: brokenPipe[1], closeOnDealloc: false)
        }
        defer { if brokenPipe[1] >= 0 { _ = close(brokenPipe[1]) } }
        do {
            try process.run()
        } catch {
            closeFiles()
            throw error
        }
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        closeFiles()
        try? FileManager.default.removeItem(atPath: outputPath)
        try? FileManager.default.removeItem(atPath: errorPath)
    }

    private func closeFiles() {
        try? output.close()
        try? error.close()
    }

    /// What the child has written to standard output so far.
    public var standardOutput: [UInt8] { [UInt8](FileManager.default.contents(atPath: outputPath) ?? Data()) }

    /// What the child has written to standard error so far, as text.
    public var standardError: String {
        String(decoding: FileManager.default.contents(atPath: errorPath) ?? Data(), as: UTF8.self)
    }

    /// Sends `signal` to the child.
    public func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits up to `timeout` for the child to exit; a child still running then is killed and `false` returned.
    public func exits(within timeout: Duration = .seconds(60)) -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while process.isRunning && ContinuousClock.now < deadline { Self.sleep(milliseconds: 5) }
        let exited = !process.isRunning
        if !exited { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return exited
    }

    /// Waits up to `timeout` for standard output to contain a whole line, and returns that first line (without the
    /// newline); `nil` when the child exits or the time runs out first.
    public func firstLine(within timeout: Duration = .seconds(60)) -> String? {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            // Sampled before reading: if the child had already exited, what we read is all it will ever write.
            let running = process.isRunning
            let bytes = standardOutput
            if let end = bytes.firstIndex(of: UInt8(ascii: "\n")) {
                return String(decoding: bytes[..<end], as: UTF8.self)
            }
            if !running { return nil }
            Self.sleep(milliseconds: 2)
        }
        return nil
    }

    /// The exit status (only meaningful after ``exits(within:)`` returned `true`).
    public var status: Int32 { process.terminationStatus }

    /// Whether the child ended by `exit` (not by a signal).
    public var exitedNormally: Bool { process.terminationReason == .exit }

    private static func sleep(milliseconds: Int) {
        var interval = timespec(tv_sec: 0, tv_nsec: milliseconds * 1_000_000)
        _ = nanosleep(&interval, nil)
    }
}
