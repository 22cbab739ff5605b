/// Checks UTF-8 well-formedness one sequence at a time (Unicode 15, table 3-7).
enum UTF8Validation {
    /// The length of the well-formed sequence at `start`, whose first byte is not ASCII, or `nil` if it is ill-formed.
    ///
    /// Rejects continuation bytes without a lead byte, overlong encodings (`C0`, `C1`, `E0 80`, `F0 80`), encoded
    /// surrogates (`ED A0`–`ED BF`), code points above U+10FFFF (`F4 90`, `F5`–`FF`), and sequences cut short by
    /// `available`, the number of bytes readable from `start`.
    @inline(__always)
    static func sequenceLength(at start: UnsafePointer<UInt8>, available: Int) -> Int? {
        @inline(__always)
        func isContinuation(_ offset: Int, _ low: UInt8 = 0x80, _ high: UInt8 = 0xBF) -> Bool {
            offset < available && start[offset] >= low && start[offset] <= high
        }
        switch start[0] {
        case 0xC2...0xDF:
            return isContinuation(1) ? 2 : nil
        case 0xE0:
            return isContinuation(1, 0xA0) && isContinuation(2) ? 3 : nil
        case 0xE1...0xEC, 0xEE...0xEF:
            return isContinuation(1) && isContinuation(2) ? 3 : nil
        case 0xED:
            return isContinuation(1, 0x80, 0x9F) && isContinuation(2) ? 3 : nil
        case 0xF0:
            return isContinuation(1, 0x90) && isContinuation(2) && isContinuation(3) ? 4 : nil
        case 0xF1...0xF3:
            return isContinuation(1) && isContinuation(2) && isContinuation(3) ? 4 : nil
        case 0xF4:
            return isContinuation(1, 0x80, 0x8F) && isContinuation(2) && isContinuation(3) ? 4 : nil
        default:
            return nil
        }
    }
}
