import ArgumentParser
import Foundation
import MCDropout
import MCDropoutCommandLine
import MCDropoutData

/// `mcdropout-bench`: in-process latency of the Monte-Carlo engine against the machine's measured sgemm peak.
@main
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcdropout-bench",
        abstract: "Measure Monte-Carlo dropout latency in process and compare it with the measured sgemm peak.",
        discussion: """
            Prints one row per (threads, batch, N): median, p10 and p90 latency in
            µs for one request, the GFLOP/s that implies, its fraction of the
            sgemm peak measured on this machine in the same run, and the median
            CPU time of a request (all threads; on a busy machine it leaves out
            time spent descheduled). With --threads 2 OpenBLAS splits each sgemm
            over two threads.

            Other modes:
              --check-rows          checks that sgemm rows do not depend on the
                                    row count (batch = single)
              --adaptive-data DIRS  mean passes "samples: auto" uses on the t10k
                                    split of each IDX directory
              --iterations K        runs exactly K requests per row (for
                                    heaptrack/valgrind allocation counts)
              --decode FILES        µs to decode each /predict body (e.g.
                                    examples/*.json) by the server's body
                                    scanner and by its JSON parser
              --drift-cost          CPU time of a whole in-process /predict
                                    request with drift metrics off and on
                                    (needs --model and --input)

            Examples:
              mcdropout-bench --model models/mnist.safetensors \\
                --samples 10,100,1000 --threads 1,2 --batch 1,64
              mcdropout-bench --check-rows
            """,
        version: mcdropoutVersion)

    @Option(help: "Model file; without one, a random 784-512-512-10 network with dropout 0.5 is used.")
    var model: String?
    @Option(help: "Passes N, comma-separated.")
    var samples: String = "10,100,1000"
    @Option(help: "BLAS thread counts, comma-separated.")
    var threads: String = "1,2"
    @Option(help: "Inputs per request, comma-separated (a batch request shares the masks).")
    var batch: String = "1"
    @Option(
        help: """
            A /predict body with "pixels" (e.g. examples/mnist-test-0000-label-7.json) used for every input; \
            without one, uniform random inputs (no zero pixels).
            """)
    var input: String?
    @Option(help: "Minimum measuring time per row, in seconds.")
    var seconds: Double = 2
    @Option(help: "Run exactly this many requests per row after 3 warm-up requests, and print no peak.")
    var iterations: Int?
    @Flag(help: "Check that sgemm computes each row independently of the number of rows, then exit.")
    var checkRows = false
    @Option(help: "Comma-separated IDX directories: report the mean passes of samples=auto on their t10k images.")
    var adaptiveData: String?
    @Option(help: "Images per data set for --adaptive-data (0 = all).")
    var limit = 0
    @Option(help: "Comma-separated /predict bodies: time decoding them by the body scanner and by the JSON parser.")
    var decode: String?
    @Flag(help: "Measure what drift metrics add to a /predict request (with --model, --input, --samples, --seconds).")
    var driftCost = false
    @Option(
        help: """
            An IDX directory: time each density score of --model per test image against its N passes (--samples, \
            the first; --limit images, 1,000 by default; --seconds), then exit.
            """)
    var densityCost: String?

    func run() throws {
        if let decode {
            return try DecodeBenchmark.run(paths: decode.split(separator: ",").map(String.init), seconds: seconds)
        }
        if driftCost {
            guard let model, let input else { throw ValidationError("--drift-cost needs --model and --input") }
            let body = try JSONSerialization.jsonObject(with: Data(InputFile.bytes(input)))
            guard let pixels = (body as? [String: Any])?["pixels"] else {
                throw ValidationError("\(input): expected a /predict body with \"pixels\"")
            }
            let pixelsJSON = String(decoding: try JSONSerialization.data(withJSONObject: pixels), as: UTF8.self)
            return try DriftCostMeasurement(modelPath: model, pixelsJSON: pixelsJSON).run(
                sampleCounts: samples.split(separator: ",").compactMap { Int($0) }, seconds: seconds)
        }
        if let densityCost {
            guard let model else { throw ValidationError("--density-cost needs --model") }
            return try DensityCostMeasurement(
                file: ModelFile(decoding: InputFile.bytes(model)), directory: densityCost,
                limit: limit > 0 ? limit : 1000
            ).run(sampleCount: samples.split(separator: ",").compactMap { Int($0) }.first ?? 100, seconds: seconds)
        }
        let networks: [DropoutMLP]
        var inputScale: Float = 255
        if let model {
            let file = try ModelFile(decoding: InputFile.bytes(model))
            networks = file.members  // A deep ensemble's passes are spread over its members, as the server does.
            inputScale = file.metadata.inputScale
        } else {
            var generator = RandomSource(seed: 1)
            networks = [
                DropoutMLP(
                    layerSizes: [784, 512, 512, 10], dropoutProbabilities: [0, 0.5, 0.5], initialization: .he,
                    using: &generator)
            ]
        }
        let network = networks[0]
        let predictor = MonteCarloPredictor(members: networks)
        if checkRows { return checkRowIndependence() }
        if let adaptiveData { return try reportAdaptive(predictor, directories: adaptiveData, inputScale: inputScale) }

        let sampleCounts = samples.split(separator: ",").compactMap { Int($0) }
        let threadCounts = threads.split(separator: ",").compactMap { Int($0) }
        let batchSizes = batch.split(separator: ",").compactMap { Int($0) }
        let example = try input.map { try readPixels(path: $0, scale: inputScale, width: network.inputSize) }
        let inputDescription = input.map { "\($0) (\(example!.filter { $0 != 0 }.count) non-zero pixels)" } ?? "random"
        let sizes = network.layerSizes.map(String.init).joined(separator: "-")
        print("model \(sizes) × \(networks.count) dropout \(network.dropoutProbabilities); input \(inputDescription)")
        print(
            "threads  batch      N   median µs      p10 µs      p90 µs   GFLOP/s  sgemm peak  of peak"
                + "      CPU µs")
        for threadCount in threadCounts {
            BLAS.setThreadCount(threadCount)
            let peak = iterations == nil ? measureGemmPeak() : .nan
            for batchSize in batchSizes {
                var generator = RandomSource(seed: 2)
                let inputs =
                    example.map { pixels in (0..<batchSize).flatMap { _ in pixels } }
                    ?? (0..<(batchSize * network.inputSize)).map { _ in generator.nextUnitFloat() }
                for count in sampleCounts {
                    let flops =
                        Double(batchSize)
                        * Double(
                            network.monteCarloFlops(
                                sampleCount: count, firstStochasticLayer: predictor.firstStochasticLayerIndex))
                    let (times, cpuTimes) = measure(predictor, inputs: inputs, batchSize: batchSize, sampleCount: count)
                    let median = times[times.count / 2]
                    let rate = flops / median / 1e3
                    print(
                        String(
                            format: "%7d %6d %6d %11.1f %11.1f %11.1f %9.1f %11.1f %7.1f%% %11.1f", threadCount,
                            batchSize, count, median, times[times.count / 10], times[times.count * 9 / 10], rate, peak,
                            100 * rate / peak, cpuTimes[cpuTimes.count / 2]))
                }
            }
        }
    }

    /// The `"pixels"` of a /predict body, divided by the model's input scale.
    func readPixels(path: String, scale: Float, width: Int) throws -> [Float] {
        let body = try JSONSerialization.jsonObject(with: Data(InputFile.bytes(path)))
        guard let pixels = (body as? [String: Any])?["pixels"] as? [NSNumber], pixels.count == width else {
            throw ValidationError("\(path): expected {\"pixels\": [\(width) numbers]}")
        }
        return pixels.map { $0.floatValue / scale }
    }

    /// Latencies in µs of repeated requests with fresh seeds, and the process CPU time of each, both sorted.
    ///
    /// On a shared machine a request that outlasts a scheduler time slice (a 64-input batch, N = 1000) is
    /// descheduled in the middle and its wall time includes the wait, while short ones mostly are not. The CPU time
    /// (all threads of the process: on 1 BLAS thread, the request's compute time) does not include that wait.
    func measure(
        _ predictor: MonteCarloPredictor, inputs: [Float], batchSize: Int, sampleCount: Int
    ) -> ([Double], [Double]) {
        var workspace = MonteCarloWorkspace()
        var summaries: [PredictiveSummary] = []
        var times: [Double] = []
        var cpuTimes: [Double] = []
        times.reserveCapacity(100_000)
        cpuTimes.reserveCapacity(100_000)
        let clock = ContinuousClock()
        var seed: UInt64 = 0
        inputs.withUnsafeBufferPointer { pixels in
            func once() {
                seed &+= 1
                predictor.predictBatch(
                    pixels, instanceCount: batchSize, sampleCount: sampleCount, seed: seed, workspace: &workspace,
                    into: &summaries)
            }
            for _ in 0..<3 { once() }
            if let iterations {
                for _ in 0..<iterations {
                    let start = clock.now
                    let cpuStart = processCPUMicroseconds()
                    once()
                    cpuTimes.append(processCPUMicroseconds() - cpuStart)
                    times.append(microseconds(clock.now - start))
                }
                return
            }
            let deadline = clock.now + .milliseconds(Int(self.seconds * 1000))
            while clock.now < deadline || times.count < 20 {
                let start = clock.now
                let cpuStart = processCPUMicroseconds()
                once()
                cpuTimes.append(processCPUMicroseconds() - cpuStart)
                times.append(microseconds(clock.now - start))
            }
        }
        return (times.sorted(), cpuTimes.sorted())
    }

    /// Compares every row of an `M × 512 · 512 × 512` sgemm (the engine's layout) with the same rows computed in
    /// smaller products.
    func checkRowIndependence() {
        var generator = RandomSource(seed: 4)
        let width = 512
        let total = 6400
        let a = (0..<(total * width)).map { _ in generator.nextUnitFloat() - 0.5 }
        let b = (0..<(width * width)).map { _ in generator.nextUnitFloat() - 0.5 }
        func product(rows: Range<Int>) -> [Float] {
            var c = [Float](repeating: 0, count: rows.count * width)
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        BLAS.gemm(
                            transposeA: false, transposeB: false, m: rows.count, n: width, k: width, alpha: 1,
                            a: pa.baseAddress! + rows.lowerBound * width, lda: width, b: pb.baseAddress!, ldb: width,
                            beta: 0, c: pc.baseAddress!, ldc: width)
                    }
                }
            }
            return c
        }
        for threadCount in threads.split(separator: ",").compactMap({ Int($0) }) {
            BLAS.setThreadCount(threadCount)
            let reference = product(rows: 0..<total)
            var mismatches = 0
            var checked = 0
            for rowCount in [1, 2, 3, 7, 10, 16, 37, 64, 100, 128, 1000, 1024] {
                let before = mismatches
                var start = 0
                while start + rowCount <= total, start < 3000 {
                    let part = product(rows: start..<(start + rowCount))
                    for index in part.indices
                    where part[index].bitPattern != reference[start * width + index].bitPattern {
                        mismatches += 1
                    }
                    checked += part.count
                    start += rowCount * 3 + 1
                }
                if mismatches > before { print("  blocks of \(rowCount) rows: \(mismatches - before) elements differ") }
            }
            print(
                "threads \(threadCount): \(checked) elements in blocks of 1…1024 rows vs one \(total)-row sgemm: "
                    + (mismatches == 0 ? "bit-identical" : "\(mismatches) differ"))
        }
    }

    /// Mean passes `samples: "auto"` uses (default rule) on each data set's test images.
    func reportAdaptive(_ predictor: MonteCarloPredictor, directories: String, inputScale: Float) throws {
        BLAS.setThreadCount(1)
        let rule = AdaptiveSampling.standard
        print(
            "rule: min \(rule.minimumSamples), max \(rule.maximumSamples), tolerance \(rule.tolerance), block \(rule.blockSize)"
        )
        print("data set                                  images  mean passes  median  p90   max  accuracy  mean MI")
        var workspace = MonteCarloWorkspace()
        var summary = PredictiveSummary.empty
        for directory in directories.split(separator: ",").map(String.init) {
            let data = try DatasetLoader.load(directory: directory, split: .test)
            let count = limit > 0 ? min(limit, data.count) : data.count
            var input = [Float](repeating: 0, count: data.pixelCount)
            var passes: [Int] = []
            var correct = 0
            var information: Double = 0
            for index in 0..<count {
                for column in 0..<data.pixelCount {
                    input[column] = Float(data.pixels[index * data.pixelCount + column]) / inputScale
                }
                input.withUnsafeBufferPointer {
                    predictor.predictAdaptive(
                        $0, sampling: rule, seed: UInt64(index), workspace: &workspace, into: &summary)
                }
                passes.append(summary.sampleCount)
                if summary.prediction == Int(data.labels[index]) { correct += 1 }
                information += Double(summary.mutualInformation)
            }
            let mean = Double(passes.reduce(0, +)) / Double(count)
            passes.sort()
            print(
                String(
                    format: "%-40@ %7d %12.1f %7d %4d %5d %9.4f %8.4f", directory as NSString, count, mean,
                    passes[count / 2], passes[count * 9 / 10], passes[count - 1], Double(correct) / Double(count),
                    information / Double(count)))
        }
    }

    /// GFLOP/s of a large square sgemm (the best run), the practical ceiling for this machine and thread count.
    func measureGemmPeak(size: Int = 1024) -> Double {
        var generator = RandomSource(seed: 3)
        let a = Matrix(rows: size, columns: size, storage: (0..<(size * size)).map { _ in generator.nextUnitFloat() })
        var c = Matrix(rows: size, columns: size)
        let clock = ContinuousClock()
        var best = Double.infinity
        // Best of at least 8 runs and 1.5 s: on a shared machine a short series can miss every quiet moment.
        let deadline = clock.now + .milliseconds(1500)
        var runs = 0
        while runs < 8 || clock.now < deadline {
            let start = clock.now
            BLAS.multiply(a, by: a, into: &c)
            best = min(best, microseconds(clock.now - start))
            runs += 1
        }
        return 2 * Double(size * size * size) / best / 1e3
    }
}

/// CPU time consumed so far by all threads of this process, in µs.
func processCPUMicroseconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return Double(time.tv_sec) * 1e6 + Double(time.tv_nsec) * 1e-3
}

func microseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) * 1e-12
}
