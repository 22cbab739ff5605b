public import MCDropoutJSON

/// How a ``DensityModel`` is stored: tensors `density.subspace.mean` `[D]`, `density.subspace.components` `[k, D]`,
/// `density.gaussian.whitening` `[m, H]` and `density.gaussian.means` `[C, m]`, described by the metadata extension
/// `"density"`:
/// `{"training_images": n, "reconstruction_error": {"rank": k, "explained_variance": v},
/// "feature_distance": {"layer": l, "dimensions": m, "ridge": r}, "ink_deviation": {"cut": c, "median_share": s},
/// "rotation_instability": {"side": n, "angles": [a, …]}}` (a part is absent when its score is; `ink_deviation` and
/// `rotation_instability` have no tensors).
/// Files without the extension have no density scores and stay valid.
extension DensityModel {
    /// The metadata extension that describes the density tensors.
    public static let metadataKey = "density"

    /// The extension's JSON; members in a fixed order.
    public var jsonValue: JSONValue {
        var members: [JSONObject.Member] = []
        if let trainingCount { members.append(("training_images", .number(Double(trainingCount)))) }
        if let subspace {
            var part: [JSONObject.Member] = [("rank", .number(Double(subspace.rank)))]
            if let share = subspace.explainedVariance { part.append(("explained_variance", .number(share))) }
            members.append((DensityScore.reconstructionError.rawValue, .object(JSONObject(part))))
        }
        if let gaussian {
            var part: [JSONObject.Member] = [
                ("layer", .number(Double(gaussian.layer))), ("dimensions", .number(Double(gaussian.whitening.rows))),
            ]
            if let ridge = gaussian.ridge { part.append(("ridge", .number(ridge))) }
            members.append((DensityScore.featureDistance.rawValue, .object(JSONObject(part))))
        }
        if let ink {
            let part: [JSONObject.Member] = [
                ("cut", .number(Double(ink.cut))), ("median_share", .number(ink.medianShare)),
            ]
            members.append((DensityScore.inkDeviation.rawValue, .object(JSONObject(part))))
        }
        if let rotation {
            let part: [JSONObject.Member] = [
                ("side", .number(Double(rotation.side))), ("angles", .array(rotation.angles.map { .number($0) })),
            ]
            members.append((DensityScore.rotationInstability.rawValue, .object(JSONObject(part))))
        }
        return .object(JSONObject(members))
    }

    /// The tensors to store, in a fixed order.
    var tensors: [(name: String, shape: [Int], values: [Float])] {
        var result: [(name: String, shape: [Int], values: [Float])] = []
        if let subspace {
            result.append(("density.subspace.mean", [subspace.mean.count], subspace.mean))
            result.append(
                ("density.subspace.components", [subspace.rank, subspace.mean.count], subspace.components.storage))
        }
        if let gaussian {
            let whitening = gaussian.whitening
            let means = gaussian.whitenedMeans
            result.append(("density.gaussian.whitening", [whitening.rows, whitening.columns], whitening.storage))
            result.append(("density.gaussian.means", [means.rows, means.columns], means.storage))
        }
        return result
    }

    /// Traps unless the statistics fit `model` (a programmer error; decoding checks the same and throws).
    func checkShapes(against model: DropoutMLP) {
        if let subspace { precondition(subspace.mean.count == model.inputSize, "subspace width ≠ model input") }
        if let gaussian {
            precondition(gaussian.layer < model.layers.count, "feature layer is not a hidden layer")
            precondition(gaussian.featureCount == model.layers[gaussian.layer - 1].outputSize, "feature width")
            precondition(gaussian.whitenedMeans.rows == model.outputSize, "one mean per class")
        }
    }

    /// Reads the extension `value` and takes the tensors it names through `tensor` (name → shape and values).
    init(
        decoding value: JSONValue, model: DropoutMLP,
        tensor: (String) throws(ModelFileError) -> (shape: [Int], values: [Float])
    ) throws(ModelFileError) {
        let key = Self.metadataKey
        guard case .object(let object) = value else { throw .invalidMetadata(field: key, reason: "must be an object") }
        func shaped(_ name: String, _ expected: [Int]) throws(ModelFileError) -> [Float] {
            let (shape, values) = try tensor(name)
            guard shape == expected else { throw .shapeMismatch(tensor: name, expected: expected, found: shape) }
            return values
        }
        func positive(_ part: JSONObject, _ name: String, field: String) throws(ModelFileError) -> Int {
            guard let number = part[name]?.intValue, number > 0 else {
                throw .invalidMetadata(field: "\(key).\(field).\(name)", reason: "must be a positive integer")
            }
            return number
        }
        self.init(trainingCount: object["training_images"]?.intValue)
        let input = model.inputSize
        if let partValue = object[DensityScore.reconstructionError.rawValue] {
            let field = DensityScore.reconstructionError.rawValue
            guard case .object(let part) = partValue else {
                throw .invalidMetadata(field: "\(key).\(field)", reason: "must be an object")
            }
            let rank = try positive(part, "rank", field: field)
            let mean = try shaped("density.subspace.mean", [input])
            let components = try shaped("density.subspace.components", [rank, input])
            subspace = PrincipalSubspace(
                mean: mean, components: Matrix(rows: rank, columns: input, storage: components),
                explainedVariance: part["explained_variance"]?.doubleValue)
        }
        if let partValue = object[DensityScore.featureDistance.rawValue] {
            let field = DensityScore.featureDistance.rawValue
            guard case .object(let part) = partValue else {
                throw .invalidMetadata(field: "\(key).\(field)", reason: "must be an object")
            }
            let layer = try positive(part, "layer", field: field)
            guard layer < model.layers.count else {
                throw .invalidMetadata(
                    field: "\(key).\(field).layer", reason: "must name a hidden layer (1 … \(model.layers.count - 1))")
            }
            let dimensions = try positive(part, "dimensions", field: field)
            let width = model.layers[layer - 1].outputSize
            let whitening = try shaped("density.gaussian.whitening", [dimensions, width])
            let means = try shaped("density.gaussian.means", [model.outputSize, dimensions])
            gaussian = ClassConditionalGaussian(
                layer: layer, whitening: Matrix(rows: dimensions, columns: width, storage: whitening),
                whitenedMeans: Matrix(rows: model.outputSize, columns: dimensions, storage: means),
                ridge: part["ridge"]?.doubleValue, model: model)
        }
        if let partValue = object[DensityScore.inkDeviation.rawValue] {
            let field = DensityScore.inkDeviation.rawValue
            guard case .object(let part) = partValue, let cut = part["cut"]?.doubleValue, cut.isFinite,
                let median = part["median_share"]?.doubleValue, median > 0, median <= 1
            else {
                throw .invalidMetadata(
                    field: "\(key).\(field)", reason: "must hold a finite cut and a median_share in (0, 1]")
            }
            ink = InkStatistics(cut: Float(cut), medianShare: median)
        }
        if let partValue = object[DensityScore.rotationInstability.rawValue] {
            let field = DensityScore.rotationInstability.rawValue
            guard case .object(let part) = partValue, let side = part["side"]?.intValue, side >= 2,
                side * side == input, case .array(let list)? = part["angles"]
            else {
                throw .invalidMetadata(
                    field: "\(key).\(field)", reason: "must hold the image side (side² = \(input) inputs) and angles")
            }
            let angles = list.compactMap(\.doubleValue).filter(\.isFinite)
            guard angles.count == list.count, !angles.isEmpty, angles.count <= RotationProbe.maximumAngles else {
                throw .invalidMetadata(
                    field: "\(key).\(field).angles",
                    reason: "must be 1 … \(RotationProbe.maximumAngles) finite numbers (degrees)")
            }
            rotation = RotationProbe(angles: angles, side: side, model: model)
        }
    }
}
