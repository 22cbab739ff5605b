import ArgumentParser
import Foundation

/// Reads an input file named on the command line; a failure is one line naming the path ("m.safetensors: no such
/// file"), never Foundation's error domain and user-info dump.
public enum InputFile {
    /// The bytes of `path`.
    public static func bytes(_ path: String) throws -> [UInt8] {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ValidationError("\(path): no such file")
        }
        guard !isDirectory.boolValue else { throw ValidationError("\(path): is a directory, not a file") }
        do {
            return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw ValidationError("\(path): cannot read the file (\(OutputFile.reason(error)))")
        }
    }

    /// The text of `path`, which must be UTF-8.
    public static func text(_ path: String) throws -> String {
        let bytes = try bytes(path)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ValidationError("\(path): not UTF-8 text")
        }
        return text
    }
}
