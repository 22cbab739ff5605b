/// One point of the accuracy–coverage curve: predictions with uncertainty `≤ threshold` are kept.
public struct CoveragePoint: Sendable, Equatable {
    /// The uncertainty cut-off.
    public var threshold: Double
    /// The number of predictions kept.
    public var keptCount: Int
    /// The fraction of predictions kept.
    public var coverage: Double
    /// The accuracy on the kept predictions.
    public var accuracy: Double
}

/// Selective prediction: answer only when the uncertainty is at most a threshold, abstain otherwise.
///
/// The curve has one point per distinct uncertainty (ties are kept or dropped together, since a threshold cannot
/// split them), in order of increasing threshold and coverage.
public struct SelectivePrediction: Sendable, Equatable {
    /// Accuracy against coverage, lowest threshold first; the last point has coverage 1.
    public var curve: [CoveragePoint]

    /// Uncertainties (lower = more confident) and whether each prediction was right.
    public init(uncertainties: [Double], isCorrect: [Bool]) {
        precondition(uncertainties.count == isCorrect.count, "one correctness flag per uncertainty")
        precondition(uncertainties.allSatisfy { !$0.isNaN }, "uncertainties must not be NaN")
        let order = uncertainties.indices.sorted { uncertainties[$0] < uncertainties[$1] }
        var points: [CoveragePoint] = []
        var kept = 0
        var correct = 0
        var start = 0
        while start < order.count {
            let threshold = uncertainties[order[start]]
            while start < order.count, uncertainties[order[start]] == threshold {
                kept += 1
                if isCorrect[order[start]] { correct += 1 }
                start += 1
            }
            points.append(
                CoveragePoint(
                    threshold: threshold, keptCount: kept, coverage: Double(kept) / Double(order.count),
                    accuracy: Double(correct) / Double(kept)))
        }
        curve = points
    }

    /// The threshold with the largest coverage whose kept predictions reach `targetAccuracy`, or nil when even the
    /// most confident group misses it. Accuracy need not fall monotonically with coverage, so every point is tried.
    public func threshold(forAccuracy targetAccuracy: Double) -> CoveragePoint? {
        curve.last { $0.accuracy >= targetAccuracy - 1e-12 }
    }

    /// The area under the accuracy–coverage curve (step-wise, each point weighted by the coverage it adds); higher
    /// is better, and it equals the accuracy when every uncertainty is tied.
    public var areaUnderCurve: Double {
        var area: Double = 0
        var previous: Double = 0
        for point in curve {
            area += (point.coverage - previous) * point.accuracy
            previous = point.coverage
        }
        return area
    }
}
