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

    private func work() {
        while true {
            wakeups.wait()
            let job: Job? = state.withLock { state in
                guard !state.queue.isEmpty else {
                    if state.isStopping { state.liveThreads -= 1 }
                    return nil
                }
                return state.queue.removeFirst()
            }
            guard let job else {
                if state.withLock({ $0.isStopping }) { return }
                continue
            }
            job.run()
            state.withLock { $0.admitted -= 1 }
        }
    }
}
