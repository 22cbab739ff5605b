import Foundation
import MCDropoutTraining

/// Shows training progress: a live bar redrawn in place on a terminal, plain per-epoch lines otherwise.
final class ProgressReporter {
    private let epochs: Int
    private let isTerminal: Bool
    private var lastDraw = ContinuousClock.now
    private let clock = ContinuousClock()
    private let start = ContinuousClock.now

    init(epochs: Int, isTerminal: Bool) {
        self.epochs = epochs
        self.isTerminal = isTerminal
    }

    func report(_ event: TrainingEvent) {
        switch event {
        case .batch(let epoch, let batch, let batchCount, let loss, let accuracy, let rate):
            guard isTerminal, clock.now - lastDraw > .milliseconds(100) || batch == batchCount else { return }
            lastDraw = clock.now
            let done = Double(epoch - 1) + Double(batch) / Double(batchCount)
            let elapsed = seconds(clock.now - start)
            let eta = elapsed / done * (Double(epochs) - done)
            let width = 24
            let filled = Int(Double(width) * Double(batch) / Double(batchCount))
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let line = String(
                format: "\r\u{1B}[2Kepoch %d/%d %@ loss %.4f acc %.2f%% %6.0f img/s ETA %@",
                epoch, epochs, bar, loss, accuracy * 100, rate, formatDuration(eta))
            FileHandle.standardOutput.write(Data(line.utf8))
        case .epoch(let record):
            if isTerminal { FileHandle.standardOutput.write(Data("\r\u{1B}[2K".utf8)) }
            var line = String(
                format: "epoch %d/%d lr %.4g train loss %.4f acc %.2f%%", record.epoch, epochs,
                record.learningRate, record.trainLoss, record.trainAccuracy * 100)
            if let loss = record.validationLoss, let accuracy = record.validationAccuracy {
                line += String(format: " | validation loss %.4f acc %.2f%%", loss, accuracy * 100)
            }
            line += String(format: " | %.1f s", record.seconds)
            print(line)
            fflush(nil)
        }
    }

    private func formatDuration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "--" }
        let total = Int(seconds.rounded())
        return total >= 60 ? "\(total / 60)m\(String(format: "%02d", total % 60))s" : "\(total)s"
    }
}
