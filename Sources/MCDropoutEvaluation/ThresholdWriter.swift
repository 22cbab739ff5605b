import Foundation
public import MCDropout

/// Stores an evaluation's threshold in a model file's metadata, leaving everything else byte-identical.
public enum ThresholdWriter {
    /// Why a threshold was not written.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// Re-encoding the file does not reproduce it, so rewriting it could change more than the metadata.
        case notRoundTrip(path: String)
        /// The evaluation measured another model.
        case otherModel(report: String, model: String, reason: String)
        /// The evaluation found no threshold reaching its target accuracy.
        case noThreshold(report: String)

        public var description: String {
            switch self {
            case .notRoundTrip(let path):
                return "\(path) does not re-encode to its own bytes (written by another tool?); refusing to rewrite it"
            case .otherModel(let report, let model, let reason): return "\(report) did not measure \(model): \(reason)"
            case .noThreshold(let report):
                return "\(report) has no recommended threshold (no score reached the target accuracy)"
            }
        }
    }

    /// Decodes `original`, checks that re-encoding it unchanged reproduces it exactly (so nothing but the metadata
    /// extension can change), sets (or, for `nil`, removes) the threshold and writes the file atomically.
    public static func write(_ threshold: UncertaintyThreshold?, toModelAt path: String, original: [UInt8]) throws {
        var file = try ModelFile(decoding: original)
        guard file.encoded() == original else { throw Failure.notRoundTrip(path: path) }
        file.metadata.setUncertaintyThreshold(threshold)
        try Data(file.encoded()).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// The recommended threshold of `report` (read from `reportPath`) after checking that it measured `file` (read
    /// from `modelPath`): same data set, layer sizes and parameter fingerprint. The warning, when not nil, says
    /// what could not be checked.
    public static func threshold(
        from report: EvaluationReport, reportPath: String, for file: ModelFile, modelPath: String
    ) throws(Failure) -> (threshold: UncertaintyThreshold, warning: String?) {
        guard report.dataset == file.metadata.dataset, report.architecture == file.model.layerSizes else {
            throw .otherModel(
                report: reportPath, model: modelPath,
                reason: "it evaluated a \(report.dataset) model \(report.architecture), not \(file.metadata.dataset) "
                    + "\(file.model.layerSizes)")
        }
        var warning: String?
        let fingerprint = fingerprint(of: file.model)
        if let measured = report.modelFingerprint {
            guard measured == fingerprint else {
                throw .otherModel(
                    report: reportPath, model: modelPath,
                    reason: "it measured parameters \(measured), the model has \(fingerprint) (retrained?) — "
                        + "evaluate it again")
            }
        } else {
            warning = "\(reportPath) has no model_fingerprint (older evaluation); only data set and shape were checked"
        }
        guard let threshold = report.recommendedThreshold else { throw .noThreshold(report: reportPath) }
        return (threshold, warning)
    }

    /// A 64-bit FNV-1a hash of the network's layer sizes, weights and biases (their float bits), as 16 hex digits.
    /// It identifies the parameters an evaluation measured and does not change when only the metadata does (such as
    /// a threshold being written).
    public static func fingerprint(of model: DropoutMLP) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ word: UInt32) {
            for shift in stride(from: 0, to: 32, by: 8) {
                hash ^= UInt64((word >> UInt32(shift)) & 0xFF)
                hash = hash &* 0x0000_0100_0000_01B3
            }
        }
        for size in model.layerSizes { mix(UInt32(truncatingIfNeeded: size)) }
        for layer in model.layers {
            for value in layer.weight.storage { mix(value.bitPattern) }
            for value in layer.bias { mix(value.bitPattern) }
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
