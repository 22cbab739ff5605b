import HTTPTransport
import MCDropout
import MCDropoutJSON

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Per-thread state of an HTTP worker: buffers reused across requests and a cached model snapshot.
///
/// Each MHD worker thread owns one, so the hot path needs neither locks nor large allocations.
final class WorkerState {
    var workspace = MonteCarloWorkspace()
    /// The second half's buffers when a request's passes are split with an idle worker.
    let split = SplitWorkspace()
    var snapshot: ModelSnapshot
    /// The raw pixels of the current request, as decoded.
    var request = PixelBuffer()
    /// The current request's inputs divided by the model's input scale, one after another.
    var pixels: [Float] = []
    /// The current request's summaries, one per input; their arrays are reused.
    var summaries: [PredictiveSummary] = []
    /// The current request's density scores, one per input (all `.none` for a model without density statistics).
    var densityValues: [DensityValues] = []
    var densityWorkspace = DensityWorkspace()
    var writer = JSONWriter(capacity: 4096)
    /// Draws seeds for requests that bring none; seeded once per thread from the system's entropy.
    var seedSource: RandomSource

    init(snapshot: ModelSnapshot) {
        self.snapshot = snapshot
        var system = SystemRandomNumberGenerator()
        seedSource = RandomSource(seed: system.next())
    }

    /// The registry's current snapshot, refreshed only when its generation moved.
    func models(from registry: ModelRegistry) -> ModelSnapshot {
        if registry.generation != snapshot.generation { snapshot = registry.snapshot }
        return snapshot
    }

    /// A fresh seed below 2⁵³, so JSON clients (JavaScript included) can echo it back exactly.
    func drawSeed() -> UInt64 { seedSource.next() >> 11 }
}

/// An idle worker of the pool as the second core of a request (``MonteCarloPredictor``'s split of its passes).
struct IdleWorkerHelper: PassHelper {
    func offer(_ work: @escaping @Sendable () -> Void) -> Bool { IdleWorker.offer(work) }
    func pause() { sched_yield() }
}

/// One value per thread, created on first use and released when the thread exits (`pthread_key_create`).
///
/// `@unchecked Sendable`: the key is written once in `init`; each thread only ever sees its own value.
final class ThreadLocal<Value: AnyObject>: @unchecked Sendable {
    private var key = pthread_key_t()
    private let make: @Sendable () -> Value

    init(make: @escaping @Sendable () -> Value) {
        self.make = make
        let status = pthread_key_create(&key) { pointer in
            guard let pointer else { return }
            Unmanaged<AnyObject>.fromOpaque(pointer).release()
        }
        precondition(status == 0, "pthread_key_create failed: \(status)")
    }

    /// This thread's value.
    var value: Value {
        if let pointer = pthread_getspecific(key) {
            return Unmanaged<AnyObject>.fromOpaque(pointer).takeUnretainedValue() as! Value
        }
        let value = make()
        pthread_setspecific(key, Unmanaged.passRetained(value as AnyObject).toOpaque())
        return value
    }
}
