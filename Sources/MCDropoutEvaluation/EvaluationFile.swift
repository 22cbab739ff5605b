import Foundation

/// Why an evaluation result file could not be read or written; each case names the file.
public enum EvaluationFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file does not exist.
    case noSuchFile(path: String)
    /// The file exists but could not be read or written.
    case unreadable(path: String, reason: String)
    /// The JSON does not match the schema (``EvaluationReport``); `reason` names the key.
    case invalid(path: String, reason: String)

    public var description: String {
        switch self {
        case .noSuchFile(let path): return "\(path): no such file"
        case .unreadable(let path, let reason): return "\(path): \(reason)"
        case .invalid(let path, let reason): return "\(path): not an evaluation result: \(reason)"
        }
    }
}

/// Reading and writing the JSON forms of the result types: sorted keys, so the same result gives the same bytes.
enum EvaluationJSON {
    static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    static func decode<T: Decodable>(_ type: T.Type, from path: String) throws(EvaluationFileError) -> T {
        guard FileManager.default.fileExists(atPath: path) else { throw .noSuchFile(path: path) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadable(path: path, reason: "cannot read the file")
        }
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw .invalid(path: path, reason: describe(error))
        } catch {
            throw .invalid(path: path, reason: "\(error)")
        }
    }

    /// A decoding error as one line: the key path and what was wrong.
    static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context.codingPath + [key])) is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            let at = path(context.codingPath)
            return (at.isEmpty ? "" : "\(at): ") + context.debugDescription
        @unknown default: return "\(error)"
        }
    }
}

/// A result file: a Codable value written as sorted-key JSON and read back with errors that name the key.
public protocol ResultFile: Codable {}

extension ResultFile {
    /// Reads a result written by ``encoded()`` (or by an earlier `mcdropout-eval`).
    public init(contentsOf path: String) throws(EvaluationFileError) {
        self = try EvaluationJSON.decode(Self.self, from: path)
    }

    /// The JSON bytes of the result.
    public func encoded() throws -> [UInt8] { [UInt8](try EvaluationJSON.encode(self)) }
}

extension EvaluationReport: ResultFile {}
extension TrainingExperiment: ResultFile {}
extension ScalingExperiment: ResultFile {}
