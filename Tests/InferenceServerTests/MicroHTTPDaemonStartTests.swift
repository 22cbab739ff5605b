// Live tests: a real daemon on a kernel-chosen loopback port, driven by raw sockets.
// Timeouts are generous and no test asserts how fast anything is: the machine may be shared and loaded.
import Glibc
import HTTPTransport
import Testing

@Suite("MicroHTTPDaemon start-up errors")
struct MicroHTTPDaemonStartTests {
    @Test(
        "host names and malformed addresses are refused before binding", arguments: ["localhost", "1.2.3", "::g", ""])
    func invalidAddress(host: String) {
        var configuration = DaemonConfiguration.testing()
        configuration.host = host
        #expect(throws: DaemonError.invalidAddress(host)) {
            _ = try MicroHTTPDaemon(configuration: configuration, handler: RecordingHandler())
        }
    }

    @Test("out-of-range settings are refused with the setting's name")
    func invalidConfiguration() {
        var configuration = DaemonConfiguration.testing()
        configuration.ioThreadCount = 0
        #expect(throws: DaemonError.invalidConfiguration(setting: "ioThreadCount", value: 0, requirement: "1...1024")) {
            _ = try MicroHTTPDaemon(configuration: configuration, handler: RecordingHandler())
        }
        configuration = .testing()
        configuration.port = 70_000
        #expect(throws: DaemonError.invalidConfiguration(setting: "port", value: 70_000, requirement: "0...65535")) {
            _ = try MicroHTTPDaemon(configuration: configuration, handler: RecordingHandler())
        }
    }

    @Test("a port already in use gives startFailed with libmicrohttpd's reason")
    func portInUse() throws {
        let first = try MicroHTTPDaemon(configuration: .testing(), handler: RecordingHandler())
        defer { first.stop() }
        var configuration = DaemonConfiguration.testing()
        configuration.port = first.port
        do {
            _ = try MicroHTTPDaemon(configuration: configuration, handler: RecordingHandler())
            Issue.record("a second daemon started on the same port")
        } catch {
            guard case .startFailed(let host, let port, let reason) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(host == "127.0.0.1")
            #expect(port == first.port)
            #expect(!reason.isEmpty)
            #expect(error.description.contains("\(first.port)"))
        }
    }
}

/// Whether this machine can bind the IPv6 loopback address (containers sometimes disable IPv6).
func isIPv6LoopbackAvailable() -> Bool {
    let socket = Glibc.socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
    guard socket >= 0 else {
        return false
    }
    defer { close(socket) }
    var address = sockaddr_in6()
    address.sin6_family = sa_family_t(AF_INET6)
    address.sin6_addr = in6addr_loopback
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0
        }
    }
}
