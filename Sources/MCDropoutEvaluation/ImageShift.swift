import MCDropout

/// Shifted and synthetic image sets for the shift benchmark: pure functions over raw 8-bit pixels.
public enum ImageShift {
    /// Every image rotated by `degrees` (counter-clockwise) about its centre with bilinear interpolation; pixels that
    /// come from outside the image are 0 (MNIST's background).
    ///
    /// - Parameter pixels: images of `height × width` bytes, one after another.
    public static func rotated(_ pixels: [UInt8], height: Int, width: Int, degrees: Double) -> [UInt8] {
        let size = height * width
        precondition(size > 0 && pixels.count % size == 0, "pixels must hold whole images")
        // For each output pixel, where it comes from in the input.
        let rotation = ImageRotation(degrees: degrees, height: height, width: width)
        var sources: [(y0: Int, x0: Int, fy: Double, fx: Double)] = []
        sources.reserveCapacity(size)
        for y in 0..<height {
            for x in 0..<width { sources.append(rotation.source(y: y, x: x)) }
        }
        var result = [UInt8](repeating: 0, count: pixels.count)
        for image in 0..<(pixels.count / size) {
            let base = image * size
            func pixel(_ y: Int, _ x: Int) -> Double {
                guard y >= 0, y < height, x >= 0, x < width else { return 0 }
                return Double(pixels[base + y * width + x])
            }
            for (index, (y0, x0, fy, fx)) in sources.enumerated() {
                let value =
                    (1 - fy) * ((1 - fx) * pixel(y0, x0) + fx * pixel(y0, x0 + 1))
                    + fy * ((1 - fx) * pixel(y0 + 1, x0) + fx * pixel(y0 + 1, x0 + 1))
                result[base + index] = UInt8(min(max(value.rounded(), 0), 255))
            }
        }
        return result
    }

    /// `count` images of independent uniform pixels in 0 … 255 from `RandomSource(seed:)`.
    public static func uniformNoise(count: Int, pixelCount: Int, seed: UInt64) -> [UInt8] {
        var generator = RandomSource(seed: seed)
        return (0..<(count * pixelCount)).map { _ in UInt8(truncatingIfNeeded: generator.next() >> 56) }
    }
}
