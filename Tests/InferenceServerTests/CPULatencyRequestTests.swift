import Foundation
import InferenceServer
import Testing

@Suite("CPU latency request (PM QoS)")
struct CPULatencyRequestTests {
    /// The 32-bit value at the start of `path` (what the request wrote; the PM QoS device reads back the aggregate).
    static func value(at path: String) -> Int32? {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var value: Int32 = 0
        let count = withUnsafeMutableBytes(of: &value) { read(descriptor, $0.baseAddress, 4) }
        return count == 4 ? value : nil
    }

    @Test("the request writes the limit as a binary 32-bit integer and is withdrawn once")
    func writesTheLimit() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("qos-\(UUID().uuidString)").path
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let request = try CPULatencyRequest(microseconds: 25, path: path)
        #expect(request.microseconds == 25)
        #expect(Self.value(at: path) == 25)
        request.release()
        request.release()  // idempotent
    }

    @Test("a missing device or an impossible limit is a typed error")
    func errors() {
        #expect(throws: CPULatencyRequestError.unavailable(path: "/nonexistent/qos", errno: ENOENT)) {
            try CPULatencyRequest(microseconds: 0, path: "/nonexistent/qos")
        }
        #expect(throws: CPULatencyRequestError.invalidLimit(-1)) { try CPULatencyRequest(microseconds: -1) }
        #expect(
            CPULatencyRequestError.unavailable(path: "/x", errno: EACCES).description.contains("Permission denied"))
    }

    @Test("on the real device the kernel takes the request while it is held (where the device is writable)")
    func realDevice() throws {
        guard access(CPULatencyRequest.devicePath, W_OK) == 0 else { return }  // not root: nothing to check here
        // A tight limit would make this machine's idle CPUs spin for the test's length; 2 µs is tight enough to be
        // the aggregate (nothing else on a test machine asks for less than the default) and short-lived.
        let request = try CPULatencyRequest(microseconds: 2)
        defer { request.release() }
        let aggregate = try #require(Self.value(at: CPULatencyRequest.devicePath))
        #expect(aggregate <= 2)
    }

    @Test("the server holds the request while serving, and serves without it when it cannot be made")
    func server() throws {
        let model = try writeSyntheticModel()
        // The largest limit constrains nothing, so the test does not change this machine's behaviour.
        let held = try startServer(paths: [model]) { $0.cpuLatencyLimitMicroseconds = 2_000_000_000 }
        #expect(held.holdsCPULatencyRequest == (access(CPULatencyRequest.devicePath, W_OK) == 0))
        held.shutdown(drainTimeout: .seconds(1))
        let refused = try startServer(paths: [model]) { $0.cpuLatencyLimitMicroseconds = -5 }
        defer { refused.shutdown(drainTimeout: .seconds(1)) }
        #expect(!refused.holdsCPULatencyRequest)
        let connection = try RawHTTPConnection(port: refused.port)
        #expect(try connection.request(method: "GET", target: "/health").status == 200)
    }
}
