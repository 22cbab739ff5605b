#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A counter-clockwise rotation of `height × width` images about their centre, read backwards: for each output pixel,
/// where in the input it comes from, as the top-left of the four input pixels a bilinear interpolation mixes and the
/// fractions towards the other three. The shift benchmark's rotated images (`ImageShift.rotated`) and the rotation
/// probe (``RotationProbe``) both use it, so the score turns images exactly as the benchmark does.
public struct ImageRotation: Sendable {
    let cosine: Double
    let sine: Double
    let centreY: Double
    let centreX: Double

    /// A rotation by `degrees` of images `height` pixels high and `width` wide.
    public init(degrees: Double, height: Int, width: Int) {
        let radians = degrees * Double.pi / 180
        (cosine, sine) = (cos(radians), sin(radians))
        centreY = Double(height - 1) / 2
        centreX = Double(width - 1) / 2
    }

    /// The input point output pixel (`y`, `x`) comes from: its top-left pixel (`y0`, `x0`, possibly outside the
    /// image) and the fractions `fy`, `fx` in [0, 1) towards row `y0 + 1` and column `x0 + 1`.
    public func source(y: Int, x: Int) -> (y0: Int, x0: Int, fy: Double, fx: Double) {
        let dy = Double(y) - centreY
        let dx = Double(x) - centreX
        let sourceY = centreY + cosine * dy - sine * dx
        let sourceX = centreX + sine * dy + cosine * dx
        let y0 = Int(sourceY.rounded(.down))
        let x0 = Int(sourceX.rounded(.down))
        return (y0, x0, sourceY - Double(y0), sourceX - Double(x0))
    }
}
