public import MCDropout

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The update rule of an ``Optimizer``.
public enum OptimizerKind: Sendable, Equatable {
    /// Stochastic gradient descent with optional (Nesterov) momentum, PyTorch's formulation.
    case sgd(momentum: Float, nesterov: Bool)
    /// Adam (Kingma & Ba 2015) with bias correction.
    case adam(beta1: Float, beta2: Float, epsilon: Float)
}

/// How the learning rate changes over epochs.
public enum LearningRateSchedule: Sendable, Equatable {
    /// The base rate throughout.
    case constant
    /// `base · γ^(epoch − 1)`.
    case exponential(gamma: Double)
    /// Multiplies by `factor` every `every` epochs.
    case step(every: Int, factor: Double)
    /// Cosine annealing from the base rate to `base · finalFraction` at the last epoch.
    case cosine(finalFraction: Double)

    /// The learning rate for `epoch` (1-based) of `epochCount`.
    public func learningRate(base: Double, epoch: Int, epochCount: Int) -> Double {
        switch self {
        case .constant:
            return base
        case .exponential(let gamma):
            var rate = base
            for _ in 1..<max(epoch, 1) { rate *= gamma }
            return rate
        case .step(let every, let factor):
            var rate = base
            for _ in 0..<((epoch - 1) / max(every, 1)) { rate *= factor }
            return rate
        case .cosine(let finalFraction):
            guard epochCount > 1 else { return base }
            let progress = Double(epoch - 1) / Double(epochCount - 1)
            let final = base * finalFraction
            return final + (base - final) * 0.5 * (1 + cos(Double.pi * progress))
        }
    }
}

/// Applies gradients to a ``DropoutMLP``: the update rule, L2 weight decay and an optional max-norm constraint.
public struct Optimizer: Sendable {
    /// The update rule.
    public let kind: OptimizerKind
    /// L2 penalty coefficient `λ`: `λ·w` is added to every weight gradient (biases are not decayed).
    public let weightDecay: Float
    /// When set, each unit's incoming weight vector (a row of `W`) is rescaled to this L2 norm whenever it exceeds
    /// it after an update (Srivastava et al. 2014).
    public let maxNorm: Float?

    private var firstMoments: [[Float]]
    private var secondMoments: [[Float]]
    private var stepCount = 0

    /// Creates an optimizer with zeroed state for `model`.
    public init(kind: OptimizerKind, weightDecay: Float = 0, maxNorm: Float? = nil, for model: DropoutMLP) {
        self.kind = kind
        self.weightDecay = weightDecay
        self.maxNorm = maxNorm
        let shapes = model.layers.flatMap { [$0.weight.storage.count, $0.bias.count] }
        firstMoments = shapes.map { [Float](repeating: 0, count: $0) }
        switch kind {
        case .sgd: secondMoments = []
        case .adam: secondMoments = shapes.map { [Float](repeating: 0, count: $0) }
        }
    }

    /// Applies one step with learning rate `learningRate`.
    public mutating func update(_ model: inout DropoutMLP, with gradients: Gradients, learningRate: Float) {
        stepCount += 1
        for index in model.layers.indices {
            apply(
                to: &model.layers[index].weight.storage, gradient: gradients.weights[index].storage, slot: 2 * index,
                learningRate: learningRate, decay: weightDecay)
            apply(
                to: &model.layers[index].bias, gradient: gradients.biases[index], slot: 2 * index + 1,
                learningRate: learningRate, decay: 0)
            if let maxNorm { Self.constrainRows(of: &model.layers[index].weight, maxNorm: maxNorm) }
        }
    }

    private mutating func apply(
        to parameters: inout [Float], gradient: [Float], slot: Int, learningRate: Float, decay: Float
    ) {
        let count = parameters.count
        switch kind {
        case .sgd(let momentum, let nesterov):
            parameters.withUnsafeMutableBufferPointer { w in
                gradient.withUnsafeBufferPointer { g in
                    firstMoments[slot].withUnsafeMutableBufferPointer { v in
                        if momentum == 0 {
                            for i in 0..<count { w[i] -= learningRate * (g[i] + decay * w[i]) }
                        } else if nesterov {
                            for i in 0..<count {
                                let grad = g[i] + decay * w[i]
                                v[i] = momentum * v[i] + grad
                                w[i] -= learningRate * (grad + momentum * v[i])
                            }
                        } else {
                            for i in 0..<count {
                                v[i] = momentum * v[i] + g[i] + decay * w[i]
                                w[i] -= learningRate * v[i]
                            }
                        }
                    }
                }
            }
        case .adam(let beta1, let beta2, let epsilon):
            var power1: Float = 1
            var power2: Float = 1
            for _ in 0..<stepCount {
                power1 *= beta1
                power2 *= beta2
            }
            let correction1 = 1 / (1 - power1)
            let correction2 = 1 / (1 - power2)
            parameters.withUnsafeMutableBufferPointer { w in
                gradient.withUnsafeBufferPointer { g in
                    firstMoments[slot].withUnsafeMutableBufferPointer { m in
                        secondMoments[slot].withUnsafeMutableBufferPointer { v in
                            for i in 0..<count {
                                let grad = g[i] + decay * w[i]
                                m[i] = beta1 * m[i] + (1 - beta1) * grad
                                v[i] = beta2 * v[i] + (1 - beta2) * grad * grad
                                let mHat = m[i] * correction1
                                let vHat = v[i] * correction2
                                w[i] -= learningRate * mHat / (vHat.squareRoot() + epsilon)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Rescales every row of `weight` whose L2 norm exceeds `maxNorm` to exactly `maxNorm`.
    static func constrainRows(of weight: inout Matrix, maxNorm: Float) {
        let columns = weight.columns
        weight.storage.withUnsafeMutableBufferPointer { w in
            for row in 0..<weight.rows {
                let base = row * columns
                var squared: Float = 0
                for column in 0..<columns { squared += w[base + column] * w[base + column] }
                let norm = squared.squareRoot()
                if norm > maxNorm {
                    let factor = maxNorm / norm
                    for column in 0..<columns { w[base + column] *= factor }
                }
            }
        }
    }
}
