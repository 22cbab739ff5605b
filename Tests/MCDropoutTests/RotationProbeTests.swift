import MCDropoutJSON
import Testing

@testable import MCDropout

@Suite("Rotation instability")
struct RotationProbeTests {
    /// A 4 × 4-image network: one layer wide enough for the sparse weight-row path, a narrow classifier.
    static func squareModel() -> DropoutMLP {
        var generator = RandomSource(seed: 11)
        return DropoutMLP(
            layerSizes: [16, 70, 66, 5], dropoutProbabilities: [0, 0.3, 0.3], initialization: .he, using: &generator)
    }

    /// A sparse image: zeros and values in (0, 1].
    static let image: [Float] = [0, 0.2, 0, 0.9, 0.5, 0, 0, 1, 0, 0.7, 0.3, 0, 0.1, 0, 0.8, 0]

    /// The image turned by a multiple of 90° counter-clockwise, by index arithmetic (no interpolation).
    static func quarterTurn(_ image: [Float], turns: Int) -> [Float] {
        var current = image
        for _ in 0..<((turns % 4 + 4) % 4) {
            // Output (y, x) takes input (3 − x, y): the inverse of a counter-clockwise quarter turn.
            current = (0..<16).map { index in current[(3 - index % 4) * 4 + index / 4] }
        }
        return current
    }

    @Test("the score is the mean drop of the unturned image's class probability, checked with quarter turns")
    func quarterTurns() {
        let model = Self.squareModel()
        let probe = RotationProbe(angles: [90, -90, 180], side: 4, model: model)
        var workspace = DensityWorkspace()
        let score = Self.image.withUnsafeBufferPointer { probe.instability(of: $0, workspace: &workspace) }
        // Reference: the dense dropout-off forward (BLAS sgemm) on the four images.
        let rows = [
            Self.image, Self.quarterTurn(Self.image, turns: 1), Self.quarterTurn(Self.image, turns: -1),
            Self.quarterTurn(Self.image, turns: 2),
        ]
        let probabilities = model.deterministicProbabilities(
            for: Matrix(rows: 4, columns: 16, storage: rows.flatMap { $0 }))
        let reference = (0..<5).max { probabilities[0, $0] < probabilities[0, $1] }!
        let expected = (1...3).map { 1 - Double(probabilities[$0, reference]) }.reduce(0, +) / 3
        #expect(abs(score - expected) < 1e-5)
        #expect(expected > 0.01)  // the turns do move this network's answer
        // The workspace is reused: the same bytes again.
        let again = Self.image.withUnsafeBufferPointer { probe.instability(of: $0, workspace: &workspace) }
        #expect(again == score)
        // Ten turns (eleven rows in one batch), repeats included: the mean over all of them.
        let many = RotationProbe(angles: [90, -90, 180, 90, -90, 180, 90, -90, 180, 270], side: 4, model: model)
        let manyScore = Self.image.withUnsafeBufferPointer { many.instability(of: $0, workspace: &workspace) }
        let manyExpected =
            (3 * (1 - Double(probabilities[1, reference])) + 3 * (1 - Double(probabilities[2, reference]))
                + 3 * (1 - Double(probabilities[3, reference])) + (1 - Double(probabilities[2, reference]))) / 10
        #expect(abs(manyScore - manyExpected) < 1e-5)
        // Turning by 0° changes nothing but rounding: the score is 1 − p(c) of the image itself.
        let still = RotationProbe(angles: [0], side: 4, model: model)
        let own = Self.image.withUnsafeBufferPointer { still.instability(of: $0, workspace: &workspace) }
        #expect(abs(own - (1 - Double(probabilities[0, reference]))) < 1e-5)
    }

    /// `image` (`side × side`) turned by `degrees` with bilinear interpolation and a 0 background, written out
    /// pixel by pixel from ``ImageRotation`` (the probe precomputes the same map as taps).
    static func bilinearTurn(_ image: [Float], side: Int, degrees: Double) -> [Float] {
        let rotation = ImageRotation(degrees: degrees, height: side, width: side)
        func pixel(_ y: Int, _ x: Int) -> Double {
            y >= 0 && y < side && x >= 0 && x < side ? Double(image[y * side + x]) : 0
        }
        return (0..<(side * side)).map { index in
            let (y0, x0, fy, fx) = rotation.source(y: index / side, x: index % side)
            let top = pixel(y0, x0) * (1 - fx) + pixel(y0, x0 + 1) * fx
            let bottom = pixel(y0 + 1, x0) * (1 - fx) + pixel(y0 + 1, x0 + 1) * fx
            return Float(top * (1 - fy) + bottom * fy)
        }
    }

    /// An 8 × 8 image: a blob of 12 inked pixels off the centre (mostly zero, like a digit), or every pixel non-zero
    /// (like noise).
    static func probeImage(dense: Bool) -> [Float] {
        (0..<64).map { index in
            let (y, x) = (index / 8, index % 8)
            let ink: Float = (1...4).contains(y) && (2...4).contains(x) ? Float(y * 3 + x) / 20 : 0
            return dense ? ink + Float((index * 7) % 5 + 1) / 40 : ink
        }
    }

    @Test(
        "turns that interpolate, sparse and dense images: the score equals turning the image, then the dense forward",
        arguments: [false, true])
    func interpolatedTurns(dense: Bool) {
        var generator = RandomSource(seed: 5)
        let side = 8
        let model = DropoutMLP(
            layerSizes: [side * side, 80, 12], dropoutProbabilities: [0, 0.3], initialization: .he, using: &generator)
        let image = Self.probeImage(dense: dense)
        #expect((image.filter { $0 != 0 }.count * 4 <= image.count) != dense)
        let angles: [Double] = [-40, -20, 13.5, 20, 40, 135]
        let probe = RotationProbe(angles: angles, side: side, model: model)
        var workspace = DensityWorkspace()
        let score = image.withUnsafeBufferPointer { probe.instability(of: $0, workspace: &workspace) }
        let rows = [image] + angles.map { Self.bilinearTurn(image, side: side, degrees: $0) }
        let probabilities = model.deterministicProbabilities(
            for: Matrix(rows: rows.count, columns: side * side, storage: rows.flatMap { $0 }))
        let reference = (0..<12).max { probabilities[0, $0] < probabilities[0, $1] }!
        let expected =
            (1...angles.count).map { 1 - Double(probabilities[$0, reference]) }.reduce(0, +) / Double(angles.count)
        #expect(abs(score - expected) < 1e-5)
        #expect(expected > 0.05)  // the turns do move this network's answer
        let again = image.withUnsafeBufferPointer { probe.instability(of: $0, workspace: &workspace) }
        #expect(again == score)
        // Given the served class, the unturned image's forward pass is skipped: the same bytes when it is the
        // dropout-off class, the drop of the given class's probability otherwise.
        let given = image.withUnsafeBufferPointer {
            probe.instability(of: $0, reference: reference, workspace: &workspace)
        }
        #expect(given == score)
        let other = (reference + 1) % 12
        let otherScore = image.withUnsafeBufferPointer {
            probe.instability(of: $0, reference: other, workspace: &workspace)
        }
        let otherExpected =
            (1...angles.count).map { 1 - Double(probabilities[$0, other]) }.reduce(0, +) / Double(angles.count)
        #expect(abs(otherScore - otherExpected) < 1e-5)
        #expect(otherScore != score)
    }

    @Test("a model file with angles round-trips; a wrong side or bad angles are typed errors")
    func modelFile() throws {
        let model = Self.squareModel()
        let metadata = ModelMetadata(
            layerSizes: model.layerSizes, dropoutProbabilities: model.dropoutProbabilities,
            labels: ["a", "b", "c", "d", "e"], dataset: "synthetic", seed: 3, inputScale: 1, inputShape: [4, 4],
            hyperparameters: JSONObject([]), metrics: JSONObject([]), extensions: JSONObject([]))
        var file = ModelFile(model: model, metadata: metadata)
        file.density = DensityModel(rotation: RotationProbe(angles: [-40, -20.5, 20, 40], side: 4, model: model))
        #expect(file.density?.scores == [.rotationInstability])
        let bytes = file.encoded()
        let decoded = try ModelFile(decoding: bytes)
        #expect(decoded == file)
        #expect(decoded.encoded() == bytes)
        var workspace = DensityWorkspace()
        let values = Self.image.withUnsafeBufferPointer {
            (
                file.density!.values(for: $0, model: model, workspace: &workspace),
                decoded.density!.values(for: $0, model: model, workspace: &workspace)
            )
        }
        #expect(values.0.rotationInstability != nil && values.0 == values.1)
        let wrongSide = withHeader(bytes) { $0.replacingAll(#"\"side\":4"#, with: #"\"side\":5"#) }
        #expect(wrongSide != bytes)
        #expect(throws: ModelFileError.self) { try ModelFile(decoding: wrongSide) }
        let badAngle = withHeader(bytes) { $0.replacingAll("-20.5", with: #"\"x\""#) }
        #expect(badAngle != bytes)
        #expect(throws: ModelFileError.self) { try ModelFile(decoding: badAngle) }
    }
}
