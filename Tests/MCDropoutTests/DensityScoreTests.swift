import MCDropoutJSON
import Testing

@testable import MCDropout

/// A density model for `smallModel` (20 inputs, hidden widths 33 and 17, 5 classes) with random statistics.
func sampleDensity(seed: UInt64 = 9, layer: Int = 2) -> DensityModel {
    var generator = RandomSource(seed: seed)
    func random(_ count: Int) -> [Float] { (0..<count).map { _ in Float(generator.nextStandardNormal()) } }
    // Three orthonormal directions: a rotation in the (0, 1) plane, and axes 5 and 7.
    var components = Matrix(rows: 3, columns: 20)
    components[0, 0] = 0.6
    components[0, 1] = 0.8
    components[1, 0] = -0.8
    components[1, 1] = 0.6
    components[2, 7] = 1
    let width = layer == 1 ? 33 : 17
    return DensityModel(
        subspace: PrincipalSubspace(mean: random(20).map { $0 * 0.1 }, components: components, explainedVariance: 0.5),
        gaussian: ClassConditionalGaussian(
            layer: layer, whitening: Matrix(rows: 6, columns: width, storage: random(6 * width)),
            whitenedMeans: Matrix(rows: 5, columns: 6, storage: random(30)), ridge: 0.25),
        trainingCount: 123)
}

@Suite("Density scores")
struct DensityScoreTests {
    @Test("reconstruction error is the mean squared residual off the subspace, computed naively")
    func reconstructionError() {
        let density = sampleDensity()
        let subspace = density.subspace!
        var generator = RandomSource(seed: 4)
        let input = (0..<20).map { _ in Float(generator.nextUnitFloat()) }
        var workspace = DensityWorkspace()
        let value = input.withUnsafeBufferPointer { subspace.reconstructionError(of: $0, workspace: &workspace) }
        // Residual: the centred input minus its projections on the three directions.
        var residual = zip(input, subspace.mean).map { Double($0 - $1) }
        for row in 0..<3 {
            let direction = subspace.components.row(row).map(Double.init)
            let coefficient = zip(residual, direction).reduce(0) { $0 + $1.0 * $1.1 }
            for index in 0..<20 { residual[index] -= coefficient * direction[index] }
        }
        let expected = residual.reduce(0) { $0 + $1 * $1 } / 20
        #expect(abs(value - expected) < 1e-6 * max(expected, 1))
        #expect(expected > 0.01)
        // An input inside the subspace (mean + a combination of the directions) has no error.
        var inside = subspace.mean
        for index in 0..<20 { inside[index] += 2 * subspace.components[0, index] - subspace.components[2, index] }
        let zero = inside.withUnsafeBufferPointer { subspace.reconstructionError(of: $0, workspace: &workspace) }
        #expect(zero < 1e-6)  // float rounding of ‖x − μ‖² − ‖U(x − μ)‖², against a residual of 0.01 above
    }

    @Test(
        "feature distance is the smallest whitened squared distance to a class mean of the hidden activations",
        arguments: [1, 2])
    func featureDistance(layer: Int) {
        let model = smallModel(dropout: [0, 0.5, 0.3])
        let gaussian = sampleDensity(layer: layer).gaussian!
        var generator = RandomSource(seed: 5)
        let input = (0..<20).map { _ in Float(generator.nextUnitFloat()) }
        var workspace = DensityWorkspace()
        let value = input.withUnsafeBufferPointer { gaussian.distance(of: $0, model: model, workspace: &workspace) }
        var features = input.map(Double.init)
        for index in 0..<layer {
            let dense = model.layers[index]
            features = (0..<dense.outputSize).map { output in
                let sum = (0..<dense.inputSize).reduce(Double(dense.bias[output])) {
                    $0 + Double(dense.weight[output, $1]) * features[$1]
                }
                return max(sum, 0)
            }
        }
        let whitened = (0..<6).map { row in
            (0..<features.count).reduce(0.0) { $0 + Double(gaussian.whitening[row, $1]) * features[$1] }
        }
        let expected =
            (0..<5).map { label in
                (0..<6).reduce(0.0) { $0 + pow2(whitened[$1] - Double(gaussian.whitenedMeans[label, $1])) }
            }.min()! / 6
        #expect(abs(value - expected) < 1e-4 * expected)
        // Created for the model, the statistics take the sparse pass (only non-zero inputs' and features' rows).
        let sparse = ClassConditionalGaussian(
            layer: layer, whitening: gaussian.whitening, whitenedMeans: gaussian.whitenedMeans, ridge: gaussian.ridge,
            model: model)
        #expect(sparse == gaussian)
        var sparseInput = input
        for index in stride(from: 0, to: sparseInput.count, by: 3) { sparseInput[index] = 0 }
        let sparseValue = sparseInput.withUnsafeBufferPointer {
            sparse.distance(of: $0, model: model, workspace: &workspace)
        }
        let denseValue = sparseInput.withUnsafeBufferPointer {
            gaussian.distance(of: $0, model: model, workspace: &workspace)
        }
        #expect(abs(sparseValue - denseValue) < 1e-5 * denseValue)
        #expect(
            abs(input.withUnsafeBufferPointer { sparse.distance(of: $0, model: model, workspace: &workspace) } - value)
                < 1e-5 * value)
    }

    @Test("a model file with density statistics round-trips, and one without them stays as it was")
    func roundTrip() throws {
        var file = sampleModelFile()
        let plain = file.encoded()
        file.density = sampleDensity()
        let bytes = file.encoded()
        let decoded = try ModelFile(decoding: bytes)
        #expect(decoded == file)
        #expect(decoded.encoded() == bytes)
        #expect(decoded.metadata.extensions[DensityModel.metadataKey] == nil)
        #expect(try ModelFile(decoding: plain).density == nil)
        // The network's tensors come first and are byte-identical; the density tensors follow them.
        let networkBytes = 4 * file.model.parameterCount
        #expect(Array(bytes[dataStart(bytes)..<(dataStart(bytes) + networkBytes)]) == Array(plain.suffix(networkBytes)))
    }

    @Test("ink deviation is |ln((share + 1/D) / median)| of the share above the cut, and round-trips in the file")
    func inkDeviation() throws {
        let ink = InkStatistics(cut: 0.5, medianShare: 0.25)
        // 5 of 20 values above 0.5 (0.5 itself is not): share 0.25, floor 1/20.
        let input: [Float] =
            [0.9, 0.6, 0.51, 1, 0.7] + [Float](repeating: 0.5, count: 5) + [Float](repeating: 0, count: 10)
        let typical = input.withUnsafeBufferPointer { ink.deviation(of: $0) }
        #expect(abs(typical - naturalLog(0.3 / 0.25)) < 1e-12)
        let empty = [Float](repeating: 0, count: 20).withUnsafeBufferPointer { ink.deviation(of: $0) }
        #expect(abs(empty - naturalLog(0.25 / 0.05)) < 1e-12)
        let full = [Float](repeating: 1, count: 20).withUnsafeBufferPointer { ink.deviation(of: $0) }
        #expect(abs(full - naturalLog(1.05 / 0.25)) < 1e-12)
        var file = sampleModelFile()
        file.density = DensityModel(ink: ink, trainingCount: 7)
        #expect(file.density?.scores == [.inkDeviation])
        let bytes = file.encoded()
        let decoded = try ModelFile(decoding: bytes)
        #expect(decoded == file && decoded.density?.ink == ink)
        let zeroMedian = withHeader(bytes) { $0.replacingAll(#"\"median_share\":0.25"#, with: #"\"median_share\":0"#) }
        #expect(zeroMedian != bytes)
        #expect(throws: ModelFileError.self) { try ModelFile(decoding: zeroMedian) }
    }

    @Test("a density extension without its tensors, or with the wrong shapes, is a typed error")
    func corrupt() throws {
        var file = sampleModelFile()
        file.density = sampleDensity()
        let bytes = file.encoded()
        let renamed = withHeader(bytes) { $0.replacingAll("density.subspace.mean", with: "density.subspace.meen") }
        #expect(throws: ModelFileError.missingTensor("density.subspace.mean")) { try ModelFile(decoding: renamed) }
        let wrongRank = withHeader(bytes) { $0.replacingAll(#"\"rank\":3"#, with: #"\"rank\":4"#) }
        #expect(
            throws: ModelFileError.shapeMismatch(
                tensor: "density.subspace.components", expected: [4, 20], found: [3, 20])
        ) {
            try ModelFile(decoding: wrongRank)
        }
        let badLayer = withHeader(bytes) { $0.replacingAll(#"\"layer\":2"#, with: #"\"layer\":3"#) }
        #expect(throws: ModelFileError.self) { try ModelFile(decoding: badLayer) }
    }
}

private func pow2(_ value: Double) -> Double { value * value }

/// Where a safetensors file's data section starts.
private func dataStart(_ bytes: [UInt8]) -> Int {
    8 + (0..<8).reversed().reduce(0) { $0 << 8 | Int(bytes[$1]) }
}

extension String {
    /// Every occurrence of `target` replaced (Foundation-free, for header surgery in tests).
    func replacingAll(_ target: String, with replacement: String) -> String {
        var result = ""
        var rest = Substring(self)
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound] + replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}

@Suite("Composite uncertainty rules")
struct UncertaintyRuleTests {
    let summary = PredictiveSummary(passProbabilities: Matrix(rows: 2, columns: 2, storage: [0.9, 0.1, 0.7, 0.3]))

    @Test("a prediction is flagged as soon as any condition's score exceeds its threshold")
    func anyCondition() {
        let rule = UncertaintyRule(conditions: [
            .init(score: .uncertainty(.maxProbability), threshold: 0.25),
            .init(score: .density(.reconstructionError), threshold: 0.5),
        ])
        // 1 − max p = 0.2: the first condition holds only below 0.2.
        #expect(!rule.isUncertain(summary, density: DensityValues(reconstructionError: 0.4)))
        #expect(rule.isUncertain(summary, density: DensityValues(reconstructionError: 0.6)))
        #expect(!rule.isUncertain(summary))  // a density score the model lacks never triggers
        #expect(rule.isExceeded(1, summary: summary, density: DensityValues(reconstructionError: 0.6)))
        var tight = rule
        tight.conditions[0].threshold = 0.19
        #expect(tight.isUncertain(summary, density: DensityValues(reconstructionError: 0.4)))
    }

    @Test("the rules form round-trips; the older single-threshold form reads as one condition and is kept verbatim")
    func storedForms() throws {
        let rule = UncertaintyRule(
            conditions: [
                .init(score: .uncertainty(.mutualInformation), threshold: 0.125),
                .init(score: .density(.featureDistance), threshold: 3.5),
            ],
            cleanFlagBudget: 0.04, validationFlagged: 0.039, validationUnflaggedAccuracy: 0.997, sampleCount: 100,
            fittedOn: "validation")
        #expect(try UncertaintyRule(decoding: rule.jsonValue) == rule)
        let legacy = try JSONParser.parse(Array(#"{"score":"total_variance","threshold":0.5,"coverage":0.9}"#.utf8))
        let read = try UncertaintyRule(decoding: legacy)
        #expect(read.conditions == [.init(score: .uncertainty(.totalVariance), threshold: 0.5)])
        #expect(read.jsonValue == legacy)
        let unknown = try JSONParser.parse(Array(#"{"rules":[{"score":"nonsense","threshold":1}]}"#.utf8))
        #expect(throws: ModelFileError.self) { try UncertaintyRule(decoding: unknown) }
        let empty = try JSONParser.parse(Array(#"{"rules":[]}"#.utf8))
        #expect(throws: ModelFileError.self) { try UncertaintyRule(decoding: empty) }
    }

    @Test("a stored rule that needs density statistics the file lacks is rejected")
    func ruleNeedsDensity() throws {
        var file = sampleModelFile()
        file.setUncertaintyRule(
            UncertaintyRule(conditions: [.init(score: .density(.reconstructionError), threshold: 0.01)]))
        #expect(throws: ModelFileError.self) { try file.uncertaintyRule() }
        file.density = sampleDensity()
        let decoded = try ModelFile(decoding: file.encoded())
        #expect(try decoded.uncertaintyRule()?.densityScores == [.reconstructionError])
    }
}
