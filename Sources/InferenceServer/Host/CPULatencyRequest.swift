import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Why a ``CPULatencyRequest`` could not be made.
public enum CPULatencyRequestError: Error, Equatable, CustomStringConvertible {
    /// The PM QoS device could not be opened or written (`errno`; no such device, or not root).
    case unavailable(path: String, errno: Int32)
    /// The limit is not a wake-up latency the kernel accepts (``CPULatencyRequest/limits``).
    case invalidLimit(Int)

    public var description: String {
        switch self {
        case .unavailable(let path, let code):
            return "cannot hold a CPU latency request on \(path): \(String(cString: strerror(code)))"
        case .invalidLimit(let microseconds):
            return "CPU latency limit \(microseconds) µs is not in \(CPULatencyRequest.limits)"
        }
    }
}

/// A Linux PM QoS request that idle CPUs wake up within a given latency, held while this object lives (the kernel
/// drops it when the device is closed, also when the process dies).
///
/// A quiet machine's idle CPUs sleep, and on a virtual machine waking one costs an exit to the hypervisor: on the
/// 2-core hosts this project is measured on, that is most of a one-connection request's latency (BENCHMARKS.md). A
/// limit of 0 keeps idle CPUs polling instead (the `cpuidle` governor picks no sleeping state), as tuned's
/// latency-performance profile does with `force_latency`. It is system-wide and burns the idle CPUs, so the server
/// makes the request only when asked (`mcdropout-serve --cpu-latency-limit`).
public final class CPULatencyRequest: Sendable {
    /// The PM QoS device for CPU wake-up latency.
    public static let devicePath = "/dev/cpu_dma_latency"

    /// The limits in microseconds the kernel accepts.
    public static let limits = 0...2_000_000_000

    /// The requested limit in microseconds.
    public let microseconds: Int
    private let descriptor: Int32
    private let released = Atomic<Bool>(false)

    /// Makes the request on `path` (the PM QoS device; tests may name another file).
    public init(microseconds: Int, path: String = CPULatencyRequest.devicePath) throws(CPULatencyRequestError) {
        guard Self.limits.contains(microseconds) else { throw .invalidLimit(microseconds) }
        let descriptor = open(path, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .unavailable(path: path, errno: errno) }
        // The device takes the value as a binary 32-bit integer.
        var value = Int32(microseconds)
        let written = withUnsafeBytes(of: &value) { write(descriptor, $0.baseAddress, $0.count) }
        guard written == MemoryLayout<Int32>.size else {
            let code = errno
            close(descriptor)
            throw .unavailable(path: path, errno: written < 0 ? code : EIO)
        }
        self.microseconds = microseconds
        self.descriptor = descriptor
    }

    /// Withdraws the request (idempotent; also done when the object goes away).
    public func release() {
        guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
        close(descriptor)
    }

    deinit { release() }
}
