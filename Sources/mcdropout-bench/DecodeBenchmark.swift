import ArgumentParser
import Foundation
@_spi(Benchmarks) import InferenceServer
import MCDropoutCommandLine

/// `--decode FILES`: what decoding a `/predict` body costs, on real bodies (e.g. `examples/*.json`), by both of the
/// server's paths: ``PredictBodyScanner`` (the common shapes, straight into the pixel buffer) and the JSON parser's
/// tree, which every body the scanner does not accept takes. Compare with a request's inference time in the same run.
enum DecodeBenchmark {
    static func run(paths: [String], seconds: Double) throws {
        print(
            "body                                       bytes  values  scanned  scanner µs (p10)   JSON tree µs (p10)"
                + "  tree/scan")
        for path in paths {
            let body = try InputFile.bytes(path)
            guard let values = PredictDecoding.decode(body, fastPath: false) else {
                throw ValidationError("\(path): the server rejects this body")
            }
            let scanned = PredictDecoding.isScanned(body)
            let scanner = measure(body, fastPath: true, seconds: seconds / 2)
            let tree = measure(body, fastPath: false, seconds: seconds / 2)
            let name = URL(fileURLWithPath: path).lastPathComponent
            print(
                (padded(name, 40) as String)
                    + String(
                        format: " %7d %7d %8@ %9.1f (%6.1f) %11.1f (%6.1f) %9.2f×", body.count, values,
                        (scanned ? "yes" : "no") as NSString, scanner.median, scanner.p10, tree.median, tree.p10,
                        tree.median / scanner.median))
        }
    }

    static func padded(_ text: String, _ width: Int) -> NSString {
        (text.count >= width ? text : text + String(repeating: " ", count: width - text.count)) as NSString
    }

    /// Median and 10th percentile in µs of decoding `body` repeatedly for about `seconds`.
    static func measure(_ body: [UInt8], fastPath: Bool, seconds: Double) -> (median: Double, p10: Double) {
        let clock = ContinuousClock()
        var times: [Double] = []
        let deadline = clock.now + .milliseconds(Int(seconds * 1000))
        while clock.now < deadline || times.count < 20 {
            let start = clock.now
            _ = PredictDecoding.decode(body, fastPath: fastPath)
            times.append(microseconds(clock.now - start))
        }
        times.sort()
        return (times[times.count / 2], times[times.count / 10])
    }
}
