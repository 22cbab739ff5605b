import MCDropout
import MCDropoutEvaluation
import Testing

@Suite("Shifted image sets")
struct ImageShiftTests {
    /// Two 4 × 4 images: one ink pixel at (1, 1) of value 90, and one at (2, 3) of value 200.
    static let images: [UInt8] = {
        var pixels = [UInt8](repeating: 0, count: 32)
        pixels[1 * 4 + 1] = 90
        pixels[16 + 2 * 4 + 3] = 200
        return pixels
    }()

    @Test("moving: the ink lands right and down by the offsets; what leaves the image is gone, the new edge is 0")
    func translation() {
        let moved = ImageShift.translated(Self.images, height: 4, width: 4, right: 1, down: 2)
        var expected = [UInt8](repeating: 0, count: 32)
        expected[3 * 4 + 2] = 90  // (1, 1) → (3, 2); (2, 3) → (4, 4) leaves the second image
        #expect(moved == expected)
        let back = ImageShift.translated(Self.images, height: 4, width: 4, right: -1, down: -1)
        #expect(back[0] == 90 && back[16 + 1 * 4 + 2] == 200 && back.filter { $0 != 0 }.count == 2)
    }

    @Test("dilation spreads a pixel over its 3 × 3 neighbourhood, clipped at the border; blur averages it over nine")
    func dilationAndBlur() {
        let bold = ImageShift.dilated(Self.images, height: 4, width: 4)
        let first = (0..<16).filter { bold[$0] == 90 }
        #expect(first == [0, 1, 2, 4, 5, 6, 8, 9, 10])
        #expect(bold[0..<16].filter { $0 != 0 }.count == 9)
        #expect((16..<32).filter { bold[$0] == 200 }.map { $0 - 16 } == [6, 7, 10, 11, 14, 15])
        let blurred = ImageShift.blurred(Self.images, height: 4, width: 4)
        #expect(blurred[5] == 10 && blurred[0] == 10 && blurred[15] == 0)  // 90 / 9 around (1, 1)
        #expect(blurred[16 + 11] == 22)  // 200 / 9 = 22.2, rounded
    }

    @Test("ink scaling rounds and clips; Gaussian noise is seeded, centred and clipped")
    func inkAndNoise() {
        #expect(ImageShift.inkScaled([0, 1, 3, 255], factor: 0.5) == [0, 1, 2, 128])
        #expect(ImageShift.inkScaled([200], factor: 2) == [255])
        let grey = [UInt8](repeating: 128, count: 20_000)
        let noisy = ImageShift.gaussianNoise(grey, deviation: 0.1, seed: 7)
        #expect(noisy == ImageShift.gaussianNoise(grey, deviation: 0.1, seed: 7))
        #expect(noisy != ImageShift.gaussianNoise(grey, deviation: 0.1, seed: 8))
        let values = noisy.map { Double($0) - 128 }
        let mean = values.reduce(0, +) / Double(values.count)
        let deviation = (values.map { $0 * $0 }.reduce(0, +) / Double(values.count)).squareRoot()
        #expect(abs(mean) < 0.5)  // standard error 25.5 / √20 000 ≈ 0.18
        #expect(abs(deviation - 25.5) < 0.6)
        let black = ImageShift.gaussianNoise([UInt8](repeating: 0, count: 1000), deviation: 0.1, seed: 7)
        #expect(black.contains(0) && black.contains { $0 > 0 })  // negative draws clip to 0
    }
}
