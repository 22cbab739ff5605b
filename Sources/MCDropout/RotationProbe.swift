/// The statistics of ``DensityScore/rotationInstability``: how far the network's dropout-off answer moves when the
/// input image is turned a little. A digit the network knows (upright, or within the rotations it trained on) keeps
/// its class when turned by ±20–40°; an image the network reads by accident — a heavily rotated or unfamiliar one —
/// often does not. This is test-time augmentation (Ayhan & Berens 2018) as a score of the input alone: no training
/// statistics, only the stored angles; it applies to square single-channel images with a 0 background.
///
/// Score: with `p(x)` the dropout-off softmax and `c` its arg-max, `mean over the angles a of 1 − p(rotate(x, a))[c]`,
/// in [0, 1]: 0 when every turned copy gives class `c` probability 1.
public struct RotationProbe: Sendable {
    /// The rotations, in degrees (counter-clockwise).
    public let angles: [Double]
    /// The image side: the network's input is `side × side` values, row after row.
    public let side: Int
    /// The first layer folded with the rotations, by input pixel: for pixel `i`, `rows` weight rows of the first
    /// layer's width one after another — row 0 the layer's own weights of pixel `i`, row `1 + a` the weights of pixel
    /// `i` in the turned image `rotate(x, a)`, i.e. column `i` of `W₁·R_a` where `R_a` is the bilinear rotation (a
    /// linear map of the image). One `saxpy` of `rows × width` per non-zero pixel of the *unturned* image then gives
    /// the first layer of all rows at once (see ``instability(of:workspace:)``).
    let foldedFirstLayer: [Float]
    /// Per angle and output pixel, the four bilinear source pixels (−1: outside the image), for images with many
    /// non-zero pixels (see ``instability(of:workspace:)``).
    let taps: [Int32]
    /// The weights of ``taps``.
    let tapWeights: [Float]
    /// The first layer's weights by input pixel (`side² × width`; the model's own array, not a copy).
    let firstLayerByInput: [Float]
    /// Per layer after the first, the weights by input unit (`inputSize × outputSize`), so that zero inputs are
    /// skipped.
    let weightsByInput: [[Float]]
    let biases: [[Float]]
    /// The widest row the forward pass holds: a layer's output.
    let widestRow: Int
    /// Layers with fewer outputs than this add weight rows in a Swift loop rather than a BLAS call each (see
    /// `forward`).
    static let narrowLayer = 64
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
        let rows = angles.count + 1
        let width = model.layers[0].outputSize
        let firstWeights = model.layers[0].weightsByInput
        var taps = [Int32](repeating: -1, count: angles.count * size * 4)
        var tapWeights = [Float](repeating: 0, count: angles.count * size * 4)
        for (angleIndex, degrees) in angles.enumerated() {
            let rotation = ImageRotation(degrees: degrees, height: side, width: side)
            for y in 0..<side {
                for x in 0..<side {
                    let (y0, x0, fy, fx) = rotation.source(y: y, x: x)
                    let base = ((angleIndex * size) + y * side + x) * 4
                    let corners = [
                        (y0, x0, (1 - fy) * (1 - fx)), (y0, x0 + 1, (1 - fy) * fx),
                        (y0 + 1, x0, fy * (1 - fx)), (y0 + 1, x0 + 1, fy * fx),
                    ]
                    for (slot, corner) in corners.enumerated()
                    where corner.0 >= 0 && corner.0 < side && corner.1 >= 0 && corner.1 < side {
                        taps[base + slot] = Int32(corner.0 * side + corner.1)
                        tapWeights[base + slot] = Float(corner.2)
                    }
                }
            }
        }
        var folded = [Float](repeating: 0, count: size * rows * width)
        folded.withUnsafeMutableBufferPointer { folded in
            firstWeights.withUnsafeBufferPointer { weights in
                for pixel in 0..<size {
                    (folded.baseAddress! + pixel * rows * width).update(
                        from: weights.baseAddress! + pixel * width, count: width)
                }
                // Output pixel p of the turned image mixes up to four input pixels; each adds its bilinear weight
                // times output pixel p's weight row to the input pixel's row for this angle.
                for angle in angles.indices {
                    for pixel in 0..<size {
                        let weightRow = weights.baseAddress! + pixel * width
                        for slot in 0..<4 {
                            let tap = (angle * size + pixel) * 4 + slot
                            guard taps[tap] >= 0, tapWeights[tap] != 0 else { continue }
                            let target = folded.baseAddress! + (Int(taps[tap]) * rows + 1 + angle) * width
                            let factor = tapWeights[tap]
                            for unit in 0..<width { target[unit] += factor * weightRow[unit] }
                        }
                    }
                }
            }
        }
        self.taps = taps
        self.tapWeights = tapWeights
        firstLayerByInput = firstWeights
        foldedFirstLayer = folded
        weightsByInput = model.layers.dropFirst().map(\.weightsByInput)
        biases = model.layers.map(\.bias)
        widestRow = model.layers.reduce(0) { max($0, $1.outputSize) }
        activation = model.activation
    }

    /// The score of one input (`side²` scaled values).
    public func instability(of input: UnsafeBufferPointer<Float>, workspace: inout DensityWorkspace) -> Double {
        let size = side * side
        precondition(input.count == size, "input width \(input.count) ≠ \(size)")
        let rows = angles.count + 1
        if workspace.features.count < rows * widestRow {
            workspace.features = [Float](repeating: 0, count: rows * widestRow)
            workspace.featuresNext = workspace.features
        }
        // Row 0: the image's first layer; row 1 + a: the turned image's.
        let width = biases[0].count
        var nonZero = 0
        for pixel in 0..<size where input[pixel] != 0 { nonZero += 1 }
        // A digit (100–200 of 784 pixels inked) takes one long `saxpy` per non-zero pixel of the unturned image over
        // its folded rows: a few hundred BLAS calls fewer than turning the image first. With many non-zero pixels
        // (noise, clothing) the folded rows of them all would stream `rows` times the first layer's weights from
        // memory; turning the image and reading the layer's own weights, which stay in cache across the rows, is
        // cheaper.
        let isSparse = nonZero * 4 <= size
        if !isSparse { turn(input, rows: rows, into: &workspace.turned) }
        workspace.features.withUnsafeMutableBufferPointer { batch in
            for row in 0..<rows {
                _ = UnsafeMutableBufferPointer(rebasing: batch[(row * width)..<((row + 1) * width)])
                    .update(fromContentsOf: biases[0])
            }
            if isSparse {
                let blockWidth = rows * width
                foldedFirstLayer.withUnsafeBufferPointer { folded in
                    for pixel in 0..<size where input[pixel] != 0 {
                        BLAS.axpy(
                            count: blockWidth, alpha: input[pixel], x: folded.baseAddress! + pixel * blockWidth,
                            y: batch.baseAddress!)
                    }
                }
            } else {
                workspace.turned.withUnsafeBufferPointer { images in
                    firstLayerByInput.withUnsafeBufferPointer { weightRows in
                        for pixel in 0..<size {
                            let weightRow = weightRows.baseAddress! + pixel * width
                            for row in 0..<rows where images[row * size + pixel] != 0 {
                                BLAS.axpy(
                                    count: width, alpha: images[row * size + pixel], x: weightRow,
                                    y: batch.baseAddress! + row * width)
                            }
                        }
                    }
                }
            }
            finish(layer: 0, rows: rows, values: batch.baseAddress!)
        }
        forward(rows: rows, inputWidth: width, workspace: &workspace)
        let classes = biases[biases.count - 1].count
        return workspace.features.withUnsafeBufferPointer { probabilities in
            var reference = 0
            for index in 1..<classes where probabilities[index] > probabilities[reference] { reference = index }
            var total: Double = 0
            for angle in angles.indices { total += Double(1 - probabilities[(angle + 1) * classes + reference]) }
            return min(max(total / Double(angles.count), 0), 1)
        }
    }

    /// Writes the image and its turned copies (bilinear, through ``taps``), `rows` images of `side²` values, into
    /// `images`.
    private func turn(_ input: UnsafeBufferPointer<Float>, rows: Int, into images: inout [Float]) {
        let size = side * side
        images.ensureCount(rows * size)
        images.withUnsafeMutableBufferPointer { images in
            _ = UnsafeMutableBufferPointer(rebasing: images[0..<size]).update(fromContentsOf: input)
            taps.withUnsafeBufferPointer { taps in
                tapWeights.withUnsafeBufferPointer { weights in
                    for angle in angles.indices {
                        let row = (angle + 1) * size
                        for pixel in 0..<size {
                            let base = (angle * size + pixel) * 4
                            var value: Float = 0
                            for slot in 0..<4 where taps[base + slot] >= 0 {
                                value += weights[base + slot] * input[Int(taps[base + slot])]
                            }
                            images[row + pixel] = value
                        }
                    }
                }
            }
        }
    }

    /// Applies layer `layer`'s activation (softmax for the last layer) to `rows` rows of its width at `values`.
    private func finish(layer: Int, rows: Int, values: UnsafeMutablePointer<Float>) {
        let outputs = biases[layer].count
        for row in 0..<rows {
            let row = UnsafeMutableBufferPointer(start: values + row * outputs, count: outputs)
            if layer < biases.count - 1 {
                activation.apply(row)
            } else {
                _ = Activation.softmax(row)
            }
        }
    }

    /// The dropout-off softmax of the `rows` first-layer outputs at the start of `workspace.features` (rows of
    /// `inputWidth`, activated), left there as rows of the class count.
    ///
    /// A wide layer adds, for every input unit, its weight row times each row's value where that is non-zero
    /// (`saxpy`): images and ReLU activations are mostly zero, and a weight row is read once for all rows (a rank-1
    /// `sger` per input unit measured slower: OpenBLAS copies the strided column first). A narrow layer (the
    /// classifier) adds its short weight rows in a Swift loop, cheaper than a BLAS call per non-zero input.
    private func forward(rows: Int, inputWidth: Int, workspace: inout DensityWorkspace) {
        var inputWidth = inputWidth
        for layer in 1..<biases.count {
            let outputs = biases[layer].count
            let width = inputWidth
            let weights = weightsByInput[layer - 1]
            workspace.featuresNext.withUnsafeMutableBufferPointer { next in
                for row in 0..<rows {
                    _ = UnsafeMutableBufferPointer(rebasing: next[(row * outputs)..<((row + 1) * outputs)])
                        .update(fromContentsOf: biases[layer])
                }
                workspace.features.withUnsafeBufferPointer { current in
                    if outputs >= Self.narrowLayer {
                        weights.withUnsafeBufferPointer { weightRows in
                            for index in 0..<width {
                                let weightRow = weightRows.baseAddress! + index * outputs
                                for row in 0..<rows {
                                    let value = current[row * width + index]
                                    if value != 0 {
                                        BLAS.axpy(
                                            count: outputs, alpha: value, x: weightRow,
                                            y: next.baseAddress! + row * outputs)
                                    }
                                }
                            }
                        }
                    } else {
                        weights.withUnsafeBufferPointer { weightRows in
                            for row in 0..<rows {
                                let output = next.baseAddress! + row * outputs
                                for index in 0..<width {
                                    let value = current[row * width + index]
                                    guard value != 0 else { continue }
                                    let weightRow = weightRows.baseAddress! + index * outputs
                                    for unit in 0..<outputs { output[unit] += value * weightRow[unit] }
                                }
                            }
                        }
                    }
                }
                finish(layer: layer, rows: rows, values: next.baseAddress!)
            }
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
