import Foundation
import HTTPTransport

/// Bearer-token authentication (`Authorization: Bearer <key>`) against a fixed set of API keys.
///
/// Keys are compared in constant time: the work done depends only on the length of each configured key, never on
/// how many leading bytes of a guess are right, so response timing reveals nothing about a key's content. Every
/// configured key is compared on every request (no early exit on a match), so timing does not reveal which key
/// matched either.
struct Authenticator: Sendable {
    /// The accepted keys; empty means authentication is off.
    let keys: [[UInt8]]
    /// Whether health, metrics and metadata routes need a key too (inference routes always do when keys are set).
    let coversAllRoutes: Bool

    init(keys: [String], coversAllRoutes: Bool) {
        self.keys = keys.map { Array($0.utf8) }
        self.coversAllRoutes = coversAllRoutes && !keys.isEmpty
    }

    /// Whether any key is configured.
    var isEnabled: Bool { !keys.isEmpty }

    /// Passes when authentication is off or the request carries one of the keys; throws 401 otherwise.
    func authenticate(_ request: HTTPRequest) throws(HTTPError) {
        try authenticate(authorization: request.header("authorization"))
    }

    /// Checks an `Authorization` header's (or gRPC `authorization` metadata's) value, as ``authenticate(_:)``.
    func authenticate(authorization: String?) throws(HTTPError) {
        guard isEnabled else { return }
        guard let authorization else {
            throw .unauthorized("missing API key; send 'Authorization: Bearer <key>'")
        }
        let bytes = Array(authorization.utf8)
        let scheme = Array("bearer ".utf8)
        guard bytes.count > scheme.count,
            zip(bytes.prefix(scheme.count), scheme).allSatisfy({ ($0 | 0x20) == $1 })
        else {
            throw .unauthorized("the Authorization header must use the Bearer scheme")
        }
        let token = bytes.dropFirst(scheme.count).drop { $0 == UInt8(ascii: " ") }
        var matched = false
        for key in keys {
            matched = constantTimeEquals(token, key) || matched
        }
        guard matched else {
            var error = HTTPError.unauthorized("invalid API key")
            error.headers = [HTTPError.Header(name: "WWW-Authenticate", value: #"Bearer error="invalid_token""#)]
            throw error
        }
    }

    /// Reads an API key file: one key per line; blank lines and lines starting with '#' are ignored, surrounding
    /// whitespace is trimmed. Throws if the file cannot be read or holds no key.
    static func readKeys(path: String) throws -> [String] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let keys = text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard !keys.isEmpty else {
            throw ConfigurationError("the API key file \(path) holds no key")
        }
        for key in keys where key.utf8.count < 16 || key.contains(where: \.isWhitespace) {
            throw ConfigurationError("API keys must be at least 16 characters without whitespace (\(path))")
        }
        return keys
    }
}

/// A configuration file or value that cannot be used.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Whether `guess` equals `key`, in time that depends only on `key.count`.
///
/// The length difference is folded into the result instead of returning early, and `guess` is indexed modulo its
/// own length so that the loop always runs `key.count` times.
func constantTimeEquals(_ guess: some Collection<UInt8>, _ key: [UInt8]) -> Bool {
    let guessBytes = Array(guess)
    var difference = UInt(bitPattern: guessBytes.count ^ key.count)
    if guessBytes.isEmpty {
        difference |= 1
    }
    for index in key.indices {
        let other = guessBytes.isEmpty ? 0 : guessBytes[index % guessBytes.count]
        difference |= UInt(other ^ key[index])
    }
    return difference == 0
}

extension Server {
    /// Reads the API keys of `--api-key-file` (see ``Authenticator``): one per line, '#' comments, ≥ 16 characters.
    public static func readAPIKeys(path: String) throws -> [String] { try Authenticator.readKeys(path: path) }
}
