/// Correctly rounded decimal-to-`Double` conversion for the numbers JSON bodies actually contain.
///
/// Two fast methods cover nearly all inputs; the parser falls back to the standard library's correctly rounded
/// `Double(_:)` when both decline:
/// - ``exactMagnitude(significand:digitCount:exponent:)``, Clinger's fast path, for up to 15 significant digits and
///   small exponents: a few nanoseconds.
/// - ``eiselLemire(significand:exponent:)`` for up to 19 significant digits and any exponent, such as the 17-digit
///   output of Python's `json.dumps` or JavaScript's `JSON.stringify`.
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

    /// The exponent of the first entry of ``powersOfTen128``.
    static let minimumPowerOfTen = -348
    /// The exponent of the last entry of ``powersOfTen128``.
    static let maximumPowerOfTen = 347

    /// The correctly rounded magnitude of `significand × 10^exponent` by the Eisel–Lemire algorithm, or `nil` when
    /// the algorithm cannot decide.
    ///
    /// The normalized significand is multiplied by a 128-bit approximation of 10^exponent, rounded down (a second
    /// 64-bit product refines it when the first leaves the rounding bits uncertain). The algorithm gives up — and the
    /// caller must use an exact method — when the truncation could still change the rounding, when the value lies
    /// exactly halfway between two doubles, or when the result would be subnormal or out of range. Reference: Daniel
    /// Lemire, "Number Parsing at a Gigabyte per Second", Software: Practice and Experience 51(8), 2021.
    ///
    /// - Parameters:
    ///   - significand: The exact decimal digits as an integer (so at most 19 digits, none dropped).
    ///   - exponent: The power of ten to scale by.
    static func eiselLemire(significand: UInt64, exponent: Int) -> Double? {
        if significand == 0 { return 0 }
        guard exponent >= minimumPowerOfTen, exponent <= maximumPowerOfTen else { return nil }

        let leadingZeros = significand.leadingZeroBitCount
        let normalized = significand << leadingZeros
        // 217706 / 2^16 approximates log2(10) closely enough for this exponent range; >> floors negative values.
        var binaryExponent = ((217_706 * exponent) >> 16) + 64 + 1023 - leadingZeros

        let tableIndex = 2 * (exponent - minimumPowerOfTen)
        var (high, low) = normalized.multipliedFullWidth(by: powersOfTen128[tableIndex])
        // If the low 9 bits of `high` are all ones and `low` could overflow into them, refine with the low table word.
        if high & 0x1FF == 0x1FF, low &+ normalized < normalized {
            let (refinementHigh, refinementLow) = normalized.multipliedFullWidth(by: powersOfTen128[tableIndex + 1])
            let mergedLow = low &+ refinementHigh
            let mergedHigh = mergedLow < low ? high &+ 1 : high
            if mergedHigh & 0x1FF == 0x1FF, mergedLow == .max, refinementLow &+ normalized < normalized {
                return nil
            }
            high = mergedHigh
            low = mergedLow
        }

        // Keep 54 bits: the 53-bit mantissa plus one rounding bit.
        let topBit = high >> 63
        var mantissa = high >> (topBit + 9)
        binaryExponent -= Int(1 ^ topBit)
        // Exactly halfway between two doubles: only an exact method can break the tie to even.
        if low == 0, high & 0x1FF == 0, mantissa & 3 == 1 { return nil }
        mantissa += mantissa & 1
        mantissa >>= 1
        if mantissa >> 53 > 0 {
            mantissa >>= 1
            binaryExponent += 1
        }
        // Subnormal, zero, infinite or NaN territory.
        guard binaryExponent > 0, binaryExponent < 0x7FF else { return nil }
        return Double(bitPattern: UInt64(binaryExponent) << 52 | mantissa & 0x000F_FFFF_FFFF_FFFF)
    }
}
