public import ArgumentParser
import Foundation

/// `--force`: allow replacing an existing output file.
public struct ForceOptions: ParsableArguments {
    @Flag(help: "Replace output files that already exist.")
    public var force = false

    public init() {}
}

/// Checks an output path before any long work: not a directory, its folder writable (created when missing), and no
/// existing file replaced without `--force`. Every failure is one line naming the path.
public enum OutputFile {
    /// Validates `path`; creates its folder when missing.
    public static func check(_ path: String, force: Bool) throws {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard !isDirectory.boolValue else { throw ValidationError("\(path): is a directory, not a file") }
            guard force else {
                throw ValidationError("\(path) exists; pass --force to replace it, or choose another --output")
            }
            guard manager.isWritableFile(atPath: path) else { throw ValidationError("\(path): permission denied") }
            return
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        if !manager.fileExists(atPath: folder, isDirectory: &isDirectory) {
            do {
                try manager.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw ValidationError("\(folder): cannot create the folder (\(reason(error)))")
            }
        } else if !isDirectory.boolValue {
            throw ValidationError("\(folder): not a directory")
        }
        guard manager.isWritableFile(atPath: folder) else { throw ValidationError("\(folder): permission denied") }
    }

    /// Writes `bytes` to `path` atomically; a failure is one line naming the path.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ValidationError("\(path): cannot write (\(reason(error)))")
        }
    }

    /// The underlying reason of a Foundation error ("Is a directory", "Permission denied"), without its domain and
    /// code.
    static func reason(_ error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError {
            return underlying.localizedDescription
        }
        return nsError.localizedDescription
    }
}
