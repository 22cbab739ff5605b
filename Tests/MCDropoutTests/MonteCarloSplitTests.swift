import Foundation
import Synchronization
import Testing

@testable import MCDropout

/// Runs each offered half on a new thread at once.
final class ThreadHelper: PassHelper, Sendable {
    let accepted = Atomic<Int>(0)

    func offer(_ work: @escaping @Sendable () -> Void) -> Bool {
        accepted.add(1, ordering: .relaxed)
        let thread = Thread { work() }
        thread.start()
        return true
    }

    func pause() { sched_yield() }
}

/// Runs the offered half inside `offer`, before the owner starts its own half.
struct EagerHelper: PassHelper {
    func offer(_ work: @escaping @Sendable () -> Void) -> Bool {
        work()
        return true
    }

    func pause() {}
}

/// Accepts every half but runs none until told: the owner must take the half back itself, and a late run must find
/// nothing to do.
final class LateHelper: PassHelper, @unchecked Sendable {
    var pending: [@Sendable () -> Void] = []

    func offer(_ work: @escaping @Sendable () -> Void) -> Bool {
        pending.append(work)
        return true
    }

    func pause() {}

    func runPending() {
        for work in pending { work() }
        pending = []
    }
}

/// Refuses every half (no idle thread).
struct BusyHelper: PassHelper {
    func offer(_ work: @escaping @Sendable () -> Void) -> Bool { false }
    func pause() {}
}

@Suite("Two cores for one request: the passes split in fixed halves")
struct MonteCarloSplitTests {
    /// Bytes are reproducible for a fixed BLAS thread count (the server pins 1; another test starting a server in
    /// this process would otherwise change it between two predictions compared here).
    init() { BLAS.setThreadCount(1) }

    func predict(
        _ predictor: MonteCarloPredictor, _ input: [Float], sampleCount: Int, seed: UInt64, helper: some PassHelper,
        split: SplitWorkspace, helped expected: Bool? = nil
    ) -> PredictiveSummary {
        var workspace = MonteCarloWorkspace()
        var summary = PredictiveSummary.empty
        let helped = input.withUnsafeBufferPointer {
            predictor.predict(
                $0, sampleCount: sampleCount, seed: seed, workspace: &workspace, into: &summary, helper: helper,
                split: split)
        }
        if let expected { #expect(helped == expected) }
        return summary
    }

    @Test("the halves: at a multiple of 16 near N/2, only for 32 ≤ N ≤ 2 × blockRows")
    func splitPoint() {
        #expect(MonteCarloPredictor.splitPoint(sampleCount: 100) == 48)
        #expect(MonteCarloPredictor.splitPoint(sampleCount: 32) == 16)
        #expect(MonteCarloPredictor.splitPoint(sampleCount: 1000) == 496)
        #expect(MonteCarloPredictor.splitPoint(sampleCount: 2048) == 1024)
        for n in [1, 16, 31, 2049, 10_000] { #expect(MonteCarloPredictor.splitPoint(sampleCount: n) == n) }
        for n in 32...2048 {
            let h = MonteCarloPredictor.splitPoint(sampleCount: n)
            #expect(h % 16 == 0 && h >= 16 && h <= n / 2 && n / 2 - h < 16)
        }
    }

    @Test(
        "same seed → same bytes whether a second thread, the owner alone or nobody else ran the second half",
        arguments: [(512, 32), (512, 100), (512, 137), (512, 1500), (1024, 100)])
    func sameBytes(width: Int, sampleCount: Int) {
        let predictor = MonteCarloPredictor(model: sparseWideModel(width: width, dropout: 0.3, seed: 11))
        let input = sparsePixels(seed: 5)
        // The plain entry point: the passes in N-row GEMMs (blocks of at most 1,024 rows) on this thread.
        let plain = predictor.predict(input, sampleCount: sampleCount, seed: 42)
        let split = SplitWorkspace()
        let threaded = ThreadHelper()
        let viaThread = predict(predictor, input, sampleCount: sampleCount, seed: 42, helper: threaded, split: split)
        #expect(threaded.accepted.load(ordering: .relaxed) == (sampleCount >= 32 ? 1 : 0))
        let eager = predict(
            predictor, input, sampleCount: sampleCount, seed: 42, helper: EagerHelper(), split: split, helped: true)
        let late = LateHelper()
        let taken = predict(
            predictor, input, sampleCount: sampleCount, seed: 42, helper: late, split: split, helped: false)
        late.runPending()  // too late: the owner ran the half; the stale offer must do nothing
        let busy = predict(
            predictor, input, sampleCount: sampleCount, seed: 42, helper: BusyHelper(), split: split, helped: false)
        for summary in [viaThread, eager, taken, busy] {
            #expect(summary == plain)
            #expect(summary.sampleCount == sampleCount)
        }
        // The batch entry point agrees too (a batch is never split across threads).
        var workspace = MonteCarloWorkspace()
        var batch: [PredictiveSummary] = []
        (input + sparsePixels(seed: 6)).withUnsafeBufferPointer {
            predictor.predictBatch(
                $0, instanceCount: 2, sampleCount: sampleCount, seed: 42, workspace: &workspace, into: &batch)
        }
        #expect(batch[0] == plain)
        #expect(batch[1] != plain)
    }

    @Test("the split's statistics equal those of every pass computed one by one, up to float rounding")
    func statistics() {
        let models: [DropoutMLP] = [smallModel(dropout: [0, 0.5, 0.3]), smallModel(dropout: [0.2, 0.5, 0.3])]
        let inputs: [[Float]] = [(0..<20).map { Float($0 % 7) / 7 }, (0..<20).map { Float($0 % 5) / 5 }]
        for (model, input) in zip(models, inputs) {
            let predictor = MonteCarloPredictor(model: model)
            let summary = predict(
                predictor, input, sampleCount: 100, seed: 9, helper: ThreadHelper(), split: SplitWorkspace())
            let reference = PredictiveSummary(
                passProbabilities: naivePassProbabilities(model: model, input: input, sampleCount: 100, seed: 9))
            #expect(summary.sampleCount == 100)
            for column in 0..<5 {
                #expect(abs(summary.meanProbabilities[column] - reference.meanProbabilities[column]) < 1e-5)
                #expect(abs(summary.variance[column] - reference.variance[column]) < 1e-5)
            }
            #expect(abs(summary.mutualInformation - reference.mutualInformation) < 1e-5)
            #expect(summary.variance.contains { $0 > 1e-6 }, "dropout must make the passes differ")
        }
    }

    @Test("many requests racing over one split workspace per thread stay reproducible")
    func concurrent() async {
        let predictor = MonteCarloPredictor(model: sparseWideModel(width: 512, dropout: 0.3, seed: 2))
        let inputs = (0..<4).map { sparsePixels(seed: UInt64(20 + $0)) }
        let expected = inputs.map { predictor.predict($0, sampleCount: 100, seed: 7) }
        await withTaskGroup(of: Bool.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    let split = SplitWorkspace()
                    var same = true
                    for round in 0..<8 {
                        let index = (worker + round) % inputs.count
                        let summary = self.predict(
                            predictor, inputs[index], sampleCount: 100, seed: 7, helper: ThreadHelper(), split: split)
                        same = same && summary == expected[index]
                    }
                    return same
                }
            }
            for await same in group { #expect(same) }
        }
    }
}
