import MCDropout
import MCDropoutData
import MCDropoutEvaluation
import Testing

@testable import MCDropoutTraining

@Suite("Rotation augmentation")
struct AugmentationTests {
    /// A 28×28 image with a short bar of bright pixels right of the centre.
    func image() -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: 784)
        for x in 15..<22 { pixels[14 * 28 + x] = 200 }
        pixels[10 * 28 + 9] = 90
        return pixels
    }

    func rotated(_ degrees: Float, shift: (x: Int, y: Int) = (0, 0)) -> [Float] {
        var output = [Float](repeating: -1, count: 784)
        image().withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                Trainer.rotate(
                    source.baseAddress!, side: 28, degrees: degrees, shift: shift, flip: false, scale: 1,
                    into: target.baseAddress!)
            }
        }
        return output
    }

    @Test("a rotation matches the shift benchmark's rotated images up to rounding; 0° is the identity")
    func matchesBenchmarkGeometry() {
        #expect(rotated(0) == image().map(Float.init))
        for degrees in [15.0, -12.5, 90.0] {
            let reference = ImageShift.rotated(image(), height: 28, width: 28, degrees: degrees)
            let ours = rotated(Float(degrees))
            #expect(zip(ours, reference).allSatisfy { abs($0 - Float($1)) <= 0.5 + 1e-3 }, "\(degrees)°")
        }
        // 0° with a shift is the integer translation the trainer applied before.
        let shifted = rotated(0, shift: (1, -1))
        #expect(shifted[13 * 28 + 16] == 200 && shifted[13 * 28 + 15] == 0)
    }

    @Test("batches with rotation are seedable (same seed, same batch) and rotation 0 keeps earlier batches")
    func seeded() {
        let count = 4
        let data = LabeledImages(
            pixels: (0..<count).flatMap { _ in image() }, labels: [0, 1, 2, 3], pixelCount: 784)
        var configuration = TrainingConfiguration(layerSizes: [784, 8, 10], dropoutProbabilities: [0, 0.5])
        configuration.maximumShift = 1
        func batch(_ rotation: Float, seed: UInt64) -> [Float] {
            configuration.maximumRotation = rotation
            var batch = Matrix(rows: 0, columns: 784)
            var labels: [Int] = []
            var generator = RandomSource(seed: seed)
            Trainer(configuration: configuration).fillBatch(
                &batch, labels: &labels, from: data, indices: [0, 1, 2, 3], using: &generator)
            return batch.storage
        }
        #expect(batch(15, seed: 3) == batch(15, seed: 3))
        #expect(batch(15, seed: 3) != batch(15, seed: 4))
        #expect(batch(15, seed: 3) != batch(0, seed: 3))
        // Without rotation each image is an integer shift of the original: its pixel values stay on the 0–200 grid.
        #expect(batch(0, seed: 3).allSatisfy { [0, 90, 200].contains(($0 * 255).rounded()) })
    }

    @Test("with the input transform every training image is recentred after augmentation, as the server will")
    func recentredBatches() {
        let data = LabeledImages(pixels: image() + image(), labels: [0, 1], pixelCount: 784)
        var configuration = TrainingConfiguration(layerSizes: [784, 8, 10], dropoutProbabilities: [0, 0.5])
        configuration.maximumShift = 3
        configuration.inputTransform = .centerOfMass
        var batch = Matrix(rows: 0, columns: 784)
        var labels: [Int] = []
        var generator = RandomSource(seed: 5)
        Trainer(configuration: configuration).fillBatch(
            &batch, labels: &labels, from: data, indices: [0, 1], using: &generator)
        // Whatever the random shifts, both copies come out as the original image recentred.
        var expected = image().map { Float($0) * (1 / 255) }
        _ = expected.withUnsafeMutableBufferPointer { CenterOfMass.recenter($0, side: 28) }
        #expect(batch.storage == expected + expected)
        #expect(configuration.inputPreparation == InputPreparation(transform: .centerOfMass, imageSide: 28))
    }
}
