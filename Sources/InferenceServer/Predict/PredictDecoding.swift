/// `/predict` body decoding as the server runs it, for `mcdropout-bench --decode` (which measures whether
/// ``PredictBodyScanner`` still earns its keep beside the JSON parser).
@_spi(Benchmarks)
public enum PredictDecoding {
    /// Decodes `body` once with the server's limits of a batch of 64; `fastPath: false` forces the JSON tree.
    /// Returns the number of pixel values read, or `nil` when the body is rejected.
    public static func decode(_ body: [UInt8], fastPath: Bool) -> Int? {
        var pixels = PixelBuffer()
        let limits = RequestLimits(maxSamples: 10_000, maxBatchSize: 64, maxTotalPasses: 1_000_000)
        guard (try? PredictRequest(body: body, limits: limits, pixels: &pixels, allowsFastPath: fastPath)) != nil else {
            return nil
        }
        return pixels.values.count
    }

    /// Whether the scanner alone accepts `body` (the common shapes do).
    public static func isScanned(_ body: [UInt8]) -> Bool {
        var pixels = PixelBuffer()
        return PredictBodyScanner.scan(body, maxBatchSize: 64, into: &pixels) != nil
    }
}
