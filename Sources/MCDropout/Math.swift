// The few libm functions the core needs, reached without Foundation. Every other file calls these wrappers, so the
// platform import lives in one place.
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

@usableFromInline @inline(__always) func exponential(_ x: Float) -> Float { expf(x) }
@usableFromInline @inline(__always) func exponential(_ x: Double) -> Double { exp(x) }
@usableFromInline @inline(__always) func naturalLog(_ x: Float) -> Float { logf(x) }
@usableFromInline @inline(__always) func naturalLog(_ x: Double) -> Double { log(x) }
@usableFromInline @inline(__always) func cosine(_ x: Double) -> Double { cos(x) }
@usableFromInline @inline(__always) func errorFunction(_ x: Float) -> Float { erff(x) }
@usableFromInline @inline(__always) func hyperbolicTangent(_ x: Float) -> Float { tanhf(x) }
