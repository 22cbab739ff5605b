// Demonstrates that ThreadSanitizer cannot see Synchronization.Mutex's contended path on Linux (see
// tsan-suppressions.txt): every access below is inside one Mutex, yet under contention TSan reports a race.
// Run: swiftc -sanitize=thread -g scripts/reliability/tsan-mutex-false-positive.swift -o /tmp/mutex-tsan \
//      && /tmp/mutex-tsan
import Glibc
import Synchronization

final class Box: Sendable { let state = Mutex<[Int]>([]) }
let box = Box()
var threads: [pthread_t] = []
for _ in 0..<4 {
    var thread = pthread_t()
    pthread_create(
        &thread, nil,
        { _ in
            for i in 0..<50_000 {
                box.state.withLock {
                    $0.append(i)
                    if $0.count % 64 == 0 { usleep(1) }  // hold the lock now and then, so that others contend
                }
            }
            return nil
        }, nil)
    threads.append(thread)
}
for thread in threads { pthread_join(thread, nil) }
print("appended \(box.state.withLock { $0.count }) (expected 200000)")
