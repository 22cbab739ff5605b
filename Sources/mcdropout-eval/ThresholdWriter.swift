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
    /// extension can change), sets (or, for `nil`, removes) the threshold and writes the file atomically.
    static func write(_ threshold: UncertaintyThreshold?, toModelAt path: String, original: [UInt8]) throws {
        var file = try ModelFile(decoding: original)
        guard file.encoded() == original else { throw RoundTripError(path: path) }
        file.metadata.setUncertaintyThreshold(threshold)
        try Data(file.encoded()).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// A 64-bit FNV-1a hash of the network's layer sizes, weights and biases (their float bits), as 16 hex digits.
    /// It identifies the parameters an evaluation measured and does not change when only the metadata does (such as
    /// a threshold being written).
    static func fingerprint(of model: DropoutMLP) -> String {
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
