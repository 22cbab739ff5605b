/// Correctly rounded decimal-to-`Double` conversion for the numbers JSON bodies actually contain.
///
/// ``exactMagnitude(significand:digitCount:exponent:)``, Clinger's fast path, covers up to 15 significant digits and
/// small exponents in a few nanoseconds; the parser falls back to the standard library's correctly rounded
/// `Double(_:)` when it declines.
enum DecimalConversion {
    /// The most significant digits the fast path accepts.
    static let maxFastDigitCount = 15

    /// 10^0 through 10^22, each exactly representable as a `Double`.
    private static let powersOfTen: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ]

    /// 10^0 through 10^15 as integers.
    private static let integerPowersOfTen: [UInt64] = [
        1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000, 10_000_000_000,
        100_000_000_000, 1_000_000_000_000, 10_000_000_000_000, 100_000_000_000_000, 1_000_000_000_000_000,
    ]

    /// The correctly rounded magnitude of `significand × 10^exponent`, or `nil` if the fast path does not apply.
    ///
    /// A significand of at most 15 digits is an exact `Double` (15 digits stay below 2^53), and so is every power of
    /// ten up to 10^22. One IEEE multiplication or division of two exact operands is correctly rounded, so the result
    /// equals what a correctly rounding `strtod` returns.
    ///
    /// - Parameters:
    ///   - significand: The decimal digits without leading zeros, as an integer.
    ///   - digitCount: How many digits `significand` has (`significand < 10^digitCount`).
    ///   - exponent: The power of ten to scale by.
    @inline(__always)
    static func exactMagnitude(significand: UInt64, digitCount: Int, exponent: Int) -> Double? {
        guard digitCount <= maxFastDigitCount else { return nil }
        if significand == 0 { return 0 }
        if exponent >= 0 {
            if exponent <= 22 {
                return Double(Int64(truncatingIfNeeded: significand)) * powersOfTen[exponent]
            }
            // 123e25 = 123000e22: move surplus powers of ten into the significand while it stays below 10^15.
            let surplus = exponent - 22
            guard surplus <= maxFastDigitCount - digitCount else { return nil }
            return Double(Int64(truncatingIfNeeded: significand * integerPowersOfTen[surplus])) * powersOfTen[22]
        }
        guard exponent >= -22 else { return nil }
        return Double(Int64(truncatingIfNeeded: significand)) / powersOfTen[-exponent]
    }
}
