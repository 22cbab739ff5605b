/// One confidence bin of a ``ReliabilityDiagram``.
public struct ReliabilityBin: Sendable, Equatable {
    /// The bin covers confidences in `lowerBound < c ≤ upperBound` (the first bin also takes `c = 0`).
    public var lowerBound: Double
    /// The bin's upper edge.
    public var upperBound: Double
    /// How many predictions fell in the bin.
    public var count: Int
    /// The mean confidence of those predictions (the bin's midpoint when it is empty).
    public var meanConfidence: Double
    /// The fraction of them that were correct (0 when the bin is empty).
    public var accuracy: Double
}

/// Calibration of top-label confidences: equal-width bins, the expected and the maximum calibration error.
///
/// `ECE = Σ_b (n_b / n) · |accuracy_b − confidence_b|` over `binCount` equal-width bins of (0, 1] (Guo et al. 2017,
/// "On Calibration of Modern Neural Networks"; 15 bins as there).
public struct ReliabilityDiagram: Sendable, Equatable {
    /// The bins, lowest confidence first; empty bins included.
    public var bins: [ReliabilityBin]
    /// The expected calibration error, in `0 ... 1`.
    public var expectedCalibrationError: Double
    /// The largest `|accuracy − confidence|` over non-empty bins.
    public var maximumCalibrationError: Double
    /// The number of predictions.
    public var count: Int

    /// Bins `confidences` (each in `0 ... 1`) with whether the prediction was right.
    public init(confidences: [Double], isCorrect: [Bool], binCount: Int = 15) {
        precondition(confidences.count == isCorrect.count, "one correctness flag per confidence")
        precondition(binCount >= 1, "at least one bin")
        var counts = [Int](repeating: 0, count: binCount)
        var confidenceSums = [Double](repeating: 0, count: binCount)
        var correctCounts = [Int](repeating: 0, count: binCount)
        for (confidence, correct) in zip(confidences, isCorrect) {
            let index = Self.binIndex(confidence, binCount: binCount)
            counts[index] += 1
            confidenceSums[index] += confidence
            if correct { correctCounts[index] += 1 }
        }
        let total = confidences.count
        var expected: Double = 0
        var maximum: Double = 0
        bins = (0..<binCount).map { index in
            let lower = Double(index) / Double(binCount)
            let upper = Double(index + 1) / Double(binCount)
            guard counts[index] > 0 else {
                return ReliabilityBin(
                    lowerBound: lower, upperBound: upper, count: 0, meanConfidence: (lower + upper) / 2, accuracy: 0)
            }
            let n = Double(counts[index])
            let confidence = confidenceSums[index] / n
            let accuracy = Double(correctCounts[index]) / n
            let gap = abs(accuracy - confidence)
            expected += n / Double(total) * gap
            maximum = max(maximum, gap)
            return ReliabilityBin(
                lowerBound: lower, upperBound: upper, count: counts[index], meanConfidence: confidence,
                accuracy: accuracy)
        }
        expectedCalibrationError = expected
        maximumCalibrationError = maximum
        count = total
    }

    /// The bin of a confidence: `⌈c·B⌉ − 1`, clamped into `0 ..< B`, so bins are closed on the right.
    static func binIndex(_ confidence: Double, binCount: Int) -> Int {
        let scaled = (confidence * Double(binCount)).rounded(.up)
        guard scaled.isFinite else { return 0 }
        return min(max(Int(scaled) - 1, 0), binCount - 1)
    }
}
