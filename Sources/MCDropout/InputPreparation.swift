/// How a model's raw values (pixels 0–255, or features) become its network's inputs: the model file's `input`
/// metadata as one value (``ModelMetadata/inputPreparation``).
///
/// Each input is divided by ``scale``, moved by ``transform`` when there is one (square single-channel images), then
/// normalised as `(· − mean) / std` per column when the file has normalisation constants. The server (for every
/// protocol), the evaluator's prediction loops, the density fitting and the trainer's validation all prepare inputs
/// here, so each sees the network inputs the others see. The transform's move is computed from the raw values, so it
/// does not depend on how they are scaled.
public struct InputPreparation: Sendable, Equatable {
    /// Raw values are divided by this.
    public var scale: Float
    /// The image step, if any (``imageSide`` gives the image it works on).
    public var transform: InputTransform?
    /// The side of the square image ``transform`` works on; each input then holds `imageSide²` values.
    public var imageSide: Int
    /// Per-input normalisation constants (both or neither).
    public var mean: [Float]?
    public var std: [Float]?

    /// A preparation; a `transform` needs the `imageSide` of the square images it moves.
    public init(
        scale: Float = 255, transform: InputTransform? = nil, imageSide: Int = 0, mean: [Float]? = nil,
        std: [Float]? = nil
    ) {
        precondition(scale.isFinite && scale > 0, "the input scale must be positive")
        precondition(transform == nil || imageSide > 0, "a transform needs the image side")
        precondition((mean == nil) == (std == nil) && mean?.count == std?.count, "give both mean and std, or neither")
        self.scale = scale
        self.transform = transform
        self.imageSide = imageSide
        self.mean = mean
        self.std = std
    }

    /// The values of one input, when the preparation fixes it (by its transform or its normalisation constants).
    public var width: Int? { transform != nil ? imageSide * imageSide : mean?.count }

    /// Writes the network inputs of one input given as bytes (pixels) into `output` (as many values). Bytes are
    /// divided by ``scale``, as the evaluator and the trainer's validation always have.
    public func prepare(_ raw: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<Float>) {
        let scale = self.scale
        let move = transform == nil ? .zero : CenterOfMass.offset(of: raw, side: imageSide)
        write(count: raw.count, into: output, moved: move) { Float(raw[$0]) / scale }
    }

    /// Writes the network inputs of one input given as floats (pixels 0–255 or features) into `output` (as many
    /// values). Floats are multiplied by `1 / scale`, as the server always has (for some byte values this differs
    /// from dividing in the last bit).
    public func prepare(_ raw: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) {
        let reciprocal = 1 / scale
        let move = transform == nil ? .zero : CenterOfMass.offset(of: raw, side: imageSide)
        write(count: raw.count, into: output, moved: move) { raw[$0] * reciprocal }
    }

    /// Appends the network inputs of `raw` (inputs one after another; ``width`` values each when the preparation
    /// fixes it) to `inputs`, without allocating when `inputs` has the capacity.
    public func append(_ raw: [Float], to inputs: inout [Float]) {
        let start = inputs.count
        inputs.append(contentsOf: repeatElement(0, count: raw.count))
        let width = self.width ?? max(raw.count, 1)
        precondition(raw.count % width == 0, "whole inputs of \(width) values")
        raw.withUnsafeBufferPointer { source in
            inputs.withUnsafeMutableBufferPointer { target in
                for lower in stride(from: 0, to: source.count, by: width) {
                    prepare(
                        UnsafeBufferPointer(rebasing: source[lower..<(lower + width)]),
                        into: UnsafeMutableBufferPointer(rebasing: target[(start + lower)..<(start + lower + width)]))
                }
            }
        }
    }

    /// The network inputs of whole inputs of `width` bytes each, one after another (for batch evaluation and fitting;
    /// it allocates the result).
    public func prepared(_ raw: ArraySlice<UInt8>, width: Int) -> [Float] {
        precondition(width > 0 && raw.count % width == 0, "whole inputs of \(width) values")
        var output = [Float](repeating: 0, count: raw.count)
        raw.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                for lower in stride(from: 0, to: source.count, by: width) {
                    prepare(
                        UnsafeBufferPointer(rebasing: source[lower..<(lower + width)]),
                        into: UnsafeMutableBufferPointer(rebasing: target[lower..<(lower + width)]))
                }
            }
        }
        return output
    }

    /// Writes `value(i)` for each of `count` values, moved by `move` (zeros fill in), then normalises.
    @inline(__always)
    private func write(
        count: Int, into output: UnsafeMutableBufferPointer<Float>, moved move: ImageOffset, _ value: (Int) -> Float
    ) {
        precondition(output.count == count, "one output per raw value")
        precondition(width.map { $0 == count } ?? true, "\(width ?? 0) values per input")
        if move == .zero {
            for index in 0..<count { output[index] = value(index) }
        } else {
            let side = imageSide
            for y in 0..<side {
                let sourceY = y - move.rows
                for x in 0..<side {
                    let sourceX = x - move.columns
                    let isInside = sourceY >= 0 && sourceY < side && sourceX >= 0 && sourceX < side
                    output[y * side + x] = isInside ? value(sourceY * side + sourceX) : 0
                }
            }
        }
        guard let mean, let std else { return }
        for index in 0..<count { output[index] = (output[index] - mean[index]) / std[index] }
    }
}
