import Foundation
import Glibc
import Synchronization

/// A fixed set of threads running jobs from a bounded queue: the server's admission control.
///
/// At most ``capacity`` jobs (running plus queued) are admitted at once; ``reserve()`` refuses the rest, so a burst
/// beyond the capacity is answered at once (503) instead of waiting in an unbounded queue whose latency grows
/// without limit. Memory is bounded the same way: a queued job holds one request body (≤ `maxBodyBytes`).
///
/// Admission is split in two, ``reserve()`` then ``enqueue(_:)``, because the daemon must suspend the connection
/// between the two: a job that finished before its connection was suspended would resume nothing and hang it.
final class WorkerPool: Sendable {
    /// A unit of work: `run` on a worker, or `cancel` (on the stopping thread) if the pool stops before it starts.
    struct Job: Sendable {
        var run: @Sendable () -> Void
        var cancel: @Sendable () -> Void
    }

    private struct State {
        var queue: [Job] = []
        /// Work offered by a running job to an idle thread (``offerToIdleThread(_:)``): run before queued jobs,
        /// outside admission control.
        var helpers: [@Sendable () -> Void] = []
        /// Threads running a job or a helper's work.
        var running = 0
        /// Jobs reserved and not yet finished (queued, about to be queued, or running).
        var admitted = 0
        var liveThreads = 0
        var isStopping = false
    }

    /// Worker threads.
    let threadCount: Int
    /// Most jobs admitted at once: one running per thread plus the queue length.
    let capacity: Int
    private let state = Mutex(State())
    private let wakeups = DispatchSemaphore(value: 0)

    /// Starts `threadCount` threads; `queueLength` more jobs may wait beyond one per thread.
    init(threadCount: Int, queueLength: Int, name: String) {
        precondition(threadCount >= 1 && queueLength >= 0)
        self.threadCount = threadCount
        capacity = threadCount + queueLength
        state.withLock { $0.liveThreads = threadCount }
        for index in 0..<threadCount {
            let thread = Thread { [self] in work() }
            thread.name = "\(name)-\(index)"
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    /// Jobs admitted and not yet finished.
    var admittedCount: Int { state.withLock { $0.admitted } }

    /// Takes one admission slot; `false` when the pool is full or stopping. Every `true` must be followed by exactly
    /// one ``enqueue(_:)``.
    func reserve() -> Bool {
        state.withLock { state in
            guard !state.isStopping, state.admitted < capacity else { return false }
            state.admitted += 1
            return true
        }
    }

    /// Queues a job for a slot taken with ``reserve()``. If the pool has begun stopping, the job is cancelled here.
    func enqueue(_ job: Job) {
        let accepted = state.withLock { state in
            guard !state.isStopping else {
                state.admitted -= 1
                return false
            }
            state.queue.append(job)
            return true
        }
        if accepted {
            wakeups.signal()
        } else {
            job.cancel()
        }
    }

    /// Stops: cancels every queued job, waits for running ones to finish, then lets the threads end. Idempotent.
    func shutdown() {
        let cancelled = state.withLock { state in
            state.isStopping = true
            defer { state.queue = [] }
            state.admitted -= state.queue.count
            return state.queue
        }
        for job in cancelled { job.cancel() }
        for _ in 0..<threadCount { wakeups.signal() }
        while state.withLock({ $0.liveThreads > 0 || $0.admitted > 0 }) {
            usleep(1000)
        }
    }

    /// Runs `work` on a thread of this pool that is idle right now, outside admission control, and returns `true`;
    /// returns `false` at once when every thread is busy or a job is waiting (that job comes first), or the pool is
    /// stopping. For a running job that can hand part of its work to a second core.
    func offerToIdleThread(_ work: @escaping @Sendable () -> Void) -> Bool {
        let accepted = state.withLock { state in
            guard !state.isStopping, state.queue.isEmpty,
                state.running + state.helpers.count < threadCount
            else { return false }
            state.helpers.append(work)
            return true
        }
        if accepted { wakeups.signal() }
        return accepted
    }

    private enum Task {
        case job(Job)
        case helper(@Sendable () -> Void)
    }

    private func work() {
        Self.current.set(self)
        while true {
            wakeups.wait()
            let task: Task? = state.withLock { state in
                if !state.helpers.isEmpty {
                    state.running += 1
                    return .helper(state.helpers.removeFirst())
                }
                guard !state.queue.isEmpty else {
                    if state.isStopping { state.liveThreads -= 1 }
                    return nil
                }
                state.running += 1
                return .job(state.queue.removeFirst())
            }
            switch task {
            case nil:
                if state.withLock({ $0.isStopping }) {
                    Self.current.set(nil)
                    return
                }
            case .helper(let work)?:
                work()
                state.withLock { $0.running -= 1 }
            case .job(let job)?:
                job.run()
                state.withLock { state in
                    state.admitted -= 1
                    state.running -= 1
                }
            }
        }
    }

    /// The pool whose thread is the calling one, if any.
    static let current = CurrentPool()
}

/// The pool of the calling thread (a `pthread` key; unset on other threads).
///
/// `@unchecked Sendable`: the key is created once in `init`; each thread reads and writes only its own value.
final class CurrentPool: @unchecked Sendable {
    private var key = pthread_key_t()

    init() {
        let status = pthread_key_create(&key, nil)
        precondition(status == 0, "pthread_key_create failed: \(status)")
    }

    /// Sets the calling thread's pool (unretained: a pool outlives its threads' loops).
    func set(_ pool: WorkerPool?) {
        pthread_setspecific(key, pool.map { Unmanaged.passUnretained($0).toOpaque() })
    }

    /// The calling thread's pool.
    var pool: WorkerPool? {
        pthread_getspecific(key).map { Unmanaged<WorkerPool>.fromOpaque($0).takeUnretainedValue() }
    }
}

/// Lets a request running on a worker hand part of its work to another worker that is idle right now.
public enum IdleWorker {
    /// Runs `work` on another worker of the calling worker's pool if one is idle now (and no request is waiting)
    /// and returns `true`; returns `false` at once otherwise, and on a thread that is not a pool worker.
    public static func offer(_ work: @escaping @Sendable () -> Void) -> Bool {
        WorkerPool.current.pool?.offerToIdleThread(work) ?? false
    }
}
