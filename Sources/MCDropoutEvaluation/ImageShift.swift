import MCDropout

/// Shifted and synthetic image sets for the shift benchmark: pure functions over raw 8-bit pixels.
public enum ImageShift {
    /// Every image rotated by `degrees` (counter-clockwise) about its centre with bilinear interpolation; pixels that
    /// come from outside the image are 0 (MNIST's background).
    ///
    /// - Parameter pixels: images of `height × width` bytes, one after another.
    public static func rotated(_ pixels: [UInt8], height: Int, width: Int, degrees: Double) -> [UInt8] {
        // For each output pixel, where it comes from in the input.
        let rotation = ImageRotation(degrees: degrees, height: height, width: width)
        var sources: [(y0: Int, x0: Int, fy: Double, fx: Double)] = []
        sources.reserveCapacity(height * width)
        for y in 0..<height {
            for x in 0..<width { sources.append(rotation.source(y: y, x: x)) }
        }
        return mapped(pixels, height: height, width: width) { image, y, x in
            let (y0, x0, fy, fx) = sources[y * width + x]
            return (1 - fy) * ((1 - fx) * image(y0, x0) + fx * image(y0, x0 + 1))
                + fy * ((1 - fx) * image(y0 + 1, x0) + fx * image(y0 + 1, x0 + 1))
        }
    }

    /// Every image moved `right` pixels to the right and `down` pixels down (negative: left, up); pixels that come
    /// from outside the image are 0.
    public static func translated(_ pixels: [UInt8], height: Int, width: Int, right: Int, down: Int) -> [UInt8] {
        mapped(pixels, height: height, width: width) { image, y, x in image(y - down, x - right) }
    }

    /// Every image with its ink scaled by `factor` (e.g. 0.5: faint strokes), rounded and clipped to 0 … 255.
    public static func inkScaled(_ pixels: [UInt8], factor: Double) -> [UInt8] {
        pixels.map { UInt8(min(max((Double($0) * factor).rounded(), 0), 255)) }
    }

    /// Every image with each pixel replaced by the largest of its 3 × 3 neighbourhood: strokes about two pixels
    /// bolder.
    public static func dilated(_ pixels: [UInt8], height: Int, width: Int) -> [UInt8] {
        mapped(pixels, height: height, width: width) { image, y, x in
            var largest = 0.0
            for dy in -1...1 {
                for dx in -1...1 { largest = max(largest, image(y + dy, x + dx)) }
            }
            return largest
        }
    }

    /// Every image with each pixel replaced by the mean of its 3 × 3 neighbourhood (outside counts as 0): a blur.
    public static func blurred(_ pixels: [UInt8], height: Int, width: Int) -> [UInt8] {
        mapped(pixels, height: height, width: width) { image, y, x in
            var total = 0.0
            for dy in -1...1 {
                for dx in -1...1 { total += image(y + dy, x + dx) }
            }
            return total / 9
        }
    }

    /// Every image with independent Gaussian noise of standard deviation `deviation` (in units of the full pixel
    /// range, e.g. 0.1 ≈ 25 levels) added to every pixel, background included, rounded and clipped to 0 … 255;
    /// the noise comes from sub-stream 1 of `seed` (``uniformNoise(count:pixelCount:seed:)`` draws from the seed's
    /// main stream, so the two never share numbers).
    public static func gaussianNoise(_ pixels: [UInt8], deviation: Double, seed: UInt64) -> [UInt8] {
        var generator = RandomSource(seed: seed, stream: 1)
        return pixels.map { pixel in
            let value = Double(pixel) + 255 * deviation * generator.nextStandardNormal()
            return UInt8(min(max(value.rounded(), 0), 255))
        }
    }

    /// Applies `value(image, y, x)` to every output pixel of every image, where `image(y, x)` reads the input image
    /// (0 outside it); the result is rounded and clipped to 0 … 255.
    private static func mapped(
        _ pixels: [UInt8], height: Int, width: Int,
        _ value: (_ image: (Int, Int) -> Double, _ y: Int, _ x: Int) -> Double
    ) -> [UInt8] {
        let size = height * width
        precondition(size > 0 && pixels.count % size == 0, "pixels must hold whole images")
        var result = [UInt8](repeating: 0, count: pixels.count)
        for image in 0..<(pixels.count / size) {
            let base = image * size
            func pixel(_ y: Int, _ x: Int) -> Double {
                guard y >= 0, y < height, x >= 0, x < width else { return 0 }
                return Double(pixels[base + y * width + x])
            }
            for y in 0..<height {
                for x in 0..<width {
                    result[base + y * width + x] = UInt8(min(max(value(pixel, y, x).rounded(), 0), 255))
                }
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
