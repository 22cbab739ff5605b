/// A fixed step a model applies to each image before its network sees it (metadata `input.transform`; absent: none).
///
/// It is part of the model, like `input.scale`: the server, the evaluator and the trainer all apply it through
/// ``InputPreparation``, so a model is measured and served on the same network inputs.
public enum InputTransform: String, Sendable, Equatable, CaseIterable {
    /// Moves the image by the whole-pixel offset that brings its intensity centre of mass to the image centre
    /// (``CenterOfMass``), as MNIST's digits were centred (LeCun et al.): a digit drawn off-centre is served as the
    /// centred digit the network was trained on.
    case centerOfMass = "center_of_mass"

    /// The metadata names, for error messages and help texts.
    public static var names: [String] { allCases.map(\.rawValue) }

    /// The side of the square single-channel image a transform works on: `shape` without its 1s must be
    /// `[side, side]` (`[28, 28]`, `[1, 28, 28]` or `[28, 28, 1]`); nil otherwise.
    public static func squareSide(of shape: [Int]?) -> Int? {
        guard let dimensions = shape?.filter({ $0 != 1 }), dimensions.count == 2, dimensions[0] == dimensions[1] else {
            return nil
        }
        return dimensions[0]
    }
}

/// How far an image moves: whole pixels down (`rows`) and right (`columns`); negative values move up and left.
public struct ImageOffset: Sendable, Equatable, CustomStringConvertible {
    public var rows: Int
    public var columns: Int

    /// No move.
    public static let zero = ImageOffset(rows: 0, columns: 0)

    public init(rows: Int, columns: Int) {
        self.rows = rows
        self.columns = columns
    }

    public var description: String { "(\(rows), \(columns))" }
}

/// Centre-of-mass recentring of square single-channel images (``InputTransform/centerOfMass``).
///
/// The centre of mass is the intensity-weighted mean of the pixel indices, row `y` and column `x` counted from 0.
/// The target is pixel `side / 2` (integer division) on both axes: the middle pixel for an odd side and, for an even
/// one, the lower-right of the four middle pixels — where MNIST's preprocessing put it (every one of the 10,000 clean
/// test digits has its centre of mass within half a pixel of (14, 14), none of (13.5, 13.5); `models/README.md`).
/// The move is the difference rounded to whole pixels, halves towards zero, so an image whose centre of mass is at
/// most half a pixel from the target stays as it is. Pixels moved out are dropped and zeros fill in. An image with no
/// positive mass (all zero) does not move.
///
/// The offset is computed in `Double` from the values given; computed from raw integer pixels (0–255) the sums are
/// exact, so a centre of mass exactly half a pixel off is recognised as such on every path.
public enum CenterOfMass {
    /// The move that brings the centre of mass of `image` (`side × side`, row after row) to pixel `side / 2`.
    public static func offset(of image: UnsafeBufferPointer<Float>, side: Int) -> ImageOffset {
        offset(side: side, count: image.count) { Double(image[$0]) }
    }

    /// The move that brings the centre of mass of `image` (`side × side` bytes, row after row) to pixel `side / 2`.
    public static func offset(of image: UnsafeBufferPointer<UInt8>, side: Int) -> ImageOffset {
        offset(side: side, count: image.count) { Double(image[$0]) }
    }

    @inline(__always)
    static func offset(side: Int, count: Int, _ value: (Int) -> Double) -> ImageOffset {
        precondition(side > 0 && count == side * side, "a side × side image")
        var mass = 0.0
        var rowMoment = 0.0
        var columnMoment = 0.0
        for y in 0..<side {
            var rowMass = 0.0
            for x in 0..<side {
                let pixel = value(y * side + x)
                rowMass += pixel
                columnMoment += Double(x) * pixel
            }
            mass += rowMass
            rowMoment += Double(y) * rowMass
        }
        guard mass > 0 else { return .zero }
        let target = Double(side / 2)
        return ImageOffset(
            rows: wholePixels(target - rowMoment / mass, side: side),
            columns: wholePixels(target - columnMoment / mass, side: side))
    }

    /// `difference` rounded to whole pixels with halves towards zero, within ±`side` (any larger move empties the
    /// image anyway); 0 when not finite.
    private static func wholePixels(_ difference: Double, side: Int) -> Int {
        guard difference.isFinite else { return 0 }
        let magnitude = min((difference.magnitude - 0.5).rounded(.up), Double(side))
        return magnitude <= 0 ? 0 : difference < 0 ? -Int(magnitude) : Int(magnitude)
    }

    /// Moves `image` (`side × side`, row after row) in place by `offset`: pixel (`y`, `x`) takes the value of
    /// (`y − rows`, `x − columns`), or 0 where that lies outside.
    public static func shift(_ image: UnsafeMutableBufferPointer<Float>, side: Int, by offset: ImageOffset) {
        precondition(side > 0 && image.count == side * side, "a side × side image")
        guard offset != .zero else { return }
        // Each pixel reads one `rows * side + columns` elements before (or after) itself: walking away from the
        // source reads every source before it is overwritten.
        func move(_ index: Int) {
            let y = index / side - offset.rows
            let x = index % side - offset.columns
            image[index] = y >= 0 && y < side && x >= 0 && x < side ? image[y * side + x] : 0
        }
        if offset.rows * side + offset.columns > 0 {
            for index in (0..<image.count).reversed() { move(index) }
        } else {
            for index in 0..<image.count { move(index) }
        }
    }

    /// Moves `image` in place so that its centre of mass is at pixel `side / 2`; returns the move.
    @discardableResult
    public static func recenter(_ image: UnsafeMutableBufferPointer<Float>, side: Int) -> ImageOffset {
        let move = offset(of: UnsafeBufferPointer(image), side: side)
        shift(image, side: side, by: move)
        return move
    }
}
