import Foundation
import MCDropout
import MCDropoutData

/// `--density-cost DIR`: what each density score of a model costs per image against the `N` passes of the same
/// image, on real test images (the probe's cost depends on the image: its non-zero pixels and turned copies).
///
/// Per image, in one thread with one BLAS thread: the passes (`predict`, seed = the image's index), then each score
/// the model file has, each timed alone by this thread's CPU clock (descheduled time left out), in rounds over the
/// first `limit` test images of `directory`, repeated for at least `seconds`. Prints per score the median and mean
/// µs per image and the mean as a share of the passes' mean — issue 12's "≤ 10 % of an N = 100 request".
struct DensityCostMeasurement {
    var file: ModelFile
    var directory: String
    var limit: Int

    func run(sampleCount: Int, seconds: Double) throws {
        BLAS.setThreadCount(1)
        guard let density = file.density, !density.scores.isEmpty else {
            print("\(file.metadata.dataset): the model file has no density scores")
            return
        }
        let data = try DatasetLoader.load(directory: directory, split: .test)
        let count = limit > 0 ? min(limit, data.count) : data.count
        let width = data.pixelCount
        precondition(width == file.model.inputSize, "the data's images must be the model's input")
        let images = (0..<(count * width)).map { Float(data.pixels[$0]) / file.metadata.inputScale }
        let predictor = MonteCarloPredictor(members: file.members)
        var workspace = MonteCarloWorkspace()
        var densityWorkspace = DensityWorkspace()
        var summary = PredictiveSummary.empty
        let scores = density.scores
        var passTimes: [Double] = []
        var scoreTimes = [[Double]](repeating: [], count: scores.count)
        var sink: Double = 0
        // FNV-1a over the first round's score bytes, per score: equal digests mean equal scores (to compare builds).
        var digests = [UInt64](repeating: 0xcbf2_9ce4_8422_2325, count: scores.count)
        var firstRound = true
        let clock = ContinuousClock()
        let start = clock.now
        repeat {
            for index in 0..<count {
                images.withUnsafeBufferPointer { all in
                    let input = UnsafeBufferPointer(rebasing: all[(index * width)..<((index + 1) * width)])
                    var before = threadCPUMicroseconds()
                    predictor.predict(
                        input, sampleCount: sampleCount, seed: UInt64(index), workspace: &workspace, into: &summary)
                    passTimes.append(threadCPUMicroseconds() - before)
                    for (position, score) in scores.enumerated() {
                        before = threadCPUMicroseconds()
                        var value: Double = 0
                        switch score {
                        case .reconstructionError:
                            value = density.subspace!.reconstructionError(of: input, workspace: &densityWorkspace)
                        case .featureDistance:
                            value = density.gaussian!.distance(
                                of: input, model: file.model, workspace: &densityWorkspace)
                        case .inkDeviation:
                            value = density.ink!.deviation(of: input)
                        case .rotationInstability:
                            value = density.rotation!.instability(
                                of: input, reference: summary.prediction, workspace: &densityWorkspace)
                        }
                        scoreTimes[position].append(threadCPUMicroseconds() - before)
                        sink += value
                        if firstRound {
                            for byte in 0..<8 {
                                digests[position] =
                                    (digests[position] ^ (value.bitPattern >> (8 * byte) & 0xff))
                                    &* 0x100_0000_01b3
                            }
                        }
                    }
                }
            }
            firstRound = false
        } while clock.now - start < .seconds(seconds)
        let passMean = mean(passTimes)
        print("density score cost: \(count) test images of \(directory), N = \(sampleCount), CPU µs per image")
        print("score                     median µs    mean µs   % of passes")
        print(pad("passes (N = \(sampleCount))") + String(format: " %10.1f %10.1f", median(passTimes), passMean))
        var total: Double = 0
        for (position, score) in scores.enumerated() {
            let scoreMean = mean(scoreTimes[position])
            total += scoreMean
            print(
                pad(score.rawValue)
                    + String(
                        format: " %10.1f %10.1f %12.1f%%", median(scoreTimes[position]), scoreMean,
                        100 * scoreMean / passMean))
        }
        print(pad("all scores") + String(format: "            %10.1f %12.1f%%", total, 100 * total / passMean))
        if sink.isNaN { print("(a score was NaN)") }
        print(
            "score digests (FNV-1a of the first round's bytes; equal digests, equal scores): "
                + zip(scores, digests).map { "\($0.rawValue) \(String($1, radix: 16))" }.joined(separator: ", "))
    }

    func pad(_ text: String) -> String { text + String(repeating: " ", count: max(0, 24 - text.count)) }
    func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
    func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }
}
