/// The nonlinearity between dense layers (never after the last one), as PyTorch defines it.
public enum HiddenActivation: Sendable, Equatable {
    /// `max(x, 0)`.
    case relu
    /// `x` for `x > 0`, else `negativeSlope · x` (PyTorch's default slope is 0.01).
    case leakyReLU(negativeSlope: Float)
    /// `x · Φ(x) = x/2 · (1 + erf(x/√2))`, the exact GELU (`nn.GELU()`).
    case gelu
    /// `x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³)))` (`nn.GELU(approximate="tanh")`).
    case geluTanh
    /// `tanh(x)`.
    case tanh
    /// `1 / (1 + e⁻ˣ)`.
    case sigmoid
    /// `x · sigmoid(x)` (`nn.SiLU()`).
    case silu

    /// The names the model file uses, in the order listed in errors.
    public static let names = ["relu", "leaky_relu", "gelu", "gelu_tanh", "tanh", "sigmoid", "silu"]

    /// The activation named `name`; `negativeSlope` applies to `leaky_relu` only. Nil for an unknown name.
    public init?(name: String, negativeSlope: Float = 0.01) {
        switch name {
        case "relu": self = .relu
        case "leaky_relu": self = .leakyReLU(negativeSlope: negativeSlope)
        case "gelu": self = .gelu
        case "gelu_tanh": self = .geluTanh
        case "tanh": self = .tanh
        case "sigmoid": self = .sigmoid
        case "silu": self = .silu
        default: return nil
        }
    }

    /// The model file's name for the activation.
    public var name: String {
        switch self {
        case .relu: "relu"
        case .leakyReLU: "leaky_relu"
        case .gelu: "gelu"
        case .geluTanh: "gelu_tanh"
        case .tanh: "tanh"
        case .sigmoid: "sigmoid"
        case .silu: "silu"
        }
    }

    /// Whether it is ReLU, whose zeros the Monte-Carlo engine skips.
    public var isReLU: Bool { self == .relu }

    /// `f(x)` for one value.
    @inlinable
    public func callAsFunction(_ x: Float) -> Float {
        switch self {
        case .relu: return x > 0 ? x : 0
        case .leakyReLU(let slope): return x > 0 ? x : slope * x
        case .gelu: return 0.5 * x * (1 + errorFunction(x * 0.70710678118654752))
        case .geluTanh:
            return 0.5 * x * (1 + hyperbolicTangent(0.79788456080286536 * (x + 0.044715 * x * x * x)))
        case .tanh: return hyperbolicTangent(x)
        case .sigmoid: return 1 / (1 + exponential(-x))
        case .silu: return x / (1 + exponential(-x))
        }
    }

    /// `f′(x)` for one value, from the pre-activation `x` (for backpropagation).
    public func derivative(_ x: Float) -> Float {
        switch self {
        case .relu: return x > 0 ? 1 : 0
        case .leakyReLU(let slope): return x > 0 ? 1 : slope
        case .gelu:
            let cdf = 0.5 * (1 + errorFunction(x * 0.70710678118654752))
            let density = 0.39894228040143268 * exponential(-0.5 * x * x)
            return cdf + x * density
        case .geluTanh:
            let inner = 0.79788456080286536 * (x + 0.044715 * x * x * x)
            let t = hyperbolicTangent(inner)
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * 0.79788456080286536 * (1 + 3 * 0.044715 * x * x)
        case .tanh:
            let t = hyperbolicTangent(x)
            return 1 - t * t
        case .sigmoid:
            let s = 1 / (1 + exponential(-x))
            return s * (1 - s)
        case .silu:
            let s = 1 / (1 + exponential(-x))
            return s * (1 + x * (1 - s))
        }
    }

    /// `x ← f(x)` in place; ReLU runs ``Activation/relu(_:)`` (NaN becomes 0).
    @inlinable
    public func apply(_ values: UnsafeMutableBufferPointer<Float>) {
        if case .relu = self {
            Activation.relu(values)
            return
        }
        for index in values.indices { values[index] = self(values[index]) }
    }

    /// `x ← f(x)` in place on every element of `matrix`.
    public func apply(_ matrix: inout Matrix) {
        matrix.storage.withUnsafeMutableBufferPointer { apply($0) }
    }
}
