import Foundation
import MCDropout

/// The figures of one model's section, drawn from its ``EvaluationReport``.
extension ReportWriter {
    func metricsVersusN(_ result: EvaluationReport, name: String) -> Figure {
        let rows = result.rows
        let deterministic = rows.first { $0.mode == .deterministic && result.isFullSet($0) }
        let subsetDeterministic = rows.first { $0.mode == .deterministic && !result.isFullSet($0) }
        let allMC = rows.filter { $0.mode == .monteCarlo }
        let mc = allMC.filter { result.isFullSet($0) }
        let subsetMC = allMC.filter { !result.isFullSet($0) }
        let subsetName = "first \(subsetMC.first?.images ?? 0) images"
        let counts = Array(Set(allMC.map { Double($0.samples) })).sorted()
        let lowerN = max(counts.min() ?? 1, 1)
        let upperN = max(counts.max() ?? 1000, lowerN * 10)
        let xAxis = ChartAxis(
            label: "MC samples N (log scale)", lower: lowerN, upper: upperN, isLogarithmic: true, ticks: counts,
            format: { String(Int($0)) })
        func points(_ rows: [MetricRow], _ value: (MetricRow) -> Double?) -> [(x: Double, y: Double)] {
            rows.compactMap { row in value(row).map { (Double(row.samples), $0) } }
        }
        func chart(
            _ metric: KeyPath<MetricRow, Double>, _ title: String, _ label: String, scale: Double = 1,
            legend: LegendPlacement = .topRight
        ) -> Chart {
            let values = points(mc) { $0[keyPath: metric] * scale }
            let subsetValues = points(subsetMC) { $0[keyPath: metric] * scale }
            let baseline = deterministic.map { $0[keyPath: metric] * scale }
            let subsetBaseline = subsetDeterministic.map { $0[keyPath: metric] * scale }
            let all = values.map(\.y) + subsetValues.map(\.y) + [baseline, subsetBaseline].compactMap { $0 }
            let (lower, upper) = paddedRange(all)
            var chart = Chart(
                title: title, x: xAxis, y: ChartAxis(label: label, lower: lower, upper: upper), legend: legend)
            chart.series.append(
                ChartSeries(name: "MC dropout, all images", points: values, color: Chart.palette[0], showsMarkers: true)
            )
            if let baseline {
                chart.series.append(
                    ChartSeries(
                        name: "dropout off, all images", points: [(lowerN, baseline), (upperN, baseline)],
                        color: Chart.palette[1], style: .dashed))
            }
            if !subsetValues.isEmpty {
                chart.series.append(
                    ChartSeries(
                        name: "MC dropout, \(subsetName)", points: subsetValues, color: Chart.palette[4],
                        style: .dotted,
                        showsMarkers: true))
            }
            if let subsetBaseline {
                chart.series.append(
                    ChartSeries(
                        name: "dropout off, \(subsetName)",
                        points: [(lowerN, subsetBaseline), (upperN, subsetBaseline)],
                        color: Chart.palette[5], style: .dotted, width: 1.5))
            }
            return chart
        }
        var auroc = Chart(
            title: "OOD detection AUROC", x: xAxis, y: ChartAxis(label: "AUROC", lower: 0, upper: 1),
            legend: .bottomRight)
        var aurocValues: [Double] = []
        for (index, score) in UncertaintyScore.allCases.enumerated() {
            // With one pass, mutual information and variance are identically 0 (AUROC ≈ 0.5 by ties): not drawn.
            let isSpread = score == .mutualInformation || score == .totalVariance
            func value(_ row: MetricRow) -> Double? { isSpread && row.samples == 1 ? nil : row.oodAuroc?[score] }
            let values = points(mc, value)
            let subsetValues = points(subsetMC, value)
            aurocValues += values.map(\.y) + subsetValues.map(\.y)
            auroc.series.append(
                ChartSeries(
                    name: "MC \(score.title)", points: values, color: Chart.palette[index], showsMarkers: true))
            // The subset rows, dotted in the same colour (explained in the caption, not the legend).
            auroc.series.append(
                ChartSeries(
                    name: "", points: subsetValues, color: Chart.palette[index], style: .dotted, showsMarkers: true,
                    width: 1.5))
            if let v = deterministic?.oodAuroc?[score] {
                aurocValues.append(v)
                auroc.series.append(
                    ChartSeries(
                        name: "dropout off, \(score.title)", points: [(lowerN, v), (upperN, v)],
                        color: Chart.palette[index],
                        style: .dashed, width: 1.5))
            }
        }
        let (lower, upper) = paddedRange(aurocValues)
        auroc.y = ChartAxis(
            label: "AUROC (\(pretty(result.oodDataset ?? "")) as OOD)", lower: lower, upper: min(upper, 1))
        var charts = [
            chart(\.accuracy, "Test accuracy", "accuracy (%)", scale: 100, legend: .bottomRight),
            chart(\.nll, "Negative log-likelihood", "NLL (nats)"),
            chart(\.ece, "Expected calibration error", "ECE (15 bins)", legend: .none),  // same series as above
        ]
        if result.oodDataset != nil { charts.append(auroc) }
        return Figure(
            charts: charts, columns: 2, cellWidth: 520, cellHeight: 380,
            caption: "\(pretty(result.dataset)) model: MC dropout as N grows vs dropout off (dashed)."
                + (subsetMC.isEmpty
                    ? "" : " Dotted: the \(subsetName) only (large N, and its baselines on the same images)."))
    }

    func reliability(_ result: EvaluationReport, name: String) -> Figure {
        let headings: [(PredictionMode, String)] = [
            (.deterministic, "Dropout off"), (.monteCarlo, "MC dropout, N = \(result.mainSamples)"),
        ]
        let charts = headings.map { mode, heading -> Chart in
            let diagram = result.reliability[mode]
            var chart = Chart(
                title: String(format: "%@ — ECE %.4f", heading, diagram?.ece ?? 0),
                x: ChartAxis(label: "confidence (max probability)", lower: 0, upper: 1),
                y: ChartAxis(label: "accuracy in bin", lower: 0, upper: 1), legend: .topLeft)
            var accuracyBars: [(x0: Double, x1: Double, y: Double)] = []
            var gapBars: [(x0: Double, x1: Double, y: Double)] = []
            var notes: [ChartNote] = []
            for bin in diagram?.bins ?? [] where bin.count > 0 {
                let width = bin.upper - bin.lower
                accuracyBars.append((bin.lower, bin.upper, bin.accuracy))
                gapBars.append((bin.lower + width * 0.3, bin.upper - width * 0.3, bin.confidence))
                notes.append(
                    ChartNote(
                        text: "\(bin.count)", fractionX: (bin.lower + bin.upper) / 2, fractionY: 0.015, anchor: "middle"
                    ))
            }
            chart.bars = [
                ChartBars(
                    name: "accuracy (number: images in bin)", bars: accuracyBars, fill: Chart.palette[0],
                    opacity: 0.75, stroke: "#ffffff"),
                ChartBars(name: "mean confidence", bars: gapBars, fill: Chart.palette[1], opacity: 0.35),
            ]
            chart.series = [
                ChartSeries(
                    name: "perfect calibration", points: [(0, 0), (1, 1)], color: "#444", style: .dashed, width: 1.5)
            ]
            chart.notes = notes.filter { $0.text != "0" }
            return chart
        }
        return Figure(
            charts: charts, columns: 2, cellWidth: 520, cellHeight: 420,
            caption: "\(pretty(result.dataset)) test set, 15 equal-width bins; numbers are images per bin. "
                + "Bars below the diagonal = overconfident.")
    }

    func roc(_ result: EvaluationReport, name: String) -> Figure {
        var chart = Chart(
            title: "ROC: \(pretty(result.dataset)) in vs \(pretty(result.oodDataset ?? "")) out",
            x: ChartAxis(label: "false-positive rate (in-distribution flagged)", lower: 0, upper: 1),
            y: ChartAxis(label: "true-positive rate (OOD flagged)", lower: 0, upper: 1), legend: .bottomRight)
        for (mode, style) in [(PredictionMode.monteCarlo, SeriesStyle.line), (.deterministic, .dashed)] {
            for (index, score) in UncertaintyScore.allCases.enumerated() {
                guard let entry = result.ood[mode]?[score] else { continue }
                let prefix = mode == .monteCarlo ? "MC N=\(result.mainSamples)" : "dropout off"
                chart.series.append(
                    ChartSeries(
                        name: String(format: "%@ %@ (AUROC %.4f)", prefix, score.title, entry.auroc),
                        points: entry.roc.map { ($0.x, $0.y) }, color: Chart.palette[index], style: style,
                        width: mode == .monteCarlo ? 2 : 1.5))
            }
        }
        chart.series.append(ChartSeries(name: "", points: [(0, 0), (1, 1)], color: "#aaa", style: .dotted, width: 1))
        // A zoom on the low-FPR corner, where a detector is actually operated.
        var zoom = chart
        zoom.title = "Zoom: FPR ≤ 0.2"
        zoom.x = ChartAxis(label: "false-positive rate", lower: 0, upper: 0.2)
        let lowTPR =
            chart.series.compactMap { series in
                series.points.first.map { _ in series.points.filter { $0.x <= 0.2 }.map(\.y).min() ?? 0 }
            }.min() ?? 0
        zoom.y = ChartAxis(label: "true-positive rate", lower: max(0, (lowTPR * 10).rounded(.down) / 10), upper: 1)
        zoom.legend = .none
        return Figure(
            charts: [chart, zoom], columns: 2, cellWidth: 560, cellHeight: 460,
            caption: "Solid: MC dropout; dashed: dropout off. Positive = out-of-distribution; each score is an "
                + "uncertainty (max-probability as 1 − max p).")
    }

    func histograms(_ result: EvaluationReport, name: String) -> Figure {
        let main = result.mainSamples
        let inName = pretty(result.dataset)
        let outName = pretty(result.oodDataset ?? "")
        let panels: [(mode: PredictionMode, score: UncertaintyScore, heading: String, unit: String)] = [
            (.deterministic, .predictiveEntropy, "Dropout off: softmax entropy", "entropy (nats)"),
            (.monteCarlo, .predictiveEntropy, "MC N=\(main): predictive entropy", "entropy (nats)"),
            (.monteCarlo, .mutualInformation, "MC N=\(main): mutual information", "mutual information (nats)"),
            (.monteCarlo, .totalVariance, "MC N=\(main): summed variance", "Σ variance"),
        ]
        let charts = panels.compactMap { panel -> Chart? in
            guard let histogram = result.histograms[panel.mode]?[panel.score] else { return nil }
            let inValues = histogram.inDistribution
            let outValues = histogram.outOfDistribution
            let width = histogram.upper / Double(max(inValues.count, 1))
            func bars(_ values: [Double]) -> [(x0: Double, x1: Double, y: Double)] {
                values.enumerated().map { (Double($0.offset) * width, Double($0.offset + 1) * width, $0.element) }
            }
            let smallest = (inValues + outValues).filter { $0 > 0 }.min() ?? 1e-4
            var chart = Chart(
                title: panel.heading, x: ChartAxis(label: panel.unit, lower: 0, upper: histogram.upper),
                y: ChartAxis(
                    label: "fraction of images (log scale)", lower: pow(10, floor(log10(smallest))), upper: 1,
                    isLogarithmic: true),
                legend: .topRight)
            chart.bars = [
                ChartBars(
                    name: String(format: "%@ test (in), mean %.3g", inName, histogram.inMean), bars: bars(inValues),
                    fill: Chart.palette[0], opacity: 0.55),
                ChartBars(
                    name: String(format: "%@ test (OOD), mean %.3g", outName, histogram.outMean),
                    bars: bars(outValues), fill: Chart.palette[3], opacity: 0.55),
            ]
            return chart
        }
        return Figure(
            charts: charts, columns: 2, cellWidth: 520, cellHeight: 380,
            caption: "Uncertainty of in-distribution (blue) vs out-of-distribution (orange) test images; 40 equal "
                + "bins. Good scores separate the two.")
    }

    func coverage(_ result: EvaluationReport, name: String) -> Figure {
        let target = result.targetAccuracy
        var chart = Chart(
            title: "Accuracy of the kept predictions vs coverage (\(pretty(result.dataset)))",
            x: ChartAxis(label: "coverage (fraction of test images answered)", lower: 0, upper: 1),
            y: ChartAxis(label: "accuracy on kept images (%)", lower: 0, upper: 100), legend: .bottomLeft)
        var lowest = 100.0
        var firstDrop = 1.0
        for mode in [PredictionMode.monteCarlo, .deterministic] {
            for (index, score) in UncertaintyScore.allCases.enumerated() {
                guard let entry = result.selective[mode]?[score] else { continue }
                let curve = entry.curve.filter { $0.x >= 0.02 }.map { ($0.x, $0.y * 100) }
                lowest = min(lowest, curve.map(\.1).min() ?? 100)
                let drop = curve.first { $0.1 < 100 - (1 - target) * 20 }?.0 ?? 1
                firstDrop = min(firstDrop, drop)
                let isMonteCarlo = mode == .monteCarlo
                let label = isMonteCarlo ? "MC N=\(result.mainSamples) \(score.title)" : "dropout off \(score.title)"
                chart.series.append(
                    ChartSeries(
                        name: label, points: curve, color: Chart.palette[index], style: isMonteCarlo ? .line : .dashed,
                        width: isMonteCarlo ? 2 : 1.5))
            }
        }
        chart.y.lower = max(0, (lowest - 0.5).rounded(.down))
        chart.series.append(
            ChartSeries(
                name: String(format: "target %.1f %%", target * 100), points: [(0, target * 100), (1, target * 100)],
                color: "#000", style: .dotted, width: 1.5))
        var zoom = chart
        zoom.title = "Zoom on high coverage"
        zoom.legend = .none
        if let recommended = result.recommendedThreshold, let coverage = recommended.coverage {
            let rule = recommended.score == .maxProbability ? "1 − max p" : recommended.score.title
            let marker = ChartSeries(
                name: String(
                    format: "recommended: %@ ≤ %.3g (coverage %.1f %%)", rule, recommended.value, coverage * 100),
                points: [(coverage, chart.y.lower), (coverage, 100)], color: "#555", style: .dotted, width: 1.5)
            chart.series.append(marker)
            zoom.series.append(marker)
        }
        zoom.x.lower = max(0, ((firstDrop - 0.05) * 10).rounded(.down) / 10)
        zoom.x.label = "coverage"
        let visible = zoom.series.flatMap { $0.points.filter { $0.x >= zoom.x.lower } }.map(\.y)
        zoom.y.lower = max(0, ((visible.min() ?? 99) - 0.2).rounded(.down))
        return Figure(
            charts: [chart, zoom], columns: 2, cellWidth: 600, cellHeight: 480,
            caption: "Answer only the most certain images (uncertainty ≤ threshold). Solid: MC dropout, dashed: "
                + "dropout off.")
    }
}
