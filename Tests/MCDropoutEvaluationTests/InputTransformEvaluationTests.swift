import Foundation
import MCDropout
import MCDropoutData
import MCDropoutEvaluation
import Testing

/// The repository root, from this file's location.
private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

@Suite("The evaluator prepares inputs as the server does, input transform included")
struct InputTransformEvaluationTests {
    static let side = 8

    /// Twelve 8 × 8 "digits" (a plus of varying ink at the centre) and the same digits moved by up to 2 pixels.
    static func sets() -> (centred: LabeledImages, moved: LabeledImages) {
        var centred: [UInt8] = []
        var moved: [UInt8] = []
        for index in 0..<12 {
            let (rows, columns) = (index % 5 - 2, index % 3 - 1)
            var image = [UInt8](repeating: 0, count: side * side)
            var shifted = image
            let ink: [(Int, Int, UInt8)] = [
                (0, 0, UInt8(100 + 10 * index)), (-1, 0, 80), (1, 0, 80), (0, -1, UInt8(30 + index)), (0, 1, 30),
            ]
            for (dy, dx, value) in ink {
                image[(side / 2 + dy) * side + side / 2 + dx] = value
                shifted[(side / 2 + dy + rows) * side + side / 2 + dx + columns] = value
            }
            centred += image
            moved += shifted
        }
        let labels = (0..<12).map { UInt8($0 % 3) }
        return (
            LabeledImages(pixels: centred, labels: labels, pixelCount: side * side),
            LabeledImages(pixels: moved, labels: labels, pixelCount: side * side)
        )
    }

    @Test("dropout off, Monte-Carlo and the scored predictions see moved digits as centred ones with the transform")
    func movedDigits() {
        var generator = RandomSource(seed: 8)
        let model = DropoutMLP(
            layerSizes: [Self.side * Self.side, 12, 3], dropoutProbabilities: [0, 0.3], initialization: .he,
            using: &generator)
        let (centred, moved) = Self.sets()
        let recentring = InputPreparation(scale: 255, transform: .centerOfMass, imageSide: Self.side)
        let plain = InputPreparation(scale: 255)
        func probabilities(_ data: LabeledImages, _ input: InputPreparation) -> [[Float]] {
            [
                PredictionSet.deterministic(model, on: data, input: input).probabilities.storage,
                PredictionSet.monteCarlo(model, on: data, input: input, sampleCount: 7, firstSeed: 3).probabilities
                    .storage,
                ScoredPredictions.evaluate(
                    model: model, density: nil, pixels: data.pixels, input: input, sampleCount: 7, firstSeed: 3
                ).probabilities.storage,
            ]
        }
        #expect(probabilities(moved, recentring) == probabilities(centred, recentring))
        #expect(probabilities(centred, recentring) == probabilities(centred, plain))
        #expect(probabilities(moved, plain) != probabilities(centred, plain))
    }

    @Test(
        "no clean MNIST test digit moves: every centre of mass is within half a pixel of (14, 14)",
        .enabled(if: FileManager.default.fileExists(atPath: root.appendingPathComponent("data/mnist").path)))
    func cleanDigitsStay() throws {
        let test = try DatasetLoader.load(directory: root.appendingPathComponent("data/mnist").path, split: .test)
        var moved = 0
        test.pixels.withUnsafeBufferPointer { pixels in
            for image in 0..<test.count {
                let digit = UnsafeBufferPointer(rebasing: pixels[(image * 784)..<((image + 1) * 784)])
                if CenterOfMass.offset(of: digit, side: 28) != .zero { moved += 1 }
            }
        }
        #expect(test.count == 10_000 && moved == 0)
    }
}
