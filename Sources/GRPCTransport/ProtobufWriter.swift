/// Builds a protobuf (proto3) message in one growing byte array.
///
/// Embedded messages are written in place: their bytes go first, then their length prefix is inserted before them,
/// so no intermediate buffer is built per nested message.
public struct ProtobufWriter {
    /// The message so far.
    public private(set) var bytes: [UInt8]

    /// An empty message with room for `capacity` bytes.
    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// A base-128 varint.
    public mutating func writeVarint(_ value: UInt64) {
        var remaining = value
        while remaining >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        bytes.append(UInt8(remaining))
    }

    /// A field's key.
    public mutating func writeKey(_ field: Int, _ wireType: ProtobufWireType) {
        writeVarint(UInt64(field) << 3 | UInt64(wireType.rawValue))
    }

    /// A `bool` field.
    public mutating func writeBool(_ field: Int, _ value: Bool) {
        writeKey(field, .varint)
        bytes.append(value ? 1 : 0)
    }

    /// An `int64` field (negative values take ten bytes, as the wire format specifies).
    public mutating func writeInt64(_ field: Int, _ value: Int64) {
        writeKey(field, .varint)
        writeVarint(UInt64(bitPattern: value))
    }

    /// A `uint64` field.
    public mutating func writeUInt64(_ field: Int, _ value: UInt64) {
        writeKey(field, .varint)
        writeVarint(value)
    }

    /// A `double` field.
    public mutating func writeDouble(_ field: Int, _ value: Double) {
        writeKey(field, .fixed64)
        appendLittleEndian(value.bitPattern, byteCount: 8)
    }

    /// A `bytes` field.
    public mutating func writeBytes(_ field: Int, _ value: some Collection<UInt8>) {
        writeKey(field, .lengthDelimited)
        writeVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// A `string` field.
    public mutating func writeString(_ field: Int, _ value: String) { writeBytes(field, value.utf8) }

    /// A packed `repeated int64` field; nothing when empty.
    public mutating func writePackedInt64(_ field: Int, _ values: [Int64]) {
        guard !values.isEmpty else { return }
        writeMessage(field) { writer in
            for value in values { writer.writeVarint(UInt64(bitPattern: value)) }
        }
    }

    /// A packed `repeated float` field; nothing when empty.
    public mutating func writePackedFloats(_ field: Int, _ values: some Collection<Float>) {
        guard !values.isEmpty else { return }
        writeKey(field, .lengthDelimited)
        writeVarint(UInt64(values.count * 4))
        for value in values { appendLittleEndian(UInt64(value.bitPattern), byteCount: 4) }
    }

    /// An embedded message (or any length-delimited value) whose bytes `body` writes.
    public mutating func writeMessage(_ field: Int, _ body: (inout ProtobufWriter) -> Void) {
        writeKey(field, .lengthDelimited)
        let start = bytes.count
        body(&self)
        var prefix = ProtobufWriter(capacity: 10)
        prefix.writeVarint(UInt64(bytes.count - start))
        bytes.insert(contentsOf: prefix.bytes, at: start)
    }

    /// Raw little-endian bytes of `value`'s low `byteCount` bytes (for fixed-width values and raw tensor contents).
    public mutating func appendLittleEndian(_ value: UInt64, byteCount: Int) {
        var remaining = value
        for _ in 0..<byteCount {
            bytes.append(UInt8(truncatingIfNeeded: remaining))
            remaining >>= 8
        }
    }
}
