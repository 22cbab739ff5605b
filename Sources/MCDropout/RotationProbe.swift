/// The statistics of ``DensityScore/rotationInstability``: whether the served answer survives turning the input image
/// a little (the turned copies run with dropout off). A digit the network knows (upright, or within the rotations it
/// trained on) keeps its class when turned by ±20–40°; an image the network reads by accident — a heavily rotated or
/// unfamiliar one — often does not. This is test-time augmentation (Ayhan & Berens 2018) as a score: no training
/// statistics, only the stored angles; it applies to square single-channel images with a 0 background.
///
/// Score: with `p(x)` the dropout-off softmax and `c` the served class (the Monte-Carlo arg-max, or `p(x)`'s arg-max
/// when none is given), `mean over the angles a of 1 − p(rotate(x, a))[c]`, in [0, 1]: 0 when every turned copy
/// gives class `c` probability 1.
public struct RotationProbe: Sendable {
    /// The rotations, in degrees (counter-clockwise).
    public let angles: [Double]
    /// The image side: the network's input is `side × side` values, row after row.
    public let side: Int
    /// Per angle, the four bilinear source pixels of each output pixel, stored tap by tap (`4 × side²` per angle: the
    /// top-left corners of all pixels, then the top-right ones, …); a corner outside the image is pixel 0 with weight
    /// 0 (it adds an exact zero), so the interpolation needs no branch.
    let taps: [Int32]
    /// The weights of ``taps``.
    let weights: [Float]
    /// Per layer, the weights by input unit (`inputSize × outputSize`), so that zero inputs are skipped.
    let weightsByInput: [[Float]]
    let biases: [[Float]]
    /// The widest row the forward pass holds: the image or a layer's output.
    let widestRow: Int
    /// Layers with fewer outputs than this add weight rows in a Swift loop rather than a BLAS call each (see
    /// `forward`).
    static let narrowLayer = 64
    /// The most rows (turned copies) that share one pass over a layer's weight rows: the row kernel keeps up to 4
    /// outputs in registers.
    static let group = 4
    let activation: HiddenActivation

    /// The largest number of angles a model file may store.
    public static let maximumAngles = 16

    /// Prepares the probe for `model`; `model.inputSize` must be `side²`.
    public init(angles: [Double], side: Int, model: DropoutMLP) {
        precondition(side >= 2 && side * side == model.inputSize, "the input must be a square image")
        precondition(!angles.isEmpty && angles.count <= Self.maximumAngles && angles.allSatisfy(\.isFinite))
        self.angles = angles
        self.side = side
        let size = side * side
        var taps = [Int32](repeating: 0, count: angles.count * size * 4)
        var weights = [Float](repeating: 0, count: angles.count * size * 4)
        for (angleIndex, degrees) in angles.enumerated() {
            let rotation = ImageRotation(degrees: degrees, height: side, width: side)
            for y in 0..<side {
                for x in 0..<side {
                    let (y0, x0, fy, fx) = rotation.source(y: y, x: x)
                    let pixel = y * side + x
                    let corners = [
                        (y0, x0, (1 - fy) * (1 - fx)), (y0, x0 + 1, (1 - fy) * fx),
                        (y0 + 1, x0, fy * (1 - fx)), (y0 + 1, x0 + 1, fy * fx),
                    ]
                    for (slot, corner) in corners.enumerated()
                    where corner.0 >= 0 && corner.0 < side && corner.1 >= 0 && corner.1 < side {
                        let position = (angleIndex * 4 + slot) * size + pixel
                        taps[position] = Int32(corner.0 * side + corner.1)
                        weights[position] = Float(corner.2)
                    }
                }
            }
        }
        self.taps = taps
        self.weights = weights
        weightsByInput = model.layers.map(\.weightsByInput)
        biases = model.layers.map(\.bias)
        widestRow = model.layers.reduce(size) { max($0, $1.outputSize) }
        activation = model.activation
    }

    /// The score of one input (`side²` scaled values).
    ///
    /// - Parameter reference: the class whose probability the turned copies are asked for — the served answer's
    ///   (the Monte-Carlo arg-max), which spares the forward pass of the unturned image; `nil`: the dropout-off
    ///   arg-max of the unturned image, computed here.
    public func instability(
        of input: UnsafeBufferPointer<Float>, reference: Int? = nil, workspace: inout DensityWorkspace
    ) -> Double {
        let size = side * side
        precondition(input.count == size, "input width \(input.count) ≠ \(size)")
        let classes = biases[biases.count - 1].count
        precondition(reference.map { (0..<classes).contains($0) } ?? true, "reference class out of range")
        // Row 0: the unturned image, unless the reference class is given; then the turned copies, one per angle.
        let first = reference == nil ? 1 : 0
        let rows = angles.count + first
        if workspace.features.count < rows * widestRow {
            workspace.features = [Float](repeating: 0, count: rows * widestRow)
            workspace.featuresNext = workspace.features
        }
        workspace.units.ensureCount(widestRow)
        workspace.values.ensureCount(Self.group * widestRow)
        workspace.features.withUnsafeMutableBufferPointer { batch in
            if first == 1 { _ = UnsafeMutableBufferPointer(rebasing: batch[0..<size]).update(fromContentsOf: input) }
            taps.withUnsafeBufferPointer { taps in
                weights.withUnsafeBufferPointer { weights in
                    for angle in angles.indices {
                        RowKernels.resample(
                            into: batch.baseAddress! + (angle + first) * size, from: input.baseAddress!,
                            taps: taps.baseAddress! + angle * 4 * size,
                            weights: weights.baseAddress! + angle * 4 * size,
                            pixels: size)
                    }
                }
            }
        }
        forward(rows: rows, inputWidth: size, workspace: &workspace)
        return workspace.features.withUnsafeBufferPointer { probabilities in
            var chosen = reference ?? 0
            if reference == nil {
                for index in 1..<classes where probabilities[index] > probabilities[chosen] { chosen = index }
            }
            var total: Double = 0
            for angle in angles.indices { total += Double(1 - probabilities[(angle + first) * classes + chosen]) }
            return min(max(total / Double(angles.count), 0), 1)
        }
    }

    /// The dropout-off softmax of the `rows` inputs at the start of `workspace.features` (rows of `inputWidth`),
    /// left there as rows of the class count.
    ///
    /// The rows go through each layer in groups of up to ``group``: the union of the group's non-zero inputs is
    /// compacted once (images and ReLU activations are mostly zero, and turned copies of one image share most of
    /// theirs), and each weight row in it is read once for the whole group by the multi-output row kernel
    /// (``RowKernels/addRows(outputs:into:outputStride:base:rows:stride:indices:alphas:alphaStride:count:width:variant:)``),
    /// which gives every row the bytes of adding its own non-zero inputs' weight rows in input order (a zero adds an
    /// exact zero). A ReLU is folded into the next layer's compaction. A narrow layer (the classifier) adds its short
    /// weight rows in a Swift loop over the same terms, cheaper than a kernel call.
    private func forward(rows: Int, inputWidth: Int, workspace: inout DensityWorkspace) {
        var inputWidth = inputWidth
        // Whether the rows in `features` still need the hidden activation: a ReLU is applied by the compaction.
        var rectify = false
        for layer in weightsByInput.indices {
            let outputs = biases[layer].count
            let width = inputWidth
            let last = layer == weightsByInput.count - 1
            workspace.featuresNext.withUnsafeMutableBufferPointer { next in
                workspace.features.withUnsafeBufferPointer { current in
                    weightsByInput[layer].withUnsafeBufferPointer { weightRows in
                        biases[layer].withUnsafeBufferPointer { bias in
                            workspace.units.withUnsafeMutableBufferPointer { units in
                                workspace.values.withUnsafeMutableBufferPointer { values in
                                    for first in Swift.stride(from: 0, to: rows, by: Self.group) {
                                        let members = min(Self.group, rows - first)
                                        let count = RowKernels.nonZeroTerms(
                                            of: current.baseAddress! + first * width, inputs: members,
                                            inputStride: width, count: width, rectify: rectify,
                                            units: units.baseAddress!, values: values.baseAddress!,
                                            valueStride: width)
                                        let output = next.baseAddress! + first * outputs
                                        if outputs >= Self.narrowLayer {
                                            RowKernels.addRows(
                                                outputs: members, into: output, outputStride: outputs,
                                                base: bias.baseAddress!, rows: weightRows.baseAddress!,
                                                stride: outputs, indices: units.baseAddress!,
                                                alphas: values.baseAddress!, alphaStride: width, count: count,
                                                width: outputs)
                                        } else {
                                            for member in 0..<members {
                                                let row = output + member * outputs
                                                row.update(from: bias.baseAddress!, count: outputs)
                                                let alphas = values.baseAddress! + member * width
                                                for term in 0..<count {
                                                    let value = alphas[term]
                                                    let weightRow = weightRows.baseAddress! + Int(units[term]) * outputs
                                                    for unit in 0..<outputs { row[unit] += value * weightRow[unit] }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                for row in 0..<rows {
                    let values = UnsafeMutableBufferPointer(rebasing: next[(row * outputs)..<((row + 1) * outputs)])
                    if last {
                        _ = Activation.softmax(values)
                    } else if activation != .relu {
                        activation.apply(values)
                    }
                }
            }
            rectify = !last && activation == .relu
            swap(&workspace.features, &workspace.featuresNext)
            inputWidth = outputs
        }
    }
}

extension RotationProbe: Equatable {
    /// Probes are equal when their angles and image side are: the rest is derived from the model.
    public static func == (lhs: RotationProbe, rhs: RotationProbe) -> Bool {
        lhs.angles == rhs.angles && lhs.side == rhs.side
    }
}
