import Foundation
import Glibc
import Synchronization

/// Holds the answers to requests refused for overload, so that clients which retry at once cannot spin the server.
///
/// Without it, a client that resends the moment it reads a 503 (wrk, naive retry loops, some proxies) turns spare
/// I/O capacity into tens of thousands of refusals per second, and the refusals take the cores the admitted requests
/// need: goodput fell to 40 % of the unloaded throughput at 512 connections (issue 17). A held connection is
/// suspended, so it costs no CPU until its 503 is sent.
///
/// Each refusal is held for at least `delay`, and refusals are released at most `maxReleasesPerSecond` per second
/// (small bursts aside), so the CPU that refusing costs stays bounded however many clients retry: with many of them
/// the hold simply lasts longer (about held connections ÷ rate). One thread releases the holds in arrival order:
/// every hold lasts at least the same `delay`, so arrival order is deadline order and a plain FIFO suffices.
final class OverloadHold: Sendable {
    private struct Entry {
        var deadline: ContinuousClock.Instant
        var release: @Sendable () -> Void
    }

    private struct State {
        var entries: [Entry] = []
        /// Index of the oldest entry still held; the array is compacted when this passes half its length.
        var head = 0
        var isStopping = false
        /// When the rate limit lets the next entry go.
        var nextRelease = ContinuousClock.now
        var isEmpty: Bool { head == entries.count }
    }

    /// How long each refusal is held at least.
    let delay: Duration
    /// Time between two releases at the highest release rate.
    let spacing: Duration
    /// How far the release schedule may lag behind the clock: after a quiet spell, up to this much time's worth of
    /// releases go out back to back.
    private let burst: Duration
    private let state = Mutex(State())
    private let wakeups = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    /// Starts the releasing thread.
    init(delay: Duration, maxReleasesPerSecond: Int, name: String) {
        precondition(maxReleasesPerSecond >= 1)
        self.delay = delay
        spacing = .seconds(1) / maxReleasesPerSecond
        burst = .milliseconds(20)
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    /// Calls `release` once `delay` has passed and the release rate allows, or at once on ``shutdown()``. Returns
    /// `false`, without calling `release`, once the hold is stopping: the caller then answers at once.
    func hold(_ release: @escaping @Sendable () -> Void) -> Bool {
        let deadline = ContinuousClock.now.advanced(by: delay)
        let (accepted, wasEmpty) = state.withLock { state in
            guard !state.isStopping else { return (false, false) }
            let wasEmpty = state.isEmpty
            state.entries.append(Entry(deadline: deadline, release: release))
            return (true, wasEmpty)
        }
        // A non-empty queue means the thread is sleeping until an earlier deadline and will see this entry then.
        if wasEmpty {
            wakeups.signal()
        }
        return accepted
    }

    /// Releases every held answer now and stops the thread; idempotent. Later calls to ``hold(_:)`` return `false`.
    func shutdown() {
        let alreadyStopping = state.withLock { state in
            defer { state.isStopping = true }
            return state.isStopping
        }
        guard !alreadyStopping else { return }
        wakeups.signal()
        finished.wait()
    }

    private enum Step {
        case release(@Sendable () -> Void)
        case sleep(Duration)
        case wait
        case exit
    }

    private func run() {
        while true {
            let now = ContinuousClock.now
            let step = state.withLock { state -> Step in
                guard !state.isEmpty else {
                    return state.isStopping ? .exit : .wait
                }
                let entry = state.entries[state.head]
                if !state.isStopping {
                    let due = max(entry.deadline, state.nextRelease)
                    guard due <= now else { return .sleep(due - now) }
                    state.nextRelease = max(state.nextRelease, now - burst) + spacing
                }
                state.head += 1
                if state.head > state.entries.count / 2 {
                    state.entries.removeFirst(state.head)
                    state.head = 0
                }
                return .release(entry.release)
            }
            switch step {
            case .release(let release):
                release()
            case .sleep(let duration):
                // Capped so a shutdown during a long delay is noticed promptly.
                let (seconds, attoseconds) = min(duration, .milliseconds(20)).components
                _ = usleep(UInt32(seconds) * 1_000_000 + UInt32(attoseconds / 1_000_000_000_000))
            case .wait:
                wakeups.wait()
            case .exit:
                finished.signal()
                return
            }
        }
    }
}
