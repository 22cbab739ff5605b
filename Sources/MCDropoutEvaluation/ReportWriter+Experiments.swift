import Foundation

extension ReportWriter {
    // MARK: - Experiments

    func experimentsSection() throws -> String {
        var text = "## The seeds' experiments\n\n"
        let base = "\(directory)/experiments"
        func load<Result: ResultFile>(_ name: String, as type: Result.Type) throws -> Result? {
            let path = "\(base)/\(name).json"
            return FileManager.default.fileExists(atPath: path) ? try Result(contentsOf: path) : nil
        }
        if let result = try load("overfitting", as: TrainingExperiment.self) {
            text +=
                "### Overfitting on 300 images (seed 001)\n\n\(result.description), 301 epochs; train and test "
                + "accuracy both with dropout off. Command: `mcdropout-eval experiment overfitting`.\n\n"
            text +=
                "| Run | Final train accuracy | Final test accuracy | Gap | Best test accuracy (epoch) "
                + "|\n|---|---:|---:|---:|---:|\n"
            var chart = Chart(
                title: "Overfitting: 300 MNIST images, 784-100x6-10, SGD 0.01",
                x: ChartAxis(label: "epoch", lower: 0, upper: 301),
                y: ChartAxis(label: "accuracy (%)", lower: 0, upper: 100), legend: .bottomRight)
            for (index, run) in result.runs.enumerated() {
                let label = run.label
                let train = run.epochs.compactMap { e in e.trainAccuracy.map { (Double(e.epoch), $0 * 100) } }
                let test = run.epochs.map { (Double($0.epoch), $0.testAccuracy * 100) }
                chart.series.append(
                    ChartSeries(name: "\(label): train", points: train, color: Chart.palette[index], style: .dashed))
                chart.series.append(ChartSeries(name: "\(label): test", points: test, color: Chart.palette[index]))
                chart.x.upper = max(chart.x.upper, train.last?.0 ?? 0)
                let best = test.max { $0.1 < $1.1 }
                text += String(
                    format: "| %@ | %.2f %% | %.2f %% | %.2f pp | %.2f %% (%d) |\n", label, train.last?.1 ?? 0,
                    test.last?.1 ?? 0, (train.last?.1 ?? 0) - (test.last?.1 ?? 0), best?.1 ?? 0, Int(best?.0 ?? 0))
            }
            text += "\n![overfitting](experiments-overfitting.svg)\n\n"
            try write(
                Figure(
                    charts: [chart], columns: 1, cellWidth: 760, cellHeight: 480,
                    caption:
                        "Dashed: training accuracy (dropout off) on the 300 images; solid: test accuracy on "
                        + "10,000 images."
                ), "experiments-overfitting.svg")
        }
        if let result = try load("small-net", as: TrainingExperiment.self) {
            text +=
                "### The small net with and without dropout (seed 000)\n\n\(result.description). Command: "
                + "`mcdropout-eval experiment small-net`. The seed's Rust version measured 0.916 (dropout) vs "
                + "0.908 (none) test accuracy; its exact schedule is not known here.\n\n"
            text +=
                "| Run | Epochs | Test accuracy (dropout off) | MC N=100 | Train seconds |\n|---|---:|---:|---:|---:|\n"
            var chart = Chart(
                title: "784-100x6-10 on all MNIST, SGD 0.01, batch 100",
                x: ChartAxis(label: "epoch", lower: 1, upper: 5),
                y: ChartAxis(label: "test accuracy (%)", lower: 0, upper: 100), legend: .bottomRight)
            var all: [Double] = []
            for (index, run) in result.runs.enumerated() {
                let test = run.epochs.map { (Double($0.epoch), $0.testAccuracy * 100) }
                all += test.map(\.1)
                chart.x.upper = max(chart.x.upper, test.last?.0 ?? 1)
                chart.series.append(
                    ChartSeries(name: run.label, points: test, color: Chart.palette[index], showsMarkers: true))
                text += String(
                    format: "| %@ | %d | %.2f %% | %@ | %.0f |\n", run.label, run.epochs.count,
                    run.final.testAccuracy * 100,
                    run.final.mcTestAccuracy.map { String(format: "%.2f %%", $0 * 100) } ?? "–", run.trainSeconds)
            }
            let (lower, upper) = paddedRange(all)
            chart.y = ChartAxis(label: "test accuracy (%)", lower: lower, upper: min(upper, 100))
            text += "\n![small net](experiments-small-net.svg)\n\n"
            try write(Figure(charts: [chart], columns: 1, cellWidth: 640, cellHeight: 400), "experiments-small-net.svg")
        }
        if let result = try load("deep", as: TrainingExperiment.self), let run = result.runs.first {
            let final = run.final
            text +=
                "### 784-512x4-10, dropout 0.3, Adam (seed 004)\n\n\(result.description). Command: "
                + "`mcdropout-eval experiment deep` (run once: about \(Int(run.trainSeconds)) s on one core "
                + "here).\n\n"
            text += String(
                format:
                    "Final test accuracy: %.2f %% with dropout off, %.2f %% with MC N=100 (the seed reported "
                    + "97.98 %%).\n\n",
                final.testAccuracy * 100, (final.mcTestAccuracy ?? 0) * 100)
            let epochs = run.epochs
            let train = epochs.map { (Double($0.epoch), $0.trainAccuracyRunning * 100) }
            let test = epochs.map { (Double($0.epoch), $0.testAccuracy * 100) }
            let (lower, upper) = paddedRange(train.map(\.1) + test.map(\.1))
            var chart = Chart(
                title: "784-512x4-10, dropout 0.3, Adam 1e-3",
                x: ChartAxis(label: "epoch", lower: 1, upper: Double(max(epochs.count, 2))),
                y: ChartAxis(label: "accuracy (%)", lower: lower, upper: min(upper, 100)), legend: .bottomRight)
            chart.series = [
                ChartSeries(
                    name: "train (running, dropout on)", points: train, color: Chart.palette[0], style: .dashed,
                    showsMarkers: true),
                ChartSeries(name: "test (dropout off)", points: test, color: Chart.palette[1], showsMarkers: true),
            ]
            text += "![deep](experiments-deep.svg)\n\n"
            try write(Figure(charts: [chart], columns: 1, cellWidth: 640, cellHeight: 400), "experiments-deep.svg")
        }
        if let result = try load("mc-vs-scaling", as: ScalingExperiment.self) {
            let images = result.images
            let repeats = result.repeats
            let baseline = result.deterministicError * 100
            text += "### MC averaging vs weight scaling as N grows (Srivastava et al. 2014, fig. 11)\n\n"
            text +=
                "Model `\(result.model)`, first \(images) test images, \(repeats) mask seeds per N. Command: "
                + "`mcdropout-eval experiment mc-vs-scaling`.\n\n"
            text += String(
                format:
                    "| N | Test error (mean ± sd over seeds) | vs weight scaling (%.3f %%) | Mean NLL "
                    + "|\n|---:|---:|---:|---:|\n",
                baseline)
            var mean: [(x: Double, y: Double)] = []
            var spread: [(x0: Double, x1: Double, y: Double)] = []
            var low: [(x: Double, y: Double)] = []
            var high: [(x: Double, y: Double)] = []
            for point in result.points {
                let n = Double(point.samples)
                let m = point.meanError * 100
                let s = point.stdError * 100
                mean.append((n, m))
                low.append((n, m - s))
                high.append((n, m + s))
                spread.append((n, n, m))
                text += String(
                    format: "| %d | %.3f %% ± %.3f | %+.3f pp | %.4f |\n", Int(n), m, s, m - baseline, point.meanNll)
            }
            let (lower, upper) = paddedRange(mean.map(\.y) + low.map(\.y) + high.map(\.y) + [baseline])
            let lastN = max(mean.last?.x ?? 100, 10)
            var chart = Chart(
                title: "Test error: MC averaging vs weight scaling",
                x: ChartAxis(
                    label: "MC samples N (log scale)", lower: 1, upper: lastN, isLogarithmic: true,
                    ticks: mean.map(\.x),
                    format: { String(Int($0)) }),
                y: ChartAxis(label: "test error (%)", lower: max(lower, 0), upper: upper), legend: .topRight)
            chart.series = [
                ChartSeries(
                    name: "MC dropout (mean over seeds)", points: mean, color: Chart.palette[0], showsMarkers: true),
                ChartSeries(name: "± 1 sd", points: low, color: Chart.palette[0], style: .dotted, width: 1),
                ChartSeries(name: "", points: high, color: Chart.palette[0], style: .dotted, width: 1),
                ChartSeries(
                    name: "weight scaling (dropout off)", points: [(1, baseline), (lastN, baseline)],
                    color: Chart.palette[1], style: .dashed),
            ]
            text += "\n![MC vs weight scaling](experiments-mc-vs-scaling.svg)\n\n"
            try write(
                Figure(charts: [chart], columns: 1, cellWidth: 640, cellHeight: 400), "experiments-mc-vs-scaling.svg")
        }
        return text
    }
}

/// A range around the values with 8 % padding (and a minimum span), for autoscaled axes.
func paddedRange(_ values: [Double]) -> (Double, Double) {
    let finite = values.filter(\.isFinite)
    guard let low = finite.min(), let high = finite.max() else { return (0, 1) }
    let span = max(high - low, max(abs(high), 1e-6) * 0.02)
    return (low - span * 0.08, high + span * 0.08)
}
