/// Why a `MicroHTTPDaemon` could not start.
public enum DaemonError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The host is not a numeric IPv4 or IPv6 address.
    case invalidAddress(String)
    /// A numeric setting is outside the range libmicrohttpd accepts (`requirement` reads like "1...1024").
    case invalidConfiguration(setting: String, value: Int, requirement: String)
    /// libmicrohttpd refused to start, for example because the port is taken; `reason` is what it logged.
    case startFailed(host: String, port: Int, reason: String)

    public var description: String {
        switch self {
        case .invalidAddress(let host):
            "invalid listen address \"\(host)\": expected a numeric IPv4 or IPv6 address such as 127.0.0.1 or ::1"
        case .invalidConfiguration(let setting, let value, let requirement):
            "invalid daemon configuration: \(setting) is \(value), expected \(requirement)"
        case .startFailed(let host, let port, let reason):
            "cannot start HTTP daemon on \(host) port \(port): \(reason)"
        }
    }
}
