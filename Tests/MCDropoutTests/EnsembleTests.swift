import Testing

@testable import MCDropout

/// Two networks of one architecture with different initialisations: a tiny deep ensemble.
func tinyEnsemble(dropout: [Float] = [0, 0.5, 0.3]) -> [DropoutMLP] {
    [smallModel(dropout: dropout, seed: 3), smallModel(dropout: dropout, seed: 4)]
}

/// A deterministic input for the 20-input tiny models.
func tinyInput(seed: UInt64) -> [Float] {
    var generator = RandomSource(seed: seed)
    return (0..<20).map { _ in generator.nextUnitFloat() }
}

@Suite("Deep ensembles: passes spread over members")
struct EnsembleTests {
    /// The statistics a predictor leaves in its workspace after one prediction.
    func statistics(_ predictor: MonteCarloPredictor, _ input: [Float], samples: Int, seed: UInt64) -> [Double] {
        var workspace = MonteCarloWorkspace()
        _ = input.withUnsafeBufferPointer {
            predictor.predict($0, sampleCount: samples, seed: seed, workspace: &workspace)
        }
        return Array(workspace.statistics.prefix(2 * predictor.model.outputSize + 2))
    }

    @Test("the split is fixed: ⌊N/K⌋ each, one more for the first N mod K members", arguments: [1, 2, 7, 100])
    func split(total: Int) {
        let predictor = MonteCarloPredictor(members: tinyEnsemble() + [smallModel(dropout: [0, 0.5, 0.3], seed: 5)])
        let counts = (0..<3).map { predictor.passCount(ofMember: $0, total: total) }
        #expect(counts.reduce(0, +) == total)
        #expect(counts.max()! - counts.min()! <= 1 && counts == counts.sorted(by: >))
    }

    @Test("an ensemble's statistics are exactly the sums of its members run alone with their passes and seeds")
    func equalsMembersRunSeparately() {
        let members = tinyEnsemble()
        let ensemble = MonteCarloPredictor(members: members)
        let input = tinyInput(seed: 8)
        for samples in [1, 7, 100] {
            let together = statistics(ensemble, input, samples: samples, seed: 42)
            var sum = [Double](repeating: 0, count: together.count)
            for (index, member) in members.enumerated() {
                let passes = ensemble.passCount(ofMember: index, total: samples)
                guard passes > 0 else { continue }
                let seed = MonteCarloPredictor.memberSeed(42, member: index)
                let alone = statistics(MonteCarloPredictor(model: member), input, samples: passes, seed: seed)
                for column in sum.indices { sum[column] += alone[column] }
            }
            #expect(together == sum, "N = \(samples)")
        }
        // The mean is the pass-weighted mean of the members' means.
        let summary = ensemble.predict(input, sampleCount: 9, seed: 5)
        let first = MonteCarloPredictor(model: members[0]).predict(input, sampleCount: 5, seed: 5)
        let second = MonteCarloPredictor(model: members[1])
            .predict(input, sampleCount: 4, seed: MonteCarloPredictor.memberSeed(5, member: 1))
        for column in 0..<5 {
            let expected = (5 * first.meanProbabilities[column] + 4 * second.meanProbabilities[column]) / 9
            #expect(abs(summary.meanProbabilities[column] - expected) < 1e-6)
        }
        #expect(summary.sampleCount == 9)
    }

    @Test("same seed → identical summaries; another seed differs; one member is the plain engine bit for bit")
    func determinism() {
        let ensemble = MonteCarloPredictor(members: tinyEnsemble())
        let input = tinyInput(seed: 2)
        #expect(ensemble.predict(input, sampleCount: 30, seed: 9) == ensemble.predict(input, sampleCount: 30, seed: 9))
        #expect(ensemble.predict(input, sampleCount: 30, seed: 9) != ensemble.predict(input, sampleCount: 30, seed: 10))
        let single = smallModel(dropout: [0, 0.5, 0.3], seed: 3)
        #expect(
            MonteCarloPredictor(members: [single]).predict(input, sampleCount: 30, seed: 9)
                == MonteCarloPredictor(model: single).predict(input, sampleCount: 30, seed: 9))
        // Members disagree, so the ensemble's mutual information exceeds what member 0 alone shows without dropout.
        let deterministicMembers = tinyEnsemble(dropout: [0, 0, 0])
        let noDropout = MonteCarloPredictor(members: deterministicMembers).predict(input, sampleCount: 10, seed: 1)
        #expect(noDropout.mutualInformation > 0)
        #expect(
            MonteCarloPredictor(model: deterministicMembers[0]).predict(input, sampleCount: 10, seed: 1)
                .mutualInformation == 0)
    }

    @Test("a batch equals single requests, and a reused workspace changes nothing")
    func batchAndReuse() {
        let ensemble = MonteCarloPredictor(members: tinyEnsemble())
        let inputs = [tinyInput(seed: 1), tinyInput(seed: 2), tinyInput(seed: 3)]
        var workspace = MonteCarloWorkspace()
        var summaries: [PredictiveSummary] = []
        inputs.flatMap { $0 }.withUnsafeBufferPointer {
            ensemble.predictBatch(
                $0, instanceCount: 3, sampleCount: 11, seed: 4, workspace: &workspace, into: &summaries)
        }
        for (index, input) in inputs.enumerated() {
            let alone = input.withUnsafeBufferPointer {
                ensemble.predict($0, sampleCount: 11, seed: 4, workspace: &workspace)
            }
            #expect(summaries[index] == alone)
            #expect(alone == ensemble.predict(input, sampleCount: 11, seed: 4))
        }
    }

    @Test("adaptive sampling stops by the same rule and reports the passes it used over all members")
    func adaptive() {
        let ensemble = MonteCarloPredictor(members: tinyEnsemble())
        let input = tinyInput(seed: 6)
        var workspace = MonteCarloWorkspace()
        var summary = PredictiveSummary.empty
        let sampling = AdaptiveSampling(minimumSamples: 16, maximumSamples: 64, tolerance: 1e-9)
        input.withUnsafeBufferPointer {
            ensemble.predictAdaptive($0, sampling: sampling, seed: 3, workspace: &workspace, into: &summary)
        }
        // A tolerance no estimate meets runs to the maximum. Each member numbers its passes on from block to block,
        // so they are the fixed-N request's passes (16-pass blocks split over the members as 64 passes are): the
        // statistics agree up to float rounding.
        #expect(summary.sampleCount == 64)
        let fixed = ensemble.predict(input, sampleCount: 64, seed: 3)
        for column in 0..<5 {
            #expect(abs(summary.meanProbabilities[column] - fixed.meanProbabilities[column]) < 1e-5)
            #expect(abs(summary.variance[column] - fixed.variance[column]) < 1e-5)
        }
    }

    @Test("each member skips its own inactive units, and that equals its dense product up to rounding")
    func activeUnitsPerMember() {
        let members = [
            sparseWideModel(width: 512, dropout: 0.3, seed: 5), sparseWideModel(width: 512, dropout: 0.3, seed: 6),
        ]
        let ensemble = MonteCarloPredictor(members: members)
        let input = sparsePixels(seed: 4)
        var workspace = MonteCarloWorkspace()
        let fast = input.withUnsafeBufferPointer {
            ensemble.predict($0, sampleCount: 40, seed: 2, workspace: &workspace)
        }
        #expect(workspace.members.count == 2)
        #expect(workspace.members.allSatisfy { $0.activeCounts[0] >= 0 })
        #expect(workspace.members[0].activeCounts[0] != workspace.members[1].activeCounts[0])
        var dense = MonteCarloPredictor(model: members[0], usesActiveUnits: false)
        dense.otherMembers = [MonteCarloPredictor(model: members[1], usesActiveUnits: false)]
        let slow = dense.predict(input, sampleCount: 40, seed: 2)
        for column in 0..<10 { #expect(abs(fast.meanProbabilities[column] - slow.meanProbabilities[column]) < 1e-5) }
    }

    @Test("dropout off: the members' mean, one pass per member")
    func deterministic() {
        let members = tinyEnsemble()
        let ensemble = MonteCarloPredictor(members: members)
        let input = tinyInput(seed: 3)
        let summary = ensemble.predictDeterministic(input)
        let parts = members.map { MonteCarloPredictor(model: $0).predictDeterministic(input) }
        #expect(summary.sampleCount == 2)
        for column in 0..<5 {
            let expected = (parts[0].meanProbabilities[column] + parts[1].meanProbabilities[column]) / 2
            #expect(abs(summary.meanProbabilities[column] - expected) < 1e-6)
        }
    }

    @Test("an ensemble file stores members.{k}.layers.{i}.*, round-trips, and rejects a gap between members")
    func modelFile() throws {
        let members = tinyEnsemble()
        let metadata = ModelMetadata(
            layerSizes: members[0].layerSizes, dropoutProbabilities: members[0].dropoutProbabilities,
            labels: (0..<5).map { "c\($0)" }, dataset: "tiny", seed: 1)
        let file = ModelFile(members: members, metadata: metadata)
        let bytes = file.encoded()
        let header = String(decoding: bytes.prefix(4096), as: UTF8.self)
        #expect(header.contains("\"members.1.layers.2.bias\"") && !header.contains("\"layers.0.weight\""))
        let decoded = try ModelFile(decoding: bytes)
        #expect(decoded == file && decoded.members == members && decoded.additionalMembers.count == 1)
        // One network keeps today's layout.
        let single = ModelFile(model: members[0], metadata: metadata)
        #expect(String(decoding: single.encoded().prefix(4096), as: UTF8.self).contains("\"layers.0.weight\""))
        #expect(try ModelFile(decoding: single.encoded()).members.count == 1)
        // members.0 and members.2 without members.1: member 2's tensors are unexpected.
        // (Same-length renames in the header keep every offset valid.)
        #expect(throws: ModelFileError.self) { try ModelFile(decoding: renamed(bytes, "members.1.", "members.2.")) }
    }

    /// `bytes` with every occurrence of `old` replaced by `new` (of the same length).
    func renamed(_ bytes: [UInt8], _ old: String, _ new: String) -> [UInt8] {
        let (from, to) = (Array(old.utf8), Array(new.utf8))
        var result = bytes
        var index = 0
        while index + from.count <= result.count {
            if Array(result[index..<(index + from.count)]) == from {
                result.replaceSubrange(index..<(index + from.count), with: to)
                index += from.count
            } else {
                index += 1
            }
        }
        return result
    }
}
