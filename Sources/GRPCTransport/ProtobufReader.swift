/// How a protobuf field's value is encoded on the wire.
public enum ProtobufWireType: UInt8, Sendable {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case startGroup = 3
    case endGroup = 4
    case fixed32 = 5
}

/// Malformed protobuf bytes: what was wrong and at which byte offset.
public struct ProtobufError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public var offset: Int

    public var description: String { "malformed protobuf message at byte \(offset): \(reason)" }
}

/// A forward-only reader of the protobuf (proto3) wire format over a byte array.
///
/// Every read checks the bounds and throws ``ProtobufError`` on truncated or malformed input, never traps: a nested
/// message is a reader over a sub-range of the same bytes, so a length prefix that claims more than remains is
/// caught before anything is read. Groups (proto2 only) are refused.
public struct ProtobufReader {
    private let bytes: [UInt8]
    /// The next byte to read.
    public private(set) var offset: Int
    private let end: Int

    /// A reader over a whole message.
    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        offset = 0
        end = bytes.count
    }

    private init(bytes: [UInt8], range: Range<Int>) {
        self.bytes = bytes
        offset = range.lowerBound
        end = range.upperBound
    }

    /// Whether every byte has been read.
    public var isAtEnd: Bool { offset >= end }

    private func error(_ reason: String) -> ProtobufError { ProtobufError(reason: reason, offset: offset) }

    /// The next field's number and wire type, or `nil` at the end of the message.
    public mutating func nextField() throws(ProtobufError) -> (number: Int, wireType: ProtobufWireType)? {
        guard !isAtEnd else { return nil }
        let key = try readVarint()
        let number = key >> 3
        guard number >= 1, number <= 0x1FFF_FFFF else { throw error("field number \(number) is out of range") }
        guard let wireType = ProtobufWireType(rawValue: UInt8(key & 7)) else {
            throw error("unknown wire type \(key & 7)")
        }
        return (Int(number), wireType)
    }

    /// A base-128 varint of at most 10 bytes.
    public mutating func readVarint() throws(ProtobufError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < end else { throw error("truncated varint") }
            let byte = bytes[offset]
            offset += 1
            guard shift < 64, shift < 63 || byte <= 1 else { throw error("varint longer than 64 bits") }
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
    }

    /// Four little-endian bytes.
    public mutating func readFixed32() throws(ProtobufError) -> UInt32 {
        guard end - offset >= 4 else { throw error("truncated fixed32") }
        var value: UInt32 = 0
        for index in 0..<4 { value |= UInt32(bytes[offset + index]) << (8 * index) }
        offset += 4
        return value
    }

    /// Eight little-endian bytes.
    public mutating func readFixed64() throws(ProtobufError) -> UInt64 {
        guard end - offset >= 8 else { throw error("truncated fixed64") }
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(bytes[offset + index]) << (8 * index) }
        offset += 8
        return value
    }

    /// The range of a length-delimited value's bytes, which it skips.
    private mutating func readLengthDelimitedRange() throws(ProtobufError) -> Range<Int> {
        let length = try readVarint()
        guard length <= UInt64(end - offset) else {
            throw error("length \(length) exceeds the \(end - offset) bytes that remain")
        }
        let range = offset..<(offset + Int(length))
        offset = range.upperBound
        return range
    }

    /// A `bytes` value.
    public mutating func readBytes() throws(ProtobufError) -> [UInt8] {
        Array(bytes[try readLengthDelimitedRange()])
    }

    /// A `string` value, which proto3 requires to be valid UTF-8.
    public mutating func readString() throws(ProtobufError) -> String {
        let start = offset
        let range = try readLengthDelimitedRange()
        guard let string = String(validating: bytes[range], as: UTF8.self) else {
            throw ProtobufError(reason: "string field is not valid UTF-8", offset: start)
        }
        return string
    }

    /// A reader over an embedded message.
    public mutating func readMessage() throws(ProtobufError) -> ProtobufReader {
        ProtobufReader(bytes: bytes, range: try readLengthDelimitedRange())
    }

    /// Skips a field's value of the given wire type.
    public mutating func skip(_ wireType: ProtobufWireType) throws(ProtobufError) {
        switch wireType {
        case .varint: _ = try readVarint()
        case .fixed64: _ = try readFixed64()
        case .fixed32: _ = try readFixed32()
        case .lengthDelimited: _ = try readLengthDelimitedRange()
        case .startGroup, .endGroup: throw error("groups are not supported")
        }
    }

    /// Appends the elements of a repeated scalar field: packed (one length-delimited run) or one element per field
    /// occurrence, as proto3 parsers must accept both. `wireType` is the occurrence's, `elementType` the scalar's.
    public mutating func readRepeated<Element>(
        _ wireType: ProtobufWireType, elementType: ProtobufWireType, into elements: inout [Element],
        _ read: (inout ProtobufReader) throws(ProtobufError) -> Element
    ) throws(ProtobufError) {
        if wireType == elementType {
            elements.append(try read(&self))
            return
        }
        guard wireType == .lengthDelimited else {
            throw error("repeated field has wire type \(wireType.rawValue), expected \(elementType.rawValue) or 2")
        }
        var packed = try readMessage()
        while !packed.isAtEnd { elements.append(try read(&packed)) }
    }

    /// Checks that a singular field came with the wire type its declared type needs.
    public func expect(_ wireType: ProtobufWireType, is expected: ProtobufWireType, field: Int) throws(ProtobufError) {
        guard wireType == expected else {
            throw error("field \(field) has wire type \(wireType.rawValue), expected \(expected.rawValue)")
        }
    }
}
