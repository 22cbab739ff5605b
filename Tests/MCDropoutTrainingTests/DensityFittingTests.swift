import MCDropout
import MCDropoutData
import Testing

@testable import MCDropoutTraining

@Suite("Density fitting")
struct DensityFittingTests {
    /// Images of 3 pixels spread along the direction (2, 1, 0)/√5 around (100, 100, 50), with a little spread along
    /// (0, 0, 1) and none along the third axis; labels alternate between two classes.
    func lineImages(count: Int) -> LabeledImages {
        var generator = RandomSource(seed: 11)
        var pixels: [UInt8] = []
        for _ in 0..<count {
            let t = generator.nextUnitFloat() * 80 - 40
            let small = generator.nextUnitFloat() * 8 - 4
            let along: Float = t / Float(5).squareRoot()
            pixels += [UInt8(100 + 2 * along), UInt8(100 + along), UInt8(50 + small)]
        }
        return LabeledImages(pixels: pixels, labels: (0..<count).map { UInt8($0 % 2) }, pixelCount: 3)
    }

    @Test("the principal subspace finds the direction the images vary along and how much it explains")
    func principalDirection() throws {
        let data = lineImages(count: 4000)
        let subspace = try DensityFitting.principalSubspace(of: data, input: InputPreparation(scale: 1), rank: 1)
        let direction = subspace.components.row(0)
        let cosine: Double = abs(Double(direction[0]) * 2 + Double(direction[1])) / Double(5).squareRoot()
        #expect(cosine > 0.999)
        let norm: Float = direction.reduce(0) { $0 + $1 * $1 }
        #expect(abs(norm - 1) < 1e-5)
        // Variance along the line ≈ 80²/12 ≈ 533 against ≈ 8²/12 ≈ 5 (plus rounding to integers) across it.
        #expect(subspace.explainedVariance! > 0.97 && subspace.explainedVariance! < 0.999)
        #expect(abs(subspace.mean[2] - 49.5) < 0.5)
        #expect(throws: DensityFittingError.self) {
            try DensityFitting.principalSubspace(of: data, input: InputPreparation(scale: 1), rank: 4)
        }
    }

    @Test("the feature Gaussian whitens with the inverse of the ridge-regularised pooled covariance")
    func whitening() throws {
        // An identity first layer: hidden layer 1 = ReLU(pixels), which are all positive.
        let identity = Dense(
            weight: Matrix(rows: 3, columns: 3, storage: [1, 0, 0, 0, 1, 0, 0, 0, 1]), bias: [0, 0, 0])
        let head = Dense(weight: Matrix(rows: 2, columns: 3, repeating: 0.1), bias: [0, 0])
        let model = DropoutMLP(layers: [identity, head], dropoutProbabilities: [0, 0])
        let data = lineImages(count: 2000)
        let gaussian = try DensityFitting.classConditionalGaussian(
            model: model, data: data, input: InputPreparation(scale: 1), layer: 1, ridgeFraction: 0.01)
        // Naive pooled covariance and class means.
        var means = [[Double]](repeating: [0, 0, 0], count: 2)
        for row in 0..<data.count {
            for column in 0..<3 { means[row % 2][column] += Double(data.pixels[row * 3 + column]) / 1000 }
        }
        var covariance = [[Double]](repeating: [0, 0, 0], count: 3)
        for row in 0..<data.count {
            let centred = (0..<3).map { Double(data.pixels[row * 3 + $0]) - means[row % 2][$0] }
            for i in 0..<3 { for j in 0..<3 { covariance[i][j] += centred[i] * centred[j] / Double(data.count - 2) } }
        }
        let ridge = gaussian.ridge!
        let trace = covariance[0][0] + covariance[1][1] + covariance[2][2]
        #expect(abs(ridge - 0.01 * trace / 3) < 1e-3 * ridge)
        for i in 0..<3 { covariance[i][i] += ridge }
        // Wᵀ W must be the inverse of the regularised covariance: (Wᵀ W) Σ = I.
        for i in 0..<3 {
            for j in 0..<3 {
                var product: Double = 0
                for k in 0..<3 {
                    let gram = (0..<3).reduce(0.0) {
                        $0 + Double(gaussian.whitening[$1, i] * gaussian.whitening[$1, k])
                    }
                    product += gram * covariance[k][j]
                }
                #expect(abs(product - (i == j ? 1 : 0)) < 1e-3)
            }
        }
        // A class mean is at distance 0 from itself.
        var workspace = DensityWorkspace()
        let mean = means[1].map { Float($0) }
        let distance = mean.withUnsafeBufferPointer { gaussian.distance(of: $0, model: model, workspace: &workspace) }
        #expect(distance < 1e-6)
    }

    @Test("the ink statistics are the median share of elements above the cut, never 0")
    func inkMedian() throws {
        // Four images of 4 pixels with 0, 1, 3 and 4 values above 100 (scale 255: cut 100/255); the empty image
        // counts as one inked element, so the shares are 1/4, 1/4, 3/4, 1 and the median is 1/2.
        let pixels: [UInt8] = [0, 0, 0, 0, 101, 0, 100, 0, 255, 200, 101, 0, 101, 101, 101, 101]
        let data = LabeledImages(pixels: pixels, labels: [0, 1, 0, 1], pixelCount: 4)
        let ink = try DensityFitting.inkStatistics(of: data, input: InputPreparation(scale: 255), cut: 100 / 255)
        #expect(ink.medianShare == 0.5)
        let odd = try DensityFitting.inkStatistics(
            of: data.subset(1..<4), input: InputPreparation(scale: 255), cut: 100 / 255)
        #expect(odd.medianShare == 0.75)
        #expect(throws: DensityFittingError.self) {
            try DensityFitting.inkStatistics(of: data, input: InputPreparation(scale: 255), cut: -1)
        }
    }
}
