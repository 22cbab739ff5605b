import Foundation
import MCDropout

/// Rewrites a model file with a threshold in its metadata, leaving everything else byte-identical.
enum ThresholdWriter {
    struct RoundTripError: Error, CustomStringConvertible {
        var path: String
        var description: String {
            "\(path) does not re-encode to its own bytes (written by another tool?); refusing to rewrite it"
        }
    }

    /// Decodes `original`, checks that re-encoding it unchanged reproduces it exactly (so nothing but the metadata
    /// extension can change), sets the threshold and writes the file atomically.
    static func write(_ threshold: UncertaintyThreshold, toModelAt path: String, original: [UInt8]) throws {
        var file = try ModelFile(decoding: original)
        guard file.encoded() == original else { throw RoundTripError(path: path) }
        file.metadata.setUncertaintyThreshold(threshold)
        try Data(file.encoded()).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
