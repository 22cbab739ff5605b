import Foundation
import MCDropout

/// The report section and figure of the shift benchmark, drawn from its JSON result only.
public enum ShiftReport {
    /// The report section: tables of every set and score, the figure, the cost of the density scores.
    public static func markdown(_ report: ShiftBenchmark.Report, model: String, figure: String, command: String)
        -> String
    {
        let deterministic = report.modes.first { $0.samples == 0 }!
        let monteCarlo = report.modes.first { $0.samples > 0 }!
        let n = monteCarlo.samples
        var lines: [String] = []
        let images = monteCarlo.sets.first?.images ?? 0
        lines.append("### Shift and out-of-distribution benchmark: `\(model)`")
        lines.append("")
        lines.append(
            "Command: `\(command)`. The first \(images) test images, rotated (bilinear, about the centre) and "
                + "shifted in six milder ways (moved 2 px right and down, moved 4 px left, ink scaled by 0.5, strokes "
                + "dilated by a 3 × 3 maximum, a 3 × 3 box blur, Gaussian noise of σ = 0.1 of the pixel range on "
                + "every pixel), the other data set's first \(images) test images and \(images) uniform-noise images; per-image seeds from "
                + "\(report.firstSeed). *Flagged* is the model's stored rule as the server applies it at N = \(n): "
                + (report.rule.isEmpty
                    ? "the model has no stored rule." : report.rule.map { "`\($0)`" }.joined(separator: " or ")) + ".")
        lines.append("")
        lines.append(
            "| Set | Accuracy off | Accuracy MC | NLL MC | Brier MC | ECE MC | Flagged | Unflagged right | "
                + report.rule.indices.map { "by rule \($0 + 1)" }.joined(separator: " | ")
                + (report.rule.isEmpty ? "–" : "") + " |")
        lines.append("|---|" + String(repeating: "---:|", count: 7 + max(report.rule.count, 1)))
        for (off, mc) in zip(deterministic.sets, monteCarlo.sets) {
            var row = [
                mc.name, percent(off.accuracy), percent(mc.accuracy), fixed(mc.negativeLogLikelihood),
                fixed(mc.brierScore), fixed(mc.expectedCalibrationError), percent(mc.flagged),
                percent(mc.unflaggedAccuracy),
            ]
            row += mc.flaggedByCondition.isEmpty ? ["–"] : mc.flaggedByCondition.map { percent($0) }
            lines.append("| " + row.joined(separator: " | ") + " |")
        }
        lines.append("")
        lines.append("![accuracy and flags under rotation](\(figure))")
        lines.append("")
        lines.append(
            "OOD detection (clean test images negative, the OOD set positive; density scores do not depend on dropout):"
        )
        lines.append("")
        lines.append("| OOD set | Score | Mode | AUROC | AUPR | FPR at 95 % TPR |")
        lines.append("|---|---|---|---:|---:|---:|")
        for (mode, label) in [(deterministic, "dropout off"), (monteCarlo, "MC N=\(n)")] {
            for detection in mode.detection {
                let isDensity = DensityScore(rawValue: detection.score) != nil
                if mode.samples == 0, isDensity { continue }
                let shownMode = isDensity ? "input only" : label
                lines.append(
                    "| \(detection.outOfDistribution) | \(detection.score) | \(shownMode) | "
                        + "\(fixed(detection.areaUnderROC)) | \(fixed(detection.averagePrecision)) | "
                        + "\(fixed(detection.falsePositiveRateAt95)) |")
            }
        }
        lines.append("")
        lines.append(
            String(
                format:
                    "Cost per image on this run (one thread, shared machine): N = %d passes %.0f µs, density scores %.0f µs (%.1f %%).",
                n, monteCarlo.passMicroseconds, monteCarlo.densityMicroseconds,
                100 * monteCarlo.densityMicroseconds / max(monteCarlo.passMicroseconds, 1e-9)))
        lines.append("")
        return lines.joined(separator: "\n")
    }

    private static func percent(_ value: Double?) -> String {
        guard let value else { return "–" }
        return String(format: "%.1f %%", 100 * value)
    }

    private static func fixed(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "–" }
        return String(format: "%.4f", value)
    }
}

/// The shift benchmark's figure: accuracy and flags against the rotation angle.
public enum ShiftFigure {
    /// Accuracy, flagged share and unflagged accuracy against the angle; the share each condition flags.
    public static func svg(_ report: ShiftBenchmark.Report) -> String {
        let deterministic = report.modes.first { $0.samples == 0 }!
        let monteCarlo = report.modes.first { $0.samples > 0 }!
        func points(_ sets: [ShiftBenchmark.SetResult], _ value: (ShiftBenchmark.SetResult) -> Double?) -> [(
            x: Double, y: Double
        )] {
            sets.compactMap { set in set.rotation.flatMap { angle in value(set).map { (angle, $0) } } }
        }
        let palette = Chart.palette
        var accuracy = Chart(
            title: "Rotated test images: accuracy",
            x: ChartAxis(
                label: "rotation (degrees)", lower: 0, upper: 180,
                ticks: stride(from: 0, through: 180, by: 30).map { $0 }),
            y: ChartAxis(label: "share", lower: 0, upper: 1), legend: .topRight)
        accuracy.series = [
            ChartSeries(
                name: "accuracy, dropout off", points: points(deterministic.sets) { $0.accuracy }, color: palette[0],
                style: .dashed),
            ChartSeries(
                name: "accuracy, MC N=\(monteCarlo.samples)", points: points(monteCarlo.sets) { $0.accuracy },
                color: palette[0], showsMarkers: true),
            ChartSeries(
                name: "unflagged answers right", points: points(monteCarlo.sets) { $0.unflaggedAccuracy },
                color: palette[2], showsMarkers: true),
            ChartSeries(
                name: "flagged", points: points(monteCarlo.sets) { $0.flagged }, color: palette[1], showsMarkers: true),
        ]
        var conditions = Chart(
            title: "Share flagged by each condition of the rule",
            x: accuracy.x, y: ChartAxis(label: "share flagged", lower: 0, upper: 1), legend: .bottomRight)
        conditions.series = report.rule.enumerated().map { index, name in
            ChartSeries(
                name: name, points: points(monteCarlo.sets) { $0.flaggedByCondition[index] },
                color: palette[(index + 3) % palette.count], showsMarkers: true)
        }
        return Figure(
            charts: [accuracy, conditions], columns: 2,
            caption: "\(report.dataset): test images rotated 0–180°; the rule as stored in the model file"
        ).svg()
    }
}
