import MCDropout
import MCDropoutEvaluation
import Testing

/// Every expected value here is worked out by hand in the comment beside it.
@Suite("Evaluation metrics on hand-made inputs")
struct MetricsTests {
    func near(_ a: Double, _ b: Double, _ tolerance: Double = 1e-9) -> Bool { abs(a - b) <= tolerance }

    // Row 0: [0.7, 0.2, 0.1], label 0 (right). Row 1: [0.5, 0.5, 0], label 1 (arg-max is class 0 on the tie: wrong).
    let probabilities = Matrix(rows: 2, columns: 3, storage: [0.7, 0.2, 0.1, 0.5, 0.5, 0])
    let labels = [0, 1]

    @Test("accuracy counts first-index arg-max ties as that class")
    func accuracy() {
        #expect(Scoring.predictions(probabilities) == [0, 0])
        #expect(Scoring.accuracy(probabilities, labels: labels) == 0.5)
    }

    @Test("NLL = mean −ln p(y); a zero probability is floored")
    func negativeLogLikelihood() {
        // (−ln 0.7 − ln 0.5) / 2 = (0.356674944 + 0.693147181) / 2 = 0.524911062
        #expect(near(Scoring.negativeLogLikelihood(probabilities, labels: labels), 0.524911062, 1e-7))
        // Label 2 of row 1 has p = 0 → −ln 1e-12 = 27.631021116; with row 0: (0.356674944 + 27.631021116) / 2.
        #expect(near(Scoring.negativeLogLikelihood(probabilities, labels: [0, 2]), 13.99384803, 1e-6))
    }

    @Test("Brier sums the squared error over classes")
    func brier() {
        // Row 0: 0.3² + 0.2² + 0.1² = 0.14. Row 1 (label 1): 0.5² + 0.5² + 0² = 0.5. Mean 0.32.
        #expect(near(Scoring.brierScore(probabilities, labels: labels), 0.32, 1e-7))
        // Certain and wrong scores 2.
        #expect(near(Scoring.brierScore(Matrix(rows: 1, columns: 2, storage: [1, 0]), labels: [1]), 2))
    }

    @Test("ECE over 15 bins, bins closed on the right")
    func calibration() {
        // 0.95 → bin 14 (⌈14.25⌉ − 1), 0.65 → bin 9 (⌈9.75⌉ − 1).
        // Bin 14: confidence 0.95, accuracy ½ → gap 0.45, weight ½. Bin 9: confidence 0.65, accuracy 1 → gap 0.35.
        // ECE = ½·0.45 + ½·0.35 = 0.4; MCE = 0.45.
        let diagram = ReliabilityDiagram(
            confidences: [0.95, 0.95, 0.65, 0.65], isCorrect: [true, false, true, true], binCount: 15)
        #expect(diagram.bins.count == 15)
        #expect(near(diagram.expectedCalibrationError, 0.4))
        #expect(near(diagram.maximumCalibrationError, 0.45))
        #expect(diagram.bins[14].count == 2 && near(diagram.bins[14].accuracy, 0.5))
        #expect(diagram.bins[9].count == 2 && near(diagram.bins[9].meanConfidence, 0.65))
        #expect(diagram.bins.map(\.count).reduce(0, +) == 4)
        // Edges: 1/3 of the way belongs to bin 4 of 15 (upper edge 5/15 = 1/3 is inclusive), 1.0 to the last, 0 to
        // the first.
        let edges = ReliabilityDiagram(confidences: [1.0 / 3.0, 1, 0], isCorrect: [true, true, false], binCount: 15)
        #expect(edges.bins[4].count == 1 && edges.bins[14].count == 1 && edges.bins[0].count == 1)
        // Perfectly calibrated: confidence 0.75 with 3 of 4 right.
        let calibrated = ReliabilityDiagram(
            confidences: [0.75, 0.75, 0.75, 0.75], isCorrect: [true, true, true, false])
        #expect(near(calibrated.expectedCalibrationError, 0))
    }

    @Test("AUROC with ties counts tied positive–negative pairs as ½")
    func aurocTies() {
        // Positives 0.9, 0.5, 0.5; negatives 0.5, 0.1. Of the 6 pairs: 0.9 beats both (2), each 0.5 positive ties
        // the 0.5 negative (½ + ½) and beats 0.1 (2). AUROC = 5/6.
        let metrics = DetectionMetrics(
            scores: [0.9, 0.5, 0.5, 0.5, 0.1], isPositive: [true, true, true, false, false])
        #expect(near(metrics.areaUnderROC, 5.0 / 6.0))
        // ROC: (0,0) → threshold 0.9: (0, 1/3) → 0.5 (2 pos, 1 neg): (½, 1) → 0.1: (1, 1).
        #expect(metrics.rocCurve.map(\.truePositiveRate) == [0, 1.0 / 3.0, 1, 1])
        #expect(metrics.rocCurve.map(\.falsePositiveRate) == [0, 0, 0.5, 1])
        // AP: at 0.9 recall 1/3, precision 1; at 0.5 recall 1, precision 3/4. AP = 1/3·1 + 2/3·3/4 = 5/6.
        #expect(near(metrics.averagePrecision, 5.0 / 6.0))
        // TPR first reaches 95 % at threshold 0.5, where FPR = ½.
        #expect(metrics.falsePositiveRate(atTruePositiveRate: 0.95) == 0.5)
    }

    @Test("AUROC, AUPR and FPR@95 without ties, perfect and reversed")
    func aurocNoTies() {
        // Scores 0.8(+) 0.7(−) 0.6(+) 0.3(−). Pairs: 0.8 beats both, 0.6 beats 0.3 only → 3/4.
        let metrics = DetectionMetrics(scores: [0.8, 0.7, 0.6, 0.3], isPositive: [true, false, true, false])
        #expect(near(metrics.areaUnderROC, 0.75))
        // AP: recall ½ at precision 1, recall 1 at precision 2/3 → ½ + ½·2/3 = 5/6.
        #expect(near(metrics.averagePrecision, 5.0 / 6.0))
        // TPR reaches 1 only at 0.6, where one of two negatives is above → FPR ½.
        #expect(metrics.falsePositiveRate() == 0.5)
        let perfect = DetectionMetrics(scores: [3, 2, 1, 0], isPositive: [true, true, false, false])
        #expect(perfect.areaUnderROC == 1 && perfect.averagePrecision == 1 && perfect.falsePositiveRate() == 0)
        let reversed = DetectionMetrics(scores: [0, 1, 2, 3], isPositive: [true, true, false, false])
        #expect(reversed.areaUnderROC == 0 && reversed.falsePositiveRate() == 1)
        // All tied: one diagonal step, AUROC ½, AP = prevalence.
        let tied = DetectionMetrics(scores: [1, 1, 1, 1], isPositive: [true, false, false, false])
        #expect(tied.areaUnderROC == 0.5 && near(tied.averagePrecision, 0.25))
    }

    @Test("selective prediction keeps ties together and finds the widest threshold reaching the target")
    func selective() {
        // Sorted by uncertainty: 0.1 ✓ | 0.2 ✓ 0.2 ✗ | 0.5 ✓ | 0.9 ✗.
        // Points: (0.1: 1/5, 1), (0.2: 3/5, 2/3), (0.5: 4/5, 3/4), (0.9: 1, 3/5).
        let selective = SelectivePrediction(
            uncertainties: [0.5, 0.2, 0.1, 0.9, 0.2], isCorrect: [true, false, true, false, true])
        #expect(selective.curve.map(\.threshold) == [0.1, 0.2, 0.5, 0.9])
        #expect(selective.curve.map(\.keptCount) == [1, 3, 4, 5])
        #expect(near(selective.curve[1].accuracy, 2.0 / 3.0))
        // 75 %: reached again at 0.5 after dipping at 0.2 → threshold 0.5, coverage 0.8.
        #expect(selective.threshold(forAccuracy: 0.75)?.threshold == 0.5)
        #expect(selective.threshold(forAccuracy: 0.75)?.coverage == 0.8)
        #expect(selective.threshold(forAccuracy: 0.8)?.threshold == 0.1)
        #expect(selective.threshold(forAccuracy: 0.6)?.coverage == 1)
        #expect(selective.threshold(forAccuracy: 1.01) == nil)
        // Area: 0.2·1 + 0.4·2/3 + 0.2·3/4 + 0.2·3/5 = 0.2 + 0.26667 + 0.15 + 0.12 = 0.736667.
        #expect(near(selective.areaUnderCurve, 0.2 + 0.4 * 2.0 / 3.0 + 0.15 + 0.12))
    }
}
