import GRPCTransport
import Testing

@Suite("Protobuf wire codec")
struct ProtobufCodecTests {
    @Test("varints round-trip at every length, including negative int64 as ten bytes")
    func varints() throws {
        let values: [UInt64] = [0, 1, 127, 128, 300, 16_383, 16_384, 1 << 35, UInt64.max >> 1, UInt64.max]
        for value in values {
            var writer = ProtobufWriter()
            writer.writeVarint(value)
            var reader = ProtobufReader(writer.bytes)
            #expect(try reader.readVarint() == value)
            #expect(reader.isAtEnd)
        }
        var writer = ProtobufWriter()
        writer.writeInt64(3, -1)
        #expect(writer.bytes == [0x18] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
        var reader = ProtobufReader(writer.bytes)
        let field = try reader.nextField()
        #expect(field?.number == 3 && field?.wireType == .varint)
        #expect(Int64(bitPattern: try reader.readVarint()) == -1)
    }

    @Test("a message with strings, bytes, doubles, packed floats and a nested message reads back field by field")
    func roundTrip() throws {
        var writer = ProtobufWriter()
        writer.writeString(1, "pixels ü")
        writer.writeBytes(7, [0, 1, 2, 255])
        writer.writeDouble(4, 0.25)
        writer.writePackedFloats(6, [1.5, -2, .infinity])
        writer.writeMessage(5) { nested in
            nested.writeBool(1, true)
            nested.writePackedInt64(3, [-1, 784, 1 << 40])
        }
        // 200 bytes of nested payload: the inserted length prefix takes two bytes.
        writer.writeMessage(9) { $0.writeBytes(1, [UInt8](repeating: 7, count: 200)) }
        var reader = ProtobufReader(writer.bytes)
        var seen: [Int] = []
        while let (field, wireType) = try reader.nextField() {
            seen.append(field)
            switch field {
            case 1: #expect(try reader.readString() == "pixels ü")
            case 7: #expect(try reader.readBytes() == [0, 1, 2, 255])
            case 4:
                #expect(wireType == .fixed64)
                #expect(Double(bitPattern: try reader.readFixed64()) == 0.25)
            case 6:
                var floats: [Float] = []
                try reader.readRepeated(wireType, elementType: .fixed32, into: &floats) {
                    reader throws(ProtobufError) in Float(bitPattern: try reader.readFixed32())
                }
                #expect(floats == [1.5, -2, .infinity])
            case 5:
                var nested = try reader.readMessage()
                #expect(try nested.nextField()?.number == 1)
                #expect(try nested.readVarint() == 1)
                let shapeField = try nested.nextField()
                var shape: [Int64] = []
                try nested.readRepeated(shapeField!.wireType, elementType: .varint, into: &shape) {
                    reader throws(ProtobufError) in Int64(bitPattern: try reader.readVarint())
                }
                #expect(shape == [-1, 784, 1 << 40])
                #expect(nested.isAtEnd)
            case 9:
                var nested = try reader.readMessage()
                _ = try nested.nextField()
                #expect(try nested.readBytes().count == 200)
            default: Issue.record("unexpected field \(field)")
            }
        }
        #expect(seen == [1, 7, 4, 6, 5, 9])
    }

    @Test("repeated scalars are accepted unpacked too, one element per occurrence")
    func unpacked() throws {
        var writer = ProtobufWriter()
        for value: UInt64 in [3, 250, 7] { writer.writeUInt64(4, value) }
        var reader = ProtobufReader(writer.bytes)
        var values: [UInt64] = []
        while let (_, wireType) = try reader.nextField() {
            try reader.readRepeated(wireType, elementType: .varint, into: &values) { reader throws(ProtobufError) in
                try reader.readVarint()
            }
        }
        #expect(values == [3, 250, 7])
    }

    @Test(
        "malformed bytes throw, never trap",
        arguments: [
            [0x0A, 0x05, 0x61],  // length 5, one byte left
            [0x08, 0xFF, 0xFF],  // truncated varint
            [0x08] + [UInt8](repeating: 0xFF, count: 10) + [0x01],  // varint over 64 bits
            [0x00, 0x01],  // field number 0
            [0x0E, 0x00],  // wire type 6
            [0x0B, 0x0C],  // a group
            [0x0D, 0x01, 0x02],  // truncated fixed32
            [0x09, 0x01],  // truncated fixed64
            [0x0A, 0x02, 0xC3, 0x28],  // invalid UTF-8 in a string
            [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F],  // length of 4 GiB
        ] as [[UInt8]])
    func malformed(bytes: [UInt8]) {
        #expect(throws: ProtobufError.self) {
            var reader = ProtobufReader(bytes)
            while let (_, wireType) = try reader.nextField() {
                if wireType == .lengthDelimited {
                    _ = try reader.readString()
                } else {
                    try reader.skip(wireType)
                }
            }
        }
    }

    @Test("random bytes never trap the reader (a fixed-seed sweep)")
    func randomBytes() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var failures = 0
        for _ in 0..<2000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let count = Int(state >> 58)
            var bytes: [UInt8] = []
            for index in 0..<count {
                bytes.append(UInt8(truncatingIfNeeded: state >> (UInt64(index % 8) * 8) &+ UInt64(index)))
            }
            var reader = ProtobufReader(bytes)
            do {
                while let (_, wireType) = try reader.nextField() {
                    if wireType == .lengthDelimited { _ = try reader.readMessage() } else { try reader.skip(wireType) }
                }
            } catch {
                failures += 1
            }
        }
        // Most random byte strings are malformed; the point is that each one ended in a value or an error.
        #expect(failures > 0)
    }
}
