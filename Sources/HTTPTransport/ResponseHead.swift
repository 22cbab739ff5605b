internal import Logging

/// A handler's response made ready for libmicrohttpd: the status checked, the header fields checked and packed as
/// `name\0value\0name\0value\0…` (what `mcd_queue_response` takes), and `Connection: close` added while draining.
///
/// Pure Swift, so the rules of `HTTPResponse` (invalid status → 500 without headers or body, framing headers dropped,
/// fields that are not a token or carry CR, LF or NUL dropped) are testable without a socket.
struct ResponseHead {
    /// The status to send, within 200...599.
    var status: Int
    /// The accepted header fields, packed.
    var packedHeaders: [UInt8]
    /// How many fields `packedHeaders` holds.
    var headerCount: Int
    /// The body to send (emptied along with the headers when the status was invalid).
    var body: [UInt8]

    /// Checks and packs `response`; `closesConnection` adds `Connection: close` (the daemon is draining). Logs what it
    /// replaces or drops.
    init(_ response: HTTPResponse, closesConnection: Bool, logger: Logger) {
        var status = response.status
        var headers = response.headers
        var body = response.body
        if !(200...599).contains(status) {
            logger.error("handler returned an invalid status code; sending 500", metadata: ["status": "\(status)"])
            (status, headers, body) = (500, [], [])
        }
        var headerBlock: [UInt8] = []
        var headerCount = 0
        for header in headers {
            let name = Array(header.name.utf8)
            let value = Array(header.value.utf8)
            let lowercasedName = name.map(ASCII.lowercased)
            if lowercasedName == Array("content-length".utf8) || lowercasedName == Array("transfer-encoding".utf8) {
                continue
            }
            guard !name.isEmpty, name.allSatisfy(ASCII.isTokenCharacter), !value.isEmpty,
                !value.contains(where: { $0 == 0 || $0 == 10 || $0 == 13 })
            else {
                logger.warning("dropping invalid response header", metadata: ["name": "\(header.name)"])
                continue
            }
            headerBlock += name + [0] + value + [0]
            headerCount += 1
        }
        if closesConnection {
            headerBlock += Array("Connection\u{0}close\u{0}".utf8)
            headerCount += 1
        }
        self.status = status
        self.packedHeaders = headerBlock
        self.headerCount = headerCount
        self.body = body
    }
}

/// Byte-level helpers for the ASCII parts of HTTP.
enum ASCII {
    /// `byte` with A-Z lowercased.
    static func lowercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
    }

    /// RFC 9110 `tchar`.
    static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }

    /// The value of a `Content-Length` field as a byte count: surrounding spaces and tabs ignored, the rest digits
    /// only (RFC 9110's `1*DIGIT`: no sign, which `UInt64.init(_:)` alone would accept) that fit 64 bits; else `nil`.
    static func contentLength(_ field: String) -> UInt64? {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = field.firstIndex(where: { !isBlank($0) }), let last = field.lastIndex(where: { !isBlank($0) })
        else {
            return nil
        }
        let digits = field[first...last]
        guard digits.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
        return UInt64(digits)
    }
}
