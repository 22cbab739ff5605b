import Foundation

/// A small SVG plotting kit: line, step and bar charts with axes, ticks, labels and legends, composed into panels.
///
/// Only what the evaluation report needs; every chart is drawn into a rectangle of a shared document so that
/// multi-panel figures (reliability diagrams side by side, metric-vs-N grids) are one file.
struct ChartAxis {
    var label: String
    var lower: Double
    var upper: Double
    var isLogarithmic = false
    /// Explicit tick positions; computed "nice" ticks when nil.
    var ticks: [Double]?
    var format: (Double) -> String = ChartAxis.defaultFormat

    static func defaultFormat(_ value: Double) -> String {
        if value == 0 { return "0" }
        let magnitude = abs(value)
        if magnitude >= 1000 || magnitude < 0.001 { return String(format: "%.0e", value) }
        if magnitude >= 100 { return String(format: "%.0f", value) }
        var text = String(format: "%.4f", value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    func position(_ value: Double) -> Double {
        if isLogarithmic {
            let v = log10(max(value, lower))
            let a = log10(lower)
            let b = log10(upper)
            return (v - a) / (b - a)
        }
        return (value - lower) / (upper - lower)
    }

    func tickValues() -> [Double] {
        if let ticks { return ticks.filter { $0 >= lower - 1e-12 && $0 <= upper + 1e-12 } }
        if isLogarithmic {
            var result: [Double] = []
            var power = pow(10, floor(log10(lower)))
            while power <= upper * 1.0001 {
                if power >= lower * 0.9999 { result.append(power) }
                power *= 10
            }
            return result
        }
        let raw = (upper - lower) / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var value = ceil(lower / step - 1e-9) * step
        var result: [Double] = []
        while value <= upper + step * 1e-9 {
            result.append(abs(value) < step * 1e-9 ? 0 : value)
            value += step
        }
        return result
    }
}

enum SeriesStyle { case line, dashed, dotted, step }

struct ChartSeries {
    var name: String
    var points: [(x: Double, y: Double)]
    var color: String
    var style: SeriesStyle = .line
    var showsMarkers = false
    var width: Double = 2
}

/// Bars from `x0` to `x1` rising from the axis floor to `y`.
struct ChartBars {
    var name: String
    var bars: [(x0: Double, x1: Double, y: Double)]
    var fill: String
    var opacity: Double = 0.55
    var stroke: String? = nil
}

/// A text note placed in data coordinates of the plot area (fractions 0…1 of the plot width and height).
struct ChartNote {
    var text: String
    var fractionX: Double
    var fractionY: Double
    var anchor = "start"
}

enum LegendPlacement { case topLeft, topRight, bottomLeft, bottomRight, none }

struct Chart {
    var title: String
    var x: ChartAxis
    var y: ChartAxis
    var series: [ChartSeries] = []
    var bars: [ChartBars] = []
    var notes: [ChartNote] = []
    var legend: LegendPlacement = .bottomRight

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    /// Draws the chart inside the rectangle `(left, top, width, height)` of the document.
    func render(left: Double, top: Double, width: Double, height: Double) -> String {
        let plotLeft = left + 64
        let plotTop = top + 34
        let plotWidth = width - 64 - 16
        let plotHeight = height - 34 - 52
        func px(_ value: Double) -> Double { plotLeft + x.position(value) * plotWidth }
        func py(_ value: Double) -> Double { plotTop + (1 - y.position(value)) * plotHeight }
        func clampY(_ value: Double) -> Double { min(max(value, y.lower), y.upper) }
        var svg = ""
        svg += text(title, x: left + width / 2, y: top + 20, size: 15, anchor: "middle", weight: "600")
        svg +=
            "<rect x=\"\(f(plotLeft))\" y=\"\(f(plotTop))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" fill=\"#ffffff\" stroke=\"#888\" stroke-width=\"1\"/>\n"
        for tick in x.tickValues() {
            let p = px(tick)
            svg += line(p, plotTop, p, plotTop + plotHeight, color: "#e5e5e5", width: 1)
            svg += line(p, plotTop + plotHeight, p, plotTop + plotHeight + 5, color: "#555", width: 1)
            svg += text(x.format(tick), x: p, y: plotTop + plotHeight + 19, size: 12, anchor: "middle")
        }
        for tick in y.tickValues() {
            let p = py(tick)
            svg += line(plotLeft, p, plotLeft + plotWidth, p, color: "#e5e5e5", width: 1)
            svg += line(plotLeft - 5, p, plotLeft, p, color: "#555", width: 1)
            svg += text(y.format(tick), x: plotLeft - 8, y: p + 4, size: 12, anchor: "end")
        }
        svg += text(x.label, x: plotLeft + plotWidth / 2, y: plotTop + plotHeight + 40, size: 13, anchor: "middle")
        let yLabelX = left + 14
        let yLabelY = plotTop + plotHeight / 2
        svg +=
            "<text x=\"\(f(yLabelX))\" y=\"\(f(yLabelY))\" font-size=\"13\" text-anchor=\"middle\" transform=\"rotate(-90 \(f(yLabelX)) \(f(yLabelY)))\">\(escape(y.label))</text>\n"
        svg += "<g clip-path=\"url(#clip\(Int(left))_\(Int(top)))\">\n"
        for group in bars {
            for bar in group.bars where bar.y > (y.isLogarithmic ? 0 : -Double.infinity) {
                let x0 = px(max(bar.x0, x.lower))
                let x1 = px(min(bar.x1, x.upper))
                let base = y.isLogarithmic ? y.lower : max(y.lower, 0)
                let top = py(clampY(bar.y))
                let bottom = py(base)
                let stroke = group.stroke.map { " stroke=\"\($0)\" stroke-width=\"1\"" } ?? ""
                svg +=
                    "<rect x=\"\(f(x0))\" y=\"\(f(min(top, bottom)))\" width=\"\(f(max(x1 - x0, 0.5)))\" height=\"\(f(abs(bottom - top)))\" fill=\"\(group.fill)\" fill-opacity=\"\(group.opacity)\"\(stroke)/>\n"
            }
        }
        for item in series where !item.points.isEmpty {
            var path = ""
            var previous: (x: Double, y: Double)?
            for point in item.points where point.y.isFinite && point.x.isFinite {
                let sx = px(point.x)
                let sy = py(clampY(point.y))
                if let previous, item.style == .step {
                    path += " L\(f(sx)),\(f(py(clampY(previous.y))))"
                }
                path += path.isEmpty ? "M\(f(sx)),\(f(sy))" : " L\(f(sx)),\(f(sy))"
                previous = point
            }
            let dash: String
            switch item.style {
            case .dashed: dash = " stroke-dasharray=\"7 4\""
            case .dotted: dash = " stroke-dasharray=\"2 3\""
            default: dash = ""
            }
            svg +=
                "<path d=\"\(path)\" fill=\"none\" stroke=\"\(item.color)\" stroke-width=\"\(item.width)\"\(dash) stroke-linejoin=\"round\"/>\n"
            if item.showsMarkers {
                for point in item.points where point.y.isFinite {
                    svg +=
                        "<circle cx=\"\(f(px(point.x)))\" cy=\"\(f(py(clampY(point.y))))\" r=\"3.5\" fill=\"\(item.color)\"/>\n"
                }
            }
        }
        svg += "</g>\n"
        svg =
            "<clipPath id=\"clip\(Int(left))_\(Int(top))\"><rect x=\"\(f(plotLeft))\" y=\"\(f(plotTop))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\"/></clipPath>\n"
            + svg
        for note in notes {
            svg += text(
                note.text, x: plotLeft + note.fractionX * plotWidth, y: plotTop + (1 - note.fractionY) * plotHeight,
                size: 12, anchor: note.anchor)
        }
        svg += legendSVG(plotLeft: plotLeft, plotTop: plotTop, plotWidth: plotWidth, plotHeight: plotHeight)
        return svg
    }

    private func legendSVG(plotLeft: Double, plotTop: Double, plotWidth: Double, plotHeight: Double) -> String {
        var entries: [(name: String, color: String, style: SeriesStyle?, opacity: Double)] = []
        for group in bars where !group.name.isEmpty { entries.append((group.name, group.fill, nil, group.opacity)) }
        for item in series where !item.name.isEmpty { entries.append((item.name, item.color, item.style, 1)) }
        guard legend != .none, !entries.isEmpty else { return "" }
        let rowHeight = 17.0
        let longest = entries.map(\.name.count).max() ?? 0
        let boxWidth = min(Double(longest) * 6.6 + 40, plotWidth - 10)
        let boxHeight = Double(entries.count) * rowHeight + 8
        let left: Double
        let top: Double
        switch legend {
        case .topLeft:
            left = plotLeft + 8
            top = plotTop + 8
        case .topRight:
            left = plotLeft + plotWidth - boxWidth - 8
            top = plotTop + 8
        case .bottomLeft:
            left = plotLeft + 8
            top = plotTop + plotHeight - boxHeight - 8
        default:
            left = plotLeft + plotWidth - boxWidth - 8
            top = plotTop + plotHeight - boxHeight - 8
        }
        var svg =
            "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(boxWidth))\" height=\"\(f(boxHeight))\" fill=\"#ffffff\" fill-opacity=\"0.88\" stroke=\"#bbb\"/>\n"
        for (index, entry) in entries.enumerated() {
            let rowY = top + 4 + Double(index) * rowHeight + rowHeight / 2
            if let style = entry.style {
                let dash =
                    style == .dashed
                    ? " stroke-dasharray=\"7 4\"" : (style == .dotted ? " stroke-dasharray=\"2 3\"" : "")
                svg +=
                    "<line x1=\"\(f(left + 6))\" y1=\"\(f(rowY))\" x2=\"\(f(left + 28))\" y2=\"\(f(rowY))\" stroke=\"\(entry.color)\" stroke-width=\"2.5\"\(dash)/>\n"
            } else {
                svg +=
                    "<rect x=\"\(f(left + 8))\" y=\"\(f(rowY - 5))\" width=\"18\" height=\"10\" fill=\"\(entry.color)\" fill-opacity=\"\(entry.opacity)\"/>\n"
            }
            svg += text(entry.name, x: left + 34, y: rowY + 4, size: 12, anchor: "start")
        }
        return svg
    }
}

/// A figure of charts laid out in a grid of equal cells.
struct Figure {
    var charts: [Chart]
    var columns: Int
    var cellWidth: Double = 480
    var cellHeight: Double = 360
    var caption: String?

    func svg() -> String {
        let rows = (charts.count + columns - 1) / columns
        let captionHeight: Double = caption == nil ? 0 : 26
        let width = Double(columns) * cellWidth
        let height = Double(rows) * cellHeight + captionHeight
        var body =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width))\" height=\"\(f(height))\" viewBox=\"0 0 \(f(width)) \(f(height))\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
        body += "<rect width=\"100%\" height=\"100%\" fill=\"#fafafa\"/>\n"
        for (index, chart) in charts.enumerated() {
            let left = Double(index % columns) * cellWidth
            let top = Double(index / columns) * cellHeight
            body += chart.render(left: left, top: top, width: cellWidth, height: cellHeight)
        }
        if let caption {
            body += text(caption, x: 10, y: height - 9, size: 12, anchor: "start", color: "#555")
        }
        body += "</svg>\n"
        return body
    }
}

private func f(_ value: Double) -> String { String(format: "%.1f", value) }

private func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;")
}

private func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, color: String, width: Double) -> String {
    "<line x1=\"\(f(x1))\" y1=\"\(f(y1))\" x2=\"\(f(x2))\" y2=\"\(f(y2))\" stroke=\"\(color)\" stroke-width=\"\(width)\"/>\n"
}

private func text(
    _ content: String, x: Double, y: Double, size: Double, anchor: String, weight: String = "normal",
    color: String = "#222"
) -> String {
    "<text x=\"\(f(x))\" y=\"\(f(y))\" font-size=\"\(f(size))\" text-anchor=\"\(anchor)\" font-weight=\"\(weight)\" fill=\"\(color)\">\(escape(content))</text>\n"
}
