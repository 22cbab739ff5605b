import Foundation
import HTTPTransport
import InferenceServer
import Logging
import MCDropout

/// `--drift-cost`: what recording the drift metrics adds to a request, through the whole in-process request path
/// (route, decode, passes, density scores, drift recording, JSON encoding) of two services over the same model file,
/// one started with `recordsDriftMetrics` off (as `--no-drift-metrics` does).
///
/// The two run in alternating rounds of `roundSize` requests each (the order flips every round), so a change in the
/// machine's load hits both alike; each request's time is this thread's CPU time (BLAS runs on one thread here), which
/// leaves out time spent descheduled. Reports the medians, the median over rounds of the paired difference of the
/// round means (also as a percentage of the median request without recording), and the mean paired difference with
/// its standard error, which says how small a difference the run could have seen.
struct DriftCostMeasurement {
    var modelPath: String
    var pixelsJSON: String
    var roundSize = 25

    func run(sampleCounts: [Int], seconds: Double) throws {
        BLAS.setThreadCount(1)
        let services = try [false, true].map { records in
            var configuration = ServerConfiguration()
            configuration.modelPaths = [modelPath]
            configuration.recordsDriftMetrics = records
            let service = InferenceService(
                configuration: configuration, registry: try ModelRegistry(paths: [modelPath]),
                logger: Logger(label: "bench"))
            service.markReady()
            return service
        }
        print("drift metrics cost: \(modelPath), /predict with one input, CPU µs per request (1 BLAS thread)")
        print("     N   rounds   off median   on median   paired Δ µs   paired Δ %   mean Δ µs ± s.e.")
        for count in sampleCounts {
            let body = Array(#"{"pixels": \#(pixelsJSON), "samples": \#(count), "seed": 1}"#.utf8)
            let request = HTTPRequest(method: "POST", path: "/predict", body: body)
            for service in services {
                for _ in 0..<5 { precondition(service.handle(request).status == 200, "the request must succeed") }
            }
            var times: [[Double]] = [[], []]
            var differences: [Double] = []
            let clock = ContinuousClock()
            let start = clock.now
            var round = 0
            while clock.now - start < .seconds(seconds) || round < 4 {
                var means = [0.0, 0.0]
                for index in round % 2 == 0 ? [0, 1] : [1, 0] {
                    for _ in 0..<roundSize {
                        let before = threadCPUMicroseconds()
                        _ = services[index].handle(request)
                        let elapsed = threadCPUMicroseconds() - before
                        times[index].append(elapsed)
                        means[index] += elapsed / Double(roundSize)
                    }
                }
                differences.append(means[1] - means[0])
                round += 1
            }
            let off = median(times[0])
            let on = median(times[1])
            let paired = median(differences)
            let mean = differences.reduce(0, +) / Double(differences.count)
            let variance = differences.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(differences.count - 1)
            print(
                String(
                    format: "%6d %8d %12.1f %11.1f %13.2f %11.2f%% %11.2f ± %.2f", count, round, off, on, paired,
                    100 * paired / off, mean, (variance / Double(differences.count)).squareRoot()))
        }
    }

    func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
}

/// This thread's CPU time, in microseconds.
func threadCPUMicroseconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) * 1e6 + Double(time.tv_nsec) / 1e3
}
