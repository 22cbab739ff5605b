// Real POSIX threads for tests that block on sockets: blocking Swift's small cooperative pool (2 threads on this
// machine) with socket reads would serialise the clients a concurrency test means to run at once.
import Glibc
import Synchronization

/// A started thread that can be joined once.
final class TestThread {
    private var thread: pthread_t

    /// Starts `body` on a new thread.
    init(_ body: @escaping @Sendable () -> Void) {
        final class Box {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        var thread = pthread_t()
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let result = pthread_create(
            &thread, nil,
            { argument in
                let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
                box.body()
                return nil
            }, box)
        precondition(result == 0, "pthread_create failed: \(result)")
        self.thread = thread
    }

    /// Waits for the thread to finish.
    func join() {
        pthread_join(thread, nil)
    }

    /// Runs `body(index)` for `0..<count` on that many threads at once and waits for all of them.
    static func run(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let threads = (0..<count).map { index in TestThread { body(index) } }
        for thread in threads {
            thread.join()
        }
    }
}

/// A one-shot flag that threads can wait for, with a timeout.
final class TestLatch: Sendable {
    private let isOpen = Atomic<Bool>(false)

    func open() {
        isOpen.store(true, ordering: .releasing)
    }

    var hasOpened: Bool {
        isOpen.load(ordering: .acquiring)
    }

    /// Waits until opened; returns false if `timeout` passed first.
    @discardableResult
    func wait(timeout: Duration = .seconds(30)) -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while !hasOpened {
            if ContinuousClock.now >= deadline {
                return false
            }
            var pause = timespec(tv_sec: 0, tv_nsec: 1_000_000)
            _ = nanosleep(&pause, nil)
        }
        return true
    }
}

/// Polls `condition` every millisecond until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(30), _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while !condition() {
        if ContinuousClock.now >= deadline {
            return false
        }
        var pause = timespec(tv_sec: 0, tv_nsec: 1_000_000)
        _ = nanosleep(&pause, nil)
    }
    return true
}

/// Sleeps the calling thread.
func pause(_ duration: Duration) {
    let (seconds, attoseconds) = duration.components
    var interval = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    _ = nanosleep(&interval, nil)
}

/// Collects failure descriptions from several threads, for one `#expect` at the end.
final class FailureLog: Sendable {
    private let storage = Mutex<[String]>([])

    func record(_ failure: String) {
        storage.withLock { $0.append(failure) }
    }

    var entries: [String] {
        storage.withLock { $0 }
    }
}

/// A value one thread sets and another reads.
final class ResultBox: Sendable {
    private let storage = Mutex<String?>(nil)

    func set(_ value: String) {
        storage.withLock { $0 = value }
    }

    var value: String? {
        storage.withLock { $0 }
    }
}
