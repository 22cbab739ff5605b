public import MCDropout

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Proper scoring rules and accuracy for class probabilities.
///
/// Every function takes an `examples × classes` ``Matrix`` whose rows are predictive distributions and one label per
/// row. Logarithms are natural, so NLL is in nats.
public enum Scoring {
    /// The arg-max class of each row (the first class on ties, as ``PredictiveSummary/prediction``).
    public static func predictions(_ probabilities: Matrix) -> [Int] {
        (0..<probabilities.rows).map { row in
            var best = 0
            for column in 1..<probabilities.columns where probabilities[row, column] > probabilities[row, best] {
                best = column
            }
            return best
        }
    }

    /// The fraction of rows whose arg-max is the label.
    public static func accuracy(_ probabilities: Matrix, labels: [Int]) -> Double {
        check(probabilities, labels)
        let correct = zip(predictions(probabilities), labels).filter { $0 == $1 }.count
        return Double(correct) / Double(max(labels.count, 1))
    }

    /// The mean negative log-likelihood `−(1/n) Σ ln p(yᵢ)` with the project's one clamp,
    /// ``SoftmaxCrossEntropy/negativeLogLikelihood(ofProbability:)`` (probabilities below 1e-12 count as 1e-12, so
    /// one confident mistake costs at most 27.6 nats instead of infinity) — the same as the training loss.
    public static func negativeLogLikelihood(_ probabilities: Matrix, labels: [Int]) -> Double {
        check(probabilities, labels)
        var sum: Double = 0
        for (row, label) in labels.enumerated() {
            sum += SoftmaxCrossEntropy.negativeLogLikelihood(ofProbability: Double(probabilities[row, label]))
        }
        return sum / Double(max(labels.count, 1))
    }

    /// The multi-class Brier score `(1/n) Σᵢ Σ_c (p_ic − 1[c = yᵢ])²`, from 0 (perfect) to 2 (certain and wrong).
    ///
    /// This is Brier's original definition (summed over classes), not the per-class mean some libraries report.
    public static func brierScore(_ probabilities: Matrix, labels: [Int]) -> Double {
        check(probabilities, labels)
        var sum: Double = 0
        for (row, label) in labels.enumerated() {
            for column in 0..<probabilities.columns {
                let target: Double = column == label ? 1 : 0
                let difference = Double(probabilities[row, column]) - target
                sum += difference * difference
            }
        }
        return sum / Double(max(labels.count, 1))
    }

    /// The largest probability of each row: the confidence that calibration is measured on.
    public static func confidences(_ probabilities: Matrix) -> [Double] {
        (0..<probabilities.rows).map { row in
            var best = probabilities[row, 0]
            for column in 1..<probabilities.columns { best = max(best, probabilities[row, column]) }
            return Double(best)
        }
    }

    private static func check(_ probabilities: Matrix, _ labels: [Int]) {
        precondition(probabilities.rows == labels.count, "one label per row")
        precondition(labels.allSatisfy { $0 >= 0 && $0 < probabilities.columns }, "labels must index a column")
    }
}

/// The natural logarithm, for the other files of this module.
@inline(__always) func naturalLog(_ x: Double) -> Double { log(x) }
