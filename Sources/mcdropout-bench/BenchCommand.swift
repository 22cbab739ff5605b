import ArgumentParser
import Foundation
import MCDropout

/// `mcdropout-bench`: in-process latency of the Monte-Carlo engine against the machine's measured sgemm peak.
@main
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcdropout-bench",
        abstract: "Measure Monte-Carlo dropout latency in process and compare it with the measured sgemm peak.",
        discussion: """
            Prints one row per (threads, N): median, p10 and p90 latency in µs for one input, the GFLOP/s that
            implies, and its fraction of the sgemm peak measured on this machine in the same run.

            Example:
              mcdropout-bench --model models/mnist.safetensors --samples 10,100,1000 --threads 1,2
            """)

    @Option(help: "Model file; without one, a random 784-512-512-10 network with dropout 0.5 is used.")
    var model: String?
    @Option(help: "Passes N, comma-separated.")
    var samples: String = "10,100,1000"
    @Option(help: "BLAS thread counts, comma-separated.")
    var threads: String = "1,2"
    @Option(help: "Minimum measuring time per row, in seconds.")
    var seconds: Double = 2

    func run() throws {
        let network: DropoutMLP
        if let model {
            network = try ModelFile(decoding: [UInt8](try Data(contentsOf: URL(fileURLWithPath: model)))).model
        } else {
            var generator = RandomSource(seed: 1)
            network = DropoutMLP(
                layerSizes: [784, 512, 512, 10], dropoutProbabilities: [0, 0.5, 0.5], initialization: .he,
                using: &generator)
        }
        let predictor = MonteCarloPredictor(model: network)
        var generator = RandomSource(seed: 2)
        let input = (0..<network.inputSize).map { _ in generator.nextUnitFloat() }
        let sampleCounts = samples.split(separator: ",").compactMap { Int($0) }
        let threadCounts = threads.split(separator: ",").compactMap { Int($0) }
        print("model \(network.layerSizes.map(String.init).joined(separator: "-")) dropout \(network.dropoutProbabilities)")
        print("threads      N   median µs      p10 µs      p90 µs   GFLOP/s  sgemm peak  of peak")
        for threadCount in threadCounts {
            BLAS.setThreadCount(threadCount)
            let peak = measureGemmPeak()
            for count in sampleCounts {
                var workspace = MonteCarloWorkspace()
                let flops = Double(network.monteCarloFlops(sampleCount: count, firstStochasticLayer: predictor.firstStochasticLayerIndex))
                var times: [Double] = []
                let clock = ContinuousClock()
                let deadline = clock.now + .milliseconds(Int(self.seconds * 1000))
                var seed: UInt64 = 0
                input.withUnsafeBufferPointer { pixels in
                    for _ in 0..<3 { _ = predictor.predict(pixels, sampleCount: count, seed: seed, workspace: &workspace) }
                    while clock.now < deadline || times.count < 20 {
                        seed &+= 1
                        let start = clock.now
                        _ = predictor.predict(pixels, sampleCount: count, seed: seed, workspace: &workspace)
                        times.append(microseconds(clock.now - start))
                    }
                }
                times.sort()
                let median = times[times.count / 2]
                let rate = flops / median / 1e3
                print(String(format: "%7d %6d %11.1f %11.1f %11.1f %9.1f %11.1f %7.1f%%", threadCount, count, median,
                    times[times.count / 10], times[times.count * 9 / 10], rate, peak, 100 * rate / peak))
            }
        }
    }

    /// GFLOP/s of a large square sgemm (best of several), the practical ceiling for this machine and thread count.
    func measureGemmPeak(size: Int = 1024) -> Double {
        var generator = RandomSource(seed: 3)
        let a = Matrix(rows: size, columns: size, storage: (0..<(size * size)).map { _ in generator.nextUnitFloat() })
        var c = Matrix(rows: size, columns: size)
        let clock = ContinuousClock()
        var best = Double.infinity
        for _ in 0..<8 {
            let start = clock.now
            BLAS.multiply(a, by: a, into: &c)
            best = min(best, microseconds(clock.now - start))
        }
        return 2 * Double(size * size * size) / best / 1e3
    }
}

func microseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) * 1e-12
}
